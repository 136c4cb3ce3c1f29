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
    dock.show()
    dock.raise_()
    if not shown and not dock.isFloating() and dock.height() < min_height:
        window.resizeDocks([dock], [min_height], QtCore.Qt.Orientation.Vertical)
    focus.setFocus()
