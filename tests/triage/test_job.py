"""triage_iter over a small archive: rows, skipped reasons, resume, another model, pause and
cancel, a full disk, a read-only place, shards, failed series, bounded memory."""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref

import pytest

from medviewer.errors import Cancelled
from medviewer.jobs import CancelToken, run_job
from medviewer.triage.job import TriageOptions, triage, triage_iter
from medviewer.triage.records import ResultsModelMismatch, ResultsStoreError
from medviewer.triage.store import ResultsStore
from tests.triage.conftest import MODEL, MR_MODEL, N_CT, OTHER_MODEL


def _run(archive, results, registry, model=MODEL, **kw):
    events = []
    options = TriageOptions(model_ref=model, device="cpu", **kw.pop("options", {}))
    summary = triage(
        [archive.root], results, options, registry=registry, on_progress=events.append, **kw
    )
    return summary, [e.detail for e in events]


def _rows(path, sha=None):
    with ResultsStore(path, read_only=True) as store:
        return store.results(sha), store.skipped(), store.integrity()


# -- one run -----------------------------------------------------------------------------------
def test_every_series_once_most_suspicious_first_with_the_reasons_of_the_rest(
    archive, registry, tmp_path
):
    from medviewer.ai.classifier import predict
    from medviewer.dicom import load_volume, scan

    summary, events = _run(archive, tmp_path / "r.sqlite", registry, options={"precision": "fp32"})
    assert (summary.done, summary.already, summary.skipped, summary.failed) == (N_CT, 0, 3, 0)
    assert summary.precision == "fp32"
    assert summary.model.ref == MODEL and summary.series_per_min > 0
    assert summary.to_dict()["results_path"] == str(tmp_path / "r.sqlite")
    rows, skipped, integrity = _rows(tmp_path / "r.sqlite")
    assert integrity == "ok"
    assert sorted(r.series_key for r in rows) == sorted(archive.ct_keys)
    assert archive.compressed_key in {r.series_key for r in rows}
    assert [r.suspicion for r in rows] == sorted((r.suspicion for r in rows), reverse=True)
    assert {r.series_key for r in rows[:3]} == set(archive.lesion_keys)
    assert all(r.top_class == "lesion" for r in rows[:3])
    assert all(r.top_class == "normal" and not r.flagged_slices for r in rows[3:])

    by_code = {s.code: s for s in skipped}
    assert set(by_code) == {"unreadable", "not_image", "other_modality"}
    assert by_code["unreadable"].where == archive.unreadable
    assert by_code["not_image"].where == archive.not_image
    assert by_code["other_modality"].where == archive.mr_key
    assert "made for CT" in by_code["other_modality"].reason
    assert f"--model {MR_MODEL}" in by_code["other_modality"].reason

    kinds = [e.kind for e in events]
    assert kinds[0] == "scanning" and kinds.count("scanned") == 1
    assert kinds.count("skipped") == 3 and kinds.count("result") == N_CT
    last = events[-1]
    assert (last.done, last.total) == (N_CT, N_CT) and last.series_per_min > 0

    # each row is predict()'s result on that series, with consistent slices
    model = registry.load(ref=MODEL, device="cpu")
    found = scan([archive.root])
    for row in rows:
        volume = load_volume(found.find_series(row.series_key))
        pred = predict(model, volume)
        assert row.probabilities == pytest.approx(pred.probabilities, abs=1e-9)
        assert row.top_class == pred.top and row.n_slices == volume.array.shape[0]
        assert 0 <= row.top_slice < row.n_slices
        top = pred.slices[row.top_slice]
        assert row.top_slice_probability == pytest.approx(top.probabilities["lesion"])
        assert row.top_slice_probability == pytest.approx(
            max(p.probabilities["lesion"] for p in pred.slices)
        )
        assert row.top_slice_sop_uid == volume.series.slices[row.top_slice].sop_instance_uid
        assert set(row.flagged_slices) == {p.index for p in pred.slices if p.top != "normal"}
        flagged = [pred.slices[k].probabilities["lesion"] for k in row.flagged_slices]
        assert flagged == sorted(flagged, reverse=True)
        assert row.folder == os.path.dirname(volume.series.slices[0].path)
        assert row.model.ref == MODEL and row.device == "cpu" and row.finished_at
    assert [rows[i].flagged_slices for i in range(3)] == [[5, 6, 7]] * 3  # the dense slices


def test_without_a_model_the_active_model_of_the_archive_runs(archive, registry, tmp_path):
    registry.set_active("CT", MODEL)
    summary, _ = _run(archive, tmp_path / "r.sqlite", registry, model=None)
    assert summary.model.ref == MODEL and summary.done == N_CT


def test_an_empty_folder_stores_nothing(registry, tmp_path):
    (tmp_path / "empty").mkdir()
    summary = triage([tmp_path / "empty"], tmp_path / "r.sqlite", registry=registry)
    assert (summary.model, summary.done, summary.skipped) == (None, 0, 0)
    assert not (tmp_path / "r.sqlite").exists()


def test_a_results_file_inside_the_archive_is_not_listed_as_unreadable(archive, registry, tmp_path):
    import shutil

    root = shutil.copytree(archive.root, tmp_path / "archive")
    for _ in range(2):  # the second run scans the file (and its journal) too
        summary = triage(
            [root], root / "r.sqlite", TriageOptions(model_ref=MODEL), registry=registry
        )
        assert summary.skipped == 3
    _, skipped, _ = _rows(root / "r.sqlite")
    assert sorted(s.code for s in skipped) == ["not_image", "other_modality", "unreadable"]


def test_bad_options_are_refused_with_their_name(archive, registry, tmp_path):
    from medviewer.errors import MedviewerError

    for bad in ({"workers": 0}, {"batch_size": "8"}, {"device": "tpu"}):
        with pytest.raises(MedviewerError, match="workers|batch size|unknown device"):
            next(triage_iter([archive.root], tmp_path / "r.sqlite", TriageOptions(**bad)))


# -- again: resume, another model --------------------------------------------------------------
def test_a_second_run_repeats_nothing(archive, registry, tmp_path):
    results = tmp_path / "r.sqlite"
    _run(archive, results, registry)
    before, skipped_before, _ = _rows(results)
    summary, events = _run(archive, results, registry)
    assert (summary.done, summary.already, summary.failed) == (0, N_CT, 0)
    assert [e.kind for e in events].count("already") == N_CT
    after, skipped_after, integrity = _rows(results)
    assert [r.to_dict() for r in after] == [r.to_dict() for r in before]
    assert skipped_after == skipped_before and integrity == "ok"


def test_another_models_file_is_refused_before_any_work_unless_asked(archive, registry, tmp_path):
    results = tmp_path / "r.sqlite"
    _run(archive, results, registry)
    before, _, _ = _rows(results)
    job = triage_iter(
        [archive.root], results, TriageOptions(model_ref=OTHER_MODEL), registry=registry
    )
    with pytest.raises(ResultsModelMismatch, match="holds results of tiny-triage 1.0.0"):
        next(job)  # before the scan
    summary, _ = _run(
        archive, results, registry, model=OTHER_MODEL, options={"accept_other_model": True}
    )
    assert summary.done == N_CT
    with ResultsStore(results, read_only=True) as store:
        assert [m.ref for m in store.models()] == [MODEL, OTHER_MODEL]
        old = store.results(before[0].model.sha256)
    assert [r.to_dict() for r in old] == [r.to_dict() for r in before]


# -- pause, cancel -----------------------------------------------------------------------------
def test_pause_waits_between_series_and_resume_goes_on(archive, registry, tmp_path, monkeypatch):
    monkeypatch.setattr("medviewer.triage.job.PAUSE_EVENT_S", 0.05)
    pause = threading.Event()
    pause.set()
    paused = []

    def on_progress(step):
        if step.detail.kind == "paused":
            paused.append(step.detail)
            if len(paused) == 3:
                pause.clear()

    options = TriageOptions(model_ref=MODEL, device="cpu")
    summary = triage(
        [archive.root],
        tmp_path / "r.sqlite",
        options,
        registry=registry,
        pause=pause,
        on_progress=on_progress,
    )
    assert len(paused) == 3 and paused[0].done == 0  # paused before the first series
    assert summary.done == N_CT


def test_cancel_stops_after_the_current_series_is_stored(archive, registry, tmp_path):
    results, cancel = tmp_path / "r.sqlite", CancelToken()
    job = triage_iter(
        [archive.root], results, TriageOptions(model_ref=MODEL), registry=registry, cancel=cancel
    )
    step = next(job)
    while step.detail.kind != "result":
        step = next(job)
    cancel.cancel()
    with pytest.raises(Cancelled):
        next(job)
    rows, _, integrity = _rows(results)
    assert [r.series_key for r in rows] == [step.detail.result.series_key]
    assert integrity == "ok"
    summary, _ = _run(archive, results, registry)  # and it goes on from there
    assert (summary.done, summary.already) == (N_CT - 1, 1)


def test_cancel_while_paused(archive, registry, tmp_path, monkeypatch):
    monkeypatch.setattr("medviewer.triage.job.PAUSE_EVENT_S", 0.05)
    pause, cancel = threading.Event(), CancelToken()
    pause.set()
    threading.Timer(0.3, cancel.cancel).start()
    job = triage_iter(
        [archive.root],
        tmp_path / "r.sqlite",
        TriageOptions(model_ref=MODEL),
        registry=registry,
        pause=pause,
        cancel=cancel,
    )
    with pytest.raises(Cancelled):
        run_job(job)
    assert _rows(tmp_path / "r.sqlite")[0] == []


# -- the results place -------------------------------------------------------------------------
def test_a_full_disk_stops_cleanly_keeping_what_was_stored(
    archive, registry, tmp_path, monkeypatch
):
    real_add = ResultsStore.add
    calls = []

    def add(self, result):
        calls.append(result.series_key)
        if len(calls) > 3:
            raise sqlite3.OperationalError("database or disk is full")
        return real_add(self, result)

    monkeypatch.setattr(ResultsStore, "add", add)
    with pytest.raises(ResultsStoreError, match="disk .* is full.*kept"):
        _run(archive, tmp_path / "r.sqlite", registry)
    monkeypatch.setattr(ResultsStore, "add", real_add)
    rows, _, integrity = _rows(tmp_path / "r.sqlite")
    assert sorted(r.series_key for r in rows) == sorted(calls[:3]) and integrity == "ok"


def test_a_read_only_place_is_refused_before_any_work(archive, registry, tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    real = os.access

    def access(path, mode, *args, **kwargs):  # root ignores permission bits
        if mode & os.W_OK and os.path.realpath(path) == str(folder):
            return False
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    job = triage_iter(
        [archive.root], folder / "r.sqlite", TriageOptions(model_ref=MODEL), registry=registry
    )
    with pytest.raises(ResultsStoreError, match="read-only"):
        next(job)
    assert os.listdir(folder) == []


# -- bad series, shards, memory ----------------------------------------------------------------
def test_a_series_that_cannot_be_loaded_is_noted_and_retried(
    archive, registry, tmp_path, monkeypatch
):
    from medviewer.errors import DicomError
    from medviewer.triage import prefetch

    real = prefetch.load_volume_iter

    def load(series, cancel=None, decoders=None):
        if series.key == archive.compressed_key:
            raise DicomError(f"no slice of series {series.key} could be decoded")
        return real(series, cancel, decoders=decoders)

    monkeypatch.setattr(prefetch, "load_volume_iter", load)
    results = tmp_path / "r.sqlite"
    summary, _ = _run(archive, results, registry)
    assert (summary.done, summary.failed) == (N_CT - 1, 1)
    _, skipped, _ = _rows(results)
    failed = [s for s in skipped if s.code == "failed"]
    assert [s.where for s in failed] == [archive.compressed_key]
    assert "could not be loaded" in failed[0].reason and "tried again" in failed[0].reason
    monkeypatch.setattr(prefetch, "load_volume_iter", real)
    summary, _ = _run(archive, results, registry)
    assert (summary.done, summary.already, summary.failed) == (1, N_CT - 1, 0)
    rows, skipped, _ = _rows(results)
    assert len(rows) == N_CT and not [s for s in skipped if s.code == "failed"]


def test_shards_split_the_series_and_merge_into_one_file(archive, registry, tmp_path):
    from medviewer.triage.shard import merge_ranks, rank_results_path, shard_of

    results = tmp_path / "r.sqlite"
    keys = []
    for rank in (0, 1):
        summary, _ = _run(archive, rank_results_path(results, rank), registry, shard=(rank, 2))
        rows, skipped, _ = _rows(rank_results_path(results, rank))
        assert all(shard_of(r.series_uid, 2) == rank for r in rows)
        codes = {s.code for s in skipped}
        assert ({"unreadable", "not_image"} <= codes) == (rank == 0)  # files: rank 0 only
        keys += [r.series_key for r in rows]
    assert sorted(keys) == sorted(archive.ct_keys)  # each series in exactly one shard
    model = summary.model
    assert merge_ranks(results, 2, model) == N_CT
    rows, skipped, integrity = _rows(results)
    assert sorted(r.series_key for r in rows) == sorted(archive.ct_keys) and integrity == "ok"
    assert {s.code for s in skipped} == {"unreadable", "not_image", "other_modality"}
    assert not rank_results_path(results, 0).exists() and not rank_results_path(results, 1).exists()


def test_a_merged_file_counts_as_stored_and_its_model_is_checked_first(archive, registry, tmp_path):
    main, part = tmp_path / "r.sqlite", tmp_path / "r.rank1.sqlite"
    _run(archive, main, registry)
    job = triage_iter(
        [archive.root],
        part,
        TriageOptions(model_ref=OTHER_MODEL),
        registry=registry,
        known_results=[main],
    )
    with pytest.raises(ResultsModelMismatch, match="holds results of tiny-triage 1.0.0"):
        next(job)
    assert not part.exists()  # refused before its own file was made
    summary, _ = _run(archive, part, registry, known_results=[main])
    assert (summary.done, summary.already) == (0, N_CT)


def test_shard_of_is_stable_and_spreads():
    from medviewer.triage.shard import rank_results_path, shard_of

    assert shard_of("1.2.3.4", 1) == 0
    assert shard_of("1.2.826.0.1.3680043.8.498.1", 4) == shard_of("1.2.826.0.1.3680043.8.498.1", 4)
    assert (
        shard_of("1.2.3.4", 7)
        == int.from_bytes(__import__("hashlib").sha1(b"1.2.3.4").digest()[:8], "big") % 7
    )
    counts = [0, 0, 0]
    for i in range(300):
        counts[shard_of(f"1.2.840.{i}", 3)] += 1
    assert min(counts) > 70
    assert rank_results_path("/x/results.sqlite", 1).name == "results.rank1.sqlite"
    assert rank_results_path("/x/results", 0).name == "results.rank0.sqlite"


@pytest.mark.parametrize("workers", [1, 2])
def test_at_most_workers_plus_one_volumes_are_alive(
    archive, registry, tmp_path, monkeypatch, workers
):
    from medviewer.triage import prefetch

    refs: list[weakref.ref] = []  # Volume is unhashable: no WeakSet
    most = []
    real = prefetch.load_volume_iter

    def load(series, cancel=None, decoders=None):
        volume = yield from real(series, cancel, decoders=decoders)
        refs.append(weakref.ref(volume))
        most.append(sum(r() is not None for r in refs))
        return volume

    monkeypatch.setattr(prefetch, "load_volume_iter", load)
    summary, _ = _run(archive, tmp_path / "r.sqlite", registry, options={"workers": workers})
    assert summary.done == N_CT and len(most) == N_CT
    assert max(most) <= workers + 1, most


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_uses_bfloat16_only_where_the_hardware_has_it(
    archive, registry, tmp_path, monkeypatch, native
):
    from medviewer.ai import device

    monkeypatch.setattr(device, "native_bf16", lambda dev: native)
    summary, _ = _run(archive, tmp_path / "auto.sqlite", registry)
    assert summary.precision == ("bf16" if native else "fp32")
    assert summary.to_dict()["precision"] == summary.precision
    rows = _rows(tmp_path / "auto.sqlite")[0]
    assert len(rows) == N_CT
    assert all(any("bfloat16" in w for w in r.warnings) is native for r in rows)


def test_bfloat16_triage_agrees_with_float32_and_says_so(archive, registry, tmp_path):
    _run(archive, tmp_path / "fp32.sqlite", registry, options={"precision": "fp32"})
    summary, _ = _run(archive, tmp_path / "bf16.sqlite", registry, options={"precision": "bf16"})
    assert summary.done == N_CT
    exact = {r.series_key: r for r in _rows(tmp_path / "fp32.sqlite")[0]}
    fast = _rows(tmp_path / "bf16.sqlite")[0]
    assert {r.series_key for r in fast} == set(exact)
    for row in fast:
        ref = exact[row.series_key]
        assert any("bfloat16" in w for w in row.warnings)
        assert not any("bfloat16" in w for w in ref.warnings)
        for cls, p in ref.probabilities.items():
            assert abs(row.probabilities[cls] - p) < 0.02, (row.series_key, cls)
    with pytest.raises(Exception, match="precision"):
        _run(archive, tmp_path / "x.sqlite", registry, options={"precision": "fp8"})
