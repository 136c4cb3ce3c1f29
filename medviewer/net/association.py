"""Open an association with a node, and say in plain words why one could not be opened.

pynetdicom reports a failed association as a flag; the reasons a user can act on are: nothing
listens there (refused), the host does not answer (timeout), there is no route or no such host,
or the node answered and rejected us (wrong called AE title, our calling AE title unknown to
it, no common presentation context ...). :func:`associate` raises :class:`NetError` with that
reason. pynetdicom is imported here, lazily, only when a node is actually used.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Sequence

from medviewer.errors import MedviewerError
from medviewer.net.nodes import RemoteNode

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0
"""Connect, association and DIMSE timeout (seconds) unless the caller gives one."""


class NetError(MedviewerError):
    """A DICOM network operation failed; ``reason`` is one word for tests and scripts:
    refused, timeout, no_route, rejected, called_ae, calling_ae, aborted, failed."""

    def __init__(self, message: str, reason: str = "failed") -> None:
        super().__init__(message)
        self.reason = reason


def make_ae(ae_title: str, timeout: float = TIMEOUT_S):
    """A pynetdicom AE with this station's AE title and the given timeouts."""
    from pynetdicom import AE

    ae = AE(ae_title=ae_title)
    ae.acse_timeout = timeout
    ae.dimse_timeout = timeout
    ae.network_timeout = timeout
    ae.connection_timeout = timeout
    ae.maximum_pdu_size = 0  # no limit: fewer, bigger PDUs on a fast hospital network
    return ae


def park_reactor(assoc, timeout: float = 5.0) -> None:
    """Hold a requestor association's reactor thread before a ``send_c_*`` call.

    pynetdicom (3.0) runs a reactor thread beside the caller that takes any complete message
    off the DIMSE queue. ``send_c_*`` pauses it first, but the pause can be read as done while
    the reactor is just leaving its checkpoint; when the peer answers fast (an in-process or
    nearby node, a loaded CPU), the reactor then takes the response, logs "Received unexpected
    C-STORE service message", and the caller waits out the DIMSE timeout and aborts the
    association. Measured here, C-ECHOs on one association with two busy threads beside: 8 of
    900 failed that way, none of 900 with this. This clears the reactor's checkpoint and
    returns once the thread is parked in it, so the pause ``send_c_*`` makes next is real;
    ``send_c_*`` releases it when done. Falls back to pynetdicom's own pause if its internals
    change."""
    import time

    checkpoint = getattr(assoc, "_reactor_checkpoint", None)
    waiters = getattr(getattr(checkpoint, "_cond", None), "_waiters", None)
    if waiters is None or not hasattr(checkpoint, "clear"):
        return
    checkpoint.clear()
    end = time.monotonic() + timeout
    while not waiters and assoc.is_alive() and time.monotonic() < end:
        time.sleep(0.0002)


def no_delay(event) -> None:
    """EVT_CONN_OPEN handler: send small PDUs at once (TCP_NODELAY). Without it each C-STORE
    response waits for the peer's delayed ACK (~40 ms per instance on Linux)."""
    try:
        event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (AttributeError, OSError):  # the connection is already gone, or not TCP
        pass


def probe(host: str, port: int, timeout: float) -> tuple[str, str]:
    """(reason, words) for why a TCP connection to host:port fails, or ("ok", "")."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return "ok", ""
    except ConnectionRefusedError:
        return "refused", (
            f"nothing accepts connections on {host}:{port} (connection refused): is the node "
            f"running, and is {port} its DICOM port?"
        )
    except TimeoutError:
        return "timeout", f"{host}:{port} did not answer within {timeout:g} s (timeout)"
    except socket.gaierror:
        return "no_route", f"the host name {host!r} is unknown here (no such host)"
    except OSError as exc:
        if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
            return "no_route", f"there is no route to {host} ({exc.strerror})"
        return "failed", f"cannot connect to {host}:{port} ({exc.strerror or exc})"


# A-ASSOCIATE-RJ (PS3.8 9.3.4): (source, diagnostic) -> (reason, words)
_REJECTIONS = {
    (1, 2): ("rejected", "it does not support the application context"),
    (1, 3): (
        "calling_ae",
        "it does not know this station's AE title {calling!r}: add {calling} to the node's "
        "list of allowed callers (in Orthanc: DicomModalities)",
    ),
    (1, 7): (
        "called_ae",
        "its AE title is not {called!r}: check the node's AE title (Network > DICOM nodes, "
        "or medviewer dicom nodes add ... --replace)",
    ),
    (2, 2): ("rejected", "it does not support this protocol version"),
    (3, 1): ("rejected", "it is busy (temporary congestion): try again later"),
    (3, 2): ("rejected", "it has reached its limit of associations: try again later"),
}


def _rejection_words(assoc, node: RemoteNode, calling: str) -> tuple[str, str]:
    rj = getattr(assoc.acceptor, "primitive", None)
    source = getattr(rj, "result_source", None)
    diagnostic = getattr(rj, "diagnostic", None)
    reason, words = _REJECTIONS.get(
        (source, diagnostic), ("rejected", f"(source {source}, reason {diagnostic})")
    )
    return reason, words.format(calling=calling, called=node.ae_title)


QUICK_CLOSE_S = 2.0
"""An association that ended without an answer sooner than this is tried once more."""


def associate(
    node: RemoteNode,
    calling_ae: str,
    contexts: Sequence,
    *,
    what: str,
    ext_neg: Sequence = (),
    handlers: Sequence = (),
    timeout: float = TIMEOUT_S,
):
    """An established association with ``node`` proposing ``contexts`` (presentation context
    objects or SOP class UIDs), or :class:`NetError` saying why not. ``what`` names the
    operation for the message ("verify", "query", ...)."""
    ae = make_ae(calling_ae, timeout)
    for ctx in contexts:
        if hasattr(ctx, "abstract_syntax"):
            ae.add_requested_context(ctx.abstract_syntax, ctx.transfer_syntax)
        else:
            ae.add_requested_context(ctx)
    from pynetdicom import evt

    def attempt():
        return ae.associate(
            node.host,
            node.port,
            ae_title=node.ae_title,
            ext_neg=list(ext_neg) or None,
            evt_handlers=[(evt.EVT_CONN_OPEN, no_delay), *handlers],
        )

    started = time.monotonic()
    assoc = attempt()
    quick = time.monotonic() - started < QUICK_CLOSE_S
    if not (assoc.is_established or assoc.is_rejected) and quick:
        # a node that rejects and closes at once is sometimes seen closing before its
        # rejection is read (a busy machine): when it listens, ask once more before saying
        # "no answer" (a refused port or a timeout is not asked again)
        if probe(node.host, node.port, timeout)[0] == "ok":
            assoc = attempt()
    if assoc.is_established:
        if not assoc.accepted_contexts:
            assoc.abort()
            raise NetError(
                f"{what} with {node.describe()}: the node accepted none of the services asked "
                "for; it may not support them",
                "rejected",
            )
        return assoc
    if assoc.is_rejected:
        reason, words = _rejection_words(assoc, node, calling_ae)
        raise NetError(f"{what} with {node.describe()}: the node rejected us: {words}", reason)
    reason, words = probe(node.host, node.port, timeout)
    if reason == "ok":
        reason, words = "aborted", "the node closed the connection without an answer"
    raise NetError(f"{what} with {node.describe()} failed: {words}", reason)


def status_code(status, what: str, so_far: str) -> int:
    """The DIMSE status code of an answer, or :class:`NetError` ("aborted") when there is
    none: the association ended before the node answered. ``so_far`` says what was done by
    then, e.g. "12 instance(s) arrived and are kept"."""
    if status is None or "Status" not in status:
        raise NetError(
            f"{what}: the association ended before the node answered; {so_far}", "aborted"
        )
    return int(status.Status)


def status_words(status) -> str:
    """A DIMSE status (dataset or int) as ``0xC000 (words)`` for messages."""
    code = getattr(status, "Status", status)
    try:
        from pynetdicom.status import code_to_category

        category = code_to_category(int(code))
    except Exception:
        category = "Unknown"
    comment = getattr(status, "ErrorComment", "") if hasattr(status, "get") else ""
    text = f"0x{int(code):04X} ({category.lower()}"
    return text + (f": {comment})" if comment else ")")
