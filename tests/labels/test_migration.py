"""A store written by the first schema (v1, SQL kept here as it shipped) is upgraded."""

import hashlib
import sqlite3

import pytest

from medviewer.errors import LabelStoreError
from medviewer.labels.migrations import APPLICATION_ID, SCHEMA_VERSION
from medviewer.labels.schema import ModelRef, SliceKey
from medviewer.labels.store import LabelStore

# Schema 1 as the first medviewer wrote it: no review, region, label set or history; the
# model as "name:version"; a cleared label was a deleted row.
SCHEMA_V1 = f"""
PRAGMA application_id = {APPLICATION_ID};
PRAGMA user_version = 1;
CREATE TABLE annotations (
    id         INTEGER PRIMARY KEY,
    study_uid  TEXT NOT NULL,
    series_uid TEXT NOT NULL,
    sop_uid    TEXT NOT NULL DEFAULT '',
    frame      INTEGER,
    annotator  TEXT NOT NULL,
    label      TEXT NOT NULL,
    scope      TEXT NOT NULL,
    source     TEXT NOT NULL,
    model      TEXT NOT NULL DEFAULT '',
    status     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    path_hint  TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX annotations_v1_key
    ON annotations (study_uid, series_uid, sop_uid, frame, annotator);
CREATE INDEX annotations_v1_series ON annotations (series_uid);
INSERT INTO annotations VALUES
    (1, '1.2', '1.2.3', '1.2.3.1', NULL, 'alice', 'normal', 'slice', 'human', '', 'final',
     '2025-01-02T03:04:05.000000+00:00', '2025-01-02T03:04:05.000000+00:00', '/d/1.dcm'),
    (2, '1.2', '1.2.3', '1.2.3.2', 4, 'alice', 'hyperdense_lesion', 'slice', 'model',
     'headct-lesions:0.9.0', 'draft',
     '2025-01-02T03:04:06.000000+00:00', '2025-01-03T00:00:00.000000+00:00', ''),
    (3, '1.2', '1.2.3', '', NULL, 'bob', 'normal', 'series', 'human', '', 'final',
     '2025-01-04T00:00:00.000000+00:00', '2025-01-04T00:00:00.000000+00:00', '');
"""


@pytest.fixture
def v1_store(tmp_path):
    path = tmp_path / "labels.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_V1)
    conn.close()
    return path


def test_v1_store_is_upgraded_with_every_label_and_a_backup(v1_store):
    original = hashlib.sha256(v1_store.read_bytes()).hexdigest()
    with LabelStore(v1_store) as store:
        assert store.migrated_from == 1
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store.integrity_check() == "ok"
        assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []
        a = store.current(SliceKey("1.2", "1.2.3", "1.2.3.1"), annotator="alice")
        assert (a.label, a.path_hint, a.review, a.region) == ("normal", "/d/1.dcm", "", None)
        assert a.created_at == "2025-01-02T03:04:05.000000+00:00"
        b = store.current(SliceKey("1.2", "1.2.3", "1.2.3.2", 4))
        assert b.model == ModelRef("headct-lesions", "0.9.0", "") and b.status == "draft"
        assert b.label_set == "headct-lesions"
        series = store.series_labels("1.2.3")
        assert len(series) == 3 and series[SliceKey("1.2", "1.2.3")].scope == "series"
        assert [h["action"] for h in store.history(a.key)] == ["migrate"]
        # the upgraded store works: new labels, undo, review
        store.set_label(a.key, "uncertain", annotator="alice")
        assert store.undo(annotator="alice") == a.key
        assert store.current(a.key).label == "normal"
        assert store.undo(annotator="alice") is None  # migrated labels are not undoable
        store.review(a.key, annotator="alice", verdict="approved", reviewer="rita")
        backup = store.backup_path
    assert backup is not None and backup.name == "labels.sqlite.v1.bak"
    conn = sqlite3.connect(backup)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM annotations").fetchone()[0] == 3
    conn.close()
    with LabelStore(v1_store) as again:  # opening again migrates nothing
        assert again.migrated_from is None and again.stats()["total"] == 3
    assert hashlib.sha256(v1_store.read_bytes()).hexdigest() != original


def test_a_failed_migration_leaves_the_v1_file_as_it_was(v1_store, monkeypatch):
    from medviewer.labels import migrations

    def broken(conn):
        conn.execute("ALTER TABLE annotations RENAME TO annotations_v1")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setitem(migrations.MIGRATIONS, 1, broken)
    with pytest.raises(LabelStoreError, match=r"upgrade \(schema 1 -> 2\)"):
        LabelStore(v1_store)
    conn = sqlite3.connect(v1_store)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM annotations").fetchone()[0] == 3
    conn.close()


def test_a_v1_store_cannot_be_read_without_upgrading(v1_store):
    with pytest.raises(LabelStoreError, match="must be upgraded .* open it once for writing"):
        LabelStore(v1_store, read_only=True)
