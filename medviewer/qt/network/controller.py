"""Puts the DICOM network into the main window: the "Network" menu (DICOM nodes…, Query /
Retrieve, Receive studies, Study folder…), the Query / Retrieve dock, the receiver switch and
the live study folder that feeds the series browser.

Nothing opens a socket unless the user verifies a node, searches, retrieves or switches
receiving on; with no node configured every entry still opens and says what to set up.
"""

from __future__ import annotations

import logging

from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.net.nodes import NetConfig, load_config, save_config
from medviewer.qt.menubar import add_before
from medviewer.qt.network.live import LiveStudies
from medviewer.qt.network.query_dock import QueryDock
from medviewer.qt.network.receiving import ReceiverSwitch
from medviewer.qt.shortcuts import make_action
from medviewer.session.network import arrival_text, study_store

log = logging.getLogger(__name__)


def _action(action_id: str, text: str, tip: str, parent) -> QtGui.QAction:
    """A menu entry without a key (the shortcut table holds only keyed entries)."""
    action = QtGui.QAction(text, parent)
    action.setObjectName(action_id)
    action.setToolTip(tip)
    action.setStatusTip(tip)
    return action


class NetworkMenu(QtCore.QObject):
    """The network in a MainWindow (``window.network``). ``config_saved(NetConfig)`` after
    the nodes dialog saved; ``arrival(Arrival)`` for each receiver event (GUI thread)."""

    config_saved = QtCore.Signal(object)
    arrival = QtCore.Signal(object)

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = w = window
        self.config, problems = load_config()
        for problem in problems:
            w._message(problem, warning=True)
        self.nodes_dialog = None
        self.folder_dialog = None
        self.live = LiveStudies(w)
        self.receiving = ReceiverSwitch(self)
        self.receiving.arrival.connect(self._arrived)
        self.receiving.state_changed.connect(self._receiving_changed)
        self.query = QueryDock(self, w)
        self._build_menu()
        if self.config.local.receive_enabled:  # switched on in an earlier session
            QtCore.QTimer.singleShot(0, lambda: self.set_receiving(True, save=False))

    def _build_menu(self) -> None:
        w = self.window
        menu = QtWidgets.QMenu("&Network", w)
        nodes = make_action(
            "network.nodes", w, lambda: self.show_nodes_dialog(), text="DICOM &nodes…"
        )
        query = make_action("network.query", w, self.query.toggle, text="&Query / Retrieve")
        query.setCheckable(True)
        self.query.dock.visibilityChanged.connect(query.setChecked)
        receive = _action("network.receive", "&Receive studies", "Accept studies sent here", w)
        receive.setCheckable(True)
        receive.toggled.connect(lambda on: self.set_receiving(on))
        folder = _action(
            "network.study_folder", "&Study folder…", "Retrieved and received studies", w
        )
        folder.triggered.connect(lambda: self.show_study_folder())
        for action in (nodes, query, receive, folder):
            w.actions[action.objectName()] = action
        menu.addAction(nodes)
        menu.addSeparator()
        menu.addAction(query)
        menu.addAction(receive)
        menu.addSeparator()
        menu.addAction(folder)
        add_before(w.menuBar(), menu, "AI")  # File View Tools Network AI Labels Worklist
        self.menu, self.receive_action = menu, receive

    def store(self):
        """The study folder of the configuration (nothing is created until a file comes)."""
        return study_store(self.config)

    # -- dialogs -----------------------------------------------------------------------------
    def show_nodes_dialog(self):
        from medviewer.qt.network.nodes_dialog import NodesDialog

        dialog = NodesDialog(self.config, self.window)
        dialog.saved.connect(self._saved)
        self.nodes_dialog = dialog
        dialog.open()
        return dialog

    def _saved(self, config: NetConfig) -> None:
        receiving_before = self.receiving.running
        self.config = config
        self.query.config_changed()
        self.config_saved.emit(config)
        self.window.statusBar().showMessage(
            f"DICOM nodes saved ({len(config.nodes)} node(s))", 5000
        )
        want = config.local.receive_enabled
        if want != self.receive_action.isChecked():
            self.receive_action.setChecked(want)  # starts or stops through toggled
        elif want and receiving_before:
            self.set_receiving(True, save=False)  # again, with the new port / callers

    def show_study_folder(self):
        from medviewer.qt.network.study_folder import StudyFolderDialog

        dialog = StudyFolderDialog(self.store(), self.window)
        dialog.open_requested.connect(self._open_study)
        self.folder_dialog = dialog
        dialog.open()
        return dialog

    def _open_study(self, path: str) -> None:
        self.window.open_paths([path])

    # -- receiving ---------------------------------------------------------------------------
    def set_receiving(self, on: bool, save: bool = True) -> None:
        """Start or stop the receiver (Network > Receive studies); remembered in the node
        settings when ``save``."""
        action = self.receive_action
        if action.isChecked() != on:
            action.blockSignals(True)
            action.setChecked(on)
            action.blockSignals(False)
        if on:
            self.receiving.start(self.config, self.store())
        else:
            self.receiving.stop()
        if save and on != self.config.local.receive_enabled:
            self._remember_receiving(on)

    def _remember_receiving(self, on: bool) -> None:
        from dataclasses import replace

        config = NetConfig(replace(self.config.local, receive_enabled=on), list(self.config.nodes))
        try:
            save_config(config)
            self.config = config
        except Exception as exc:  # the switch works for this session anyway
            self.window._message(
                f"Receiving {'on' if on else 'off'} is not remembered: {exc}", warning=True
            )

    def _receiving_changed(self, running: bool, text: str) -> None:
        w = self.window
        if not running and self.receive_action.isChecked():
            self.set_receiving(False, save=False)
            w._message(text, warning=True)
        w.statusBar().showMessage(text, 8000)

    def _arrived(self, arrival) -> None:
        w = self.window
        text = arrival_text(arrival)
        if arrival.kind in ("stored", "duplicate"):
            w.statusBar().showMessage(text, 4000)
            if arrival.path is not None:
                self.live.note(arrival.path)
        else:
            w.statusBar().showMessage(text, 8000)
            w._message(text, warning=True)
        self.arrival.emit(arrival)

    def close(self) -> None:
        self.query.close()
        self.live.close()
        self.receiving.stop(quiet=True, wait=True)
        for dialog in (self.nodes_dialog, self.folder_dialog):
            if dialog is not None:
                dialog.close()


__all__ = ["NetworkMenu"]
