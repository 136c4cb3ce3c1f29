"""The "Labels" menu of the main window, and the label files: export, import (with its report),
open another store. Export and import run on workers with their own store connection."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtGui, QtWidgets

from medviewer.qt.menubar import add_before_help
from medviewer.qt.shortcuts import make_action
from medviewer.qt.workers import start_job
from medviewer.session.labeling import (
    export_job,
    import_job,
    import_report_text,
    known_series_uids,
)

FILE_FILTER = "CSV (*.csv);;JSON (*.json)"


def build_menu(dock) -> QtWidgets.QMenu:
    """Create the Labels menu and the ``labels.*`` actions of ``dock`` (a LabelingDock)."""
    w = dock.window
    menu = QtWidgets.QMenu("&Labels", w)

    def act(action_id, slot, text, checkable=False):
        action = make_action(action_id, w, slot, text=text, checkable=checkable)
        w.actions[action_id] = action
        w.addAction(action)
        menu.addAction(action)
        return action

    def plain(action_id, slot, text, checkable=False):
        action = QtGui.QAction(text, w)
        action.setObjectName(action_id)
        action.setCheckable(checkable)
        if slot is not None:
            action.triggered.connect(slot)
        w.actions[action_id] = action
        menu.addAction(action)
        return action

    dock.class_menu = menu.addMenu("&Label the slice as")
    act("labels.accept", lambda: dock.accept_suggestion(), "&Accept the model's suggestion")
    act("labels.clear", lambda: dock.clear_label(), "&Clear the slice's label")
    act("labels.undo", lambda: dock.undo(), "&Undo labeling")
    act("labels.redo", lambda: dock.redo(), "&Redo labeling")
    menu.addSeparator()
    act("labels.next_unlabeled", lambda: dock.next_unlabeled(), "Next &unlabeled slice")
    act("labels.next_disagreement", lambda: dock.next_disagreement(), "Next &disagreement")
    act("labels.next_uncertain", lambda: dock.next_uncertain(), "Next most unc&ertain slice")
    menu.addSeparator()
    evidence = act("labels.evidence", None, "Draw e&vidence rectangle", checkable=True)
    evidence.toggled.connect(dock.set_evidence_mode)
    reviewer = plain("labels.reviewer", None, "Re&viewer mode", checkable=True)
    reviewer.toggled.connect(dock.set_reviewer_mode)
    act("labels.approve", lambda: dock.approve(), "A&pprove the label")
    act("labels.flag", lambda: dock.flag(), "&Flag the label…")
    menu.addSeparator()
    plain("labels.agreement", lambda: dock.show_agreement(), "A&greement between annotators…")
    plain("labels.annotator", lambda: dock.change_annotator(), "Annotator &name…")
    plain("labels.edit_set", lambda: dock.edit_label_set(), "&Edit label set…")
    menu.addSeparator()
    plain("labels.export", lambda: dock.export_labels(), "E&xport labels (CSV / JSON)…")
    plain("labels.import", lambda: dock.import_labels(), "&Import labels…")
    plain("labels.open_store", lambda: dock.choose_store(), "&Open label store…")
    menu.addSeparator()
    show = dock.dock.toggleViewAction()
    show.setText("Labels &panel")
    menu.addAction(show)
    add_before_help(w.menuBar(), menu)
    dock.menu = menu
    return menu


class ImportReportDialog(QtWidgets.QDialog):
    """What an import did: counts, and every skipped row with its line and reason."""

    def __init__(self, path, report, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Import of {Path(path).name}")
        self.resize(640, 420)
        layout = QtWidgets.QVBoxLayout(self)
        self.summary = QtWidgets.QLabel(f"{Path(path)}: {import_report_text(report)}")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.table = QtWidgets.QTableWidget(len(report.skipped), 2)
        self.table.setHorizontalHeaderLabels(["Line", "Why it was skipped"])
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        for r, row in enumerate(report.skipped):
            self.table.setItem(r, 0, QtWidgets.QTableWidgetItem(str(row.line)))
            self.table.setItem(r, 1, QtWidgets.QTableWidgetItem(str(row.reason)))
        self.table.setVisible(bool(report.skipped))
        layout.addWidget(self.table, 1)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)

    def rows(self) -> list[tuple[str, str]]:
        t = self.table
        return [(t.item(r, 0).text(), t.item(r, 1).text()) for r in range(t.rowCount())]


class LabelFilesMixin:
    """Export / import / open-store slots of LabelingDock."""

    def _start(self, job, on_done, what: str) -> None:
        def done(result):
            self._jobs = [j for j in self._jobs if j is not worker]
            on_done(result)
            self.job_finished.emit(result)

        def failed(message):
            self._jobs = [j for j in self._jobs if j is not worker]
            self.show_error(f"{what} failed: {message}")
            self._reload("after a failed job")
            self.job_finished.emit(None)

        worker = start_job(job, on_done=done, on_error=failed)
        self._jobs.append(worker)

    def export_labels(self, path: str | None = None, **filters) -> None:
        """Write every label of the store to ``path`` (.csv or .json), in the background."""
        if self.store is None:
            self.show_error(self.store_problem or "No label store is open")
            return
        if path is None:
            path, chosen = QtWidgets.QFileDialog.getSaveFileName(
                self.window, "Export labels", self.window.settings.last_folder, FILE_FILTER
            )
            if not path:
                return
            if Path(path).suffix.lower() not in (".csv", ".json"):
                path += ".json" if "json" in chosen.lower() else ".csv"
        self.message(f"Exporting labels to {path}…")
        self._start(
            export_job(self.store.path, path, **filters),
            lambda n: self.message(f"{n} labels exported to {path}"),
            "Export",
        )

    def import_labels(self, path: str | None = None) -> None:
        """Read labels from ``path`` (CSV / JSON) into the store in one transaction, in the
        background; only rows of series in the open studies; the report is shown."""
        if self.store is None:
            self.show_error(self.store_problem or "No label store is open")
            return
        if path is None:
            path, _ = QtWidgets.QFileDialog.getOpenFileName(
                self.window, "Import labels", self.window.settings.last_folder, FILE_FILTER
            )
            if not path:
                return
        known = known_series_uids(self.window.session.scan_result)
        self.message(f"Importing {path}…")

        def done(report):
            self.message(f"Import of {Path(path).name}: {import_report_text(report)}")
            self._reload("after an import")
            self.report_dialog = ImportReportDialog(path, report, self.window)
            self.report_dialog.show()

        self._start(
            import_job(
                self.store.path,
                path,
                label_set=self.session.label_set,
                known_series=known or None,
            ),
            done,
            "Import",
        )

    def choose_store(self, path: str | None = None) -> None:
        """Use another label store file (created when it does not exist)."""
        if path is None:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(
                self.window,
                "Open or create a label store",
                str(self.store.path.parent) if self.store is not None else "",
                "Label store (*.sqlite);;All files (*)",
                options=QtWidgets.QFileDialog.Option.DontConfirmOverwrite,
            )
            if not path:
                return
        if self.open_store(path):
            self.window.settings.label_store = str(path)
            self.message(f"Label store {path}")

    def edit_label_set(self, *, modal: bool = True):
        """Open the label-set editor on the current set; a saved set becomes the current one.
        Returns the dialog (``modal=False`` shows it without waiting, for tests)."""
        from medviewer.qt.panels.label_set_editor import LabelSetEditor

        dialog = LabelSetEditor(self.session.label_set, self.window)
        self.label_set_editor = dialog

        def saved():
            self._fill_label_sets()
            chosen = self._label_sets.get(dialog.saved.name, dialog.saved)
            i = self.panel.label_set_box.findData(chosen.name)
            if i >= 0:
                self.panel.label_set_box.setCurrentIndex(i)
            self.set_label_set(chosen)
            self.message(f"Label set {chosen.name} v{chosen.version} saved to {dialog.saved_path}")

        dialog.accepted.connect(saved)
        if modal:
            dialog.exec()
        else:
            dialog.show()
        return dialog

    def show_agreement(self) -> None:
        from medviewer.qt.panels.agreement import AgreementDialog

        if self.store is None:
            self.show_error(self.store_problem or "No label store is open")
            return
        dialog = AgreementDialog(self, self.window)
        self.agreement_dialog = dialog
        dialog.show()


__all__ = ["ImportReportDialog", "LabelFilesMixin", "build_menu"]
