"""Network > Receive studies: the :class:`~medviewer.net.receiver.Receiver` started and stopped
from the GUI. Its events come from pynetdicom's association threads; they are re-emitted as a
Qt signal (a queued connection), so no widget is ever touched from those threads."""

from __future__ import annotations

import logging
import threading

from PySide6 import QtCore

from medviewer.net.nodes import NetConfig

log = logging.getLogger(__name__)


class ReceiverSwitch(QtCore.QObject):
    """``arrival(Arrival)`` on the GUI thread for each receiver event; ``state_changed(bool,
    str)`` with running and a sentence when it starts, stops or cannot start."""

    arrival = QtCore.Signal(object)
    state_changed = QtCore.Signal(bool, str)
    _from_thread = QtCore.Signal(object)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.receiver = None
        self._stopping: threading.Thread | None = None
        self._generation = 0
        self._worker = None
        self._from_thread.connect(self.arrival, QtCore.Qt.ConnectionType.QueuedConnection)

    @property
    def running(self) -> bool:
        return self.receiver is not None and self.receiver.running

    def start(self, config: NetConfig, store) -> None:
        """Listen as ``config.local`` for the config's callers, started on a worker (importing
        pynetdicom and binding take a moment); ``state_changed`` says how it went."""
        from medviewer.jobs import Progress
        from medviewer.qt.workers import start_job

        self.stop(quiet=True)
        stopping, self._stopping = self._stopping, None
        callers = config.callers()
        self._generation += 1
        generation = self._generation

        def job():
            from medviewer.net.receiver import Receiver

            yield Progress(0, 1, "starting the receiver")
            if stopping is not None:  # the port is free once the last one has closed it
                stopping.join(timeout=5)
            receiver = Receiver(config.local, store, callers, on_event=self._from_thread.emit)
            return receiver.start()

        def done(receiver) -> None:
            if generation != self._generation:  # switched off (or restarted) meanwhile
                receiver.on_event = None
                threading.Thread(target=receiver.stop, daemon=True).start()
                return
            self.receiver = receiver
            self.state_changed.emit(
                True,
                f"Receiving studies as {config.local.ae_title} on port {receiver.port} from "
                f"{', '.join(callers)} into {store.root}",
            )

        def failed(message: str) -> None:
            if generation == self._generation:
                self.state_changed.emit(False, f"Receiving is off: {message}")

        self._worker = start_job(job(), on_done=done, on_error=failed)

    def stop(self, quiet: bool = False, wait: bool = False) -> None:
        """Stop listening. pynetdicom's server takes up to half a second to stop, so that
        happens on a thread unless ``wait`` (closing the window)."""
        self._generation += 1  # a start still on its worker is dropped
        receiver, self.receiver = self.receiver, None
        if receiver is None:
            if wait and self._stopping is not None:
                self._stopping.join(timeout=5)
            return
        receiver.on_event = None
        if wait:
            receiver.stop()
        else:
            self._stopping = threading.Thread(
                target=receiver.stop, name="medviewer-receiver-stop", daemon=True
            )
            self._stopping.start()
        if not quiet:
            self.state_changed.emit(False, "Receiving is off: this station accepts no studies")
