"""The results file on disk: its schema, rows <-> SeriesResult, opening it (the checks made
before anything is written), and SQLite errors as ResultsStoreError (what, where, what to do).

Opening refuses, without changing a byte, a file that is damaged, not a triage results file
(another program's database, garbage), or written by a newer medviewer; and, when writing, a
read-only file or folder. A new file is created in one transaction (WAL journal,
``synchronous=FULL``: a stored row survives a crash or a power cut).
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from medviewer.sqlite_files import durable_wal, file_facts
from medviewer.triage.records import ResultsStoreError, SeriesResult

RESULTS_FORMAT = 1
"""The file's format (``PRAGMA user_version``)."""
APPLICATION_ID = 0x4D565452  # "MVTR": marks the file as medviewer triage results
KEPT = "it was left as it is"
_SQLITE_MAGIC = b"SQLite format 3\x00"

COLUMNS = (
    "series_key", "model_sha256", "model_name", "model_version", "series_uid", "study_uid",
    "patient_id", "patient_name", "study_date", "study_description", "series_description",
    "modality", "series_number", "n_slices", "folder", "probabilities", "top_class",
    "suspicion", "top_slice", "top_slice_sop_uid", "top_slice_probability", "flagged_slices",
    "seconds", "device", "warnings", "finished_at",
)  # fmt: skip
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE results (
    id INTEGER PRIMARY KEY,
    series_key TEXT NOT NULL, model_sha256 TEXT NOT NULL, model_name TEXT NOT NULL,
    model_version TEXT NOT NULL, series_uid TEXT NOT NULL, study_uid TEXT NOT NULL,
    patient_id TEXT NOT NULL, patient_name TEXT NOT NULL, study_date TEXT NOT NULL,
    study_description TEXT NOT NULL, series_description TEXT NOT NULL, modality TEXT NOT NULL,
    series_number INTEGER, n_slices INTEGER NOT NULL, folder TEXT NOT NULL,
    probabilities TEXT NOT NULL, top_class TEXT NOT NULL, suspicion REAL NOT NULL,
    top_slice INTEGER NOT NULL, top_slice_sop_uid TEXT NOT NULL,
    top_slice_probability REAL NOT NULL, flagged_slices TEXT NOT NULL, seconds REAL NOT NULL,
    device TEXT NOT NULL, warnings TEXT NOT NULL, finished_at TEXT NOT NULL,
    UNIQUE (series_key, model_sha256)
);
CREATE INDEX results_by_suspicion ON results (model_sha256, suspicion DESC);
CREATE TABLE skipped (
    id INTEGER PRIMARY KEY, location TEXT NOT NULL, code TEXT NOT NULL, reason TEXT NOT NULL,
    UNIQUE (location, code)
)
"""
SELECT_RESULTS = f"SELECT {', '.join(COLUMNS)} FROM results"
INSERT_RESULT = (
    f"INSERT INTO results ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
    "ON CONFLICT (series_key, model_sha256) DO NOTHING"
)
INSERT_SKIPPED = (
    "INSERT INTO skipped (location, code, reason) VALUES (?, ?, ?) "
    "ON CONFLICT (location, code) DO NOTHING"
)
MOST_SUSPICIOUS_FIRST = "ORDER BY suspicion DESC, top_slice_probability DESC, series_key, id"


def utc_now() -> str:
    """Now, ISO 8601 in UTC (seconds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def to_row(r: SeriesResult) -> tuple:
    """The values of :data:`COLUMNS` for one result (lists and dicts as JSON)."""
    return (
        r.series_key, r.model.sha256, r.model.name, r.model.version, r.series_uid,
        r.study_uid, r.patient_id, r.patient_name, r.study_date, r.study_description,
        r.series_description, r.modality, r.series_number, int(r.n_slices), r.folder,
        json.dumps(r.probabilities), r.top_class, float(r.suspicion), int(r.top_slice),
        r.top_slice_sop_uid, float(r.top_slice_probability), json.dumps(r.flagged_slices),
        float(r.seconds), r.device, json.dumps(r.warnings), r.finished_at or utc_now(),
    )  # fmt: skip


def from_row(row: tuple) -> SeriesResult:
    d = dict(zip(COLUMNS, row, strict=True))
    d["model"] = {"name": d["model_name"], "version": d["model_version"]}
    d["model"]["sha256"] = d["model_sha256"]
    for key in ("probabilities", "flagged_slices", "warnings"):
        d[key] = json.loads(d[key])
    return SeriesResult.from_dict(d)


def _foreign(path: Path) -> ResultsStoreError:
    return ResultsStoreError(
        f"{path} is an SQLite database of another kind, not medviewer triage results; {KEPT}, "
        "choose another results file"
    )


def _check_header(path: Path) -> None:
    try:
        with open(path, "rb") as fp:
            header = fp.read(100)
    except OSError as exc:
        raise ResultsStoreError(
            f"cannot read the results file {path} ({exc.strerror or exc}); check that it is "
            "readable"
        ) from exc
    if header and (len(header) < 100 or not header.startswith(_SQLITE_MAGIC)):
        raise ResultsStoreError(
            f"{path} is not a triage results file (not an SQLite database: damaged, or another "
            f"kind of file); {KEPT}, choose another results file"
        )
    if header and int.from_bytes(header[68:72], "big") not in (0, APPLICATION_ID):
        raise _foreign(path)


def _check_writable(path: Path, exists: bool) -> None:
    """Refuse a read-only file or folder before anything is written."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultsStoreError(
            f"cannot create the folder {folder} for the results file ({exc.strerror or exc}); "
            "choose another place for the results file"
        ) from exc
    if exists and not os.access(path, os.W_OK):
        raise ResultsStoreError(
            f"the results file {path} is read-only; nothing was written: make it writable or "
            "choose another results file"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ResultsStoreError(
            f"the folder {folder} is read-only (the results file and its journal are written "
            "there); nothing was written: choose a writable place for the results file"
        )


def connect(path: Path, *, read_only: bool, busy_timeout_s: float) -> sqlite3.Connection:
    """Open (or, unless ``read_only``, create) the results file at ``path``, checked."""
    if path.exists() and not path.is_file():
        raise ResultsStoreError(f"the results file {path} is a folder, not a file; name a file")
    exists = path.is_file()
    if exists:
        _check_header(path)
    elif read_only:
        raise ResultsStoreError(
            f"there are no triage results at {path}; run a triage first, or give the right "
            "results file"
        )
    if not read_only:
        _check_writable(path, exists)
    uri = f"file:{quote(str(path.absolute()))}?mode={'ro' if read_only else 'rwc'}"
    shm = path.with_name(path.name + "-shm")
    if read_only and not shm.exists() and not os.access(path.parent, os.W_OK):
        uri += "&immutable=1"  # no writer can be at work where no journal can be made
    try:
        conn = sqlite3.connect(
            uri, uri=True, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise ResultsStoreError(
            f"cannot open the results file {path} ({exc}); check the file and folder "
            "permissions, or choose another results file"
        ) from exc
    try:
        _prepare(conn, path, exists and path.stat().st_size > 0, read_only, busy_timeout_s)
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare(
    conn: sqlite3.Connection, path: Path, had_content: bool, read_only: bool, timeout_s: float
) -> None:
    try:
        facts = file_facts(conn, check=had_content)
    except sqlite3.DatabaseError as exc:
        raise ResultsStoreError(
            f"the results file {path} is damaged or not a database ({exc}); {KEPT}: choose "
            "another results file"
        ) from exc
    if facts.damaged:
        raise ResultsStoreError(
            f"the results file {path} is damaged ({'; '.join(facts.problems[:3])}); {KEPT}: "
            "choose another results file (the triage will run again)"
        )
    version = facts.version
    if version > RESULTS_FORMAT:
        raise ResultsStoreError(
            f"the results file {path} was written by a newer medviewer (format {version}, this "
            f"version reads {RESULTS_FORMAT}); {KEPT}: update medviewer to read it"
        )
    if facts.foreign(APPLICATION_ID):
        raise _foreign(path)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        if read_only:
            if version == 0:
                raise ResultsStoreError(f"the results file {path} holds no results (it is empty)")
            return
        if version == 0:  # an existing file switches to WAL once the store accepts it
            durable_wal(conn, f"the results file {path}", ResultsStoreError)
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("format", str(RESULTS_FORMAT)), ("created", utc_now())],
            )
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {RESULTS_FORMAT}")
            conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise sqlite_error(exc, "create the results file", path, timeout_s, None) from exc


def use_wal(conn: sqlite3.Connection, path: Path, timeout_s: float) -> None:
    """Switch a results file that a writer accepted to write-ahead logging (FULL sync)."""
    try:
        durable_wal(conn, f"the results file {path}", ResultsStoreError)
    except sqlite3.Error as exc:
        raise sqlite_error(exc, "open the results file for writing", path, timeout_s, None) from exc


def sqlite_error(
    exc: sqlite3.Error, action: str, path: Path, timeout_s: float, stored: int | None
) -> ResultsStoreError:
    """A ResultsStoreError: what failed (``could not ACTION``), in which file, what to do, and
    that the ``stored`` results (when known) are kept."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    where = f"the results file {path}"
    if stored is None:
        kept = "what was stored before is kept"
    else:
        kept = f"the {stored} result(s) stored before are kept"
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        why = f"{where} is read-only; make it writable or choose another results file"
    elif name == "SQLITE_FULL" or "is full" in text:
        why = f"the disk holding {where} is full; free some space and run again to go on"
    elif name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        why = f"{where} stayed locked by another program for {timeout_s:g} s; try again"
    elif name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        why = f"{where} is damaged ({exc}); keep it and choose another results file"
    elif name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")):
        why = f"a disk error on {where} ({exc}); check the disk and run again"
    else:
        why = f"{where} failed ({exc})"
    return ResultsStoreError(f"could not {action}: {why}; {kept}")
