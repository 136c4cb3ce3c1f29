"""The worklist's "Worklist" menu (before Help) and the question asked when a results file
holds another model's results. Widgets only; the dock connects them.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.qt.menubar import add_before_help
from medviewer.qt.shortcuts import make_action


def build_menu(
    window,
    show: Callable[[], None],
    *,
    open_results: Callable[[], None],
    start: Callable[[], None],
    pause: Callable[[], None],
    cancel: Callable[[], None],
) -> tuple[QtWidgets.QMenu, QtGui.QAction, QtGui.QAction]:
    """The menu in ``window``'s menu bar (Show worklist is ``window.actions["worklist.show"]``,
    its key from the shortcut table); returns it with its Pause and Cancel actions."""
    action = make_action("worklist.show", window, show, text="Show &worklist")
    window.actions["worklist.show"] = action
    menu = QtWidgets.QMenu("&Worklist", window)
    menu.addAction(action)
    menu.addSeparator()
    menu.addAction("&Open results…", open_results)
    menu.addAction("&Start triage…", start)
    pause_action = menu.addAction("&Pause triage", pause)
    cancel_action = menu.addAction("&Cancel triage", cancel)
    add_before_help(window.menuBar(), menu)
    return menu, pause_action, cancel_action


def ask_other_model(parent, message: str, on_yes: Callable[[], None]) -> QtWidgets.QMessageBox:
    """Ask (window-modal, not blocking) whether to add this model's results beside another
    model's; ``on_yes`` when the user agrees. The box deletes itself when closed."""
    box = QtWidgets.QMessageBox(
        QtWidgets.QMessageBox.Icon.Question,
        "Triage results",
        f"{message}\n\nAdd this model's results beside them? Nothing stored is changed.",
        QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.No,
        parent,
    )
    box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    yes = box.button(QtWidgets.QMessageBox.StandardButton.Yes)

    def clicked(button) -> None:
        if button is yes:
            on_yes()

    box.buttonClicked.connect(clicked)
    box.open()
    return box


__all__ = ["ask_other_model", "build_menu"]
