"""The stored triage results for people: rows most suspicious first (the worklist's columns),
a text table, CSV, and a summary (counts per series result, flagged series, skipped items)."""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from medviewer.triage.records import SeriesResult, SkippedItem

NOT_FOR_DIAGNOSIS = (
    "Model results order the reading; they are not a diagnosis. Every series still needs a reader."
)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""A text cell starting with one of these is read as a formula by spreadsheets."""


ROW_KEYS = (
    "rank", "suspicion", "top_class", "top_probability", "patient_id", "patient_name",
    "study_date", "study_description", "series_number", "series_description", "modality",
    "n_slices", "top_image", "top_slice", "top_slice_probability", "flagged", "flagged_images",
    "flagged_slices",
    "probabilities", "series_key", "series_uid", "study_uid", "top_slice_sop_uid", "folder",
    "model", "model_sha256", "device", "seconds", "warnings", "finished_at",
)  # fmt: skip
"""The keys of :func:`report_rows`, in order (the CSV's columns, ``probabilities`` spread
over one ``p(CLASS)`` column per class). ``top_image`` and ``flagged_images`` number the
images as the viewer does ("Im 24/44", from 1); ``top_slice`` and ``flagged_slices`` are the
same slices as 0-based indices into the series, for programs."""


def most_suspicious_first(results: Iterable[SeriesResult]) -> list[SeriesResult]:
    """Sorted by suspicion, then by the top slice's probability, then by series key."""
    return sorted(results, key=lambda r: (-r.suspicion, -r.top_slice_probability, r.series_key))


def report_rows(results: Iterable[SeriesResult]) -> list[dict[str, Any]]:
    """One JSON-ready dict per series, most suspicious first: ``rank`` (1 = read first),
    what the worklist shows (patient, study date, series, series result, its probability,
    flagged slices) and where it came from (UIDs, folder, model, device, time, warnings)."""
    rows = []
    for rank, r in enumerate(most_suspicious_first(results), start=1):
        rows.append(
            {
                "rank": rank,
                "suspicion": r.suspicion,
                "top_class": r.top_class,
                "top_probability": r.probabilities.get(r.top_class),
                "patient_id": r.patient_id,
                "patient_name": r.patient_name,
                "study_date": r.study_date,
                "study_description": r.study_description,
                "series_number": r.series_number,
                "series_description": r.series_description,
                "modality": r.modality,
                "n_slices": r.n_slices,
                "top_image": r.top_slice + 1,
                "top_slice": r.top_slice,
                "top_slice_probability": r.top_slice_probability,
                "flagged": len(r.flagged_slices),
                "flagged_images": [k + 1 for k in r.flagged_slices],
                "flagged_slices": list(r.flagged_slices),
                "probabilities": dict(r.probabilities),
                "series_key": r.series_key,
                "series_uid": r.series_uid,
                "study_uid": r.study_uid,
                "top_slice_sop_uid": r.top_slice_sop_uid,
                "folder": r.folder,
                "model": r.model.ref,
                "model_sha256": r.model.sha256,
                "device": r.device,
                "seconds": r.seconds,
                "warnings": list(r.warnings),
                "finished_at": r.finished_at,
            }
        )
    return rows


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value  # shown as text, never run as a formula
    return value


def csv_text(results: Iterable[SeriesResult]) -> str:
    """The CSV of :func:`report_rows`: one ``p(CLASS)`` column per class, flagged slices
    separated by spaces, warnings by `` | ``."""
    rows = report_rows(results)
    classes: list[str] = []
    for row in rows:
        classes += [c for c in row["probabilities"] if c not in classes]
    fixed = [k for k in ROW_KEYS if k != "probabilities"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*fixed, *(f"p({c})" for c in classes)])
    for row in rows:
        for key in ("flagged_images", "flagged_slices"):
            row[key] = " ".join(str(k) for k in row[key])
        row["warnings"] = " | ".join(row["warnings"])
        probs = row["probabilities"]
        writer.writerow([*(_cell(row[k]) for k in fixed), *(_cell(probs.get(c)) for c in classes)])
    return buf.getvalue()


def write_csv(results: Iterable[SeriesResult], path_or_stream: str | os.PathLike | TextIO) -> None:
    """Write :func:`csv_text` to a stream, or atomically to a file (OSError when it cannot)."""
    text = csv_text(results)
    if hasattr(path_or_stream, "write"):
        path_or_stream.write(text)
        return
    from medviewer.atomic import write_text_atomic

    write_text_atomic(path_or_stream, text, newline="")


def summary(results: Sequence[SeriesResult], skipped: Sequence[SkippedItem]) -> dict[str, Any]:
    """Counts: series, per series result (top class), flagged series (one slice or more whose
    top class is not the normal one), skipped items per code; the models that made them."""
    by_class = Counter(r.top_class for r in results)
    by_code = Counter(s.code for s in skipped)
    models = list(dict.fromkeys(r.model.ref for r in results))
    return {
        "series": len(results),
        "by_top_class": dict(by_class.most_common()),
        "flagged_series": sum(1 for r in results if r.flagged_slices),
        "skipped": len(skipped),
        "skipped_by_code": dict(by_code.most_common()),
        "models": models,
    }


def _clip(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


_TABLE = (  # header, width, right-aligned
    ("#", 4, True),
    ("SUSPICION", 9, True),
    ("RESULT", 18, False),
    ("PATIENT", 20, False),
    ("DATE", 10, False),
    ("SERIES", 28, False),
    ("MOD", 3, False),
    ("SLICES", 6, True),
    ("TOP IMAGE", 9, True),
    ("FLAGGED", 7, True),
)


def text_table(results: Iterable[SeriesResult], limit: int | None = None) -> str:
    """A fixed-width table, most suspicious first (the first ``limit`` rows; all when None)."""
    rows = report_rows(results)
    shown = rows if limit is None else rows[: max(0, limit)]
    lines = ["  ".join(h.rjust(w) if right else h.ljust(w) for h, w, right in _TABLE).rstrip()]
    for row in shown:
        date = row["study_date"]
        if len(date) == 8 and date.isdigit():
            date = f"{date[:4]}-{date[4:6]}-{date[6:]}"
        number = row["series_number"]
        series = f"{'' if number is None else number} {row['series_description']}".strip()
        values = (
            str(row["rank"]),
            f"{row['suspicion']:.3f}",
            f"{row['top_class']} {row['top_probability'] or 0:.2f}",
            row["patient_name"] or row["patient_id"] or "-",
            date or "-",
            series or row["series_key"],
            row["modality"] or "-",
            str(row["n_slices"]),
            str(row["top_image"]),  # as the viewer numbers it: "Im 24/44"
            str(row["flagged"]),
        )
        cells = (
            _clip(v, w).rjust(w) if right else _clip(v, w).ljust(w)
            for v, (_, w, right) in zip(values, _TABLE, strict=True)
        )
        lines.append("  ".join(cells).rstrip())
    if len(shown) < len(rows):
        lines.append(f"... {len(rows) - len(shown)} more series (raise the limit to see them)")
    return "\n".join(lines) + "\n"


def skipped_lines(skipped: Sequence[SkippedItem], limit: int | None = None) -> list[str]:
    """``code: reason`` lines (the first ``limit``; all when None), and how many more."""
    shown = skipped if limit is None else skipped[: max(0, limit)]
    lines = [
        f"{s.code}: {s.reason}" if s.where in s.reason else f"{s.code}: {s.where}: {s.reason}"
        for s in shown
    ]
    if len(shown) < len(skipped):
        lines.append(f"... {len(skipped) - len(shown)} more skipped")
    return lines
