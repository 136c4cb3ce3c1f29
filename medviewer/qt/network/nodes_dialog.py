"""Network > DICOM nodes…: this station (AE title, receive port, bind address, allowed
callers, study folder and its size cap, receive on / off) and the remote nodes (add, edit,
remove, Verify per node on a worker with its result in the row). Save writes
``dicom-nodes.json`` (:func:`medviewer.net.nodes.save_config`)."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from medviewer.net.nodes import LocalNode, NetConfig, NodeError, RemoteNode, save_config
from medviewer.qt.network.node_editor import NodeEditor
from medviewer.qt.network.widgets import ErrorLabel, result_style, with_error
from medviewer.qt.workers import start_job
from medviewer.session.network import echo_job, echo_text, read_local, retrieve_label

COLUMNS = ("Name", "AE title", "Host", "Port", "Retrieve", "", "Verify result")
VERIFY, RESULT = 5, 6


class NodesDialog(QtWidgets.QDialog):
    """Edits a copy of ``config``; ``saved(NetConfig)`` after Save wrote it."""

    saved = QtCore.Signal(object)
    verified = QtCore.Signal(str, object)
    """(node name, EchoResult) when a Verify finished."""

    def __init__(self, config: NetConfig, parent=None, echo_timeout: float = 5.0) -> None:
        super().__init__(parent)
        self.setWindowTitle("DICOM nodes")
        self.nodes: list[RemoteNode] = list(config.nodes)
        self.echo_timeout = echo_timeout
        self._workers: dict[str, object] = {}
        self._results: dict[str, tuple[str, bool | None, str]] = {}
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self._station_box(config.local))
        layout.addWidget(self._nodes_box(), 1)
        self.save_error = ErrorLabel()
        layout.addWidget(self.save_error)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Save
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Save)
        layout.addWidget(buttons)
        self.resize(860, 640)
        self._fill_table()

    # -- this station ---------------------------------------------------------------------------
    def _station_box(self, local: LocalNode) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("This station")
        form = QtWidgets.QFormLayout(box)
        self.ae_edit = QtWidgets.QLineEdit(local.ae_title)
        self.port_edit = QtWidgets.QLineEdit(str(local.port))
        self.bind_edit = QtWidgets.QLineEdit(local.bind_address)
        self.bind_edit.setPlaceholderText("every network interface of this machine")
        self.callers_edit = QtWidgets.QLineEdit(", ".join(local.allowed_callers))
        self.callers_edit.setPlaceholderText("the AE titles of the nodes below")
        self.callers_edit.setToolTip(
            "Calling AE titles allowed to send studies to this station, separated by commas.\n"
            "Empty: the AE titles of the configured nodes."
        )
        self.folder_edit = QtWidgets.QLineEdit(local.store_folder)
        self.folder_edit.setPlaceholderText("the user data folder's 'studies'")
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(self._choose_folder)
        folder_row = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(folder_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        self.cap_box = QtWidgets.QDoubleSpinBox()
        self.cap_box.setRange(0.1, 100000.0)
        self.cap_box.setDecimals(1)
        self.cap_box.setSuffix(" GB")
        self.cap_box.setValue(local.store_cap_gb)
        self.receive_check = QtWidgets.QCheckBox("Receive studies sent to this station")
        self.receive_check.setChecked(local.receive_enabled)
        self.receive_check.setToolTip(
            "Listen on the receive port for studies pushed by the allowed senders (C-STORE)"
        )
        self.local_errors: dict[str, ErrorLabel] = {}
        for key, label, widget in (
            ("ae_title", "AE title", self.ae_edit),
            ("port", "Receive port", self.port_edit),
            ("bind_address", "Listen on address", self.bind_edit),
            ("allowed_callers", "Accept studies from", self.callers_edit),
            ("store_folder", "Study folder", folder_row),
            ("store_cap_gb", "Size cap", self.cap_box),
        ):
            field, self.local_errors[key] = with_error(widget)
            form.addRow(label, field)
        form.addRow("", self.receive_check)
        return box

    def _choose_folder(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(
            self, "Study folder", self.folder_edit.text()
        )
        if folder:
            self.folder_edit.setText(folder)

    def local_fields(self) -> dict:
        return {
            "ae_title": self.ae_edit.text(),
            "port": self.port_edit.text(),
            "bind_address": self.bind_edit.text(),
            "allowed_callers": self.callers_edit.text(),
            "store_folder": self.folder_edit.text(),
            "store_cap_gb": self.cap_box.value(),
            "receive_enabled": self.receive_check.isChecked(),
        }

    # -- remote nodes -----------------------------------------------------------------------------
    def _nodes_box(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Remote nodes (PACS, modalities, other stations)")
        col = QtWidgets.QVBoxLayout(box)
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemDoubleClicked.connect(lambda *_: self.edit_node())
        col.addWidget(self.table, 1)
        row = QtWidgets.QHBoxLayout()
        self.add_button = QtWidgets.QPushButton("Add…")
        self.edit_button = QtWidgets.QPushButton("Edit…")
        self.remove_button = QtWidgets.QPushButton("Remove")
        self.add_button.clicked.connect(lambda: self.add_node())
        self.edit_button.clicked.connect(lambda: self.edit_node())
        self.remove_button.clicked.connect(self.remove_node)
        for b in (self.add_button, self.edit_button, self.remove_button):
            row.addWidget(b)
        row.addStretch(1)
        col.addLayout(row)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        return box

    def _fill_table(self) -> None:
        self.table.setRowCount(len(self.nodes))
        for r, node in enumerate(self.nodes):
            cells = (node.name, node.ae_title, node.host, str(node.port))
            for c, text in enumerate((*cells, retrieve_label(node.retrieve))):
                self.table.setItem(r, c, QtWidgets.QTableWidgetItem(text))
            button = QtWidgets.QPushButton("Verify")
            button.setToolTip(f"Check that {node.name} answers this station (C-ECHO)")
            button.clicked.connect(lambda _=False, name=node.name: self.verify(name))
            self.table.setCellWidget(r, VERIFY, button)
            label = QtWidgets.QLabel()
            label.setContentsMargins(6, 0, 6, 0)
            self.table.setCellWidget(r, RESULT, label)
            self._show_result(node.name)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        self._update_buttons()

    def _row_of(self, name: str) -> int:
        return next((i for i, n in enumerate(self.nodes) if n.name == name), -1)

    def _selected(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def _update_buttons(self) -> None:
        chosen = self._selected() >= 0
        self.edit_button.setEnabled(chosen)
        self.remove_button.setEnabled(chosen)

    def add_node(self, node: RemoteNode | None = None) -> NodeEditor:
        """Open the editor (``node``: the fields to start from); the node is added on OK."""
        editor = NodeEditor(node, self.nodes, self)
        editor.setWindowTitle("Add DICOM node")
        editor.accepted.connect(lambda: self._added(editor.node()))
        editor.open()
        return editor

    def _added(self, node: RemoteNode) -> None:
        self.nodes.append(node)
        self._fill_table()
        self.table.selectRow(len(self.nodes) - 1)

    def edit_node(self) -> NodeEditor | None:
        r = self._selected()
        if r < 0:
            return None
        old = self.nodes[r]
        editor = NodeEditor(old, [n for n in self.nodes if n is not old], self)
        editor.accepted.connect(lambda: self._edited(old, editor.node()))
        editor.open()
        return editor

    def _edited(self, old: RemoteNode, node: RemoteNode) -> None:
        i = self.nodes.index(old)
        self.nodes[i] = node
        self._results.pop(old.name, None)
        self._fill_table()
        self.table.selectRow(i)

    def remove_node(self) -> None:
        r = self._selected()
        if r >= 0:
            gone = self.nodes.pop(r)
            self._results.pop(gone.name, None)
            self._fill_table()

    # -- verify ---------------------------------------------------------------------------------
    def _calling_ae(self) -> str:
        local, _errors = read_local(self.local_fields())
        return local.ae_title if local is not None else self.ae_edit.text().strip() or "MEDVIEWER"

    def verify(self, name: str) -> None:
        """C-ECHO node ``name`` on a worker; the row shows the result."""
        r = self._row_of(name)
        if r < 0 or name in self._workers:
            return
        node = self.nodes[r]
        self._results[name] = ("verifying…", None, f"C-ECHO to {node.describe()}")
        self._show_result(name)

        def done(result) -> None:
            self._workers.pop(name, None)
            self._results[name] = echo_text(result)
            self._show_result(name)
            self.verified.emit(name, result)

        def failed(message: str) -> None:
            self._workers.pop(name, None)
            self._results[name] = ("failed", False, message)
            self._show_result(name)

        self._workers[name] = start_job(
            echo_job(node, self._calling_ae(), self.echo_timeout), on_done=done, on_error=failed
        )

    def _show_result(self, name: str) -> None:
        r = self._row_of(name)
        if r < 0:
            return
        label = self.table.cellWidget(r, RESULT)
        text, ok, tip = self._results.get(name, ("", None, ""))
        label.setText(text)
        label.setToolTip(tip)
        result_style(label, ok)

    def result_text(self, name: str) -> str:
        """The verify result shown in node ``name``'s row."""
        return self._results.get(name, ("", None, ""))[0]

    # -- save -------------------------------------------------------------------------------------
    def config(self) -> NetConfig | None:
        """The configuration in the form, or None (the problems are shown by the fields)."""
        local, errors = read_local(self.local_fields())
        for key, label in self.local_errors.items():
            label.set_error(errors.get(key))
        return None if local is None else NetConfig(local, list(self.nodes))

    def save(self) -> None:
        config = self.config()
        if config is None:
            self.save_error.set_error("Not saved: correct the fields marked in red.")
            return
        if config.local.receive_enabled and not config.callers():
            self.local_errors["allowed_callers"].set_error(
                "receiving is on but no sender is allowed: add a node below or type the "
                "AE titles allowed to send"
            )
            self.save_error.set_error("Not saved: correct the fields marked in red.")
            return
        try:
            save_config(config)
        except NodeError as exc:
            self.save_error.set_error(str(exc))
            return
        self.save_error.set_error(None)
        self.saved.emit(config)
        self.accept()

    def done(self, result: int) -> None:  # noqa: D401 (Qt name)
        for worker in self._workers.values():
            worker.quit()
        self._workers.clear()
        super().done(result)
