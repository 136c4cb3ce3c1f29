"""The receiver (C-STORE SCP): studies pushed to this station land in the study folder.

Off until switched on. It accepts associations only from the allowed calling AE titles (others
are rejected: "calling AE title not recognized"), answers C-ECHO, and stores every instance
through :class:`~medviewer.net.storage.StudyStore` (names from UIDs, atomic, duplicates kept
once). What it answers for an instance it cannot keep:

- not a readable dataset, or UIDs that are not UIDs (``../``): 0xC000 "cannot understand";
- size cap reached or disk full: 0xA700 "out of resources".

Every arrival, refusal and rejected association is an :class:`Arrival` passed to ``on_event``
(from the association's thread) and kept in :attr:`Receiver.events`; the receiver keeps
running whatever a sender does.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from medviewer.net.association import NetError, make_ae, no_delay
from medviewer.net.nodes import LocalNode
from medviewer.net.storage import StoreError, StoreFull, StudyStore

log = logging.getLogger(__name__)

OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000
SUCCESS = 0x0000


@dataclass(frozen=True)
class Arrival:
    """One thing that happened at the receiver.

    ``kind``: "stored", "duplicate", "refused" (an instance not kept, ``message`` says why) or
    "rejected" (an association from a caller that is not allowed)."""

    kind: str
    calling_ae: str
    message: str
    path: Path | None = None
    study_uid: str = ""
    series_uid: str = ""
    sop_uid: str = ""

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "calling_ae": self.calling_ae,
            "message": self.message,
            "path": None if self.path is None else str(self.path),
            "study_uid": self.study_uid,
            "series_uid": self.series_uid,
            "sop_uid": self.sop_uid,
        }


def storage_contexts():
    """Every storage SOP class, each with every transfer syntax pynetdicom knows, so senders
    send compressed instances as they are (no transcoding)."""
    from pynetdicom import ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, build_context

    return [
        build_context(c.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        for c in AllStoragePresentationContexts
    ]


class Receiver:
    """A C-STORE SCP on ``local``'s port, storing into ``store``. Use :meth:`start` /
    :meth:`stop`, or as a context manager."""

    def __init__(
        self,
        local: LocalNode,
        store: StudyStore,
        callers: Sequence[str],
        on_event: Callable[[Arrival], None] | None = None,
        keep_events: int = 10000,
    ) -> None:
        self.local = local
        self.store = store
        self.callers = tuple(callers)
        self.on_event = on_event
        self.events: deque[Arrival] = deque(maxlen=keep_events)
        self._server = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        """The port it listens on (the real one when the settings say 0: any free port)."""
        if self._server is None:
            return self.local.port
        return int(self._server.server_address[1])

    def start(self) -> Receiver:
        from pynetdicom import evt
        from pynetdicom.sop_class import Verification

        if self._server is not None:
            return self
        if not self.callers:
            raise NetError(
                "the receiver accepts studies only from known senders, and none is set: add "
                "the sending nodes (or their AE titles to the allowed callers) first",
                "failed",
            )
        ae = make_ae(self.local.ae_title)
        ae.supported_contexts = storage_contexts()
        ae.add_supported_context(Verification)
        ae.require_calling_aet = list(self.callers)
        ae.require_called_aet = True  # addressed to this station's AE title, as storescp can
        ae.maximum_associations = 16
        handlers = [
            (evt.EVT_CONN_OPEN, no_delay),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_REJECTED, self._on_rejected),
        ]
        try:
            self._server = ae.start_server(
                (self.local.bind_address, self.local.port), block=False, evt_handlers=handlers
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise NetError(
                    f"the receive port {self.local.port} is in use by another program: choose "
                    "another port in Network > DICOM nodes",
                    "failed",
                ) from None
            raise NetError(
                f"the receiver could not listen on port {self.local.port} ({exc.strerror or exc})",
                "failed",
            ) from None
        log.info(
            "receiving as %s on port %d into %s", self.local.ae_title, self.port, self.store.root
        )
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _note(self, arrival: Arrival) -> None:
        self.events.append(arrival)
        if self.on_event is not None:
            try:
                self.on_event(arrival)
            except Exception:  # a listener's bug must not fail the sender's C-STORE
                log.exception("receiver event listener failed")

    def _on_rejected(self, event) -> None:
        caller = _calling(event)
        where = f"AE title {caller!r} ({event.assoc.requestor.address})"
        if caller in self.callers:  # an allowed sender that called another AE title
            text = (
                f"refused an association from {where}: it called an AE title other than this "
                f"station's {self.local.ae_title!r}; set {self.local.ae_title} as the "
                "destination's AE title on the sender"
            )
        else:
            text = (
                f"refused an association from {where}: it is not an allowed sender; add it in "
                "Network > DICOM nodes (or medviewer dicom nodes local --allow) to accept its "
                "studies"
            )
        self._note(Arrival("rejected", caller, text))

    def _on_store(self, event) -> int:
        caller = _calling(event)
        try:
            data = event.encoded_dataset(include_meta=True)
        except Exception as exc:
            self._note(Arrival("refused", caller, f"an instance could not be read ({exc})"))
            return CANNOT_UNDERSTAND
        try:
            stored = self.store.store(data)
        except StoreFull as exc:
            self._note(Arrival("refused", caller, str(exc)))
            return OUT_OF_RESOURCES
        except StoreError as exc:
            self._note(Arrival("refused", caller, str(exc)))
            return CANNOT_UNDERSTAND
        except Exception as exc:  # never let a sender take the receiver down
            log.exception("storing an instance from %s failed", caller)
            self._note(Arrival("refused", caller, f"storing failed ({exc})"))
            return OUT_OF_RESOURCES
        kind = "duplicate" if stored.duplicate else "stored"
        message = (
            f"instance {stored.sop_uid} was already here; the first copy was kept"
            if stored.duplicate
            else f"stored {stored.path.name} from {caller}"
        )
        self._note(
            Arrival(
                kind,
                caller,
                message,
                stored.path,
                stored.study_uid,
                stored.series_uid,
                stored.sop_uid,
            )
        )
        return SUCCESS


def _calling(event) -> str:
    try:
        return str(event.assoc.requestor.ae_title).strip()
    except Exception:
        return "?"
