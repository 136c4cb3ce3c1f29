"""Add or edit one remote node (name, AE title, host, port, retrieve method); each field's
problem is shown under it, in the words of :mod:`medviewer.net.nodes`."""

from __future__ import annotations

from PySide6 import QtWidgets

from medviewer.net.nodes import RETRIEVE_METHODS, RemoteNode
from medviewer.qt.network.widgets import with_error
from medviewer.session.network import read_node, retrieve_label


class NodeEditor(QtWidgets.QDialog):
    """``node()`` is the checked node after Accept."""

    def __init__(self, node: RemoteNode | None, others: list[RemoteNode], parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit DICOM node" if node else "Add DICOM node")
        self._others = list(others)
        self._node: RemoteNode | None = None
        self.name_edit = QtWidgets.QLineEdit(node.name if node else "")
        self.name_edit.setPlaceholderText("e.g. PACS")
        self.ae_edit = QtWidgets.QLineEdit(node.ae_title if node else "")
        self.ae_edit.setPlaceholderText("the node's AE title, e.g. PACS_AE")
        self.host_edit = QtWidgets.QLineEdit(node.host if node else "")
        self.host_edit.setPlaceholderText("pacs.hospital.local or 10.1.2.3")
        self.port_edit = QtWidgets.QLineEdit(str(node.port) if node else "104")
        self.retrieve_box = QtWidgets.QComboBox()
        for method in RETRIEVE_METHODS:
            self.retrieve_box.addItem(retrieve_label(method), method)
        self.retrieve_box.setToolTip(
            "C-GET: the images come back on the same connection (no set-up on the PACS).\n"
            "C-MOVE: the PACS sends them to this station's receiver; it must know this "
            "station's AE title, address and receive port."
        )
        if node:
            self.retrieve_box.setCurrentIndex(self.retrieve_box.findData(node.retrieve))
        form = QtWidgets.QFormLayout(self)
        self.errors = {}
        for key, label, widget in (
            ("name", "Name", self.name_edit),
            ("ae_title", "AE title", self.ae_edit),
            ("host", "Host", self.host_edit),
            ("port", "Port", self.port_edit),
        ):
            box, self.errors[key] = with_error(widget)
            form.addRow(label, box)
        form.addRow("Retrieve with", self.retrieve_box)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.setMinimumWidth(440)

    def fields(self) -> dict:
        return {
            "name": self.name_edit.text(),
            "ae_title": self.ae_edit.text(),
            "host": self.host_edit.text(),
            "port": self.port_edit.text(),
            "retrieve": self.retrieve_box.currentData(),
        }

    def accept(self) -> None:
        node, errors = read_node(self.fields(), self._others)
        for key, label in self.errors.items():
            label.set_error(errors.get(key))
        if node is None:
            self.adjustSize()  # grow to the messages: none clipped or drawn over the next field
            return
        self._node = node
        super().accept()

    def node(self) -> RemoteNode | None:
        return self._node
