"""The classifier's flagged slices of a series as a Key Object Selection ("Of Interest"), so a
PACS viewer can jump to them; and reading the selection back.

The slices are :func:`medviewer.ai.findings.series_flagged_slices` (the SR lists the same
ones), most suspicious first; frames of a multi-frame image are referenced with their frame
numbers. A series with no flagged slice has nothing to select: it is refused (the SR says
that none were flagged).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from highdicom.ko import KeyObjectSelection, KeyObjectSelectionDocument
from pydicom import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import KeyObjectSelectionDocumentStorage

from medviewer.ai.classifier import SeriesPrediction
from medviewer.ai.findings import series_flagged_slices
from medviewer.dicom.volume import Volume
from medviewer.reports.common import (
    DISCLAIMER,
    ReportError,
    device_observer,
    new_object,
    read_object,
    source_slices,
    unique_headers,
)


@dataclass(frozen=True)
class KeySelection:
    """A Key Object Selection read back: its description and the selected images as
    ``(SOP Instance UID, frame)`` (frame 1-based, None for a whole single-frame image)."""

    description: str
    images: list[tuple[str, int | None]]


def description_of(prediction: SeriesPrediction, n: int) -> str:
    """The selection's Key Object Description."""
    return (
        f"The {n} slice(s) flagged by the classifier {prediction.model} {prediction.version} "
        f"(weights sha256 {prediction.sha256[:12]}), most suspicious first; not a diagnosis. "
        f"{DISCLAIMER}."
    )


def make_ko(volume: Volume, prediction: SeriesPrediction) -> Dataset:
    """The Key Object Selection of the slices of ``volume`` that ``prediction`` flags.

    Raises :class:`ReportError` when no slice is flagged or a slice lacks its SOP UIDs."""
    series = volume.series
    flagged = series_flagged_slices(prediction)
    if not flagged:
        raise ReportError(
            f"no slice of series {series.key} was flagged by {prediction.model} "
            f"{prediction.version}: a key object selection needs at least one image, so none "
            "was written (the SR, --what sr, records that nothing was flagged)"
        )
    sources = source_slices(volume, flagged)
    frames: dict[str, list[int]] = {}
    for s in sources:
        if s.frame is not None:
            frames.setdefault(s.sop_instance_uid, []).append(s.frame)
    content = KeyObjectSelection(
        document_title=codes.DCM.OfInterest,
        referenced_objects=unique_headers(sources),
        observer_device_context=device_observer(prediction.model, prediction.version),
        description=description_of(prediction, len(flagged)),
    )
    for item in content[0].ContentSequence:
        if item.get("ValueType") == "IMAGE":
            ref = item.ReferencedSOPSequence[0]
            if ref.ReferencedSOPInstanceUID in frames:
                ref.ReferencedFrameNumber = frames[ref.ReferencedSOPInstanceUID]
    try:
        return KeyObjectSelectionDocument(
            evidence=unique_headers(sources),
            content=content,
            series_description="medviewer flagged slices (research use only)",
            **new_object("ko", prediction.model),
        )
    except (ValueError, TypeError) as exc:
        raise ReportError(
            f"the flagged slices of series {series.key} cannot be encoded as a key object "
            f"selection ({exc})"
        ) from None


def read_ko(source: str | os.PathLike | Dataset) -> KeySelection:
    """The description and selected images of a Key Object Selection (any writer's)."""
    ds, name = read_object(source, "key object selection")
    if str(ds.get("SOPClassUID", "")) != KeyObjectSelectionDocumentStorage:
        what = getattr(ds.get("SOPClassUID"), "name", "") or "object without a SOP class"
        raise ReportError(f"{name} is a {what}, not a key object selection")
    description = ""
    images: list[tuple[str, int | None]] = []
    for item in ds.get("ContentSequence", []):
        kind = item.get("ValueType")
        if kind == "TEXT":
            description = str(item.get("TextValue", ""))
        elif kind == "IMAGE":
            ref = item.ReferencedSOPSequence[0]
            numbers = ref.get("ReferencedFrameNumber")
            if numbers in (None, ""):
                images.append((str(ref.ReferencedSOPInstanceUID), None))
            else:
                values = list(numbers) if isinstance(numbers, Sequence) else [numbers]
                images.extend((str(ref.ReferencedSOPInstanceUID), int(f)) for f in values)
    return KeySelection(description, images)


__all__ = ["KeySelection", "description_of", "make_ko", "read_ko"]
