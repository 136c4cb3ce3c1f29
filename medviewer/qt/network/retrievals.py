"""Retrieves from the Query / Retrieve dock: each one is :func:`medviewer.net.retrieve.
retrieve_iter` on a worker (:class:`Retrieval`), shown as a row of :class:`RetrieveList` with
its progress bar (instances), Cancel (the node gets a C-CANCEL; what arrived is kept) and one
child line per instance that failed, with its reason."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from medviewer.jobs import CancelToken
from medviewer.qt.network.widgets import warning_icon
from medviewer.qt.workers import start_job
from medviewer.session.network import RetrieveState


class Retrieval(QtCore.QObject):
    """One retrieve. Signals (GUI thread): ``arrived(RetrieveEvent)`` per instance,
    ``changed()`` when its state or counts change, ``ended()`` once at the end."""

    arrived = QtCore.Signal(object)
    changed = QtCore.Signal()
    ended = QtCore.Signal()

    def __init__(self, state: RetrieveState, job_factory, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.result = None
        self.cancel_token = CancelToken()
        self.worker = None
        self._job_factory = job_factory
        self._ended = False

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self) -> None:
        self.worker = start_job(
            self._job_factory(self.cancel_token),
            on_progress=self._progress,
            on_done=self._done,
            on_error=self._failed,
        )
        self.worker.finished.connect(self._worker_finished)

    def _progress(self, step) -> None:
        self.state.add(step)
        if step.detail is not None:
            self.arrived.emit(step.detail)
        self.changed.emit()

    def _done(self, result) -> None:
        self.result = result
        self.state.finished(result)
        self._end()

    def _failed(self, message: str) -> None:
        self.state.failed(message)
        self._end()

    def _worker_finished(self) -> None:
        if not self._ended:  # Cancelled ends the job without done / error
            self.state.state = "cancelled" if self.cancel_token.cancelled else "failed"
            self._end()

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        self.worker = None
        self.changed.emit()
        self.ended.emit()

    def cancel(self) -> None:
        if self.running and not self.cancel_token.cancelled:
            self.cancel_token.cancel()
            self.state.state = "cancelling"
            self.changed.emit()

    def stop_now(self) -> None:
        """Closing the window: cancel, and stop the worker at its next step."""
        self.cancel_token.cancel()
        if self.worker is not None:
            self.worker.quit()


class RetrieveList(QtWidgets.QTreeWidget):
    """The retrieves, newest first: title, progress bar, Cancel; failures as children."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setColumnCount(3)
        self.setHeaderLabels(["Retrieves", "Progress", ""])
        self.setRootIsDecorated(True)
        self.setUniformRowHeights(True)
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(2, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.resizeSection(1, 150)
        self._rows: dict[int, tuple[QtWidgets.QTreeWidgetItem, Retrieval]] = {}

    def add(self, retrieval: Retrieval) -> QtWidgets.QTreeWidgetItem:
        item = QtWidgets.QTreeWidgetItem([retrieval.state.title, "", ""])
        item.setToolTip(0, retrieval.state.title)
        self.insertTopLevelItem(0, item)
        bar = QtWidgets.QProgressBar()
        bar.setTextVisible(True)
        bar.setMaximumHeight(18)
        self.setItemWidget(item, 1, bar)
        cancel = QtWidgets.QPushButton("Cancel")
        cancel.setToolTip("Stop this retrieve; the instances that arrived are kept")
        cancel.clicked.connect(retrieval.cancel)
        self.setItemWidget(item, 2, cancel)
        self._rows[id(retrieval)] = (item, retrieval)
        retrieval.changed.connect(lambda r=retrieval: self.update_row(r))
        self.update_row(retrieval)
        self.setCurrentItem(item)
        return item

    def update_row(self, retrieval: Retrieval) -> None:
        item, _ = self._rows[id(retrieval)]
        s = retrieval.state
        bar: QtWidgets.QProgressBar = self.itemWidget(item, 1)
        if s.expected:
            bar.setRange(0, s.expected)
            bar.setValue(min(s.done, s.expected))
        elif retrieval.running:
            bar.setRange(0, 0)
        else:
            bar.setRange(0, 1)
            bar.setValue(1)
        text = s.status_text()
        bar.setFormat(f"%v / %m  {s.state}" if s.expected else s.state)
        bar.setToolTip(text)
        item.setToolTip(0, f"{s.title}\n{text}")
        cancel = self.itemWidget(item, 2)
        cancel.setEnabled(retrieval.running and s.state != "cancelling")
        while item.childCount() < len(s.failures) + (1 if s.state == "failed" else 0):
            i = item.childCount()
            line = s.failures[i] if i < len(s.failures) else s.message
            child = QtWidgets.QTreeWidgetItem([line, "", ""])
            child.setIcon(0, warning_icon(self))
            child.setToolTip(0, line)
            item.addChild(child)
            item.setExpanded(True)
        if not retrieval.running and s.message:
            item.setText(0, f"{s.title} — {s.status_text()}")

    def failure_lines(self, retrieval: Retrieval) -> list[str]:
        item, _ = self._rows[id(retrieval)]
        return [item.child(i).text(0) for i in range(item.childCount())]

    def retrievals(self) -> list[Retrieval]:
        return [r for _item, r in self._rows.values()]
