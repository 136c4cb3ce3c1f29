"""Measurements on a plane image: ruler, angle, rectangle and ellipse ROIs, pixel probe.

Pixel coordinate convention
---------------------------
Points are ``(row, col)`` floats in the pixel grid of the plane image (``PlaneImage.values``):
pixel ``(r, c)`` covers ``[r, r + 1) x [c, c + 1)``, so its centre is ``(r + 0.5, c + 0.5)``
and the whole image spans ``[0, rows] x [0, cols]``. Row 0 is at the top. The Qt layer places
its image item so that pixel (r, c) covers ``[c, c + 1) x [r, r + 1)`` in item coordinates
(x = column, y = row) and converts item points with ``(row, col) = (y, x)``.

A pixel belongs to a rectangle or ellipse ROI when its centre lies inside (boundary
included). Distances and areas use the plane's ``row_spacing`` / ``col_spacing`` (mm).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from medviewer.dicom.model import MISSING_SPACING
from medviewer.session.overlay import format_value


def calibrated(volume) -> bool:
    """False when ``volume``'s images carry no (0028,0030) Pixel Spacing: its distances are
    pixels, so lengths, areas and scale bars must not claim millimetres."""
    if volume is None:
        return False
    return not any(w.code == MISSING_SPACING for w in (*volume.warnings, *volume.series.warnings))


Point = tuple[float, float]
KINDS = ("ruler", "angle", "rect", "ellipse", "probe")
N_POINTS = {"ruler": 2, "angle": 3, "rect": 2, "ellipse": 2, "probe": 1}


@dataclass(frozen=True)
class Measurement:
    """One measurement drawn on a plane.

    Attributes
    ----------
    id : int
        Unique within its :class:`MeasurementStore`.
    kind : str
        ``ruler``, ``angle``, ``rect``, ``ellipse`` or ``probe``.
    points : tuple of (row, col)
        Ruler: the two end points; angle: the end of one arm, the vertex, the end of the
        other arm; rect / ellipse: two opposite corners of the bounding box; probe: one
        point. Pixel coordinates, see the module docstring.
    label : str
        Free text.
    """

    id: int
    kind: str
    points: tuple[Point, ...]
    label: str = ""


@dataclass(frozen=True)
class RoiStats:
    """Statistics of the pixels inside an ROI (NaN when it holds none)."""

    mean: float
    sd: float
    min: float
    max: float
    area_mm2: float
    n_pixels: int
    units: str = ""


def ruler_length_mm(p0: Point, p1: Point, row_spacing: float, col_spacing: float) -> float:
    """Distance in mm between two (row, col) points on a grid with the given spacings."""
    dr = (float(p1[0]) - float(p0[0])) * float(row_spacing)
    dc = (float(p1[1]) - float(p0[1])) * float(col_spacing)
    return math.hypot(dr, dc)


def angle_deg(a: Point, vertex: Point, b: Point, row_spacing: float, col_spacing: float) -> float:
    """The angle at ``vertex`` between the arms to ``a`` and ``b``, in degrees (0-180),
    measured in millimetres, so unequal row and column spacings do not distort it; NaN when
    an arm has no length."""
    u = ((a[0] - vertex[0]) * row_spacing, (a[1] - vertex[1]) * col_spacing)
    v = ((b[0] - vertex[0]) * row_spacing, (b[1] - vertex[1]) * col_spacing)
    if math.hypot(*u) == 0 or math.hypot(*v) == 0:
        return float("nan")
    cross = u[0] * v[1] - u[1] * v[0]
    dot = u[0] * v[0] + u[1] * v[1]
    return abs(math.degrees(math.atan2(cross, dot)))


def _grey(values2d: np.ndarray) -> np.ndarray:
    arr = np.asarray(values2d)
    if arr.ndim == 3:  # colour: statistics of the channel mean
        return arr.mean(axis=2)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D image (rows, cols[, channels]), got shape {arr.shape}")
    return arr


def roi_mask(
    shape: tuple[int, int], kind: str, p0: Point, p1: Point
) -> tuple[tuple[slice, slice], np.ndarray]:
    """``(window, mask)``: the pixels of ``shape`` whose centres lie inside the ROI.

    ``window`` is the (row, col) slice pair of the ROI's bounding box clipped to the image,
    ``mask`` a boolean array of that window's shape.
    """
    if kind not in ("rect", "ellipse"):
        raise ValueError(f"ROI kind must be 'rect' or 'ellipse', not {kind!r}")
    rows, cols = int(shape[0]), int(shape[1])
    r0, r1 = sorted((float(p0[0]), float(p1[0])))
    c0, c1 = sorted((float(p0[1]), float(p1[1])))
    if not all(math.isfinite(v) for v in (r0, r1, c0, c1)):
        return (slice(0, 0), slice(0, 0)), np.zeros((0, 0), dtype=bool)
    # Pixels whose centre r + 0.5 can be within [r0, r1]: ceil(r0 - 0.5) .. floor(r1 - 0.5).
    ra, rb = max(math.ceil(r0 - 0.5), 0), min(math.floor(r1 - 0.5), rows - 1)
    ca, cb = max(math.ceil(c0 - 0.5), 0), min(math.floor(c1 - 0.5), cols - 1)
    if ra > rb or ca > cb:
        return (slice(0, 0), slice(0, 0)), np.zeros((0, 0), dtype=bool)
    window = (slice(ra, rb + 1), slice(ca, cb + 1))
    if kind == "rect":
        return window, np.ones((rb - ra + 1, cb - ca + 1), dtype=bool)
    half_r, half_c = (r1 - r0) / 2.0, (c1 - c0) / 2.0
    if half_r <= 0 or half_c <= 0:
        return window, np.zeros((rb - ra + 1, cb - ca + 1), dtype=bool)
    rc = (np.arange(ra, rb + 1) + 0.5 - (r0 + half_r)) / half_r
    cc = (np.arange(ca, cb + 1) + 0.5 - (c0 + half_c)) / half_c
    return window, (rc[:, None] ** 2 + cc[None, :] ** 2) <= 1.0


def roi_stats(
    values2d: np.ndarray,
    kind: str,
    p0: Point,
    p1: Point,
    row_spacing: float,
    col_spacing: float,
    units: str = "",
) -> RoiStats:
    """Mean, population SD (ddof=0), min, max and area of a rectangle or ellipse ROI.

    ``p0`` and ``p1`` are opposite corners of the bounding box. A ROI with no pixel centre
    inside gives ``n_pixels == 0`` and NaN statistics. Colour images use the channel mean.
    """
    grey = _grey(values2d)
    window, mask = roi_mask(grey.shape, kind, p0, p1)
    inside = grey[window][mask]
    n = int(inside.size)
    area = n * float(row_spacing) * float(col_spacing)
    if n == 0:
        nan = float("nan")
        return RoiStats(nan, nan, nan, nan, 0.0, 0, units)
    data = inside.astype(np.float64, copy=False)
    return RoiStats(
        mean=float(data.mean()),
        sd=float(data.std(ddof=0)),
        min=float(data.min()),
        max=float(data.max()),
        area_mm2=area,
        n_pixels=n,
        units=units,
    )


def probe(values2d: np.ndarray, row: float, col: float) -> float | None:
    """Value of the pixel containing point ``(row, col)``; None outside the image.

    Colour images give the channel mean.
    """
    grey = _grey(values2d)
    r, c = float(row), float(col)
    if not (math.isfinite(r) and math.isfinite(c)):
        return None
    ri, ci = math.floor(r), math.floor(c)
    if not (0 <= ri < grey.shape[0] and 0 <= ci < grey.shape[1]):
        return None
    return float(grey[ri, ci])


def _check_points(kind: str, points: Sequence[Sequence[float]]) -> tuple[Point, ...]:
    if kind not in N_POINTS:
        raise ValueError(f"unknown measurement kind {kind!r}: use one of {', '.join(KINDS)}")
    pts = tuple((float(p[0]), float(p[1])) for p in points)
    if len(pts) != N_POINTS[kind]:
        raise ValueError(f"a {kind} needs {N_POINTS[kind]} point(s), got {len(pts)}")
    return pts


def _units(text: str, units: str) -> str:
    return f"{text} {units}" if units else text


class MeasurementStore:
    """Measurements per view key ``(series_key, plane, slice_index)``; ids unique in the store."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[tuple, Measurement]] = {}
        self._next_id = 1

    def add(
        self, key: tuple, kind: str, points: Sequence[Sequence[float]], label: str = ""
    ) -> Measurement:
        """Store a new measurement on ``key`` and return it (with its new id)."""
        m = Measurement(self._next_id, kind, _check_points(kind, points), label)
        self._next_id += 1
        self._by_id[m.id] = (tuple(key), m)
        return m

    def _entry(self, id: int) -> tuple[tuple, Measurement]:
        try:
            return self._by_id[id]
        except KeyError:
            known = ", ".join(str(i) for i in sorted(self._by_id)) or "none"
            raise KeyError(f"no measurement with id {id!r} (ids in the store: {known})") from None

    def update(self, id: int, points: Sequence[Sequence[float]]) -> Measurement:
        """Move measurement ``id`` to new ``points``; returns the updated measurement."""
        key, m = self._entry(id)
        new = replace(m, points=_check_points(m.kind, points))
        self._by_id[id] = (key, new)
        return new

    def relabel(self, id: int, label: str) -> Measurement:
        """Change the label of measurement ``id``."""
        key, m = self._entry(id)
        new = replace(m, label=label)
        self._by_id[id] = (key, new)
        return new

    def remove(self, id: int) -> Measurement:
        """Delete measurement ``id`` and return it."""
        _, m = self._entry(id)
        del self._by_id[id]
        return m

    def clear(self, key: tuple | None = None) -> int:
        """Delete every measurement (or those on ``key``); returns how many went."""
        if key is None:
            n = len(self._by_id)
            self._by_id.clear()
            return n
        key = tuple(key)
        gone = [i for i, (k, _) in self._by_id.items() if k == key]
        for i in gone:
            del self._by_id[i]
        return len(gone)

    def on(self, key: tuple) -> list[Measurement]:
        """Measurements on ``key``, oldest first."""
        key = tuple(key)
        return [m for i, (k, m) in sorted(self._by_id.items()) if k == key]

    def find(self, id: int) -> Measurement:
        """Measurement ``id`` (KeyError when unknown)."""
        return self._entry(id)[1]

    def key_of(self, id: int) -> tuple:
        """The view key measurement ``id`` lives on."""
        return self._entry(id)[0]

    def __len__(self) -> int:
        return len(self._by_id)

    @staticmethod
    def describe(
        m: Measurement,
        values2d: np.ndarray,
        row_spacing: float,
        col_spacing: float,
        units: str,
        calibrated: bool = True,
    ) -> str:
        """The text a viewer shows beside ``m``.

        ``"12.3 mm"``; ``"mean 35.2 HU, SD 4.1, min 20, max 51, area 123.4 mm²"``;
        ``"40 HU"``. With ``calibrated=False`` (no Pixel Spacing) lengths are in px.
        """
        length_unit, area_unit = ("mm", "mm²") if calibrated else ("px", "px²")
        if m.kind == "ruler":
            p0, p1 = m.points
            if not calibrated:
                row_spacing = col_spacing = 1.0
            return f"{ruler_length_mm(p0, p1, row_spacing, col_spacing):.1f} {length_unit}"
        if m.kind == "angle":
            if not calibrated:  # the pixel grid: right when pixels are square, as most are
                row_spacing = col_spacing = 1.0
            degrees = angle_deg(*m.points, row_spacing, col_spacing)
            return "arm of no length" if math.isnan(degrees) else f"{degrees:.1f}°"
        if m.kind in ("rect", "ellipse"):
            if not calibrated:
                row_spacing = col_spacing = 1.0
            s = roi_stats(values2d, m.kind, m.points[0], m.points[1], row_spacing, col_spacing)
            if s.n_pixels == 0:
                return f"no pixel inside, area 0.0 {area_unit}"
            return (
                f"mean {_units(f'{s.mean:.1f}', units)}, SD {s.sd:.1f}, "
                f"min {format_value(s.min)}, max {format_value(s.max)}, "
                f"area {s.area_mm2:.1f} {area_unit}"
            )
        if m.kind == "probe":
            (point,) = m.points
            arr = np.asarray(values2d)
            if arr.ndim == 3 and probe(arr, *point) is not None:
                r, c = math.floor(point[0]), math.floor(point[1])
                return " ".join(f"{n} {format_value(v)}" for n, v in zip("RGB", arr[r, c]))
            value = probe(arr, *point)
            if value is None:
                return "outside the image"
            return _units(format_value(value), units)
        raise ValueError(f"unknown measurement kind {m.kind!r}")


__all__ = [
    "KINDS",
    "angle_deg",
    "Measurement",
    "MeasurementStore",
    "RoiStats",
    "probe",
    "roi_mask",
    "roi_stats",
    "ruler_length_mm",
]
