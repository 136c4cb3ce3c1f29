"""The annotation store: one SQLite file, crash-safe, shared safely by two app instances.

Why SQLite: every user action is one ACID transaction, so a label whose call returned is on
disk even if the process is killed a microsecond later (WAL journal, ``synchronous=FULL``), and
a second medviewer on the same file waits for the lock (``busy_timeout``, ``BEGIN IMMEDIATE``)
instead of failing or corrupting it. Labels are keyed by DICOM UIDs; the file path of an
image is only a hint. Every change is appended to a ``history`` table that undo/redo uses.

A file this version cannot use (not SQLite, damaged, written by a newer medviewer) raises
:class:`~medviewer.errors.LabelStoreError` and is left byte-for-byte as it was;
:func:`fresh_store_path` names a new store beside it, so the user can start over and keep it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from medviewer.errors import LabelStoreError
from medviewer.labels import migrations
from medviewer.labels.migrations import APPLICATION_ID, SCHEMA_VERSION, STATE_FIELDS
from medviewer.labels.schema import (
    REVIEWS,
    SCOPES,
    SOURCES,
    STATUSES,
    Annotation,
    ModelRef,
    Region,
    SliceKey,
)

log = logging.getLogger(__name__)

FILE_NAME = "labels.sqlite"
UNDO_DEPTH = 1000
_SQLITE_MAGIC = b"SQLite format 3\x00"
_COLUMNS = (
    "id, study_uid, series_uid, sop_uid, frame, annotator, label, scope, source, model_name,"
    " model_version, model_sha256, region_x0, region_y0, region_x1, region_y1, status, review,"
    " reviewer, comment, created_at, updated_at, label_set, path_hint"
)
_STATE_COLUMNS = ", ".join(STATE_FIELDS)
_KEY_WHERE = "series_uid = ? AND sop_uid = ? AND frame = ? AND study_uid = ?"
# Parts of an annotation that undo/redo restore as a whole: the label itself, its review,
# its evidence region.
_UNDO_GROUPS = (
    (
        "active",
        "label",
        "scope",
        "source",
        "model_name",
        "model_version",
        "model_sha256",
        "status",
        "created_at",
        "label_set",
        "path_hint",
    ),
    ("review", "reviewer", "comment"),
    ("region_x0", "region_y0", "region_x1", "region_y1"),
)
_RESTART_HINT = (
    "it was left as it is; keep it (a backup may restore it) and start a new label store"
)


def default_store_path() -> Path:
    """``user_data_dir() / "labels.sqlite"`` ($MEDVIEWER_DATA_DIR, else the user data dir);
    the viewer's settings may name another file (``settings.label_store_path``)."""
    from medviewer.settings import label_store_path

    return label_store_path()


def now_utc() -> str:
    """The current time as ISO 8601 UTC with microseconds (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _dumps(state: dict[str, Any]) -> str:
    return json.dumps(state, separators=(",", ":"), ensure_ascii=False)


def _before_state(before: str, after: dict[str, Any]) -> dict[str, Any]:
    """The full state before an action: history keeps only the fields it changed."""
    return {**after, **json.loads(before)}


def _key_params(key: SliceKey) -> tuple[str, str, int, str]:
    return (key.series_uid, key.sop_uid, key.frame or 0, key.study_uid)


def _annotation(row: tuple) -> Annotation:
    """An Annotation from a row of :data:`_COLUMNS`."""
    (aid, study, series, sop, frame, annotator, label, scope, source, mname, mversion) = row[:11]
    msha, x0, y0, x1, y1, status, review, reviewer, comment, created, updated = row[11:22]
    label_set, hint = row[22:]
    return Annotation(
        id=aid,
        key=SliceKey(study, series, sop, frame or None),
        label=label,
        scope=scope,
        annotator=annotator,
        source=source,
        model=ModelRef(mname, mversion, msha) if mname else None,
        region=None if x0 is None else Region(x0, y0, x1, y1),
        status=status,
        review=review,
        reviewer=reviewer,
        comment=comment,
        created_at=created,
        updated_at=updated,
        label_set=label_set,
        path_hint=hint,
    )


def _state_of(ann: Annotation, active: int = 1) -> dict[str, Any]:
    """The history state (:data:`STATE_FIELDS`) of an annotation."""
    m, r = ann.model, ann.region
    return {
        "active": active,
        "label": ann.label,
        "scope": ann.scope,
        "source": ann.source,
        "model_name": m.name if m else "",
        "model_version": m.version if m else "",
        "model_sha256": m.sha256 if m else "",
        "region_x0": r.x0 if r else None,
        "region_y0": r.y0 if r else None,
        "region_x1": r.x1 if r else None,
        "region_y1": r.y1 if r else None,
        "status": ann.status,
        "review": ann.review,
        "reviewer": ann.reviewer,
        "comment": ann.comment,
        "created_at": ann.created_at,
        "updated_at": ann.updated_at,
        "label_set": ann.label_set,
        "path_hint": ann.path_hint,
    }


def _region_fields(region: Region | None) -> dict[str, float | None]:
    if region is None:
        return dict.fromkeys(("region_x0", "region_y0", "region_x1", "region_y1"))
    return {
        "region_x0": float(region.x0),
        "region_y0": float(region.y0),
        "region_x1": float(region.x1),
        "region_y1": float(region.y1),
    }


def check_region(region: Region | None) -> None:
    """Raise LabelStoreError unless ``region`` is None or a finite, non-empty rectangle."""
    if region is None:
        return
    values = (region.x0, region.y0, region.x1, region.y1)
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        raise LabelStoreError(f"evidence region {values} must hold four finite numbers")
    if not (region.x0 < region.x1 and region.y0 < region.y1):
        raise LabelStoreError(
            f"evidence region {values} is empty: it needs x0 < x1 and y0 < y1 (pixels of "
            "the slice, x = column, y = row)"
        )


def check_key(key: SliceKey, scope: str) -> None:
    """Raise LabelStoreError unless ``key`` has the shape ``scope`` needs."""
    if not isinstance(key, SliceKey):
        raise LabelStoreError(f"a label is keyed by a SliceKey, got {type(key).__name__}")
    if scope not in SCOPES:
        raise LabelStoreError(f"scope {scope!r} is not one of {', '.join(SCOPES)}")
    if not key.study_uid or not key.series_uid:
        raise LabelStoreError(f"{key} lacks its Study or Series Instance UID; labels need both")
    if key.frame is not None and (not isinstance(key.frame, int) or key.frame < 1):
        raise LabelStoreError(f"{key}: frame numbers start at 1, got {key.frame!r}")
    if scope == "slice" and not key.sop_uid:
        raise LabelStoreError(f"a slice label needs the SOP Instance UID of its image ({key})")
    if scope == "series" and (key.sop_uid or key.frame is not None):
        raise LabelStoreError(
            f"a series label is keyed by the series alone: give no SOP Instance UID or frame "
            f"({key})"
        )


def _check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise LabelStoreError(f"{what} {value!r} is not one of {shown}")


def _check_name(what: str, value: str) -> str:
    name = " ".join(str(value or "").split())
    if not name:
        raise LabelStoreError(f"the {what} name is empty; set it before labeling")
    return name


def _read_header(path: Path) -> bytes:
    try:
        with open(path, "rb") as fp:
            return fp.read(100)
    except OSError as exc:
        raise LabelStoreError(
            f"cannot read the label store {path} ({exc.strerror or exc}); check that the file "
            "exists and is readable"
        ) from exc


class LabelStore:
    """Labels of DICOM slices and series in one SQLite file.

    Parameters
    ----------
    path : path-like, optional
        The store file; ``user_data_dir() / "labels.sqlite"`` when None. Created (with its
        folder) when absent, unless ``create`` is False or ``read_only`` is True.
    busy_timeout_s : float
        How long a write waits for another instance's transaction before failing.
    read_only : bool
        Open for reading only: every write raises LabelStoreError.
    create : bool
        When False a missing file is an error instead of a new store.

    Every mutating call is one transaction: it either happens entirely or raises
    LabelStoreError (what, which file, what to do) and changes nothing.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        busy_timeout_s: float = 10.0,
        read_only: bool = False,
        create: bool = True,
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self.read_only = read_only
        self.busy_timeout_s = float(busy_timeout_s)
        self.migrated_from: int | None = None
        """The schema version the file had before this open upgraded it (None if none)."""
        self.backup_path: Path | None = None
        """Copy of the file taken before a migration."""
        self._lock = threading.RLock()
        self._depth = 0
        self._conn: sqlite3.Connection | None = None
        self._conn = self._open(create=create and not read_only)

    # -- opening --------------------------------------------------------------------------------
    def _open(self, *, create: bool) -> sqlite3.Connection:
        path = self.path
        exists = path.exists()
        if exists and not path.is_file():
            raise LabelStoreError(f"the label store {path} is a folder, not a file; choose a file")
        if exists:
            self._check_header(_read_header(path))
        elif not create:
            raise LabelStoreError(
                f"there is no label store at {path}; label some slices first or give the "
                "right file with --store"
            )
        else:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LabelStoreError(
                    f"cannot create the folder of the label store {path.parent} "
                    f"({exc.strerror or exc}); choose another place for the store"
                ) from exc
        mode = "ro" if self.read_only else "rwc"
        uri = f"file:{quote(str(path.absolute()))}?mode={mode}"
        try:
            conn = sqlite3.connect(
                uri,
                uri=True,
                timeout=self.busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise LabelStoreError(
                f"cannot open the label store {path} ({exc}); check the file and folder "
                "permissions, or choose another store"
            ) from exc
        try:
            self._prepare(conn, had_content=exists and path.stat().st_size > 0)
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_header(self, header: bytes) -> None:
        """Refuse files that are not SQLite or are from a newer schema without opening them."""
        if not header:
            return  # an empty file is an empty database
        if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
            raise LabelStoreError(
                f"{self.path} is not a label store (not an SQLite database file); {_RESTART_HINT}"
                " or choose the right file"
            )
        version = int.from_bytes(header[60:64], "big")
        app_id = int.from_bytes(header[68:72], "big")
        if app_id not in (0, APPLICATION_ID):
            raise LabelStoreError(
                f"{self.path} is an SQLite database of another program, not a medviewer label "
                "store; it was left as it is, choose another file"
            )
        if version > SCHEMA_VERSION:
            raise self._newer_error(version)

    def _newer_error(self, version: int) -> LabelStoreError:
        return LabelStoreError(
            f"the label store {self.path} was written by a newer medviewer (schema {version}, "
            f"this version reads up to {SCHEMA_VERSION}); it was left as it is: update "
            "medviewer to use it, or start a new label store"
        )

    def _prepare(self, conn: sqlite3.Connection, *, had_content: bool) -> None:
        path = self.path
        try:
            if had_content:
                rows = conn.execute("PRAGMA quick_check").fetchall()
                problems = [
                    line.strip()
                    for r in rows
                    for line in str(r[0]).splitlines()
                    if line.strip() and not line.startswith("***")
                ]
                if problems != ["ok"]:
                    raise LabelStoreError(
                        f"the label store {path} is damaged ({'; '.join(problems[:3])}); "
                        f"{_RESTART_HINT}"
                    )
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            ).fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise LabelStoreError(
                f"the label store {path} is damaged or not a database ({exc}); {_RESTART_HINT}"
            ) from exc
        if version > SCHEMA_VERSION:
            raise self._newer_error(version)
        if (version == 0 and tables) or (version and app_id != APPLICATION_ID):
            raise LabelStoreError(
                f"{path} is an SQLite database but not a medviewer label store; it was left "
                "as it is, choose another file"
            )
        if self.read_only:
            if version < SCHEMA_VERSION:
                raise LabelStoreError(
                    f"the label store {path} has schema {version} and must be upgraded to "
                    f"{SCHEMA_VERSION} before it can be read; open it once for writing"
                )
            self._pragmas(conn, wal=False)
            return
        self._pragmas(conn, wal=True)
        if version == SCHEMA_VERSION:
            return
        if version:
            self.backup_path = self._backup(conn, version)
        try:
            conn.execute("BEGIN IMMEDIATE")
            if version == 0:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                migrations.create_current(conn)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            else:
                migrations.migrate(conn, version)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            what = "create" if version == 0 else f"upgrade (schema {version} -> {SCHEMA_VERSION})"
            raise self._error(exc, f"{what} the label store") from exc
        if version:
            self.migrated_from = version
            log.info("label store %s upgraded from schema %d to %d", path, version, SCHEMA_VERSION)

    def _pragmas(self, conn: sqlite3.Connection, *, wal: bool) -> None:
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            if wal:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise LabelStoreError(
                        f"the label store {self.path} cannot use write-ahead logging (journal "
                        f"mode stays {mode!r}); put the store on a local disk"
                    )
                # FULL: a commit that returned survives a power cut, not only a crash.
                conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as exc:
            raise self._error(exc, "open the label store") from exc

    def _backup(self, conn: sqlite3.Connection, version: int) -> Path:
        """Copy the store before migrating it (``labels.sqlite.v1.bak``)."""
        dest = self.path.with_name(f"{self.path.name}.v{version}.bak")
        n = 1
        while dest.exists():
            dest = self.path.with_name(f"{self.path.name}.v{version}.bak{n}")
            n += 1
        try:
            target = sqlite3.connect(dest)
            try:
                conn.backup(target)
            finally:
                target.close()
        except sqlite3.Error as exc:
            raise self._error(exc, f"copy the store to {dest} before upgrading it") from exc
        return dest

    # -- files that cannot be opened ------------------------------------------------------------
    @staticmethod
    def _aside_name(path: Path, what: str) -> Path:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        for n in range(1000):
            extra = f"-{n}" if n else ""
            candidate = path.with_name(f"{path.stem}.{what}-{stamp}{extra}{path.suffix}")
            if not candidate.exists():
                return candidate
        raise LabelStoreError(f"no free file name beside {path} to keep a copy of it")

    @staticmethod
    def copy_aside(path: str | os.PathLike) -> Path:
        """Copy a store file (and its ``-wal`` journal) to a new name beside it, leaving the
        original untouched; returns the copy (to inspect, send for recovery, or open)."""
        path = Path(path)
        dest = LabelStore._aside_name(path, "copy")
        try:
            shutil.copyfile(path, dest)
            wal = path.with_name(path.name + "-wal")
            if wal.exists():
                shutil.copyfile(wal, dest.with_name(dest.name + "-wal"))
        except OSError as exc:
            raise LabelStoreError(
                f"cannot copy the label store {path} to {dest} ({exc.strerror or exc})"
            ) from exc
        return dest

    # -- life cycle -----------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection (the WAL is checkpointed into the file)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LabelStore({str(self.path)!r})"

    @property
    def conn(self) -> sqlite3.Connection:
        """The open connection (LabelStoreError once closed)."""
        if self._conn is None:
            raise LabelStoreError(f"the label store {self.path} is closed; open it again")
        return self._conn

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check``: "ok" or the problems found, one per line."""
        with self._lock:
            rows = self.conn.execute("PRAGMA integrity_check").fetchall()
        return "\n".join(r[0] for r in rows)

    # -- transactions ---------------------------------------------------------------------------
    def _error(self, exc: sqlite3.Error, action: str) -> LabelStoreError:
        """A LabelStoreError saying what failed, in which file, and what to do."""
        name = getattr(exc, "sqlite_errorname", "") or ""
        where = f"the label store {self.path}"
        if name.startswith("SQLITE_READONLY") or "readonly" in str(exc):
            why = (
                f"{where} is read-only (file or folder permissions, a read-only disk, or "
                "opened read-only); make it writable or choose another store"
            )
        elif name == "SQLITE_FULL" or "is full" in str(exc):
            why = f"the disk holding {where} is full; free some space and try again"
        elif name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            why = (
                f"{where} stayed locked by another program for {self.busy_timeout_s:g} s; try again"
            )
        elif name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            why = f"{where} is damaged ({exc}); keep the file and start a new label store"
        elif name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")):
            why = f"a disk error on {where} ({exc}); check the disk and try again"
        else:
            why = f"{where} failed ({exc})"
        return LabelStoreError(f"could not {action}: {why}; nothing was changed")

    @contextmanager
    def transaction(self, action: str = "write to the label store") -> Iterator[LabelStore]:
        """One write transaction (``BEGIN IMMEDIATE``): commit at the end, roll back on any
        exception. Mutating calls made inside join it, so a whole import is one commit."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            conn = self.conn
            if self.read_only:
                raise LabelStoreError(
                    f"could not {action}: the label store {self.path} was opened read-only; "
                    "nothing was changed"
                )
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._error(exc, action) from exc
            self._depth = 1
            try:
                yield self
                conn.execute("COMMIT")
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, sqlite3.Error):
                    raise self._error(exc, action) from exc
                raise
            finally:
                self._depth = 0

    def _rollback(self) -> None:
        conn = self._conn
        if conn is not None and conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:  # the transaction is gone already (SQLite rolled it back)
                log.debug("rollback after a failed write", exc_info=True)

    # -- reading --------------------------------------------------------------------------------
    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._error(exc, "read the labels") from exc

    def _row(self, key: SliceKey, annotator: str) -> tuple[int, dict[str, Any]] | None:
        """(id, state) of the key's row for ``annotator``, active or cleared."""
        rows = self.conn.execute(
            f"SELECT id, {_STATE_COLUMNS} FROM annotations WHERE {_KEY_WHERE} AND annotator = ?",
            (*_key_params(key), annotator),
        ).fetchall()
        if not rows:
            return None
        return rows[0][0], dict(zip(STATE_FIELDS, rows[0][1:]))

    def _get(self, aid: int) -> Annotation:
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM annotations WHERE id = ?", (aid,))
        return _annotation(row.fetchone())

    def current(self, key: SliceKey, *, annotator: str | None = None) -> Annotation | None:
        """The annotator's label of ``key``; with no annotator the most recently updated one."""
        sql = f"SELECT {_COLUMNS} FROM annotations WHERE {_KEY_WHERE} AND active = 1"
        params: tuple = _key_params(key)
        if annotator is not None:
            sql += " AND annotator = ?"
            params += (annotator,)
        rows = self._read(sql + " ORDER BY updated_at DESC, id DESC LIMIT 1", params)
        return _annotation(rows[0]) if rows else None

    def labels_of(self, key: SliceKey) -> list[Annotation]:
        """Every annotator's current label of ``key``, sorted by annotator."""
        sql = f"SELECT {_COLUMNS} FROM annotations WHERE {_KEY_WHERE} AND active = 1"
        return [_annotation(r) for r in self._read(sql + " ORDER BY annotator", _key_params(key))]

    def series_labels(
        self, series_uid: str, *, annotator: str | None = None
    ) -> dict[SliceKey, Annotation]:
        """Every current label in a series (one indexed query); with no annotator, the most
        recently updated label of each key."""
        sql = f"SELECT {_COLUMNS} FROM annotations WHERE series_uid = ? AND active = 1"
        params: tuple = (series_uid,)
        if annotator is not None:
            sql += " AND annotator = ?"
            params += (annotator,)
        out: dict[SliceKey, Annotation] = {}
        for row in self._read(sql + " ORDER BY updated_at, id", params):
            ann = _annotation(row)
            out[ann.key] = ann
        return out

    def query(
        self,
        *,
        series_uid: str | None = None,
        label: str | None = None,
        annotator: str | None = None,
        status: str | None = None,
        review: str | None = None,
        source: str | None = None,
        study_uid: str | None = None,
    ) -> list[Annotation]:
        """Current labels matching every filter given, in a stable order (study, series,
        image, frame, annotator) so exports are reproducible."""
        where, params = ["active = 1"], []
        for column, value in (
            ("series_uid", series_uid),
            ("study_uid", study_uid),
            ("label", label),
            ("annotator", annotator),
            ("status", status),
            ("review", review),
            ("source", source),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = (
            f"SELECT {_COLUMNS} FROM annotations WHERE {' AND '.join(where)}"
            " ORDER BY study_uid, series_uid, sop_uid, frame, annotator"
        )
        return [_annotation(r) for r in self._read(sql, tuple(params))]

    def annotators(self) -> list[str]:
        """Names of everyone with a current label, sorted."""
        rows = self._read("SELECT DISTINCT annotator FROM annotations WHERE active = 1")
        return sorted(r[0] for r in rows)

    def history(self, key: SliceKey, *, annotator: str | None = None) -> list[dict]:
        """Every state the key's annotation(s) went through, oldest first.

        Each entry: ``action`` (set, clear, region, review, status, undo, redo, import,
        migrate), ``at``, ``by`` (who acted), ``annotator`` (whose label), ``label`` (None
        once cleared), ``previous_label``, ``status``, ``review``, ``reviewer``, ``comment``,
        ``source``, ``model`` and ``region`` after the action.
        """
        sql = (
            "SELECT h.id, h.action, h.at, h.actor, a.annotator, h.target, h.before, h.after"
            " FROM history h JOIN annotations a ON a.id = h.annotation_id"
            " WHERE a.series_uid = ? AND a.sop_uid = ? AND a.frame = ? AND a.study_uid = ?"
        )
        params: tuple = _key_params(key)
        if annotator is not None:
            sql += " AND a.annotator = ?"
            params += (annotator,)
        out = []
        for hid, action, at, actor, owner, target, before, after in self._read(
            sql + " ORDER BY h.id", params
        ):
            a = json.loads(after)
            b = _before_state(before, a)
            model = f"{a['model_name']}:{a['model_version']}" if a["model_name"] else ""
            region = None
            if a["region_x0"] is not None:
                region = Region(a["region_x0"], a["region_y0"], a["region_x1"], a["region_y1"])
            out.append(
                {
                    "id": hid,
                    "action": action,
                    "at": at,
                    "by": actor,
                    "annotator": owner,
                    "target": target,
                    "label": a["label"] if a["active"] else None,
                    "previous_label": b["label"] if b["active"] else None,
                    "status": a["status"],
                    "review": a["review"],
                    "reviewer": a["reviewer"],
                    "comment": a["comment"],
                    "source": a["source"],
                    "model": model,
                    "region": region,
                }
            )
        return out

    def stats(self) -> dict:
        """Counts of current labels: total and by label, annotator, status, review, source."""
        out: dict[str, Any] = {
            "total": self._read("SELECT count(*) FROM annotations WHERE active = 1")[0][0]
        }
        for column in ("label", "annotator", "status", "review", "source"):
            rows = self._read(
                f"SELECT {column}, count(*) FROM annotations WHERE active = 1"
                f" GROUP BY {column} ORDER BY {column}"
            )
            out[f"by_{column}"] = {value: n for value, n in rows}
        return out

    # -- writing --------------------------------------------------------------------------------
    def _write_state(
        self,
        key: SliceKey,
        annotator: str,
        found: tuple[int, dict] | None,
        new: dict[str, Any],
        *,
        action: str,
        actor: str,
        target: int | None = None,
        undoable: bool = True,
    ) -> int:
        """Store ``new`` as the key's state for ``annotator`` and append the change to the
        history (and to the actor's undo stack). Runs inside a transaction."""
        conn = self.conn
        if found is None:
            cols = ", ".join(STATE_FIELDS)
            marks = ", ".join("?" for _ in STATE_FIELDS)
            cur = conn.execute(
                "INSERT INTO annotations (study_uid, series_uid, sop_uid, frame, annotator, "
                f"{cols}) VALUES (?, ?, ?, ?, ?, {marks})",
                (key.study_uid, key.series_uid, key.sop_uid, key.frame or 0, annotator)
                + tuple(new[f] for f in STATE_FIELDS),
            )
            aid, before = cur.lastrowid, {**new, "active": 0}
        else:
            aid, before = found
            sets = ", ".join(f"{f} = ?" for f in STATE_FIELDS)
            conn.execute(
                f"UPDATE annotations SET {sets} WHERE id = ?",
                tuple(new[f] for f in STATE_FIELDS) + (aid,),
            )
        # ``before`` keeps only the fields that differ from ``after`` (see _before_state).
        diff = {f: before[f] for f in STATE_FIELDS if before[f] != new[f]}
        hid = conn.execute(
            "INSERT INTO history (annotation_id, action, actor, at, target, before, after)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (aid, action, actor, new["updated_at"], target, _dumps(diff), _dumps(new)),
        ).lastrowid
        if undoable:
            conn.execute("DELETE FROM undo_stack WHERE actor = ? AND kind = 'redo'", (actor,))
            conn.execute("INSERT INTO undo_stack VALUES (?, 'undo', ?)", (actor, hid))
            conn.execute(
                "DELETE FROM undo_stack WHERE actor = ? AND kind = 'undo' AND history_id <= ("
                " SELECT history_id FROM undo_stack WHERE actor = ? AND kind = 'undo'"
                " ORDER BY history_id DESC LIMIT 1 OFFSET ?)",
                (actor, actor, UNDO_DEPTH),
            )
        return aid

    @staticmethod
    def _changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
        return any(old[f] != new[f] for f in STATE_FIELDS if f != "updated_at")

    def set_label(
        self,
        key: SliceKey,
        label: str,
        *,
        annotator: str,
        scope: str = "slice",
        source: str = "human",
        model: ModelRef | None = None,
        region: Region | None = None,
        status: str = "final",
        label_set: str = "headct-lesions",
        path_hint: str = "",
        comment: str | None = None,
    ) -> Annotation:
        """Give ``key`` the label ``label`` from ``annotator`` (one transaction).

        Setting it again updates the annotation: ``created_at`` is kept, the old state goes to
        the history. A changed label drops its review (it judged the old label). ``region``
        None keeps the evidence already drawn (:meth:`set_region` clears it); ``comment`` None
        keeps the comment. Setting exactly what is there changes nothing.
        """
        annotator = _check_name("annotator", annotator)
        if not isinstance(label, str) or not label.strip():
            raise LabelStoreError(f"the label of {key} is empty; choose a class")
        label = label.strip()
        check_key(key, scope)
        _check_choice("source", source, SOURCES)
        _check_choice("status", status, STATUSES)
        if source == "model" and (model is None or not model.name):
            raise LabelStoreError(
                "a label accepted from a model needs the model's name, version and sha256"
            )
        if source == "human" and model is not None:
            raise LabelStoreError(
                f"a human label carries no model (got {model}); use source='model' for an "
                "accepted suggestion"
            )
        check_region(region)
        with self.transaction("save the label"):
            found = self._row(key, annotator)
            now = now_utc()
            old = found[1] if found else None
            if old is not None and old["active"]:
                new = dict(old)
                if old["label"] != label:
                    new.update(review="", reviewer="", comment="")
            else:
                new = {f: "" for f in STATE_FIELDS}
                new.update(_region_fields(None), created_at=now, review="")
            new.update(
                active=1,
                label=label,
                scope=scope,
                source=source,
                model_name=model.name if model else "",
                model_version=model.version if model else "",
                model_sha256=model.sha256 if model else "",
                status=status,
                label_set=label_set or "",
                path_hint=path_hint or (old["path_hint"] if old else ""),
                updated_at=now,
            )
            if region is not None:
                new.update(_region_fields(region))
            if comment is not None:
                new["comment"] = comment
            if old is not None and old["active"] and not self._changed(old, new):
                return self._get(found[0])
            aid = self._write_state(key, annotator, found, new, action="set", actor=annotator)
            return self._get(aid)

    def _edit(
        self, key: SliceKey, annotator: str, action: str, actor: str, changes: dict, what: str
    ) -> Annotation:
        """Change fields of an existing current annotation (one transaction)."""
        with self.transaction(what):
            found = self._row(key, annotator)
            if found is None or not found[1]["active"]:
                raise LabelStoreError(
                    f"could not {what}: {annotator} has no label on {key}; label it first"
                )
            aid, old = found
            new = {**old, **changes}
            if not self._changed(old, new):
                return self._get(aid)
            new["updated_at"] = now_utc()
            self._write_state(key, annotator, found, new, action=action, actor=actor)
            return self._get(aid)

    def clear_label(self, key: SliceKey, *, annotator: str) -> bool:
        """Remove ``annotator``'s label of ``key`` (kept in the history; undo brings it
        back). False when there was none."""
        annotator = _check_name("annotator", annotator)
        with self.transaction("clear the label"):
            found = self._row(key, annotator)
            if found is None or not found[1]["active"]:
                return False
            new = {**found[1], "active": 0, "updated_at": now_utc()}
            self._write_state(key, annotator, found, new, action="clear", actor=annotator)
            return True

    def set_region(self, key: SliceKey, *, annotator: str, region: Region | None) -> Annotation:
        """Attach (or with None remove) the evidence rectangle of a label."""
        annotator = _check_name("annotator", annotator)
        check_region(region)
        return self._edit(
            key, annotator, "region", annotator, _region_fields(region), "save the evidence"
        )

    def set_status(self, key: SliceKey, *, annotator: str, status: str) -> Annotation:
        """Mark a label ``draft`` or ``final``."""
        annotator = _check_name("annotator", annotator)
        _check_choice("status", status, STATUSES)
        return self._edit(
            key, annotator, "status", annotator, {"status": status}, "change the status"
        )

    def review(
        self, key: SliceKey, *, annotator: str, verdict: str, reviewer: str, comment: str = ""
    ) -> Annotation:
        """Approve or flag ``annotator``'s label (``verdict`` "" withdraws the review). The
        action is the reviewer's: their undo takes it back."""
        annotator = _check_name("annotator", annotator)
        _check_choice("review verdict", verdict, REVIEWS)
        if verdict:
            reviewer = _check_name("reviewer", reviewer)
            changes = {"review": verdict, "reviewer": reviewer, "comment": comment or ""}
        else:
            reviewer = " ".join(str(reviewer or "").split()) or annotator
            changes = {"review": "", "reviewer": "", "comment": ""}
        return self._edit(key, annotator, "review", reviewer, changes, "save the review")

    def _step(self, actor: str, kind: str) -> SliceKey | None:
        """Undo (kind 'undo') or redo the actor's last action; returns its key."""
        actor = _check_name("annotator", actor)
        pick = "max" if kind == "undo" else "min"
        with self.transaction(f"{kind} the last labeling action"):
            conn = self.conn
            hid = conn.execute(
                f"SELECT {pick}(history_id) FROM undo_stack WHERE actor = ? AND kind = ?",
                (actor, kind),
            ).fetchone()[0]
            if hid is None:
                return None
            aid, before, after = conn.execute(
                "SELECT annotation_id, before, after FROM history WHERE id = ?", (hid,)
            ).fetchone()
            new_state = json.loads(after)
            old_state = _before_state(before, new_state)
            if kind == "redo":
                old_state, new_state = new_state, old_state
            row = conn.execute(
                f"SELECT study_uid, series_uid, sop_uid, frame, annotator, {_STATE_COLUMNS}"
                " FROM annotations WHERE id = ?",
                (aid,),
            ).fetchone()
            key = SliceKey(row[0], row[1], row[2], row[3] or None)
            current = dict(zip(STATE_FIELDS, row[5:]))
            # Only the parts that action changed go back, and only where nobody changed them
            # since: undoing an old label never wipes a later review, import or relabel.
            restored = dict(current)
            for group in _UNDO_GROUPS:
                changed = any(old_state[f] != new_state[f] for f in group)
                untouched = all(current[f] == new_state[f] for f in group)
                if changed and untouched:
                    restored.update({f: old_state[f] for f in group})
            restored["updated_at"] = now_utc()
            self._write_state(
                key,
                row[4],
                (aid, current),
                restored,
                action=kind,
                actor=actor,
                target=hid,
                undoable=False,
            )
            other = "redo" if kind == "undo" else "undo"
            conn.execute(
                "DELETE FROM undo_stack WHERE actor = ? AND kind = ? AND history_id = ?",
                (actor, kind, hid),
            )
            conn.execute("INSERT INTO undo_stack VALUES (?, ?, ?)", (actor, other, hid))
            return key

    def undo(self, *, annotator: str) -> SliceKey | None:
        """Undo ``annotator``'s last action (set, clear, review, region, status); returns the
        key it touched, or None when there is nothing to undo."""
        return self._step(annotator, "undo")

    def redo(self, *, annotator: str) -> SliceKey | None:
        """Redo the last undone action (a new action clears what can be redone)."""
        return self._step(annotator, "redo")

    def can_undo(self, *, annotator: str) -> bool:
        return bool(
            self._read(
                "SELECT 1 FROM undo_stack WHERE actor = ? AND kind = 'undo' LIMIT 1", (annotator,)
            )
        )

    def can_redo(self, *, annotator: str) -> bool:
        return bool(
            self._read(
                "SELECT 1 FROM undo_stack WHERE actor = ? AND kind = 'redo' LIMIT 1", (annotator,)
            )
        )

    def import_annotation(self, ann: Annotation) -> Annotation:
        """Write a complete annotation (from an import file) as the current state of its key
        and annotator, times and provenance as given; recorded in the history as ``import``
        and not on anyone's undo stack. Use inside :meth:`transaction` for bulk imports."""
        annotator = _check_name("annotator", ann.annotator)
        check_key(ann.key, ann.scope)
        _check_choice("source", ann.source, SOURCES)
        _check_choice("status", ann.status, STATUSES)
        _check_choice("review", ann.review, REVIEWS)
        check_region(ann.region)
        with self.transaction("import the label"):
            found = self._row(ann.key, annotator)
            new = _state_of(ann)
            aid = self._write_state(
                ann.key, annotator, found, new, action="import", actor=annotator, undoable=False
            )
            return self._get(aid)


def fresh_store_path(path: str | os.PathLike) -> Path:
    """A new store file beside ``path`` (``labels-new-<time>.sqlite``) that does not exist
    yet: where to start over when ``path`` cannot be opened; ``path`` itself is kept."""
    path = Path(path)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        candidate = path.with_name(f"{path.stem}-new-{stamp}{f'-{n}' if n else ''}.sqlite")
        if not candidate.exists():
            return candidate
    raise LabelStoreError(f"no free file name for a new label store beside {path}")


__all__ = [
    "FILE_NAME",
    "LabelStore",
    "check_key",
    "check_region",
    "default_store_path",
    "fresh_store_path",
    "now_utc",
]
