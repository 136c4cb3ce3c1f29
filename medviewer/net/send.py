"""Send files to a node (C-STORE SCU): a series, or a result object medviewer wrote.

:func:`send_iter` is a job: one :class:`~medviewer.jobs.Progress` per file, a
:class:`SendResult` at the end with every file the node did not take and why. Files that are
not DICOM are listed, never sent. Presentation contexts are proposed for the SOP classes and
transfer syntaxes of the files themselves (at most 128 pairs), so nothing is transcoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from medviewer.errors import Cancelled
from medviewer.jobs import CancelToken, Job, Progress
from medviewer.net import association
from medviewer.net.association import TIMEOUT_S, NetError, associate, status_code, status_words
from medviewer.net.nodes import RemoteNode

MAX_CONTEXTS = 128


@dataclass
class SendResult:
    node: str
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    """One line per file not taken: the file, and the node's status or our reason."""
    message: str = ""

    def to_dict(self) -> dict:
        return {
            "node": self.node,
            "sent": self.sent,
            "failed": len(self.failures),
            "failures": list(self.failures),
            "message": self.message,
        }


def _files(paths) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(
                f
                for f in sorted(p.rglob("*"))
                if f.is_file() and not any(x.startswith(".") for x in f.relative_to(p).parts)
            )
        else:
            out.append(p)
    return out


def send_iter(
    node: RemoteNode,
    calling_ae: str,
    paths,
    *,
    cancel: CancelToken | None = None,
    timeout: float = TIMEOUT_S,
) -> Job[SendResult]:
    """C-STORE every DICOM file in ``paths`` (files and folders) to ``node``."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    result = SendResult(node.name)
    files = _files(paths)
    headers: list[tuple[Path, str, str]] = []
    for f in files:
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SOPClassUID"])
            sop_class = str(
                ds.get("SOPClassUID", "") or ds.file_meta.get("MediaStorageSOPClassUID", "")
            )
            ts = str(ds.file_meta.get("TransferSyntaxUID", ""))
        except (InvalidDicomError, OSError, AttributeError, ValueError) as exc:
            why = "no 'DICM' marker at byte 128" if isinstance(exc, InvalidDicomError) else exc
            result.failures.append(f"{f}: not a DICOM file ({why})")
            continue
        if not sop_class or not ts:
            result.failures.append(f"{f}: no SOP Class UID or transfer syntax")
            continue
        headers.append((f, sop_class, ts))
    pairs = list(dict.fromkeys((c, t) for _, c, t in headers))
    if len(pairs) > MAX_CONTEXTS:
        raise NetError(
            f"send to {node.describe()}: the files use {len(pairs)} kinds of object and "
            f"encoding, more than one association can carry ({MAX_CONTEXTS}); send them in parts",
            "failed",
        )
    total = len(files)
    if not headers:
        result.message = f"nothing to send to {node.name}: no DICOM file among {total}"
        return result
    from pynetdicom import build_context

    contexts = [build_context(c, [t]) for c, t in pairs]
    assoc = associate(node, calling_ae, contexts, what="send", timeout=timeout)
    accepted = {(c.abstract_syntax, c.transfer_syntax[0]) for c in assoc.accepted_contexts}
    try:
        for i, (f, sop_class, ts) in enumerate(headers, start=1):
            if cancel is not None and cancel.cancelled:
                raise Cancelled(f"send cancelled after {result.sent} file(s)")
            if (sop_class, ts) not in accepted:
                result.failures.append(
                    f"{f}: the node does not accept this kind of object ({sop_class}) in this "
                    f"encoding ({ts})"
                )
                continue
            try:
                association.park_reactor(assoc)
                status = assoc.send_c_store(str(f))
            except (AttributeError, ValueError, OSError) as exc:  # a file pynetdicom rejects
                result.failures.append(f"{f}: could not be sent ({exc})")
                continue
            code = status_code(
                status, f"send to {node.describe()}", f"{result.sent} file(s) were taken"
            )
            if code == 0x0000 or 0xB000 <= code <= 0xBFFF:
                result.sent += 1
            else:
                result.failures.append(f"{f}: the node answered {status_words(status)}")
            yield Progress(i, len(headers), f"sent {result.sent} of {len(headers)}", detail=f)
    finally:
        if assoc.is_established:
            assoc.release()
    result.message = f"{result.sent} of {total} file(s) sent to {node.name}" + (
        f", {len(result.failures)} not taken" if result.failures else ""
    )
    return result
