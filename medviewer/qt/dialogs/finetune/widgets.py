"""Small widgets and widget helpers of the fine-tuning dialog: read-only tables, the
confusion matrix, labels, combos, plots and the curves' pens."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.qt.dialogs.finetune.style import MUTED

TRAIN_PEN = pg.mkPen((255, 170, 60), width=2)
BATCH_PEN = pg.mkPen((255, 170, 60, 90), width=1)
VAL_PEN = pg.mkPen((80, 200, 255), width=2)
METRIC_PEN = pg.mkPen((120, 230, 120), width=2)
BASE_PEN = pg.mkPen((200, 160, 255), width=2)
NEW_PEN = pg.mkPen((120, 230, 120), width=2)


def table_item(text, *, align_right: bool = False, tip: str = "") -> QtWidgets.QTableWidgetItem:
    item = QtWidgets.QTableWidgetItem(str(text))
    item.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled | QtCore.Qt.ItemFlag.ItemIsSelectable)
    if align_right:
        item.setTextAlignment(
            QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter
        )
    if tip:
        item.setToolTip(tip)
    return item


def make_table(rows: int, headers) -> QtWidgets.QTableWidget:
    table = QtWidgets.QTableWidget(rows, len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
    table.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(22)
    table.setWordWrap(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table


def stretch_first_column(table: QtWidgets.QTableWidget) -> None:
    header = table.horizontalHeader()
    header.setStretchLastSection(False)
    header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
    table.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)


def fit_table_height(table: QtWidgets.QTableWidget, max_rows: int = 12) -> None:
    """Size a short table to its rows (no inner scroll bar up to ``max_rows``)."""
    rows = min(table.rowCount(), max_rows)
    table.resizeRowsToContents()
    height = max(table.horizontalHeader().sizeHint().height(), 20) + 2
    height += sum(table.rowHeight(r) for r in range(rows)) if rows else 22
    table.setFixedHeight(height + 2 * table.frameWidth())
    if table.rowCount() <= max_rows:
        table.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)


def bold_label(text: str) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel(f"<b>{text}</b>")
    return label


def muted_label(text: str) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(MUTED)
    return label


def choice_combo(choices, tip_index: int | None = None) -> QtWidgets.QComboBox:
    box = QtWidgets.QComboBox()
    for choice in choices:
        box.addItem(choice[1], choice[0])
        if tip_index is not None:
            box.setItemData(box.count() - 1, choice[tip_index], QtCore.Qt.ItemDataRole.ToolTipRole)
    return box


def select_data(box: QtWidgets.QComboBox, value) -> None:
    i = box.findData(value)
    if i >= 0:
        box.setCurrentIndex(i)


class ConfusionTable(QtWidgets.QTableWidget):
    """A confusion matrix: rows true class, columns predicted; cells shaded by row share."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.verticalHeader().setDefaultSectionSize(24)
        self.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.verticalHeader().setSectionResizeMode(
            QtWidgets.QHeaderView.ResizeMode.ResizeToContents
        )
        self.setToolTip("Rows: the label (truth); columns: what the model predicted")

    def set_matrix(self, classes, matrix) -> None:
        classes = list(classes)
        m = np.asarray(matrix if matrix is not None else [], dtype=np.int64)
        if m.ndim != 2 or m.shape != (len(classes), len(classes)):
            m = np.zeros((len(classes), len(classes)), dtype=np.int64)
        self.clear()
        self.setRowCount(len(classes))
        self.setColumnCount(len(classes))
        self.setHorizontalHeaderLabels([c.replace("_", "\n") for c in classes])
        self.setVerticalHeaderLabels(classes)
        for r in range(len(classes)):
            total = int(m[r].sum())
            for c in range(len(classes)):
                n = int(m[r, c])
                item = table_item(n, align_right=True)
                share = n / total if total else 0.0
                if n:
                    if r == c:
                        colour = QtGui.QColor.fromHsv(120, 150, int(60 + 130 * share))
                    else:
                        colour = QtGui.QColor.fromHsv(
                            0, int(60 + 120 * share), int(55 + 120 * share)
                        )
                    item.setBackground(colour)
                item.setToolTip(
                    f"{n} of {total} slices labeled {classes[r]} were predicted {classes[c]}"
                )
                self.setItem(r, c, item)
        height = self.horizontalHeader().sizeHint().height() + 4
        height += sum(self.rowHeight(r) for r in range(self.rowCount()))
        self.setFixedHeight(height + 2 * self.frameWidth())

    def values(self) -> list[list[int]]:
        return [
            [int(self.item(r, c).text()) for c in range(self.columnCount())]
            for r in range(self.rowCount())
        ]


def scrolled(widget: QtWidgets.QWidget) -> QtWidgets.QScrollArea:
    """``widget`` in a frameless scroll area that resizes it."""
    scroll = QtWidgets.QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
    scroll.setWidget(widget)
    return scroll


def make_plot(title: str, xlabel: str, ylabel: str) -> pg.PlotWidget:
    """A plot with a grid, axis labels and no context menu or auto-range button."""
    plot = pg.PlotWidget()
    plot.setMinimumHeight(220)
    plot.setMenuEnabled(False)
    plot.hideButtons()
    item = plot.getPlotItem()
    item.setTitle(title, size="10pt")
    item.setLabel("bottom", xlabel)
    item.setLabel("left", ylabel)
    item.showGrid(x=True, y=True, alpha=0.2)
    for axis in ("left", "bottom"):
        item.getAxis(axis).enableAutoSIPrefix(False)
    return plot


def checkable_item(text: str, data=None) -> QtWidgets.QListWidgetItem:
    """A ticked list item (``data`` under UserRole)."""
    item = QtWidgets.QListWidgetItem(text)
    if data is not None:
        item.setData(QtCore.Qt.ItemDataRole.UserRole, data)
    item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
    item.setCheckState(QtCore.Qt.CheckState.Checked)
    return item


__all__ = [
    "ConfusionTable",
    "bold_label",
    "checkable_item",
    "choice_combo",
    "fit_table_height",
    "make_plot",
    "make_table",
    "muted_label",
    "scrolled",
    "select_data",
    "stretch_first_column",
    "table_item",
]
