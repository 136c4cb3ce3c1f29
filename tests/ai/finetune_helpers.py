"""Shared pieces of the fine-tuning tests: synthetic patients, a labeled store, registries."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medviewer.labels.schema import SliceKey

CLASSES = ("no lesion", "lesion")  # make_package's default classes


def write_patient(folder: Path, patient: str, *, n: int = 12, size: int = 32, seed: int = 0):
    """A small CT series of ``patient``: slices with an odd index hold a bright blob.

    Returns the ScanResult's SeriesInfo (slices in volume order) and the study."""
    import pydicom

    from medviewer.dicom import scan
    from medviewer.testing.synthetic import head_phantom, write_series

    hu = head_phantom(n, size, size, seed=seed).astype(np.float64)
    yy, xx = np.mgrid[:size, :size]
    blob = (yy - size * 0.4) ** 2 + (xx - size * 0.55) ** 2 < (size * 0.15) ** 2
    for k in range(1, n, 2):
        hu[k][blob] = 80.0
    made = write_series(folder, hu=hu, seed=seed, rows=size, cols=size)
    for path in made.paths:
        ds = pydicom.dcmread(path)
        ds.PatientID = patient
        ds.save_as(path)
    (study,) = scan([str(folder)]).studies
    (series,) = study.series
    return study, series


def key_of(series, k: int) -> SliceKey:
    ref = series.slices[k]
    return SliceKey(series.study_uid, series.series_uid, ref.sop_instance_uid)


def make_dataset(root: Path, *, patients: int = 4, n: int = 12, size: int = 32) -> list:
    """``patients`` synthetic patients under ``root``: [(patient id, study, series), ...]."""
    out = []
    for p in range(patients):
        pid = f"PAT{p:03d}"
        study, series = write_patient(root / pid, pid, n=n, size=size, seed=p + 1)
        out.append((pid, study, series))
    return out


def label_all(store_path: Path, data, *, annotator: str = "alice", label=None, **kw) -> int:
    """Label every slice: ``label(k)`` (default: 'lesion' on odd slices); returns the count."""
    from medviewer.labels.store import LabelStore

    label = label or (lambda k: "lesion" if k % 2 else "no lesion")
    n = 0
    with LabelStore(store_path) as store, store.transaction():
        for _, _, series in data:
            for k, ref in enumerate(series.slices):
                name = label(k)
                if name is None:
                    continue
                store.set_label(
                    key_of(series, k), name, annotator=annotator, path_hint=ref.path, **kw
                )
                n += 1
    return n


def tiny_registry(tmp_path: Path, **pkg):
    """A registry whose only bundled model is a tiny attention_cnn ``tiny-ct:1.0.0``."""
    from medviewer.ai.registry import ModelRegistry
    from medviewer.testing.tiny_model import make_package

    bundled = tmp_path / "bundled"
    make_package(bundled / "tiny-ct" / "1.0.0", seed=3, **pkg)
    return ModelRegistry(
        bundled_dir=bundled,
        user_dir=tmp_path / "user" / "models",
        state_file=tmp_path / "user" / "active_models.json",
    )
