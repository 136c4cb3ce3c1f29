"""F1: every keyboard shortcut and mouse gesture, grouped, read from :mod:`shortcuts`."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.qt.shortcuts import SHORTCUTS, Shortcut, grouped

KEYS_COLUMN_MAX = 230
"""The keys column's widest: a long mouse gesture wraps instead of squeezing the actions."""


class HelpDialog(QtWidgets.QDialog):
    """A read-only table of the shortcuts: a bold row per group, then "keys | action" rows."""

    def __init__(
        self,
        parent: QtWidgets.QWidget | None = None,
        shortcuts: Iterable[Shortcut] = SHORTCUTS,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("medviewer — keyboard and mouse")
        self.setModal(False)
        self.resize(780, 720)
        self._shortcuts = list(shortcuts)

        self.table = QtWidgets.QTableWidget(0, 2, self)
        self.table.setHorizontalHeaderLabels(["Keys / mouse", "Action"])
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setShowGrid(False)
        # every line whole: long descriptions and gestures wrap rather than end in "…"
        self.table.setWordWrap(True)
        self.table.setTextElideMode(QtCore.Qt.TextElideMode.ElideNone)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self._fill()
        self.table.resizeColumnToContents(0)
        header.resizeSection(0, min(header.sectionSize(0), KEYS_COLUMN_MAX))
        header.sectionResized.connect(lambda *_a: self.table.resizeRowsToContents())

        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)

    def _fill(self) -> None:
        bold = QtGui.QFont(self.font())
        bold.setBold(True)
        groups = grouped(self._shortcuts)
        self.table.setRowCount(sum(len(members) + 1 for _, members in groups))
        row = 0
        for group, members in groups:
            title = QtWidgets.QTableWidgetItem(group)
            title.setFont(bold)
            title.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled)
            self.table.setItem(row, 0, title)
            self.table.setSpan(row, 0, 1, 2)
            row += 1
            for entry in members:
                keys = QtWidgets.QTableWidgetItem(entry.display_keys())
                keys.setData(QtCore.Qt.ItemDataRole.UserRole, entry.action_id)
                action = QtWidgets.QTableWidgetItem(entry.description)
                action.setToolTip(entry.description)
                for item in (keys, action):
                    item.setFlags(
                        QtCore.Qt.ItemFlag.ItemIsEnabled | QtCore.Qt.ItemFlag.ItemIsSelectable
                    )
                self.table.setItem(row, 0, keys)
                self.table.setItem(row, 1, action)
                row += 1

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        self.table.resizeRowsToContents()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self.table.resizeRowsToContents()

    def rows(self) -> list[tuple[str, str, str]]:
        """``(action_id, keys as shown, description)`` for every shortcut row, in order."""
        out = []
        for row in range(self.table.rowCount()):
            keys = self.table.item(row, 0)
            action = self.table.item(row, 1)
            if keys is None or action is None:
                continue  # a group title
            action_id = keys.data(QtCore.Qt.ItemDataRole.UserRole)
            out.append((action_id, keys.text(), action.text()))
        return out

    def groups(self) -> list[str]:
        """The group titles, in order."""
        return [
            self.table.item(row, 0).text()
            for row in range(self.table.rowCount())
            if self.table.item(row, 1) is None and self.table.item(row, 0) is not None
        ]


__all__ = ["HelpDialog"]
