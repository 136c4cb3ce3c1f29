"""Labeling a loaded series: the use-cases the Labeling dock calls, without Qt.

A :class:`LabelingSession` maps the slices of a :class:`~medviewer.dicom.Volume` to
:class:`~medviewer.labels.schema.SliceKey` s (study / series UID + each slice's SOP Instance UID
and 1-based frame number, in the order of ``volume.array``), writes through a
:class:`~medviewer.labels.store.LabelStore` (one transaction per action) and keeps a per-slice
cache of the labels shown, refreshed from the store after every write, so the caller always
shows the store's real state, also after a failed write.

Navigation: next unlabeled slice, next disagreement with the model, next most uncertain slice
(highest predictive entropy of the last inference: active-learning order). Filters (class,
annotator, status) decide which labels the list shows and where "next" goes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from medviewer.dicom import Volume
from medviewer.errors import LabelStoreError
from medviewer.jobs import Job, Progress
from medviewer.labels.schema import Annotation, LabelSet, ModelRef, Region, SliceKey
from medviewer.labels.store import fresh_store_path

UNKNOWN_COLOR = "#9e9e9e"
"""Colour of a stored label whose class is not in the current label set."""
ALL_ANNOTATORS = "*"
STATUS_FILTERS = ("", "draft", "final", "unreviewed", "approved", "flagged")
"""Status filter values: "" any, a status, or a review state ("unreviewed": no review)."""
CONSENSUS = "consensus"


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


def entropy(probabilities: dict[str, float] | Sequence[float]) -> float:
    """Predictive entropy normalised to 0..1 (1: all classes equally likely)."""
    values = list(probabilities.values()) if isinstance(probabilities, dict) else probabilities
    values = [float(p) for p in values if p is not None and math.isfinite(float(p))]
    if len(values) < 2:
        return 0.0
    total = sum(values) or 1.0
    h = -sum((p / total) * math.log(p / total) for p in values if p > 0)
    return float(h / math.log(len(values)))


@dataclass(frozen=True)
class Suggestion:
    """The model's top class for one slice, with where it came from."""

    index: int
    label: str
    probability: float
    entropy: float
    model: ModelRef
    probabilities: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Filters:
    """What the list shows and where "next" goes.

    ``label``: a class name or "" for any; ``annotator``: whose labels ("" = the current
    annotator, :data:`ALL_ANNOTATORS` = the latest label of anyone); ``status``: one of
    :data:`STATUS_FILTERS`.
    """

    label: str = ""
    annotator: str = ""
    status: str = ""


@dataclass(frozen=True)
class LabelProgress:
    labeled: int
    total: int
    flagged: int
    approved: int

    @property
    def text(self) -> str:
        """``"72/108 slices labeled, 3 flagged"``."""
        text = f"{self.labeled}/{self.total} slices labeled"
        if self.flagged:
            text += f", {self.flagged} flagged"
        if self.approved:
            text += f", {self.approved} approved"
        return text


class LabelingSession:
    """Labels of the open series for one annotator, backed by a LabelStore."""

    def __init__(self, store=None, label_set: LabelSet | None = None, annotator: str = ""):
        if label_set is None:
            from medviewer.labels.label_sets import default_label_set

            label_set = default_label_set()
        self.store = store
        self.label_set = label_set
        self.annotator = annotator.strip()
        self.filters = Filters()
        self.volume: Volume | None = None
        self.keys: list[SliceKey] = []
        self._index: dict[SliceKey, int] = {}
        self._labels: dict[int, Annotation] = {}
        self._pending_regions: dict[int, Region] = {}
        self._suggestions: dict[int, Suggestion] = {}
        self._path_hints: list[str] = []

    # -- state -----------------------------------------------------------------------------
    def set_volume(self, volume: Volume | None) -> None:
        """A new series is open: its keys, its labels from the store; predictions dropped."""
        self.volume = volume
        self._suggestions = {}
        self._pending_regions = {}
        if volume is None:
            self.keys, self._index, self._path_hints = [], {}, []
            self._labels = {}
            return
        self.keys = slice_keys(volume)
        self._index = {key: k for k, key in enumerate(self.keys)}
        self._path_hints = [ref.path for ref in volume.series.slices]
        self.reload()

    def set_store(self, store) -> None:
        self.store = store
        self.reload()

    def set_annotator(self, name: str) -> None:
        self.annotator = name.strip()
        self.reload()

    def set_label_set(self, label_set: LabelSet) -> None:
        """Use ``label_set`` for new labels; stored labels are shown as they are."""
        self.label_set = label_set

    def set_filters(self, filters: Filters) -> None:
        changed = filters.annotator != self.filters.annotator
        self.filters = filters
        if changed:
            self.reload()

    @property
    def n_slices(self) -> int:
        return len(self.keys)

    @property
    def series_uid(self) -> str:
        return self.keys[0].series_uid if self.keys else ""

    @property
    def per_series(self) -> bool:
        return self.label_set.scope == "series"

    @property
    def shown_annotator(self) -> str | None:
        """Whose labels are shown: None means the latest label of any annotator."""
        who = self.filters.annotator
        if who == ALL_ANNOTATORS:
            return None
        return who or self.annotator or None

    def key(self, index: int) -> SliceKey:
        """The key a label of slice ``index`` is stored under (the series key when the label
        set is per series)."""
        key = self.keys[index]
        if self.per_series:
            return SliceKey(key.study_uid, key.series_uid)
        return key

    def index_of(self, key: SliceKey) -> int | None:
        return self._index.get(key)

    def _require_store(self):
        if self.store is None:
            raise LabelStoreError(
                "no label store is open; choose or create one from the Labels menu"
            )
        return self.store

    def _require_annotator(self) -> str:
        if not self.annotator:
            raise LabelStoreError("set your annotator name before labeling")
        return self.annotator

    def _check_index(self, index: int) -> int:
        if not 0 <= int(index) < self.n_slices:
            raise IndexError(f"slice {index} is outside 0..{self.n_slices - 1}")
        return int(index)

    # -- reading -----------------------------------------------------------------------------
    def reload(self) -> None:
        """Read the series' labels (of the shown annotator) from the store again."""
        self._labels = {}
        if self.store is None or not self.keys:
            return
        who = self.shown_annotator
        if who is None and self.filters.annotator != ALL_ANNOTATORS:
            return  # nobody's labels to show yet (no annotator name)
        found = self.store.series_labels(self.series_uid, annotator=who)
        if self.per_series:
            series_key = self.key(0)
            ann = found.get(series_key)
            if ann is not None:
                self._labels = dict.fromkeys(range(self.n_slices), ann)
            return
        for key, ann in found.items():
            k = self._index.get(key)
            if k is not None:
                self._labels[k] = ann

    def _refresh(self, index: int) -> Annotation | None:
        """Re-read slice ``index`` from the store (one indexed query)."""
        key = self.key(index)
        who = self.shown_annotator
        ann = None
        if who is not None or self.filters.annotator == ALL_ANNOTATORS:
            ann = self.store.current(key, annotator=who)
        targets = range(self.n_slices) if self.per_series else (index,)
        for k in targets:
            if ann is None:
                self._labels.pop(k, None)
            else:
                self._labels[k] = ann
        return ann

    def label_at(self, index: int) -> Annotation | None:
        return self._labels.get(int(index))

    def labels(self) -> dict[int, Annotation]:
        """Slice index -> the shown annotation (a copy)."""
        return dict(self._labels)

    def label_names(self) -> list[str | None]:
        """Per slice, the shown label or None."""
        return [
            (self._labels[k].label if k in self._labels else None) for k in range(self.n_slices)
        ]

    def color_of(self, label: str | None) -> str | None:
        if label is None:
            return None
        cls = self.label_set.by_name(label)
        return cls.color if cls is not None else UNKNOWN_COLOR

    def in_label_set(self, label: str) -> bool:
        return self.label_set.by_name(label) is not None

    def matches(self, ann: Annotation | None) -> bool:
        """Whether ``ann`` passes the class and status filters."""
        if ann is None:
            return False
        f = self.filters
        if f.label and ann.label != f.label:
            return False
        if f.status in ("draft", "final") and ann.status != f.status:
            return False
        if f.status in ("approved", "flagged") and ann.review != f.status:
            return False
        return not (f.status == "unreviewed" and ann.review)

    def listed(self) -> list[tuple[int, Annotation]]:
        """The labeled slices that pass the filters, in slice order."""
        return [(k, a) for k, a in sorted(self._labels.items()) if self.matches(a)]

    def progress(self) -> LabelProgress:
        labels = self._labels.values()
        return LabelProgress(
            labeled=len(self._labels),
            total=self.n_slices,
            flagged=sum(a.review == "flagged" for a in labels),
            approved=sum(a.review == "approved" for a in labels),
        )

    def history(self, index: int) -> list[dict]:
        ann = self.label_at(index)
        who = ann.annotator if ann is not None else self.annotator
        return self._require_store().history(self.key(index), annotator=who or None)

    # -- writing -----------------------------------------------------------------------------
    def assign(self, index: int, label: str, *, region: Region | None = None) -> Annotation:
        """Label slice ``index`` as ``label`` (a class of the label set), by the annotator.

        A pending evidence rectangle drawn on the unlabeled slice is stored with it.
        """
        index = self._check_index(index)
        if not self.in_label_set(label):
            raise LabelStoreError(
                f"{label!r} is not a class of the label set {self.label_set.name!r} "
                f"({', '.join(self.label_set.names)})"
            )
        return self._set(index, label, region=region)

    def _set(self, index, label, *, region=None, source="human", model=None) -> Annotation:
        store, who = self._require_store(), self._require_annotator()
        mine = store.current(self.key(index), annotator=who)
        if region is None:
            region = self._pending_regions.get(index)
        if region is None and mine is not None:
            region = mine.region
        try:
            ann = store.set_label(
                self.key(index),
                label,
                annotator=who,
                scope=self.label_set.scope,
                source=source,
                model=model,
                region=region,
                label_set=self.label_set.name,
                path_hint=self._path_hints[index] if index < len(self._path_hints) else "",
            )
        finally:
            self._refresh(index)
        self._pending_regions.pop(index, None)
        return ann

    def clear(self, index: int) -> bool:
        """Remove the annotator's label of slice ``index``; False when there was none."""
        index = self._check_index(index)
        store, who = self._require_store(), self._require_annotator()
        self._pending_regions.pop(index, None)
        try:
            return bool(store.clear_label(self.key(index), annotator=who))
        finally:
            self._refresh(index)

    def accept_suggestion(self, index: int) -> Annotation:
        """Store the model's top class for slice ``index`` (source "model", with the model's
        name, version and sha256). Raises LabelStoreError when there is no suggestion or its
        class is not in the label set."""
        index = self._check_index(index)
        s = self._suggestions.get(index)
        if s is None:
            raise LabelStoreError(
                f"the model has no suggestion for slice {index + 1}; run the classifier first"
            )
        if not self.in_label_set(s.label):
            raise LabelStoreError(
                f"the model's class {s.label!r} is not in the label set "
                f"{self.label_set.name!r} ({', '.join(self.label_set.names)}); label the slice "
                "by hand"
            )
        return self._set(index, s.label, source="model", model=s.model)

    def undo(self) -> tuple[SliceKey | None, int | None]:
        """Undo the annotator's last action: ``(key, slice index or None if elsewhere)``."""
        return self._undo_redo("undo")

    def redo(self) -> tuple[SliceKey | None, int | None]:
        return self._undo_redo("redo")

    def _undo_redo(self, what: str) -> tuple[SliceKey | None, int | None]:
        store, who = self._require_store(), self._require_annotator()
        try:
            key = getattr(store, what)(annotator=who)
        except LabelStoreError:
            self.reload()
            raise
        if key is None:
            return None, None
        if self.per_series and key.series_uid == self.series_uid and not key.sop_uid:
            self._refresh(0)
            return key, None
        index = self._index.get(key)
        if index is not None:
            self._refresh(index)
        return key, index

    def set_region(self, index: int, region: Region | None) -> Annotation | None:
        """Attach an evidence rectangle (pixel coordinates of ``volume.array[index]``) to the
        annotator's label of the slice; on an unlabeled slice it waits for the label."""
        index = self._check_index(index)
        store, who = self._require_store(), self._require_annotator()
        if store.current(self.key(index), annotator=who) is None:
            if region is None:
                self._pending_regions.pop(index, None)
            else:
                self._pending_regions[index] = region
            return None
        try:
            return store.set_region(self.key(index), annotator=who, region=region)
        finally:
            self._refresh(index)

    def region_at(self, index: int) -> Region | None:
        """The evidence shown on slice ``index``: the label's, else one waiting for a label."""
        ann = self._labels.get(int(index))
        if ann is not None and ann.region is not None:
            return ann.region
        return self._pending_regions.get(int(index))

    def review(self, index: int, verdict: str, comment: str = "") -> Annotation:
        """Approve / flag (``verdict``; "" clears) the shown label of slice ``index``."""
        index = self._check_index(index)
        store, who = self._require_store(), self._require_annotator()
        ann = self._labels.get(index)
        if ann is None:
            raise LabelStoreError(f"slice {index + 1} has no label to review")
        try:
            return store.review(
                self.key(index),
                annotator=ann.annotator,
                verdict=verdict,
                reviewer=who,
                comment=comment,
            )
        finally:
            self._refresh(index)

    # -- the model's suggestions -------------------------------------------------------------
    def set_predictions(self, predictions: Iterable) -> int:
        """Keep the last inference's per-slice predictions (objects with ``index``,
        ``probabilities``, ``top``, ``model``, ``version``, ``sha256``); returns how many."""
        self._suggestions = {}
        for p in predictions:
            k = int(p.index)
            if not 0 <= k < self.n_slices:
                continue
            probs = {str(c): float(v) for c, v in dict(p.probabilities).items()}
            top = str(p.top)
            self._suggestions[k] = Suggestion(
                index=k,
                label=top,
                probability=float(probs.get(top, float("nan"))),
                entropy=entropy(probs),
                model=ModelRef(str(p.model), str(p.version), str(getattr(p, "sha256", ""))),
                probabilities=probs,
            )
        return len(self._suggestions)

    def clear_predictions(self) -> None:
        self._suggestions = {}

    def suggestion(self, index: int) -> Suggestion | None:
        return self._suggestions.get(int(index))

    @property
    def has_predictions(self) -> bool:
        return bool(self._suggestions)

    def disagrees(self, index: int) -> bool:
        """The shown label and the model's top class differ (both known, same vocabulary:
        labels outside the model's classes, such as ``uncertain``, never disagree)."""
        ann, s = self._labels.get(index), self._suggestions.get(index)
        if ann is None or s is None:
            return False
        return ann.label in s.probabilities and ann.label != s.label

    # -- navigation --------------------------------------------------------------------------
    def _after(self, start: int) -> list[int]:
        n = self.n_slices
        return [(start + d) % n for d in range(1, n + 1)] if n else []

    def next_unlabeled(self, start: int) -> int | None:
        """The next slice after ``start`` (wrapping) without a shown label."""
        return next((k for k in self._after(start) if k not in self._labels), None)

    def next_listed(self, start: int) -> int | None:
        """The next slice after ``start`` (wrapping) whose label passes the filters."""
        return next((k for k in self._after(start) if self.matches(self._labels.get(k))), None)

    def next_disagreement(self, start: int) -> int | None:
        """The next slice after ``start`` (wrapping) whose label (passing the filters)
        differs from the model's top class."""
        return next(
            (
                k
                for k in self._after(start)
                if self.disagrees(k) and self.matches(self._labels.get(k))
            ),
            None,
        )

    def uncertainty_order(self) -> list[int]:
        """Slices with a prediction, most uncertain (highest entropy) first."""
        return sorted(self._suggestions, key=lambda k: (-self._suggestions[k].entropy, k))

    def next_uncertain(self, start: int) -> int | None:
        """Active-learning order: the most uncertain unlabeled slice other than ``start``;
        once every slice with a prediction is labeled, the next in the ranking after
        ``start`` among the labels that pass the filters."""
        order = self.uncertainty_order()
        unlabeled = [k for k in order if k not in self._labels and k != start]
        if unlabeled:
            return unlabeled[0]
        listed = [k for k in order if self.matches(self._labels.get(k))]
        if not listed:
            return None
        if start in listed:
            return listed[(listed.index(start) + 1) % len(listed)]
        return listed[0]


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


# -- import / export as jobs (each opens its own connection: SQLite is per thread) ----------
def export_job(store_path: str | os.PathLike, path: str | os.PathLike, **filters) -> Job[int]:
    """Export the store's labels to ``path`` (.csv or .json); returns the number written."""
    from medviewer.labels.io import export_labels
    from medviewer.labels.store import LabelStore

    yield Progress(0, None, f"exporting labels to {Path(path).name}…")
    with LabelStore(store_path) as store:
        n = export_labels(store, path, **filters)
    yield Progress(1, 1, f"{n} labels exported")
    return n


def import_job(
    store_path: str | os.PathLike,
    path: str | os.PathLike,
    *,
    label_set: LabelSet | None = None,
    known_series: set[str] | None = None,
):
    """Import ``path`` into the store (one transaction); returns the ImportReport."""
    from medviewer.labels.io import import_labels
    from medviewer.labels.store import LabelStore

    yield Progress(0, None, f"importing {Path(path).name}…")
    with LabelStore(store_path) as store:
        report = import_labels(store, path, label_set=label_set, known_series=known_series)
    yield Progress(1, 1, "imported")
    return report


def import_report_text(report) -> str:
    """A short summary of an ImportReport: "108 imported, 2 unchanged, 3 skipped"."""
    return (
        f"{report.imported} imported, {report.unchanged} unchanged, {len(report.skipped)} skipped"
    )


def known_series_uids(scan_result) -> set[str]:
    """Series Instance UIDs of every series in a ScanResult (the open studies)."""
    if scan_result is None:
        return set()
    return {s.series_uid for study in scan_result.studies for s in study.series}


__all__ = [
    "ALL_ANNOTATORS",
    "CONSENSUS",
    "STATUS_FILTERS",
    "UNKNOWN_COLOR",
    "Filters",
    "LabelProgress",
    "LabelingSession",
    "Suggestion",
    "entropy",
    "export_job",
    "fresh_store_path",
    "import_job",
    "import_report_text",
    "known_series_uids",
    "plane_rect_to_region",
    "region_to_plane_rect",
    "slice_keys",
]
