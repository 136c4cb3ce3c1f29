"""Where the planes of a volume lie in patient space: normal, centres, positions, thickness.

Shared by slice linking, reference lines and thick slabs. A plane of a volume (see
:mod:`medviewer.session.mpr`) is the set of voxels with one index along the index axis closest
to the plane's normal; its ``index`` is that volume index. Along the slice axis ``k`` the
scanner's own Image Position (Patient) of every slice is used when the series has them, so a
series with a gap (missing slices) is placed exactly, not as if its slices were equally spaced.

Everything per (volume, plane) is computed once and cached, so the per-scroll questions
(``nearest``, ``centre``) cost O(1) (O(log n) for a series with irregular spacing).
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np

from medviewer.dicom.model import MISSING_POSITION
from medviewer.dicom.volume import Volume
from medviewer.session import mpr

# Patient axis (0 = x, 1 = y, 2 = z) along each anatomical plane's normal.
_PATIENT_NORMAL = {"sagittal": 0, "coronal": 1, "axial": 2}
# Slack when deciding whether a plane lies inside a range (positions are stored to 1 µm).
POSITION_SLACK_MM = 1e-3


@dataclass(frozen=True, eq=False)
class PlaneGeometry:
    """The planes of one orientation of one volume.

    Attributes
    ----------
    plane : str
        ``axial``, ``coronal`` or ``sagittal`` (``acquired`` resolved).
    array_axis : int
        Axis of ``Volume.array`` (0 = slices k, 1 = rows j, 2 = columns i) along the normal.
    count : int
        Number of planes.
    normal : numpy.ndarray
        Patient-space unit vector towards increasing plane index.
    spacing : float
        Millimetres between neighbouring planes (the median gap when irregular).
    thickness : float
        Millimetres one plane stands for: ``max(SliceThickness, spacing)`` for the acquired
        slices, the voxel spacing for reformatted planes.
    centres : numpy.ndarray
        (count, 3) patient (x, y, z) in mm of the centre of each plane's image.
    positions : numpy.ndarray
        (count,) ``centres @ normal``: increasing with the index.
    uniform : bool
        True when ``positions`` are equally spaced (arithmetic look-ups).
    positioned : bool
        :func:`has_positions` of the volume: False means the positions above are guesses.
    """

    plane: str
    array_axis: int
    count: int
    normal: np.ndarray
    spacing: float
    thickness: float
    centres: np.ndarray
    positions: np.ndarray
    uniform: bool
    positioned: bool

    def nearest(self, position_mm: float) -> tuple[int, float]:
        """Index of the plane nearest to ``position_mm`` (along ``normal``) and its distance."""
        p = self.positions
        if self.uniform or self.count == 1:
            step = self.spacing if self.spacing > 0 else 1.0
            index = int(min(max(round((position_mm - p[0]) / step), 0), self.count - 1))
        else:
            right = int(np.searchsorted(p, position_mm))
            if right <= 0:
                index = 0
            elif right >= self.count:
                index = self.count - 1
            else:
                index = right if p[right] - position_mm < position_mm - p[right - 1] else right - 1
        return index, abs(float(p[index]) - float(position_mm))

    def within(self, index: int, half_width_mm: float) -> range:
        """Indices of the planes whose position is within ``half_width_mm`` of plane ``index``
        (never outside ``0 .. count - 1``)."""
        half = max(float(half_width_mm), 0.0) + POSITION_SLACK_MM
        if self.uniform:
            m = int(math.floor(half / self.spacing)) if self.spacing > 0 else 0
            return range(max(index - m, 0), min(index + m, self.count - 1) + 1)
        centre = float(self.positions[index])
        lo = int(np.searchsorted(self.positions, centre - half, side="left"))
        hi = int(np.searchsorted(self.positions, centre + half, side="right"))
        return range(lo, hi)

    def canonical_sign(self) -> float:
        """+1 when ``normal`` points towards patient Left / Posterior / Superior (the one of
        x, y, z it is closest to), else -1: makes offsets comparable between series."""
        axis = int(np.argmax(np.abs(self.normal)))
        return 1.0 if self.normal[axis] >= 0 else -1.0


def has_positions(volume: Volume) -> bool:
    """True when every slice has a usable Image Position and the series an orientation."""
    series = volume.series
    if volume.geometry.orientation == "unknown":
        return False
    if any(w.code == MISSING_POSITION for w in (*volume.warnings, *series.warnings)):
        return False
    return len(series.slices) == volume.array.shape[0] and all(
        s.position is not None for s in series.slices
    )


def positioned(volume: Volume) -> bool:
    """:func:`has_positions`, cached with the volume's plane geometry (O(1))."""
    return plane_geometry(volume, mpr.ACQUIRED).positioned


def same_frame(a_volume: Volume, b_volume: Volume) -> bool:
    """Both series carry the same non-empty Frame of Reference UID and usable positions."""
    a_uid = a_volume.series.frame_of_reference_uid
    b_uid = b_volume.series.frame_of_reference_uid
    return bool(a_uid) and a_uid == b_uid and positioned(a_volume) and positioned(b_volume)


def _slice_origins(volume: Volume, direction: np.ndarray, known: bool) -> np.ndarray:
    """(n_slices, 3): patient position of voxel (k, 0, 0) of every slice."""
    n = int(volume.array.shape[0])
    if known:
        return np.asarray([s.position for s in volume.series.slices], dtype=float)
    sz = float(volume.geometry.spacing[0])
    origin = np.asarray(volume.geometry.origin, dtype=float)
    return origin + np.arange(n, dtype=float)[:, None] * sz * direction[2]


def _build(volume: Volume, plane: str) -> PlaneGeometry:
    direction = np.asarray(volume.geometry.direction, dtype=float)  # rows: i, j, k axes
    sz, sy, sx = (float(v) for v in volume.geometry.spacing)
    spacing_ijk = (sx, sy, sz)
    nk, nj, ni = (int(v) for v in volume.array.shape[:3])
    index_axis = mpr.axis_assignment(volume)[_PATIENT_NORMAL[plane]]
    known = has_positions(volume)
    origins = _slice_origins(volume, direction, known)
    half_i = (ni - 1) / 2.0 * sx * direction[0]
    half_j = (nj - 1) / 2.0 * sy * direction[1]
    if index_axis == 2:
        centres = origins + half_i + half_j
        thickness = max(float(volume.series.slice_thickness or 0.0), sz)
    else:
        middle = (origins[0] + origins[-1]) / 2.0
        count = ni if index_axis == 0 else nj
        steps = np.arange(count, dtype=float)[:, None] * spacing_ijk[index_axis]
        centres = middle + (half_j if index_axis == 0 else half_i) + steps * direction[index_axis]
        thickness = spacing_ijk[index_axis]
    normal = direction[index_axis] / np.linalg.norm(direction[index_axis])
    positions = centres @ normal
    count = len(positions)
    spacing = spacing_ijk[index_axis]
    if count > 1:
        gaps = np.diff(positions)
        spacing = float(np.median(gaps))
        uniform = bool(np.all(np.abs(gaps - spacing) <= POSITION_SLACK_MM + 1e-4 * spacing))
    else:
        uniform = True
    return PlaneGeometry(
        plane=plane,
        array_axis=2 - index_axis,
        count=count,
        normal=normal,
        spacing=float(spacing) if spacing > 0 else 1.0,
        thickness=float(thickness),
        centres=centres,
        positions=positions,
        uniform=uniform,
        positioned=known,
    )


_CACHE: dict[tuple[int, str], tuple[weakref.ref, object, tuple, PlaneGeometry]] = {}
_CACHE_SIZE = 64


def plane_geometry(volume: Volume, plane: str) -> PlaneGeometry:
    """The :class:`PlaneGeometry` of ``plane`` (``acquired`` allowed) of ``volume`` (cached)."""
    name = mpr.resolve_plane(volume, plane)
    key = (id(volume), name)
    hit = _CACHE.get(key)
    shape = tuple(volume.array.shape[:3])
    if hit is not None:
        ref, geometry, cached_shape, result = hit
        if ref() is volume and geometry is volume.geometry and cached_shape == shape:
            return result
    result = _build(volume, name)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()
    _CACHE[key] = (weakref.ref(volume), volume.geometry, shape, result)
    return result


def plane_normal(volume: Volume, plane: str) -> np.ndarray:
    """Unit vector in patient space towards increasing plane index of ``plane``."""
    return plane_geometry(volume, plane).normal.copy()


def plane_center_mm(volume: Volume, plane: str, index: int) -> np.ndarray:
    """Patient (x, y, z) in mm of the centre of plane ``index``'s image (IndexError outside)."""
    geom = plane_geometry(volume, plane)
    if not 0 <= int(index) < geom.count:
        raise IndexError(f"{geom.plane} plane {index} is outside 0..{geom.count - 1}")
    return geom.centres[int(index)].copy()


__all__ = [
    "POSITION_SLACK_MM",
    "PlaneGeometry",
    "has_positions",
    "plane_center_mm",
    "plane_geometry",
    "plane_normal",
    "positioned",
    "same_frame",
]
