"""Network > Study folder…: the studies retrieved or received into the managed study folder
(patient, date, description, instances, size), listed on a worker; Open shows one in the
viewer, Delete removes it from the disk after a confirmation."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from medviewer.qt.network.widgets import RowsModel, selected_items, table_view
from medviewer.qt.workers import start_job
from medviewer.session.network import (
    STUDY_FOLDER_COLUMNS,
    delete_study_job,
    list_studies_job,
    size_text,
    study_folder_row,
)


class StudyFolderDialog(QtWidgets.QDialog):
    """``open_requested(path)`` when the user opens a study."""

    open_requested = QtCore.Signal(str)
    listed = QtCore.Signal()

    def __init__(self, store, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Study folder")
        self.store = store
        self._worker = None
        self.confirm_box = None
        self.where = QtWidgets.QLabel()
        self.where.setWordWrap(True)
        self.where.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model = RowsModel(STUDY_FOLDER_COLUMNS, study_folder_row, self)
        self.table = table_view(self.model)
        self.table.doubleClicked.connect(lambda *_: self.open_selected())
        self.status = QtWidgets.QLabel()
        self.status.setWordWrap(True)
        self.open_button = QtWidgets.QPushButton("Open")
        self.delete_button = QtWidgets.QPushButton("Delete…")
        self.refresh_button = QtWidgets.QPushButton("Refresh")
        close = QtWidgets.QPushButton("Close")
        self.open_button.clicked.connect(self.open_selected)
        self.delete_button.clicked.connect(self.ask_delete)
        self.refresh_button.clicked.connect(self.refresh)
        close.clicked.connect(self.reject)
        row = QtWidgets.QHBoxLayout()
        for b in (self.open_button, self.delete_button, self.refresh_button):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(close)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.where)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addLayout(row)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.resize(820, 460)
        self._update_buttons()
        self.refresh()

    def _update_buttons(self, *_args) -> None:
        chosen = bool(selected_items(self.table)) and self._worker is None
        self.open_button.setEnabled(chosen)
        self.delete_button.setEnabled(chosen)

    def refresh(self) -> None:
        self.where.setText(f"Studies in {self.store.root} (cap {size_text(self.store.cap_bytes)})")
        self.status.setText("Reading the study folder…")
        self._run(list_studies_job(self.store), self._listed)

    def _run(self, job, on_done) -> None:
        def failed(message: str) -> None:
            self._worker = None
            self.status.setText(message)
            self._update_buttons()

        def done(value) -> None:
            self._worker = None
            on_done(value)
            self._update_buttons()

        self._worker = start_job(job, on_done=done, on_error=failed)
        self._update_buttons()

    def _listed(self, found) -> None:
        studies, used = found
        self.model.set_items(studies)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        if studies:
            self.status.setText(
                f"{len(studies)} studies, {size_text(used)} of {size_text(self.store.cap_bytes)}"
            )
        else:
            self.status.setText(
                "No study here yet: retrieve one in Network > Query / Retrieve, or switch "
                "on Network > Receive studies."
            )
        self.listed.emit()

    def selected(self):
        found = selected_items(self.table)
        return found[0] if found else None

    def entries(self) -> list:
        return self.model.items()

    def open_selected(self) -> None:
        entry = self.selected()
        if entry is not None:
            self.open_requested.emit(str(entry.path))

    def ask_delete(self) -> QtWidgets.QMessageBox | None:
        entry = self.selected()
        if entry is None:
            return None
        what = entry.description or "no description"
        box = QtWidgets.QMessageBox(
            QtWidgets.QMessageBox.Icon.Warning,
            "Delete study",
            f"Delete the study of {study_folder_row(entry)[0]} ({what}, {entry.instances} "
            f"images, {size_text(entry.bytes)}) from {entry.path}?\n\nThe files are removed "
            "from this computer; the PACS keeps its copy.",
            QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.No,
            self,
        )
        box.setDefaultButton(QtWidgets.QMessageBox.StandardButton.No)
        yes = box.button(QtWidgets.QMessageBox.StandardButton.Yes)
        box.buttonClicked.connect(lambda b: self._delete(entry) if b is yes else None)
        self.confirm_box = box
        box.open()
        return box

    def _delete(self, entry) -> None:
        self.status.setText(f"Deleting {entry.path}…")
        self._run(delete_study_job(self.store, entry.study_uid), lambda _uid: self.refresh())
