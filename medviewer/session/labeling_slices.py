"""Where labels sit on an open volume: the key of each slice, and evidence rectangles.

:func:`slice_keys` gives the :class:`~medviewer.labels.schema.SliceKey` of every slice of
``volume.array`` (study / series UID, SOP Instance UID, 1-based frame). The evidence rectangle
of a label is stored in pixel coordinates of the acquired slice (x = column, y = row);
:func:`plane_rect_to_region` and :func:`region_to_plane_rect` convert between those and the
pixels of a displayed plane (axial, coronal or sagittal).
"""

from __future__ import annotations

from medviewer.dicom import Volume
from medviewer.errors import LabelStoreError
from medviewer.labels.schema import Region, SliceKey


def slice_keys(volume: Volume) -> list[SliceKey]:
    """One key per slice of ``volume.array``, in its order (``volume.series.slices[k]``).

    ``frame`` is the 1-based frame number for multi-frame files (``SliceRef.frame`` counts
    from 0), None for single-frame images. Raises LabelStoreError when the series lacks the
    UIDs labels are keyed by.
    """
    series = volume.series
    n = int(volume.array.shape[0])
    if len(series.slices) != n:
        raise LabelStoreError(
            f"series {series.key}: {len(series.slices)} slice references for {n} slices in the "
            "volume; reload the series before labeling"
        )
    if not series.study_uid or not series.series_uid:
        raise LabelStoreError(
            f"series {series.key} has no Study/Series Instance UID; labels are keyed by UIDs, "
            "so this series cannot be labeled"
        )
    keys = []
    for k, ref in enumerate(series.slices):
        if not ref.sop_instance_uid:
            raise LabelStoreError(
                f"slice {k + 1} of series {series.key} ({ref.path}) has no SOP Instance UID "
                "(0008,0018); labels are keyed by it, so this series cannot be labeled"
            )
        frame = None if ref.frame is None else int(ref.frame) + 1
        keys.append(SliceKey(series.study_uid, series.series_uid, ref.sop_instance_uid, frame))
    if len(set(keys)) != len(keys):
        raise LabelStoreError(
            f"series {series.key} has slices with the same SOP Instance UID and frame; labels "
            "could not tell them apart"
        )
    return keys


# -- evidence rectangles: plane pixels <-> pixels of volume.array[k] ------------------------
def _axis_steps(volume: Volume, plane: str, plane_index: int):
    """For plane rows and columns: which volume axis (1 = j / rows, 2 = i / columns) they
    run along, its index at pixel 0 and its direction (+1 / -1)."""
    from medviewer.session import mpr

    base = mpr.to_index(volume, plane, plane_index, 0, 0)
    down = mpr.to_index(volume, plane, plane_index, 1, 0)
    right = mpr.to_index(volume, plane, plane_index, 0, 1)
    out = []
    for moved, default_axis in ((down, 1), (right, 2)):
        diffs = [moved[a] - base[a] for a in (1, 2)]
        if diffs[0]:
            out.append((1, base[1], 1 if diffs[0] > 0 else -1))
        elif diffs[1]:
            out.append((2, base[2], 1 if diffs[1] > 0 else -1))
        else:  # a single row / column: nothing to tell, keep the plane's own axis
            out.append((default_axis, base[default_axis], 1))
    return out


def _edge(value: float, base: int, step: int) -> float:
    # pixel p covers [p, p + 1); with step -1 index base - p covers [base - p, base - p + 1)
    return base + value if step > 0 else base + 1 - value


def plane_rect_to_region(
    volume: Volume, plane: str, plane_index: int, rect: tuple[float, float, float, float]
) -> Region:
    """``rect`` = (row0, col0, row1, col1) in the plane's pixel edges -> a :class:`Region`
    in pixel coordinates of the acquired slice (x = column, y = row), clamped to the image."""
    r0, c0, r1, c1 = rect
    (row_axis, row_base, row_step), (col_axis, col_base, col_step) = _axis_steps(
        volume, plane, plane_index
    )
    coords = {row_axis: (_edge(r0, row_base, row_step), _edge(r1, row_base, row_step))}
    coords[col_axis] = (_edge(c0, col_base, col_step), _edge(c1, col_base, col_step))
    rows, cols = volume.array.shape[1:3]
    ys = sorted(min(max(v, 0.0), float(rows)) for v in coords[1])
    xs = sorted(min(max(v, 0.0), float(cols)) for v in coords[2])
    return Region(xs[0], ys[0], xs[1], ys[1])


def region_to_plane_rect(
    volume: Volume, plane: str, plane_index: int, region: Region
) -> tuple[float, float, float, float]:
    """The inverse of :func:`plane_rect_to_region`: (row0, col0, row1, col1), sorted."""
    (row_axis, row_base, row_step), (col_axis, col_base, col_step) = _axis_steps(
        volume, plane, plane_index
    )
    by_axis = {1: (region.y0, region.y1), 2: (region.x0, region.x1)}
    rows = sorted(_edge(v, row_base, row_step) for v in by_axis[row_axis])
    cols = sorted(_edge(v, col_base, col_step) for v in by_axis[col_axis])
    return (rows[0], cols[0], rows[1], cols[1])
