"""Shared pieces of the DICOM-results tests: a synthetic head CT with a dense region in its
middle slices, tiny real models (a normal / lesion classifier that flags some slices, one that
flags none) and the DICOM validators (dicom3tools' dciodvfy, dcmtk's dsrdump)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.flag_models import FLAG_MODEL, FLAGGED, NONE_MODEL, SIZE, N, lesion_values, make_models

__all__ = ["FLAG_MODEL", "FLAGGED", "N", "NONE_MODEL", "SIZE"]


@pytest.fixture(scope="session")
def series_dir(tmp_path_factory) -> Path:
    """8 slices of 48 x 48: a head phantom with a very dense disc in slices 3..5."""
    from medviewer.testing.synthetic import write_series

    hu = lesion_values()
    folder = tmp_path_factory.mktemp("reports-ct") / "series"
    write_series(folder, hu=hu)
    return folder


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    return make_models(tmp_path_factory.mktemp("reports-models"), (FLAG_MODEL, NONE_MODEL))


@pytest.fixture(autouse=True)
def _tiny_models(models_dir, monkeypatch):
    """The tests see only the tiny models (as if bundled)."""
    monkeypatch.setenv("MEDVIEWER_MODELS", str(models_dir))


@pytest.fixture(scope="session")
def volume(series_dir):
    """The loaded series. Shared: never modify it (dataclasses.replace for variants)."""
    from medviewer.dicom import load_volume, scan

    return load_volume(scan([str(series_dir)]).all_series()[0])


def _predict(models_dir: Path, ref: str, volume):
    from medviewer.ai.classifier import predict
    from medviewer.ai.package import load_package

    name, version = ref.split(":")
    return predict(load_package(models_dir / name / version), volume)


@pytest.fixture(scope="session")
def prediction(models_dir, volume):
    return _predict(models_dir, FLAG_MODEL, volume)


@pytest.fixture(scope="session")
def none_prediction(models_dir, volume):
    return _predict(models_dir, NONE_MODEL, volume)


def dciodvfy_errors(path: Path) -> list[str]:
    """dciodvfy's lines starting with "Error" for the file at ``path`` (warnings allowed)."""
    tool = shutil.which("dciodvfy")
    if tool is None:
        pytest.skip("dicom3tools' dciodvfy is not installed (packaging/install-debian-deps.sh)")
    run = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
    lines = (run.stdout + run.stderr).splitlines()
    return [line for line in lines if line.startswith("Error")]


def dciodvfy_lines(path: Path) -> list[str]:
    """Every line dciodvfy prints for the file at ``path`` (errors and warnings)."""
    tool = shutil.which("dciodvfy")
    if tool is None:
        pytest.skip("dicom3tools' dciodvfy is not installed (packaging/install-debian-deps.sh)")
    run = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
    return (run.stdout + run.stderr).splitlines()


def dsrdump(path: Path) -> str:
    """dcmtk's dsrdump of ``path`` (it must read the file: exit 0)."""
    tool = shutil.which("dsrdump")
    if tool is None:
        pytest.skip("dcmtk's dsrdump is not installed (packaging/install-debian-deps.sh)")
    run = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout
