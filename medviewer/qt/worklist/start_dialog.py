"""Worklist > Start triage…: the folders to triage (or DICOMDIRs), the model (the active model
of each series' modality, or one of the registry's models), the device, how many series load
ahead of the model, and the results file (a file that already holds results is resumed).
Widgets only; :meth:`StartTriageDialog.request` hands the choice to the dock.
"""

from __future__ import annotations

import os

from PySide6 import QtCore, QtWidgets

from medviewer.qt.ai.run_boxes import DEVICE_TIPS, DEVICES
from medviewer.qt.worklist.runner import TriageRequest

ACTIVE_MODEL = "The active model of each series' modality"
TOOLTIP = QtCore.Qt.ItemDataRole.ToolTipRole


class StartTriageDialog(QtWidgets.QDialog):
    """Choose what to triage; ``request()`` is the choice (None without folders)."""

    def __init__(self, registry=None, results_path="", start_folder="", parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Start triage")
        self.setObjectName("startTriageDialog")
        self._start_folder = start_folder
        form = QtWidgets.QFormLayout(self)

        self.folder_list = QtWidgets.QListWidget()
        self.folder_list.setMinimumSize(420, 110)
        self.add_button = QtWidgets.QPushButton("Add folder…")
        self.add_dicomdir_button = QtWidgets.QPushButton("Add DICOMDIR…")
        self.remove_button = QtWidgets.QPushButton("Remove")
        buttons = QtWidgets.QHBoxLayout()
        for b in (self.add_button, self.add_dicomdir_button, self.remove_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        column = QtWidgets.QVBoxLayout()
        column.addWidget(self.folder_list)
        column.addLayout(buttons)
        form.addRow("Folders", column)

        self.model_box = QtWidgets.QComboBox()
        self.model_box.addItem(ACTIVE_MODEL, None)
        for entry in self._entries(registry):
            m = entry.manifest
            modalities = ", ".join(m.modalities) or "any modality"
            self.model_box.addItem(f"{entry.name} {entry.version} ({modalities})", entry.ref)
            self.model_box.setItemData(
                self.model_box.count() - 1, f"{', '.join(m.classes)}; sha256 {m.sha256}", TOOLTIP
            )
        form.addRow("Model", self.model_box)
        self.device_box = QtWidgets.QComboBox()
        for i, device in enumerate(DEVICES):
            self.device_box.addItem(device, device)
            self.device_box.setItemData(i, DEVICE_TIPS[device], TOOLTIP)
        form.addRow("Device", self.device_box)
        self.workers_spin = QtWidgets.QSpinBox()
        self.workers_spin.setRange(1, 16)
        self.workers_spin.setValue(2)
        self.workers_spin.setToolTip("Series decoded ahead of the model while it classifies")
        form.addRow("Load ahead", self.workers_spin)

        self.results_edit = QtWidgets.QLineEdit(os.fspath(results_path))
        self.results_edit.setToolTip(
            "The SQLite results file; series already in it are skipped, so an interrupted "
            "triage goes on where it stopped"
        )
        self.results_button = QtWidgets.QPushButton("Choose…")
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.results_edit, 1)
        row.addWidget(self.results_button)
        form.addRow("Results file", row)

        self.box = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Cancel
            | QtWidgets.QDialogButtonBox.StandardButton.Ok
        )
        self.start_button = self.box.button(QtWidgets.QDialogButtonBox.StandardButton.Ok)
        self.start_button.setText("Start")
        form.addRow(self.box)

        self.add_button.clicked.connect(self._choose_folder)
        self.add_dicomdir_button.clicked.connect(self._choose_dicomdir)
        self.remove_button.clicked.connect(self._remove)
        self.results_button.clicked.connect(self._choose_results)
        self.results_edit.textChanged.connect(lambda _text: self._update())
        self.box.accepted.connect(self.accept)
        self.box.rejected.connect(self.reject)
        self._update()

    @staticmethod
    def _entries(registry) -> list:
        if registry is None:
            return []
        try:
            return list(registry.entries())
        except Exception:  # a broken models folder lists nothing; the dock says so
            return []

    # -- values -------------------------------------------------------------------------------
    def add_paths(self, paths) -> None:
        shown = set(self.paths())
        for p in paths:
            p = os.fspath(p)
            if p and p not in shown:
                self.folder_list.addItem(p)
                shown.add(p)
        self._update()

    def paths(self) -> list[str]:
        return [self.folder_list.item(i).text() for i in range(self.folder_list.count())]

    def set_model(self, ref: str | None) -> bool:
        i = self.model_box.findData(ref)
        if i >= 0:
            self.model_box.setCurrentIndex(i)
        return i >= 0

    def set_device(self, device: str) -> None:
        self.device_box.setCurrentIndex(max(self.device_box.findData(device), 0))

    def request(self) -> TriageRequest | None:
        """The triage chosen (None without a folder or a results file)."""
        from medviewer.triage.job import TriageOptions

        paths, results = self.paths(), self.results_edit.text().strip()
        if not paths or not results:
            return None
        options = TriageOptions(
            model_ref=self.model_box.currentData(),
            device=self.device_box.currentData() or "auto",
            workers=self.workers_spin.value(),
        )
        return TriageRequest(tuple(paths), results, options)

    # -- buttons ------------------------------------------------------------------------------
    def _update(self) -> None:
        self.start_button.setEnabled(bool(self.paths()) and bool(self.results_edit.text()))
        self.remove_button.setEnabled(self.folder_list.count() > 0)

    def _choose_folder(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(
            self, "Folder to triage", self._start_folder
        )
        if folder:
            self._start_folder = folder
            self.add_paths([folder])

    def _choose_dicomdir(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "DICOMDIR to triage", self._start_folder, "DICOMDIR (DICOMDIR dicomdir);;All (*)"
        )
        if path:
            self.add_paths([path])

    def _remove(self) -> None:
        for item in self.folder_list.selectedItems() or [self.folder_list.currentItem()]:
            if item is not None:
                self.folder_list.takeItem(self.folder_list.row(item))
        self._update()

    def _choose_results(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self,
            "Results file",
            self.results_edit.text(),
            "Triage results (*.sqlite);;All files (*)",
            options=QtWidgets.QFileDialog.Option.DontConfirmOverwrite,
        )
        if path:
            self.results_edit.setText(path)
            self._update()


__all__ = ["ACTIVE_MODEL", "StartTriageDialog"]
