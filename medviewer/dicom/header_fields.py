"""Header attribute values -> numbers, windows, VOI LUTs and :class:`SliceRef` records.

Works on any pydicom-like data set (``ds.get(keyword)``, ``keyword in ds``): a pydicom
``Dataset`` or the fast reader's ``FastDataset``. Damaged values become "absent", never an
exception: a 'nan' position or a text spacing is treated like a missing attribute.
"""

from __future__ import annotations

import math

import numpy as np

from medviewer.dicom.model import SliceRef


def floats(value) -> list[float]:
    if value is None or value == "":
        return []
    try:
        if (
            isinstance(value, (list, tuple))
            or hasattr(value, "__iter__")
            and not isinstance(value, (str, bytes))
        ):
            vals = [float(v) for v in value]
        else:
            vals = [float(value)]
    except (TypeError, ValueError):
        return []
    # 'nan' / 'inf' in a DS is never a usable position, spacing or rescale: treat as absent
    return vals if all(math.isfinite(v) for v in vals) else []


def opt_float(value) -> float | None:
    vals = floats(value)
    return vals[0] if vals else None


def opt_int(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def vec(value, n: int) -> tuple[float, ...] | None:
    vals = floats(value)
    if len(vals) != n:
        return None
    return tuple(vals)


def positive_vec(value, n: int) -> tuple[float, ...] | None:
    """``vec`` of a spacing: None unless every value is above zero (a Pixel Spacing of 0\\0
    is no spacing at all; drawn with it the image would have no size)."""
    vals = vec(value, n)
    return vals if vals is not None and all(v > 0 for v in vals) else None


_DIRECTIONS = set("LRAPHF")


def patient_orientation(ds) -> tuple[str, str] | None:
    """(0020,0020) Patient Orientation as (row direction, column direction), or None."""
    value = ds.get("PatientOrientation")
    if value is None or value == "":
        return None
    parts = str(value).split("\\") if isinstance(value, (str, bytes)) else [str(v) for v in value]
    parts = [p.strip().upper() for p in parts]
    if len(parts) != 2 or not all(p and set(p) <= _DIRECTIONS for p in parts):
        return None
    return parts[0], parts[1]


def text(ds, keyword: str) -> str:
    value = ds.get(keyword, "")
    return "" if value is None else str(value).strip()


def window(ds) -> tuple[list[float], list[float], list[str]]:
    centers = floats(ds.get("WindowCenter"))
    widths = floats(ds.get("WindowWidth"))
    if not centers:
        shared = ds.get("SharedFunctionalGroupsSequence")
        try:
            voi = shared[0].FrameVOILUTSequence[0]
            centers, widths = floats(voi.get("WindowCenter")), floats(voi.get("WindowWidth"))
        except (AttributeError, IndexError, TypeError, KeyError):
            pass
    n = min(len(centers), len(widths))
    expl_raw = ds.get("WindowCenterWidthExplanation", [])
    expl = (
        [str(e) for e in expl_raw]
        if isinstance(expl_raw, (list, tuple))
        or hasattr(expl_raw, "__len__")
        and not isinstance(expl_raw, str)
        else [str(expl_raw)]
    )
    return centers[:n], [w for w in widths[:n]], expl[:n]


def voi_lut(ds) -> tuple | None:
    """(first_mapped, bits, table) of the first (0028,3010) VOI LUT Sequence item, if valid."""
    seq = ds.get("VOILUTSequence")
    if not seq:
        return None
    try:
        item = seq[0]
        n_entries, first_mapped, bits = (int(v) for v in item.LUTDescriptor)
        table = np.asarray(item.LUTData, dtype=np.int64).ravel()
        if table.size == 0 or (n_entries and table.size < n_entries):
            return None
        return (first_mapped, bits, table)
    except (AttributeError, IndexError, TypeError, ValueError):
        return None


def functional(ds, frame: int, seq_name: str):
    """Item ``seq_name`` for ``frame`` from the per-frame, else the shared functional groups."""
    for container in ("PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence"):
        groups = ds.get(container)
        if not groups:
            continue
        idx = frame if container.startswith("PerFrame") else 0
        if idx >= len(groups):
            continue
        seq = groups[idx].get(seq_name)
        if seq:
            return seq[0]
    return None


def slices(path, ds, ts, n_frames, pixel_offset, big_endian) -> list[SliceRef]:
    slope = opt_float(ds.get("RescaleSlope"))
    if slope is None:  # RT Dose: stored values x (3004,000E) Dose Grid Scaling are Gy
        slope = opt_float(ds.get("DoseGridScaling"))
    intercept = opt_float(ds.get("RescaleIntercept"))
    base = dict(
        path=path,
        instance_number=opt_int(ds.get("InstanceNumber")),
        transfer_syntax=ts,
        pixel_offset=pixel_offset,
        big_endian=big_endian,
        has_modality_lut="ModalityLUTSequence" in ds,
        sop_instance_uid=text(ds, "SOPInstanceUID"),
        patient_orientation=patient_orientation(ds),
    )
    position = vec(ds.get("ImagePositionPatient"), 3)
    orientation = vec(ds.get("ImageOrientationPatient"), 6)
    spacing = positive_vec(ds.get("PixelSpacing"), 2) or positive_vec(
        ds.get("ImagerPixelSpacing"), 2
    )
    thickness = opt_float(ds.get("SliceThickness"))
    if n_frames == 1 and "PerFrameFunctionalGroupsSequence" not in ds:
        return [
            SliceRef(
                frame=None,
                position=position,
                orientation=orientation,
                pixel_spacing=spacing,
                slice_thickness=thickness,
                slope=slope if slope is not None else 1.0,
                intercept=intercept if intercept is not None else 0.0,
                **base,
            )
        ]

    refs = []
    step = opt_float(ds.get("SpacingBetweenSlices")) or thickness
    # RT Dose: (3004,000C) Grid Frame Offset Vector, each frame's offset along the normal
    offsets = floats(ds.get("GridFrameOffsetVector"))
    offsets = offsets if len(offsets) == n_frames else []
    from medviewer.dicom.geometry import slice_normal

    for k in range(n_frames):
        pos_item = functional(ds, k, "PlanePositionSequence")
        ori_item = functional(ds, k, "PlaneOrientationSequence")
        meas = functional(ds, k, "PixelMeasuresSequence")
        xform = functional(ds, k, "PixelValueTransformationSequence")
        f_pos = vec(pos_item.get("ImagePositionPatient"), 3) if pos_item else None
        f_ori = vec(ori_item.get("ImageOrientationPatient"), 6) if ori_item else orientation
        f_sp = (positive_vec(meas.get("PixelSpacing"), 2) if meas else None) or spacing
        f_th = (opt_float(meas.get("SliceThickness")) if meas else None) or thickness
        if f_pos is None and position is not None and orientation is not None and (step or offsets):
            try:
                normal = slice_normal(orientation)
                along = offsets[k] - offsets[0] if offsets else k * step
                f_pos = tuple(float(p + along * n) for p, n in zip(position, normal))
            except ValueError:
                f_pos = None
        f_slope = opt_float(xform.get("RescaleSlope")) if xform else None
        f_icpt = opt_float(xform.get("RescaleIntercept")) if xform else None
        refs.append(
            SliceRef(
                frame=k,
                position=f_pos,
                orientation=f_ori,
                pixel_spacing=f_sp,
                slice_thickness=f_th,
                slope=f_slope if f_slope is not None else (slope if slope is not None else 1.0),
                intercept=f_icpt
                if f_icpt is not None
                else (intercept if intercept is not None else 0.0),
                **base,
            )
        )
    return refs
