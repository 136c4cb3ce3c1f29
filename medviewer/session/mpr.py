"""Multiplanar reformat (MPR) by re-indexing the volume: no resampling, no interpolation.

A :class:`~medviewer.dicom.volume.Volume` holds voxels as ``array[k, j, i]`` with
``geometry.direction = (i axis, j axis, k axis)`` as unit vectors in patient space (DICOM LPS:
+x patient Left, +y Posterior, +z Superior). Each anatomical plane is the set of voxels with
a fixed index along the index axis closest to that plane's normal:

* ``axial``: normal z; anterior at the top, patient right on the screen's left;
* ``coronal``: normal y; superior at the top, patient right on the screen's left;
* ``sagittal``: normal x; superior at the top, anterior on the screen's left.

The in-plane axes are transposed and flipped (numpy views, never copies) so that every plane
is shown the way radiology viewers show it. Pixels need not be square: the display applies
``row_spacing`` / ``col_spacing``. The plane index is the volume index along the normal axis,
never flipped: for the acquired plane ``index`` is the slice index ``k``.

Screen coordinates used here are integer pixel indices ``(row, col)`` of
:attr:`PlaneImage.values`: row 0 at the top, column 0 at the left.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations
from typing import Literal

import numpy as np

from medviewer.dicom.volume import Volume

Plane = Literal["axial", "coronal", "sagittal"]
PLANES: tuple[str, ...] = ("axial", "coronal", "sagittal")
ACQUIRED = "acquired"

# Patient axis (0 = x, 1 = y, 2 = z) that is each plane's normal, and the patient direction
# (axis, sign) along which the screen column (left -> right) and row (top -> bottom) increase.
_NORMAL_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}
_SCREEN_AXES = {
    # plane: ((patient axis, sign) of increasing column, (patient axis, sign) of increasing row)
    "axial": ((0, +1), (1, +1)),  # columns towards patient Left, rows towards Posterior
    "coronal": ((0, +1), (2, -1)),  # columns towards patient Left, rows towards Inferior
    "sagittal": ((1, +1), (2, -1)),  # columns towards Posterior, rows towards Inferior
}
# Index axis (0 = i, 1 = j, 2 = k) -> axis of ``Volume.array`` (which is ordered k, j, i).
_ARRAY_AXIS = (2, 1, 0)


@dataclass(frozen=True)
class PlaneImage:
    """One reformatted plane, ready to draw.

    Attributes
    ----------
    values : numpy.ndarray
        (rows, cols) or (rows, cols, 3) for colour; a view of ``Volume.array`` where possible.
    row_spacing, col_spacing : float
        Millimetres between screen rows and between screen columns.
    row_cos, col_cos : tuple of float
        Patient (LPS) unit vectors along which the column index (left to right) and the row
        index (top to bottom) increase; pass them to ``overlay.orientation_labels``.
    index, count : int
        Position along the plane normal (volume index) and the number of positions.
    plane : str
        ``axial``, ``coronal`` or ``sagittal``.
    """

    values: np.ndarray
    row_spacing: float
    col_spacing: float
    row_cos: tuple[float, float, float]
    col_cos: tuple[float, float, float]
    index: int
    count: int
    plane: str

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) on screen."""
        return (int(self.values.shape[0]), int(self.values.shape[1]))

    @property
    def normal(self) -> tuple[float, float, float]:
        """Unit vector ``row_cos x col_cos``: towards increasing patient x, y or z."""
        n = np.cross(self.row_cos, self.col_cos)
        return tuple(float(v) for v in n)


@dataclass(frozen=True)
class _Layout:
    """How a plane is cut from the array: which index axes, which flips."""

    normal_axis: int  # index axis (0 = i, 1 = j, 2 = k) along the plane normal
    col_axis: int  # index axis shown left -> right
    col_flip: bool
    row_axis: int  # index axis shown top -> bottom
    row_flip: bool


def axis_assignment(volume: Volume) -> tuple[int, int, int]:
    """Index axis (0 = i, 1 = j, 2 = k) closest to patient x, y and z, one each.

    The permutation maximising the summed absolute cosines is chosen, so two patient axes
    never share an index axis even for 45-degree obliques.
    """
    d = np.abs(np.asarray(volume.geometry.direction, dtype=float))  # d[index axis, patient]
    best = max(permutations(range(3)), key=lambda p: sum(d[p[a], a] for a in range(3)))
    return tuple(int(v) for v in best)


def resolve_plane(volume: Volume, plane: str) -> str:
    """``plane`` itself, or the acquired plane for ``"acquired"``; ValueError otherwise."""
    if plane == ACQUIRED:
        return acquired_plane(volume)
    if plane not in PLANES:
        raise ValueError(f"unknown plane {plane!r}: use one of {', '.join(PLANES)} or 'acquired'")
    return plane


def reformat_problem(volume: Volume) -> str | None:
    """Why ``volume`` cannot be reformatted into other planes (None: it can)."""
    if volume.geometry.orientation == "unknown":
        return (
            "other planes (MPR) need each image's (0020,0032) Image Position and (0020,0037) "
            "Image Orientation; this series has none (a projection image, a cine or a "
            "secondary capture), so it is shown as acquired"
        )
    if volume.array.shape[0] < 2:
        return "other planes (MPR) need more than one slice; this series has one image"
    tilt = volume.geometry.tilt_degrees
    if abs(tilt) >= 0.5:
        return (
            f"its slices are sheared by a gantry tilt of about {abs(tilt):.1f} degrees, so "
            "reformats would be distorted; it is shown as acquired"
        )
    return None


def acquired_plane(volume: Volume) -> str:
    """The anatomical plane whose normal is the slice (k) axis: the plane of the images."""
    assignment = axis_assignment(volume)
    return next(p for p in PLANES if assignment[_NORMAL_AXIS[p]] == 2)


def _layout(volume: Volume, plane: str) -> _Layout:
    plane = resolve_plane(volume, plane)
    assignment = axis_assignment(volume)
    direction = np.asarray(volume.geometry.direction, dtype=float)
    (c_patient, c_sign), (r_patient, r_sign) = _SCREEN_AXES[plane]
    col_axis, row_axis = assignment[c_patient], assignment[r_patient]
    return _Layout(
        normal_axis=assignment[_NORMAL_AXIS[plane]],
        col_axis=col_axis,
        col_flip=bool(direction[col_axis, c_patient] * c_sign < 0),
        row_axis=row_axis,
        row_flip=bool(direction[row_axis, r_patient] * r_sign < 0),
    )


def plane_count(volume: Volume, plane: str) -> int:
    """Number of positions along the normal of ``plane`` (``"acquired"`` allowed)."""
    layout = _layout(volume, plane)
    return int(volume.array.shape[_ARRAY_AXIS[layout.normal_axis]])


def reformat(volume: Volume, plane: str, index: int) -> PlaneImage:
    """The ``index``-th ``plane`` of ``volume`` (views of the array; IndexError when out of range).

    For a standard axial series (ImageOrientationPatient 1\\0\\0\\0\\1\\0) the axial plane is
    ``volume.array[index]`` itself.
    """
    name = resolve_plane(volume, plane)
    layout = _layout(volume, name)
    arr = volume.array
    n_axis = _ARRAY_AXIS[layout.normal_axis]
    count = int(arr.shape[n_axis])
    index = int(index)
    if not 0 <= index < count:
        raise IndexError(f"{name} plane {index} is outside 0..{count - 1}")
    cut: list = [slice(None)] * arr.ndim
    cut[n_axis] = index
    values = arr[tuple(cut)]
    # The remaining spatial axes keep their relative order; find them after the cut.
    remaining = [a for a in range(3) if a != n_axis]
    r_pos = remaining.index(_ARRAY_AXIS[layout.row_axis])
    c_pos = remaining.index(_ARRAY_AXIS[layout.col_axis])
    order = (r_pos, c_pos, *range(2, values.ndim))
    if order[:2] != (0, 1):
        values = values.transpose(order)
    flip = (
        slice(None, None, -1) if layout.row_flip else slice(None),
        slice(None, None, -1) if layout.col_flip else slice(None),
    )
    if layout.row_flip or layout.col_flip:
        values = values[flip]
    direction = np.asarray(volume.geometry.direction, dtype=float)
    col_cos = direction[layout.row_axis] * (-1.0 if layout.row_flip else 1.0)
    row_cos = direction[layout.col_axis] * (-1.0 if layout.col_flip else 1.0)
    spacing_by_index_axis = _index_spacing(volume)
    return PlaneImage(
        values=values,
        row_spacing=spacing_by_index_axis[layout.row_axis],
        col_spacing=spacing_by_index_axis[layout.col_axis],
        row_cos=tuple(float(v) + 0.0 for v in row_cos),
        col_cos=tuple(float(v) + 0.0 for v in col_cos),
        index=index,
        count=count,
        plane=name,
    )


def _index_spacing(volume: Volume) -> tuple[float, float, float]:
    """Millimetres between voxels along i, j, k."""
    sz, sy, sx = volume.geometry.spacing
    return (float(sx), float(sy), float(sz))


def slice_spacing(volume: Volume, plane: str) -> float:
    """Millimetres between neighbouring positions of ``plane``."""
    return _index_spacing(volume)[_layout(volume, plane).normal_axis]


def to_index(
    volume: Volume, plane: str, plane_index: int, row: int, col: int
) -> tuple[int, int, int]:
    """Volume index ``(k, j, i)`` of on-screen pixel ``(row, col)`` of a plane.

    ``row`` and ``col`` are clamped into the image, so a click just outside the edge still
    lands on the nearest voxel. From item coordinates where pixel (r, c) covers [r, r+1) x
    [c, c+1), pass ``floor(y)``, ``floor(x)``.
    """
    layout = _layout(volume, plane)
    shape_kji = volume.array.shape[:3]
    n = [0, 0, 0]  # by index axis i, j, k

    def size(index_axis: int) -> int:
        return int(shape_kji[_ARRAY_AXIS[index_axis]])

    def clamp(v: int, index_axis: int) -> int:
        return int(min(max(int(v), 0), size(index_axis) - 1))

    r = clamp(row, layout.row_axis)
    c = clamp(col, layout.col_axis)
    n[layout.normal_axis] = clamp(plane_index, layout.normal_axis)
    n[layout.row_axis] = size(layout.row_axis) - 1 - r if layout.row_flip else r
    n[layout.col_axis] = size(layout.col_axis) - 1 - c if layout.col_flip else c
    i, j, k = n
    return (k, j, i)


def from_index(volume: Volume, plane: str, kji: tuple[int, int, int]) -> tuple[int, int, int]:
    """``(plane_index, row, col)`` where volume voxel ``(k, j, i)`` appears on ``plane``."""
    layout = _layout(volume, plane)
    k, j, i = (int(v) for v in kji)
    by_axis = (i, j, k)
    shape_kji = volume.array.shape[:3]

    def size(index_axis: int) -> int:
        return int(shape_kji[_ARRAY_AXIS[index_axis]])

    r = by_axis[layout.row_axis]
    c = by_axis[layout.col_axis]
    if layout.row_flip:
        r = size(layout.row_axis) - 1 - r
    if layout.col_flip:
        c = size(layout.col_axis) - 1 - c
    return (by_axis[layout.normal_axis], r, c)


@dataclass
class Crosshair:
    """A point in the volume shared by linked views (``kji`` = slice, row, column indices)."""

    volume: Volume
    kji: tuple[int, int, int] = (0, 0, 0)

    @classmethod
    def centred(cls, volume: Volume) -> Crosshair:
        """A crosshair at the centre voxel of ``volume``."""
        k, j, i = (int(n) // 2 for n in volume.array.shape[:3])
        return cls(volume, (k, j, i))

    def set_from_plane(self, plane: str, plane_index: int, row: int, col: int) -> None:
        """Move to on-screen pixel ``(row, col)`` of ``plane`` number ``plane_index``."""
        self.kji = to_index(self.volume, plane, plane_index, row, col)

    def on_plane(self, plane: str) -> tuple[int, int, int]:
        """``(plane_index, row, col)`` of the crosshair on ``plane``."""
        return from_index(self.volume, plane, self.kji)

    def patient_mm(self) -> tuple[float, float, float]:
        """Patient (x, y, z) in millimetres (LPS) of the crosshair voxel centre."""
        k, j, i = self.kji
        return tuple(float(v) for v in self.volume.index_to_patient(k, j, i))

    to_index = staticmethod(to_index)
    from_index = staticmethod(from_index)


def plane_position_mm(volume: Volume, image: PlaneImage) -> float:
    """Position of ``image`` along its normal (``row_cos x col_cos``), in patient mm.

    For an axial plane this is patient z, for coronal y, for sagittal -x (the DICOM sagittal
    normal 0\\1\\0\\0\\0\\-1 points to the patient's right), matching what the scanner's
    slice positions give for the acquired plane.
    """
    layout = _layout(volume, image.plane)
    kji = [0, 0, 0]
    kji[2 - layout.normal_axis] = image.index
    origin = volume.index_to_patient(*kji)
    return float(np.dot(origin, image.normal))


__all__ = [
    "ACQUIRED",
    "PLANES",
    "Crosshair",
    "Plane",
    "PlaneImage",
    "acquired_plane",
    "axis_assignment",
    "from_index",
    "plane_count",
    "plane_position_mm",
    "reformat",
    "resolve_plane",
    "slice_spacing",
    "to_index",
]
