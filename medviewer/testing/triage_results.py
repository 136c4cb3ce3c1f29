"""Made-up triage results for tests and benchmarks: SeriesResult rows without running a model."""

from __future__ import annotations

import zlib

from medviewer.triage.records import ModelIdentity, SeriesResult, suspicion

MODEL_A = ModelIdentity("tiny-ct", "1.0.0", "a" * 64)
MODEL_B = ModelIdentity("tiny-ct", "2.0.0", "b" * 64)


def make_result(
    key: str,
    lesion: float = 0.5,
    *,
    model: ModelIdentity = MODEL_A,
    classes: tuple[str, str] = ("normal", "lesion"),
    n_slices: int = 12,
    **fields,
) -> SeriesResult:
    """A plausible result for series ``key`` whose abnormal class has probability ``lesion``
    (the normal one ``1 - lesion``); any field can be given."""
    normal, abnormal = classes
    probabilities = {normal: 1.0 - lesion, abnormal: lesion}
    top = max(probabilities, key=probabilities.__getitem__)
    values = {
        "series_key": key,
        "series_uid": key.split("#")[0],
        "study_uid": f"1.2.826.0.1.3680043.8.498.{zlib.crc32(key.encode())}",
        "patient_id": f"P-{key[-3:]}",
        "patient_name": f"Doe^{key[-3:]}",
        "study_date": "20240131",
        "study_description": "CT HEAD",
        "series_description": "Axial 5mm",
        "modality": "CT",
        "series_number": 2,
        "n_slices": n_slices,
        "folder": f"/archive/{key}",
        "model": model,
        "probabilities": probabilities,
        "top_class": top,
        "suspicion": suspicion(probabilities, normal),
        "top_slice": n_slices // 2,
        "top_slice_sop_uid": f"{key}.{n_slices // 2}",
        "top_slice_probability": lesion,
        "flagged_slices": [n_slices // 2] if top == abnormal else [],
        "seconds": 0.25,
        "device": "cpu",
        "warnings": [],
        "finished_at": "2024-01-31T12:00:00+00:00",
    }
    values.update(fields)
    return SeriesResult(**values)
