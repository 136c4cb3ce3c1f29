"""Retrieve a study or one series from a node into the study folder (C-GET, else C-MOVE).

:func:`retrieve_iter` is a job. It yields a :class:`~medviewer.jobs.Progress` for every
instance that arrives (``detail``: a :class:`RetrieveEvent` with the stored file, so a viewer
can open the series while the rest is still coming) and returns a :class:`RetrieveResult`:
instances stored, duplicates, failures one by one (the node's failed SOP Instance UIDs and our
own refusals, e.g. disk full), and the method used.

C-GET brings the files back on the same association. A node that does not offer C-GET (or a
node set to "move") gets a C-MOVE to this station's receiver, which must then be known to the
node under this station's AE title, host and receive port; a receiver that is not running is
started for the retrieve and stopped after. Cancel sends the node a C-CANCEL; what arrived is
kept.
"""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass, field
from pathlib import Path

from medviewer.errors import Cancelled
from medviewer.jobs import CancelToken, Job, Progress
from medviewer.net import association
from medviewer.net.association import TIMEOUT_S, NetError, associate, status_code, status_words
from medviewer.net.nodes import LocalNode, NodeError, RemoteNode
from medviewer.net.storage import StoreError, StoreFull, StudyStore, check_uid

log = logging.getLogger(__name__)

GET = "1.2.840.10008.5.1.4.1.2.2.3"  # Study Root Query/Retrieve Information Model - GET
MOVE = "1.2.840.10008.5.1.4.1.2.2.2"  # Study Root Query/Retrieve Information Model - MOVE

# Storage SOP classes offered for C-GET in every common encoding, one presentation context per
# transfer syntax (a node picks one syntax per context, and one that keeps a study as JPEG 2000
# and cannot transcode it needs a context of exactly that syntax): what a reading station meets
# every day. Every other storage class is offered uncompressed.
_COMMON = (
    "1.2.840.10008.5.1.4.1.1.2",  # CT
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT
    "1.2.840.10008.5.1.4.1.1.4",  # MR
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR
    "1.2.840.10008.5.1.4.1.1.1",  # CR
    "1.2.840.10008.5.1.4.1.1.1.1",  # DX for presentation
    "1.2.840.10008.5.1.4.1.1.1.2",  # MG for presentation
    "1.2.840.10008.5.1.4.1.1.6.1",  # US
    "1.2.840.10008.5.1.4.1.1.3.1",  # US multi-frame
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
    "1.2.840.10008.5.1.4.1.1.128",  # PET
    "1.2.840.10008.5.1.4.1.1.20",  # NM
    "1.2.840.10008.5.1.4.1.1.12.1",  # XA
)

_RESULTS = (
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR: medviewer's classifier report
    "1.2.840.10008.5.1.4.1.1.88.59",  # Key Object Selection: its key images
    "1.2.840.10008.5.1.4.1.1.30",  # Parametric Map: its heat map
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
    "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
    "1.2.840.10008.5.1.4.1.1.11.1",  # Grayscale Softcopy Presentation State
)
"""Results and reports beside the images: always offered on a C-GET (a colleague retrieving a
study gets medviewer's own SR, KO and heat map too), in explicit and implicit little endian."""


def _transfer_syntaxes():
    from pydicom import uid

    native = [uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian]
    compressed = [
        uid.JPEG2000Lossless,
        uid.JPEG2000,
        uid.JPEGLosslessSV1,
        uid.JPEGLSLossless,
        uid.RLELossless,
        uid.JPEGBaseline8Bit,
    ]
    return native, compressed


def get_contexts():
    """(presentation contexts, SCP/SCU role items) for a C-GET: the GET model and at most 127
    storage contexts this station accepts C-STORE sub-operations on."""
    from pynetdicom import StoragePresentationContexts, build_context, build_role

    native, compressed = _transfer_syntaxes()
    contexts = [build_context(GET)]
    for cls in _COMMON:
        contexts.append(build_context(cls, native))
        contexts.extend(build_context(cls, [ts]) for ts in compressed)
    contexts.extend(build_context(cls, native) for cls in _RESULTS)
    offered = set(_COMMON) | set(_RESULTS)
    for ctx in StoragePresentationContexts:
        if len(contexts) >= 128:
            break
        if ctx.abstract_syntax not in offered:
            contexts.append(build_context(ctx.abstract_syntax, native))
    classes = dict.fromkeys(c.abstract_syntax for c in contexts[1:])
    roles = [build_role(cls, scp_role=True) for cls in classes]
    return contexts, roles


@dataclass(frozen=True)
class RetrieveEvent:
    """One instance: ``stored`` (``path``), ``duplicate`` (already here) or ``failed``."""

    kind: str
    message: str
    path: Path | None = None
    series_uid: str = ""
    sop_uid: str = ""


@dataclass
class RetrieveResult:
    """What a retrieve brought: counts, the files, and every failure with its reason."""

    node: str
    study_uid: str
    series_uid: str
    method: str
    stored: list[Path] = field(default_factory=list)
    duplicates: int = 0
    failures: list[str] = field(default_factory=list)
    """One line per instance that did not arrive (its SOP Instance UID and why, if known)."""
    remote_failed: int = 0
    message: str = ""

    @property
    def ok(self) -> bool:
        return not self.failures and not self.remote_failed

    def to_dict(self) -> dict:
        return {
            "node": self.node,
            "study_uid": self.study_uid,
            "series_uid": self.series_uid,
            "method": self.method,
            "stored": len(self.stored),
            "duplicates": self.duplicates,
            "failed": max(len(self.failures), self.remote_failed),
            "failures": list(self.failures),
            "files": [str(p) for p in self.stored],
            "message": self.message,
        }


def _identifier(study_uid: str, series_uid: str):
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES" if series_uid else "STUDY"
    ds.StudyInstanceUID = study_uid
    if series_uid:
        ds.SeriesInstanceUID = series_uid
    return ds


def _count(status, keyword: str) -> int:
    try:
        return int(status.get(keyword, 0) or 0)
    except (TypeError, ValueError):
        return 0


def _failed_uids(identifier) -> list[str]:
    if identifier is None:
        return []
    value = identifier.get("FailedSOPInstanceUIDList", "")
    if not value:
        return []
    return [str(v) for v in (value if isinstance(value, (list, tuple)) else str(value).split("\\"))]


def _store_event(store: StudyStore, data: bytes) -> tuple[int, RetrieveEvent]:
    try:
        stored = store.store(data)
    except StoreFull as exc:
        return 0xA700, RetrieveEvent("failed", str(exc))
    except StoreError as exc:
        return 0xC000, RetrieveEvent("failed", str(exc))
    kind = "duplicate" if stored.duplicate else "stored"
    return 0x0000, RetrieveEvent(kind, kind, stored.path, stored.series_uid, stored.sop_uid)


def retrieve_iter(
    node: RemoteNode,
    local: LocalNode,
    store: StudyStore,
    study_uid: str,
    series_uid: str = "",
    *,
    method: str | None = None,
    receiver=None,
    expected: int | None = None,
    cancel: CancelToken | None = None,
    timeout: float = TIMEOUT_S,
) -> Job[RetrieveResult]:
    """Retrieve ``study_uid`` (or its series ``series_uid``) from ``node``; see the module
    docstring. ``method``: "get" or "move" (default: the node's setting). ``receiver``: a
    running :class:`~medviewer.net.receiver.Receiver` to use for C-MOVE. ``expected``: the
    number of instances, when a query told it (for the progress total)."""
    study_uid = check_uid(study_uid, "Study Instance UID")
    series_uid = check_uid(series_uid, "Series Instance UID") if series_uid else ""
    method = method or node.retrieve
    if method not in ("get", "move"):
        raise NodeError(f"retrieve method {method!r} is unknown; choose get or move")
    result = RetrieveResult(node.name, study_uid, series_uid, method)
    if method == "get":
        try:
            yield from _get(node, local, store, result, expected, cancel, timeout)
        except _NoGet as exc:
            log.info("%s; falling back to C-MOVE", exc)
            result.method = "move"
            yield from _move(node, local, store, result, receiver, expected, cancel, timeout)
    else:
        yield from _move(node, local, store, result, receiver, expected, cancel, timeout)
    what = f"series {series_uid}" if series_uid else f"study {study_uid}"
    parts = [f"{len(result.stored)} instance(s) of {what} retrieved from {node.name}"]
    if result.duplicates:
        parts.append(f"{result.duplicates} were here already")
    failed = max(len(result.failures), result.remote_failed)
    if failed:
        parts.append(f"{failed} failed")
    result.message = ", ".join(parts) + f" (C-{result.method.upper()})"
    return result


class _NoGet(Exception):
    """The node does not offer C-GET (or refuses it): C-MOVE is tried."""


STRAGGLER_QUIET_S = 0.3
STRAGGLER_MAX_S = 3.0
"""When a node drops the association, the instances it stored just before still report (on
the receiver's threads): until none has for ``STRAGGLER_QUIET_S``, at most ``STRAGGLER_MAX_S``,
before the message counts what arrived."""


def _stragglers(events: queue.Queue, result: RetrieveResult, expected):
    end = time.monotonic() + STRAGGLER_MAX_S
    while time.monotonic() < end:
        before = len(result.stored) + result.duplicates + len(result.failures)
        time.sleep(STRAGGLER_QUIET_S)
        yield from _drain(events, result, expected)
        if len(result.stored) + result.duplicates + len(result.failures) == before:
            return


def _drain(events: queue.Queue, result: RetrieveResult, expected):
    while True:
        try:
            event = events.get_nowait()
        except queue.Empty:
            return
        if event.kind == "stored":
            result.stored.append(event.path)
        elif event.kind == "duplicate":
            result.duplicates += 1
        else:
            result.failures.append(event.message)
        done = len(result.stored) + result.duplicates + len(result.failures)
        yield Progress(done, expected, f"{done} instance(s) received: {event.kind}", detail=event)


def _finish_status(node, status, identifier, result, what: str) -> None:
    code = int(status.Status)
    result.remote_failed = max(result.remote_failed, _count(status, "NumberOfFailedSuboperations"))
    for uid in _failed_uids(identifier):
        line = f"{uid}: the node could not send it"
        if line not in result.failures:
            result.failures.append(line)
    if code in (0x0000, 0xB000):  # success; warning = some sub-operations failed (listed)
        return
    if code == 0xFE00:  # cancelled
        return
    kept = (
        f"; {len(result.stored)} instance(s) arrived before and are kept" if result.stored else ""
    )
    hint = "" if result.stored else " (does it hold this study or series?)"
    raise NetError(
        f"{what} from {node.describe()} failed: it answered {status_words(status)}{hint}{kept}",
        "failed",
    )


def _expected(status) -> int | None:
    total = sum(
        _count(status, f"NumberOf{k}Suboperations")
        for k in ("Remaining", "Completed", "Failed", "Warning")
    )
    return total or None


def _follow(node, assoc, responses, model, what, events, result, expected, cancel, check):
    """Follow a C-GET's or C-MOVE's responses: one progress step per instance that arrived
    (from ``events``), C-CANCEL when ``cancel`` is set, ``check(code, status)`` for a
    final status that needs its own words; then the final status into ``result``."""
    cancelled = False
    final = None
    for status, identifier in responses:
        yield from _drain(events, result, expected)
        if status is None or "Status" not in status:  # the node went away: count what came
            yield from _stragglers(events, result, expected)
        code = status_code(
            status,
            f"{what} from {node.describe()}",
            f"{len(result.stored)} instance(s) arrived and are kept",
        )
        if code == 0xFF00:
            if expected is None:
                expected = _expected(status)
            if cancel is not None and cancel.cancelled and not cancelled:
                assoc.send_c_cancel(1, query_model=model)
                cancelled = True
            continue
        check(code, status)
        final = (status, identifier)
    yield from _drain(events, result, expected)
    if cancelled or (cancel is not None and cancel.cancelled):
        raise Cancelled(f"retrieve cancelled; {len(result.stored)} instance(s) kept")
    if final is None:
        raise NetError(
            f"{what} from {node.describe()}: the node closed the association before the final "
            f"answer; {len(result.stored)} instance(s) arrived and are kept",
            "aborted",
        )
    _finish_status(node, *final, result, what)


def _get(node, local, store, result, expected, cancel, timeout):
    from pynetdicom import evt

    events: queue.Queue = queue.Queue()

    def on_store(event):
        try:
            data = event.encoded_dataset(include_meta=True)
        except Exception as exc:
            events.put(RetrieveEvent("failed", f"an instance could not be read ({exc})"))
            return 0xC000
        code, item = _store_event(store, data)
        events.put(item)
        return code

    contexts, roles = get_contexts()
    assoc = associate(
        node,
        local.ae_title,
        contexts,
        what="retrieve",
        ext_neg=roles,
        handlers=[(evt.EVT_C_STORE, on_store)],
        timeout=timeout,
    )
    try:
        if not any(c.abstract_syntax == GET for c in assoc.accepted_contexts):
            raise _NoGet(f"{node.describe()} does not offer C-GET")
        association.park_reactor(assoc)
        responses = assoc.send_c_get(_identifier(result.study_uid, result.series_uid), GET)

        def refused(code: int, status) -> None:
            if code == 0x0122 and not result.stored:  # "SOP class not supported"
                raise _NoGet(f"{node.describe()} refused C-GET ({status_words(status)})")

        yield from _follow(
            node, assoc, responses, GET, "retrieve", events, result, expected, cancel, refused
        )
    finally:
        if assoc.is_established:
            assoc.release()


def _move(node, local, store, result, receiver, expected, cancel, timeout):
    from medviewer.net.receiver import Receiver

    events: queue.Queue = queue.Queue()
    own = None
    if receiver is None or not receiver.running:
        own = Receiver(local, store, [node.ae_title])
        receiver = own

    def forward(arrival) -> None:
        if arrival.kind == "rejected" or arrival.study_uid not in ("", result.study_uid):
            return
        if result.series_uid and arrival.series_uid not in ("", result.series_uid):
            return
        kind = {"stored": "stored", "duplicate": "duplicate"}.get(arrival.kind, "failed")
        events.put(
            RetrieveEvent(kind, arrival.message, arrival.path, arrival.series_uid, arrival.sop_uid)
        )

    previous = receiver.on_event

    def listener(arrival) -> None:
        forward(arrival)
        if previous is not None:
            previous(arrival)

    receiver.on_event = listener
    try:
        if own is not None:
            own.start()
        assoc = associate(node, local.ae_title, [MOVE], what="retrieve (C-MOVE)", timeout=timeout)
        try:
            association.park_reactor(assoc)
            responses = assoc.send_c_move(
                _identifier(result.study_uid, result.series_uid), local.ae_title, MOVE
            )

            def unknown_destination(code: int, status) -> None:
                if code == 0xA801:
                    raise NetError(
                        f"retrieve (C-MOVE) from {node.describe()}: the node does not know the "
                        f"destination {local.ae_title!r}: add this station (AE title "
                        f"{local.ae_title}, this machine's address, port {receiver.port}) to "
                        "the node's list of DICOM nodes",
                        "calling_ae",
                    )

            what = "retrieve (C-MOVE)"
            yield from _follow(
                node,
                assoc,
                responses,
                MOVE,
                what,
                events,
                result,
                expected,
                cancel,
                unknown_destination,
            )
        finally:
            if assoc.is_established:
                assoc.release()
    finally:
        receiver.on_event = previous
        if own is not None:
            own.stop()
