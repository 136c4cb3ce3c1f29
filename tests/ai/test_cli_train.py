"""``medviewer train``: the JSON object, the new version in ``models list``, exit codes."""

from __future__ import annotations

import json

import pytest

from tests.ai.conftest import snapshot
from tests.ai.finetune_helpers import label_all, make_dataset
from tests.cli_run import run_cli

TOP_KEYS = {"model", "base", "split", "base_metrics", "new_metrics"}
METRIC_KEYS = {"accuracy", "macro_f1", "macro_auc", "ece", "per_class", "n", "confusion"}
QUICK = ["--epochs", "2", "--lr", "0.01", "--batch-size", "8", "--early-stopping", "0"]


@pytest.fixture(scope="module")
def labeled(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-train")
    data = make_dataset(root / "patients", patients=4, n=12, size=32)
    store = root / "labels.sqlite"
    label_all(store, data)
    return {"root": root, "store": store, "data": data}


@pytest.fixture
def env(tmp_path, monkeypatch, labeled):
    from medviewer.testing.tiny_model import make_package

    bundled = tmp_path / "bundled"
    make_package(bundled / "tiny-ct" / "1.0.0", seed=3)
    data = tmp_path / "data"
    monkeypatch.setenv("MEDVIEWER_MODELS", str(bundled))
    monkeypatch.setenv("MEDVIEWER_DATA_DIR", str(data))
    return {**labeled, "bundled": bundled, "data": data, "tmp": tmp_path}


_run = run_cli


def test_train_json_is_the_promised_object_and_the_version_is_listed(env, capsys):
    before = snapshot(env["bundled"])
    code, out, err = _run(capsys, "train", "--store", env["store"], "--base", "tiny-ct", *QUICK,
                          "--json")  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == TOP_KEYS
    assert doc["model"] == {
        "name": "tiny-ct",
        "version": "1.1.0",
        "path": str(env["data"] / "models" / "tiny-ct" / "1.1.0"),
    }
    assert doc["base"] == {"name": "tiny-ct", "version": "1.0.0"}
    assert doc["split"] == {"train": 36, "val": 12, "patients_train": 3, "patients_val": 1}
    for key in ("base_metrics", "new_metrics"):
        assert set(doc[key]) >= METRIC_KEYS and doc[key]["n"] == 12
    assert doc["base_metrics"]["cases"] == doc["new_metrics"]["cases"]
    assert "epoch 1/2" in err and "epoch 2/2" in err  # one line per epoch on stderr
    assert "no lesion" in err and "patients 3 train / 1 val" in err  # the plan's summary
    assert snapshot(env["bundled"]) == before

    code, out, _ = _run(capsys, "models", "list", "--json")
    rows = {r["ref"]: r for r in json.loads(out)["models"]}
    assert set(rows) == {"tiny-ct:1.0.0", "tiny-ct:1.1.0"}
    assert (
        rows["tiny-ct:1.0.0"]["active_for"] == ["CT"] and rows["tiny-ct:1.1.0"]["active_for"] == []
    )
    code, _, err = _run(capsys, "models", "activate", "tiny-ct:1.1.0", "--modality", "CT")
    assert code == 0 and "tiny-ct:1.1.0 is now the model for CT" in err
    code, out, _ = _run(capsys, "models", "list", "--json")
    rows = {r["ref"]: r for r in json.loads(out)["models"]}
    assert rows["tiny-ct:1.1.0"]["active_for"] == ["CT"]


def test_train_text_output_and_map(env, capsys):
    code, out, err = _run(capsys, "train", "--store", env["store"], "--base", "tiny-ct:1.0.0",
                          "--mode", "probe", *QUICK, "--map", "lesion=lesion")  # fmt: skip
    assert code == 0, err
    assert "saved tiny-ct:1.1.0" in out and "not active" in out
    assert "macro_f1" in out and "medviewer models activate tiny-ct:1.1.0 --modality CT" in out


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--map", "lesion"], "write LABEL=CLASS"),
        (["--fold", "1"], "--fold needs --k-folds"),
        (["--k-folds", "1"], "--k-folds must be at least 2"),
        (["--val-fraction", "1.5"], "--val-fraction must lie between 0 and 1"),
        (["--label-smoothing", "2"], "label_smoothing must be between 0 and 1"),
        (["--head-epochs", "-1"], "head_epochs must be a whole number of at least 0"),
    ],
)
def test_usage_errors_exit_2(env, capsys, args, needle):
    code, _, err = _run(capsys, "train", "--store", env["store"], "--base", "tiny-ct", *args)
    assert code == 2 and needle in err


def test_missing_arguments_exit_2(env, capsys):
    code, _, err = _run(capsys, "train", "--store", env["store"])
    assert code == 2 and "--base" in err


def test_unusable_data_exits_1_with_one_line(env, capsys, tmp_path):
    code, _, err = _run(capsys, "train", "--store", tmp_path / "none.sqlite", "--base", "tiny-ct")
    assert code == 1 and "no label store at" in err
    one = tmp_path / "one.sqlite"
    label_all(one, [])  # an empty store
    code, _, err = _run(capsys, "train", "--store", one, "--base", "tiny-ct")
    assert code == 1 and "no final labels in" in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(capsys, "train", "--store", env["store"], "--base", "nope")
    assert code == 1 and "no model 'nope'" in err
    assert not (env["data"] / "models").exists() or not any((env["data"] / "models").iterdir())
