"""``medviewer triage`` killed (SIGKILL) at 10 random moments and started again each time: the
final results equal one uninterrupted run's, with no duplicate and an intact file.

Each kill is aimed at a seeded random point of progress, not at a time: a third in the
start-up (a random delay within the reference run's start-up), the rest after a random number
of the series still left have been stored (the results file is polled), plus a random part of
one series' time, so they land between series, inside a series' inference and inside a store
write. A kill whose process has already ended is not counted; aiming by progress keeps
enough of them landing however fast or slow the machine is. The model (160 x 160 input) makes
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


def _stored(path) -> int | None:
    """Rows in the results file now (0 before it exists; None while it cannot be read)."""
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.2) as conn:
            return int(conn.execute("SELECT count(*) FROM results").fetchone()[0])
    except sqlite3.Error:
        return None


def _wait_for_rows(proc, path, rows: int, limit: float = 60.0) -> None:
    """Until ``rows`` results are stored or ``proc`` ends."""
    end = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < end:
        n = _stored(path)
        if n is not None and n >= rows:
            return
        time.sleep(0.01)


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
        done = len(_state(results)[0]) if results.exists() else 0
        left = len(want) - done
        proc = subprocess.Popen(
            triage_command(archive, results, model=SLOW_MODEL),
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if left < 2 or rng.random() < 1 / 3:
            time.sleep(rng.uniform(0.0, start_up))  # in the start-up
        else:
            _wait_for_rows(proc, results, done + rng.randint(1, left - 1))
            time.sleep(rng.uniform(0.0, 0.5 * per_series))  # somewhere in the next series
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
