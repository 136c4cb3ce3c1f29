"""``torchrun --nproc_per_node 2 -m medviewer train``: two CPU processes (gloo), DDP, rank 0
saves and prints; the result has the shape and metric keys of the single-process run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from medviewer.ai import ddp
from tests.ai.finetune_helpers import label_all, make_dataset

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keys(obj, prefix=""):
    """Every key path of a JSON object (list items and per-class names collapsed)."""
    out = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            name = "*" if prefix.endswith("per_class") else k
            out.add(f"{prefix}.{name}")
            out |= _keys(v, f"{prefix}.{name}")
    return out


@pytest.fixture
def setup(tmp_path):
    from medviewer.testing.tiny_model import make_package

    data = make_dataset(tmp_path / "patients", patients=4, n=12, size=32)
    store = tmp_path / "labels.sqlite"
    label_all(store, data)
    bundled = tmp_path / "bundled"
    make_package(bundled / "tiny-ct" / "1.0.0", seed=3)
    env = {
        **os.environ,
        "MEDVIEWER_MODELS": str(bundled),
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(REPO),
    }
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    args = ["train", "--store", str(store), "--base", "tiny-ct", "--mode", "full"]
    args += ["--epochs", "2", "--batch-size", "6", "--early-stopping", "0", "--json"]
    return tmp_path, env, args


def test_two_cpu_processes_match_the_single_process_result(setup):
    tmp, env, args = setup
    single = subprocess.run(
        [sys.executable, "-m", "medviewer", *args],
        env={**env, "MEDVIEWER_DATA_DIR": str(tmp / "single")},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert single.returncode == 0, single.stderr
    port = _free_port()
    run = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    run += ["--nnodes", "1", "--master_addr", "127.0.0.1", "--master_port", str(port)]
    multi = subprocess.run(
        [*run, "-m", "medviewer", *args],
        env={**env, "MEDVIEWER_DATA_DIR": str(tmp / "multi")},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert multi.returncode == 0, multi.stderr[-3000:]
    one, two = json.loads(single.stdout), json.loads(multi.stdout)  # rank 0 printed once
    assert _keys(one) == _keys(two)
    assert one["split"] == two["split"] and one["base"] == two["base"]
    assert one["base_metrics"] == two["base_metrics"]  # the same base on the same cases
    assert two["new_metrics"]["cases"] == one["new_metrics"]["cases"]
    assert two["model"]["version"] == "1.1.0"
    manifest = json.loads((Path(two["model"]["path"]) / "manifest.json").read_text())
    assert manifest["lineage"]["world_size"] == 2
    history = manifest["lineage"]["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    # only rank 0 saved: one version, and the epoch lines once each
    assert [p.name for p in (tmp / "multi" / "models" / "tiny-ct").iterdir()] == ["1.1.0"]
    assert multi.stderr.count("epoch 1/2 (all)") == 1


def test_without_torchrun_nothing_is_distributed(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx, device = ddp.setup("cpu")
    assert not ctx.distributed and ctx.is_main and device == "cpu"
    assert ddp.mean_across(ctx, 2.5) == 2.5
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert ddp.world_size() == 1 and ddp.rank() == 0
