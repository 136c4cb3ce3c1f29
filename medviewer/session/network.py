"""What the Network windows show, without Qt: the nodes form read field by field, verify and
retrieve texts, query rows, date presets, the study folder's rows, and when to rescan a study
folder that is filling up (the series browser follows arrivals without rescanning per file).

The checks are those of :mod:`medviewer.net.nodes` (its :class:`NodeError` messages), run field
by field so each message can be shown next to its field.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from medviewer.jobs import Job, Progress
from medviewer.net.nodes import (
    LocalNode,
    NetConfig,
    NodeError,
    RemoteNode,
    check_ae_title,
    check_host,
    check_port,
)
from medviewer.net.query import Match

OK_COLOUR = "#5cb85c"
BAD_COLOUR = "#e06c5c"


# -- the store ------------------------------------------------------------------------------
def store_root(config: NetConfig) -> Path:
    """The study folder: the configured one, else ``user_data_dir()/studies``."""
    from medviewer.settings import user_data_dir

    return Path(config.local.store_folder or (user_data_dir() / "studies"))


def study_store(config: NetConfig):
    from medviewer.net.storage import StudyStore

    return StudyStore(store_root(config), int(config.local.store_cap_gb * 1e9))


# -- the nodes form -------------------------------------------------------------------------
def _port_value(text: str):
    text = str(text).strip()
    return int(text) if text.isdigit() else text


def split_titles(text: str) -> tuple[str, ...]:
    """Allowed calling AE titles typed as "PACS_AE, CT1 CT2" (commas or backslashes; an AE
    title may hold spaces, so only commas separate when there is one)."""
    sep = "," if "," in text else ("\\" if "\\" in text else None)
    parts = text.split(sep) if sep else text.split()
    return tuple(p.strip() for p in parts if p.strip())


def read_local(fields: dict[str, object]) -> tuple[LocalNode | None, dict[str, str]]:
    """The station's form (``ae_title``, ``port``, ``bind_address``, ``allowed_callers``,
    ``store_folder``, ``store_cap_gb``, ``receive_enabled``) as a checked LocalNode, or None
    and the :class:`NodeError` message of each field that is wrong."""
    errors: dict[str, str] = {}

    def check(name: str, fn: Callable[[], object]):
        try:
            return fn()
        except NodeError as exc:
            errors[name] = str(exc)
            return None

    ae = check("ae_title", lambda: check_ae_title(fields.get("ae_title", ""), "local AE title"))
    port = check("port", lambda: check_port(_port_value(fields.get("port", "")), "receive port"))
    bind = str(fields.get("bind_address", "") or "").strip()
    if bind:
        check("bind_address", lambda: check_host(bind))
    callers = check(
        "allowed_callers",
        lambda: tuple(
            check_ae_title(a, "allowed calling AE title")
            for a in split_titles(str(fields.get("allowed_callers", "")))
        ),
    )
    folder = str(fields.get("store_folder", "") or "").strip()
    if folder and not os.path.isabs(os.path.expanduser(folder)):
        errors["store_folder"] = (
            f"the study folder {folder!r} is not a full path: choose a folder with Browse…"
        )
    cap = fields.get("store_cap_gb", 20.0)
    if errors:
        return None, errors
    local = LocalNode(
        ae_title=ae,
        port=port,
        bind_address=bind,
        receive_enabled=bool(fields.get("receive_enabled", False)),
        allowed_callers=callers,
        store_folder=os.path.expanduser(folder) if folder else "",
        store_cap_gb=float(cap),
    )
    try:
        return local.checked(), {}
    except NodeError as exc:
        return None, {"store_cap_gb": str(exc)}


def read_node(
    fields: dict[str, object], others: list[RemoteNode] = ()
) -> tuple[RemoteNode | None, dict[str, str]]:
    """A remote node's form (``name``, ``ae_title``, ``host``, ``port``, ``retrieve``) checked
    field by field; ``others``: the other nodes (names must differ)."""
    errors: dict[str, str] = {}
    name = str(fields.get("name", "") or "").strip()
    if not name:
        errors["name"] = "a node needs a name (how you will call it, e.g. PACS)"
    elif any(n.name.lower() == name.lower() for n in others):
        errors["name"] = f"there is already a node called {name}: give this one another name"
    for key, fn in (
        ("ae_title", lambda: check_ae_title(fields.get("ae_title", ""), "node's AE title")),
        ("host", lambda: check_host(fields.get("host", ""))),
        ("port", lambda: check_port(_port_value(fields.get("port", "")), "node's port")),
    ):
        try:
            fn()
        except NodeError as exc:
            errors[key] = str(exc)
    if errors:
        return None, errors
    node = RemoteNode(
        name,
        str(fields["ae_title"]),
        str(fields["host"]),
        _port_value(fields["port"]),
        str(fields.get("retrieve") or "get"),
    )
    try:
        return node.checked(), {}
    except NodeError as exc:
        return None, {"name": str(exc)}


def retrieve_label(method: str) -> str:
    return {"get": "C-GET", "move": "C-MOVE"}.get(method, method)


# -- verify -------------------------------------------------------------------------------------
def echo_job(node: RemoteNode, calling_ae: str, timeout: float = 10.0) -> Job:
    """The worker's job: one C-ECHO (:func:`medviewer.net.verify.echo`, which never raises
    for network trouble)."""
    from medviewer.net.verify import echo

    yield Progress(0, 1, f"verifying {node.describe()}")
    return echo(node, calling_ae, timeout=timeout)


def echo_text(result) -> tuple[str, bool, str]:
    """(short text, ok, tooltip) for a verify result: "ok, 4 ms" or its reason in words."""
    if result.ok:
        return f"ok, {result.ms:.0f} ms", True, result.message
    short = {
        "refused": "connection refused",
        "timeout": "no answer (timeout)",
        "no_route": "host not reachable",
        "rejected": "association rejected",
        "called_ae": "wrong AE title",
        "calling_ae": "does not know this station",
        "aborted": "aborted",
        "failed": "failed",
    }.get(result.reason, result.reason)
    return short, False, result.message


# -- query -------------------------------------------------------------------------------------
DATE_PRESETS = ("Any date", "Today", "Yesterday", "Last 7 days", "Last 30 days", "Last year")


def date_range(preset: str, today: _dt.date | None = None) -> tuple[str, str]:
    """(from, to) as YYYYMMDD for one of :data:`DATE_PRESETS` ("" for any)."""
    today = today or _dt.date.today()
    days = {"Today": 0, "Yesterday": 1, "Last 7 days": 6, "Last 30 days": 29, "Last year": 364}
    if preset not in days:
        return "", ""
    start = today - _dt.timedelta(days=days[preset])
    end = start if preset == "Yesterday" else today
    return start.strftime("%Y%m%d"), end.strftime("%Y%m%d")


def person(name: str) -> str:
    parts = [p.strip() for p in (name or "").split("^") if p.strip()]
    return ", ".join(parts[:2]) + (" " + " ".join(parts[2:]) if len(parts) > 2 else "")


def dashed_date(text: str) -> str:
    text = (text or "").strip()
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


STUDY_COLUMNS = ("Patient", "Patient ID", "Date", "Modality", "Description", "Accession", "Images")
SERIES_COLUMNS = ("#", "Modality", "Description", "Images")


def study_row(m: Match) -> tuple[str, ...]:
    images = "" if m.instances is None else str(m.instances)
    return (
        person(m.patient_name),
        m.patient_id,
        dashed_date(m.study_date),
        m.modalities,
        m.description,
        m.accession,
        images,
    )


def series_row(m: Match) -> tuple[str, ...]:
    images = "" if m.instances is None else str(m.instances)
    return (m.series_number, m.modalities, m.description, images)


def found_text(result) -> str:
    """ "12 studies found on PACS" (and why the list stopped, when it did)."""
    n = len(result.matches)
    what = ("study" if n == 1 else "studies") if result.level == "STUDY" else "series"
    text = f"{n} {what} found on {result.node}"
    if result.truncated:
        text += f"; the list stopped at {n}: narrow the query (a date range, a patient ID)"
    return text


def series_sort_key(m: Match):
    try:
        return (0, int(m.series_number), m.description)
    except ValueError:
        return (1, 0, m.description)


# -- retrieves -----------------------------------------------------------------------------
@dataclass
class RetrieveState:
    """One retrieve as the list shows it: what, progress, failures, the end."""

    title: str
    study_uid: str
    series_uid: str = ""
    expected: int | None = None
    done: int = 0
    stored: int = 0
    duplicates: int = 0
    failures: list[str] = field(default_factory=list)
    series_seen: list[str] = field(default_factory=list)
    state: str = "waiting"
    """waiting, running, done, failed, cancelling, cancelled."""
    message: str = ""

    def add(self, step: Progress) -> str | None:
        """Count one Progress of ``retrieve_iter``; returns a new failure line, if any."""
        event = step.detail
        self.state = "running" if self.state == "waiting" else self.state
        self.done = step.done
        if step.total:
            self.expected = step.total
        if event is None:
            return None
        if event.series_uid and event.series_uid not in self.series_seen:
            self.series_seen.append(event.series_uid)
        if event.kind == "stored":
            self.stored += 1
        elif event.kind == "duplicate":
            self.duplicates += 1
        else:
            line = f"{event.sop_uid}: {event.message}" if event.sop_uid else event.message
            self.failures.append(line)
            return line
        return None

    def status_text(self) -> str:
        total = f" of {self.expected}" if self.expected else ""
        n = self.stored + self.duplicates
        failed = f", {len(self.failures)} failed" if self.failures else ""
        if self.state == "waiting":
            return "connecting…"
        if self.state == "running":
            return f"{n}{total} instances{failed}"
        if self.state == "cancelling":
            return f"cancelling… {n}{total} instances kept"
        if self.state == "cancelled":
            return f"cancelled; {n} instances kept"
        return self.message or f"{n}{total} instances{failed}"

    def finished(self, result) -> None:
        self.state = "done"
        self.message = result.message
        for line in result.failures:
            if line not in self.failures:
                self.failures.append(line)
        if result.remote_failed > len(self.failures):
            self.failures.append(
                f"the node reports {result.remote_failed} instance(s) it could not send "
                "(it did not say which)"
            )

    def failed(self, message: str) -> None:
        self.state = "failed"
        self.message = message


# -- the study folder ----------------------------------------------------------------------------
STUDY_FOLDER_COLUMNS = ("Patient", "Patient ID", "Date", "Description", "Images", "Size")


def size_text(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def study_folder_row(entry) -> tuple[str, ...]:
    return (
        person(entry.patient_name) or "(no name)",
        entry.patient_id,
        dashed_date(entry.study_date),
        entry.description,
        str(entry.instances),
        size_text(entry.bytes),
    )


def list_studies_job(store) -> Job:
    """The worker's job: the folder's studies (headers read) and the bytes used."""
    yield Progress(0, None, f"reading {store.root}")
    return store.studies(), store.used_bytes()


def delete_study_job(store, study_uid: str) -> Job:
    yield Progress(0, 1, f"deleting study {study_uid}")
    store.delete_study(study_uid)
    return study_uid


# -- following a filling study folder -----------------------------------------------------------
class RescanThrottle:
    """When to rescan study folders that files are arriving in: at once for the first file
    of a folder, then at most every ``interval_s`` seconds, and once more after the last."""

    def __init__(self, interval_s: float = 1.5) -> None:
        self.interval_s = interval_s
        self._known: set[str] = set()
        self._pending: set[str] = set()
        self._last = float("-inf")

    def note(self, folder: str, now: float) -> float:
        """A file arrived in ``folder``: seconds to wait before rescanning (0: now)."""
        new = folder not in self._known
        self._known.add(folder)
        self._pending.add(folder)
        if new:
            return 0.0
        return max(0.0, self._last + self.interval_s - now)

    def take(self, now: float) -> list[str]:
        """The folders to rescan now (cleared)."""
        self._last = now
        out, self._pending = sorted(self._pending), set()
        return out

    @property
    def pending(self) -> bool:
        return bool(self._pending)


def merged_paths(opened: list[str], folder: str) -> list[str]:
    """The paths to scan so the browser keeps what is open and shows ``folder`` too."""
    folder = os.path.abspath(folder)
    for p in opened:
        p = os.path.abspath(p)
        if folder == p or folder.startswith(p.rstrip(os.sep) + os.sep):
            return list(opened)
    return [*opened, folder]


def arrival_text(arrival) -> str:
    """The status bar's words for one receiver event."""
    if arrival.kind == "stored":
        return f"Received an instance from {arrival.calling_ae} (study {arrival.study_uid})"
    if arrival.kind == "duplicate":
        return f"Received from {arrival.calling_ae}: {arrival.message}"
    if arrival.kind == "rejected":
        return f"Receiver: {arrival.message}"
    return f"Receiver refused an instance from {arrival.calling_ae}: {arrival.message}"


__all__ = [
    "BAD_COLOUR",
    "DATE_PRESETS",
    "OK_COLOUR",
    "RescanThrottle",
    "RetrieveState",
    "SERIES_COLUMNS",
    "STUDY_COLUMNS",
    "STUDY_FOLDER_COLUMNS",
    "arrival_text",
    "date_range",
    "echo_job",
    "echo_text",
    "merged_paths",
    "read_local",
    "read_node",
    "study_row",
    "study_store",
]
