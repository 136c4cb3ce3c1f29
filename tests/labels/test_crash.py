"""Reliability: a writer killed with SIGKILL at random moments loses no acknowledged label and
never corrupts the store; two processes writing at once lose nothing and never see "locked"."""

import random
import signal
import subprocess
import sys
import time

import pytest

from medviewer.labels.store import LabelStore
from medviewer.testing.label_store import apply_operation, expected_after

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")

WRITER = [sys.executable, "-m", "medviewer.testing.label_store", "write"]
KILLS = 50


def _state(store, annotator):
    return {a.key: a.label for a in store.query(annotator=annotator)}


def test_sigkill_at_random_moments_loses_no_acknowledged_label(tmp_path):
    path = tmp_path / "labels.sqlite"
    rng = random.Random(20260506)
    next_op = 0
    expected: dict = {}  # the store's state after every acknowledged operation
    total_acked = 0
    for kill in range(KILLS):
        proc = subprocess.Popen(
            [*WRITER, str(path), str(next_op)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        first = ""
        if kill % 10 == 0:  # sometimes while it starts (opening, recovering the WAL)
            time.sleep(rng.uniform(0.0, 0.08))
        else:  # mostly in the middle of writing
            first = proc.stdout.readline()
            assert first.strip().isdigit(), proc.stderr.read()
            time.sleep(rng.uniform(0.0, 0.05))
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()
        proc.wait(timeout=30)
        err = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL, err
        text = first + rest
        acked = [int(line) for line in text.split("\n")[:-1]]  # a cut last line is not acked
        assert acked == list(range(next_op, next_op + len(acked)))
        for j in acked:
            apply_operation(expected, j)
        total_acked += len(acked)
        next_op += len(acked)
        with LabelStore(path) as store:
            assert store.integrity_check() == "ok"
            stored = _state(store, "writer")
        # the operation in flight when it died may or may not have committed
        maybe = dict(expected)
        apply_operation(maybe, next_op)
        assert stored in (expected, maybe), f"kill {kill}: acknowledged labels lost"
        if stored != expected:
            expected, next_op = maybe, next_op + 1
    assert total_acked > 3 * KILLS  # the kills really landed mid-writing


def _spawn_writer(path, annotator, count, go_file):
    return subprocess.Popen(
        [*WRITER, str(path), "0", "--count", str(count), "--annotator", annotator,
         "--go-file", str(go_file), "--pause-ms", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def test_two_instances_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "labels.sqlite"
    LabelStore(path).close()
    go = tmp_path / "go"
    count = 150
    procs = {name: _spawn_writer(path, name, count, go) for name in ("alice", "bob")}
    for proc in procs.values():
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    go.write_text("")
    started = time.monotonic()
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        results[name] = (proc.returncode, out, err)
    for rc, out, err in results.values():
        assert rc == 0, err
        assert "locked" not in err and "Traceback" not in err, err
        assert out.split() == [str(j) for j in range(count)]
    with LabelStore(path) as store:
        assert store.integrity_check() == "ok"
        want = expected_after(range(count))
        assert _state(store, "alice") == want and _state(store, "bob") == want
        n_history = store.conn.execute("SELECT count(*) FROM history").fetchone()[0]
        changes = sum(1 for j in range(count) if _changes(j))
        assert n_history == 2 * changes
        spans = {
            name: store.conn.execute(
                "SELECT min(at), max(at) FROM history WHERE actor = ?", (name,)
            ).fetchone()
            for name in ("alice", "bob")
        }
    # both wrote while the other was writing (neither simply waited for the other to finish)
    (a0, a1), (b0, b1) = spans["alice"], spans["bob"]
    assert a0 < b1 and b0 < a1, spans
    assert time.monotonic() - started < 100


def _changes(j: int) -> bool:
    """Whether operation j changes the state it finds (a no-op writes no history)."""
    before = expected_after(range(j))
    after = dict(before)
    apply_operation(after, j)
    return before != after
