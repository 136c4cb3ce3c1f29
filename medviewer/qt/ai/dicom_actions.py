"""Saving and sending results as DICOM from the window: the AI dock's "Save result as
DICOM…" and "Send result to node ▸ NODE" (the SR, the KO of the flagged slices and the heat
map shown as a Parametric Map), and the series browser's "Send series to node ▸ NODE".

Every object is made, written and sent on a worker (:mod:`medviewer.session.dicom_send`); the
outcome is said in plain words under the dock's Results box (the series sends in the status
bar and the Messages dock). The node list is read from ``dicom-nodes.json`` each time a
submenu opens, so nodes added in Network > DICOM nodes show up at once.
"""

from __future__ import annotations

import logging

from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.jobs import CancelToken, Progress
from medviewer.qt import shortcuts
from medviewer.qt.ai import jobs
from medviewer.session import dicom_send as ds

log = logging.getLogger(__name__)


def _nodes_action(window) -> QtGui.QAction | None:
    """The Network menu's "DICOM nodes…" action, when that menu is there."""
    action = getattr(window, "actions", {}).get("network.nodes")
    if action is not None:
        return action
    for top in window.menuBar().actions():
        menu = top.menu()
        if menu is None or top.text().replace("&", "") != "Network":
            continue
        for action in menu.actions():
            if action.text().replace("&", "").startswith("DICOM nodes"):
                return action
    return None


def fill_node_menu(menu: QtWidgets.QMenu, window, pick) -> None:
    """(Re)fill ``menu`` with one action per configured node (``pick(name)``), or say that
    none is configured and where to add one."""
    from medviewer.net.nodes import load_config

    menu.clear()
    menu.setToolTipsVisible(True)
    config, problems = load_config()
    for problem in problems:
        bad = menu.addAction("The node settings could not be read")
        bad.setEnabled(False)
        bad.setToolTip(problem)
    entries = ds.node_entries(config)
    for entry in entries:
        action = menu.addAction(entry.text, lambda name=entry.name: pick(name))
        action.setToolTip(entry.tip)
    if not entries:
        none = menu.addAction(f"{ds.NO_NODE}: add one in Network > DICOM nodes")
        none.setEnabled(False)
        none.setToolTip(ds.NO_NODE_TIP)
        setup = _nodes_action(window)
        if setup is not None:
            menu.addAction("Open Network > DICOM nodes…", setup.trigger)


class ResultActions(QtCore.QObject):
    """Save / send the AI dock's result of the series shown (``window.ai_panel``)."""

    saved = QtCore.Signal(object)
    """The :class:`~medviewer.session.dicom_send.Saved` of a finished save."""
    sent = QtCore.Signal(object)
    """The :class:`~medviewer.session.dicom_send.Sent` of a finished send."""
    failed = QtCore.Signal(str)

    def __init__(self, window, panel) -> None:
        super().__init__(panel)
        self.window = window
        self.panel = panel
        self.worker = None
        self._cancel: CancelToken | None = None
        self.save_action = QtGui.QAction("&Save result as DICOM…", window)
        self.save_action.setObjectName("ai.save_dicom")
        self.save_action.setShortcut(shortcuts.by_id("ai.save_dicom").key_sequence())
        self.save_action.triggered.connect(lambda: self.save())
        self.save_action.setToolTip(
            "Write the result as DICOM into a folder: the structured report (SR), the key "
            "images (KO) and the heat map shown (Parametric Map)"
        )
        self.send_menu = QtWidgets.QMenu("Send &result to node", window)
        self.send_menu.aboutToShow.connect(
            lambda: fill_node_menu(self.send_menu, window, self.send)
        )
        self._build_row()
        panel.run_finished.connect(lambda _r: self.update_enabled())
        panel.results_dropped.connect(self.update_enabled)
        self.update_enabled()

    def _build_row(self) -> None:
        box = self.panel.results_box
        row = QtWidgets.QHBoxLayout()
        self.save_button = QtWidgets.QPushButton("Save as DICOM…")
        self.save_button.setToolTip(self.save_action.toolTip())
        self.save_button.clicked.connect(lambda: self.save())
        self.send_button = QtWidgets.QToolButton()
        self.send_button.setText("Send to node")
        self.send_button.setToolTip("Send the result as DICOM to a configured node (PACS)")
        self.send_button.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.InstantPopup)
        self.send_button.setMenu(self.send_menu)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop sending (what the node took stays there)")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setVisible(False)
        row.addWidget(self.save_button)
        row.addWidget(self.send_button)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setVisible(False)
        self.status_label = QtWidgets.QLabel()
        self.status_label.setObjectName("aiDicomStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.status_label.setVisible(False)
        layout = box.layout()
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)

    # -- state --------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.worker is not None

    def available(self) -> bool:
        p = self.panel
        return p.series_result is not None and not p.running and p.session.volume is not None

    def update_enabled(self) -> None:
        on = self.available() and not self.busy
        tip = "" if self.available() else ds.NO_RESULT
        for w in (self.save_action, self.save_button, self.send_button):
            w.setEnabled(on)
        self.send_menu.setEnabled(on)
        self.send_button.setToolTip(tip or "Send the result as DICOM to a configured node (PACS)")

    def volume_changed(self) -> None:
        """A new series: the result (and what was said about it) belongs to the old one."""
        self.cancel()
        self._say("")
        self.update_enabled()

    def _say(self, text: str) -> None:
        self.status_label.setText(text)
        self.status_label.setVisible(bool(text))

    def heat_map(self) -> ds.HeatMapShown | None:
        """The heat map shown over the series, when one is."""
        p = self.panel
        expl, k = p.explanation, p.explained_slice
        shown = p.explainer.shown
        if not p.heatmap_on or expl is None or k is None or shown is None or shown[1] is None:
            return None
        return ds.HeatMapShown(k, expl.map, expl.method, expl.target, str(shown[1][4]))

    # -- jobs ---------------------------------------------------------------------------------
    def save(self, folder: str | None = None) -> bool:
        """Write the result's DICOM objects into ``folder`` (asked for when None) on a
        worker. Returns False when there is nothing to save or no folder was chosen."""
        if not self.available() or self.busy:
            self._say(ds.NO_RESULT if not self.available() else "")
            return False
        if folder is None:
            folder = QtWidgets.QFileDialog.getExistingDirectory(
                self.window, "Save result as DICOM into", self.window.settings.last_folder or ""
            )
            if not folder:
                return False
        p = self.panel
        job = ds.save_results_iter(p.session.volume, p.series_result, self.heat_map(), folder)
        self._start(job, f"Saving the result as DICOM into {folder}…", self._saved)
        return True

    def send(self, node_name: str) -> bool:
        """Make the result's DICOM objects and send them to node ``node_name`` on a worker."""
        from medviewer.errors import MedviewerError
        from medviewer.net.nodes import load_config

        if not self.available() or self.busy:
            self._say(ds.NO_RESULT if not self.available() else "")
            return False
        config, _problems = load_config()
        try:
            node = config.node(node_name)
        except MedviewerError as exc:
            self._say(str(exc))
            return False
        p = self.panel
        cancel = CancelToken()
        job = ds.send_results_iter(
            p.session.volume, p.series_result, self.heat_map(), node, config.local.ae_title,
            cancel=cancel,
        )  # fmt: skip
        self._start(job, f"Sending the result to {node.describe()}…", self._sent, cancel)
        return True

    def _start(self, job, text: str, on_done, cancel: CancelToken | None = None) -> None:
        current = jobs.Current(self)

        self._say(text)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(cancel is not None)
        current.worker = self.worker = jobs.start(
            job, current.guard(self._progress), current.guard(on_done), current.guard(self._failed)
        )
        self._cancel = cancel
        self.update_enabled()

    def _progress(self, step: Progress) -> None:
        if step.total:
            self.progress.setRange(0, step.total)
            self.progress.setValue(step.done)
        if step.message:
            self.progress.setFormat(step.message)

    def _finish(self, text: str) -> None:
        self.worker = None
        self._cancel = None
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self._say(text)
        self.update_enabled()

    def _saved(self, saved: ds.Saved) -> None:
        self._finish(saved.text())
        self.saved.emit(saved)

    def _sent(self, sent: ds.Sent) -> None:
        self._finish(sent.text())
        self.sent.emit(sent)

    def _failed(self, message: str) -> None:
        self._finish(f"Not done: {message}")
        self.failed.emit(message)

    def cancel(self) -> None:
        worker, cancel = self.worker, self._cancel
        if worker is None:
            return
        if cancel is not None:
            cancel.cancel()
        worker.quit()
        self._finish("Cancelled: what the node took before stays there")


class SeriesSender(QtCore.QObject):
    """The series browser's "Send series to node ▸ NODE" (one send at a time). While a send
    runs, the status bar shows its progress and a Cancel button, and the series menu offers
    "Cancel sending …" in place of the node list."""

    sent = QtCore.Signal(object)
    failed = QtCore.Signal(str)
    cancelled = QtCore.Signal(str)

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.worker = None
        self._cancel: CancelToken | None = None
        self._what = self._node = ""
        self._done_files = 0
        self.progress = QtWidgets.QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.setTextVisible(True)
        self.cancel_button = QtWidgets.QToolButton()
        self.cancel_button.setText("Cancel send")
        self.cancel_button.clicked.connect(self.cancel)
        for widget in (self.progress, self.cancel_button):
            widget.setVisible(False)
            window.statusBar().addPermanentWidget(widget)
        window.browser.tree.menu_extensions.append(self.extend_menu)

    def extend_menu(self, menu: QtWidgets.QMenu, key: str) -> None:
        if self.worker is not None:
            menu.addAction(f"Cancel sending {self._what} to {self._node}", self.cancel)
            return
        sub = menu.addMenu("&Send series to node")
        sub.aboutToShow.connect(
            lambda: fill_node_menu(sub, self.window, lambda name: self.send(key, name))
        )

    def send(self, key: str, node_name: str) -> bool:
        """Send the files of series ``key`` of the scan to node ``node_name``."""
        from medviewer.errors import MedviewerError
        from medviewer.net.nodes import load_config

        w = self.window
        if self.worker is not None or w.session.scan_result is None:
            return False
        try:
            series = w.session.scan_result.find_series(key)
            config, _problems = load_config()
            node = config.node(node_name)
        except MedviewerError as exc:
            self._failed(str(exc))
            return False
        cancel = CancelToken()
        current = jobs.Current(self)

        self._what, self._node, self._done_files = ds.series_words(series), node.name, 0
        w.statusBar().showMessage(f"Sending {self._what} to {node.describe()}…")
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        current.worker = self.worker = jobs.start(
            ds.send_series_iter(series, node, config.local.ae_title, cancel=cancel),
            current.guard(self._progress),
            current.guard(self._done),
            current.guard(self._failed),
        )
        self._cancel = cancel
        return True

    def _progress(self, step: Progress) -> None:
        if step.total:
            self.progress.setRange(0, step.total)
            self.progress.setValue(step.done)
            self.progress.setFormat(f"%v / %m to {self._node}")
            self._done_files = step.done
        self.window.statusBar().showMessage(f"{self._what}: {step.message}")

    def _stop(self) -> None:
        self.worker = None
        self._cancel = None
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)

    def _done(self, sent: ds.Sent) -> None:
        self._stop()
        text = sent.text()
        self.window.statusBar().showMessage(text.splitlines()[0], 10000)
        self.window._message(text, warning=not sent.complete)
        self.sent.emit(sent)

    def _failed(self, message: str) -> None:
        self._stop()
        text = f"Send series: {message}"
        self.window.statusBar().showMessage(text, 10000)
        self.window._message(text, warning=True)
        self.failed.emit(message)

    def cancel(self) -> None:
        """Stop the running send between two files; what the node took stays there."""
        if self.worker is None:
            return
        if self._cancel is not None:
            self._cancel.cancel()
        self.worker.quit()
        n, what, node = self._done_files, self._what, self._node
        self._stop()
        text = f"Sending {what} to {node} was cancelled; the {n} file(s) it took before stay there"
        self.window.statusBar().showMessage(text, 10000)
        self.window._message(text, warning=False)
        self.cancelled.emit(text)


__all__ = ["ResultActions", "SeriesSender", "fill_node_menu"]
