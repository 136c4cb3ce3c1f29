"""Several patients' synthetic studies on several dates, written as DICOM and scanned.

Shared by the reading tests (priors, hanging layouts). Every study is real files read back by
``medviewer.dicom.scan``, so dates, patients, body parts and descriptions come from headers.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.uid import generate_uid

from medviewer.dicom import ScanResult, SeriesInfo, StudyInfo, scan
from medviewer.testing.synthetic import write_series


@dataclass(frozen=True)
class Spec:
    name: str
    patient_id: str
    study_date: str
    body_part: str | None
    series: tuple[tuple[str, str, int], ...]
    """(description, modality, n_slices) per series, in series-number order."""


# One patient (P1) seen five times, another (P2) once, a third (P3) for applying layouts.
SPECS = (
    Spec("p1_2024", "P1", "20240101", "HEAD", (("Head 5mm", "CT", 4),)),
    Spec("p1_2025", "P1", "20250615", "HEAD", (("Head 5mm", "CT", 4), ("Head bone 1mm", "CT", 6))),
    Spec("p1_mr", "P1", "20251101", "HEAD", (("T1 axial", "MR", 4),)),
    Spec("p1_chest", "P1", "20251201", "CHEST", (("Chest 5mm", "CT", 4),)),
    Spec("p1_now", "P1", "20260301", "HEAD", (("Head 5mm", "CT", 4), ("Head bone 1mm", "CT", 6))),
    Spec("p1_later", "P1", "20260501", "HEAD", (("Head 5mm", "CT", 4),)),
    Spec("p2_head", "P2", "20260101", "HEAD", (("Head 5mm", "CT", 4),)),
    # P3: same protocol, series written in the other order and the description in capitals.
    Spec("p3_prior", "P3", "20250301", "HEAD", (("HEAD 5MM", "CT", 4),)),
    Spec("p3_now", "P3", "20260320", "HEAD", (("Head bone 1mm", "CT", 6), ("HEAD 5MM", "CT", 4))),
    Spec("p3_chest", "P3", "20260321", "CHEST", (("Head 5mm", "CT", 4),)),
)


def write_studies(folder, specs=SPECS) -> ScanResult:
    """Write ``specs`` under ``folder`` and scan them back."""
    for spec in specs:
        study_uid = generate_uid()
        for number, (description, modality, n) in enumerate(spec.series, 1):
            write_series(
                folder / spec.name / f"s{number}",
                n_slices=n,
                rows=12,
                cols=12,
                spacing=(5.0 if n == 4 else 1.0, 0.8, 0.8),
                modality=modality,
                study_uid=study_uid,
                patient_id=spec.patient_id,
                study_date=spec.study_date,
                body_part=spec.body_part,
                series_description=description,
                series_number=number,
                seed=number,
            )
    return scan([folder])


def study_on(result: ScanResult, patient_id: str, date: str) -> StudyInfo:
    (study,) = [s for s in result.studies if s.patient_id == patient_id and s.study_date == date]
    return study


def series_named(study: StudyInfo, description: str) -> SeriesInfo:
    (series,) = [s for s in study.series if s.description == description]
    return series
