"""Puts the AI dock into the main window: the right-hand "AI" dock holding an
:class:`~medviewer.qt.ai.panel.AIPanel`, the "AI" menu (Run, Heat map, Open AI result (DICOM
SR)…, Save result as DICOM…, Send result to node, Fine-tune model…, Models…), the SR finding
list and the series browser's "Send series to node", the heat map on the primary plane or
the side-by-side view, kept in step with the viewer, and the background warm-up of torch
once a series is shown.
"""

from __future__ import annotations

import logging
import os

from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.jobs import Progress
from medviewer.qt.ai.panel import RESEARCH_NOTICE, AIPanel
from medviewer.qt.menubar import add_before_help
from medviewer.qt.workers import start_job

log = logging.getLogger(__name__)
WARM_UP_DELAY_MS = 1500
"""After a series is shown, wait this long before importing torch in the background."""


class AIDock(QtCore.QObject):
    """Puts an :class:`AIPanel` into a MainWindow: the right-hand "AI" dock, the "AI" menu, the
    heat map on the primary plane and the side-by-side view, all kept in step with the viewer.

    Attributes set on the window: ``ai_panel``, ``ai_dock``, ``ai_side`` and the actions
    ``ai.run`` / ``ai.toggle_heatmap`` in ``window.actions``.
    """

    def __init__(self, window, registry=None) -> None:
        super().__init__(window)
        from medviewer.qt.heatmap import SideBySideView
        from medviewer.qt.shortcuts import make_action

        self.window = w = window
        self.panel = AIPanel(w.session, registry=registry, parent=w)
        self.dock = w._dock("AI", "ai", self.panel, "Right")
        self.side = SideBySideView()
        self.side.setVisible(False)
        self.side.scrolled.connect(lambda steps: self._primary().set_index(self._index() + steps))
        w.viewer.splitter.addWidget(self.side)
        self._overlay_on = None

        run = make_action("ai.run", w, self.run, text="&Run classifier")
        heat = make_action("ai.toggle_heatmap", w, text="&Heat map", checkable=True)
        heat.toggled.connect(self._heatmap_toggled)
        self.panel.heatmap_check.toggled.connect(heat.setChecked)
        w.actions["ai.run"] = run
        w.actions["ai.toggle_heatmap"] = heat
        finetune = make_action(
            "ai.finetune", w, lambda: self.show_finetune(), text="&Fine-tune model…"
        )
        models = make_action("ai.models", w, lambda: self.show_models(), text="&Models…")
        w.actions["ai.finetune"] = finetune
        w.actions["ai.models"] = models
        from medviewer.qt.ai.dicom_actions import ResultActions, SeriesSender
        from medviewer.qt.ai.report_controller import ReportController

        self.reports = ReportController(w, self.panel)  # SR finding list
        self.results = ResultActions(w, self.panel)  # save / send the result as DICOM
        self.series_sender = SeriesSender(w)  # the series browser's "Send series to node"
        self.panel.run_button.clicked.connect(self.results.update_enabled)
        open_sr = QtGui.QAction("&Open AI result (DICOM SR)…", w)
        open_sr.setObjectName("ai.open_sr")
        open_sr.triggered.connect(lambda: self.reports.open_report())
        w.actions["ai.open_sr"] = open_sr
        w.actions["ai.save_dicom"] = self.results.save_action
        menu = QtWidgets.QMenu("&AI", w)
        menu.addAction(run)
        menu.addAction(heat)
        menu.addSeparator()
        menu.addAction(open_sr)
        menu.addAction(self.results.save_action)
        menu.addMenu(self.results.send_menu)
        menu.addSeparator()
        menu.addAction(finetune)
        menu.addAction(models)
        menu.addSeparator()
        show = self.dock.toggleViewAction()
        show.setText("AI &panel")
        menu.addAction(show)
        add_before_help(w.menuBar(), menu)
        self.menu = menu

        self.finetune_dialog = None
        self.models_dialog = None
        w.ai_panel, w.ai_dock, w.ai_side = self.panel, self.dock, self.side
        w.viewer.primary_index_changed.connect(self.panel.set_current_slice)
        self.panel.slice_requested.connect(w.viewer.set_primary_index)
        self.panel.overlay_changed.connect(self._show_overlay)
        self.panel.side_by_side_changed.connect(self._side_by_side)
        for view in w.viewer.views.values():
            view.view.image.sigImageChanged.connect(self._sync_side)
        w.viewer.window_changed.connect(lambda _w: self._sync_side())
        w.volume_ready.connect(self.volume_loaded)
        self._warm_worker = None
        self._warm_timer = QtCore.QTimer(w)
        self._warm_timer.setSingleShot(True)
        self._warm_timer.timeout.connect(self.warm_up)
        w.volume_ready.connect(lambda: self._warm_timer.start(WARM_UP_DELAY_MS))

    def warm_up(self) -> None:
        """Import torch and pytorch-grad-cam on a worker once a series is shown and the user
        is reading it, so the first Run or heat map does not wait for the imports (seconds on
        a cold disk). Nothing is loaded onto a device; no model is read."""
        if self._warm_worker is not None or os.environ.get("MEDVIEWER_NO_WARMUP"):
            return

        def job():
            from medviewer.ai.heavy_imports import import_heavy

            yield Progress(0, 2, "importing torch")
            import_heavy()  # one thread at a time: a Run started meanwhile waits for it
            yield Progress(1, 2, "importing pytorch-grad-cam")
            import_heavy(grad_cam=True)
            return True

        from medviewer.qt import heap

        heap.pause_collection()  # no full collections on the GUI thread while torch arrives

        def failed(message: str) -> None:
            heap.resume_collection()
            log.debug("warm-up: %s", message)

        self._warm_worker = start_job(
            job(),
            on_done=lambda _ok: heap.resume_collection(),  # torch's objects frozen first
            on_error=failed,
        )

    def _primary(self):
        return self.window.viewer.primary

    def _index(self) -> int:
        return self._primary().index

    def run(self) -> None:
        self.dock.show()
        self.dock.raise_()
        if self.window.session.volume is None:
            self.window.statusBar().showMessage("Open a study first: nothing to classify", 4000)
        self.panel.run()
        self.results.update_enabled()

    def volume_started(self) -> None:
        """MainWindow: a new volume is current (its middle slice is ready)."""
        self.panel.set_volume_changed()
        self.panel.set_current_slice(self._index())
        self._sync_side()
        self.results.volume_changed()
        self.reports.volume_started()

    def volume_loaded(self) -> None:
        self.panel.set_current_slice(self._index())  # slices that were loading can be explained

    def _show_overlay(self, rgba) -> None:
        target = self.side if self.panel.side_by_side else self._primary().view
        if self._overlay_on is not None and self._overlay_on is not target:
            self._overlay_on.set_overlay_rgba(None)
        if target is self.side:
            self._sync_side()  # its title names the map shown
        target.set_overlay_rgba(rgba, self.panel.opacity)
        self._overlay_on = target if rgba is not None else None

    def _side_by_side(self, on: bool) -> None:
        self.side.setVisible(on)
        if on:  # share the width equally between the views shown
            splitter = self.window.viewer.splitter
            shown = [not splitter.widget(i).isHidden() for i in range(splitter.count())]
            width = sum(splitter.sizes()) or splitter.width()
            share = width // max(sum(shown), 1)
            splitter.setSizes([share if s else 0 for s in shown])
        self._sync_side()
        self._show_overlay(self.panel.overlay)

    def _sync_side(self, *_args) -> None:
        if self.side.isVisible():
            from medviewer.ai.explain import TARGET_INDEPENDENT
            from medviewer.session.explain_view import method_label

            shown = self.panel.explanation  # the map on the pane: its method and class
            method = shown.method if shown is not None else self.panel.explain_box.method
            title = method_label(method)
            if shown is not None and method not in TARGET_INDEPENDENT:
                title += f" · {shown.target}"
            self.side.show_plane(self._primary(), title)

    def export_caption(self) -> tuple[str, str, float] | None:
        """(text, colour map, threshold) for the caption of an exported view that shows a
        heat map; None when no map is on the image."""
        panel = self.panel
        if not panel.heatmap_on or panel.overlay is None:
            return None
        box = panel.explain_box
        title = QtGui.QTextDocumentFragment.fromHtml(box.explanation_label.text()).toPlainText()
        return (f"{title}. {box.note_label.text()} {RESEARCH_NOTICE}.", box.cmap, box.threshold)

    def _store_path(self):
        labeling = getattr(self.window, "labeling", None)
        store = getattr(labeling, "store", None)
        if store is not None:
            return store.path
        from medviewer.settings import label_store_path

        return label_store_path(self.window.settings)

    def _registry_or_message(self):
        registry = self.panel.registry
        if registry is None:
            QtWidgets.QMessageBox.warning(
                self.window,
                "Models",
                f"The models are unavailable: {self.panel._registry_error or 'no registry'}",
            )
        return registry

    def show_finetune(self):
        """AI > Fine-tune model…: the fine-tuning dialog on the Labels dock's store (one at a
        time, non-modal; the viewer stays usable while it trains)."""
        from medviewer.qt.dialogs.finetune import FinetuneDialog

        dialog = self.finetune_dialog
        if dialog is not None and (dialog.training or dialog.isVisible()):
            dialog.show()
            dialog.raise_()
            dialog.activateWindow()
            return dialog
        registry = self._registry_or_message()
        if registry is None:
            return None
        if dialog is not None:
            dialog.deleteLater()  # closed and idle: start afresh
        dialog = FinetuneDialog(
            self._store_path(),
            registry,
            modality=self.panel._modality(),
            ai_panel=self.panel,
            parent=self.window,
        )
        dialog.activated.connect(lambda _entry: self._models_changed())
        # a new version is in the model list as soon as it is saved, not only once activated
        dialog.training_finished.connect(lambda r: r is not None and self._models_changed())
        self.finetune_dialog = dialog
        dialog.show()
        return dialog

    def show_models(self):
        """AI > Models…: every installed version; activate (roll back), delete, model card."""
        from medviewer.qt.dialogs.models_dialog import ModelsDialog

        registry = self._registry_or_message()
        if registry is None:
            return None
        if self.models_dialog is None:
            self.models_dialog = ModelsDialog(
                registry, modality=self.panel._modality(), parent=self.window
            )
            self.models_dialog.active_changed.connect(lambda _m: self._models_changed())
            self.models_dialog.models_changed.connect(self._models_changed)
        else:
            self.models_dialog.reload()
        self.models_dialog.show()
        self.models_dialog.raise_()
        return self.models_dialog

    def _models_changed(self) -> None:
        """The installed or active models changed: list them again in the dock."""
        if not self.panel.running:
            self.panel.reload_models()
        if self.models_dialog is not None and self.models_dialog.isVisible():
            self.models_dialog.reload()

    def _heatmap_toggled(self, on: bool) -> None:
        """H: the heat map on or off; with no study open, say so and stay off."""
        if on and self.window.session.volume is None:
            action = self.window.actions["ai.toggle_heatmap"]
            action.blockSignals(True)
            action.setChecked(False)
            action.blockSignals(False)
            self.window.statusBar().showMessage(
                "Open a study first: a heat map explains a classified slice", 4000
            )
            return
        self.panel.set_heatmap(on)

    def close(self) -> None:
        self.panel.cancel_all()
        self.reports.cancel()
        self.results.cancel()
        self.series_sender.cancel()
        if self.finetune_dialog is not None:
            self.finetune_dialog.cancel_all()


__all__ = ["AIDock", "WARM_UP_DELAY_MS"]
