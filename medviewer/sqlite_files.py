"""What medviewer's SQLite files have in common: reading what a file is, durable
write-ahead logging, and closing it.

The label store (:mod:`medviewer.labels.store`) and the triage results
(:mod:`medviewer.triage.store`) both open a file that may be damaged, another program's or
written by a newer medviewer, and refuse it untouched; each says so in its own words.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from typing import Self


@dataclass(frozen=True)
class FileFacts:
    """What an open SQLite file says about itself."""

    problems: list[str]
    """``PRAGMA quick_check``'s findings (``["ok"]`` when sound; empty when not checked)."""
    version: int
    """``PRAGMA user_version``: the schema or format version its writer set."""
    app_id: int
    """``PRAGMA application_id``: which program wrote it."""
    tables: int

    @property
    def damaged(self) -> bool:
        return bool(self.problems) and self.problems != ["ok"]

    def foreign(self, application_id: int) -> bool:
        """Another program's database: tables without our version, or another writer's id."""
        return (self.version == 0 and self.tables > 0) or (
            self.version > 0 and self.app_id != application_id
        )


def file_facts(conn: sqlite3.Connection, *, check: bool) -> FileFacts:
    """Read the facts of ``conn``'s file (``check``: run a quick integrity check first).
    Raises ``sqlite3.DatabaseError`` when the file is not a database at all."""
    problems: list[str] = []
    if check:
        problems = [
            line.strip()
            for row in conn.execute("PRAGMA quick_check").fetchall()
            for line in str(row[0]).splitlines()
            if line.strip() and not line.startswith("***")
        ]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    tables = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
    ).fetchone()[0]
    return FileFacts(problems, int(version), int(app_id), int(tables))


class OwnsConnection:
    """``close()`` under the owner's lock, and use as a context manager. The owner keeps its
    connection in ``self._conn`` (None once closed) and a ``threading.RLock`` in
    ``self._lock``."""

    _conn: sqlite3.Connection | None
    _lock: threading.RLock

    def close(self) -> None:
        """Close the connection (in WAL mode the log is checkpointed into the file)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


__all__ = ["FileFacts", "OwnsConnection", "file_facts"]


def durable_wal(conn: sqlite3.Connection, what: str, error: type[Exception]) -> None:
    """Write-ahead logging with FULL sync (a commit that returned survives a power cut, not
    only a crash); ``error`` names ``what`` (e.g. "the label store /x.sqlite") when the file's
    filesystem cannot do WAL (network shares often cannot)."""
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() != "wal":
        raise error(
            f"{what} cannot use write-ahead logging (journal mode stays {mode!r}); put it on a "
            "local disk"
        )
    conn.execute("PRAGMA synchronous = FULL")
