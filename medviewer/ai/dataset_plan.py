"""The data plan of fine-tuning: filters, split options, the labeled slices that train or
validate (:class:`DataPlan`), and how label classes map onto the base model's classes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from medviewer.errors import ModelError
from medviewer.labels.schema import SliceKey

IGNORED_LABELS = ("uncertain", "exclude")
"""Labels that never become training classes."""


@dataclass(frozen=True)
class DataFilters:
    """Which final labels to use."""

    annotators: tuple[str, ...] = ()
    """Only these annotators' labels (empty: everyone's)."""
    review: str = "not_flagged"
    """``any``, ``approved`` (reviewed and approved only) or ``not_flagged``."""
    label_set: str | None = None
    """Only labels stored under this label set name."""


@dataclass(frozen=True)
class SplitOptions:
    """How the labeled slices are split into training and validation (by patient)."""

    val_fraction: float = 0.25
    k_folds: int = 0
    """0: one split of ``val_fraction``; k >= 2: validation is fold ``fold`` of k."""
    fold: int = 0
    seed: int = 0
    allow_single_patient: bool = False
    """With one patient only, split by contiguous slice ranges within it (optimistic)."""


@dataclass(frozen=True)
class TrainItem:
    """One labeled slice that trains or validates."""

    key: SliceKey
    label: str
    """Class name of the new model (after mapping)."""
    patient: str
    """PatientID, else the StudyInstanceUID."""
    series_key: str
    """The loaded series it belongs to (``SeriesInfo.key``)."""
    index: int
    """Slice index in that series' Volume (the order of ``medviewer convert``)."""


@dataclass
class DataPlan:
    """What fine-tuning will use, and what was left out and why."""

    classes: tuple[str, ...]
    base_ref: str
    train: list[TrainItem]
    val: list[TrainItem]
    counts: dict[str, dict[str, int]]
    patients: dict[str, int]
    missing: list[tuple[str, str]]
    ignored: dict[str, int]
    unmapped: list[str]
    added_classes: list[str]
    class_map: dict[str, str | None]
    label_snapshot: str
    annotators: list[str]
    warnings: list[str]
    store_path: str = ""
    split: SplitOptions = field(default_factory=SplitOptions)
    filters: DataFilters = field(default_factory=DataFilters)
    single_patient: bool = False
    """True when the split is by slice ranges within one patient (allow_single_patient)."""
    pixels: dict[tuple[str, int], np.ndarray] = field(default_factory=dict, repr=False)
    """(series_key, index) -> the slice's stored values (HU for CT), read once here."""
    inverts: dict[str, bool] = field(default_factory=dict, repr=False)
    """series_key -> MONOCHROME1 (what ``preprocess(invert=...)`` needs)."""
    series: dict[str, object] = field(default_factory=dict, repr=False)
    """series_key -> SeriesInfo (to read the slices again if ``pixels`` is empty)."""

    @property
    def base_classes(self) -> tuple[str, ...]:
        return tuple(c for c in self.classes if c not in self.added_classes)

    def summary(self) -> str:
        """Counts per class and split, patients, what is missing or left out."""
        width = max([len("class"), *(len(c) for c in self.classes)])
        lines = [
            f"base model {self.base_ref}; classes: {', '.join(self.classes)}"
            + (f" (new: {', '.join(self.added_classes)})" if self.added_classes else ""),
            f"{'class':<{width}}  {'train':>6}  {'val':>6}",
        ]
        for c in self.classes:
            tr = self.counts.get("train", {}).get(c, 0)
            va = self.counts.get("val", {}).get(c, 0)
            lines.append(f"{c:<{width}}  {tr:>6}  {va:>6}")
        lines.append(
            f"{'total':<{width}}  {len(self.train):>6}  {len(self.val):>6}   slices; patients "
            f"{self.patients.get('train', 0)} train / {self.patients.get('val', 0)} val"
        )
        if self.missing:
            lines.append(
                f"{len(self.missing)} labeled slice(s) not found on disk (left out): "
                + "; ".join(f"{k} ({why})" for k, why in self.missing[:3])
                + (" ..." if len(self.missing) > 3 else "")
            )
        if self.ignored:
            lines.append(
                "left out: " + ", ".join(f"{k} {n}" for k, n in sorted(self.ignored.items()))
            )
        if self.unmapped:
            lines.append(
                f"not classes of {self.base_ref}: {', '.join(self.unmapped)} (add them as new "
                "classes or map them onto existing ones)"
            )
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def key_text(key: SliceKey) -> str:
    """A compact stable text for a slice key (used in reports and metrics' case lists)."""
    frame = "" if key.frame is None else f"#{key.frame}"
    return f"{key.series_uid}/{key.sop_uid}{frame}"


def map_classes(
    labels,
    base_classes: tuple[str, ...],
    class_map: dict[str, str | None],
    add_classes: bool,
    base_ref: str,
    warnings: list[str],
) -> tuple[dict[str, str | None], list[str], list[str]]:
    """(label -> class of the new model or None, unmapped labels, added classes) for the
    label classes ``labels``; ``class_map`` overrides, ``add_classes`` makes unknown labels
    new classes. A warning is appended when labels are left out unmapped."""
    for label, target in class_map.items():
        if target is not None and target not in base_classes and not add_classes:
            raise ModelError(
                f"--map {label}={target}: {target!r} is not a class of {base_ref} "
                f"({', '.join(base_classes)}); map onto one of them or add new classes"
            )
    unmapped: list[str] = []
    added: list[str] = []
    mapping: dict[str, str | None] = {}
    for label in sorted(set(labels)):
        if label in IGNORED_LABELS:
            continue
        if label in class_map:
            mapping[label] = class_map[label]
        elif label in base_classes:
            mapping[label] = label
        elif add_classes:
            mapping[label] = label
        else:
            unmapped.append(label)
            mapping[label] = None
    for target in mapping.values():
        if target is not None and target not in base_classes and target not in added:
            added.append(target)
    added.sort()
    if unmapped:
        warnings.append(
            f"label class(es) {', '.join(unmapped)} are not classes of {base_ref} and were "
            "left out: add them as new classes or map them onto existing ones"
        )
    return mapping, unmapped, added
