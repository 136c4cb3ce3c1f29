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

The session's parts: :mod:`~medviewer.session.labeling_slices` (slice keys, evidence
rectangles), :mod:`~medviewer.session.labeling_suggestions` (the model's suggestions),
:mod:`~medviewer.session.labeling_navigation` (filters, next) and
:mod:`~medviewer.session.labeling_jobs` (export / import jobs); this module keeps the names
callers import.
"""

from __future__ import annotations

from dataclasses import dataclass

from medviewer.dicom import Volume
from medviewer.errors import LabelStoreError
from medviewer.labels.schema import Annotation, LabelSet, Region, SliceKey
from medviewer.labels.store import fresh_store_path
from medviewer.session.labeling_jobs import (
    export_job,
    import_job,
    import_report_text,
    known_series_uids,
)
from medviewer.session.labeling_navigation import (
    ALL_ANNOTATORS,
    STATUS_FILTERS,
    Filters,
    LabelNavigation,
)
from medviewer.session.labeling_slices import (
    plane_rect_to_region,
    region_to_plane_rect,
    slice_keys,
)
from medviewer.session.labeling_suggestions import LabelSuggestions, Suggestion, entropy

UNKNOWN_COLOR = "#9e9e9e"
"""Colour of a stored label whose class is not in the current label set."""
CONSENSUS = "consensus"


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


class LabelingSession(LabelSuggestions, LabelNavigation):
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
        self._last_uncertain: int | None = None
        """The slice the last next_uncertain gave (Q walks on from it)."""
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
