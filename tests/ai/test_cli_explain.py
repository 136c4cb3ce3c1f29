"""``medviewer explain``: one slice's map as .npy, aligned with convert's slice; exit codes."""

import os
import subprocess
import sys

import numpy as np
import pytest

from medviewer.ai import explain as ex
from medviewer.ai.package import load_package
from medviewer.cli import main
from medviewer.dicom import load_volume, scan
from medviewer.testing.tiny_model import make_package
from tests.dicom.stacks import write_stack

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array_wrap__ must accept context:DeprecationWarning"
)

ROWS, COLS, N = 40, 56, 4


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    stack = write_stack(root / "ct", n=N, rows=ROWS, cols=COLS, seed=2)
    pkg = make_package(root / "models" / "tiny-ct" / "1.0.0", seed=1)
    make_package(
        root / "models" / "tiny-resnet" / "1.0.0",
        name="tiny-resnet",
        architecture="resnet18",
        input_size=(32, 32),
        modalities=("MR",),
    )
    return {"root": root, "series": root / "ct", "pkg": pkg, "stack": stack}


@pytest.fixture(autouse=True)
def _models(env, monkeypatch, tmp_path):
    monkeypatch.setenv("MEDVIEWER_MODELS", str(env["root"] / "models"))
    monkeypatch.setenv("MEDVIEWER_DATA_DIR", str(tmp_path / "data"))


def _explain(env, tmp_path, *extra, capsys=None):
    out = tmp_path / "map.npy"
    code = main(["explain", str(env["series"]), "-o", str(out), *map(str, extra)])
    err = capsys.readouterr().err if capsys is not None else ""
    return code, out, err


def test_writes_the_map_of_convert_slice_k(env, tmp_path, capsys):
    code, out, err = _explain(
        env, tmp_path, "--slice", 2, "--method", "gradcam", "--target", "lesion", capsys=capsys
    )
    assert code == 0, err
    got = np.load(out)
    assert got.dtype == np.float32 and got.shape == (ROWS, COLS)
    assert 0.0 <= got.min() and got.max() <= 1.0
    assert "faithfulness ROAD" in err and "higher is better" in err and "'lesion'" in err
    # the very map explain() gives for convert's slice 2
    volume = load_volume(scan([str(env["series"])]).all_series()[0])
    convert_out = tmp_path / "vol.npy"
    assert main(["convert", str(env["series"]), "-o", str(convert_out)]) == 0
    np.testing.assert_array_equal(np.load(convert_out)[2], volume.array[2])
    model = load_package(env["pkg"])
    expected = ex.explain(model, volume.array[2], "gradcam", "lesion", faithfulness=False).map
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_attention_with_named_model_and_device(env, tmp_path, capsys):
    code, out, err = _explain(
        env,
        tmp_path,
        "--slice",
        0,
        "--method",
        "attention",
        "--model",
        "tiny-ct:1.0.0",
        "--device",
        "cpu",
        "--no-faithfulness",
        capsys=capsys,
    )
    assert code == 0, err
    assert np.load(out).shape == (ROWS, COLS)
    assert "faithfulness" not in err and "tiny-ct:1.0.0 on cpu" in err


@pytest.mark.parametrize("k", [N, -1, 99])
def test_slice_out_of_range_gives_the_range(env, tmp_path, capsys, k):
    code, out, err = _explain(env, tmp_path, "--slice", k, "--method", "gradcam", capsys=capsys)
    assert code == 1 and not out.exists()
    assert f"use 0..{N - 1}" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_class_lists_classes(env, tmp_path, capsys):
    code, _, err = _explain(
        env, tmp_path, "--slice", 1, "--method", "gradcam", "--target", "tumour", capsys=capsys
    )
    assert code == 1
    assert "unknown class 'tumour'" in err and "no lesion, lesion" in err
    # refused from the model card, before torch is loaded
    assert "torch" not in err


def test_an_unknown_class_is_refused_before_the_model_loads(env, tmp_path, capsys, monkeypatch):
    from medviewer.ai.registry import ModelRegistry

    loaded = []
    monkeypatch.setattr(ModelRegistry, "load", lambda *a, **k: loaded.append(a))
    code, _, err = _explain(
        env, tmp_path, "--slice", 1, "--method", "gradcam", "--target", "tumour", capsys=capsys
    )
    assert code == 1 and "unknown class 'tumour'" in err and loaded == []


def test_attention_on_a_model_without_one(env, tmp_path, capsys):
    code, _, err = _explain(
        env,
        tmp_path,
        "--slice",
        1,
        "--method",
        "attention",
        "--model",
        "tiny-resnet",
        capsys=capsys,
    )
    assert code == 1 and "no attention layer" in err, err


@pytest.mark.parametrize(
    "extra",
    [
        ["--slice", 1, "--method", "gradcamm"],  # not a method
        ["--method", "gradcam"],  # no --slice
        ["--slice", "x", "--method", "gradcam"],
        ["--slice", 1, "--method", "gradcam", "--device", "tpu"],
    ],
)
def test_usage_errors_exit_2(env, tmp_path, capsys, extra):
    with pytest.raises(SystemExit) as info:
        _explain(env, tmp_path, *extra)
    assert info.value.code == 2


def test_output_must_be_npy(env, tmp_path, capsys):
    out = tmp_path / "map.png"
    code = main(
        ["explain", str(env["series"]), "--slice", "0", "--method", "gradcam", "-o", str(out)]
    )
    assert code == 2 and ".npy" in capsys.readouterr().err and not out.exists()


def test_a_real_process_reports_without_traceback(env, tmp_path):
    out = tmp_path / "map.npy"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "medviewer",
            "explain",
            str(env["series"]),
            "--slice",
            str(N + 5),
            "--method",
            "scorecam",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "MEDVIEWER_MODELS": str(env["root"] / "models"),
        },
    )
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert f"use 0..{N - 1}" in run.stderr
