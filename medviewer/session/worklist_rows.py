"""The worklist's rows, without Qt: the texts and tooltips of each cell of a series result
(read by attribute from :class:`medviewer.triage.store.SeriesResult`), the order (most
suspicious first), the class a heat map explains and the request to open a row at its most
suspicious slice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from medviewer.session.ai_results import fmt_p
from medviewer.session.worklist_review import ReviewStatus

COLUMNS = (
    "Patient",
    "Study date",
    "Series",
    "Series result",
    "Suspicion",
    "Flagged slices",
    "Review",
)
HIDDEN = "(hidden)"
SUSPICIOUS = 0.5
"""A suspicion at or above this is highlighted (the classes' decision threshold)."""
SUSPICION_TIP = (
    "The highest probability the model gave a class other than the normal one (calibrated, "
    "aggregated over the series as its model card says); the list is sorted by it"
)


def patient_text(result, deidentified: bool = False) -> str:
    if deidentified:
        return HIDDEN
    name = " ".join(str(result.patient_name or "").replace("^", " ").split())
    pid = str(result.patient_id or "").strip()
    if name and pid:
        return f"{name} · {pid}"
    return name or pid or "(no patient ID)"


def date_text(value: str, deidentified: bool = False) -> str:
    """``"20260115"`` -> ``"2026-01-15"`` (other forms as they are)."""
    if deidentified and value:
        return HIDDEN
    value = str(value or "").strip()
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def series_text(result) -> str:
    what = str(result.series_description or "").strip() or result.modality or "series"
    number = f" #{result.series_number}" if result.series_number is not None else ""
    return f"{what} ({result.modality}{number}, {result.n_slices} slices)"


def result_text(result) -> str:
    """The series' top class and its probability: ``"lesion 0.93"``."""
    p = result.probabilities.get(result.top_class)
    return f"{result.top_class} {fmt_p(p)}" if p is not None else str(result.top_class)


def flagged_text(flagged: Sequence[int], limit: int = 50) -> str:
    n = len(flagged)
    if n == 0:
        return "none"
    more = "+" if n >= limit else ""
    return f"{n}{more} slice" + ("" if n == 1 else "s")


def suspicious_class(result) -> str:
    """The class whose probability is the series' suspicion (not the normal class when
    another class has the same value): the class the heat map explains."""
    probs = result.probabilities
    if not probs:
        return result.top_class
    close = [c for c, p in probs.items() if abs(float(p) - float(result.suspicion)) < 1e-9]
    abnormal = [c for c in close if c.strip().lower() != "normal"]
    if abnormal:
        return abnormal[0]
    if close:
        return close[0]
    return max(probs, key=lambda c: float(probs[c]))


def _tips(result, review: ReviewStatus) -> tuple[str, ...]:
    probs = sorted(result.probabilities.items(), key=lambda kv: -float(kv[1]))
    model = result.model
    lines = [" · ".join(f"{c} {float(p):.3f}" for c, p in probs)]
    lines.append(f"{model.name} {model.version} on {result.device}, {result.seconds:.1f} s")
    lines += [f"⚠ {w}" for w in result.warnings]
    n = result.n_slices
    images = ", ".join(str(k + 1) for k in result.flagged_slices[:20])
    if len(result.flagged_slices) > 20:
        images += ", …"
    top = (
        f"{SUSPICION_TIP}.\nMost suspicious: image {result.top_slice + 1}/{n} "
        f"({suspicious_class(result)} {fmt_p(result.top_slice_probability)})"
    )
    return (
        f"Patient ID {result.patient_id}" if result.patient_id else "",
        result.study_description,
        f"Series {result.series_uid}\n{result.folder}",
        "\n".join(lines),
        top,
        f"Slices whose top class is not the normal one (images {images})" if images else "",
        "The Labels dock's review of this series (every annotator's latest labels)",
    )


@dataclass(frozen=True)
class WorklistRow:
    """One series of the worklist: its result, its review and the texts of its cells."""

    key: tuple[str, str]
    """(series key, model sha256)."""
    result: object
    review: ReviewStatus
    cells: tuple[str, ...]
    tips: tuple[str, ...]
    highlight: bool
    """Suspicious: at or above :data:`SUSPICIOUS`."""


def make_row(result, review: ReviewStatus, deidentified: bool = False) -> WorklistRow:
    cells = (
        patient_text(result, deidentified),
        date_text(result.study_date, deidentified),
        series_text(result),
        result_text(result),
        fmt_p(result.suspicion),  # 0.9999 is ">0.99", not "1.00"
        flagged_text(result.flagged_slices),
        review.text,
    )
    tips = _tips(result, review)
    if deidentified:
        tips = ("", "", *tips[2:])
    return WorklistRow(
        key=(result.series_key, result.model.sha256),
        result=result,
        review=review,
        cells=cells,
        tips=tips,
        highlight=float(result.suspicion) >= SUSPICIOUS,
    )


def sort_key(result) -> tuple:
    """Most suspicious first; ties: more flagged slices, then patient, date, series."""
    return (
        -float(result.suspicion),
        -len(result.flagged_slices),
        str(result.patient_id),
        str(result.study_date),
        str(result.series_key),
    )


# -- opening a row -----------------------------------------------------------------------------
@dataclass(frozen=True)
class OpenRequest:
    """Open a row: the series' folder, its key, the slice to show and what to explain."""

    folder: str
    series_key: str
    series_uid: str
    top_slice: int
    top_slice_sop_uid: str
    model_ref: str
    model_sha256: str
    target: str


def open_request(row: WorklistRow) -> OpenRequest:
    r = row.result
    return OpenRequest(
        folder=str(r.folder),
        series_key=r.series_key,
        series_uid=r.series_uid,
        top_slice=int(r.top_slice),
        top_slice_sop_uid=str(r.top_slice_sop_uid or ""),
        model_ref=f"{r.model.name}:{r.model.version}",
        model_sha256=r.model.sha256,
        target=suspicious_class(r),
    )


def opening_text(row: WorklistRow, request: OpenRequest) -> str:
    return f"Opening {row.cells[2]} at image {request.top_slice + 1}…"


def opened_text(request: OpenRequest, index: int, n_slices: int) -> str:
    return (
        f"Image {index + 1}/{n_slices}: the most suspicious slice; heat map (Grad-CAM) of "
        f"{request.target}"
    )


def model_missing_text(ref: str) -> str:
    return (
        f"The model {ref} of this result is not installed: the heat map shows the AI dock's "
        "model instead"
    )


def model_differs_text(ref: str) -> str:
    return (
        f"The installed {ref} differs from the one that made this result (another sha256): "
        "its heat map may not match the result"
    )


def slice_to_show(request: OpenRequest, sop_uids: Sequence[str]) -> int:
    """The loaded volume's index of the most suspicious slice: found by its SOP Instance UID
    (slices that failed to load shift the indices), else the stored index, clamped."""
    if request.top_slice_sop_uid:
        for k, uid in enumerate(sop_uids):
            if uid == request.top_slice_sop_uid:
                return k
    n = len(sop_uids)
    return max(0, min(request.top_slice, n - 1)) if n else 0


__all__ = [
    "COLUMNS",
    "HIDDEN",
    "SUSPICIOUS",
    "OpenRequest",
    "WorklistRow",
    "make_row",
    "model_differs_text",
    "model_missing_text",
    "open_request",
    "opened_text",
    "opening_text",
    "slice_to_show",
    "sort_key",
    "suspicious_class",
]
