"""Linked scrolling between viewports: which slice of another series matches the active one.

Series that share a Frame of Reference are linked by patient position: the centre of the
active plane is projected on the other plane's normal and the nearest plane there is shown,
or none when no plane lies within half a slice thickness (never a wrong slice). Series in
different frames (a prior) are linked the same way plus a manual offset that the user sets
once by aligning two slices (:func:`offset_for`); offsets are remembered per series pair
(:func:`store_offset`, :func:`offset_between`). Series without positions or orientation are
linked by slice index, with a notice. Two series of different patients are never linked.

Offsets are millimetres along the target plane's normal, signed towards the patient axis
(Left, Posterior or Superior) that normal is closest to: for axial planes, towards the head.
So the offset for the reverse direction of a pair is the negated one.

Where the active plane cuts the other viewports' planes (the reference line) lives in
:mod:`medviewer.session.reference_line`; it is re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass

from medviewer.dicom.model import SeriesInfo, StudyInfo
from medviewer.dicom.volume import Volume
from medviewer.session.plane_geometry import (
    PlaneGeometry,
    plane_center_mm,
    plane_geometry,
    plane_normal,
    positioned,
    same_frame,
)
from medviewer.session.priors import different_patients
from medviewer.session.reference_line import reference_line

LinkSide = tuple[StudyInfo | None, SeriesInfo]
"""A series and the study it belongs to (None when unknown), as :func:`link_refusal` takes."""


@dataclass(frozen=True)
class LinkTarget:
    """Where a linked viewport should go.

    Attributes
    ----------
    index : int or None
        Plane index to show; None: no plane of that series lies there (show "no slice" and
        the notice), or, with ``moves`` False, stay where it is.
    distance_mm : float or None
        Distance between the shown plane and the linked position (None: linked by index).
    notice : str
        Plain words for the viewport when something is not exact ("" when all is well).
    moves : bool
        False when the viewport should not follow at all (different frames of reference and
        no offset set yet): keep its slice and show the notice.
    """

    index: int | None
    distance_mm: float | None
    notice: str = ""
    moves: bool = True


def _name(volume: Volume) -> str:
    series = volume.series
    return series.description or f"series {series.series_number or series.key}"


def _clamp(index: int, count: int) -> int:
    return int(min(max(int(index), 0), count - 1))


def _by_index(src: PlaneGeometry, src_index: int, dst: PlaneGeometry, why: str) -> LinkTarget:
    if src.count == dst.count:
        index = src_index
    else:
        fraction = src_index / (src.count - 1) if src.count > 1 else 0.5
        index = _clamp(round(fraction * (dst.count - 1)), dst.count)
    return LinkTarget(index, None, f"linked by slice index: {why}")


def linked_index(
    src_volume: Volume,
    src_plane: str,
    src_index: int,
    dst_volume: Volume,
    dst_plane: str,
    offset_mm: float = 0.0,
) -> LinkTarget:
    """The ``dst_plane`` index of ``dst_volume`` nearest to plane ``src_index`` of the source.

    The centre of the source plane is projected on the target normal and moved by
    ``offset_mm`` (see the module notes for its sign). When the nearest target plane is farther
    than half of the thicker of the two planes (slice thickness or spacing), the index is None
    and the notice says how far the nearest one is. When either series has no positions or
    orientation, the planes are linked by index (proportionally when the counts differ).
    ``src_index`` is clamped into the source series. Geometry per plane is cached: O(1).
    """
    src = plane_geometry(src_volume, src_plane)
    dst = plane_geometry(dst_volume, dst_plane)
    src_index = _clamp(src_index, src.count)
    missing = list(
        dict.fromkeys(
            _name(v) for v, g in ((src_volume, src), (dst_volume, dst)) if not g.positioned
        )
    )
    if missing:
        verb = "has" if len(missing) == 1 else "have"
        why = f"{' and '.join(missing)} {verb} no slice positions or orientation"
        return _by_index(src, src_index, dst, why)
    point = src.centres[src_index]
    target = float(point @ dst.normal) + float(offset_mm) * dst.canonical_sign()
    index, distance = dst.nearest(target)
    tolerance = 0.5 * max(src.thickness, dst.thickness)
    if distance > tolerance + 1e-6:
        return LinkTarget(
            None, distance, f"no slice within half a slice thickness ({distance:.1f} mm away)"
        )
    return LinkTarget(index, distance)


def offset_for(
    src_volume: Volume,
    src_plane: str,
    src_index: int,
    dst_volume: Volume,
    dst_plane: str,
    dst_index: int,
) -> float:
    """The offset (mm, see the module notes) that makes :func:`linked_index` of ``src_index``
    land exactly on ``dst_index``: what the user sets by aligning two slices."""
    src = plane_geometry(src_volume, src_plane)
    dst = plane_geometry(dst_volume, dst_plane)
    point = src.centres[_clamp(src_index, src.count)]
    wanted = float(dst.positions[_clamp(dst_index, dst.count)])
    return (wanted - float(point @ dst.normal)) * dst.canonical_sign()


def follow(
    src_volume: Volume,
    src_plane: str,
    src_index: int,
    dst_volume: Volume,
    dst_plane: str,
    offset_mm: float | None = None,
) -> LinkTarget:
    """Where a linked viewport goes when the active one shows ``src_index``: the policy.

    ``offset_mm`` is the remembered offset of the pair (:func:`offset_between`), or None.
    Same series or frame of reference: by position (plus the offset if the user set one).
    Different frames: by position plus the offset; without one the viewport does not move
    (``moves`` False) and the notice asks for the slices to be aligned. No positions: by index.
    """
    known = positioned(src_volume) and positioned(dst_volume)
    if (
        known
        and offset_mm is None
        and not (src_volume is dst_volume or same_frame(src_volume, dst_volume))
    ):
        return LinkTarget(
            None,
            None,
            f"not linked: {_name(dst_volume)} has another frame of reference; align the two "
            "slices and set the link offset",
            moves=False,
        )
    return linked_index(src_volume, src_plane, src_index, dst_volume, dst_plane, offset_mm or 0.0)


def link_refusal(a: LinkSide, b: LinkSide) -> str | None:
    """Why the two series may not be linked (different patients), else None.

    A shared Frame of Reference UID means the same patient; otherwise
    :func:`~medviewer.session.priors.different_patients` decides (Patient ID, else Patient
    Name). Unknown studies are not refused. The reason names the attribute that differs,
    never the patients' values.
    """
    (study_a, series_a), (study_b, series_b) = a, b
    frame = series_a.frame_of_reference_uid
    if frame and frame == series_b.frame_of_reference_uid:
        return None
    if study_a is None or study_b is None or study_a.study_uid == study_b.study_uid:
        return None
    reason = different_patients(study_a, study_b)
    return None if reason is None else f"linking refused: {reason}"


def pair_key(series_uid_a: str, series_uid_b: str) -> str:
    """Order-independent key of a series pair for remembered offsets: ``"uidA|uidB"`` sorted."""
    first, second = sorted((str(series_uid_a), str(series_uid_b)))
    return f"{first}|{second}"


def offset_between(offsets: dict[str, float], src_uid: str, dst_uid: str) -> float | None:
    """The remembered offset for linking ``src_uid`` -> ``dst_uid`` (None when none is set).

    It is stored for the sorted order of the pair and negated for the other direction."""
    value = offsets.get(pair_key(src_uid, dst_uid))
    if value is None:
        return None
    return float(value) if str(src_uid) <= str(dst_uid) else -float(value)


def store_offset(offsets: dict[str, float], src_uid: str, dst_uid: str, offset_mm: float) -> None:
    """Remember ``offset_mm`` for linking ``src_uid`` -> ``dst_uid`` (and its reverse)."""
    value = float(offset_mm)
    offsets[pair_key(src_uid, dst_uid)] = value if str(src_uid) <= str(dst_uid) else -value


__all__ = [
    "LinkSide",
    "LinkTarget",
    "follow",
    "link_refusal",
    "linked_index",
    "offset_between",
    "offset_for",
    "pair_key",
    "plane_center_mm",
    "plane_normal",
    "reference_line",
    "same_frame",
    "store_offset",
]
