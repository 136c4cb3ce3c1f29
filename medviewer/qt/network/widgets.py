"""Small widgets the Network windows share: a field with its error shown under it, a
read-only table model that grows page by page, and coloured result labels."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.session.network import BAD_COLOUR, OK_COLOUR

Qt = QtCore.Qt
NO_PARENT = QtCore.QModelIndex()
ITEM_ROLE = Qt.ItemDataRole.UserRole


class ErrorLabel(QtWidgets.QLabel):
    """The message of a field that is wrong, in red under the field; hidden when empty."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setStyleSheet(f"color: {BAD_COLOUR};")
        self.hide()

    def set_error(self, text: str | None) -> None:
        self.setText(text or "")
        self.setVisible(bool(text))


def with_error(widget: QtWidgets.QWidget) -> tuple[QtWidgets.QWidget, ErrorLabel]:
    """``widget`` with an :class:`ErrorLabel` under it, in one box for a form row."""
    box = QtWidgets.QWidget()
    col = QtWidgets.QVBoxLayout(box)
    col.setContentsMargins(0, 0, 0, 0)
    col.setSpacing(2)
    col.addWidget(widget)
    error = ErrorLabel()
    col.addWidget(error)
    return box, error


def result_style(label: QtWidgets.QLabel, ok: bool | None) -> None:
    colour = "" if ok is None else (OK_COLOUR if ok else BAD_COLOUR)
    label.setStyleSheet(f"color: {colour};" if colour else "")


class RowsModel(QtCore.QAbstractTableModel):
    """Read-only rows of texts, each with the item it shows (``ITEM_ROLE``); rows can be
    appended a page at a time without resetting the view."""

    def __init__(self, columns, to_row, parent=None) -> None:
        super().__init__(parent)
        self.columns = tuple(columns)
        self._to_row = to_row
        self._items: list = []
        self._cells: list[tuple[str, ...]] = []

    def clear(self) -> None:
        self.beginResetModel()
        self._items, self._cells = [], []
        self.endResetModel()

    def set_items(self, items) -> None:
        self.beginResetModel()
        self._items = list(items)
        self._cells = [self._to_row(i) for i in self._items]
        self.endResetModel()

    def append(self, items) -> None:
        items = list(items)
        if not items:
            return
        n = len(self._items)
        self.beginInsertRows(NO_PARENT, n, n + len(items) - 1)
        self._items.extend(items)
        self._cells.extend(self._to_row(i) for i in items)
        self.endInsertRows()

    def item(self, row: int):
        return self._items[row] if 0 <= row < len(self._items) else None

    def items(self) -> list:
        return list(self._items)

    def rowCount(self, parent=NO_PARENT) -> int:  # noqa: N802 (Qt name)
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent=NO_PARENT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._items):
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self._cells[index.row()][index.column()]
        if role == ITEM_ROLE:
            return self._items[index.row()]
        return None


def table_view(model: QtCore.QAbstractItemModel, multi: bool = False) -> QtWidgets.QTableView:
    """A sortable, row-selecting table over ``model`` (through a sort proxy)."""
    proxy = QtCore.QSortFilterProxyModel(model)
    proxy.setSourceModel(model)
    view = QtWidgets.QTableView()
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
    view.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
    mode = "ExtendedSelection" if multi else "SingleSelection"
    view.setSelectionMode(getattr(QtWidgets.QAbstractItemView.SelectionMode, mode))
    view.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(22)
    view.horizontalHeader().setStretchLastSection(True)
    view.setWordWrap(False)
    return view


def selected_items(view: QtWidgets.QTableView) -> list:
    rows = sorted({i.row() for i in view.selectionModel().selectedRows()})
    proxy = view.model()
    return [proxy.index(r, 0).data(ITEM_ROLE) for r in rows]


def warning_icon(widget: QtWidgets.QWidget) -> QtGui.QIcon:
    return widget.style().standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MessageBoxWarning)
