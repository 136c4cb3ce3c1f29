"""The menu bar's order: the docks' menus (AI, Labels, Worklist) go before Help; Network
goes before AI."""

from __future__ import annotations

from PySide6 import QtWidgets


def add_before_help(bar: QtWidgets.QMenuBar, menu: QtWidgets.QMenu) -> None:
    """Put ``menu`` just before the Help menu (at the end when there is none yet)."""
    help_menu = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
    if help_menu is not None:
        bar.insertMenu(help_menu, menu)
    else:
        bar.addMenu(menu)


def add_before(bar: QtWidgets.QMenuBar, menu: QtWidgets.QMenu, title: str) -> None:
    """Put ``menu`` just before the menu called ``title`` (before Help when there is none)."""
    found = next((a for a in bar.actions() if a.text().replace("&", "") == title), None)
    if found is not None:
        bar.insertMenu(found, menu)
    else:
        add_before_help(bar, menu)
