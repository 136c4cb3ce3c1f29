"""Reading the FINAL labels for fine-tuning: filters (annotators, review, label set), one
label per slice key (the ``consensus`` annotator wins, else all must agree), and the sha256
snapshot of the labels used."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from pathlib import Path

from medviewer.ai.dataset_plan import DataFilters, key_text
from medviewer.errors import ModelError, TrainingDataError
from medviewer.labels.schema import Annotation, SliceKey

REVIEWS = ("any", "approved", "not_flagged")
CONSENSUS = "consensus"


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


def read_labels(store_path, filters: DataFilters) -> tuple[list[Annotation], dict[str, int]]:
    """(one final slice label per key, sorted by UID; counts of what was left out and why)."""
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


def describe_filters(filters: DataFilters) -> str:
    """The filters in words, for messages."""
    parts = []
    if filters.annotators:
        parts.append(f"annotators {', '.join(filters.annotators)}")
    if filters.review != "any":
        parts.append(f"review {filters.review}")
    if filters.label_set:
        parts.append(f"label set {filters.label_set}")
    return "; ".join(parts) or "no filters"


def snapshot_hash(anns: list[Annotation]) -> str:
    """sha256 over the sorted (key, label, annotator, updated_at) of the labels used."""
    digest = hashlib.sha256()
    rows = sorted(
        (key_text(a.key), a.key.study_uid, a.label, a.annotator, a.updated_at) for a in anns
    )
    for row in rows:
        digest.update(("\x1f".join(row) + "\x1e").encode("utf-8"))
    return digest.hexdigest()
