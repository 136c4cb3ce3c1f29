"""Recover what can still be read from a damaged label store into a new one.

A store refused as damaged usually has one or two bad pages; most of the annotators' work
is still readable. :func:`salvage` copies every readable annotation and the history entries
that belong to them into a new store beside the damaged file, which stays byte for byte as
it was (it is read through a copy). Rows on unreadable pages are counted as lost; nothing
is guessed. The undo stacks are not carried over (they are derived state).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from medviewer.errors import LabelStoreError
from medviewer.labels.store import LabelStore
from medviewer.labels.store_connection import StoreConnection, fresh_store_path

log = logging.getLogger(__name__)

TABLES = ("annotations", "history")
PROBE_AHEAD = 20_000
"""How many row ids past a damaged stretch are tried one by one before giving up."""


@dataclass(frozen=True)
class Salvaged:
    """What :func:`salvage` recovered: the new store and, per table, rows copied and
    whether some could not be read (``damaged``) or were left out (``dropped``, e.g. a
    history entry whose annotation was lost)."""

    path: Path
    copied: dict[str, int]
    dropped: dict[str, int]
    damaged: tuple[str, ...]

    def summary(self, source: str | os.PathLike) -> str:
        labels = self.copied.get("annotations", 0)
        history = self.copied.get("history", 0)
        text = f"Recovered {labels} label(s) and {history} history entries from {source} into "
        text += f"{self.path}"
        if self.damaged:
            text += f"; rows on damaged pages of {', '.join(self.damaged)} could not be read"
        lost = sum(self.dropped.values())
        if lost:
            text += f"; {lost} row(s) whose labels were lost were left out"
        return text + f". The damaged file {source} is unchanged."


def _rows(conn: sqlite3.Connection, table: str) -> tuple[list[str], list[tuple], bool]:
    """(columns, readable rows in row id order, whether some part could not be read)."""
    try:
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    except sqlite3.DatabaseError:
        return [], [], True
    if not columns:
        return [], [], True
    rows: list[tuple] = []
    damaged = False
    last = 0
    while True:
        try:
            cursor = conn.execute(
                f"SELECT rowid, * FROM {table} WHERE rowid > ? ORDER BY rowid", (last,)
            )
            for row in cursor:
                rows.append(tuple(row[1:]))
                last = row[0]
            return columns, rows, damaged
        except sqlite3.DatabaseError:
            damaged = True
            found = None
            for rowid in range(last + 1, last + 1 + PROBE_AHEAD):
                try:
                    hit = conn.execute(f"SELECT rowid FROM {table} WHERE rowid = ?", (rowid,))
                    if hit.fetchone() is not None:
                        found = rowid
                        break
                except sqlite3.DatabaseError:
                    continue
            if found is None:
                return columns, rows, damaged
            # read the found row alone (the range read may fail on the same page again)
            try:
                row = conn.execute(f"SELECT * FROM {table} WHERE rowid = ?", (found,)).fetchone()
                rows.append(tuple(row))
            except sqlite3.DatabaseError:
                pass
            last = found


def salvage(path: str | os.PathLike) -> Salvaged:
    """Copy the readable annotations and their history from the damaged store ``path`` into
    a new store beside it (:func:`~medviewer.labels.store_connection.fresh_store_path`)."""
    path = Path(path)
    copy = StoreConnection.copy_aside(path)  # read a copy: the damaged file stays as it is
    try:
        source = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise LabelStoreError(f"{path} cannot be read at all ({exc}); nothing to recover") from exc
    try:
        read = {table: _rows(source, table) for table in TABLES}
    finally:
        source.close()
        for extra in (copy, copy.with_name(copy.name + "-wal"), copy.with_name(copy.name + "-shm")):
            extra.unlink(missing_ok=True)
    if not read["annotations"][0]:
        raise LabelStoreError(
            f"{path}: no table of labels could be read; it may not be a medviewer label store "
            "or its first pages are damaged; keep the file for a recovery service"
        )
    dest = fresh_store_path(path)
    copied: dict[str, int] = {}
    dropped: dict[str, int] = {}
    with LabelStore(dest) as store:
        conn = store.conn
        with store.transaction("recover labels from a damaged store"):
            known: dict[str, set] = {}
            for table in TABLES:
                columns, rows, _ = read[table]
                target = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
                shared = [c for c in columns if c in target]
                at = [columns.index(c) for c in shared]
                sql = (
                    f"INSERT INTO {table} ({', '.join(shared)}) "
                    f"VALUES ({', '.join('?' for _ in shared)})"
                )
                ids: set = set()
                copied[table] = dropped[table] = 0
                for row in rows:
                    values = {c: row[i] for c, i in zip(shared, at)}
                    if table == "history" and (
                        values.get("annotation_id") not in known["annotations"]
                        or (values.get("target") is not None and values["target"] not in ids)
                    ):
                        dropped[table] += 1
                        continue
                    try:
                        conn.execute(sql, [values[c] for c in shared])
                    except sqlite3.Error as exc:  # a row the schema refuses: not guessed at
                        log.info("not recovered from %s.%s: %s", path, table, exc)
                        dropped[table] += 1
                        continue
                    ids.add(values.get("id"))
                    copied[table] += 1
                known[table] = ids
    damaged = tuple(t for t in TABLES if read[t][2])
    return Salvaged(dest, copied, dropped, damaged)


__all__ = ["Salvaged", "salvage"]
