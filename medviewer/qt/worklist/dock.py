"""Puts the triage worklist into the main window: the bottom "Worklist" dock holding a
:class:`~medviewer.qt.worklist.panel.WorklistPanel`, the "Worklist" menu (Show worklist,
Open results…, Start triage…, Pause / Resume, Cancel triage), the results file read on a
worker, a running triage's live rows, the Labels dock's review status and opening a row.

Wiring (see MainWindow): ``WorklistDock(window)`` after the AI and Labels docks; call
:meth:`WorklistDock.close` on close. The dock follows the Labels dock's ``changed`` signal and
the de-identified display itself.
"""

from __future__ import annotations

import logging
import os

from PySide6 import QtCore, QtWidgets

from medviewer.qt.docks import show_bottom_dock
from medviewer.qt.workers import start_job
from medviewer.qt.worklist.menu import ask_other_model, build_menu
from medviewer.qt.worklist.opener import RowOpener
from medviewer.qt.worklist.panel import WorklistPanel
from medviewer.qt.worklist.runner import TriageRequest, TriageRunner
from medviewer.session import worklist_view as view

log = logging.getLogger(__name__)
MIN_HEIGHT = 260
"""Height the dock gets when shown (a few rows of the table, the buttons and status)."""


class WorklistDock(QtCore.QObject):
    """The worklist in a MainWindow. Attributes set on the window: ``worklist`` (this),
    ``worklist_panel``, ``worklist_dock``; the action ``worklist.show`` in ``window.actions``.

    Signals: ``loaded(LoadedWorklist)`` after a results file was read (also at the end of a
    triage), ``row_opened(OpenRequest, int)`` when a row's series is shown at its slice.
    """

    loaded = QtCore.Signal(object)
    row_opened = QtCore.Signal(object, int)

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = w = window
        self.worklist = view.Worklist()
        self.panel = p = WorklistPanel(w)
        self.dock = w._dock("Worklist", "worklist", p, "Bottom")
        # the right-hand column (AI, Labels) keeps its full height; the table sits below the
        # images and the series list
        w.setCorner(
            QtCore.Qt.Corner.BottomRightCorner, QtCore.Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.dock.hide()  # shown from the menu, Ctrl+Shift+W or when results come
        self.runner = TriageRunner(self)
        self.opener = RowOpener(w)
        self.start_dialog = None
        self.mismatch_box = None
        self._load_worker = None
        self._build_menu()
        p.open_button.clicked.connect(lambda: self.choose_results())
        p.start_button.clicked.connect(lambda: self.show_start_dialog())
        p.pause_button.clicked.connect(self.runner.toggle_pause)
        p.cancel_button.clicked.connect(self.runner.cancel)
        p.filters_changed.connect(self._filters_chosen)
        p.table.row_activated.connect(self.open_row)
        self.runner.event.connect(self._triage_event)
        self.runner.finished.connect(self._triage_finished)
        self.runner.failed.connect(self._status)
        self.runner.mismatch.connect(self._ask_other_model)
        self.runner.state_changed.connect(self._update_controls)
        self.opener.opened.connect(self.row_opened)
        self.opener.opened.connect(self._opened)
        self.opener.message.connect(self._status)
        labeling = getattr(w, "labeling", None)
        if labeling is not None:
            labeling.changed.connect(self._labels_changed)
        deidentify = w.actions.get("view.deidentify")
        if deidentify is not None:
            deidentify.toggled.connect(self._deidentified)
            self.worklist.set_deidentified(deidentify.isChecked())
        w.worklist, w.worklist_panel, w.worklist_dock = self, p, self.dock

    def _build_menu(self) -> None:
        self.menu, self.pause_action, self.cancel_action = build_menu(
            self.window,
            self.show,
            open_results=lambda: self.choose_results(),
            start=lambda: self.show_start_dialog(),
            pause=self.runner.toggle_pause,
            cancel=self.runner.cancel,
        )
        self._update_controls()

    def show(self) -> None:
        show_bottom_dock(self.window, self.dock, MIN_HEIGHT, self.panel.table)

    # -- the rows -----------------------------------------------------------------------------
    def _refresh(self) -> None:
        wl, p = self.worklist, self.panel
        p.set_class_choices(wl.class_choices(), wl.class_filter)
        p.table.set_rows(wl.rows())
        p.set_summary(wl.summary_text(), wl.skipped_text())

    def _filters_chosen(self) -> None:
        self.worklist.set_filters(self.panel.class_value, self.panel.unreviewed_only)
        self._refresh()

    def set_filters(self, class_filter: str | None = None, unreviewed_only: bool = False):
        """Keep the rows of one top class and / or those not yet reviewed."""
        self.worklist.set_filters(class_filter, unreviewed_only)
        self.panel.unreviewed_check.blockSignals(True)
        self.panel.unreviewed_check.setChecked(bool(unreviewed_only))
        self.panel.unreviewed_check.blockSignals(False)
        self._refresh()

    def rows(self) -> list:
        """The rows shown, in order."""
        return self.panel.table.rows()

    def _deidentified(self, on: bool) -> None:
        self.worklist.set_deidentified(on)
        self._refresh()

    def _status(self, text: str) -> None:
        self.panel.set_status(text)

    # -- results files ------------------------------------------------------------------------
    def _label_store(self):
        """The Labels dock's open store (None when none is open)."""
        return getattr(getattr(self.window, "labeling", None), "store", None)

    def _label_store_path(self):
        from medviewer.settings import label_store_path

        store = self._label_store()
        return store.path if store is not None else label_store_path(self.window.settings)

    def _review(self, series_uid: str, n_slices: int) -> view.ReviewStatus:
        """A series' review status from the Labels dock's store (one indexed query)."""
        try:
            return view.review_status(self._label_store(), series_uid, n_slices)
        except Exception as exc:  # the Labels dock shows store problems itself
            log.debug("review status not read: %s", exc)
            return view.UNKNOWN_REVIEW

    def choose_results(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self.window,
            "Open triage results",
            os.fspath(self.worklist.source or view.default_results_path()),
            "Triage results (*.sqlite);;All files (*)",
        )
        if path:
            self.open_results(path)

    def open_results(self, path, model_sha256: str | None = None, status: str = "") -> None:
        """Read a results file on a worker and show it (most suspicious first); ``status``
        is said once it is shown."""
        self.show()
        self._status(view.reading_text(path))
        self.panel.set_progress(0, None)
        job = view.load_worklist_iter(path, self._label_store_path(), model_sha256)
        current: dict = {}

        def guard(callback):
            def call(value):
                if self._load_worker is current.get("worker"):
                    callback(value)

            return call

        worker = start_job(
            job,
            on_done=guard(lambda found: self._results_read(found, status)),
            on_error=guard(self._read_failed),
        )
        current["worker"] = self._load_worker = worker

    def _results_read(self, found: view.LoadedWorklist, status: str = "") -> None:
        self._load_worker = None
        self.panel.set_progress(None, None)
        live = self.worklist.results() if self.runner.running else []
        self.worklist.set_results(found.results, found.reviews, found.skipped, found.path)
        for result in live:  # rows a running triage stored meanwhile
            self.worklist.add(result)
        self._refresh()
        if not self.runner.running:
            self._status(found.review_problem or status or view.results_text(found.path))
        self.loaded.emit(found)

    def _read_failed(self, message: str) -> None:
        self._load_worker = None
        self.panel.set_progress(None, None)
        self._status(message)

    # -- a running triage ---------------------------------------------------------------------
    def show_start_dialog(self):
        """Worklist > Start triage…: choose folders, model and results file, then start."""
        from medviewer.qt.worklist.start_dialog import StartTriageDialog

        w = self.window
        registry = getattr(getattr(w, "ai_panel", None), "registry", None)
        results = self.worklist.source or view.default_results_path()
        dialog = StartTriageDialog(registry, results, w.settings.last_folder, parent=w)
        dialog.accepted.connect(lambda: self.start(dialog.request()))
        self.start_dialog = dialog
        dialog.open()
        return dialog

    def start(self, request: TriageRequest | None) -> bool:
        """Start a triage: its rows stream into the table as each series is stored."""
        if request is None or self.runner.running:
            return False
        w = self.window
        registry = getattr(getattr(w, "ai_panel", None), "registry", None)
        labeling = getattr(w, "labeling", None)
        if labeling is not None and labeling.store is None and labeling.store_problem is None:
            labeling.open_store()  # the review status of the live rows
        self.show()
        self.worklist.clear(request.results_path)
        self._refresh()
        started = self.runner.start(request, registry)
        if os.path.isfile(request.results_path):  # a resumed triage: the rows stored before
            self.open_results(request.results_path)
        self._status(view.progress_text(None))
        self.panel.set_progress(0, None)
        return started

    def _triage_event(self, event) -> None:
        wl = self.worklist
        if event.result is not None and event.kind in ("result", "already"):
            r = event.result
            wl.add(r, self._review(r.series_uid, r.n_slices))
            self._refresh()
        elif event.skipped is not None:
            wl.add_skipped(event.skipped)
            self.panel.set_summary(wl.summary_text(), wl.skipped_text())
        self._status(view.progress_text(event, self.runner.paused))
        self.panel.set_progress(event.done, event.total or None)

    def _triage_finished(self, summary) -> None:
        self.panel.set_progress(None, None)
        if summary is not None:  # the file again: the rows stored before this run too
            sha = summary.model.sha256 if summary.model is not None else None
            text = view.summary_text(summary)
            if self.runner.cancelling:  # Cancel came while the last series was classified
                text = f"{text} (Cancel came as the last series finished: nothing was left)"
            self.open_results(summary.results_path, sha, text)
        elif self.runner.cancelling:
            self._status(view.cancelled_text(self.runner.stored))

    def _ask_other_model(self, message: str, request: TriageRequest) -> None:
        """The results file holds another model's results: add these beside them, or not."""
        box = ask_other_model(
            self.window, message, lambda: self.start(request.accepting_other_model())
        )
        box.destroyed.connect(lambda *_: setattr(self, "mismatch_box", None))
        self.mismatch_box = box
        self._status(message)

    def _update_controls(self) -> None:
        controls = view.controls(self.runner.running, self.runner.paused)
        self.panel.set_controls(controls)
        self.pause_action.setEnabled(controls.pause)
        self.pause_action.setText(f"&{controls.pause_text} triage")
        self.cancel_action.setEnabled(controls.cancel)
        if self.runner.running and self.runner.last_event is not None:
            self._status(view.progress_text(self.runner.last_event, self.runner.paused))
        if self.runner.cancelling:
            self._status(view.CANCELLING)

    # -- review status and opening ------------------------------------------------------------
    def _labels_changed(self) -> None:
        session = self.window.labeling.session
        uid = session.series_uid
        n = self.worklist.n_slices_of(uid) if uid else None
        if n is not None and self.worklist.set_review(uid, self._review(uid, n)):
            self._refresh()

    def open_row(self, row) -> None:
        """Open ``row``'s series at its most suspicious slice with the Grad-CAM overlay on."""
        if row is None:
            return
        request = view.open_request(row)
        self._status(view.opening_text(row, request))
        self.opener.open(request)

    def _opened(self, request, index: int) -> None:
        n = len(self.window.session.volume.series.slices)
        self._status(view.opened_text(request, index, n))

    def close(self) -> None:
        self.runner.stop_now()
        if self._load_worker is not None:
            self._load_worker.quit()
            self._load_worker = None


__all__ = ["WorklistDock"]
