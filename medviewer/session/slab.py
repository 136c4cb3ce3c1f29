"""Thick slabs: MIP, MinIP and average over the planes within N mm, on any plane.

A slab around plane ``index`` holds the planes whose position along the normal lies within
half the slab thickness of that plane's position (the scanner's slice positions for the
acquired plane, so a gap in the series is respected). It is clipped to the series: a slab
never reaches outside it, so near the first and last slice it holds fewer planes (the corner
text says how many). The reduction is one numpy call over a view of the volume: no copy of
the stack, no loop over slices. Colour volumes are shown without a slab (a maximum of RGB
triplets per channel would invent colours).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from medviewer.dicom.volume import Volume
from medviewer.session import mpr
from medviewer.session.plane_geometry import plane_geometry

SLAB_MODES = ("off", "mip", "minip", "average")
_LABELS = {"mip": "MIP", "minip": "MinIP", "average": "Average"}


@dataclass(frozen=True)
class Slab:
    """How a viewport combines planes: ``mode`` (one of :data:`SLAB_MODES`) over
    ``thickness_mm`` millimetres centred on the shown plane. ValueError for bad values."""

    mode: str = "off"
    thickness_mm: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in SLAB_MODES:
            raise ValueError(f"slab mode must be one of {', '.join(SLAB_MODES)}, got {self.mode!r}")
        t = self.thickness_mm
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t < 0:
            raise ValueError(f"slab thickness must be a number of mm >= 0, got {t!r}")

    def active(self) -> bool:
        """True when planes are combined: a mode other than ``off`` and a thickness > 0."""
        return self.mode != "off" and self.thickness_mm > 0

    def label(self) -> str:
        """``"MIP 10 mm"``; ``""`` when not active (see :func:`slab_corner_text`)."""
        if not self.active():
            return ""
        return f"{_LABELS[self.mode]} {self.thickness_mm:.4g} mm"


def slab_indices(volume: Volume, plane: str, index: int, thickness_mm: float) -> range:
    """Plane indices whose positions lie within ``thickness_mm / 2`` of plane ``index``
    (1 µm slack), clipped to the series. A thickness below one spacing gives ``index`` alone.
    IndexError when ``index`` is outside the series."""
    geom = plane_geometry(volume, plane)
    if not 0 <= int(index) < geom.count:
        raise IndexError(f"{geom.plane} plane {index} is outside 0..{geom.count - 1}")
    return geom.within(int(index), float(thickness_mm) / 2.0)


def _reduce(stack: np.ndarray, axis: int, mode: str) -> np.ndarray:
    if mode != "average" and axis == stack.ndim - 1:
        # numpy's max / min over a short innermost axis of a strided view is slow (a sagittal
        # slab of an axial series): gathering the block first halves the time.
        stack = np.ascontiguousarray(stack)
    if mode == "mip":
        return np.max(stack, axis=axis)
    if mode == "minip":
        return np.min(stack, axis=axis)
    return np.mean(stack, axis=axis, dtype=np.float32)


def reformat_slab(volume: Volume, plane: str, index: int, slab: Slab) -> mpr.PlaneImage:
    """Plane ``index`` like :func:`mpr.reformat`, its values reduced over the slab.

    MIP and MinIP keep the volume's dtype; average is float32. An inactive slab, a slab of
    one plane, or a colour volume give :func:`mpr.reformat` itself (a view of the array).
    """
    if not slab.active() or volume.is_color:
        return mpr.reformat(volume, plane, index)
    planes = slab_indices(volume, plane, index, slab.thickness_mm)
    if len(planes) <= 1:
        return mpr.reformat(volume, plane, index)
    geom = plane_geometry(volume, plane)
    axis = geom.array_axis
    cut: list[slice] = [slice(None)] * volume.array.ndim
    cut[axis] = slice(planes.start, planes.stop)
    reduced = _reduce(volume.array[tuple(cut)], axis, slab.mode)
    # One plane of a one-plane stand-in volume with the same geometry: mpr lays it out
    # (transpose, flips, spacing, cosines) exactly as it lays out the real plane.
    flat = Volume(
        array=np.expand_dims(reduced, axis), geometry=volume.geometry, series=volume.series
    )
    image = mpr.reformat(flat, geom.plane, 0)
    return replace(image, index=int(index), count=geom.count)


def slab_corner_text(slab: Slab, n: int) -> str:
    """The corner text of a slab over ``n`` planes, e.g. ``"MIP 10 mm (5 slices)"``; ``""``
    when the slab is off."""
    if not slab.active():
        return ""
    return f"{slab.label()} ({n} slice{'' if n == 1 else 's'})"


__all__ = ["SLAB_MODES", "Slab", "reformat_slab", "slab_corner_text", "slab_indices"]
