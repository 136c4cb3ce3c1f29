"""One slice's heat map as a float32 Parametric Map aligned with the slice, and reading it
back.

The map (values in [0, 1], one value per pixel of the slice) is stored as Float Pixel Data
with an identity real-world value mapping whose label is the method (``gradcam``,
``attention``, ...) and whose Quantity Definition Sequence names the method, the class
explained and the model (name, version, weights' sha256). Its geometry is its source image's
(highdicom copies the position, orientation and pixel spacing of a single-frame image; for one
frame of a multi-frame image they are given from the scanned slice), and it references that
image, so a viewer draws it over the slice pixel for pixel. :func:`read_pmap` gives the
array back bit for bit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from highdicom import (
    PixelMeasuresSequence,
    PlaneOrientationSequence,
    PlanePositionSequence,
    VOILUTTransformation,
)
from highdicom.pm import ParametricMap, RealWorldValueMapping
from highdicom.sr import TextContentItem
from pydicom import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import ParametricMapStorage

from medviewer.ai.explain_methods import METHOD_LABELS, METHODS
from medviewer.dicom.volume import Volume
from medviewer.reports.common import (
    DISCLAIMER,
    NO_UNITS,
    ReportError,
    code,
    concept_of,
    new_object,
    read_object,
    source_slices,
)

C_SALIENCY = code("MV-SALIENCY", "Classifier saliency")
C_METHOD = code("MV-METHOD", "Explanation method")
C_TARGET = code("MV-TARGET", "Explained class")
C_WEIGHTS = code("MV-WEIGHTS", "Model weights SHA-256")
CONTENT_LABEL = "HEATMAP"


@dataclass(frozen=True)
class HeatMapInfo:
    """What a heat map explains: ``method`` (a key of
    :data:`~medviewer.ai.explain_methods.METHODS`), the class ``target`` and the model, and
    the source image it lies over (``source_frame``: 1-based, None for a single frame)."""

    method: str
    target: str
    model: str
    version: str
    sha256: str
    source_sop_class_uid: str
    source_sop_instance_uid: str
    source_frame: int | None

    @property
    def method_label(self) -> str:
        """The method in words (``Grad-CAM``)."""
        return METHOD_LABELS.get(self.method, self.method)


@dataclass(frozen=True, eq=False)
class HeatMap:
    """A Parametric Map read back: the float32 (rows, cols) map and what it explains."""

    map: np.ndarray
    info: HeatMapInfo


UNPAIRED_BODY_PARTS = frozenset(
    {"HEAD", "BRAIN", "SKULL", "NECK", "HEADNECK", "CSPINE", "TSPINE", "LSPINE", "SPINE",
     "CHEST", "THORAX", "ABDOMEN", "PELVIS", "CHESTABDOMEN", "ABDOMENPELVIS", "WHOLEBODY"}
)  # fmt: skip
"""(0018,0015) Body Part Examined values (DICOM PS3.16 Annex L) that are not paired."""


def _content_description(method: str, target: str) -> str:
    """(0070,0081) holds 64 characters: the map and its class with the whole disclaimer,
    else a shorter one, never a disclaimer cut mid-word."""
    for tail in (DISCLAIMER, "research use only", "research only"):
        text = f"{method} for {target}: {tail}"
        if len(text) <= 64:
            return text
    return f"{method}: research only"[:64]


def check_heat_map(heat_map: np.ndarray, volume: Volume, k: int) -> np.ndarray:
    """``heat_map`` as a C-contiguous float32 (rows, cols) array, checked against slice ``k``
    of ``volume``: same shape, finite values in [0, 1]. Raises :class:`ReportError`."""
    series = volume.series
    n = int(volume.array.shape[0])
    if not 0 <= k < n:
        raise ReportError(f"slice {k} is out of range: series {series.key} has slices 0..{n - 1}")
    values = np.asarray(heat_map)
    want = tuple(int(v) for v in volume.array.shape[1:3])
    if values.shape != want:
        shape = "x".join(str(v) for v in values.shape) or "a single value"
        raise ReportError(
            f"the heat map is {shape} but slice {k} of series {series.key} is "
            f"{want[0]}x{want[1]} (rows x columns): a parametric map must lie over its slice "
            "pixel for pixel; compute it with medviewer explain, which maps it back to the slice"
        )
    if values.dtype.kind not in "fiub":
        raise ReportError(f"the heat map holds {values.dtype} values, not numbers")
    values = np.ascontiguousarray(values, dtype=np.float32)
    bad = ~np.isfinite(values)
    if bad.any():
        r, c = (int(v) for v in np.argwhere(bad)[0])
        raise ReportError(
            f"the heat map of slice {k} holds {int(bad.sum())} NaN or infinite value(s) (the "
            f"first at row {r}, column {c}); compute the map again"
        )
    lo, hi = float(values.min()), float(values.max())
    if lo < 0.0 or hi > 1.0:
        raise ReportError(
            f"the heat map of slice {k} has values from {lo:g} to {hi:g}; a heat map holds "
            "values in [0, 1] (normalise it first)"
        )
    return values


def _geometry(volume: Volume, k: int) -> dict[str, object]:
    """Explicit plane geometry of slice ``k`` (for a frame of a multi-frame source)."""
    ref = volume.series.slices[k]
    if ref.position is None or ref.orientation is None or ref.pixel_spacing is None:
        raise ReportError(
            f"frame {int(ref.frame or 0) + 1} of {ref.path} has no Image Position / "
            "Orientation (Patient) or Pixel Spacing: a parametric map of it could not be "
            "placed over it"
        )
    thickness = ref.slice_thickness or volume.series.slice_thickness or volume.spacing[0]
    return {
        "pixel_measures": PixelMeasuresSequence(
            pixel_spacing=[float(v) for v in ref.pixel_spacing],
            slice_thickness=float(thickness),
        ),
        "plane_orientation": PlaneOrientationSequence(
            coordinate_system="PATIENT", image_orientation=[float(v) for v in ref.orientation]
        ),
        "plane_positions": [
            PlanePositionSequence(
                coordinate_system="PATIENT", image_position=[float(v) for v in ref.position]
            )
        ],
    }


def _measures(header: Dataset, volume: Volume) -> dict[str, object]:
    """The source's pixel spacing and slice thickness, and the series' spacing between slices
    (highdicom would make one up for a single frame); empty without Pixel Spacing."""
    spacing = header.get("PixelSpacing")
    if not spacing:
        return {}
    thickness = header.get("SliceThickness")
    return {
        "pixel_measures": PixelMeasuresSequence(
            pixel_spacing=[float(v) for v in spacing],
            slice_thickness=float(thickness) if thickness not in (None, "") else None,
            spacing_between_slices=float(volume.spacing[0]),
        )
    }


def _value_mapping(info: HeatMapInfo) -> RealWorldValueMapping:
    mapping = RealWorldValueMapping(
        lut_label=info.method[:16],
        lut_explanation=f"{info.method_label} saliency for class {info.target}"[:64],
        unit=NO_UNITS,
        value_range=(0.0, 1.0),
        slope=1,
        intercept=0,
        quantity_definition=C_SALIENCY,
    )
    for name, value in (
        (C_METHOD, info.method),
        (C_TARGET, info.target),
        (codes.DCM.AlgorithmName, info.model),
        (codes.DCM.AlgorithmVersion, info.version),
        (C_WEIGHTS, info.sha256),
    ):
        mapping.QuantityDefinitionSequence.append(TextContentItem(name=name, value=value))
    return mapping


def make_pmap(
    volume: Volume,
    k: int,
    heat_map: np.ndarray,
    *,
    method: str,
    target: str,
    model: str,
    version: str,
    sha256: str,
) -> Dataset:
    """The Parametric Map of ``heat_map`` over slice ``k`` of ``volume``, made by
    ``method`` for class ``target`` of ``model`` ``version`` (weights ``sha256``).

    Raises :class:`ReportError` for an unknown method, a map of another shape than the slice,
    NaN / infinite values or values outside [0, 1], or a slice without SOP UIDs."""
    if method not in METHODS:
        raise ReportError(f"unknown explanation method {method!r}: use one of {', '.join(METHODS)}")
    values = check_heat_map(heat_map, volume, k)
    [src] = source_slices(volume, [k])
    info = HeatMapInfo(
        method,
        str(target),
        model,
        version,
        sha256,
        src.sop_class_uid,
        src.sop_instance_uid,
        src.frame,
    )
    geometry = _geometry(volume, k) if src.frame is not None else _measures(src.header, volume)
    try:
        pmap = ParametricMap(
            source_images=[src.header],
            pixel_array=values,
            device_serial_number=sha256[:64] or "unknown",  # the exact weights: the "device"
            contains_recognizable_visual_features=False,
            real_world_value_mappings=[_value_mapping(info)],
            voi_lut_transformations=[VOILUTTransformation(window_center=0.5, window_width=1.0)],
            content_label=CONTENT_LABEL,
            content_description=_content_description(info.method_label, target),
            content_creator_name=None,
            series_description=f"medviewer {info.method_label} (research use only)"[:64],
            **geometry,
            **new_object("pmap", model),
        )
    except (ValueError, TypeError) as exc:
        raise ReportError(
            f"the heat map of slice {k} of series {volume.series.key} cannot be encoded as a "
            f"DICOM parametric map ({exc})"
        ) from None
    # General Series Laterality (type 2C, required for a paired body part): the source's
    # when it has one; absent for a body part known to be unpaired (a head: dciodvfy wants
    # it absent, not empty); else empty, as nobody can tell whether it is paired
    laterality = str(src.header.get("Laterality", "") or "")
    source_part = str(src.header.get("BodyPartExamined", "") or "")
    if source_part and not pmap.get("BodyPartExamined"):  # General Series, as the source
        pmap.BodyPartExamined = source_part
    body_part = source_part.upper()
    if laterality:
        pmap.Laterality = laterality
    elif body_part in UNPAIRED_BODY_PARTS:
        if "Laterality" in pmap:
            del pmap.Laterality
    else:
        pmap.Laterality = ""
    return pmap


def read_pmap(source: str | os.PathLike | Dataset) -> HeatMap:
    """The float32 map and its :class:`HeatMapInfo` of a Parametric Map medviewer wrote.

    Raises :class:`ReportError` for another kind of object or a map medviewer did not
    write."""
    ds, name = read_object(source, "parametric map")
    if str(ds.get("SOPClassUID", "")) != ParametricMapStorage:
        what = getattr(ds.get("SOPClassUID"), "name", "") or "object without a SOP class"
        raise ReportError(f"{name} is a {what}, not a parametric map")
    try:
        mapping = ds.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
        items = list(mapping.QuantityDefinitionSequence)
    except (AttributeError, IndexError):
        items = []
    texts = {concept_of(i)[0]: str(i.get("TextValue", "")) for i in items}
    if C_METHOD.value not in texts or ds.get("ContentLabel") != CONTENT_LABEL:
        raise ReportError(
            f"{name} is not a medviewer heat map (its real-world value mapping names no "
            "explanation method); only the maps medviewer writes (medviewer export-dicom "
            "--what pmap) can be read back"
        )
    values = np.asarray(ds.pixel_array, dtype=np.float32).reshape(int(ds.Rows), int(ds.Columns))
    slope = float(mapping.get("RealWorldValueSlope", 1.0))
    intercept = float(mapping.get("RealWorldValueIntercept", 0.0))
    if slope != 1.0 or intercept != 0.0:
        values = (values * np.float32(slope) + np.float32(intercept)).astype(np.float32)
    ref = ds.SourceImageSequence[0] if "SourceImageSequence" in ds else None
    if ref is None:
        derivation = ds.SharedFunctionalGroupsSequence[0].get("DerivationImageSequence")
        ref = derivation[0].SourceImageSequence[0] if derivation else Dataset()
    frame = ref.get("ReferencedFrameNumber")
    info = HeatMapInfo(
        method=texts[C_METHOD.value],
        target=texts.get(C_TARGET.value, ""),
        model=texts.get(str(codes.DCM.AlgorithmName.value), ""),
        version=texts.get(str(codes.DCM.AlgorithmVersion.value), ""),
        sha256=texts.get(C_WEIGHTS.value, ""),
        source_sop_class_uid=str(ref.get("ReferencedSOPClassUID", "")),
        source_sop_instance_uid=str(ref.get("ReferencedSOPInstanceUID", "")),
        source_frame=None if frame in (None, "") else int(frame),
    )
    return HeatMap(values, info)


__all__ = ["HeatMap", "HeatMapInfo", "check_heat_map", "make_pmap", "read_pmap"]
