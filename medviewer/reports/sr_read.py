"""Read a medviewer classifier SR back into a :class:`~medviewer.reports.sr_model.ClassifierReport`
(for the AI dock's finding list). Only our own SRs: any other SR is refused with a message
saying what it is."""

from __future__ import annotations

import os
from collections.abc import Sequence

from pydicom import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import ComprehensiveSRStorage

from medviewer.labels.schema import Region
from medviewer.reports.common import ReportError, concept_of, read_object
from medviewer.reports.sr_model import (
    C_AGGREGATION,
    C_ANNOTATOR,
    C_CLASS,
    C_DISCLAIMER,
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
    C_WEIGHTS,
    TITLE,
    ClassifierReport,
    RegionFinding,
    SliceFinding,
)


class _Reader:
    """Looks content items up by concept; a missing one is a clear error naming the file."""

    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, what: str) -> ReportError:
        return ReportError(
            f"{self.name}: the report has no {what}; it was changed after medviewer wrote it, "
            "export it again (medviewer export-dicom --what sr)"
        )

    @staticmethod
    def children(item: Dataset) -> list[Dataset]:
        return list(item.get("ContentSequence", []))

    def all(self, items: list[Dataset], concept) -> list[Dataset]:
        key = (str(concept.value), str(concept.scheme_designator))
        return [i for i in items if concept_of(i) == key]

    def one(self, items: list[Dataset], concept) -> Dataset:
        found = self.all(items, concept)
        if not found:
            raise self.fail(f"{concept.meaning!r} content item ({concept.value})")
        return found[0]

    def text(self, items: list[Dataset], concept, default: str | None = None) -> str | None:
        found = self.all(items, concept)
        if not found:
            if default is not None:
                return default
            raise self.fail(f"{concept.meaning!r} text ({concept.value})")
        return str(found[0].get("TextValue", found[0].get("UID", "")))

    def number(self, item: Dataset) -> float:
        try:
            value = item.MeasuredValueSequence[0]
            if "FloatingPointValue" in value:
                return float(value.FloatingPointValue)
            return float(value.NumericValue)
        except (AttributeError, IndexError, TypeError, ValueError):
            raise self.fail("numeric value in a NUM item") from None

    def probabilities(self, items: list[Dataset]) -> dict[str, float]:
        out = {}
        for num in self.all(items, C_PROBABILITY):
            cls = self.text(self.children(num), C_CLASS)
            out[cls] = self.number(num)
        return out

    def image(self, item: Dataset) -> tuple[str, str, int | None]:
        try:
            ref = item.ReferencedSOPSequence[0]
            frames = ref.get("ReferencedFrameNumber")
        except (AttributeError, IndexError):
            raise self.fail("image reference (Referenced SOP Sequence (0008,1199))") from None
        frame = None
        if frames is not None and frames != "":
            frame = int(frames[0]) if isinstance(frames, Sequence) else int(frames)
        return str(ref.ReferencedSOPClassUID), str(ref.ReferencedSOPInstanceUID), frame


def _region(reader: _Reader, box: Dataset) -> RegionFinding:
    items = reader.children(box)
    label = reader.text(items, C_LABEL)
    annotator = reader.text(items, C_ANNOTATOR, default="")
    scoords = reader.all(items, codes.DCM.ImageRegion)
    images = [i for i in items if i.get("ValueType") == "IMAGE"]
    if scoords:
        s = scoords[0]
        data = [float(v) for v in s.GraphicData]
        if s.GraphicType == "POINT":
            region = Region(data[0], data[1], data[0], data[1])
        else:
            region = Region(data[0], data[1], data[4], data[5])
        selected = [i for i in reader.children(s) if i.get("ValueType") == "IMAGE"]
        if not selected:
            raise reader.fail(f"image the region of label {label!r} is selected from")
        sop_class, sop_uid, frame = reader.image(selected[0])
        return RegionFinding(label, annotator, sop_class, sop_uid, frame, region)
    if images:
        sop_class, sop_uid, frame = reader.image(images[0])
        return RegionFinding(label, annotator, sop_class, sop_uid, frame, None)
    return RegionFinding(label, annotator, "", "", None, None)


def read_sr(source: str | os.PathLike | Dataset) -> ClassifierReport:
    """The :class:`ClassifierReport` of a medviewer classifier SR (a file or a dataset).

    Raises :class:`~medviewer.reports.common.ReportError` for a file that is not DICOM, an SR
    medviewer did not write (any other title or SOP class), or one missing a part."""
    ds, name = read_object(source, "report")
    sop_class = str(ds.get("SOPClassUID", ""))
    title = ds.get("ConceptNameCodeSequence")
    meaning = str(title[0].get("CodeMeaning", "")) if title else ""
    if sop_class != ComprehensiveSRStorage or concept_of(ds) != (
        TITLE.value,
        TITLE.scheme_designator,
    ):
        what = getattr(ds.get("SOPClassUID"), "name", sop_class) or "no SOP class"
        titled = f" titled {meaning!r}" if meaning else ""
        raise ReportError(
            f"{name} is not a medviewer classifier report (it is a {what}{titled}); only the "
            "SRs medviewer writes (medviewer export-dicom --what sr) can be read back"
        )
    r = _Reader(name)
    top = r.children(ds)
    model = r.children(r.one(top, C_MODEL))
    series = r.children(r.one(top, C_SERIES))
    flagged = []
    for box in r.all(r.children(r.one(top, C_FLAGGED)), C_SLICE):
        items = r.children(box)
        images = [i for i in items if i.get("ValueType") == "IMAGE"]
        if not images:
            raise r.fail("image reference of a flagged slice")
        sop_class_uid, sop_uid, frame = r.image(images[0])
        index = int(r.number(r.one(items, C_INDEX)))
        flagged.append(SliceFinding(index, sop_class_uid, sop_uid, frame, r.probabilities(items)))
    regions_box = r.all(top, C_REGIONS)
    regions = (
        [_region(r, box) for box in r.all(r.children(regions_box[0]), C_REGION)]
        if regions_box
        else []
    )
    normal = r.all(series, C_NORMAL)
    return ClassifierReport(
        model=r.text(model, codes.DCM.AlgorithmName),
        version=r.text(model, codes.DCM.AlgorithmVersion),
        sha256=r.text(model, C_WEIGHTS),
        study_uid=str(r.one(series, codes.DCM.StudyInstanceUID).UID),
        series_uid=str(r.one(series, codes.DCM.SeriesInstanceUID).UID),
        method=r.text(series, C_AGGREGATION),
        normal_class=str(normal[0].TextValue) if normal else None,
        probabilities=r.probabilities(series),
        flagged=flagged,
        regions=regions,
        disclaimer=r.text(top, C_DISCLAIMER),
    )


__all__ = ["read_sr"]
