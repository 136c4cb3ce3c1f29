"""``medviewer infer`` and ``medviewer models``: JSON schema, tables, model choice, bad inputs.

Exit codes as the rest of the CLI: 0, 1 with a one-line reason, 2 usage; never a traceback;
a failing command modifies no file.
"""

import json
import shutil
import subprocess
import sys

import pytest
import torch

from medviewer.ai.classifier import predict
from medviewer.ai.package import load_package
from medviewer.dicom import load_volume, scan
from medviewer.testing.tiny_model import make_package
from tests.ai.conftest import edit_manifest, make_exploit_package, snapshot
from tests.cli_run import run_cli

SLICES = 6


@pytest.fixture
def env(tmp_path, monkeypatch, tiny_pkg, ct_folder):
    """Bundled: tiny-ct 1.0.0 (CT). User data dir empty. MEDVIEWER_* point at them."""
    bundled = tmp_path / "bundled"
    shutil.copytree(tiny_pkg, bundled / "tiny-ct" / "1.0.0")
    data = tmp_path / "data"
    monkeypatch.setenv("MEDVIEWER_MODELS", str(bundled))
    monkeypatch.setenv("MEDVIEWER_DATA_DIR", str(data))
    return {"tmp": tmp_path, "bundled": bundled, "data": data, "series": ct_folder}


_run = run_cli


def _one_line_error(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], lines[0]


# -- infer --------------------------------------------------------------------------------------
def test_infer_json_is_one_object_in_convert_order(env, capsys):
    code, out, err = _run(capsys, "infer", env["series"], "--json", "--batch-size", 4)
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"model", "device", "classes", "slices", "series", "warnings"}
    manifest = json.loads((env["bundled"] / "tiny-ct" / "1.0.0" / "manifest.json").read_text())
    assert doc["model"] == {
        "name": "tiny-ct",
        "version": "1.0.0",
        "sha256": manifest["weights"]["sha256"],
    }
    assert doc["device"] == "cpu" and doc["warnings"] == []
    assert doc["classes"] == ["no lesion", "lesion"]
    assert [s["index"] for s in doc["slices"]] == list(range(SLICES))
    for s in doc["slices"]:
        assert list(s["probabilities"]) == doc["classes"]
        assert sum(s["probabilities"].values()) == pytest.approx(1.0, abs=1e-9)
    assert doc["series"]["method"] == "max"
    for c in doc["classes"]:
        want = max(s["probabilities"][c] for s in doc["slices"])
        assert doc["series"]["probabilities"][c] == pytest.approx(want)
    # index k is slice k of the volume convert writes
    volume = load_volume(scan([str(env["series"])]).all_series()[0])
    direct = predict(load_package(env["bundled"] / "tiny-ct" / "1.0.0"), volume)
    for s, p in zip(doc["slices"], direct.slices):
        assert s["probabilities"] == pytest.approx(p.probabilities, abs=1e-6)


def test_infer_table(env, capsys):
    code, out, err = _run(capsys, "infer", env["series"])
    assert code == 0, err
    assert "Model tiny-ct 1.0.0" in out and "on cpu" in out
    assert "max over slices" in out and "<- top" in out
    assert "p(no lesion)" in out and "p(lesion)" in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [int(r[0]) for r in rows] == list(range(SLICES))


def test_cuda_requested_but_absent_runs_on_the_cpu_with_a_notice(env, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, out, err = _run(capsys, "infer", env["series"], "--json", "--device", "cuda")
    assert code == 0, err
    doc = json.loads(out)
    notice = "CUDA was requested but no CUDA GPU is available; running on the CPU"
    assert doc["device"] == "cpu" and doc["warnings"] == [notice]
    assert f"notice: {notice}" in err


def test_infer_uses_the_model_named_or_activated(env, capsys, tmp_path):
    newer = make_package(tmp_path / "newer", version="1.2.0", seed=7)
    assert _run(capsys, "models", "import", newer)[0] == 0
    code, out, _ = _run(capsys, "infer", env["series"], "--json")
    assert json.loads(out)["model"]["version"] == "1.2.0"  # the newest for CT by default
    code, out, _ = _run(capsys, "infer", env["series"], "--json", "--model", "tiny-ct:1.0.0")
    assert json.loads(out)["model"]["version"] == "1.0.0"
    assert _run(capsys, "models", "activate", "tiny-ct:1.0.0", "--modality", "CT")[0] == 0
    code, out, _ = _run(capsys, "infer", env["series"], "--json")
    assert json.loads(out)["model"]["version"] == "1.0.0"


def test_an_off_modality_model_warns(env, capsys, tmp_path):
    us_model = make_package(tmp_path / "us", name="us-model", modalities=("US",))
    assert _run(capsys, "models", "import", us_model)[0] == 0
    code, out, err = _run(capsys, "infer", env["series"], "--json", "--model", "us-model")
    assert code == 0, err
    warnings = json.loads(out)["warnings"]
    assert len(warnings) == 1
    assert "the model card lists US; this is a CT series" in warnings[0]
    assert f"warning: {warnings[0]}" in err


def test_no_model_for_the_modality(env, capsys):
    shutil.rmtree(env["bundled"] / "tiny-ct")
    code, out, err = _run(capsys, "infer", env["series"])
    assert code == 1 and out == ""
    _one_line_error(
        err, "no model for modality CT: import one with `medviewer models import FOLDER`"
    )


def test_infer_unknown_model(env, capsys):
    code, _, err = _run(capsys, "infer", env["series"], "--model", "nope")
    assert code == 1
    _one_line_error(err, "no model 'nope'", "tiny-ct:1.0.0")


def test_infer_with_a_damaged_model_modifies_nothing(env, capsys):
    folder = env["bundled"] / "tiny-ct" / "1.0.0"
    edit_manifest(folder, lambda d: d["weights"].update(sha256="0" * 64))
    before = snapshot(env["tmp"])
    code, out, err = _run(capsys, "infer", env["series"], "--json")
    assert code == 1 and out == ""
    _one_line_error(err, "does not match the manifest")
    assert snapshot(env["tmp"]) == before


@pytest.mark.parametrize(
    "args",
    [
        ["--batch-size", "0"],
        ["--batch-size", "x"],
        ["--device", "tpu"],
    ],
)
def test_infer_usage_errors(env, capsys, args):
    code, _, err = _run(capsys, "infer", env["series"], *args)
    assert code == 2 and "usage" in err


def test_infer_on_no_series(env, capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = _run(capsys, "infer", tmp_path / "empty")
    assert code == 1
    _one_line_error(err, "no image series found")
    code, _, err = _run(capsys, "infer", env["series"], "--series", "1.2.3")
    assert code == 1 and "1.2.3" in err


# -- models ----------------------------------------------------------------------------------------
def test_models_list_table_and_json(env, capsys, tmp_path):
    (env["bundled"] / "broken").mkdir()
    (env["bundled"] / "broken" / "manifest.json").write_text('{"name": "broken"}')
    code, out, err = _run(capsys, "models", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["REF", "SOURCE", "ARCHITECTURE"]
    assert lines[1].split()[:5] == ["tiny-ct:1.0.0", "bundled", "attention_cnn", "CT", "CT"]
    assert "no lesion, lesion" in lines[1]
    assert "warning:" in err and "'version' is missing" in err
    code, out, _ = _run(capsys, "models", "list", "--json")
    doc = json.loads(out)
    (m,) = doc["models"]
    assert m["ref"] == "tiny-ct:1.0.0" and m["bundled"] is True and m["source"] == "bundled"
    assert m["architecture"] == "attention_cnn" and m["classes"] == ["no lesion", "lesion"]
    assert m["modalities"] == ["CT"] and m["active_for"] == ["CT"]
    assert len(doc["problems"]) == 1


def test_models_list_empty(env, capsys):
    shutil.rmtree(env["bundled"])
    code, out, _ = _run(capsys, "models", "list")
    assert code == 0 and "No models installed" in out and "models import FOLDER" in out


def test_models_import_remove_cycle(env, capsys, tmp_path):
    src = make_package(tmp_path / "src", name="mine", version="0.2", modalities=("MR",))
    before = snapshot(src)
    code, _, err = _run(capsys, "models", "import", src)
    assert code == 0 and "imported mine:0.2" in err
    assert (env["data"] / "models" / "mine" / "0.2" / "manifest.json").is_file()
    assert snapshot(src) == before
    code, _, err = _run(capsys, "models", "import", src)
    assert code == 1
    _one_line_error(err, "already installed")
    code, out, _ = _run(capsys, "models", "list", "--json")
    assert {m["ref"]: m["source"] for m in json.loads(out)["models"]} == {
        "tiny-ct:1.0.0": "bundled",
        "mine:0.2": "user",
    }
    code, _, err = _run(capsys, "models", "remove", "mine:0.2")
    assert code == 0 and "removed mine:0.2" in err
    assert not (env["data"] / "models" / "mine").exists()
    assert snapshot(src) == before


def test_bundled_models_cannot_be_removed(env, capsys):
    before = snapshot(env["bundled"])
    code, _, err = _run(capsys, "models", "remove", "tiny-ct:1.0.0")
    assert code == 1
    _one_line_error(err, "bundled models are read-only")
    assert snapshot(env["bundled"]) == before
    code, _, err = _run(capsys, "models", "remove", "ghost:1")
    assert code == 1 and "no model 'ghost:1'" in err


@pytest.mark.parametrize("defect", ["missing_field", "wrong_type", "sha256", "pickle"])
def test_importing_a_bad_package_is_refused_and_changes_nothing(env, capsys, tmp_path, defect):
    marker = tmp_path / "pwned.txt"
    if defect == "pickle":
        src = make_exploit_package(tmp_path / "src", marker)
    else:
        src = make_package(tmp_path / "src")
        change = {
            "missing_field": lambda d: d.pop("cam_target_layer"),
            "wrong_type": lambda d: d["input"].update(channels="three"),
            "sha256": lambda d: d["weights"].update(sha256="f" * 64),
        }[defect]
        edit_manifest(src, change)
    before = snapshot(tmp_path)
    code, out, err = _run(capsys, "models", "import", src)
    assert code == 1 and out == ""
    expected = {
        "missing_field": "'cam_target_layer' is missing",
        "wrong_type": "'channels' must be 1 or 3 (found 'three')",
        "sha256": "does not match the manifest",
        "pickle": "refused",
    }[defect]
    _one_line_error(err, expected)
    assert not marker.exists()
    assert snapshot(tmp_path) == before
    assert not (env["data"] / "models").exists() or not any((env["data"] / "models").iterdir())


def test_models_activate(env, capsys):
    code, _, err = _run(capsys, "models", "activate", "tiny-ct", "--modality", "ct")
    assert code == 0 and "tiny-ct:1.0.0 is now the model for CT series" in err
    state = json.loads((env["data"] / "active_models.json").read_text())
    assert state["active"] == {"CT": "tiny-ct:1.0.0"}
    code, _, err = _run(capsys, "models", "activate", "tiny-ct", "--modality", "US")
    assert code == 0 and "warning: the model card of tiny-ct:1.0.0 lists CT, not US" in err
    code, _, err = _run(capsys, "models", "activate", "nope", "--modality", "CT")
    assert code == 1
    _one_line_error(err, "no model 'nope'")
    code, _, err = _run(capsys, "models", "activate", "tiny-ct")
    assert code == 2 and "--modality" in err


@pytest.mark.parametrize("args", [["models"], ["models", "frobnicate"], ["models", "import"]])
def test_models_usage_errors(env, capsys, args):
    code, _, err = _run(capsys, *args)
    assert code == 2 and err


def test_a_real_process_prints_json_and_one_line_errors(env):
    """``python -m medviewer``: the environment variables reach the registry; no traceback."""
    import os

    run_env = {**os.environ}
    ok = subprocess.run(
        [sys.executable, "-m", "medviewer", "models", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=run_env,
    )
    assert ok.returncode == 0, ok.stderr
    assert [m["ref"] for m in json.loads(ok.stdout)["models"]] == ["tiny-ct:1.0.0"]
    bad = subprocess.run(
        [sys.executable, "-m", "medviewer", "models", "remove", "tiny-ct:1.0.0"],
        capture_output=True,
        text=True,
        timeout=120,
        env=run_env,
    )
    assert bad.returncode == 1 and bad.stdout == ""
    assert "Traceback" not in bad.stderr
    _one_line_error(bad.stderr, "bundled models are read-only")
