"""Recovering the readable labels of a damaged store into a new one; the damaged file is kept
byte for byte."""

import hashlib
import sqlite3

import pytest

from medviewer.errors import LabelStoreError
from medviewer.labels.salvage import salvage
from medviewer.labels.store import LabelStore
from medviewer.testing.label_store import fill_store


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(path, table):
    conn = sqlite3.connect(path)
    try:
        return {r[0]: r for r in conn.execute(f"SELECT * FROM {table}")}
    finally:
        conn.close()


@pytest.fixture
def damaged(tmp_path):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as store:
        fill_store(store, 2000)
        keys = fill_store(store, 30, annotator="alice", series_base=5000)
        for key in keys[:10]:
            store.set_label(key, "uncertain", annotator="alice")  # history of a change
    before = {t: _rows(path, t) for t in ("annotations", "history")}
    data = bytearray(path.read_bytes())
    page = 4096
    middle = (len(data) // page) // 2
    data[middle * page : middle * page + page] = bytes((k * 37) % 256 for k in range(page))
    path.write_bytes(bytes(data))
    with pytest.raises(LabelStoreError, match="damaged"):
        LabelStore(path)
    return path, before


def test_the_readable_labels_go_into_a_new_store_and_the_damaged_file_stays(damaged):
    path, before = damaged
    digest = sha256(path)
    result = salvage(path)
    assert sha256(path) == digest  # read through a copy, never written
    assert result.path != path and result.path.parent == path.parent
    assert not list(path.parent.glob("*.copy-*"))  # the working copy is gone again
    got = {t: _rows(result.path, t) for t in ("annotations", "history")}
    # most of the work comes back, every recovered row exactly as it was
    assert 0.8 * len(before["annotations"]) <= len(got["annotations"]) < len(before["annotations"])
    for table in ("annotations", "history"):
        for row_id, row in got[table].items():
            assert before[table][row_id] == row
    assert result.copied == {t: len(got[t]) for t in got}
    assert result.damaged  # it says that some rows could not be read
    # every history entry kept belongs to a recovered label
    assert {r[1] for r in got["history"].values()} <= set(got["annotations"])
    with LabelStore(result.path) as store:  # a store like any other
        assert store.integrity_check() == "ok"
        assert store.stats()["total"] == len(got["annotations"])
        alice = store.query(annotator="alice")
        assert all(a.annotator == "alice" for a in alice)
    text = result.summary(path)
    assert f"Recovered {len(got['annotations'])} label(s)" in text and "unchanged" in text


def test_a_file_with_nothing_to_recover_says_so(tmp_path):
    path = tmp_path / "labels.sqlite"
    path.write_bytes(b"label,annotator\nnormal,alice\n" * 100)
    digest = sha256(path)
    with pytest.raises(LabelStoreError, match="no table of labels could be read|cannot be read"):
        salvage(path)
    assert sha256(path) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.sqlite"]
