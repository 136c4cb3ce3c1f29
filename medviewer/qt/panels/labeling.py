"""The "Labels" dock: keyboard labeling of the open series, the model's suggestion beside the
label, a strip of labels per slice, filters, the list of labeled slices, reviewer mode.

The dock only shows :class:`medviewer.session.labeling.LabelingSession` and calls it; every
write is one store transaction on the GUI thread (about a millisecond); export and import run
on workers (:func:`medviewer.qt.workers.start_job`), each with its own store connection.

Wiring (see MainWindow): ``LabelingDock(window)`` after the AI dock; call
:meth:`LabelingDock.volume_started` when a new volume is current and :meth:`close` on close.
The dock follows ``viewer.primary_index_changed`` and the AI panel's ``run_finished`` itself.

This module holds the dock's shell (the store, the volume and current slice, messages and
errors); the widgets are in ``labeling_panel``, the drawing in ``labeling_display``, the
labeling actions in ``labeling_commands``, reviewer mode in ``labeling_review``, label set /
annotator / filters in ``labeling_choices``, the menu and files in ``labeling_files``; the
texts shown come from :mod:`medviewer.session.labeling_view`.
"""

from __future__ import annotations

import logging

from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.errors import LabelStoreError
from medviewer.qt.panels.evidence import EvidenceTool
from medviewer.qt.panels.labeling_choices import LabelChoicesMixin
from medviewer.qt.panels.labeling_commands import LabelCommandsMixin
from medviewer.qt.panels.labeling_display import LabelDisplayMixin
from medviewer.qt.panels.labeling_files import LabelFilesMixin, build_menu
from medviewer.qt.panels.labeling_panel import LabelingPanel
from medviewer.qt.panels.labeling_review import LabelReviewMixin
from medviewer.session.labeling import LabelingSession, fresh_store_path
from medviewer.session.labeling_view import TABLE_COLUMNS, describe

log = logging.getLogger(__name__)


class LabelingDock(
    LabelChoicesMixin,
    LabelCommandsMixin,
    LabelReviewMixin,
    LabelDisplayMixin,
    LabelFilesMixin,
    QtCore.QObject,
):
    """Puts a :class:`LabelingPanel` into a MainWindow with its "Labels" menu and actions.

    Attributes set on the window: ``labeling`` (this), ``labeling_panel``, ``labeling_dock``;
    the ``labels.*`` actions are in ``window.actions``.
    """

    changed = QtCore.Signal()
    """Emitted after the shown labels changed (a write, an undo, an import, a reload)."""
    error_shown = QtCore.Signal(str)
    job_finished = QtCore.Signal(object)
    """The result of an export (count) or import (ImportReport), or None when it failed."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = w = window
        self.panel = p = LabelingPanel(w)
        # in a scroll area: the Labels dock may be shorter than its controls, so the AI dock
        # above it keeps room for its results
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setWidget(p)
        self.dock = w._dock("Labels", "labels", scroll, "Right")
        self.session = LabelingSession(annotator=w.settings.annotator)
        self.store = None
        self.store_problem: str | None = None
        self.current = 0
        self.error_box: QtWidgets.QMessageBox | None = None
        self.report_dialog: QtWidgets.QDialog | None = None
        self._jobs: list = []
        self._class_actions: list[QtGui.QAction] = []
        self._table_timer = QtCore.QTimer(self)
        self._table_timer.setSingleShot(True)
        self._table_timer.timeout.connect(self._fill_table)
        self.evidence = EvidenceTool(w.viewer, self)
        self.evidence.drawn.connect(self._evidence_drawn)
        self.evidence.moved.connect(self._evidence_drawn)
        build_menu(self)
        self._connect()
        self._fill_label_sets()
        self._update_annotator()
        self._set_enabled(False)
        w.labeling, w.labeling_panel, w.labeling_dock = self, p, self.dock

    def _connect(self) -> None:
        p, w = self.panel, self.window
        p.change_button.clicked.connect(lambda _checked=False: self.change_annotator())
        p.reviewer_check.toggled.connect(self.set_reviewer_mode)
        p.label_set_box.activated.connect(self._label_set_chosen)
        p.evidence_button.toggled.connect(self.set_evidence_mode)
        p.remove_evidence_button.clicked.connect(self.remove_evidence)
        p.accept_button.clicked.connect(self.accept_suggestion)
        p.strip.slice_clicked.connect(self.go_to)
        p.table.cellClicked.connect(self._row_clicked)
        p.table.cellActivated.connect(self._row_clicked)  # Enter on a row, from the keyboard
        for box in (p.class_filter, p.annotator_filter, p.status_filter):
            box.activated.connect(self._filters_chosen)
        w.viewer.primary_index_changed.connect(self.set_current_slice)
        w.ai_panel.run_finished.connect(self.set_model_result)
        w.ai_panel.results_dropped.connect(self.drop_model_result)

    # -- the store ----------------------------------------------------------------------------
    def open_store(self, path=None) -> bool:
        """Open the store (the settings' path by default); on failure explain and offer a
        new store beside it (the old file is kept as it is)."""
        from medviewer.labels.store import LabelStore
        from medviewer.settings import label_store_path

        path = path or label_store_path(self.window.settings)
        old = self.store
        try:
            store = LabelStore(path)
        except LabelStoreError as exc:
            self.store_problem = str(exc)
            self._store_failed(path, str(exc))
            return False
        self.store, self.store_problem = store, None
        if old is not None:
            old.close()
        self._reload("store")
        return True

    def _store_failed(self, path, message: str) -> None:
        box = QtWidgets.QMessageBox(
            QtWidgets.QMessageBox.Icon.Warning,
            "Label store",
            f"The label store could not be opened.\n\n{message}",
            QtWidgets.QMessageBox.StandardButton.NoButton,
            self.window,
        )
        recover = None
        if "damaged" in message:
            recover = box.addButton(
                "Recover the readable labels into a new store (the old file is kept)",
                QtWidgets.QMessageBox.ButtonRole.AcceptRole,
            )
        fresh = box.addButton(
            "Start a new store (the old file is kept)", QtWidgets.QMessageBox.ButtonRole.AcceptRole
        )
        box.addButton("Continue without labels", QtWidgets.QMessageBox.ButtonRole.RejectRole)

        def clicked(button):
            if recover is not None and button is recover:
                self.recover_store(path)
            elif button is fresh:
                new = fresh_store_path(path)
                if self.open_store(new):
                    self.window.settings.label_store = str(new)
                    self.message(f"New label store {new}; the old file {path} is unchanged")

        box.buttonClicked.connect(clicked)
        self._show_box(box, message)

    def recover_store(self, path) -> bool:
        """Copy what is readable of the damaged store ``path`` into a new store beside it
        and work on that one (:func:`medviewer.labels.salvage.salvage`)."""
        from medviewer.labels.salvage import salvage

        try:
            result = salvage(path)
        except LabelStoreError as exc:
            self.show_error(f"Nothing recovered: {exc}")
            return False
        if not self.open_store(result.path):
            return False
        self.window.settings.label_store = str(result.path)
        self.message(result.summary(path))
        return True

    def _show_box(self, box: QtWidgets.QMessageBox, message: str) -> None:
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
        self.error_box = box
        box.destroyed.connect(lambda *_: setattr(self, "error_box", None))
        box.open()
        self.message(message)
        self.error_shown.emit(message)

    def show_error(self, message: str) -> None:
        """A store failure: message box, message line; the UI shows the store's real state.
        The same message while its box is still open opens no second box."""
        shown = self.error_box
        if shown is not None and shown.isVisible() and shown.text() == message:
            self.message(message)
            return
        box = QtWidgets.QMessageBox(
            QtWidgets.QMessageBox.Icon.Warning,
            "Labels",
            message,
            QtWidgets.QMessageBox.StandardButton.Ok,
            self.window,
        )
        self._show_box(box, message)

    def message(self, text: str) -> None:
        self.panel.message_label.setText(text)

    def _write(self, action, *args):
        """Run a session write; on a store error show it and redraw from the store."""
        if not self._ready():
            return None
        try:
            return action(*args)
        except LabelStoreError as exc:
            self.show_error(str(exc))
            self._reload("after an error")
            return None

    def _ready(self) -> bool:
        if not self.session.keys:
            return False
        if self.store is None:
            self.show_error(
                self.store_problem or "No label store is open (Labels > Open label store…)"
            )
            return False
        if not self.session.annotator:
            self.change_annotator()
        return bool(self.session.annotator)

    def _reload(self, why: str) -> None:
        try:
            self.session.set_store(self.store)
        except LabelStoreError as exc:
            log.warning("labels not reloaded (%s): %s", why, exc)
            self.message(str(exc))
        self._fill_annotators()
        self.refresh_all()

    # -- volume and slice ----------------------------------------------------------------------
    def volume_started(self) -> None:
        """MainWindow: a new volume is current."""
        volume = self.window.session.volume
        if self.store is None and self.store_problem is None:
            self.open_store()
        try:
            self.session.set_volume(volume)
        except LabelStoreError as exc:
            self.session.set_volume(None)
            self.message(str(exc))
        self.panel.strip.set_count(self.session.n_slices)
        self.current = self.window.viewer.primary.index if self.session.keys else 0
        self._set_enabled(bool(self.session.keys))
        self._fill_annotators()
        self.refresh_all()

    def set_current_slice(self, index: int) -> None:
        self.current = int(index)
        self.panel.strip.set_current(self.current)
        self._show_current()

    def go_to(self, index: int | None) -> None:
        if index is None:
            self.message("No such slice (nothing matches)")
            return
        self.window.viewer.set_primary_index(int(index))
        self.window.viewer.primary.view.setFocus()

    def _set_enabled(self, on: bool) -> None:
        for action_id, action in self.window.actions.items():
            if action_id.startswith("labels.") and action_id not in (
                "labels.import",
                "labels.open_store",
                "labels.annotator",
                "labels.agreement",
            ):
                action.setEnabled(on)
        for action in self._class_actions:
            action.setEnabled(on)
        self._update_review_actions()

    # -- the model ----------------------------------------------------------------------------
    def set_model_result(self, result) -> None:
        """The AI dock finished a run (a SeriesPrediction) or gave up (None)."""
        if result is None or not self.session.keys:
            return
        self.session.set_predictions(result.slices, getattr(result, "warnings", None) or ())
        self.refresh_all()

    def drop_model_result(self) -> None:
        """The AI dock put its results away (another model chosen): no suggestions now."""
        if not self.session.keys:
            return
        self.session.set_predictions(())
        self.refresh_all()

    def close(self) -> None:
        for worker in self._jobs:
            worker.quit()
        self._jobs = []
        if self.store is not None:
            self.store.close()
            self.store = None


__all__ = ["TABLE_COLUMNS", "LabelingDock", "LabelingPanel", "describe"]
