"""Training data for fine-tuning: final labels from the label store, their slices, a patient split.

:func:`prepare_iter` is a job that reads the FINAL labels of a store (with filters), finds
their images by DICOM UID (the paths recorded in the store first, then the folders given),
loads each needed series once through the DICOM core, maps the label classes onto the base
model's classes and splits the labeled slices by patient, stratified by class. It returns a
:class:`DataPlan`: what will train, what will validate, and everything that was left out and
why. Pixels stay as stored (HU for CT); the model's own ``LoadedModel.preprocess`` turns them
into inputs at training time, the same code path as inference.

When one key has labels from several annotators, the ``consensus`` annotator's label wins;
otherwise the key is used only when they all agree (a disagreement is left out and counted).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medviewer.errors import ModelError, TrainingDataError
from medviewer.jobs import CancelToken, Job, Progress
from medviewer.labels.schema import Annotation, SliceKey

log = logging.getLogger(__name__)

IGNORED_LABELS = ("uncertain", "exclude")
"""Labels that never become training classes."""
MIN_PER_CLASS = 10
"""Fewest final labels (train + validation) a class needs to be trained."""
REVIEWS = ("any", "approved", "not_flagged")
CONSENSUS = "consensus"


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


# -- reading the labels --------------------------------------------------------------------------
def _filter_review(ann: Annotation, review: str) -> bool:
    if review == "approved":
        return ann.review == "approved"
    if review == "not_flagged":
        return ann.review != "flagged"
    return True


def _resolve(anns: list[Annotation]) -> tuple[Annotation | None, str]:
    """One label per key: the consensus, else the agreed label; (None, reason) otherwise."""
    cons = [a for a in anns if a.annotator == CONSENSUS]
    if cons:
        return cons[0], ""
    labels = {a.label for a in anns}
    if len(labels) == 1:
        return max(anns, key=lambda a: a.updated_at), ""
    return None, "annotators disagree"


def _read_labels(store_path, filters: DataFilters) -> tuple[list[Annotation], dict[str, int]]:
    from medviewer.labels.store import LabelStore

    path = Path(store_path)
    if not path.is_file():
        raise TrainingDataError(
            f"no label store at {path}: give the store the labels were saved in (Labels dock: "
            "File > Store)"
        )
    if filters.review not in REVIEWS:
        raise ModelError(f"unknown review filter {filters.review!r}: use {', '.join(REVIEWS)}")
    ignored: Counter = Counter()
    with LabelStore(path, read_only=True, create=False) as store:
        rows = store.query(status="final")
    wanted = set(filters.annotators)
    by_key: dict[SliceKey, list[Annotation]] = defaultdict(list)
    for ann in rows:
        if wanted and ann.annotator not in wanted:
            continue
        if filters.label_set and ann.label_set != filters.label_set:
            continue
        if not _filter_review(ann, filters.review):
            ignored[f"{ann.label} (flagged)" if ann.review == "flagged" else ann.label] += 1
            continue
        if ann.scope != "slice" or not ann.key.sop_uid:
            ignored[f"{ann.label} (series label)"] += 1
            continue
        by_key[ann.key].append(ann)
    chosen = []
    for anns in by_key.values():
        ann, why = _resolve(anns)
        if ann is None:
            ignored[f"({why})"] += 1
            continue
        chosen.append(ann)
    chosen.sort(key=lambda a: (a.key.study_uid, a.key.series_uid, a.key.sop_uid, a.key.frame or 0))
    return chosen, dict(ignored)


def _describe(filters: DataFilters) -> str:
    parts = []
    if filters.annotators:
        parts.append(f"annotators {', '.join(filters.annotators)}")
    if filters.review != "any":
        parts.append(f"review {filters.review}")
    if filters.label_set:
        parts.append(f"label set {filters.label_set}")
    return "; ".join(parts) or "no filters"


# -- finding the images --------------------------------------------------------------------------
def _slice_id(series_uid: str, sop_uid: str, frame0: int | None) -> tuple[str, str, int | None]:
    return (series_uid, sop_uid, None if frame0 is None else int(frame0) + 1)


def _locate(result, needed: set[tuple]) -> dict[tuple, object]:
    """needed slice ids -> the SeriesInfo holding them, from one scan result."""
    found = {}
    for study in result.studies:
        for series in study.series:
            for ref in series.slices:
                sid = _slice_id(series.series_uid, ref.sop_instance_uid, ref.frame)
                if sid in needed and sid not in found:
                    found[sid] = (study, series)
    return found


def _scan_job(paths, cancel, what: str):
    from medviewer.dicom.scan import scan_iter

    job = scan_iter(paths, cancel)
    try:
        while True:
            step = next(job)
            yield Progress(step.done, step.total, f"{what}: {step.message}")
    except StopIteration as stop:
        return stop.value


# -- splitting -----------------------------------------------------------------------------------
def _assign(groups: dict[str, Counter], targets: list[float], seed: int) -> dict[str, int]:
    """Greedy stratified assignment of patients to parts of the given target fractions."""
    rng = np.random.default_rng(seed)
    names = sorted(groups)
    rng.shuffle(names)
    names.sort(key=lambda p: -sum(groups[p].values()))  # big patients first, ties random
    totals: Counter = Counter()
    for g in groups.values():
        totals.update(g)
    filled = [Counter() for _ in targets]
    out = {}
    for p in names:
        best, best_cost = 0, None
        for i, t in enumerate(targets):
            cost = sum((filled[i][c] + n) / (t * totals[c]) for c, n in groups[p].items())
            cost += 1e-9 * i
            if best_cost is None or cost < best_cost:
                best, best_cost = i, cost
        out[p] = best
        filled[best].update(groups[p])
    return out


def _split_patients(items, split: SplitOptions, warnings: list[str]):
    groups: dict[str, Counter] = defaultdict(Counter)
    for it in items:
        groups[it.patient][it.label] += 1
    if split.k_folds >= 2:
        if split.k_folds > len(groups):
            raise TrainingDataError(
                f"{split.k_folds}-fold validation needs at least {split.k_folds} patients; the "
                f"labels come from {len(groups)}: use fewer folds or label more patients"
            )
        parts = _assign(groups, [1.0 / split.k_folds] * split.k_folds, split.seed)
        val_patients = {p for p, i in parts.items() if i == split.fold}
    else:
        parts = _assign(groups, [1.0 - split.val_fraction, split.val_fraction], split.seed)
        val_patients = {p for p, i in parts.items() if i == 1}
    if not val_patients:  # a tiny fraction: the smallest patient validates
        val_patients = {min(groups, key=lambda p: (sum(groups[p].values()), p))}
    if len(val_patients) == len(groups):
        val_patients.discard(max(groups, key=lambda p: (sum(groups[p].values()), p)))
    train = [it for it in items if it.patient not in val_patients]
    val = [it for it in items if it.patient in val_patients]
    return train, val


def _split_single(items, split: SplitOptions):
    """Contiguous slice ranges of each class within the one patient."""
    by_class: dict[str, list[TrainItem]] = defaultdict(list)
    for it in items:
        by_class[it.label].append(it)
    train, val = [], []
    for _, members in sorted(by_class.items()):
        members.sort(key=lambda it: (it.series_key, it.index))
        n = len(members)
        if split.k_folds >= 2:
            bounds = np.linspace(0, n, split.k_folds + 1).round().astype(int)
            lo, hi = int(bounds[split.fold]), int(bounds[split.fold + 1])
        else:
            m = max(1, min(n - 1, int(round(n * split.val_fraction))))
            lo = (n - m) // 2  # the middle of the class's range: training on both sides
            hi = lo + m
        val.extend(members[lo:hi])
        train.extend(members[:lo] + members[hi:])
    return train, val


def check_leakage(plan: DataPlan) -> None:
    """Raise TrainingDataError when a patient (or a slice) is on both sides of the split."""
    both_keys = {it.key for it in plan.train} & {it.key for it in plan.val}
    if both_keys:
        k = next(iter(both_keys))
        raise TrainingDataError(
            f"slice {key_text(k)} is in both training and validation ({len(both_keys)} slice(s)"
            "): the split leaks; prepare the data again"
        )
    if plan.single_patient:
        return
    shared = sorted({it.patient for it in plan.train} & {it.patient for it in plan.val})
    if shared:
        raise TrainingDataError(
            f"patient {shared[0]} is in both training and validation ({len(shared)} patient(s))"
            ": the validation would be optimistic; split by patient"
        )


def _counts(items) -> dict[str, int]:
    return dict(sorted(Counter(it.label for it in items).items()))


def snapshot_hash(anns: list[Annotation]) -> str:
    """sha256 over the sorted (key, label, annotator, updated_at) of the labels used."""
    digest = hashlib.sha256()
    rows = sorted(
        (key_text(a.key), a.key.study_uid, a.label, a.annotator, a.updated_at) for a in anns
    )
    for row in rows:
        digest.update(("\x1f".join(row) + "\x1e").encode("utf-8"))
    return digest.hexdigest()


# -- the job ---------------------------------------------------------------------------------------
def prepare_iter(
    store_path,
    base_ref: str | None = None,
    *,
    filters: DataFilters = DataFilters(),  # noqa: B008  (frozen)
    split: SplitOptions = SplitOptions(),  # noqa: B008  (frozen)
    data_dirs=(),
    class_map: dict[str, str | None] | None = None,
    add_classes: bool = False,
    registry=None,
    cancel: CancelToken | None = None,
) -> Job[DataPlan]:
    """Read, locate, map and split the labels of ``store_path`` for fine-tuning ``base_ref``.

    ``base_ref`` ``NAME[:VERSION]``; None: the active model for the labeled series' modality.
    Yields Progress while scanning and loading; returns a :class:`DataPlan`. Too little or
    unusable data raises :class:`~medviewer.errors.TrainingDataError` saying what to do.
    """
    from medviewer.ai.registry import ModelRegistry

    if not 0.0 < split.val_fraction < 1.0:
        raise ModelError(
            f"validation fraction {split.val_fraction} must lie between 0 and 1 (e.g. 0.25)"
        )
    if split.k_folds == 1 or split.k_folds < 0:
        raise ModelError(f"k_folds must be 0 (one split) or at least 2 (got {split.k_folds})")
    if split.k_folds >= 2 and not 0 <= split.fold < split.k_folds:
        raise ModelError(f"fold {split.fold} does not exist: use 0..{split.k_folds - 1}")
    registry = registry if registry is not None else ModelRegistry()
    class_map = dict(class_map or {})
    store_text = str(store_path)

    yield Progress(0, None, "reading the labels")
    anns, ignored_counts = _read_labels(store_path, filters)
    ignored: Counter = Counter(ignored_counts)
    if not anns:
        raise TrainingDataError(
            f"no final labels in {store_text} matching the filters ({_describe(filters)}): "
            "label slices (and mark them final), or loosen the filters"
        )

    # -- find the images
    needed: dict[tuple, Annotation] = {}
    for a in anns:
        needed[(a.key.series_uid, a.key.sop_uid, a.key.frame)] = a
    # the folders the labeled images were in when labeled (absolute paths only)
    hint_dirs = sorted(
        {os.path.dirname(a.path_hint) for a in anns if os.path.isabs(a.path_hint or "")}
    )
    hint_dirs = [d for d in hint_dirs if os.path.isdir(d)]
    located: dict[tuple, tuple] = {}
    if hint_dirs:
        result = yield from _scan_job(hint_dirs, cancel, "looking where the labels were made")
        located.update(_locate(result, set(needed)))
    rest = set(needed) - set(located)
    dirs = [str(d) for d in data_dirs]
    if rest and dirs:
        absent = [d for d in dirs if not os.path.exists(d)]
        if absent and len(absent) == len(dirs):
            raise TrainingDataError(
                f"no such folder: {absent[0]}; give folders holding the studies"
            )
        result = yield from _scan_job(dirs, cancel, "searching the data folders")
        located.update(_locate(result, rest))
    missing: list[tuple[str, str]] = []
    for sid in sorted(set(needed) - set(located), key=str):
        a = needed[sid]
        where = f"recorded path {a.path_hint} " if a.path_hint else ""
        searched = f"not in {', '.join(dirs)}" if dirs else "no --data folders given"
        missing.append((key_text(a.key), f"image not found: {where}gone; {searched}"))

    # -- the base model and the classes
    series_by_key: dict[str, tuple] = {}
    for study, series in located.values():
        series_by_key[series.key] = (study, series)
    if base_ref is None:
        modality = next((s.modality for _, s in series_by_key.values() if s.modality), "")
        entry = registry.active(modality) if modality else None
        if entry is None:
            raise ModelError(
                "no base model given and none active for the labeled series' modality "
                f"({modality or 'unknown'}): choose one (NAME[:VERSION] from `medviewer models "
                "list`)"
            )
    else:
        entry = registry.find(base_ref)
    base_classes = tuple(entry.manifest.classes)
    for label, target in class_map.items():
        if target is not None and target not in base_classes and not add_classes:
            raise ModelError(
                f"--map {label}={target}: {target!r} is not a class of {entry.ref} "
                f"({', '.join(base_classes)}); map onto one of them or add new classes"
            )
    unmapped: list[str] = []
    added: list[str] = []
    mapping: dict[str, str | None] = {}
    warnings: list[str] = []
    for label in sorted({a.label for a in anns}):
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
            f"label class(es) {', '.join(unmapped)} are not classes of {entry.ref} and were "
            "left out: add them as new classes or map them onto existing ones"
        )

    # -- load the series, keep the labeled slices
    wanted_series: dict[str, list[tuple]] = defaultdict(list)
    for sid, (_, series) in located.items():
        wanted_series[series.key].append(sid)
    pixels: dict[tuple[str, int], np.ndarray] = {}
    inverts: dict[str, bool] = {}
    infos: dict[str, object] = {}
    items: list[TrainItem] = []
    used: list[Annotation] = []
    n_series = len(wanted_series)
    for done, (skey, sids) in enumerate(sorted(wanted_series.items())):
        study, series = series_by_key[skey]
        from medviewer.dicom.volume import load_volume_iter

        job = load_volume_iter(series, cancel)
        try:
            while True:
                step = next(job)
                yield Progress(
                    done,
                    n_series,
                    f"loading series {done + 1} of {n_series}: {step.message}",
                )
        except StopIteration as stop:
            volume = stop.value
        except Exception as exc:
            if isinstance(exc, TrainingDataError):
                raise
            from medviewer.errors import Cancelled

            if isinstance(exc, Cancelled):
                raise
            for sid in sids:
                missing.append((key_text(needed[sid].key), f"series could not be loaded: {exc}"))
            continue
        index = {
            _slice_id(volume.series.series_uid, ref.sop_instance_uid, ref.frame): k
            for k, ref in enumerate(volume.series.slices)
        }
        inverts[skey] = bool(volume.invert)
        infos[skey] = volume.series
        patient = (study.patient_id or "").strip() or study.study_uid
        for sid in sids:
            a = needed[sid]
            k = index.get(sid)
            if k is None:
                missing.append((key_text(a.key), "slice could not be decoded"))
                continue
            target = mapping.get(a.label) if a.label not in IGNORED_LABELS else None
            if target is None:
                ignored[a.label] += 1
                continue
            values = np.array(volume.array[k])
            if values.dtype.kind == "f" and not np.isfinite(values).all():
                values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
            pixels[(skey, k)] = values
            items.append(TrainItem(a.key, target, patient, skey, k))
            used.append(a)
        del volume
    # labels whose image is missing but that would be ignored anyway count as ignored
    for a in anns:
        sid = (a.key.series_uid, a.key.sop_uid, a.key.frame)
        if sid not in located and (a.label in IGNORED_LABELS or mapping.get(a.label) is None):
            ignored[a.label] += 1
    if missing:
        warnings.append(
            f"{len(missing)} labeled slice(s) were not found on disk and are left out (see the "
            "missing list); give the folders holding them with --data"
        )

    # -- enough data?
    hint = ""
    if unmapped:
        hint = (
            f" (label class(es) {', '.join(unmapped)} are not classes of {entry.ref}: add them "
            "as new classes or map them)"
        )
    if not items:
        extra = f"; {len(missing)} labeled slice(s) were not found on disk" if missing else ""
        raise TrainingDataError(
            f"none of the final labels in {store_text} can train {entry.ref}{extra}{hint}: "
            "label slices of studies on this computer, or give their folders with --data"
        )
    per_class = Counter(it.label for it in items)
    if len(per_class) < 2:
        only = next(iter(per_class))
        raise TrainingDataError(
            f"all {len(items)} usable labels are {only!r}: a classifier needs at least two "
            f"classes — label slices of another class{hint}"
        )
    few = sorted((c, n) for c, n in per_class.items() if n < MIN_PER_CLASS)
    if few:
        c, n = few[0]
        others = f" (also: {', '.join(f'{o} {m}' for o, m in few[1:])})" if len(few) > 1 else ""
        raise TrainingDataError(
            f"{c} has {n} final label(s); at least {MIN_PER_CLASS} are needed per class — label "
            f"more slices or leave the class out (map it to nothing){others}"
        )
    patients = sorted({it.patient for it in items})
    single = False
    if len(patients) < 2:
        if not split.allow_single_patient:
            raise TrainingDataError(
                f"all labels come from one patient (PatientID {patients[0]}); a validation split "
                "needs at least 2 patients — label studies of another patient, or allow a "
                "single-patient split (validation on other slices of the same patient, "
                "optimistic)"
            )
        single = True
        train, val = _split_single(items, split)
        # No PatientID here: plan warnings are written into the model card (MODEL_CARD.md),
        # which travels with exported packages.
        warnings.append(
            "all labels come from one patient: validation uses other slice ranges of the same "
            "patient, so its metrics are optimistic — label more patients for an honest estimate"
        )
    else:
        train, val = _split_patients(items, split, warnings)
    counts = {"train": _counts(train), "val": _counts(val)}
    for c in per_class:
        if c not in counts["val"]:
            warnings.append(
                f"no {c} slice in the validation split (its patients all train): its metrics "
                "cannot be measured; label more patients with it"
            )
        if c not in counts["train"]:
            warnings.append(f"no {c} slice in the training split: the model cannot learn it")
    plan = DataPlan(
        classes=base_classes + tuple(added),
        base_ref=entry.ref,
        train=train,
        val=val,
        counts=counts,
        patients={
            "train": len({it.patient for it in train}),
            "val": len({it.patient for it in val}),
        },
        missing=missing,
        ignored=dict(sorted(ignored.items())),
        unmapped=unmapped,
        added_classes=added,
        class_map=mapping,
        label_snapshot=snapshot_hash(used),
        annotators=sorted({a.annotator for a in used}),
        warnings=warnings,
        store_path=store_text,
        split=split,
        filters=filters,
        single_patient=single,
        pixels=pixels,
        inverts=inverts,
        series=infos,
    )
    check_leakage(plan)
    yield Progress(1, 1, f"{len(train)} training and {len(val)} validation slices ready")
    return plan


def prepare(store_path, base_ref: str | None = None, **kw) -> DataPlan:
    """Run :func:`prepare_iter` to the end (keywords as there, plus ``on_progress``)."""
    from medviewer.jobs import run_job

    on_progress = kw.pop("on_progress", None)
    return run_job(prepare_iter(store_path, base_ref, **kw), on_progress, kw.get("cancel"))
