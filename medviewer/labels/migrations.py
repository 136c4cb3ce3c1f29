"""The store's SQL schema and the steps that bring an older store file up to date.

The schema version lives in ``PRAGMA user_version``. Version 1 (the first design) kept one row
per label with the model as ``name:version`` text and deleted a row to clear a label; it had
no review, no evidence region, no label-set name and no history. Version 2 adds those, keeps
cleared labels as inactive rows (so their history stays attached), and records every change
in an append-only ``history`` table that undo/redo is built on.

Each step runs inside the caller's transaction, so a failed migration leaves the file as it
was.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

SCHEMA_VERSION = 2
APPLICATION_ID = 0x4D564C42  # "MVLB": marks the file as a medviewer label store

SCHEMA_V2 = """
CREATE TABLE annotations (
    id            INTEGER PRIMARY KEY,
    study_uid     TEXT NOT NULL,
    series_uid    TEXT NOT NULL,
    sop_uid       TEXT NOT NULL DEFAULT '',
    frame         INTEGER NOT NULL DEFAULT 0 CHECK (frame >= 0),  -- 0: single-frame image
    annotator     TEXT NOT NULL CHECK (annotator <> ''),
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),  -- 0: cleared
    label         TEXT NOT NULL,
    scope         TEXT NOT NULL CHECK (scope IN ('slice', 'series')),
    source        TEXT NOT NULL CHECK (source IN ('human', 'model')),
    model_name    TEXT NOT NULL DEFAULT '',
    model_version TEXT NOT NULL DEFAULT '',
    model_sha256  TEXT NOT NULL DEFAULT '',
    region_x0     REAL,
    region_y0     REAL,
    region_x1     REAL,
    region_y1     REAL,
    status        TEXT NOT NULL CHECK (status IN ('draft', 'final')),
    review        TEXT NOT NULL DEFAULT '' CHECK (review IN ('', 'approved', 'flagged')),
    reviewer      TEXT NOT NULL DEFAULT '',
    comment       TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    label_set     TEXT NOT NULL DEFAULT '',
    path_hint     TEXT NOT NULL DEFAULT ''
);
-- One row per key and annotator; series_uid first so a series' labels are one index range.
CREATE UNIQUE INDEX annotations_key
    ON annotations (series_uid, sop_uid, frame, annotator, study_uid);
CREATE INDEX annotations_annotator ON annotations (annotator, active);
CREATE INDEX annotations_label ON annotations (label, active);

CREATE TABLE history (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    annotation_id INTEGER NOT NULL REFERENCES annotations (id) ON DELETE RESTRICT,
    action        TEXT NOT NULL,
    actor         TEXT NOT NULL,
    at            TEXT NOT NULL,
    target        INTEGER REFERENCES history (id),  -- the entry an undo / redo applies to
    before        TEXT NOT NULL,  -- JSON: the fields the action changed, as they were
    after         TEXT NOT NULL   -- JSON: the whole state after it
);
CREATE INDEX history_annotation ON history (annotation_id, id);
CREATE TRIGGER history_no_update BEFORE UPDATE ON history
    BEGIN SELECT RAISE(ABORT, 'the label history is append-only'); END;
CREATE TRIGGER history_no_delete BEFORE DELETE ON history
    BEGIN SELECT RAISE(ABORT, 'the label history is append-only'); END;

-- Each actor's undo and redo stacks: derived state pointing into the history.
CREATE TABLE undo_stack (
    actor      TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('undo', 'redo')),
    history_id INTEGER NOT NULL REFERENCES history (id),
    PRIMARY KEY (actor, kind, history_id)
) WITHOUT ROWID;
"""

# Columns of an annotation's state as kept in history JSON (everything but the key).
STATE_FIELDS = (
    "active",
    "label",
    "scope",
    "source",
    "model_name",
    "model_version",
    "model_sha256",
    "region_x0",
    "region_y0",
    "region_x1",
    "region_y1",
    "status",
    "review",
    "reviewer",
    "comment",
    "created_at",
    "updated_at",
    "label_set",
    "path_hint",
)


def create_current(conn: sqlite3.Connection) -> None:
    """Create the current schema in an empty database."""
    for statement in _statements(SCHEMA_V2):
        conn.execute(statement)


def _statements(script: str) -> list[str]:
    """Split a DDL script into statements (triggers hold ';' inside BEGIN ... END)."""
    out, buf = [], ""
    for line in script.splitlines():
        line = line.split("--", 1)[0].rstrip()
        if not line:
            continue
        buf += line + "\n"
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return out


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """v1 -> v2: split ``model`` into name/version, add review, region, label set, the
    inactive flag and the history (one ``migrate`` entry per label, so none lacks one)."""
    conn.execute("ALTER TABLE annotations RENAME TO annotations_v1")
    conn.execute("DROP INDEX IF EXISTS annotations_v1_key")
    conn.execute("DROP INDEX IF EXISTS annotations_v1_series")
    create_current(conn)
    rows = conn.execute(
        "SELECT id, study_uid, series_uid, sop_uid, frame, annotator, label, scope, source,"
        " model, status, created_at, updated_at, path_hint FROM annotations_v1 ORDER BY id"
    ).fetchall()
    for row in rows:
        (aid, study, series, sop, frame, annotator, label, scope, source, model, status) = row[:11]
        created, updated, hint = row[11:]
        name, _, version = (model or "").partition(":")
        conn.execute(
            "INSERT INTO annotations (id, study_uid, series_uid, sop_uid, frame, annotator,"
            " active, label, scope, source, model_name, model_version, status, created_at,"
            " updated_at, label_set, path_hint)"
            " VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, 'headct-lesions', ?)",
            (aid, study, series, sop or "", frame or 0, annotator, label, scope, source)
            + (name, version, status, created, updated, hint or ""),
        )
        state = dict(
            zip(
                STATE_FIELDS,
                conn.execute(
                    f"SELECT {', '.join(STATE_FIELDS)} FROM annotations WHERE id = ?", (aid,)
                ).fetchone(),
            )
        )
        conn.execute(
            "INSERT INTO history (annotation_id, action, actor, at, before, after)"
            " VALUES (?, 'migrate', ?, ?, ?, ?)",
            (aid, annotator, updated, json.dumps({**state, "active": 0}), json.dumps(state)),
        )
    conn.execute("DROP TABLE annotations_v1")


# MIGRATIONS[v] brings a version-v store to version v + 1.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_1_to_2}


def migrate(conn: sqlite3.Connection, version: int) -> None:
    """Apply every step from ``version`` to :data:`SCHEMA_VERSION` (caller's transaction)."""
    while version < SCHEMA_VERSION:
        MIGRATIONS[version](conn)
        version += 1
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


__all__ = ["APPLICATION_ID", "MIGRATIONS", "SCHEMA_VERSION", "STATE_FIELDS", "migrate"]
