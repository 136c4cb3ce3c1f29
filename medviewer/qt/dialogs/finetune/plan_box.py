"""The outcome of "Check data" on the Data page: the plan (counts per class and split,
summary, warnings, labels whose image is missing) and the choice for label classes the base
model does not know. They draw what :mod:`~medviewer.qt.dialogs.finetune.data_view` computed."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.qt.dialogs.finetune.choices import LEAVE_OUT
from medviewer.qt.dialogs.finetune.data_view import NEW_CLASS_SUFFIX, CountRow
from medviewer.qt.dialogs.finetune.style import GREY, WARN_STYLE
from medviewer.qt.dialogs.finetune.widgets import (
    fit_table_height,
    make_table,
    select_data,
    stretch_first_column,
    table_item,
)


class PlanBox(QtWidgets.QGroupBox):
    """ "What will be used": the checked plan."""

    def __init__(self, parent=None) -> None:
        super().__init__("What will be used", parent)
        pv = QtWidgets.QVBoxLayout(self)
        self.plan_summary = QtWidgets.QLabel("")
        self.plan_summary.setWordWrap(True)
        pv.addWidget(self.plan_summary)
        self.counts_table = make_table(0, ("Class", "Training", "Validation", "Total"))
        stretch_first_column(self.counts_table)
        pv.addWidget(self.counts_table)
        self.plan_warnings = QtWidgets.QLabel("")
        self.plan_warnings.setWordWrap(True)
        self.plan_warnings.setStyleSheet(WARN_STYLE)
        pv.addWidget(self.plan_warnings)
        self.missing_label = QtWidgets.QLabel("")
        self.missing_label.setWordWrap(True)
        pv.addWidget(self.missing_label)
        self.missing_list = QtWidgets.QListWidget()
        self.missing_list.setMaximumHeight(90)
        self.missing_list.setToolTip("Labels left out: their image was not found")
        pv.addWidget(self.missing_list)

    def show_plan(
        self,
        rows: list[CountRow],
        totals: tuple[int, int],
        summary: str,
        warnings: str,
        missing: list[str],
        missing_text: str,
    ) -> None:
        """Fill the counts table (one row per class, then the totals) and the texts."""
        t = self.counts_table
        t.setRowCount(len(rows) + 1)
        for r, row in enumerate(rows):
            t.setItem(r, 0, table_item(row.text, tip=row.tip))
            t.setItem(r, 1, table_item(row.train, align_right=True))
            t.setItem(r, 2, table_item(row.val, align_right=True))
            t.setItem(r, 3, table_item(row.train + row.val, align_right=True))
            if row.empty:
                for c in range(4):
                    t.item(r, c).setForeground(QtGui.QColor(GREY))
        n_train, n_val = totals
        bold = QtGui.QFont(t.font())
        bold.setBold(True)
        for c, text in enumerate(("Total", n_train, n_val, n_train + n_val)):
            item = table_item(text, align_right=c > 0)
            item.setFont(bold)
            t.setItem(len(rows), c, item)
        fit_table_height(t, 14)
        self.plan_summary.setText(summary)
        self.plan_warnings.setText(warnings)
        self.plan_warnings.setVisible(bool(warnings))
        self.missing_list.clear()
        for line in missing:
            self.missing_list.addItem(line)
        self.missing_label.setText(missing_text)
        self.missing_label.setVisible(bool(missing))
        self.missing_list.setVisible(bool(missing))

    def data_counts(self) -> dict[str, tuple[int, int]]:
        """What the counts table shows: class -> (training, validation)."""
        t = self.counts_table
        out = {}
        for r in range(t.rowCount() - 1):
            name = t.item(r, 0).text().replace(NEW_CLASS_SUFFIX, "")
            out[name] = (int(t.item(r, 1).text()), int(t.item(r, 2).text()))
        return out


class MappingBox(QtWidgets.QGroupBox):
    """Label classes the base model has no output for: add them as new outputs, or map each
    to a base class or leave it out. ``apply_mapping_button`` asks for a new check."""

    def __init__(self, parent=None) -> None:
        super().__init__("Classes the base model does not know", parent)
        mv = QtWidgets.QVBoxLayout(self)
        self.mapping_text = QtWidgets.QLabel("")
        self.mapping_text.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.mapping_text.setWordWrap(True)
        mv.addWidget(self.mapping_text)
        self.add_classes_radio = QtWidgets.QRadioButton(
            "Add them as new classes (the model gets new outputs; the old ones keep their weights)"
        )
        self.map_radio = QtWidgets.QRadioButton(
            "Map each to a class of the base model, or leave it out:"
        )
        self.add_classes_radio.setChecked(True)
        mv.addWidget(self.add_classes_radio)
        mv.addWidget(self.map_radio)
        self.mapping_form = QtWidgets.QFormLayout()
        self.mapping_form.setContentsMargins(24, 0, 0, 0)
        mv.addLayout(self.mapping_form)
        self.map_combos: dict[str, QtWidgets.QComboBox] = {}
        row = QtWidgets.QHBoxLayout()
        self.apply_mapping_button = QtWidgets.QPushButton("Use this and check again")
        row.addWidget(self.apply_mapping_button)
        row.addStretch(1)
        mv.addLayout(row)
        self.add_classes_radio.toggled.connect(self._mode_changed)

    def offer(self, text: str, base_classes, targets: dict[str, str]) -> None:
        """Show ``text`` and one combo per unknown class, set to ``targets[name]`` (a base
        class or :data:`LEAVE_OUT`)."""
        self.mapping_text.setText(text)
        while self.mapping_form.rowCount():
            self.mapping_form.removeRow(0)
        self.map_combos = {}
        for name, target in targets.items():
            box = QtWidgets.QComboBox()
            for c in base_classes:
                box.addItem(f"count as {c}", c)
            box.addItem("leave out", LEAVE_OUT)
            select_data(box, target)
            self.map_combos[name] = box
            self.mapping_form.addRow(name, box)
        self._mode_changed()
        self.setVisible(True)

    def _mode_changed(self, *_args) -> None:
        on = self.map_radio.isChecked()
        for box in self.map_combos.values():
            box.setEnabled(on)

    def offered_classes(self) -> list[str]:
        """The unknown classes the box offers to add or map (empty when hidden)."""
        return list(self.map_combos) if self.isVisible() else []

    def set_mapping(self, mapping: dict[str, str | None]) -> None:
        """Choose "map" with these targets (None = leave out)."""
        self.map_radio.setChecked(True)
        for name, target in mapping.items():
            box = self.map_combos.get(name)
            if box is not None:
                select_data(box, LEAVE_OUT if target is None else target)

    def choice(self) -> tuple[bool, dict[str, str | None]]:
        """(add as new classes, else the mapping: class -> base class, None = leave out)."""
        if self.add_classes_radio.isChecked():
            return True, {}
        return False, {
            name: (None if box.currentData() == LEAVE_OUT else box.currentData())
            for name, box in self.map_combos.items()
        }
