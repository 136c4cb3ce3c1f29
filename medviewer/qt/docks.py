"""Showing a dock that lives along the bottom of the window (the worklist, Query / Retrieve)."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets


def show_bottom_dock(
    window: QtWidgets.QMainWindow,
    dock: QtWidgets.QDockWidget,
    min_height: int,
    focus: QtWidgets.QWidget,
) -> None:
    """Show and raise ``dock``; when it was hidden and docked too flat to use, give it
    ``min_height`` pixels; then put the keyboard focus on ``focus``."""
    shown = dock.isVisible()
    if not shown and not dock.isFloating():
        _share_the_bottom(window, dock)
    dock.show()
    dock.raise_()
    if not shown and not dock.isFloating() and dock.height() < min_height:
        window.resizeDocks([dock], [min_height], QtCore.Qt.Orientation.Vertical)
    focus.setFocus()


def _share_the_bottom(window: QtWidgets.QMainWindow, dock: QtWidgets.QDockWidget) -> None:
    """A wide bottom dock (worklist, Query / Retrieve) opening beside another bottom dock
    shown (Messages) becomes a tab with it, keeping the window's whole width for its columns
    instead of half of it."""
    bottom = QtCore.Qt.DockWidgetArea.BottomDockWidgetArea
    for other in window.findChildren(QtWidgets.QDockWidget):
        if (
            other is not dock
            and other.isVisible()
            and not other.isFloating()
            and window.dockWidgetArea(other) == bottom
            and window.dockWidgetArea(dock) == bottom
            and dock not in window.tabifiedDockWidgets(other)
        ):
            window.tabifyDockWidget(other, dock)
            return
