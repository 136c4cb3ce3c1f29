"""Slice geometry: sort along the slice normal, measure spacing, flag what is unusual.

Pure numpy; the same rules apply to single-frame series and to the frames of a multi-frame file.
"""

from __future__ import annotations

import math

import numpy as np

from medviewer.dicom.model import (
    DUPLICATE_POSITION,
    GANTRY_TILT,
    MISSING_POSITION,
    MISSING_SPACING,
    NONUNIFORM_SPACING,
    OBLIQUE,
    Geometry,
    LoadWarning,
    SliceRef,
)

# A direction cosine this close to 1 counts as axis-aligned (about 0.8 degrees).
AXIS_ALIGNED_COS = 0.9999
# Positions closer than this along the normal are the same position (mm).
SAME_POSITION_MM = 1e-3
# Relative and absolute tolerance before spacing counts as non-uniform.
SPACING_REL_TOL = 0.01
SPACING_ABS_TOL_MM = 0.01


def slice_normal(orientation: tuple[float, ...]) -> np.ndarray:
    """Unit normal of an ImageOrientationPatient (row cosines x column cosines)."""
    row = np.asarray(orientation[:3], dtype=float)
    col = np.asarray(orientation[3:6], dtype=float)
    normal = np.cross(row, col)
    norm = np.linalg.norm(normal)
    if norm < 1e-6:
        raise ValueError("row and column direction cosines are parallel")
    return normal / norm


def orientation_label(orientation: tuple[float, ...] | None) -> str:
    """axial, coronal, sagittal, oblique, or unknown (no orientation)."""
    if orientation is None:
        return "unknown"
    try:
        normal = slice_normal(orientation)
    except ValueError:
        return "unknown"
    axis = int(np.argmax(np.abs(normal)))
    if abs(normal[axis]) < AXIS_ALIGNED_COS:
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


def same_orientation(a: tuple[float, ...] | None, b: tuple[float, ...] | None) -> bool:
    if a is None or b is None:
        return a is b
    return bool(np.allclose(a, b, atol=1e-4))


def orientation_key(orientation: tuple[float, ...] | None) -> tuple | None:
    """Hashable, rounding-tolerant key used to split a series by orientation."""
    if orientation is None:
        return None
    return tuple(round(float(v), 3) + 0.0 for v in orientation)


def _fallback_spacing(first: SliceRef) -> tuple[float, float, list[LoadWarning]]:
    warnings: list[LoadWarning] = []
    if first.pixel_spacing is not None:
        row_sp, col_sp = first.pixel_spacing
    else:
        row_sp = col_sp = 1.0
    return row_sp, col_sp, warnings


def assemble_stack(
    slices: list[SliceRef], *, keep_order: bool = False
) -> tuple[list[SliceRef], Geometry, list[LoadWarning]]:
    """Sort ``slices`` along the slice normal and derive the stack geometry.

    Returns the sorted slices (duplicates removed), the geometry and the warnings.
    ``keep_order`` keeps the given order when positions are missing (multi-frame files
    without per-frame positions keep their frame order).
    """
    warnings: list[LoadWarning] = []
    first = slices[0]
    row_sp, col_sp, _ = _fallback_spacing(first)
    if first.pixel_spacing is None and len(slices) >= 1:
        warnings.append(
            LoadWarning(
                MISSING_SPACING,
                "no usable (0028,0030) Pixel Spacing (missing, zero or negative): distances "
                "are in pixels, not millimetres; do not measure on this series",
            )
        )
    orientation = first.orientation
    if orientation is not None:
        try:
            slice_normal(orientation)
        except ValueError:  # degenerate (0020,0037): no usable orientation, not a failed scan
            orientation = None
    have_positions = orientation is not None and all(s.position is not None for s in slices)

    if not have_positions:
        if len(slices) > 1:
            if keep_order:
                ordered = list(slices)
                how = "in the order of its frames"
            else:
                ordered = sorted(
                    slices,
                    key=lambda s: (s.instance_number is None, s.instance_number or 0, s.path),
                )
                how = "by (0020,0013) Instance Number"
            warnings.append(
                LoadWarning(
                    MISSING_POSITION,
                    f"{sum(s.position is None or orientation is None for s in slices)} of "
                    f"{len(slices)} images have no usable "
                    "(0020,0032) Image Position (Patient) or (0020,0037) Image Orientation; "
                    f"sorted {how} instead, slice spacing may be wrong",
                )
            )
        else:
            ordered = list(slices)
        z_sp = _thickness_or_one(first)
        if orientation is not None and ordered[0].position is not None:
            row = tuple(float(v) for v in orientation[:3])
            col = tuple(float(v) for v in orientation[3:6])
            normal = tuple(float(v) for v in slice_normal(orientation))
            origin = tuple(float(v) for v in ordered[0].position)  # the first slice shown
            label = orientation_label(orientation)
        else:
            row, col, normal = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)
            origin = (0.0, 0.0, 0.0)
            label = orientation_label(orientation)
        geometry = Geometry((z_sp, row_sp, col_sp), origin, (row, col, normal), label)
        if label == "oblique":
            warnings.append(_oblique_warning(orientation))
        return ordered, geometry, warnings

    normal = slice_normal(orientation)
    distances = np.array([np.dot(s.position, normal) for s in slices])
    order = np.lexsort(
        (
            np.array([s.instance_number if s.instance_number is not None else 0 for s in slices]),
            distances,
        )
    )
    ordered = [slices[i] for i in order]
    dist_sorted = distances[order]

    keep = [0]
    dropped = copies = 0
    for i in range(1, len(ordered)):
        if abs(dist_sorted[i] - dist_sorted[keep[-1]]) < SAME_POSITION_MM:
            uid = ordered[i].sop_instance_uid
            if uid and uid == ordered[keep[-1]].sop_instance_uid and ordered[i].frame is None:
                copies += 1  # the same image twice (a folder copied into itself, a CD twice)
            else:
                dropped += 1
        else:
            keep.append(i)
    if copies:
        warnings.append(
            LoadWarning(
                DUPLICATE_POSITION,
                f"{copies} file(s) are copies of another image of this series (the same "
                "(0008,0018) SOP Instance UID); each image is shown once",
            )
        )
    if dropped:
        warnings.append(
            LoadWarning(
                DUPLICATE_POSITION,
                f"{dropped} image(s) share a slice position with another image (several echoes, "
                "phases or a repeated acquisition?); kept the one with the lowest "
                "(0020,0013) Instance Number at each position",
            )
        )
    ordered = [ordered[i] for i in keep]
    dist_sorted = dist_sorted[keep]

    if len(ordered) > 1:
        gaps = np.diff(dist_sorted)
        z_sp = float(np.median(gaps))
        tol = max(SPACING_ABS_TOL_MM, SPACING_REL_TOL * z_sp)
        bad = np.nonzero(np.abs(gaps - z_sp) > tol)[0]
        if bad.size:
            examples = ", ".join(f"{gaps[i]:.3g} mm after slice {i + 1}" for i in bad[:3])
            more = f" and {bad.size - 3} more" if bad.size > 3 else ""
            warnings.append(
                LoadWarning(
                    NONUNIFORM_SPACING,
                    f"slices are not equally spaced: usual gap {z_sp:.4g} mm, but {examples}{more}"
                    "; missing slices or a mixed acquisition — distances across the gap "
                    "and reformats (MPR) are distorted",
                )
            )
    else:
        z_sp = _thickness_or_one(first)

    tilt = _shear_degrees(ordered, normal, z_sp)
    if tilt:
        step = abs(z_sp) * math.tan(math.radians(tilt))
        warnings.append(
            LoadWarning(
                GANTRY_TILT,
                f"the slices are sheared: each one lies {step:.2g} mm beside the last in its "
                f"own plane (a gantry tilt of about {tilt:.1f} degrees); reformats (MPR) would "
                "be distorted and are not offered. Positions and distances within a slice are "
                "right",
            )
        )
    label = orientation_label(orientation)
    if label == "oblique":
        warnings.append(_oblique_warning(orientation))
    geometry = Geometry(
        spacing=(z_sp, row_sp, col_sp),
        origin=tuple(float(v) for v in ordered[0].position),
        direction=(
            tuple(float(v) for v in orientation[:3]),
            tuple(float(v) for v in orientation[3:6]),
            tuple(float(v) for v in normal),
        ),
        orientation=label,
        tilt_degrees=tilt,
    )
    return ordered, geometry, warnings


def _shear_degrees(ordered: list[SliceRef], normal, z_sp: float) -> float:
    """The angle (degrees) by which the slice positions step aside from the slice normal,
    when they all step the same way (a gantry tilt); 0.0 for a straight stack."""
    if len(ordered) < 3 or z_sp <= 0:
        return 0.0
    positions = np.array([s.position for s in ordered], dtype=float)
    steps = np.diff(positions, axis=0)
    normal = np.asarray(normal, dtype=float)
    along = steps @ normal
    aside = steps - np.outer(along, normal)
    mean = aside.mean(axis=0)
    shift = float(np.linalg.norm(mean))
    spread = float(np.median(np.linalg.norm(aside - mean, axis=1)))
    if shift < max(0.05, 0.01 * z_sp) or spread > 0.25 * shift:
        return 0.0  # straight, or positions scattered rather than sheared
    return float(np.degrees(np.arctan2(shift, float(np.median(along)))))


def _thickness_or_one(ref: SliceRef) -> float:
    if ref.slice_thickness and ref.slice_thickness > 0:
        return float(ref.slice_thickness)
    return 1.0


def _oblique_warning(orientation: tuple[float, ...] | None) -> LoadWarning:
    values = "\\".join(f"{v:.4g}" for v in (orientation or ()))
    return LoadWarning(
        OBLIQUE,
        f"slices are oblique ((0020,0037) Image Orientation {values}): not aligned with the "
        "patient axes; views are shown in the acquisition plane",
    )


def known_starts(volume) -> np.ndarray | None:
    """(n, 3) Image Position (Patient) of every slice of ``volume``, when all are known and
    the series has an orientation; else None."""
    refs = volume.series.slices
    if len(refs) != volume.array.shape[0] or volume.geometry.orientation == "unknown":
        return None
    if any(r.position is None for r in refs):
        return None
    return np.asarray([r.position for r in refs], dtype=float)


def slice_point(starts: np.ndarray | None, geometry: Geometry, k: float) -> np.ndarray:
    """Patient position of voxel (k, 0, 0): interpolated between the known slice ``starts``
    (:func:`known_starts`), stepping on by the slice spacing beyond the last one; equally
    spaced from the origin when they are not known."""
    sz = geometry.spacing[0]
    normal = geometry.direction_matrix()[:, 2]
    if starts is None:
        return np.asarray(geometry.origin, dtype=float) + normal * (k * sz)
    lo = int(min(max(np.floor(k), 0), len(starts) - 1))
    hi = min(lo + 1, len(starts) - 1)
    if hi == lo:
        return starts[lo] + normal * ((k - lo) * sz)
    return starts[lo] + (starts[hi] - starts[lo]) * (k - lo)
