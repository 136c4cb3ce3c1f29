"""Label-set editor: rename, recolour, re-key, add, remove and reorder classes, then save the set
as the user's own copy (``user_data_dir()/label_sets``). Bundled files are never written, and
stored labels are never rewritten: a label whose class was renamed or removed stays as it was
and the panel shows it as "not a class of the label set"."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.errors import LabelStoreError
from medviewer.labels.label_sets import label_set_from_dict, label_set_to_dict, save_label_set
from medviewer.labels.schema import SCOPES, LabelSet

COLUMNS = ("Name", "Colour", "Key", "Description")
NEW_CLASS_COLORS = ("#ab47bc", "#ff9800", "#26a69a", "#8d6e63", "#ec407a", "#7e57c2")


class LabelSetEditor(QtWidgets.QDialog):
    """Edit ``label_set``; after ``accept()`` :attr:`saved` holds the written set and its file."""

    def __init__(self, label_set: LabelSet, parent=None) -> None:
        super().__init__(parent)
        self.original = label_set
        self.saved: LabelSet | None = None
        self.saved_path = None
        self.setWindowTitle(f"Edit label set — {label_set.name}")
        self.resize(720, 440)
        layout = QtWidgets.QVBoxLayout(self)

        form = QtWidgets.QFormLayout()
        self.name_edit = QtWidgets.QLineEdit(label_set.name)
        self.name_edit.setToolTip("Saving under a new name makes a new set; the old one stays")
        self.description_edit = QtWidgets.QLineEdit(label_set.description)
        self.scope_box = QtWidgets.QComboBox()
        for scope in SCOPES:
            self.scope_box.addItem(f"one label per {scope}", scope)
        self.scope_box.setCurrentIndex(max(self.scope_box.findData(label_set.scope), 0))
        self.version_label = QtWidgets.QLabel()
        form.addRow("Name", self.name_edit)
        form.addRow("Description", self.description_edit)
        form.addRow("Scope", self.scope_box)
        form.addRow("Version", self.version_label)
        layout.addLayout(form)

        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        for cls in label_set.classes:
            self._append_row(cls.name, cls.color, cls.key, cls.description)
        self.table.resizeColumnsToContents()
        layout.addWidget(self.table, 1)

        row = QtWidgets.QHBoxLayout()
        self.add_button = QtWidgets.QPushButton("Add class")
        self.remove_button = QtWidgets.QPushButton("Remove")
        self.up_button = QtWidgets.QPushButton("Move up")
        self.down_button = QtWidgets.QPushButton("Move down")
        self.color_button = QtWidgets.QPushButton("Colour…")
        for button in (
            self.add_button,
            self.remove_button,
            self.up_button,
            self.down_button,
            self.color_button,
        ):
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)

        note = QtWidgets.QLabel(
            "Stored labels are never rewritten: a label of a renamed or removed class keeps its "
            "old name and is shown as not in the set. Keys must not be viewer shortcuts."
        )
        note.setWordWrap(True)
        layout.addWidget(note)
        self.problem_label = QtWidgets.QLabel()
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("color: #e53935")
        layout.addWidget(self.problem_label)

        self.buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Save
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        self.add_button.clicked.connect(self.add_class)
        self.remove_button.clicked.connect(self.remove_class)
        self.up_button.clicked.connect(lambda: self.move_class(-1))
        self.down_button.clicked.connect(lambda: self.move_class(1))
        self.color_button.clicked.connect(lambda _checked=False: self.pick_color())
        self.table.itemChanged.connect(self._item_changed)
        self.name_edit.textChanged.connect(self.validate)
        self.description_edit.textChanged.connect(self.validate)
        self.scope_box.currentIndexChanged.connect(self.validate)
        self.validate()

    # -- rows ------------------------------------------------------------------------------------
    def _append_row(self, name: str, color: str, key: str, description: str) -> None:
        self.table.blockSignals(True)
        r = self.table.rowCount()
        self.table.insertRow(r)
        for c, text in enumerate((name, color, key, description)):
            self.table.setItem(r, c, QtWidgets.QTableWidgetItem(text))
        self._paint_swatch(r)
        self.table.blockSignals(False)

    def _paint_swatch(self, r: int) -> None:
        item = self.table.item(r, 1)
        color = QtGui.QColor(item.text().strip())
        pixmap = QtGui.QPixmap(12, 12)
        pixmap.fill(color if color.isValid() else QtGui.QColor(0, 0, 0, 0))
        item.setIcon(QtGui.QIcon(pixmap))

    def _item_changed(self, item: QtWidgets.QTableWidgetItem) -> None:
        if item.column() == 1:
            self.table.blockSignals(True)
            self._paint_swatch(item.row())
            self.table.blockSignals(False)
        self.validate()

    def _current_row(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else self.table.currentRow()

    def add_class(self) -> None:
        used = {self.table.item(r, 1).text().lower() for r in range(self.table.rowCount())}
        color = next((c for c in NEW_CLASS_COLORS if c not in used), NEW_CLASS_COLORS[0])
        self._append_row(f"class_{self.table.rowCount() + 1}", color, "", "")
        self.table.selectRow(self.table.rowCount() - 1)
        self.table.editItem(self.table.item(self.table.rowCount() - 1, 0))
        self.validate()

    def remove_class(self) -> None:
        r = self._current_row()
        if 0 <= r < self.table.rowCount():
            self.table.removeRow(r)
            self.validate()

    def move_class(self, step: int) -> None:
        r = self._current_row()
        target = r + step
        if not (0 <= r < self.table.rowCount() and 0 <= target < self.table.rowCount()):
            return
        self.table.blockSignals(True)
        for c in range(self.table.columnCount()):
            a, b = self.table.takeItem(r, c), self.table.takeItem(target, c)
            self.table.setItem(r, c, b)
            self.table.setItem(target, c, a)
        self.table.blockSignals(False)
        self.table.selectRow(target)
        self.validate()

    def pick_color(self, color: QtGui.QColor | None = None) -> None:
        """Recolour the selected class (``color`` given: no dialog, for tests and scripts)."""
        r = self._current_row()
        if not 0 <= r < self.table.rowCount():
            return
        item = self.table.item(r, 1)
        if color is None:
            color = QtWidgets.QColorDialog.getColor(QtGui.QColor(item.text()), self)
        if color.isValid():
            item.setText(color.name())

    # -- the set ---------------------------------------------------------------------------------
    def document(self) -> dict:
        """The label-set JSON document the dialog currently describes (not yet validated)."""
        name = self.name_edit.text().strip()
        classes = []
        for r in range(self.table.rowCount()):
            name_, color, key, description = (
                self.table.item(r, c).text().strip() for c in range(4)
            )
            classes.append({"name": name_, "color": color, "key": key, "description": description})
        doc = label_set_to_dict(self.original)
        doc.update(
            name=name,
            description=self.description_edit.text().strip(),
            scope=self.scope_box.currentData(),
            classes=classes,
        )
        doc["version"] = self._next_version(doc)
        return doc

    def _next_version(self, doc: dict) -> int:
        if doc["name"] != self.original.name:
            return 1
        same = dict(doc, version=self.original.version) == label_set_to_dict(self.original)
        return self.original.version if same else self.original.version + 1

    def validate(self) -> LabelSet | None:
        """The edited set, or None with the reason shown (and Save disabled)."""
        doc = self.document()
        self.version_label.setText(
            f"{doc['version']}" + ("" if doc["version"] == self.original.version else " (new)")
        )
        try:
            label_set = label_set_from_dict(doc, "the edited set")
        except LabelStoreError as exc:
            self.problem_label.setText(str(exc).replace("label set the edited set, ", ""))
            self.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Save).setEnabled(False)
            return None
        self.problem_label.setText("")
        self.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Save).setEnabled(True)
        return label_set

    def save(self) -> None:
        label_set = self.validate()
        if label_set is None:
            return
        try:
            self.saved_path = save_label_set(label_set)
        except LabelStoreError as exc:
            self.problem_label.setText(str(exc))
            return
        self.saved = label_set
        self.accept()

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:  # noqa: N802
        # Enter while editing a cell commits the cell, not the whole dialog.
        if event.key() in (QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter) and (
            self.table.hasFocus()
        ):
            return
        super().keyPressEvent(event)


__all__ = ["LabelSetEditor"]
