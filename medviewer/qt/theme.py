"""The dark reading-room theme: Fusion, a near-black palette, grey text, a muted accent.

Bright surfaces around an image raise the reader's adaptation level and hide low-contrast
findings, so nothing large is white: backgrounds are near black, text is grey, and the one
accent (selection, focus) is a desaturated blue.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6 import QtGui, QtWidgets

from medviewer.resources import resources_dir

log = logging.getLogger(__name__)

WINDOW = "#1b1c1e"
BASE = "#121314"
ALTERNATE_BASE = "#17181a"
BUTTON = "#26282b"
TEXT = "#c4c4c4"
DIM_TEXT = "#6c6c6c"
ACCENT = "#2f4f66"
ACCENT_TEXT = "#e4e4e4"
LINK = "#6f9cbc"

_ROLES: dict[QtGui.QPalette.ColorRole, str] = {
    QtGui.QPalette.ColorRole.Window: WINDOW,
    QtGui.QPalette.ColorRole.WindowText: TEXT,
    QtGui.QPalette.ColorRole.Base: BASE,
    QtGui.QPalette.ColorRole.AlternateBase: ALTERNATE_BASE,
    QtGui.QPalette.ColorRole.ToolTipBase: "#26282b",
    QtGui.QPalette.ColorRole.ToolTipText: "#d0d0d0",
    QtGui.QPalette.ColorRole.PlaceholderText: "#7a7a7a",
    QtGui.QPalette.ColorRole.Text: TEXT,
    QtGui.QPalette.ColorRole.Button: BUTTON,
    QtGui.QPalette.ColorRole.ButtonText: TEXT,
    QtGui.QPalette.ColorRole.BrightText: "#ff7b72",
    QtGui.QPalette.ColorRole.Light: "#34373b",
    QtGui.QPalette.ColorRole.Midlight: "#2a2c2f",
    QtGui.QPalette.ColorRole.Mid: "#202124",
    QtGui.QPalette.ColorRole.Dark: "#0e0f10",
    QtGui.QPalette.ColorRole.Shadow: "#000000",
    QtGui.QPalette.ColorRole.Highlight: ACCENT,
    QtGui.QPalette.ColorRole.HighlightedText: ACCENT_TEXT,
    QtGui.QPalette.ColorRole.Link: LINK,
    QtGui.QPalette.ColorRole.LinkVisited: "#8a7fb0",
}

_DISABLED: dict[QtGui.QPalette.ColorRole, str] = {
    QtGui.QPalette.ColorRole.WindowText: DIM_TEXT,
    QtGui.QPalette.ColorRole.Text: DIM_TEXT,
    QtGui.QPalette.ColorRole.ButtonText: DIM_TEXT,
    QtGui.QPalette.ColorRole.Highlight: "#2a2c2f",
    QtGui.QPalette.ColorRole.HighlightedText: DIM_TEXT,
}


def dark_palette() -> QtGui.QPalette:
    palette = QtGui.QPalette()
    for role, colour in _ROLES.items():
        palette.setColor(role, QtGui.QColor(colour))
    for role, colour in _DISABLED.items():
        palette.setColor(QtGui.QPalette.ColorGroup.Disabled, role, QtGui.QColor(colour))
    return palette


def style_sheet_path() -> Path:
    return resources_dir() / "style" / "dark.qss"


def load_style_sheet(path: Path | None = None) -> str | None:
    """The theme's style sheet, or None (logged at debug) when it is missing or unreadable."""
    path = path or style_sheet_path()
    try:
        # url(...) in a style sheet is relative to the working folder: name this one
        return path.read_text(encoding="utf-8").replace("@STYLE_DIR@", path.parent.as_posix())
    except OSError as exc:
        log.debug("no style sheet at %s (%s); using the palette alone", path, exc)
        return None


def apply_dark_theme(app: QtWidgets.QApplication) -> bool:
    """Give ``app`` the dark theme; returns whether the style sheet was found and applied."""
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    sheet = load_style_sheet()
    if sheet is None:
        return False
    app.setStyleSheet(sheet)
    return True


__all__ = ["apply_dark_theme", "dark_palette", "load_style_sheet", "style_sheet_path"]
