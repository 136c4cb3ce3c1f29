"""Splitting labeled slices for fine-tuning: enough data per class, training vs validation
by patient (stratified by class, one split or k-fold), contiguous slice ranges when there is
only one patient (allowed explicitly), and the leakage check."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from medviewer.ai.dataset_plan import DataPlan, SplitOptions, TrainItem, key_text
from medviewer.errors import TrainingDataError

MIN_PER_CLASS = 10
"""Fewest final labels (train + validation) a class needs to be trained."""


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


def check_enough(items, missing, unmapped: list[str], base_ref: str, store_text: str) -> Counter:
    """Raise TrainingDataError saying what to do when the usable labels cannot train (none,
    one class, a class under :data:`MIN_PER_CLASS`); returns the count per class."""
    hint = ""
    if unmapped:
        hint = (
            f" (label class(es) {', '.join(unmapped)} are not classes of {base_ref}: add them "
            "as new classes or map them)"
        )
    if not items:
        extra = f"; {len(missing)} labeled slice(s) were not found on disk" if missing else ""
        raise TrainingDataError(
            f"none of the final labels in {store_text} can train {base_ref}{extra}{hint}: "
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
    return per_class


def split_items(items, split: SplitOptions, per_class: Counter, warnings: list[str]):
    """(train, val, counts per split and class, single_patient); appends warnings on an
    optimistic single-patient split and on classes missing from one side."""
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
    return train, val, counts, single
