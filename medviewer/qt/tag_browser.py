"""Ctrl+T: every DICOM element of the current image, searchable, copyable."""

from __future__ import annotations

import logging
import os
import weakref

import shiboken6
from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.errors import MedviewerError
from medviewer.qt.workers import start_job
from medviewer.session.tags import TagNode, filter_tags, node_to_text, read_tags, read_tags_iter

log = logging.getLogger(__name__)

NODE_ROLE = QtCore.Qt.ItemDataRole.UserRole
SYNC_READ_LIMIT = 16 * 1024
"""Files up to this size are read on the GUI thread (well under 50 ms even when the whole
file is nested sequences, ~2.6 ms per KB); bigger ones on a worker thread."""
FILTER_DELAY_MS = 120
AUTO_EXPAND_LIMIT = 2000
"""A filtered tree with more nodes than this is not expanded automatically."""
COLUMNS = ("Tag", "Keyword", "VR", "Value")


class _LazyChildren(QtWidgets.QTreeWidgetItem):
    """A row whose children are created when it is first expanded (huge sequences)."""

    def __init__(self, node: TagNode) -> None:
        super().__init__([node.tag, node.keyword, node.vr, node.value])
        self.node = node
        self.populated = not node.children
        self.setData(0, NODE_ROLE, node)
        self.setToolTip(3, node.value)
        if node.children:
            self.setChildIndicatorPolicy(
                QtWidgets.QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator
            )

    def populate(self) -> None:
        if self.populated:
            return
        self.populated = True
        self.addChildren([_LazyChildren(child) for child in self.node.children])


class TagBrowser(QtWidgets.QDialog):
    """Non-modal dialog listing the elements of one file: Tag, Keyword, VR, Value.

    The search field filters live by keyword, tag number (``0008,0060``, ``(0008,0060)``,
    ``00080060``) or value; sequences that hold a match open. "Copy" and Ctrl+C (in the tree)
    copy the selected rows, or every shown row when none is selected, as tab-separated text.
    """

    loaded = QtCore.Signal(str)
    """The file's tags are shown (its path)."""
    failed = QtCore.Signal(str)
    """The file could not be read (a one-line reason)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModal(False)
        self.setWindowTitle("DICOM tags")
        self.resize(820, 640)
        self._path: str | None = None
        self._nodes: list[TagNode] = []
        self._shown: list[TagNode] = []
        self._originals: set[int] = set()
        self._request = 0
        self._worker = None

        self.search = QtWidgets.QLineEdit(self)
        self.search.setPlaceholderText("Search keyword, tag (0008,0060) or value")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search tags")
        self._filter_timer = QtCore.QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(FILTER_DELAY_MS)
        self._filter_timer.timeout.connect(self._apply_filter)
        self.search.textChanged.connect(lambda _text: self._filter_timer.start())
        self.search.returnPressed.connect(self._apply_filter)

        self.tree = QtWidgets.QTreeWidget(self)
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setAllColumnsShowFocus(True)
        header = self.tree.header()
        header.resizeSection(0, 110)
        header.resizeSection(1, 240)
        header.resizeSection(2, 40)
        header.setStretchLastSection(True)
        self.tree.itemExpanded.connect(self._expanding)
        self.tree.installEventFilter(self)

        self.status = QtWidgets.QLabel(self)
        self.copy_button = QtWidgets.QPushButton("Copy", self)
        self.copy_button.setToolTip("Copy the selected rows, or all shown rows (Ctrl+C)")
        self.copy_button.clicked.connect(self.copy)
        close_button = QtWidgets.QPushButton("Close", self)
        close_button.clicked.connect(self.close)
        close_button.setAutoDefault(False)
        self.copy_button.setAutoDefault(False)

        bottom = QtWidgets.QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.copy_button)
        bottom.addWidget(close_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        layout.addLayout(bottom)

    # -- loading ----------------------------------------------------------------------------
    @property
    def path(self) -> str | None:
        """The file whose tags are shown (or being read)."""
        return self._path

    def show_file(self, path: str | os.PathLike) -> None:
        """Show the tags of ``path``: small files at once, big ones from a worker thread."""
        path = os.fspath(path)
        self._request += 1
        request = self._request
        self._cancel_worker()
        self._path = path
        self.setWindowTitle(f"DICOM tags — {path}")
        self._set_nodes([])
        try:
            small = os.path.getsize(path) <= SYNC_READ_LIMIT
        except OSError:
            small = True  # read_tags reports the problem
        if small:
            try:
                nodes = read_tags(path)
            except MedviewerError as exc:
                self._failed(request, str(exc))
                return
            self._arrived(request, nodes)
            return
        self.status.setText("Reading…")
        ref = weakref.ref(self)

        def call(method, *args):
            me = ref()
            if me is not None and shiboken6.isValid(me):
                getattr(me, method)(request, *args)

        self._worker = start_job(
            read_tags_iter(path),
            on_done=lambda nodes: call("_arrived", nodes),
            on_error=lambda message: call("_failed", message),
        )

    def _cancel_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            try:
                worker.quit()
            except RuntimeError:
                pass

    def _arrived(self, request: int, nodes: list[TagNode]) -> None:
        if request != self._request:
            return
        self._worker = None
        self._set_nodes(nodes)
        self.loaded.emit(self._path or "")

    def _failed(self, request: int, message: str) -> None:
        if request != self._request:
            return
        self._worker = None
        self._set_nodes([])
        self.status.setText(message)
        self.failed.emit(message)

    def _set_nodes(self, nodes: list[TagNode]) -> None:
        self._nodes = nodes
        self._originals = set()
        stack = list(nodes)
        while stack:
            node = stack.pop()
            self._originals.add(id(node))
            stack.extend(node.children)
        self._apply_filter()

    # -- filtering --------------------------------------------------------------------------
    def set_query(self, text: str) -> None:
        """Filter now (typing filters after a short pause)."""
        self.search.blockSignals(True)
        self.search.setText(text)
        self.search.blockSignals(False)
        self._apply_filter()

    def query(self) -> str:
        return self.search.text()

    def _apply_filter(self) -> None:
        self._filter_timer.stop()
        query = self.search.text()
        self._shown = filter_tags(self._nodes, query)
        self.tree.setUpdatesEnabled(False)
        try:
            self.tree.clear()
            items = [_LazyChildren(node) for node in self._shown]
            self.tree.addTopLevelItems(items)
            if query.strip() and sum(n.count() for n in self._shown) <= AUTO_EXPAND_LIMIT:
                for item in items:
                    self._expand_to_matches(item)
        finally:
            self.tree.setUpdatesEnabled(True)
        total = len(self._nodes)
        if query.strip():
            self.status.setText(f"{len(self._shown)} of {total} top-level elements match")
        elif self._nodes:
            self.status.setText(f"{total} elements")

    def _expand_to_matches(self, item: _LazyChildren) -> None:
        """Open the rows that were kept only because something inside them matched."""
        if id(item.node) in self._originals:
            return  # matched itself: its contents stay folded
        item.populate()
        item.setExpanded(True)
        for i in range(item.childCount()):
            self._expand_to_matches(item.child(i))

    def _expanding(self, item: QtWidgets.QTreeWidgetItem) -> None:
        if isinstance(item, _LazyChildren):
            item.populate()

    def visible_rows(self) -> int:
        """Rows a reader can see: top-level rows plus the children of expanded rows."""

        def count(item: QtWidgets.QTreeWidgetItem) -> int:
            if item.isHidden():
                return 0
            n = 1
            if item.isExpanded():
                n += sum(count(item.child(i)) for i in range(item.childCount()))
            return n

        return sum(count(self.tree.topLevelItem(i)) for i in range(self.tree.topLevelItemCount()))

    def shown_nodes(self) -> list[TagNode]:
        """The top-level nodes the current filter keeps."""
        return list(self._shown)

    # -- copying ----------------------------------------------------------------------------
    def selected_text(self) -> str:
        """The selected rows (with everything inside them), else every shown row, as text."""
        selected = self.tree.selectedItems()
        chosen = {id(item.data(0, NODE_ROLE)) for item in selected}
        lines = []
        for item in selected:
            parent = item.parent()
            depth = 0
            covered = False
            while parent is not None:
                covered = covered or id(parent.data(0, NODE_ROLE)) in chosen
                depth += 1
                parent = parent.parent()
            node = item.data(0, NODE_ROLE)
            if not covered and isinstance(node, TagNode):
                lines.append((self._row_order(item), node_to_text(node, depth)))
        if lines:
            return "\n".join(text for _, text in sorted(lines))
        return "\n".join(node_to_text(node) for node in self._shown)

    def _row_order(self, item: QtWidgets.QTreeWidgetItem) -> tuple[int, ...]:
        path = []
        while item is not None:
            parent = item.parent()
            if parent is None:
                path.append(self.tree.indexOfTopLevelItem(item))
            else:
                path.append(parent.indexOfChild(item))
            item = parent
        return tuple(reversed(path))

    def copy(self) -> str:
        """Put :meth:`selected_text` on the clipboard and return it."""
        text = self.selected_text()
        if text:
            QtWidgets.QApplication.clipboard().setText(text)
            n = text.count("\n") + 1
            self.status.setText(f"Copied {n} line{'s' if n != 1 else ''}")
        return text

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if (
            watched is self.tree
            and event.type() == QtCore.QEvent.Type.KeyPress
            and isinstance(event, QtGui.QKeyEvent)
            and event.matches(QtGui.QKeySequence.StandardKey.Copy)
        ):
            self.copy()
            return True
        return super().eventFilter(watched, event)


__all__ = ["TagBrowser"]
