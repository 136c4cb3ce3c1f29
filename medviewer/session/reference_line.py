"""The reference line: where the active viewport's plane cuts another viewport's image.

Coordinates are those of the target :class:`~medviewer.session.mpr.PlaneImage`: float
``(row, col)`` where pixel ``(r, c)`` covers ``[r, r + 1) x [c, c + 1)``, so the centre of
pixel ``(r, c)`` is ``(r + 0.5, c + 0.5)``. The line runs from border to border of the image.
"""

from __future__ import annotations

import math

import numpy as np

from medviewer.dicom.volume import Volume
from medviewer.session import mpr
from medviewer.session.plane_geometry import plane_geometry, same_frame

# Planes closer to parallel than this (sine of the angle, about 0.5 degrees) cut nowhere
# useful: no line is drawn.
PARALLEL_SINE = math.sin(math.radians(0.5))
_EPS = 1e-9

Point = tuple[float, float]


def reference_line(
    src_volume: Volume,
    src_plane: str,
    src_index: int,
    dst_volume: Volume,
    dst_plane: str,
    dst_index: int,
) -> tuple[Point, Point] | None:
    """Where plane ``src_index`` of the source cuts plane ``dst_index`` of the target image,
    as two ``(row, col)`` points on the image border (left to right, then top to bottom).

    None when the planes are (nearly) parallel, when the line misses the image, or when the
    two series' patient positions are not comparable (neither the same volume nor the same
    Frame of Reference with positions: a prior in another frame gets no line).
    """
    if src_volume is not dst_volume and not same_frame(src_volume, dst_volume):
        return None
    src = plane_geometry(src_volume, src_plane)
    dst = plane_geometry(dst_volume, dst_plane)
    if not (0 <= src_index < src.count and 0 <= dst_index < dst.count):
        return None
    image = mpr.reformat(dst_volume, dst_plane, dst_index)
    rows, cols = image.shape
    normal = src.normal
    along_col = float(np.dot(image.row_cos, normal))  # per mm to the right
    along_row = float(np.dot(image.col_cos, normal))  # per mm downwards
    if math.hypot(along_col, along_row) < PARALLEL_SINE:
        return None
    # Signed distance to the source plane of image point (y = row, x = col):
    # a * x + b * y + c, with the image centre (rows / 2, cols / 2) at dst.centres[dst_index].
    a = along_col * image.col_spacing
    b = along_row * image.row_spacing
    c = float(np.dot(dst.centres[dst_index] - src.centres[src_index], normal))
    c -= a * cols / 2.0 + b * rows / 2.0
    return _clip(a, b, c, rows, cols)


def _clip(a: float, b: float, c: float, rows: int, cols: int) -> tuple[Point, Point] | None:
    """The two points where ``a x + b y + c = 0`` crosses the border of [0, cols] x [0, rows]."""
    found: list[Point] = []
    tol = 1e-7 * max(rows, cols, 1)
    if abs(b) > _EPS:
        for x in (0.0, float(cols)):
            y = -(a * x + c) / b
            if -tol <= y <= rows + tol:
                found.append((min(max(y, 0.0), float(rows)), x))
    if abs(a) > _EPS:
        for y in (0.0, float(rows)):
            x = -(b * y + c) / a
            if -tol <= x <= cols + tol:
                found.append((y, min(max(x, 0.0), float(cols))))
    unique: list[Point] = []
    for p in found:
        if all(math.dist(p, q) > tol for q in unique):
            unique.append(p)
    if len(unique) < 2:
        return None
    first, second = max(
        ((p, q) for i, p in enumerate(unique) for q in unique[i + 1 :]),
        key=lambda pq: math.dist(*pq),
    )
    ordered = sorted((first, second), key=lambda p: (p[1], p[0]))
    return (ordered[0], ordered[1])


__all__ = ["PARALLEL_SINE", "reference_line"]
