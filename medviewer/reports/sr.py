"""The classifier's result of one series as a Comprehensive SR, and reading it back.

The document (a Comprehensive SR content tree, medviewer's private codes for its own
concepts, standard codes where they exist) holds, under its title "medviewer classifier
report":

- the device observer context: medviewer running the model;
- the text :data:`~medviewer.reports.common.DISCLAIMER`;
- the model: Algorithm Name / Version (DCM 111001 / 111003) and the weights' sha256;
- the series result: Study / Series Instance UID, aggregation method, normal class, one NUM
  per class (its probability, the class named by a TEXT concept modifier);
- the flagged slices (:func:`medviewer.ai.findings.series_flagged_slices`, most suspicious
  first; a text saying none were flagged when none were), each with an IMAGE reference to its
  source image (with the frame number in a multi-frame file), its slice index and its
  per-class probabilities;
- with a labels store's annotations of the series: each label, its annotator and its
  evidence rectangle as an SCOORD POLYLINE (a POINT for a zero-size one) SELECTED FROM its
  image (or an IMAGE reference when the label has no rectangle).

Probabilities travel as FloatingPointValue (exact); SCOORD coordinates are 32-bit floats
(GraphicData is FL), so a region reads back as the float32 nearest to what was written.
:func:`read_sr` (in :mod:`medviewer.reports.sr_read`) reads these documents back into a
:class:`ClassifierReport`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from highdicom.sr import (
    ComprehensiveSR,
    ContainerContentItem,
    ContentSequence,
    GraphicTypeValues,
    ImageContentItem,
    NumContentItem,
    RelationshipTypeValues,
    ScoordContentItem,
    TextContentItem,
    UIDRefContentItem,
)
from pydicom import Dataset
from pydicom.sr.codedict import codes

from medviewer.ai.classifier import SeriesPrediction
from medviewer.ai.findings import normal_class, series_flagged_slices
from medviewer.dicom.volume import Volume
from medviewer.labels.schema import Annotation, Region
from medviewer.reports.common import (
    NO_UNITS,
    SOURCE,
    ReportError,
    SourceSlice,
    device_observer,
    new_object,
    source_slices,
    unique_headers,
)
from medviewer.reports.sr_model import (
    C_AGGREGATION,
    C_ANNOTATOR,
    C_CLASS,
    C_DISCLAIMER,
    C_FLAG_SUMMARY,
    C_FLAGGED,
    C_INDEX,
    C_LABEL,
    C_MODEL,
    C_NORMAL,
    C_PROBABILITY,
    C_REGION,
    C_REGIONS,
    C_SERIES,
    C_SLICE,
    C_SLICE_SUMMARY,
    C_SUMMARY,
    C_WEIGHTS,
    NONE_FLAGGED,
    TITLE,
    ClassifierReport,
    RegionFinding,
    SliceFinding,
    slice_summary,
)
from medviewer.reports.sr_model import summary as report_summary
from medviewer.reports.sr_read import read_sr

CONTAINS = RelationshipTypeValues.CONTAINS
MODIFIER = RelationshipTypeValues.HAS_CONCEPT_MOD
SELECTED_FROM = RelationshipTypeValues.SELECTED_FROM


def _checked_probabilities(probabilities: dict[str, float], where: str) -> dict[str, float]:
    out = {str(c): float(p) for c, p in probabilities.items()}
    bad = [c for c, p in out.items() if not math.isfinite(p)]
    if bad:
        raise ReportError(
            f"{where}: the probability of {', '.join(bad)} is not a number; run the model again"
        )
    return out


def _f32(value: float) -> float:
    return float(np.float32(value))


def _region_findings(
    annotations: Iterable[Annotation], series_uid: str, by_key: dict, series_key: str
) -> list[RegionFinding]:
    out = []
    for a in annotations:
        if a.key.series_uid != series_uid:
            continue
        if not a.key.sop_uid:
            out.append(RegionFinding(a.label, a.annotator, "", "", None, None))
            continue
        src = by_key.get((a.key.sop_uid, a.key.frame))
        if src is None:
            raise ReportError(
                f"the label {a.label!r} of {a.annotator or 'an annotator'} is on image "
                f"{a.key.sop_uid}{'' if a.key.frame is None else f' frame {a.key.frame}'}, "
                f"which is not among the loaded slices of series {series_key}; load the whole "
                "series (or leave out --labels)"
            )
        r = a.region
        region = None if r is None else Region(_f32(r.x0), _f32(r.y0), _f32(r.x1), _f32(r.y1))
        out.append(
            RegionFinding(
                a.label, a.annotator, src.sop_class_uid, src.sop_instance_uid, src.frame, region
            )
        )
    return out


def report_of(
    volume: Volume,
    prediction: SeriesPrediction,
    annotations: Iterable[Annotation] = (),
) -> tuple[ClassifierReport, list[SourceSlice]]:
    """The report of ``prediction`` (of ``volume``) and the source images of every slice
    (the SR's evidence). ``annotations`` of other series are left out."""
    series = volume.series
    n = int(volume.array.shape[0])
    if len(prediction.slices) and max(p.index for p in prediction.slices) >= n:
        raise ReportError(
            f"the prediction has slices beyond the {n} of series {series.key}: it was made "
            "for another series; run the model on this one"
        )
    sources = source_slices(volume, range(n))
    by_index = {p.index: p for p in prediction.slices}
    flagged = []
    for k in series_flagged_slices(prediction):
        src = sources[k]
        probs = _checked_probabilities(by_index[k].probabilities, f"slice {k}")
        flagged.append(SliceFinding(k, src.sop_class_uid, src.sop_instance_uid, src.frame, probs))
    by_key = {(s.sop_instance_uid, s.frame): s for s in sources}
    regions = _region_findings(annotations, series.series_uid, by_key, series.key)
    report = ClassifierReport(
        model=prediction.model,
        version=prediction.version,
        sha256=prediction.sha256,
        study_uid=series.study_uid,
        series_uid=series.series_uid,
        method=prediction.method,
        normal_class=normal_class(prediction.classes, prediction.method),
        probabilities=_checked_probabilities(prediction.probabilities, f"series {series.key}"),
        flagged=flagged,
        regions=regions,
    )
    return report, sources


# -- the content tree -------------------------------------------------------------------------
def _container(name, items: Sequence) -> ContainerContentItem:
    box = ContainerContentItem(name=name, relationship_type=CONTAINS)
    box.ContentSequence = ContentSequence(items)
    return box


def _text(name, value: str, relationship=CONTAINS) -> TextContentItem:
    return TextContentItem(name=name, value=value, relationship_type=relationship)


def _probability_items(probabilities: dict[str, float]) -> list[NumContentItem]:
    out = []
    for cls, p in probabilities.items():
        num = NumContentItem(
            name=C_PROBABILITY, value=float(p), unit=NO_UNITS, relationship_type=CONTAINS
        )
        num.ContentSequence = ContentSequence([_text(C_CLASS, cls, MODIFIER)])
        out.append(num)
    return out


def _image(sop_class: str, sop_uid: str, frame: int | None, relationship) -> ImageContentItem:
    return ImageContentItem(
        name=SOURCE,
        referenced_sop_class_uid=sop_class,
        referenced_sop_instance_uid=sop_uid,
        referenced_frame_numbers=frame,
        relationship_type=relationship,
    )


def _region_item(r: RegionFinding) -> ContainerContentItem:
    items: list = [_text(C_LABEL, r.label)]
    if r.annotator:
        items.append(_text(C_ANNOTATOR, r.annotator))
    if r.region is not None:
        g = r.region
        if g.x0 == g.x1 and g.y0 == g.y1:
            kind, points = GraphicTypeValues.POINT, [(g.x0, g.y0)]
        else:
            kind = GraphicTypeValues.POLYLINE
            points = [(g.x0, g.y0), (g.x1, g.y0), (g.x1, g.y1), (g.x0, g.y1), (g.x0, g.y0)]
        scoord = ScoordContentItem(
            name=codes.DCM.ImageRegion,
            graphic_type=kind,
            graphic_data=np.asarray(points, dtype=np.float64),
            relationship_type=CONTAINS,
        )
        scoord.ContentSequence = ContentSequence(
            [_image(r.sop_class_uid, r.sop_instance_uid, r.frame, SELECTED_FROM)]
        )
        items.append(scoord)
    elif r.sop_instance_uid:
        items.append(_image(r.sop_class_uid, r.sop_instance_uid, r.frame, CONTAINS))
    return _container(C_REGION, items)


def content_tree(report: ClassifierReport) -> ContainerContentItem:
    """The SR's root container for ``report``."""
    root = ContainerContentItem(name=TITLE)
    items: list = [*device_observer(report.model, report.version)]
    items.append(_text(C_DISCLAIMER, report.disclaimer))
    items.append(_text(C_SUMMARY, report_summary(report)))  # for a human reader; not read back
    items.append(
        _container(
            C_MODEL,
            [
                _text(codes.DCM.AlgorithmName, report.model),
                _text(codes.DCM.AlgorithmVersion, report.version),
                _text(C_WEIGHTS, report.sha256),
            ],
        )
    )
    series: list = [
        UIDRefContentItem(codes.DCM.StudyInstanceUID, report.study_uid, CONTAINS),
        UIDRefContentItem(codes.DCM.SeriesInstanceUID, report.series_uid, CONTAINS),
        _text(C_AGGREGATION, report.method),
    ]
    if report.normal_class is not None:
        series.append(_text(C_NORMAL, report.normal_class))
    series.extend(_probability_items(report.probabilities))
    items.append(_container(C_SERIES, series))
    n = len(report.flagged)
    summary = f"{n} slice(s) flagged, most suspicious first" if n else NONE_FLAGGED
    flagged: list = [_text(C_FLAG_SUMMARY, summary)]
    for f in report.flagged:
        index = NumContentItem(
            name=C_INDEX, value=int(f.index), unit=NO_UNITS, relationship_type=CONTAINS
        )
        slice_items = [
            _text(C_SLICE_SUMMARY, slice_summary(f)),  # "Im 24: …", numbered from 1
            _image(f.sop_class_uid, f.sop_instance_uid, f.frame, CONTAINS),
            index,  # 0-based, as medviewer reads it back
        ]
        flagged.append(_container(C_SLICE, [*slice_items, *_probability_items(f.probabilities)]))
    items.append(_container(C_FLAGGED, flagged))
    if report.regions:
        items.append(_container(C_REGIONS, [_region_item(r) for r in report.regions]))
    root.ContentSequence = ContentSequence(items)
    return root


def build_sr(report: ClassifierReport, sources: Sequence[SourceSlice]) -> Dataset:
    """The Comprehensive SR of ``report``; ``sources`` are the images it was made from (the
    patient and study are copied from the first)."""
    if not sources:
        raise ReportError(f"series {report.series_uid} has no source images to report on")
    try:
        return ComprehensiveSR(
            evidence=unique_headers(sources),
            content=content_tree(report),
            is_complete=True,
            series_description="medviewer AI result (research use only)",
            **new_object("sr", report.model),
        )
    except (ValueError, TypeError) as exc:
        raise ReportError(
            f"the report of series {report.series_uid} cannot be encoded as DICOM ({exc})"
        ) from None


def make_sr(
    volume: Volume,
    prediction: SeriesPrediction,
    annotations: Iterable[Annotation] = (),
) -> Dataset:
    """The Comprehensive SR of ``prediction`` of ``volume`` (with ``annotations`` of this
    series); write it with :func:`medviewer.reports.common.write_objects`."""
    report, sources = report_of(volume, prediction, annotations)
    return build_sr(report, sources)


__all__ = [
    "ClassifierReport",
    "RegionFinding",
    "SliceFinding",
    "build_sr",
    "content_tree",
    "make_sr",
    "read_sr",
    "report_of",
]
