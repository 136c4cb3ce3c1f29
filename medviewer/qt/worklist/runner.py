"""A triage running from the worklist dock: :func:`medviewer.triage.job.triage_iter` on a
worker (:func:`medviewer.qt.workers.start_job`), its events delivered on the GUI thread, pause /
resume between series and cancel after the current series (its row is stored first).

A results file that holds another model's results is not overwritten: the job ends with a
:class:`Mismatch` and the dock asks before starting again with ``accept_other_model``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from PySide6 import QtCore

from medviewer.jobs import CancelToken
from medviewer.qt.workers import start_job


@dataclass(frozen=True)
class TriageRequest:
    """What to triage: folders or files (DICOMDIRs too), the results file, TriageOptions."""

    paths: tuple[str, ...]
    results_path: str
    options: object = None

    def accepting_other_model(self) -> TriageRequest:
        return replace(self, options=replace(self.options, accept_other_model=True))


@dataclass(frozen=True)
class Mismatch:
    """The results file holds another model's results (the store's message)."""

    message: str


def triage_job(request: TriageRequest, registry, cancel: CancelToken, pause: threading.Event):
    """The worker's job: the triage, with a model mismatch returned instead of raised."""
    from medviewer.triage.job import triage_iter
    from medviewer.triage.store import ResultsModelMismatch

    try:
        return (
            yield from triage_iter(
                list(request.paths),
                request.results_path,
                request.options,
                registry=registry,
                cancel=cancel,
                pause=pause,
            )
        )
    except ResultsModelMismatch as exc:
        return Mismatch(str(exc))


class TriageRunner(QtCore.QObject):
    """One triage at a time. Signals (GUI thread): ``event(TriageEvent)`` for each step,
    ``finished(TriageSummary | None)`` at the end (None: cancelled or failed),
    ``failed(str)``, ``mismatch(str, TriageRequest)``, ``state_changed()``."""

    event = QtCore.Signal(object)
    finished = QtCore.Signal(object)
    failed = QtCore.Signal(str)
    mismatch = QtCore.Signal(str, object)
    state_changed = QtCore.Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.worker = None
        self.request: TriageRequest | None = None
        self.last_event = None
        self.stored = 0
        self._cancel: CancelToken | None = None
        self._pause = threading.Event()
        self._ended = False

    @property
    def running(self) -> bool:
        return self.worker is not None

    @property
    def paused(self) -> bool:
        return self.running and self._pause.is_set()

    @property
    def cancelling(self) -> bool:
        return self._cancel is not None and self._cancel.cancelled

    def start(self, request: TriageRequest, registry=None) -> bool:
        """Start ``request`` on a worker; False when a triage is already running."""
        if self.worker is not None:
            return False
        self.request, self.last_event, self.stored = request, None, 0
        self._cancel = cancel = CancelToken()
        self._pause = pause = threading.Event()
        self._ended = False
        current: dict = {}

        def guard(callback):
            def call(value):
                if self.worker is not None and self.worker is current.get("worker"):
                    callback(value)

            return call

        worker = start_job(
            triage_job(request, registry, cancel, pause),
            on_progress=guard(self._progress),
            on_done=guard(self._done),
            on_error=guard(self._failed),
        )
        current["worker"] = self.worker = worker
        worker.finished.connect(lambda w=worker: self._worker_finished(w))
        self.state_changed.emit()
        return True

    def _progress(self, step) -> None:
        event = step.detail
        if event is None or not hasattr(event, "kind"):
            return
        self.last_event = event
        if event.kind == "result":
            self.stored += 1
        self.event.emit(event)

    def _end(self) -> None:
        self.worker = None
        self._ended = True
        self._pause.clear()
        self.state_changed.emit()

    def _done(self, result) -> None:
        request = self.request
        self._end()
        if isinstance(result, Mismatch):
            self.mismatch.emit(result.message, request)
            self.finished.emit(None)
        else:
            self.finished.emit(result)

    def _failed(self, message: str) -> None:
        self._end()
        self.failed.emit(message)
        self.finished.emit(None)

    def _worker_finished(self, worker) -> None:
        # a cancelled job ends without done / error (Cancelled is not an error)
        if self.worker is worker and not self._ended:
            self._end()
            self.finished.emit(None)

    def set_paused(self, on: bool) -> None:
        """Pause between two series (the series in flight is finished and stored) / go on."""
        if not self.running:
            return
        if on:
            self._pause.set()
        else:
            self._pause.clear()
        self.state_changed.emit()

    def toggle_pause(self) -> None:
        self.set_paused(not self.paused)

    def cancel(self) -> None:
        """Stop after the current series' row is stored; while paused, at once."""
        if self._cancel is not None and self.running:
            self._cancel.cancel()
            self.state_changed.emit()

    def stop_now(self) -> None:
        """Closing the window: cancel and stop the worker at its next step."""
        worker = self.worker
        if self._cancel is not None:
            self._cancel.cancel()
        self._pause.clear()
        if worker is not None:
            worker.quit()
        self.worker = None


__all__ = ["Mismatch", "TriageRequest", "TriageRunner", "triage_job"]
