"""The AI dock's finding list of a medviewer classifier SR, computed without Qt: finding the
SRs among what a scan opened, reading them (:func:`medviewer.reports.sr_read.read_sr`), the
texts of the list and where each finding lies in the open images.

A scan lists an SR as a file it skipped (``Skipped.code == NO_PIXEL_DATA``: an object without
pixel data); :func:`report_candidates` takes those, :func:`find_reports_iter` (a job) keeps
the ones whose Modality is SR and reads each: ours become a :class:`FoundReport` with its
:class:`~medviewer.reports.sr_model.ClassifierReport`, any other SR one with ``read_sr``'s
message. :func:`report_view` turns a report into the dock's texts; :func:`locate` finds the
series and slice of a finding by its SOP Instance UID (and frame) in the scan.

medviewer.reports (highdicom) is imported only when a report is read.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from medviewer.dicom.model import NO_PIXEL_DATA
from medviewer.jobs import CancelToken, Progress
from medviewer.session.ai_results import fmt_p

DISCLAIMER = "Research use only, not for diagnosis"
SHA_SHOWN = 12
"""How many hex digits of the weights' sha256 the dock shows (the tooltip has all)."""
NO_FLAGGED = "No slice was flagged"
NO_REPORT_FOUND = "No medviewer AI result (DICOM SR) in the opened files"


@dataclass(frozen=True)
class FoundReport:
    """One SR file: ``report`` when medviewer wrote it, else ``error`` says what it is."""

    path: str
    report: object | None = None
    """A :class:`~medviewer.reports.sr_model.ClassifierReport`, or None."""
    error: str | None = None
    written: str = ""
    """Content date and time as ``YYYY-MM-DD HH:MM`` ("" when the file has none)."""

    @property
    def ours(self) -> bool:
        return self.report is not None


@dataclass(frozen=True)
class FindingRow:
    """One line of the finding list: a flagged slice or a label."""

    text: str
    tooltip: str
    sop_instance_uid: str
    frame: int | None
    """1-based frame in a multi-frame image (as the SR writes it), None for a single frame."""
    index: int | None
    """The slice index the SR recorded (None for a label of the whole series)."""


@dataclass(frozen=True)
class ReportView:
    """What the finding list shows of one report."""

    title: str
    """``headct-lesions 2.0.0``"""
    weights: str
    """``weights sha256 1a2b3c4d5e6f…``"""
    weights_tip: str
    series_text: str
    series_tip: str
    flagged_title: str
    flagged: list[FindingRow] = field(default_factory=list)
    regions: list[FindingRow] = field(default_factory=list)
    disclaimer: str = DISCLAIMER
    source: str = ""


@dataclass(frozen=True)
class Target:
    """Where a finding lies in the opened images: the series (its key in the scan) and the
    slice index in it; ``message`` says why there is none (series_key is then None)."""

    series_key: str | None
    index: int | None
    message: str = ""


# -- finding the SRs ----------------------------------------------------------------------------
def report_candidates(scan_result) -> list[str]:
    """The files a scan skipped as objects without pixel data: where SRs are listed."""
    if scan_result is None:
        return []
    return [s.path for s in scan_result.skipped if s.code == NO_PIXEL_DATA]


def _written(ds) -> str:
    date = str(ds.get("ContentDate", "") or ds.get("SeriesDate", "") or "")
    time = str(ds.get("ContentTime", "") or ds.get("SeriesTime", "") or "")
    text = f"{date[:4]}-{date[4:6]}-{date[6:8]}" if len(date) >= 8 and date.isdigit() else ""
    if text and len(time) >= 4 and time[:4].isdigit():
        text += f" {time[:2]}:{time[2:4]}"
    return text


def read_report(path: str | os.PathLike) -> FoundReport:
    """Read one SR file: ours, or the plain message of why it is not (never raises for a
    file that cannot be used)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    from medviewer.reports.common import ReportError
    from medviewer.reports.sr_read import read_sr

    path = os.fspath(path)
    try:
        ds = pydicom.dcmread(path)
    except FileNotFoundError:
        return FoundReport(path, error=f"no such file: {path}")
    except (OSError, InvalidDicomError, ValueError) as exc:
        return FoundReport(
            path, error=f"{path} is not a readable DICOM file ({exc}); choose a DICOM SR file"
        )
    try:
        report = read_sr(ds)
    except ReportError as exc:
        message = str(exc).replace("the report", path, 1)
        return FoundReport(path, error=message, written=_written(ds))
    return FoundReport(path, report=report, written=_written(ds))


def _modality(path: str) -> str:
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality"])
    except Exception:  # noqa: BLE001 - a file the scan already judged; not an SR then
        return ""
    return str(ds.get("Modality", "")).upper()


def find_reports_iter(paths: Sequence[str], cancel: CancelToken | None = None):
    """Job: the SRs (Modality SR) among ``paths``, each read (:func:`read_report`); the
    other files are passed over. Returns a list of :class:`FoundReport`."""
    found: list[FoundReport] = []
    total = len(paths)
    for i, path in enumerate(paths):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if _modality(path) == "SR":
            found.append(read_report(path))
        yield Progress(i + 1, total, f"looked for AI results in {i + 1} of {total} file(s)")
    return found


def order_reports(found: Iterable[FoundReport], series_uid: str | None, study_uid: str | None):
    """Our reports about ``series_uid`` first, then those of its study, then the others (the
    newest first within each); foreign SRs last."""

    def rank(f: FoundReport):
        r = f.report
        if r is None:
            return (3, "")
        group = 0 if r.series_uid == series_uid else 1 if r.study_uid == study_uid else 2
        return (group, _negated(f.written))

    return sorted(found, key=rank)


def _negated(text: str) -> str:
    """A sort key that puts the later of two date texts first."""
    return "".join(chr(0x10FFFF - ord(c)) for c in text) if text else "\U0010ffff"


def choice_text(found: FoundReport, series_descriptions: dict[str, str] | None = None) -> str:
    """How a report is named in the dock's report choice."""
    r = found.report
    if r is None:
        return f"Not a medviewer result: {os.path.basename(found.path)}"
    about = (series_descriptions or {}).get(r.series_uid) or f"series …{r.series_uid[-8:]}"
    when = f", {found.written}" if found.written else ""
    return f"{r.model} {r.version} on {about}{when}"


# -- the texts ----------------------------------------------------------------------------------
def _probs(probabilities: dict[str, float], limit: int = 4) -> str:
    items = sorted(probabilities.items(), key=lambda kv: -float(kv[1]))
    text = " · ".join(f"{name} {fmt_p(p)}" for name, p in items[:limit])
    return text + (f" · +{len(items) - limit} more" if len(items) > limit else "")


def _top(probabilities: dict[str, float], normal: str | None) -> tuple[str, float]:
    """The slice's most probable class that is not the normal one (what it was flagged
    for), or its most probable class when only the normal class is listed."""
    abnormal = {k: v for k, v in probabilities.items() if k != normal} or probabilities
    name = max(abnormal, key=abnormal.__getitem__)
    return name, float(probabilities[name])


def _frame_text(frame: int | None) -> str:
    return f", frame {frame}" if frame is not None else ""


def flagged_row(finding, normal: str | None) -> FindingRow:
    top, p = _top(finding.probabilities, normal)
    text = f"Im {finding.index + 1}: {top} {fmt_p(p)}"
    tip = (
        f"Slice {finding.index + 1} (index {finding.index}{_frame_text(finding.frame)})\n"
        f"{_probs(finding.probabilities, limit=20)}\n"
        f"SOP Instance UID {finding.sop_instance_uid}\nClick to show this slice"
    )
    return FindingRow(text, tip, finding.sop_instance_uid, finding.frame, finding.index)


def region_row(region) -> FindingRow:
    by = f" ({region.annotator})" if region.annotator else ""
    if not region.sop_instance_uid:
        return FindingRow(
            f"{region.label}{by}: whole series", "A label of the whole series", "", None, None
        )
    r = region.region
    box = (
        f", box {r.x0:.0f},{r.y0:.0f} – {r.x1:.0f},{r.y1:.0f} px" if r is not None else ""
    )  # fmt: skip
    tip = f"SOP Instance UID {region.sop_instance_uid}{_frame_text(region.frame)}\n"
    tip += "Click to show this image"
    return FindingRow(f"{region.label}{by}{box}", tip, region.sop_instance_uid, region.frame, None)


def report_view(found: FoundReport) -> ReportView:
    """The finding list's texts for an SR of ours."""
    r = found.report
    if r is None:
        raise ValueError("report_view needs one of medviewer's reports (found.report)")
    sha = r.sha256 or ""
    weights = f"weights sha256 {sha[:SHA_SHOWN]}…" if sha else "weights sha256 not recorded"
    top = r.top
    series_text = (
        f"Series ({r.method}): <b>{top}</b> {html.escape(fmt_p(r.probabilities[top]))}"
        f"<br>{html.escape(_probs(r.probabilities, limit=8))}"
    )
    series_tip = (
        f"Study {r.study_uid}\nSeries {r.series_uid}\nAggregated over the slices by {r.method}"
        + (f"; normal class: {r.normal_class}" if r.normal_class else "")
    )
    n = len(r.flagged)
    flagged_title = f"Flagged slices ({n})" if n else NO_FLAGGED
    return ReportView(
        title=f"{r.model} {r.version}",
        weights=weights,
        weights_tip=f"Model weights sha256: {sha or 'not recorded'}",
        series_text=series_text,
        series_tip=series_tip,
        flagged_title=flagged_title,
        flagged=[flagged_row(f, r.normal_class) for f in r.flagged],
        regions=[region_row(g) for g in r.regions],
        disclaimer=r.disclaimer or DISCLAIMER,
        source=found.path,
    )


# -- where a finding lies ---------------------------------------------------------------------
def slice_index(series, sop_instance_uid: str, frame: int | None = None) -> int | None:
    """The index in ``series`` (a SeriesInfo, or a Volume's ``series``) of the image with
    this SOP Instance UID (and 1-based ``frame`` in a multi-frame file), or None."""
    if not sop_instance_uid or series is None:
        return None
    for k, ref in enumerate(series.slices):
        if ref.sop_instance_uid != sop_instance_uid:
            continue
        if frame is None or ref.frame is None or int(ref.frame) + 1 == int(frame):
            return k
    return None


def locate(row: FindingRow, report, scan_result, loaded_series=None) -> Target:
    """Where ``row`` lies: in ``loaded_series`` (the series shown) when it holds the image,
    else in another series of ``scan_result``; otherwise a message saying what to open."""
    if not row.sop_instance_uid:
        return Target(None, None, "This label is about the whole series, not one slice")
    if loaded_series is not None:
        k = slice_index(loaded_series, row.sop_instance_uid, row.frame)
        if k is not None:
            return Target(loaded_series.key, k)
    for series in scan_result.all_series() if scan_result is not None else []:
        k = slice_index(series, row.sop_instance_uid, row.frame)
        if k is not None:
            return Target(series.key, k)
    where = f"Im {row.index + 1} of the report" if row.index is not None else "This image"
    return Target(
        None,
        None,
        f"{where} (SOP Instance UID {row.sop_instance_uid}) is not among the open images: "
        f"open the study of series {report.series_uid} with the report to go there",
    )


__all__ = [
    "DISCLAIMER",
    "FindingRow",
    "FoundReport",
    "NO_FLAGGED",
    "NO_REPORT_FOUND",
    "ReportView",
    "Target",
    "choice_text",
    "find_reports_iter",
    "flagged_row",
    "locate",
    "order_reports",
    "read_report",
    "region_row",
    "report_candidates",
    "report_view",
    "slice_index",
]
