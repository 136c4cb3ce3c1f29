"""One classified series -> its :class:`~medviewer.triage.records.SeriesResult`: the series'
calibrated probabilities and suspicion, its most suspicious slice and the flagged slices."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from medviewer.ai.classifier import SeriesPrediction
from medviewer.ai.findings import flagged_slices as flagged_slices  # shared with reports
from medviewer.dicom.model import StudyInfo
from medviewer.dicom.volume import Volume
from medviewer.triage.records import ModelIdentity, SeriesResult, normal_class, suspicion


def suspicious_class(probabilities: dict[str, float], normal: str | None) -> str:
    """The series' most suspicious class: its most probable class other than ``normal``."""
    findings = {c: p for c, p in probabilities.items() if c != normal} or probabilities
    return max(findings, key=findings.__getitem__)


def _unique(texts) -> list[str]:
    out: list[str] = []
    for text in texts:
        if text and text not in out:
            out.append(text)
    return out


def series_result(
    study: StudyInfo,
    volume: Volume,
    prediction: SeriesPrediction,
    *,
    seconds: float,
    aggregation: str,
) -> SeriesResult:
    """The results-store row of ``volume`` (of ``study``) classified as ``prediction``.

    The top slice is the slice most convinced of the series' most suspicious class; slice
    indices are positions in ``volume`` (slices that failed to decode are not in it)."""
    series = volume.series
    classes = tuple(prediction.probabilities)
    normal = normal_class(classes, aggregation)
    target = suspicious_class(prediction.probabilities, normal)
    top = max(prediction.slices, key=lambda p: (p.probabilities[target], -p.index))
    refs = series.slices
    warnings = _unique([*(w.message for w in volume.warnings), *prediction.warnings])
    return SeriesResult(
        series_key=series.key,
        series_uid=series.series_uid,
        study_uid=series.study_uid,
        patient_id=study.patient_id,
        patient_name=study.patient_name,
        study_date=study.study_date,
        study_description=study.description,
        series_description=series.description,
        modality=series.modality,
        series_number=series.series_number,
        n_slices=len(refs),
        folder=os.path.dirname(os.path.abspath(refs[0].path)) if refs else "",
        model=ModelIdentity(prediction.model, prediction.version, prediction.sha256),
        probabilities=dict(prediction.probabilities),
        top_class=prediction.top,
        suspicion=suspicion(prediction.probabilities, normal),
        top_slice=top.index,
        top_slice_sop_uid=refs[top.index].sop_instance_uid if top.index < len(refs) else "",
        top_slice_probability=float(top.probabilities[target]),
        flagged_slices=flagged_slices(prediction, normal),
        seconds=round(float(seconds), 3),
        device=prediction.device,
        warnings=warnings,
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
