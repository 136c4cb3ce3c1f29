"""What a medviewer classifier SR says (:class:`ClassifierReport` and its parts) and the
private concepts (scheme ``99MEDVIEWER``) its content tree is made of; shared by the writer
(:mod:`medviewer.reports.sr`) and the reader (:mod:`medviewer.reports.sr_read`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from medviewer.labels.schema import Region
from medviewer.reports.common import DISCLAIMER, code

TITLE = code("MV-CLSREPORT", "medviewer classifier report")
C_DISCLAIMER = code("MV-DISCLAIMER", "Disclaimer")
C_MODEL = code("MV-MODEL", "Classifier model")
C_WEIGHTS = code("MV-WEIGHTS", "Model weights SHA-256")
C_SERIES = code("MV-SERIES", "Series result")
C_AGGREGATION = code("MV-AGGREGATION", "Aggregation over slices")
C_NORMAL = code("MV-NORMAL", "Normal class")
C_PROBABILITY = code("MV-PROBABILITY", "Class probability")
C_CLASS = code("MV-CLASS", "Class")
C_FLAGGED = code("MV-FLAGGED", "Flagged slices")
C_FLAG_SUMMARY = code("MV-FLAGSUMMARY", "Flagged slices summary")
C_SLICE = code("MV-SLICE", "Flagged slice")
C_INDEX = code("MV-SLICEINDEX", "Slice index")
C_REGIONS = code("MV-REGIONS", "Labels and evidence regions")
C_REGION = code("MV-REGION", "Label")
C_LABEL = code("MV-LABEL", "Label class")
C_ANNOTATOR = code("MV-ANNOTATOR", "Annotator")
C_SUMMARY = code("MV-SUMMARY", "Summary")
C_SLICE_SUMMARY = code("MV-SLICESUMMARY", "Flagged slice summary")
NONE_FLAGGED = "No slice was flagged"


def probability_text(p: float) -> str:
    """A probability as a reader reads it: two decimals, ">0.99" / "<0.01" at the ends."""
    if p > 0.995:
        return ">0.99"
    if p < 0.005:
        return "<0.01"
    return f"{p:.2f}"


def slice_summary(f: SliceFinding) -> str:
    """ "Im 24: hypodense lesion >0.99" (the image number as the viewer shows it, from 1)."""
    top = max(f.probabilities, key=f.probabilities.__getitem__)
    return f"Im {f.index + 1}: {top.replace('_', ' ')} {probability_text(f.probabilities[top])}"


def summary(report: ClassifierReport) -> str:
    """The report in one sentence for a human reader of the SR (dsrdump, a PACS viewer)."""
    top = report.top
    text = (
        f"{report.model} {report.version}: {top.replace('_', ' ')} is the most probable class "
        f"of the series ({probability_text(report.probabilities[top])}, {report.method}); "
    )
    if report.flagged:
        shown = "; ".join(slice_summary(f) for f in report.flagged[:5])
        more = f" and {len(report.flagged) - 5} more" if len(report.flagged) > 5 else ""
        text += f"{len(report.flagged)} slice(s) flagged: {shown}{more}. "
    else:
        text += f"{NONE_FLAGGED.lower()}. "
    return text + report.disclaimer


@dataclass(frozen=True)
class SliceFinding:
    """One flagged slice: its index in the volume, its source image (``frame``: 1-based in a
    multi-frame file, None otherwise) and the model's per-class probabilities."""

    index: int
    sop_class_uid: str
    sop_instance_uid: str
    frame: int | None
    probabilities: dict[str, float]


@dataclass(frozen=True)
class RegionFinding:
    """One label of the series: its class, annotator, image (empty for a series label) and
    evidence rectangle in that image's pixels (None when the label has none)."""

    label: str
    annotator: str
    sop_class_uid: str
    sop_instance_uid: str
    frame: int | None
    region: Region | None


@dataclass(frozen=True)
class ClassifierReport:
    """What a medviewer SR says: what :func:`make_sr` writes and :func:`read_sr` reads."""

    model: str
    version: str
    sha256: str
    study_uid: str
    series_uid: str
    method: str
    """The aggregation over slices (``max``, ``mean``, ``abnormal_max``)."""
    normal_class: str | None
    probabilities: dict[str, float]
    """The series' per-class probabilities, in the model card's class order."""
    flagged: list[SliceFinding] = field(default_factory=list)
    """Most suspicious first; empty when no slice was flagged."""
    regions: list[RegionFinding] = field(default_factory=list)
    disclaimer: str = DISCLAIMER

    @property
    def top(self) -> str:
        """The class with the highest series probability."""
        return max(self.probabilities, key=self.probabilities.__getitem__)
