"""Drag and drop of series: the mime data the series browser drags, and the filter that lets
a viewport take a dropped series.

The dragged data is the series key (``SeriesInfo.key``) under :data:`SERIES_MIME`; a viewport
looks the key up in the open scan, so nothing but the key travels.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtWidgets

SERIES_MIME = "application/x-medviewer-series-key"


def series_mime(key: str) -> QtCore.QMimeData:
    """Mime data carrying one series key (also as plain text)."""
    data = QtCore.QMimeData()
    data.setData(SERIES_MIME, QtCore.QByteArray(key.encode("utf-8")))
    data.setText(key)
    return data


def key_from_mime(data: QtCore.QMimeData | None) -> str | None:
    """The series key in ``data``, or None when it carries none."""
    if data is None or not data.hasFormat(SERIES_MIME):
        return None
    key = bytes(data.data(SERIES_MIME)).decode("utf-8", errors="replace").strip()
    return key or None


class SeriesDropFilter(QtCore.QObject):
    """Event filter: accepts series drags on the watched widgets and calls ``on_drop(key)``.

    Install it on a view's widget and on its viewport (a QGraphicsView receives drags on its
    viewport); URL drags (files) are left alone, so the window still opens dropped folders.
    """

    def __init__(self, on_drop: Callable[[str], None], parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self._on_drop = on_drop

    def watch(self, *widgets) -> None:
        for widget in widgets:
            widget.setAcceptDrops(True)
            widget.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt name)
        kind = event.type()
        if kind not in (QtCore.QEvent.Type.DragEnter, QtCore.QEvent.Type.DragMove):
            if kind != QtCore.QEvent.Type.Drop:
                return False
        key = key_from_mime(event.mimeData())
        if key is None:
            return False
        event.setDropAction(QtCore.Qt.DropAction.CopyAction)
        event.accept()
        if kind == QtCore.QEvent.Type.Drop:
            self._on_drop(key)
        return True


class SeriesTree(QtWidgets.QTreeWidget):
    """The series browser's tree: a series row drags its key (patient and study rows do not),
    and its context menu offers "Compare with prior" (``compare_requested(key)``)."""

    compare_requested = QtCore.Signal(str)

    def __init__(self, key_role, parent=None) -> None:
        super().__init__(parent)
        self._key_role = key_role
        self.menu_extensions: list[Callable[[QtWidgets.QMenu, str], None]] = []
        """Called with (menu, series key) to add entries to a series' context menu."""
        self.setDragEnabled(True)
        self.setDragDropMode(QtWidgets.QAbstractItemView.DragDropMode.DragOnly)
        self.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu_requested)

    def mimeTypes(self) -> list[str]:  # noqa: N802 (Qt name)
        return [SERIES_MIME]

    def mimeData(self, items) -> QtCore.QMimeData | None:  # noqa: N802
        keys = [item.data(0, self._key_role) for item in items if item.data(0, self._key_role)]
        return series_mime(keys[0]) if keys else None

    def series_menu(self, key: str) -> QtWidgets.QMenu:
        menu = QtWidgets.QMenu(self)
        menu.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose, True)
        menu.addAction("Compare with &prior", lambda: self.compare_requested.emit(key))
        for extend in self.menu_extensions:
            extend(menu, key)
        return menu

    def _menu_requested(self, pos) -> None:
        item = self.itemAt(pos)
        key = item.data(0, self._key_role) if item is not None else None
        if key:
            self.series_menu(key).popup(self.viewport().mapToGlobal(pos))


__all__ = ["SERIES_MIME", "SeriesDropFilter", "SeriesTree", "key_from_mime", "series_mime"]
