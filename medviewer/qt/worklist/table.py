"""The worklist's table: a Qt item model over the rows that
:class:`medviewer.session.worklist_view.Worklist` computes (texts, tooltips, highlight), and
the view that opens a row on double-click or Enter (``row_activated``). Widgets only: the
order (most suspicious first) and the filters are the worklist's.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.session.worklist_view import COLUMNS, WorklistRow

Qt = QtCore.Qt
SUSPICION = COLUMNS.index("Suspicion")
RESULT = COLUMNS.index("Series result")
FLAGGED = COLUMNS.index("Flagged slices")
REVIEW = COLUMNS.index("Review")
HIGHLIGHT = QtGui.QColor("#ff8a65")
MUTED = QtGui.QColor("#9e9e9e")
ROW_ROLE = Qt.ItemDataRole.UserRole
NO_PARENT = QtCore.QModelIndex()


class WorklistTableModel(QtCore.QAbstractTableModel):
    """Read-only rows: ``set_rows`` replaces them all (the view keeps the selected series)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[WorklistRow] = []
        self._bold = QtGui.QFont()
        self._bold.setBold(True)

    def set_rows(self, rows: list[WorklistRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row(self, i: int) -> WorklistRow | None:
        return self._rows[i] if 0 <= i < len(self._rows) else None

    def rowCount(self, parent=NO_PARENT) -> int:  # noqa: N802 (Qt name)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=NO_PARENT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        row = self.row(index.row())
        if row is None:
            return None
        c = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return row.cells[c]
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.tips[c] or None
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.ForegroundRole:
            if row.highlight and c in (RESULT, SUSPICION):
                return HIGHLIGHT
            if c == REVIEW and not row.review.labeled:
                return MUTED
            if c == FLAGGED and not row.result.flagged_slices:
                return MUTED
        if role == Qt.ItemDataRole.FontRole and row.highlight and c == SUSPICION:
            return self._bold
        if role == Qt.ItemDataRole.TextAlignmentRole and c == SUSPICION:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class WorklistTable(QtWidgets.QTableView):
    """The table of the worklist; ``row_activated(WorklistRow)`` on double-click or Enter."""

    row_activated = QtCore.Signal(object)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.table_model = WorklistTableModel(self)
        self.setModel(self.table_model)
        self.setObjectName("worklistTable")
        self.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        header = self.horizontalHeader()
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        for column, width in enumerate((170, 85, 230, 165, 70, 95, 110)):
            self.setColumnWidth(column, width)
        self.setToolTip("Double-click or Enter: open the series at its most suspicious slice")
        self.activated.connect(self._activated)

    def set_rows(self, rows: list[WorklistRow]) -> None:
        """Show ``rows``, keeping the selected series selected when it is still shown."""
        chosen = self.current_row()
        self.table_model.set_rows(rows)
        if chosen is not None:
            self.select_key(chosen.key)

    def current_row(self) -> WorklistRow | None:
        index = self.currentIndex()
        return self.table_model.row(index.row()) if index.isValid() else None

    def select_key(self, key) -> bool:
        for i in range(self.table_model.rowCount()):
            if self.table_model.row(i).key == key:
                self.selectRow(i)
                return True
        return False

    def rows(self) -> list[WorklistRow]:
        model = self.table_model
        return [model.row(i) for i in range(model.rowCount())]

    def _activated(self, index: QtCore.QModelIndex) -> None:
        row = self.table_model.row(index.row())
        if row is not None:
            self.row_activated.emit(row)


__all__ = ["WorklistTable", "WorklistTableModel"]
