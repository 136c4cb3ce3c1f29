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

The parts live in ``dataset_plan`` (DataPlan, filters, class mapping), ``dataset_labels``
(reading the final labels, snapshot hash), ``dataset_images`` (images by UID) and
``dataset_split`` (patient split, k-fold, leakage check); every name is importable from here
as before.
"""

from __future__ import annotations

import logging
from collections import Counter

from medviewer.ai.dataset_images import find_images, load_labeled_slices
from medviewer.ai.dataset_labels import CONSENSUS as CONSENSUS
from medviewer.ai.dataset_labels import REVIEWS as REVIEWS
from medviewer.ai.dataset_labels import describe_filters, read_labels, snapshot_hash
from medviewer.ai.dataset_plan import IGNORED_LABELS as IGNORED_LABELS
from medviewer.ai.dataset_plan import DataFilters, DataPlan, SplitOptions, map_classes
from medviewer.ai.dataset_plan import TrainItem as TrainItem
from medviewer.ai.dataset_plan import key_text as key_text
from medviewer.ai.dataset_split import MIN_PER_CLASS as MIN_PER_CLASS
from medviewer.ai.dataset_split import check_enough, check_leakage, split_items
from medviewer.errors import ModelError, TrainingDataError
from medviewer.jobs import CancelToken, Job, Progress

log = logging.getLogger(__name__)


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
    anns, ignored_counts = read_labels(store_path, filters)
    ignored: Counter = Counter(ignored_counts)
    if not anns:
        raise TrainingDataError(
            f"no final labels in {store_text} matching the filters ({describe_filters(filters)}): "
            "label slices (and mark them final), or loosen the filters"
        )

    # -- find the images
    needed, located, missing = yield from find_images(anns, data_dirs, cancel)

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
    warnings: list[str] = []
    mapping, unmapped, added = map_classes(
        [a.label for a in anns], base_classes, class_map, add_classes, entry.ref, warnings
    )

    # -- load the series, keep the labeled slices
    kept = yield from load_labeled_slices(
        located, series_by_key, needed, mapping, ignored, missing, cancel
    )
    items, used = kept.items, kept.used
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

    # -- enough data? the split
    per_class = check_enough(items, missing, unmapped, entry.ref, store_text)
    train, val, counts, single = split_items(items, split, per_class, warnings)
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
        pixels=kept.pixels,
        inverts=kept.inverts,
        series=kept.series,
    )
    check_leakage(plan)
    yield Progress(1, 1, f"{len(train)} training and {len(val)} validation slices ready")
    return plan


def prepare(store_path, base_ref: str | None = None, **kw) -> DataPlan:
    """Run :func:`prepare_iter` to the end (keywords as there, plus ``on_progress``)."""
    from medviewer.jobs import run_job

    on_progress = kw.pop("on_progress", None)
    return run_job(prepare_iter(store_path, base_ref, **kw), on_progress, kw.get("cancel"))
