"""``medviewer triage`` killed (SIGKILL) at 10 random moments and started again each time: the
final results equal one uninterrupted run's, with no duplicate and an intact file.

Each kill comes after a seeded random delay between 0 and the duration an uninterrupted run
would take at that point (the reference run's start-up, plus its time per series for each
series left), so the kills keep landing in the run as the archive fills up: in the start-up, between
series, inside a series' inference, inside a store write. The model (160 x 160 input) makes
classifying a good part of a run."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import time

import pytest

from medviewer.triage.store import ResultsStore
from tests.triage.conftest import REPO, SLOW_MODEL, cli_env, triage_command

KILLS = 10
SEED = 19


def _run(cmd, env) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return time.perf_counter() - start


def _state(path):
    """Results by series key (probabilities, top slice, flagged), skipped notes, integrity;
    and that no series key appears twice."""
    with sqlite3.connect(path) as conn:
        dupes = conn.execute(
            "SELECT series_key, model_sha256, count(*) FROM results "
            "GROUP BY series_key, model_sha256 HAVING count(*) > 1"
        ).fetchall()
    assert dupes == []
    with ResultsStore(path, read_only=True) as store:
        rows = {r.series_key: r for r in store.results()}
        skipped = {(s.where, s.code) for s in store.skipped()}
        return rows, skipped, store.integrity()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_killed_ten_times_and_resumed_equals_one_uninterrupted_run(
    archive, models_dir, tmp_path, record_property
):
    env = cli_env(models_dir, tmp_path / "data")
    reference = tmp_path / "reference.sqlite"
    command = triage_command(archive, reference, model=SLOW_MODEL)
    duration = _run(command, env)
    want, want_skipped, integrity = _state(reference)
    assert integrity == "ok" and len(want) == len(archive.ct_keys)
    per_series = sum(r.seconds for r in want.values()) / len(want)  # loading + classifying
    start_up = max(0.0, duration - per_series * len(want))  # interpreter, torch, model, scan

    results = tmp_path / "killed.sqlite"
    rng = random.Random(SEED)
    interrupted = partial = 0
    for _ in range(KILLS):
        left = len(want) - (len(_state(results)[0]) if results.exists() else 0)
        uninterrupted = start_up + per_series * left
        proc = subprocess.Popen(
            triage_command(archive, results, model=SLOW_MODEL),
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.0, uninterrupted))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            interrupted += 1
        proc.wait(timeout=60)
        if results.exists():
            rows, _, integrity = _state(results)  # after every kill: intact, no duplicate
            assert integrity == "ok" and set(rows) <= set(want)
            partial += 0 < len(rows) < len(want)
    record_property("kills", {"interrupted": interrupted, "partial": partial})
    assert interrupted >= 3 and partial >= 1  # kills landed while it ran, some mid-archive

    _run(triage_command(archive, results, model=SLOW_MODEL), env)
    got, got_skipped, integrity = _state(results)
    assert integrity == "ok"
    assert set(got) == set(want) and got_skipped == want_skipped
    for key, row in got.items():
        ref = want[key]
        assert row.probabilities == pytest.approx(ref.probabilities, abs=1e-6)
        assert row.suspicion == pytest.approx(ref.suspicion, abs=1e-6)
        assert (row.top_class, row.top_slice, row.flagged_slices) == (
            ref.top_class,
            ref.top_slice,
            ref.flagged_slices,
        )
