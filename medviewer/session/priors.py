"""A patient's studies by date, the prior to compare with, and whether two studies are one patient.

Patients are told apart by Patient ID, or by Patient Name where a study has no ID. A prior
is the most recent study of the same patient dated strictly before the current one that
holds a series of the same modality and body part (body part ignored where either side has
none); its series most like the current one is offered. Texts meant for the screen never
quote patient values, so they are safe in de-identified mode.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import SequenceMatcher

from medviewer.dicom import SeriesInfo, StudyInfo


def _norm(text: str | None) -> str:
    return " ".join((text or "").replace("^", " ").split()).casefold()


def _patient_key(study: StudyInfo) -> tuple[str, str]:
    """("id", ID) or ("name", name) or ("study", uid) when a study names nobody."""
    if (study.patient_id or "").strip():
        return ("id", study.patient_id.strip())
    if _norm(study.patient_name):
        return ("name", _norm(study.patient_name))
    return ("study", study.study_uid)


def patient_label(study: StudyInfo) -> str:
    """``Name (ID)``, or whichever of the two the study has."""
    name = " ".join((study.patient_name or "").replace("^", " ").split())
    pid = (study.patient_id or "").strip()
    if name and pid:
        return f"{name} ({pid})"
    return name or pid or "unknown patient"


def study_date_text(study: StudyInfo) -> str:
    """``YYYY-MM-DD`` from a DICOM date, the raw text when it is not one, else ``no date``."""
    d = (study.study_date or "").strip()
    if len(d) == 8 and d.isdigit():
        return f"{d[:4]}-{d[4:6]}-{d[6:]}"
    return d or "no date"


def _valid_date(study: StudyInfo) -> str:
    d = (study.study_date or "").strip()
    return d if len(d) == 8 and d.isdigit() else ""


def _newest_first(studies: Iterable[StudyInfo]) -> list[StudyInfo]:
    by_description = sorted(studies, key=lambda s: (_norm(s.description), s.study_uid))
    # Stable sorts: date descending (undated last), description ascending within a date.
    return sorted(by_description, key=lambda s: _valid_date(s) or "0", reverse=True)


def studies_by_patient(
    studies: Iterable[StudyInfo], deidentified: bool = False
) -> list[tuple[str, list[StudyInfo]]]:
    """The studies grouped by patient: ``(label, studies newest first)`` per patient.

    Patients are in order of their labels; ``deidentified`` labels them ``Patient 1``,
    ``Patient 2``, ... in the order of their IDs instead of naming them.
    """
    groups: dict[tuple[str, str], list[StudyInfo]] = {}
    for study in studies:
        groups.setdefault(_patient_key(study), []).append(study)
    if deidentified:
        keys = sorted(groups)
        return [(f"Patient {n}", _newest_first(groups[k])) for n, k in enumerate(keys, 1)]
    labelled = [(patient_label(members[0]), _newest_first(members)) for members in groups.values()]
    return sorted(labelled, key=lambda item: (item[0].casefold(), item[0]))


def same_patient(a: StudyInfo, b: StudyInfo) -> bool:
    """Whether two studies are known to be of one patient (same ID, else same name)."""
    key = _patient_key(a)
    return key[0] != "study" and key == _patient_key(b)


def different_patients(a: StudyInfo | None, b: StudyInfo | None) -> str | None:
    """Why two studies may not be read together as one patient's, or None.

    Patient IDs are compared when both studies have one, else the names when both have
    one; when neither can be compared nothing is refused. The reason names no patient.
    """
    if a is None or b is None:
        return None
    id_a, id_b = (a.patient_id or "").strip(), (b.patient_id or "").strip()
    if id_a and id_b:
        if id_a != id_b:
            return (
                "the two series belong to different patients (their patient IDs differ: "
                "(0010,0020) Patient ID)"
            )
        return None
    name_a, name_b = _norm(a.patient_name), _norm(b.patient_name)
    if name_a and name_b and name_a != name_b:
        return (
            "the two series belong to different patients (their patient names differ: "
            "(0010,0010) Patient Name)"
        )
    return None


def _body_parts_agree(a: SeriesInfo, b: SeriesInfo) -> bool:
    pa, pb = _norm(a.body_part), _norm(b.body_part)
    return not pa or not pb or pa == pb


def comparable(current: SeriesInfo, other: SeriesInfo) -> bool:
    """Same modality, and same body part where both series name one."""
    return _norm(current.modality) == _norm(other.modality) and _body_parts_agree(current, other)


def _likeness(current: SeriesInfo, other: SeriesInfo) -> tuple:
    same_plane = current.geometry.orientation == other.geometry.orientation
    words = SequenceMatcher(None, _norm(current.description), _norm(other.description)).ratio()
    return (same_plane, words, other.n_frames)


def find_prior(
    current: StudyInfo, series: SeriesInfo, studies: Iterable[StudyInfo]
) -> tuple[StudyInfo, SeriesInfo] | None:
    """The prior to compare ``series`` of ``current`` with, as ``(study, series)``, or None.

    The most recent study of the same patient dated strictly before ``current`` (studies of
    the same day, later or undated ones are not priors) that has a series of the same
    modality and body part; of its candidates, the one in the same plane with the most
    similar description (then the most images).
    """
    today = _valid_date(current)
    if not today:
        return None
    earlier = [
        s
        for s in studies
        if s.study_uid != current.study_uid
        and same_patient(current, s)
        and _valid_date(s)
        and _valid_date(s) < today
    ]
    for study in _newest_first(earlier):
        candidates = [s for s in study.series if comparable(series, s)]
        if candidates:
            return study, max(candidates, key=lambda s: _likeness(series, s))
    return None


__all__ = [
    "comparable",
    "different_patients",
    "find_prior",
    "patient_label",
    "same_patient",
    "studies_by_patient",
    "study_date_text",
]
