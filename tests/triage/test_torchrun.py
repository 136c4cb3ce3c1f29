"""``torchrun --nproc_per_node 2 -m medviewer triage``: two CPU processes (gloo) share the
series by UID hash, each writes its own results file, rank 0 merges them and reports once:
every series appears exactly once, as in a single-process run; run again, nothing repeats."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys

import pytest

from medviewer.triage.job import TriageOptions, triage
from medviewer.triage.shard import rank_results_path
from medviewer.triage.store import ResultsStore
from tests.triage.conftest import MODEL, N_CT, REPO, cli_env, triage_command


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(archive, results, env) -> dict:
    run = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--nnodes", "1"]
    run += ["--master_addr", "127.0.0.1", "--master_port", str(_free_port())]
    cmd = triage_command(archive, results, "--json")
    assert cmd[1:3] == ["-m", "medviewer"]
    done = subprocess.run(
        [*run, *cmd[1:]], env=env, cwd=REPO, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)  # one JSON object: only rank 0 printed


def test_two_ranks_triage_every_series_exactly_once(archive, models_dir, registry, tmp_path):
    env = cli_env(models_dir, tmp_path / "data")
    results = tmp_path / "r.sqlite"
    summary = _torchrun(archive, results, env)
    assert (summary["done"], summary["already"], summary["failed"]) == (N_CT, 0, 0)
    assert summary["skipped"] == 3 and summary["model"]["name"] == "tiny-triage"
    assert summary["stored"]["series"] == N_CT

    with sqlite3.connect(results) as conn:
        keys = [k for (k,) in conn.execute("SELECT series_key FROM results")]
    assert sorted(keys) == sorted(archive.ct_keys)  # every series, each once
    assert not rank_results_path(results, 0).exists()  # merged, then removed
    assert not rank_results_path(results, 1).exists()
    with ResultsStore(results, read_only=True) as store:
        got = {r.series_key: r for r in store.results()}
        skipped = sorted((s.code, s.where) for s in store.skipped())
        assert store.integrity() == "ok"
    assert skipped == sorted(
        [
            ("not_image", archive.not_image),
            ("other_modality", archive.mr_key),
            ("unreadable", archive.unreadable),
        ]
    )

    single = tmp_path / "single.sqlite"
    triage([archive.root], single, TriageOptions(model_ref=MODEL, device="cpu"), registry=registry)
    with ResultsStore(single, read_only=True) as store:
        want = {r.series_key: r for r in store.results()}
    for key, row in want.items():
        assert got[key].probabilities == pytest.approx(row.probabilities, abs=1e-5)
        assert got[key].top_slice == row.top_slice

    again = _torchrun(archive, results, env)  # resumes from the merged file
    assert (again["done"], again["already"]) == (0, N_CT)
    with sqlite3.connect(results) as conn:
        assert conn.execute("SELECT count(*) FROM results").fetchone()[0] == N_CT
