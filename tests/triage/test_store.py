"""The triage results store: real SQLite files in tmp_path."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from medviewer.testing.triage_results import MODEL_A, MODEL_B, make_result
from medviewer.triage.records import ModelIdentity
from medviewer.triage.store import (
    RESULTS_FORMAT,
    ResultsModelMismatch,
    ResultsStore,
    ResultsStoreError,
    SeriesResult,
    SkippedItem,
    normal_class,
    suspicion,
)
from medviewer.triage.store_file import COLUMNS


def _fingerprint(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def _store_with(path: Path, keys, model=MODEL_A) -> None:
    with ResultsStore(path, model) as store:
        for i, key in enumerate(keys):
            store.add(make_result(key, 0.1 * (i + 1), model=model))


def _deny_writes(monkeypatch, target: Path) -> None:
    """Root ignores permission bits: make ``os.access`` refuse writing ``target`` instead."""
    if not os.access(target, os.W_OK):
        return
    real = os.access

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and os.path.realpath(path) == os.path.realpath(target):
            return False
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)


# -- records -----------------------------------------------------------------------------------
def test_normal_class_and_suspicion():
    assert normal_class(["background", "bleed", "tumour"], "abnormal_max") == "background"
    assert normal_class(["Lesion", "NORMAL"], "max") == "NORMAL"
    assert normal_class(["no lesion", "lesion"], "mean") is None
    assert suspicion({"normal": 0.9, "a": 0.05, "b": 0.2}, "normal") == 0.2
    assert suspicion({"x": 0.3, "y": 0.7}, None) == 0.7
    assert suspicion({"normal": 1.0}, "normal") == 0.0


def test_series_result_dict_round_trip():
    result = make_result("1.2.3#2", 0.8, series_number=None, warnings=["slice 3 left out"])
    assert SeriesResult.from_dict(result.to_dict()) == result
    assert result.model.ref == "tiny-ct:1.0.0"


# -- writing and reading -----------------------------------------------------------------------
def test_every_field_round_trips_through_the_file(tmp_path):
    path = tmp_path / "results.sqlite"
    model = ModelIdentity("headct-lesions", "1.0.0", "0123456789abcdef" * 4)
    result = SeriesResult(
        series_key="1.2.840.1#2",
        series_uid="1.2.840.1",
        study_uid="1.2.840.9",
        patient_id="PID-007",
        patient_name="Müller^Zoë",
        study_date="20240229",
        study_description="CT Kopf nativ",
        series_description="Axial 5mm; soft",
        modality="CT",
        series_number=None,
        n_slices=37,
        folder=str(tmp_path / "archive" / "ser 2"),
        model=model,
        probabilities={"normal": 0.1 + 0.2, "hyperdense_lesion": 1 / 3, "hypodense_lesion": 1e-9},
        top_class="hyperdense_lesion",
        suspicion=1 / 3,
        top_slice=17,
        top_slice_sop_uid="1.2.840.1.17",
        top_slice_probability=0.987654321012345,
        flagged_slices=[17, 18, 3],
        seconds=1.2345678,
        device="cuda:0",
        warnings=["intensity outside the training range", "2 slices left out"],
        finished_at="2024-02-29T23:59:59+00:00",
    )
    other = make_result("1.2.840.2", 0.05, model=model, series_number=4)
    with ResultsStore(path, model) as store:
        assert store.add(result) is True
        assert store.add(other) is True
        assert store.results() == [result, other]  # most suspicious first, every field equal
    with ResultsStore(path, read_only=True) as reader:
        assert reader.results() == [result, other]
        assert reader.models() == [model]
        assert reader.meta()["format"] == str(RESULTS_FORMAT)
        assert reader.integrity() == "ok"


def test_one_row_per_series_and_model_never_a_duplicate(tmp_path):
    path = tmp_path / "r.sqlite"
    first = make_result("1.2.3", 0.7)
    with ResultsStore(path, MODEL_A) as store:
        assert store.add(first) is True
        assert store.add(make_result("1.2.3", 0.1, device="other")) is False
        assert store.results() == [first]  # the stored row is never overwritten
        assert store.done_keys() == {"1.2.3"}
    with ResultsStore(path, MODEL_A) as store:  # a resumed run: still one row
        assert store.add(first) is False
    con = sqlite3.connect(path)
    try:
        cols = ", ".join(COLUMNS)
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            con.execute(f"INSERT INTO results ({cols}) SELECT {cols} FROM results")
        assert con.execute("SELECT count(*) FROM results").fetchone()[0] == 1
    finally:
        con.close()


def test_results_are_sorted_by_suspicion(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite", MODEL_A) as store:
        for key, p in (("1.1", 0.2), ("1.2", 0.9), ("1.3", 0.5), ("1.4", 0.9)):
            store.add(make_result(key, p, top_slice_probability=p if key != "1.4" else 0.95))
        assert [r.series_key for r in store.results()] == ["1.4", "1.2", "1.3", "1.1"]


def test_skipped_items_are_noted_once_and_a_failure_goes_once_the_series_succeeds(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite", MODEL_A) as store:
        unreadable = SkippedItem("/a/x.dcm", "unreadable", "/a/x.dcm is truncated")
        failed = SkippedItem("1.2.3", "failed", "series 1.2.3 failed: out of memory")
        for item in (unreadable, failed, unreadable, failed):
            store.add_skipped(item)
        assert store.skipped() == [unreadable, failed]
        store.add(make_result("1.2.3"))
        assert store.skipped() == [unreadable]


def test_opening_needs_a_model_to_write_and_a_file_to_read(tmp_path):
    with pytest.raises(ValueError, match="needs the model"):
        ResultsStore(tmp_path / "r.sqlite")
    with pytest.raises(ResultsStoreError, match="no triage results at .*run a triage first"):
        ResultsStore(tmp_path / "missing.sqlite", read_only=True)
    assert not (tmp_path / "missing.sqlite").exists()
    with pytest.raises(ResultsStoreError, match="is a folder"):
        ResultsStore(tmp_path, MODEL_A)
    with ResultsStore(tmp_path / "new" / "deeper" / "r.sqlite", MODEL_A) as store:
        assert store.results() == []  # missing folders are made


def test_read_only_store_refuses_writes(tmp_path):
    path = tmp_path / "r.sqlite"
    _store_with(path, ["1.1"])
    with ResultsStore(path, read_only=True) as reader:
        with pytest.raises(ResultsStoreError, match="opened read-only; nothing was changed"):
            reader.add(make_result("1.2"))
        assert reader.done_keys() == {"1.1"}


# -- another model -----------------------------------------------------------------------------
def test_another_model_is_refused_and_then_added_beside_when_asked(tmp_path):
    path = tmp_path / "r.sqlite"
    _store_with(path, ["1.1", "1.2"], MODEL_A)
    before = _fingerprint(path)
    with pytest.raises(ResultsModelMismatch, match=r"holds results of tiny-ct 1\.0\.0") as exc:
        ResultsStore(path, MODEL_B)
    assert exc.value.stored == MODEL_A and exc.value.model == MODEL_B
    assert _fingerprint(path) == before
    renamed = ModelIdentity("other-name", "1.0.0", MODEL_A.sha256)
    with pytest.raises(ResultsModelMismatch):
        ResultsStore(path, renamed)

    with ResultsStore(path, read_only=True) as reader:
        old_rows = reader.results()
    with ResultsStore(path, MODEL_B, accept_other_model=True) as store:
        assert store.done_keys() == set()
        assert store.add(make_result("1.1", 0.9, model=MODEL_B)) is True
        assert [r.model for r in store.results()] == [MODEL_B]
        assert store.results(MODEL_A.sha256) == old_rows  # untouched
        assert store.models() == [MODEL_A, MODEL_B]
    with ResultsStore(path, MODEL_A) as store:  # A's rows are there: no question asked
        assert store.done_keys() == {"1.1", "1.2"}
    with ResultsStore(path, read_only=True) as reader:  # the latest model by default
        assert [r.model for r in reader.results()] == [MODEL_B]


# -- places and files that cannot be used ------------------------------------------------------
def test_read_only_folder_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        _deny_writes(monkeypatch, folder)
        with pytest.raises(ResultsStoreError, match=r"folder .*ro is read-only.*nothing was"):
            ResultsStore(folder / "r.sqlite", MODEL_A)
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o755)


def test_read_only_file_is_refused_untouched_and_still_readable(tmp_path, monkeypatch):
    path = tmp_path / "r.sqlite"
    _store_with(path, ["1.1"])
    path.chmod(0o444)
    try:
        before = _fingerprint(path)
        _deny_writes(monkeypatch, path)
        with pytest.raises(ResultsStoreError, match="r.sqlite is read-only; nothing was written"):
            ResultsStore(path, MODEL_A)
        assert _fingerprint(path) == before
        assert sorted(os.listdir(tmp_path)) == ["r.sqlite"]
        with ResultsStore(path, read_only=True) as reader:
            assert reader.done_keys() == {"1.1"}
    finally:
        path.chmod(0o644)


@pytest.mark.parametrize("read_only", [False, True])
def test_garbage_file_is_refused_untouched(tmp_path, read_only):
    path = tmp_path / "r.sqlite"
    path.write_bytes(os.urandom(3000))
    before = _fingerprint(path)
    with pytest.raises(ResultsStoreError, match="not a triage results file.*left as it is"):
        ResultsStore(path, None if read_only else MODEL_A, read_only=read_only)
    assert _fingerprint(path) == before
    assert os.listdir(tmp_path) == ["r.sqlite"]


def test_damaged_database_is_refused_untouched(tmp_path):
    path = tmp_path / "r.sqlite"
    _store_with(path, [f"1.{i}" for i in range(60)])
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) > 3 * page
    data[page : len(data)] = os.urandom(len(data) - page)  # every page but the first
    path.write_bytes(bytes(data))
    before = _fingerprint(path)
    with pytest.raises(ResultsStoreError, match="damaged"):
        ResultsStore(path, MODEL_A)
    assert _fingerprint(path) == before


def test_another_programs_database_and_a_newer_format_are_refused(tmp_path):
    foreign = tmp_path / "other.sqlite"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    before = _fingerprint(foreign)
    with pytest.raises(ResultsStoreError, match="another kind, not medviewer triage results"):
        ResultsStore(foreign, MODEL_A)
    assert _fingerprint(foreign) == before

    newer = tmp_path / "newer.sqlite"
    _store_with(newer, ["1.1"])
    con = sqlite3.connect(newer)
    con.execute(f"PRAGMA user_version = {RESULTS_FORMAT + 1}")
    con.close()
    with pytest.raises(ResultsStoreError, match="newer medviewer"):
        ResultsStore(newer, read_only=True)


def test_disk_full_stops_cleanly_and_keeps_what_was_stored(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultsStore(path, MODEL_A) as store:
        for key in ("1.1", "1.2", "1.3"):
            store.add(make_result(key))
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full now
        big = make_result("1.4", warnings=["x" * 40_000])
        with pytest.raises(
            ResultsStoreError,
            match=r"could not store the result of series 1\.4: the disk holding .* is full.*"
            r"the 3 result\(s\) stored before are kept",
        ):
            store.add(big)
        assert store.integrity() == "ok"
        assert store.done_keys() == {"1.1", "1.2", "1.3"}
    with ResultsStore(path, MODEL_A) as store:  # room again: the run goes on
        assert store.add(big) is True
        assert store.integrity() == "ok"
        assert len(store.results()) == 4


# -- ranks and readers -------------------------------------------------------------------------
def test_merge_from_rank_files(tmp_path):
    rank0, rank1, merged = (tmp_path / f"{n}.sqlite" for n in ("rank0", "rank1", "merged"))
    _store_with(rank0, ["1.1", "1.3", "1.5"])
    _store_with(rank1, ["1.2", "1.4", "1.5"])  # 1.5 in both (a rank re-ran it)
    with ResultsStore(rank1, MODEL_A) as store:
        store.add_skipped(SkippedItem("/a/x.dcm", "not_image", "x.dcm is a report"))
    with ResultsStore(merged, MODEL_A) as store:
        assert store.merge_from(rank0) == 3
        assert store.merge_from(rank1) == 2
        assert store.merge_from(rank1) == 0
        keys = [r.series_key for r in store.results()]
        assert sorted(keys) == ["1.1", "1.2", "1.3", "1.4", "1.5"]
        assert [s.code for s in store.skipped()] == ["not_image"]
        assert store.integrity() == "ok"


def test_merge_of_another_models_file_is_refused(tmp_path):
    _store_with(tmp_path / "b.sqlite", ["1.1"], MODEL_B)
    with ResultsStore(tmp_path / "a.sqlite", MODEL_A) as store:
        with pytest.raises(ResultsModelMismatch, match="nothing was merged"):
            store.merge_from(tmp_path / "b.sqlite")
        assert store.results() == []


def test_a_reader_does_not_block_the_writer_and_sees_each_commit(tmp_path):
    path = tmp_path / "r.sqlite"
    with (
        ResultsStore(path, MODEL_A, busy_timeout_s=0.5) as writer,
        ResultsStore(path, read_only=True) as reader,
    ):
        writer.add(make_result("1.1"))
        assert reader.done_keys() == {"1.1"}
        reader.conn.execute("BEGIN")  # a long read: its snapshot stays as it was
        assert reader.conn.execute("SELECT count(*) FROM results").fetchone()[0] == 1
        writer.add(make_result("1.2"))  # not blocked (WAL)
        assert reader.conn.execute("SELECT count(*) FROM results").fetchone()[0] == 1
        reader.conn.execute("COMMIT")
        assert reader.done_keys() == {"1.1", "1.2"}


def test_concurrent_reader_while_a_writer_adds(tmp_path):
    path = tmp_path / "r.sqlite"
    n = 40
    with ResultsStore(path, MODEL_A) as writer:
        writer.add(make_result("0"))
        seen: list[int] = []
        errors: list[BaseException] = []
        done = threading.Event()

        def read() -> None:
            try:
                with ResultsStore(path, read_only=True) as reader:
                    while not done.is_set():
                        seen.append(len(reader.results()))
                    seen.append(len(reader.results()))
            except BaseException as exc:  # reported below
                errors.append(exc)

        thread = threading.Thread(target=read)
        thread.start()
        try:
            for i in range(1, n):
                writer.add(make_result(str(i), (i % 10) / 10))
        finally:
            done.set()
            thread.join(30)
        assert not errors, errors
        assert seen == sorted(seen) and seen[-1] == n  # never a row lost or half-written
        assert writer.integrity() == "ok"


def test_no_journal_files_stay_beside_the_results_file(tmp_path):
    path = tmp_path / "r.sqlite"
    side = [tmp_path / "r.sqlite-wal", tmp_path / "r.sqlite-shm"]
    with ResultsStore(path, MODEL_A) as writer:
        writer.add(make_result("1.1"))
        assert side[0].exists()  # WAL while it writes: a crash loses nothing stored
    assert not any(p.exists() for p in side)
    with ResultsStore(path, read_only=True) as reader:  # triage report, the worklist
        assert reader.done_keys() == {"1.1"}
    assert not any(p.exists() for p in side)
    with ResultsStore(path, MODEL_A) as writer:  # a resumed run writes in WAL again
        assert writer.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        writer.add(make_result("1.2"))
        with ResultsStore(path, read_only=True) as reader:
            writer.close()  # a reader still open: the writer closes at once, WAL kept
            assert reader.done_keys() == {"1.1", "1.2"}
    with ResultsStore(path, MODEL_A):
        pass
    assert not any(p.exists() for p in side)
