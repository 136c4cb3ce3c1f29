"""Shared pieces of the triage tests: a small archive of synthetic series (normal and
lesion-like head CTs, one RLE-compressed, one MR, an unreadable file and a non-image DICOM
object) and tiny real model packages in temporary model folders."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL = "tiny-triage:1.0.0"
OTHER_MODEL = "tiny-triage:2.0.0"  # same name, other weights: another model for the store
MR_MODEL = "tiny-mr:1.0.0"
SLOW_MODEL = "tiny-slow:1.0.0"  # bigger input: classifying takes most of a run, not start-up
N_CT = 10


@dataclass
class Archive:
    """The archive on disk and what the tests expect of it."""

    root: Path
    ct_keys: list[str] = field(default_factory=list)
    """Series the CT model classifies (scan keys = SeriesInstanceUIDs)."""
    lesion_keys: list[str] = field(default_factory=list)
    compressed_key: str = ""
    mr_key: str = ""
    unreadable: str = ""
    not_image: str = ""


def _lesion_volume(n: int, size: int, seed: int) -> np.ndarray:
    """A head phantom with a large, very dense region in its three middle slices (denser than
    the skull: the tiny model's max-pooled features see it)."""
    from medviewer.testing.synthetic import head_phantom

    hu = head_phantom(n, size, size, seed=seed).astype(np.float64)
    yy, xx = np.mgrid[:size, :size]
    blob = (yy - size * 0.45) ** 2 + (xx - size * 0.5) ** 2 < (size * 0.3) ** 2
    for k in range(n // 2 - 1, n // 2 + 2):
        hu[k][blob] = 3000.0
    return hu


def _write_not_image(path: Path) -> None:
    """A DICOM object without pixel data (a basic text SR)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import BasicTextSRStorage, ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID = BasicTextSRStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = BasicTextSRStorage
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PatientID, ds.PatientName = "TRI0009", "Report^Only"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "SR"
    ds.save_as(str(path), enforce_file_format=True)


def write_archive(root: Path) -> Archive:
    """10 CT series (3 lesion-like, 1 RLE Lossless) over 4 patients, 1 MR series, one
    unreadable file and one report without pixels; 8 to 12 slices of 32 to 48 pixels."""
    from pydicom.uid import ExplicitVRLittleEndian, RLELossless

    from medviewer.testing.synthetic import head_phantom, write_series

    archive = Archive(root)
    for k in range(N_CT):
        n, size = 8 + (k % 3) * 2, 32 if k % 2 else 48
        lesion = k in (2, 5, 8)
        hu = _lesion_volume(n, size, k) if lesion else head_phantom(n, size, size, seed=k)
        syntax = RLELossless if k == 4 else ExplicitVRLittleEndian
        s = write_series(
            root / f"patient{k % 4}" / f"ct{k}",
            hu=hu.astype(np.float64),
            transfer_syntax=syntax,
            patient_id=f"TRI{k % 4:04d}",
            study_date=f"202601{k + 1:02d}",
            series_description=f"Head CT {k}{' lesion' if lesion else ''}",
            series_number=k + 1,
            spacing=(5.0, 220.0 / size, 220.0 / size),
            seed=k,
        )
        archive.ct_keys.append(s.series_uid)
        if lesion:
            archive.lesion_keys.append(s.series_uid)
        if syntax == RLELossless:
            archive.compressed_key = s.series_uid
    mr = write_series(
        root / "patient1" / "mr",
        n_slices=8,
        rows=32,
        cols=32,
        modality="MR",
        intercept=0.0,
        hu=np.full((8, 32, 32), 300.0),
        series_description="T1 axial",
        patient_id="TRI0001",
    )
    archive.mr_key = mr.series_uid
    broken = root / "patient2" / "broken.dcm"
    broken.write_bytes(b"\x00" * 64 + b"not a DICOM file at all" * 8)
    archive.unreadable = str(broken)
    report = root / "patient3" / "report.dcm"
    _write_not_image(report)
    archive.not_image = str(report)
    return archive


def _set_aggregation(folder: Path, aggregation: str) -> None:
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    data["aggregation"] = aggregation
    path.write_text(json.dumps(data, indent=2))


def write_models(root: Path) -> Path:
    """tiny-triage 1.0.0 (CT; "lesion" when a slice holds values denser than the skull: the
    closed-form weights of tests/ai/conftest.py, shifted), tiny-triage 2.0.0 (other weights),
    tiny-mr 1.0.0 (MR) and tiny-slow 1.0.0 (CT, 160 x 160 input), each for its modality only."""
    from medviewer.testing.tiny_model import make_package
    from tests.ai.conftest import known_answer_state

    common = {"classes": ("normal", "lesion"), "input_size": (32, 32)}
    one = make_package(
        root / "tiny-triage" / "1.0.0",
        name="tiny-triage",
        state_dict=known_answer_state(lesion_gain=20.0, bias=(0.0, -19.0)),
        **common,
    )
    _set_aggregation(one, "abnormal_max")
    two = make_package(
        root / "tiny-triage" / "2.0.0", name="tiny-triage", version="2.0.0", seed=7, **common
    )
    _set_aggregation(two, "abnormal_max")
    make_package(root / "tiny-mr" / "1.0.0", name="tiny-mr", modalities=("MR",), **common)
    make_package(root / "tiny-slow" / "1.0.0", name="tiny-slow", input_size=(160, 160), seed=3)
    return root


@pytest.fixture(scope="session")
def archive(tmp_path_factory) -> Archive:
    return write_archive(tmp_path_factory.mktemp("triage-archive"))


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    return write_models(tmp_path_factory.mktemp("triage-models"))


@pytest.fixture(autouse=True)
def _triage_models(models_dir, monkeypatch):
    """The tests see only the tiny models (as if bundled) and a fresh user data folder."""
    monkeypatch.setenv("MEDVIEWER_MODELS", str(models_dir))


@pytest.fixture
def registry(models_dir, tmp_path):
    from medviewer.ai.registry import ModelRegistry

    return ModelRegistry(
        bundled_dir=models_dir,
        user_dir=tmp_path / "user-models",
        state_file=tmp_path / "active_models.json",
    )


def cli_env(models_dir: Path, data_dir: Path) -> dict[str, str]:
    """The environment of a ``python -m medviewer`` child: the tiny models, one CPU thread."""
    env = {**os.environ, "MEDVIEWER_MODELS": str(models_dir), "OMP_NUM_THREADS": "1"}
    env["MEDVIEWER_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def triage_command(archive: Archive, results: Path, *extra: str, model: str = MODEL) -> list[str]:
    cmd = [sys.executable, "-m", "medviewer", "triage", str(archive.root)]
    return [*cmd, "--results", str(results), "--model", model, "--device", "cpu", *extra]
