"""Fine-tuning: transfer modes, failures (NaN, out of memory, cancel, kill), atomic versions,
and the end-to-end run on the sample study with the bundled model."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from medviewer.ai import train as T
from medviewer.ai.datasets import SplitOptions, prepare
from medviewer.ai.package import load_package
from medviewer.ai.registry import ModelRegistry
from medviewer.ai.train import BatchProgress, EpochResult, Evaluating, TrainOptions, finetune
from medviewer.errors import Cancelled, ModelError
from medviewer.jobs import CancelToken
from tests.ai.conftest import snapshot
from tests.ai.finetune_helpers import label_all, make_dataset, tiny_registry

REPO = Path(__file__).resolve().parents[2]
REPO_MODELS = REPO / "models"
FAST = dict(epochs=2, head_epochs=1, lr=1e-2, batch_size=8, early_stopping=0)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ft")
    data = make_dataset(root / "patients", patients=4, n=12, size=32)
    store = root / "labels.sqlite"
    label_all(store, data)
    return SimpleNamespace(root=root, data=data, store=store)


@pytest.fixture
def tiny(tmp_path, tiny_data):
    registry = tiny_registry(tmp_path)
    plan = prepare(tiny_data.store, "tiny-ct", registry=registry)
    return SimpleNamespace(registry=registry, plan=plan, store=tiny_data.store)


def _weights(entry) -> dict:
    from safetensors.torch import load_file

    return load_file(str(entry.folder / entry.manifest.weights_file))


# -- transfer modes ------------------------------------------------------------------------------
def test_probe_leaves_the_backbone_bit_identical(tiny):
    base = tiny.registry.find("tiny-ct")
    res = finetune(tiny.plan, TrainOptions(mode="probe", **FAST), registry=tiny.registry)
    old, new = _weights(base), _weights(res.entry)
    assert old.keys() == new.keys()
    changed = sorted(k for k in old if not torch.equal(old[k], new[k]))
    assert changed == ["classifier.bias", "classifier.weight"]  # BatchNorm statistics too


@pytest.mark.parametrize("mode", ["full", "two_stage"])
def test_full_and_two_stage_train_the_backbone(tiny, mode, monkeypatch):
    base = tiny.registry.find("tiny-ct")
    real, epochs = T._monitor_value, []

    def monitor(*a):  # every epoch is the best so far: the last epoch's weights are saved
        epochs.append(1)
        return float(len(epochs)), real(*a)[1]

    monkeypatch.setattr(T, "_monitor_value", monitor)
    steps = []
    res = finetune(
        tiny.plan, TrainOptions(mode=mode, **FAST), registry=tiny.registry, on_progress=steps.append
    )
    old, new = _weights(base), _weights(res.entry)
    assert not torch.equal(old["features.0.0.weight"], new["features.0.0.weight"])
    stages = [s.detail.stage for s in steps if isinstance(s.detail, EpochResult)]
    assert stages == (["all", "all"] if mode == "full" else ["head", "all"])
    batches = [s.detail for s in steps if isinstance(s.detail, BatchProgress)]
    assert batches[0].batch == 1 and batches[0].n_batches == 5 and batches[0].batch_size == 8
    assert [s.detail.which for s in steps if isinstance(s.detail, Evaluating)] == ["base", "new"]
    fractions = [s.fraction for s in steps if s.fraction is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_a_new_class_grows_the_head_and_keeps_the_old_rows_exactly():
    model = load_package(REPO_MODELS / "headct-lesions" / "1.0.0")
    net = copy.deepcopy(model.module)
    T.grow_head(net, 3, 4, seed=0)
    name, head = T.find_head(net, 4)
    assert name == "head.1"
    old = model.module.head[1]
    assert torch.equal(head.weight[:3], old.weight) and torch.equal(head.bias[:3], old.bias)
    x = torch.rand(2, 3, 256, 256)
    net.eval()
    with torch.no_grad():
        want, got = model.module(x), net(x)
    assert got.shape == (2, 4)
    torch.testing.assert_close(got[:, :3], want, rtol=0, atol=1e-5)


def test_augmentation_is_seeded_and_stays_in_range():
    x = torch.rand(4, 3, 32, 32)
    a = T.augment_batch(x, torch.Generator().manual_seed(5))
    b = T.augment_batch(x, torch.Generator().manual_seed(5))
    c = T.augment_batch(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, x)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1


def test_options_are_checked():
    with pytest.raises(ModelError, match="mode must be one of probe, full, two_stage"):
        T.check_options(TrainOptions(mode="lora"))
    with pytest.raises(ModelError, match="lr must be a positive number"):
        T.check_options(TrainOptions(lr=0))


@pytest.mark.parametrize("loss", ["ce", "focal"])
def test_other_losses_and_sgd_train(tiny, loss):
    opts = TrainOptions(
        mode="full", loss=loss, optimizer="sgd", label_smoothing=0.1, augment=False, **FAST
    )
    res = finetune(tiny.plan, opts, registry=tiny.registry)
    assert res.entry.manifest.lineage["options"]["loss"] == loss
    assert all(np.isfinite(h.train_loss) for h in res.history)


# -- failures ----------------------------------------------------------------------------------
def _versions(registry) -> list[str]:
    return [e.ref for e in registry.entries()]


def test_nan_loss_stops_with_a_model_error(tiny, monkeypatch):
    real = T._loss_fn
    monkeypatch.setattr(
        T, "_loss_fn", lambda *a: lambda logits, y: real(*a)(logits, y) * float("nan")
    )
    with pytest.raises(ModelError, match=r"diverged at epoch 1 batch 1 \(loss nan\): lower the"):
        finetune(tiny.plan, TrainOptions(**FAST), registry=tiny.registry)
    assert _versions(tiny.registry) == ["tiny-ct:1.0.0"]


def test_a_huge_learning_rate_diverges(tiny):
    with pytest.raises(ModelError, match="diverged"):
        opts = TrainOptions(mode="full", optimizer="sgd", lr=1e12, epochs=3, early_stopping=0)
        finetune(tiny.plan, opts, registry=tiny.registry)


@pytest.mark.parametrize(
    "error",
    [torch.OutOfMemoryError("CUDA out of memory. Tried"), RuntimeError("CUDA out of memory")],
)
def test_out_of_memory_halves_the_batch_and_goes_on(tiny, monkeypatch, error):
    real, calls = T._step, []

    def step(net, x, *rest):
        calls.append(int(x.shape[0]))
        if len(calls) == 2:
            raise error
        return real(net, x, *rest)

    monkeypatch.setattr(T, "_step", step)
    steps = []
    res = finetune(
        tiny.plan,
        TrainOptions(mode="full", **FAST),
        registry=tiny.registry,
        on_progress=steps.append,
    )
    assert calls[:4] == [8, 8, 4, 4]
    assert "out of memory: batch halved to 4" in res.warnings
    batches = [s.detail for s in steps if isinstance(s.detail, BatchProgress)]
    assert batches[0].batch_size == 8 and {b.batch_size for b in batches[1:]} == {4}
    for epoch in (1, 2):  # every slice still trained, once per epoch
        assert sum(b.slices for b in batches if b.epoch == epoch) == len(tiny.plan.train)


def test_out_of_memory_at_one_slice_is_an_error(tiny, monkeypatch):
    def step(*a):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(T, "_step", step)
    with pytest.raises(ModelError, match="not enough memory on cpu to train even one slice"):
        finetune(tiny.plan, TrainOptions(**FAST), registry=tiny.registry)
    assert _versions(tiny.registry) == ["tiny-ct:1.0.0"]


def test_cancel_between_batches_installs_nothing(tiny):
    token = CancelToken()
    seen = []

    def on_progress(step):
        seen.append(step)
        if isinstance(step.detail, BatchProgress):
            token.cancel()

    with pytest.raises(Cancelled):
        finetune(
            tiny.plan,
            TrainOptions(**FAST),
            registry=tiny.registry,
            cancel=token,
            on_progress=on_progress,
        )
    assert sum(isinstance(s.detail, BatchProgress) for s in seen) == 1
    assert _versions(tiny.registry) == ["tiny-ct:1.0.0"]
    assert not tiny.registry.user_dir.exists() or not any(tiny.registry.user_dir.rglob("*.json"))


def test_cuda_device_path(tiny, monkeypatch):
    def is_available():  # a GPU for medviewer's device choice; torch's internals see none
        return sys._getframe(1).f_globals.get("__name__") == "medviewer.ai.device"

    monkeypatch.setattr(torch.cuda, "is_available", is_available)
    placed = []

    def placement(device):
        placed.append(device)
        return "cpu"  # a label only: this machine has no GPU

    monkeypatch.setattr(T, "_placement", placement)
    res = finetune(tiny.plan, TrainOptions(device="auto", **FAST), registry=tiny.registry)
    assert res.device == "cuda" and placed.count("cuda") >= 3  # net, batches, validation
    assert res.entry.manifest.lineage["device"] == "cuda"


def test_a_failed_save_leaves_no_version_and_no_temporary_folder(tiny, monkeypatch):
    def rename(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(T.os, "rename", rename)
    with pytest.raises(ModelError, match="No space left on device.*nothing was installed"):
        finetune(tiny.plan, TrainOptions(**FAST), registry=tiny.registry)
    assert _versions(tiny.registry) == ["tiny-ct:1.0.0"]
    assert [p.name for p in tiny.registry.user_dir.iterdir() if p.name.startswith(".")] == []


def test_temporary_folders_are_never_listed_and_stale_ones_are_cleaned(tiny):
    res = finetune(tiny.plan, TrainOptions(**FAST), registry=tiny.registry)
    leftover = tiny.registry.user_dir / ".tmp-finetune-killed"
    import shutil

    shutil.copytree(res.entry.folder, leftover)
    manifest = json.loads((leftover / "manifest.json").read_text())
    manifest["version"] = "9.9.9"
    (leftover / "manifest.json").write_text(json.dumps(manifest))
    assert _versions(tiny.registry) == ["tiny-ct:1.0.0", "tiny-ct:1.1.0"]
    assert tiny.registry.clean_stale_temporary() == []  # recent: maybe a run saving now
    old = time.time() - 7200
    os.utime(leftover, (old, old))
    assert tiny.registry.clean_stale_temporary() == [leftover] and not leftover.exists()


# -- versions, lineage, card ---------------------------------------------------------------
def test_versions_count_up_and_never_activate_themselves(tiny):
    reg = tiny.registry
    assert reg.active("CT").ref == "tiny-ct:1.0.0" and reg.active_refs() == {}
    first = finetune(tiny.plan, TrainOptions(**FAST), registry=reg)
    second = finetune(tiny.plan, TrainOptions(**FAST), registry=reg)
    assert (first.entry.version, second.entry.version) == ("1.1.0", "1.2.0")
    assert _versions(reg) == ["tiny-ct:1.0.0", "tiny-ct:1.1.0", "tiny-ct:1.2.0"]
    assert reg.active("CT").ref == "tiny-ct:1.0.0"  # pinned before the first new version
    assert not first.entry.bundled and first.entry.folder.parent.parent == reg.user_dir
    reg.set_active("CT", "tiny-ct:1.1.0")
    third = finetune(tiny.plan, TrainOptions(**FAST), registry=reg)
    assert third.entry.version == "1.3.0" and reg.active("CT").ref == "tiny-ct:1.1.0"
    load_package(third.entry.folder)  # sha256 and shapes check out


def test_manifest_lineage_metrics_and_model_card(tiny):
    res = finetune(tiny.plan, TrainOptions(**FAST), registry=tiny.registry)
    m = res.entry.manifest
    base = tiny.registry.find("tiny-ct:1.0.0").manifest
    lin = m.lineage
    assert lin["base"] == {"name": "tiny-ct", "version": "1.0.0", "sha256": base.sha256}
    assert lin["label_snapshot"] == tiny.plan.label_snapshot and lin["annotators"] == ["alice"]
    assert lin["split"]["train"] == len(tiny.plan.train) and lin["split"]["val"] == 12
    assert lin["options"]["epochs"] == 2 and lin["date"].endswith("+00:00")
    assert m.metrics["base"]["cases"] == m.metrics["new"]["cases"]
    assert m.temperature == pytest.approx(res.new_metrics["temperature"])
    for metrics in (res.base_metrics, res.new_metrics):
        assert set(metrics) >= {
            "n", "classes", "accuracy", "macro_f1", "macro_auc", "ece", "ece_before_scaling",
            "temperature", "per_class", "confusion", "reliability",
        }  # fmt: skip
        assert set(metrics["per_class"]["lesion"]) == {
            "precision", "recall", "f1", "auc", "support",
        }  # fmt: skip
        assert np.array(metrics["confusion"]).sum() == metrics["n"] == 12
        assert sum(metrics["reliability"]["count"]) == 12
    card = (res.entry.folder / "MODEL_CARD.md").read_text()
    assert "fine-tuned from tiny-ct:1.0.0" in card and "Not for diagnosis" in card
    assert tiny.plan.label_snapshot in card and "alice" in card
    assert "| accuracy |" in card and "| lesion |" in card


# -- end to end: the sample study, the bundled model -------------------------------------------
@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    from medviewer.dicom import scan
    from medviewer.labels.schema import SliceKey
    from medviewer.labels.store import LabelStore
    from medviewer.resources import sample_study_dir

    root = tmp_path_factory.mktemp("e2e")
    (study,) = scan([sample_study_dir()]).studies
    (series,) = study.series
    store = root / "labels.sqlite"
    with LabelStore(store) as st, st.transaction():
        for k, ref in enumerate(series.slices):
            key = SliceKey(series.study_uid, series.series_uid, ref.sop_instance_uid)
            label = "skull_base" if k < 35 else "normal"
            st.set_label(key, label, annotator="alice", path_hint=ref.path)
    data = root / "data"
    registry = ModelRegistry(REPO_MODELS, data / "models", data / "active_models.json")
    bundled_before = snapshot(REPO_MODELS)
    plan = prepare(
        store,
        "headct-lesions:2.0.0",
        split=SplitOptions(allow_single_patient=True),
        add_classes=True,
        registry=registry,
    )
    steps = []
    opts = TrainOptions(mode="two_stage", epochs=3, head_epochs=1, lr=1e-2, early_stopping=0)
    result = finetune(plan, opts, registry=registry, on_progress=steps.append)
    return SimpleNamespace(
        root=root,
        data=data,
        series=series,
        registry=registry,
        plan=plan,
        result=result,
        steps=steps,
        bundled_before=bundled_before,
    )


def test_e2e_a_new_version_with_base_and_new_metrics_on_the_same_cases(e2e):
    res = e2e.result
    assert res.entry.ref == "headct-lesions:2.1.0" and not res.entry.bundled
    assert [e.ref for e in e2e.registry.entries()] == [
        "headct-lesions:1.0.0",
        "headct-lesions:2.0.0",
        "headct-lesions:2.1.0",
    ]
    assert res.entry.manifest.architecture == "lesion_evidence"
    assert res.entry.manifest.classes == (
        "normal",
        "hyperdense_lesion",
        "hypodense_lesion",
        "skull_base",
    )
    b, n = res.base_metrics, res.new_metrics
    assert b["n"] == n["n"] == len(e2e.plan.val) == 27
    assert b["cases"] == n["cases"] and len(set(n["cases"])) == 27
    assert "no output for skull_base" in b["note"]
    assert b["per_class"]["skull_base"]["recall"] == 0.0  # the base cannot say skull_base
    assert n["macro_f1"] >= b["macro_f1"] + 0.3 and n["accuracy"] >= b["accuracy"] + 0.2
    assert n["per_class"]["skull_base"]["recall"] >= 0.8


def test_e2e_bundled_models_are_never_written(e2e):
    assert snapshot(REPO_MODELS) == e2e.bundled_before


def test_e2e_activate_and_the_predictions_change(e2e, monkeypatch, capsys):
    from medviewer.ai.classifier import predict
    from medviewer.cli import main
    from medviewer.dicom import load_volume

    monkeypatch.setenv("MEDVIEWER_MODELS", str(REPO_MODELS))
    monkeypatch.setenv("MEDVIEWER_DATA_DIR", str(e2e.data))
    assert ModelRegistry().active("CT").ref == "headct-lesions:2.0.0"  # not active by itself
    assert main(["models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["models"]
    assert [r["ref"] for r in listed] == [
        "headct-lesions:1.0.0",
        "headct-lesions:2.0.0",
        "headct-lesions:2.1.0",
    ]
    assert [r["active_for"] for r in listed] == [[], ["CT"], []]
    volume = load_volume(e2e.series)
    registry = ModelRegistry()
    before = predict(registry.load(modality="CT", device="cpu"), volume)
    assert main(["models", "activate", "headct-lesions:2.1.0", "--modality", "CT"]) == 0
    registry = ModelRegistry()
    assert registry.active("CT").ref == "headct-lesions:2.1.0"
    after = predict(registry.load(modality="CT", device="cpu"), volume)
    assert "skull_base" not in before.classes and "skull_base" in after.classes
    tops = [p.top for p in after.slices]
    assert tops.count("skull_base") >= 25
    assert sum(p.top == "skull_base" for p in after.slices[:35]) >= 28
    assert sum(a.top != b.top for a, b in zip(after.slices, before.slices)) >= 25


# -- killed mid-training -------------------------------------------------------------------
def test_killed_during_training_leaves_the_old_model_active_and_loadable(tmp_path, tiny_data):
    registry = tiny_registry(tmp_path)
    data_dir = registry.user_dir.parent
    env = {
        **os.environ,
        "MEDVIEWER_MODELS": str(registry.bundled_dir),
        "MEDVIEWER_DATA_DIR": str(data_dir),
        "OMP_NUM_THREADS": "1",
    }
    cmd = [sys.executable, "-m", "medviewer", "train", "--store", str(tiny_data.store)]
    cmd += ["--base", "tiny-ct", "--mode", "full", "--epochs", "500", "--early-stopping", "0"]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("epoch 1/500"):
                break
        assert lines and lines[-1].startswith("epoch 1/500"), "".join(lines)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    fresh = ModelRegistry(registry.bundled_dir, registry.user_dir, registry.state_file)
    assert [e.ref for e in fresh.entries()] == ["tiny-ct:1.0.0"] and fresh.problems() == []
    assert fresh.active("CT").ref == "tiny-ct:1.0.0"
    model = fresh.load(modality="CT", device="cpu")
    assert model.manifest.ref == "tiny-ct:1.0.0"
    user = fresh.user_dir
    assert not user.exists() or not [p for p in user.rglob("manifest.json")]
