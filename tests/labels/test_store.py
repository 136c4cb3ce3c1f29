"""The SQLite store: labels, history, undo/redo, review, validation, failures that change
nothing, and files it must refuse without touching them."""

import hashlib
import sqlite3

import pytest

from medviewer.errors import LabelStoreError
from medviewer.labels.migrations import SCHEMA_VERSION
from medviewer.labels.schema import ModelRef, Region, SliceKey
from medviewer.labels.store import LabelStore, fresh_store_path
from medviewer.testing.label_store import fill_store

MODEL = ModelRef("headct-lesions", "1.0.0", "ab" * 32)


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_new_store_is_wal_with_foreign_keys_and_schema_version(tmp_path):
    path = tmp_path / "sub" / "labels.sqlite"
    with LabelStore(path) as store:
        conn = store.conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10000
        assert store.integrity_check() == "ok"
        assert store.migrated_from is None
    assert path.is_file()


def test_default_path_is_in_the_user_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDVIEWER_DATA_DIR", str(tmp_path / "data"))
    with LabelStore() as store:
        assert store.path == tmp_path / "data" / "labels.sqlite"


def test_set_update_keeps_created_and_drops_review(store, keys):
    k = keys[0]
    first = store.set_label(k, "normal", annotator="alice", path_hint="/a/b.dcm")
    assert first.label == "normal" and first.source == "human" and first.model is None
    assert first.status == "final" and first.label_set == "headct-lesions"
    assert first.created_at == first.updated_at and first.created_at.endswith("+00:00")
    store.review(k, annotator="alice", verdict="approved", reviewer="rita", comment="fine")
    again = store.set_label(k, "uncertain", annotator="alice")
    assert again.id == first.id and again.created_at == first.created_at
    assert again.updated_at > first.updated_at
    assert (again.review, again.reviewer, again.comment) == ("", "", "")
    assert again.path_hint == "/a/b.dcm"  # a hint is kept until a new one is given
    same = store.set_label(k, "uncertain", annotator="alice")
    assert same == again  # setting what is there changes nothing
    assert len(store.history(k)) == 3


def test_model_provenance_region_and_frames(store, keys):
    k = SliceKey(keys[0].study_uid, keys[0].series_uid, keys[0].sop_uid, 3)
    region = Region(10.0, 20.5, 40.0, 60.0)
    ann = store.set_label(
        k, "hyperdense_lesion", annotator="bob", source="model", model=MODEL, region=region
    )
    assert ann.model == MODEL and str(ann.model) == "headct-lesions:1.0.0"
    assert ann.region == region and ann.key.frame == 3
    assert store.current(keys[0], annotator="bob") is None  # frame 3 is another key
    assert store.current(k).model.sha256 == "ab" * 32
    relabel = store.set_label(k, "normal", annotator="bob")
    assert relabel.region == region  # evidence stays until set_region(None)
    assert store.set_region(k, annotator="bob", region=None).region is None


def test_series_scope_labels(store, keys):
    series_key = SliceKey(keys[0].study_uid, keys[0].series_uid)
    ann = store.set_label(series_key, "normal", annotator="alice", scope="series")
    assert ann.scope == "series" and ann.key.sop_uid == ""
    assert store.series_labels(keys[0].series_uid)[series_key] == ann
    with pytest.raises(LabelStoreError, match="series label is keyed by the series alone"):
        store.set_label(keys[0], "normal", annotator="alice", scope="series")
    with pytest.raises(LabelStoreError, match="SOP Instance UID"):
        store.set_label(series_key, "normal", annotator="alice", scope="slice")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"annotator": "  "}, "annotator name is empty"),
        ({"label": ""}, "label of .* is empty"),
        ({"scope": "study"}, "scope 'study' is not one of"),
        ({"source": "robot"}, "source 'robot' is not one of"),
        ({"status": "done"}, "status 'done' is not one of"),
        ({"source": "model"}, "needs the model's name"),
        ({"model": MODEL}, "human label carries no model"),
        ({"region": Region(5, 5, 5, 9)}, "region .* is empty"),
        ({"region": Region(0, 0, float("nan"), 9)}, "finite"),
    ],
)
def test_bad_arguments_are_refused_and_write_nothing(store, keys, kwargs, message):
    args = {"label": "normal", "annotator": "alice", **kwargs}
    label = args.pop("label")
    with pytest.raises(LabelStoreError, match=message):
        store.set_label(keys[0], label, **args)
    assert store.stats()["total"] == 0


def test_bad_keys_are_refused(store):
    with pytest.raises(LabelStoreError, match="Study or Series Instance UID"):
        store.set_label(SliceKey("", "1.2", "1.2.3"), "normal", annotator="a")
    with pytest.raises(LabelStoreError, match="frame numbers start at 1"):
        store.set_label(SliceKey("1", "1.2", "1.2.3", 0), "normal", annotator="a")
    with pytest.raises(LabelStoreError, match="keyed by a SliceKey"):
        store.set_label(("1", "1.2", "1.2.3"), "normal", annotator="a")


def test_clear_undo_redo_per_annotator(store, keys):
    a, b = keys[0], keys[1]
    store.set_label(a, "normal", annotator="alice")
    store.set_label(a, "uncertain", annotator="alice")
    store.set_label(b, "exclude", annotator="alice")
    store.set_label(a, "normal", annotator="bob")
    assert store.clear_label(b, annotator="alice") is True
    assert store.clear_label(b, annotator="alice") is False
    assert store.current(b) is None

    assert store.undo(annotator="alice") == b  # the clear
    assert store.current(b, annotator="alice").label == "exclude"
    assert store.undo(annotator="alice") == b  # the set: gone again
    assert store.current(b, annotator="alice") is None
    assert store.undo(annotator="alice") == a
    assert store.current(a, annotator="alice").label == "normal"
    assert store.current(a, annotator="bob").label == "normal"  # bob untouched
    assert store.redo(annotator="alice") == a
    assert store.current(a, annotator="alice").label == "uncertain"
    assert store.can_redo(annotator="alice")
    store.set_label(keys[2], "normal", annotator="alice")  # a new action: no more redo
    assert not store.can_redo(annotator="alice")
    assert store.redo(annotator="alice") is None
    for _ in range(3):
        assert store.undo(annotator="alice") is not None
    assert store.undo(annotator="alice") is None
    assert not store.can_undo(annotator="alice")
    assert store.query(annotator="alice") == []
    assert store.undo(annotator="bob") == a and store.current(a) is None
    assert store.undo(annotator="nobody") is None


def test_undo_survives_reopening(tmp_path, keys):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as store:
        store.set_label(keys[0], "normal", annotator="alice")
        store.set_label(keys[0], "exclude", annotator="alice")
    with LabelStore(path) as store:
        assert store.undo(annotator="alice") == keys[0]
        assert store.current(keys[0]).label == "normal"


def test_review_is_the_reviewers_action(store, keys):
    k = keys[0]
    with pytest.raises(LabelStoreError, match="alice has no label"):
        store.review(k, annotator="alice", verdict="approved", reviewer="rita")
    store.set_label(k, "normal", annotator="alice")
    ann = store.review(k, annotator="alice", verdict="flagged", reviewer="rita", comment="bleed?")
    assert (ann.review, ann.reviewer, ann.comment) == ("flagged", "rita", "bleed?")
    with pytest.raises(LabelStoreError, match="review verdict 'maybe'"):
        store.review(k, annotator="alice", verdict="maybe", reviewer="rita")
    with pytest.raises(LabelStoreError, match="reviewer name is empty"):
        store.review(k, annotator="alice", verdict="approved", reviewer="")
    # alice edits the status afterwards; rita undoes her review: alice's edit stays
    store.set_status(k, annotator="alice", status="draft")
    assert store.undo(annotator="rita") == k
    ann = store.current(k)
    assert (ann.review, ann.status, ann.label) == ("", "draft", "normal")
    assert store.stats()["by_review"] == {"": 1}
    store.review(k, annotator="alice", verdict="approved", reviewer="rita")
    cleared = store.review(k, annotator="alice", verdict="", reviewer="rita")
    assert (cleared.review, cleared.reviewer) == ("", "")


def test_history_is_complete_and_append_only(store, keys):
    k = keys[0]
    store.set_label(k, "normal", annotator="alice")
    store.set_region(k, annotator="alice", region=Region(1, 2, 3, 4))
    store.set_status(k, annotator="alice", status="draft")
    store.review(k, annotator="alice", verdict="approved", reviewer="rita")
    store.clear_label(k, annotator="alice")
    store.undo(annotator="alice")
    store.set_label(k, "normal", annotator="bob")
    hist = store.history(k)
    assert [h["action"] for h in hist] == [
        "set", "region", "status", "review", "clear", "undo", "set"
    ]  # fmt: skip
    assert [h["by"] for h in hist] == ["alice"] * 3 + ["rita", "alice", "alice", "bob"]
    assert hist[1]["region"] == Region(1, 2, 3, 4)
    assert hist[4]["label"] is None and hist[4]["previous_label"] == "normal"
    assert hist[5]["label"] == "normal" and hist[5]["target"] == hist[4]["id"]
    assert all(a["at"] <= b["at"] for a, b in zip(hist, hist[1:]))
    assert len(store.history(k, annotator="bob")) == 1
    for sql in ("UPDATE history SET actor = 'x'", "DELETE FROM history"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            store.conn.execute(sql)


def test_queries_stats_and_annotators(store, keys):
    store.set_label(keys[0], "normal", annotator="alice")
    store.set_label(keys[1], "uncertain", annotator="alice", status="draft")
    store.set_label(keys[0], "hyperdense_lesion", annotator="bob", source="model", model=MODEL)
    store.set_label(keys[7], "normal", annotator="bob")
    store.review(keys[1], annotator="alice", verdict="flagged", reviewer="rita")
    assert store.annotators() == ["alice", "bob"]
    assert [a.key for a in store.query(series_uid=keys[0].series_uid)] == [
        keys[0], keys[0], keys[1]
    ]  # fmt: skip
    assert len(store.query(label="normal")) == 2
    assert len(store.query(status="draft")) == 1
    assert len(store.query(review="flagged")) == 1
    assert len(store.query(source="model")) == 1
    assert store.current(keys[0]).annotator == "bob"  # the most recent
    mine = store.series_labels(keys[0].series_uid, annotator="alice")
    assert set(mine) == {keys[0], keys[1]} and mine[keys[0]].label == "normal"
    assert store.series_labels(keys[0].series_uid)[keys[0]].annotator == "bob"
    assert store.series_labels("9.9.9") == {}
    assert [a.annotator for a in store.labels_of(keys[0])] == ["alice", "bob"]
    assert store.stats() == {
        "total": 4,
        "by_label": {"hyperdense_lesion": 1, "normal": 2, "uncertain": 1},
        "by_annotator": {"alice": 2, "bob": 2},
        "by_status": {"draft": 1, "final": 3},
        "by_review": {"": 3, "flagged": 1},
        "by_source": {"human": 3, "model": 1},
    }


def test_series_labels_uses_the_index(store):
    plan = store.conn.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM annotations WHERE series_uid = ? AND active = 1",
        ("1.2",),
    ).fetchall()
    assert "USING INDEX annotations_key" in " ".join(str(r) for r in plan)


def test_a_failed_transaction_writes_nothing(store, keys):
    store.set_label(keys[0], "normal", annotator="alice")
    with pytest.raises(RuntimeError), store.transaction():
        store.set_label(keys[1], "normal", annotator="alice")
        store.clear_label(keys[0], annotator="alice")
        raise RuntimeError("boom")
    assert [a.key for a in store.query()] == [keys[0]]
    assert len(store.history(keys[0])) == 1 and store.history(keys[1]) == []


def test_read_only_store_refuses_writes_and_stays_consistent(tmp_path, keys):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as store:
        store.set_label(keys[0], "normal", annotator="alice")
    before = sha256(path)
    with LabelStore(path, read_only=True) as ro:
        assert ro.current(keys[0]).label == "normal"
        with pytest.raises(LabelStoreError, match="read-only.*nothing was changed"):
            ro.set_label(keys[1], "normal", annotator="alice")
        assert ro.stats()["total"] == 1
    assert sha256(path) == before
    # a store that becomes read-only while open (the disk remounted, permissions changed)
    with LabelStore(path) as store:
        store.conn.execute("PRAGMA query_only = ON")
        with pytest.raises(LabelStoreError, match=r"could not save the label: .* is read-only"):
            store.set_label(keys[1], "uncertain", annotator="alice")
        with pytest.raises(LabelStoreError, match="read-only"):
            store.undo(annotator="alice")
        assert store.query() and store.current(keys[1]) is None
        store.conn.execute("PRAGMA query_only = OFF")
        store.set_label(keys[1], "uncertain", annotator="alice")  # works again
        assert store.integrity_check() == "ok"


def test_disk_full_fails_cleanly(tmp_path):
    with LabelStore(tmp_path / "labels.sqlite") as store:
        keys = fill_store(store, 200)
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages}")
        before = store.stats()
        with pytest.raises(LabelStoreError, match="disk holding .* is full.*nothing was changed"):
            with store.transaction("save the labels"):
                for i, key in enumerate(keys):
                    store.set_label(key, "exclude", annotator=f"x{i}", comment="x" * 500)
        assert store.stats() == before
        assert store.integrity_check() == "ok"
        assert store.history(keys[0], annotator="x0") == []


def test_a_corrupt_store_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as store:
        fill_store(store, 500)
    data = bytearray(path.read_bytes())
    page = 4096
    data[3 * page : 3 * page + 400] = b"\x07" * 400  # scribble over a b-tree page
    path.write_bytes(bytes(data))
    before = sha256(path)
    with pytest.raises(LabelStoreError, match=r"labels.sqlite is damaged .*left as it is"):
        LabelStore(path)
    assert sha256(path) == before
    copy = LabelStore.copy_aside(path)
    assert sha256(copy) == before and sha256(path) == before
    fresh_path = fresh_store_path(path)
    with LabelStore(fresh_path) as fresh:  # a new store beside it; the damaged one stays
        assert fresh.stats()["total"] == 0
    assert sha256(path) == before and fresh_path.parent == path.parent


@pytest.mark.parametrize(
    "content, message",
    [
        (b"label,annotator\nnormal,alice\n" * 10, "not an SQLite database"),
        (b"SQLite format 3\x00" + b"\x00" * 20, "not an SQLite database"),
    ],
)
def test_files_that_are_not_stores(tmp_path, content, message):
    path = tmp_path / "labels.sqlite"
    path.write_bytes(content)
    with pytest.raises(LabelStoreError, match=message):
        LabelStore(path)
    assert path.read_bytes() == content


def test_another_programs_database_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    before = sha256(path)
    with pytest.raises(LabelStoreError, match="not a medviewer label store"):
        LabelStore(path)
    assert sha256(path) == before


def test_a_newer_schema_is_refused_and_left_untouched(tmp_path, keys):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as store:
        store.set_label(keys[0], "normal", annotator="alice")
        store.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = sha256(path)
    with pytest.raises(LabelStoreError, match=r"newer medviewer \(schema 3.*update medviewer"):
        LabelStore(path)
    with pytest.raises(LabelStoreError, match="newer medviewer"):
        LabelStore(path, read_only=True)
    assert sha256(path) == before
    assert not path.with_name(path.name + "-wal").exists()


def test_missing_folder_or_store(tmp_path):
    with pytest.raises(LabelStoreError, match="no label store at"):
        LabelStore(tmp_path / "none.sqlite", create=False)
    with pytest.raises(LabelStoreError, match="is a folder"):
        LabelStore(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(LabelStoreError, match="cannot create the folder"):
        LabelStore(tmp_path / "file" / "labels.sqlite")


def test_closed_store_says_so(tmp_path, keys):
    store = LabelStore(tmp_path / "labels.sqlite")
    store.close()
    store.close()
    with pytest.raises(LabelStoreError, match="is closed"):
        store.set_label(keys[0], "normal", annotator="alice")


def test_two_connections_in_one_process_see_each_other(tmp_path, keys):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as one, LabelStore(path, busy_timeout_s=5) as two:
        one.set_label(keys[0], "normal", annotator="alice")
        assert two.current(keys[0]).label == "normal"
        with one.transaction():
            one.set_label(keys[1], "normal", annotator="alice")
            assert two.current(keys[1]) is None  # not committed yet
        assert two.current(keys[1]).label == "normal"


def test_a_locked_store_times_out_with_a_clear_message(tmp_path, keys):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as one, LabelStore(path, busy_timeout_s=0.2) as two:
        with one.transaction():
            one.set_label(keys[0], "normal", annotator="alice")
            with pytest.raises(LabelStoreError, match=r"locked by another program for 0.2 s"):
                two.set_label(keys[1], "normal", annotator="bob")
        assert two.current(keys[1]) is None and two.current(keys[0]).label == "normal"


def test_two_instances_creating_one_store_at_once_both_open_it(tmp_path, monkeypatch):
    """The second instance read "no schema yet" just before the first one created it: once
    it holds the write lock it reads the version again and opens the store as it is."""
    from dataclasses import replace

    from medviewer.labels import store_connection

    path = tmp_path / "labels.sqlite"
    first = LabelStore(path)
    first.set_label(SliceKey("1.2", "1.2.3", "1.2.3.4"), "normal", annotator="alice")
    real = store_connection.file_facts
    monkeypatch.setattr(
        store_connection,
        "file_facts",
        lambda conn, check: replace(real(conn, check=check), version=0, app_id=0, tables=0),
    )
    second = LabelStore(path)  # "table annotations already exists" before the fix
    assert second.current(SliceKey("1.2", "1.2.3", "1.2.3.4")).label == "normal"
    first.close()
    second.close()


@pytest.mark.parametrize("free, says", [(10, "is full (0 KB free)"), (10**9, "from the disk")])
def test_a_full_disk_is_not_called_damage(tmp_path, monkeypatch, free, says):
    import shutil
    from collections import namedtuple

    from medviewer.labels import store_connection

    path = tmp_path / "labels.sqlite"
    LabelStore(path).close()
    before = path.read_bytes()

    def fails(conn, check):
        exc = sqlite3.OperationalError("disk I/O error")
        exc.sqlite_errorname = "SQLITE_IOERR_SHMSIZE"
        raise exc

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(store_connection, "file_facts", fails)
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: usage(10**9, 10**9 - free, free))
    with pytest.raises(LabelStoreError) as raised:
        LabelStore(path)
    message = str(raised.value)
    assert says in message and "damaged" not in message  # no recovery offered for it
    assert "not changed" in message and path.read_bytes() == before
