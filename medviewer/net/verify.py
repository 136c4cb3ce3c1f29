"""Verify a node (C-ECHO): can this station talk to it, and if not, why not."""

from __future__ import annotations

import time
from dataclasses import dataclass

from medviewer.net.association import TIMEOUT_S, NetError, associate, park_reactor, status_words
from medviewer.net.nodes import RemoteNode

VERIFICATION = "1.2.840.10008.1.1"


@dataclass(frozen=True)
class EchoResult:
    """The answer of one C-ECHO: ``ok``, the round trip in ms, and plain words."""

    node: str
    ok: bool
    reason: str
    """"ok", or a :class:`~medviewer.net.association.NetError` reason (refused, timeout ...)."""
    message: str
    ms: float

    def to_dict(self) -> dict:
        return {
            "node": self.node,
            "ok": self.ok,
            "reason": self.reason,
            "message": self.message,
            "ms": round(self.ms, 1),
        }


def echo(node: RemoteNode, calling_ae: str, timeout: float = TIMEOUT_S) -> EchoResult:
    """C-ECHO ``node`` as ``calling_ae``; never raises for network trouble: the result says."""
    start = time.perf_counter()
    try:
        assoc = associate(node, calling_ae, [VERIFICATION], what="verify", timeout=timeout)
    except NetError as exc:
        return EchoResult(node.name, False, exc.reason, str(exc), _ms(start))
    try:
        park_reactor(assoc)
        status = assoc.send_c_echo()
        if assoc.is_aborted or status is None or "Status" not in status:
            return EchoResult(
                node.name,
                False,
                "aborted",
                f"verify with {node.describe()}: the node aborted before answering",
                _ms(start),
            )
        if int(status.Status) != 0:
            return EchoResult(
                node.name,
                False,
                "failed",
                f"verify with {node.describe()}: it answered {status_words(status)}",
                _ms(start),
            )
    finally:
        if assoc.is_established:
            assoc.release()
    ms = _ms(start)
    return EchoResult(node.name, True, "ok", f"{node.describe()} answered in {ms:.0f} ms", ms)


def _ms(start: float) -> float:
    return 1e3 * (time.perf_counter() - start)
