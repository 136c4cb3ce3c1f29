"""The label store's connection: opening the file, its pragmas, and its transactions.

Opening refuses, without changing a byte, a file this version cannot use (not SQLite,
damaged, another program's database, written by a newer medviewer); it creates a new store
or upgrades an old one (after a backup copy) in one ``BEGIN IMMEDIATE`` transaction. The
pragmas make every commit durable (WAL journal, ``synchronous=FULL``) and make a second
instance wait for the lock (``busy_timeout``). :meth:`StoreConnection.transaction` is the one
write transaction every mutating call runs in; :meth:`StoreConnection._read` the locked read.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Self
from urllib.parse import quote

from medviewer.errors import LabelStoreError
from medviewer.labels import migrations
from medviewer.labels.migrations import APPLICATION_ID, SCHEMA_VERSION
from medviewer.sqlite_files import OwnsConnection, durable_wal, file_facts

# The store's log name, as before the store was split into modules.
log = logging.getLogger("medviewer.labels.store")

_SQLITE_MAGIC = b"SQLite format 3\x00"
_RESTART_HINT = (
    "it was left as it is; keep it (a backup may restore it) and start a new label store"
)


def default_store_path() -> Path:
    """``user_data_dir() / "labels.sqlite"`` ($MEDVIEWER_DATA_DIR, else the user data dir);
    the viewer's settings may name another file (``settings.label_store_path``)."""
    from medviewer.settings import label_store_path

    return label_store_path()


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


def _read_header(path: Path) -> bytes:
    try:
        with open(path, "rb") as fp:
            return fp.read(100)
    except OSError as exc:
        raise LabelStoreError(
            f"cannot read the label store {path} ({exc.strerror or exc}); check that the file "
            "exists and is readable"
        ) from exc


FULL_DISK_BYTES = 1 << 20
"""Less than this free beside the store counts as a full disk."""


def _disk_problem(exc: sqlite3.Error, path: Path) -> str | None:
    """What to say when ``exc`` comes from the disk, not from the file: a full disk or an I/O
    error is no damage, and recovering into a new store on that disk would not help."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc).lower()
    from_disk = ("disk i/o error", "database or disk is full")
    if not (name.startswith(("SQLITE_IOERR", "SQLITE_FULL")) or any(t in text for t in from_disk)):
        return None  # "database disk image is malformed" is damage: not this
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    if free is not None and free < FULL_DISK_BYTES:
        return (
            f"the disk holding the label store {path} is full ({free // 1024} KB free); the "
            "store was not changed: free some space, then open it again"
        )
    return (
        f"the label store {path} could not be read from the disk ({exc}); the store was not "
        "changed: check the disk or network share, then open it again"
    )


class StoreConnection(OwnsConnection):
    """The open SQLite connection of a :class:`~medviewer.labels.store.LabelStore`, its lock
    and its transactions (see LabelStore for the parameters)."""

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
            facts = file_facts(conn, check=had_content)
        except sqlite3.DatabaseError as exc:
            disk = _disk_problem(exc, path)
            if disk:
                raise LabelStoreError(disk) from exc
            raise LabelStoreError(
                f"the label store {path} is damaged or not a database ({exc}); {_RESTART_HINT}"
            ) from exc
        if facts.damaged:
            raise LabelStoreError(
                f"the label store {path} is damaged ({'; '.join(facts.problems[:3])}); "
                f"{_RESTART_HINT}"
            )
        version = facts.version
        if version > SCHEMA_VERSION:
            raise self._newer_error(version)
        if facts.foreign(APPLICATION_ID):
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
            # another process (a second instance started at the same moment) may have created
            # or upgraded the store while this one waited for the write lock: read it again
            now = conn.execute("PRAGMA user_version").fetchone()[0]
            if now != version:
                conn.execute("ROLLBACK")
                if now == SCHEMA_VERSION:
                    return
                raise (
                    self._newer_error(now)
                    if now > SCHEMA_VERSION
                    else LabelStoreError(
                        f"the label store {path} changed while it was being opened (schema "
                        f"{version} -> {now}); open it again"
                    )
                )
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
                durable_wal(conn, f"the label store {self.path}", LabelStoreError)
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
        dest = StoreConnection._aside_name(path, "copy")
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
    def transaction(self, action: str = "write to the label store") -> Iterator[Self]:
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
