"""What a triage run will do with a scanned archive: the model that serves its series, the
series queued for it (this rank's shard), and every file and series left out, with the reason.

Pure bookkeeping over :class:`~medviewer.dicom.ScanResult` and the model registry: no pixels
are read and no weights are loaded here.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from medviewer.ai.registry_listing import IMPORT_HINT, ModelEntry
from medviewer.dicom.model import NO_PIXEL_DATA, ScanResult, SeriesInfo, Skipped, StudyInfo
from medviewer.errors import ModelError
from medviewer.triage.records import SkippedItem
from medviewer.triage.shard import rank_results_path, shard_of

UNREADABLE = "unreadable"
NOT_IMAGE = "not_image"
OTHER_MODALITY = "other_modality"
FAILED = "failed"


@dataclass(frozen=True)
class Queued:
    """One series the model will run on, with the study it belongs to."""

    series: SeriesInfo
    study: StudyInfo


@dataclass
class TriagePlan:
    """The queue (scan order) and what was left out (files first, then series)."""

    queue: list[Queued] = field(default_factory=list)
    skipped: list[SkippedItem] = field(default_factory=list)


def serves(entry: ModelEntry, modality: str) -> bool:
    """True when the model card lists ``modality`` (a card listing none serves any)."""
    listed = entry.manifest.modalities
    return not listed or (modality or "").strip().upper() in listed


def choose_model(registry, scan: ScanResult, model_ref: str | None) -> ModelEntry | None:
    """``model_ref``'s entry, else the active model serving the most scanned series (None when
    nothing was scanned). A :class:`~medviewer.errors.ModelError` when no model fits."""
    if model_ref:
        return registry.find(model_ref)
    series = scan.all_series()
    if not series:
        return None
    modalities = Counter((s.modality or "").strip().upper() for s in series)
    candidates: dict[str, ModelEntry] = {}
    for modality in modalities:
        entry = registry.active(modality) if modality else None
        if entry is not None:
            candidates[entry.ref] = entry
    if not candidates:
        found = ", ".join(sorted(m or "no modality" for m in modalities))
        raise ModelError(f"no model for the series found ({found}): {IMPORT_HINT}")

    def served(entry: ModelEntry) -> tuple[int, str]:
        n = sum(count for m, count in modalities.items() if serves(entry, m))
        return n, entry.ref

    return max(candidates.values(), key=served)


def file_item(item: Skipped) -> SkippedItem:
    """A file the scan could not use, as a triage skipped item (not_image or unreadable)."""
    if item.code == NO_PIXEL_DATA:
        return SkippedItem(
            item.path,
            NOT_IMAGE,
            f"{item.reason}: not an image (a report, structured document or other non-image "
            "object), nothing to classify",
        )
    return SkippedItem(
        item.path,
        UNREADABLE,
        f"{item.reason}; the file was left out (check that it is a complete DICOM image)",
    )


def _describe(series: SeriesInfo) -> str:
    text = f"{series.modality or 'no modality'} series"
    if series.description:
        text += f" {series.description!r}"
    return f"{text} ({series.n_frames} image(s))"


def other_modality_item(
    series: SeriesInfo, entry: ModelEntry, registry, model_ref: str | None
) -> SkippedItem:
    """A series of a modality ``entry`` is not made for; says which model would serve it."""
    modality = (series.modality or "").strip().upper()
    made_for = ", ".join(entry.manifest.modalities)
    hint = f"run the triage with a model made for {modality or 'it'} (--model NAME)"
    if modality:
        other = registry.active(modality)
        if other is not None and other.ref != entry.ref and serves(other, modality):
            hint = f"run `medviewer triage ... --model {other.ref}` for the {modality} series"
    return SkippedItem(
        series.key,
        OTHER_MODALITY,
        f"{_describe(series)}: {entry.ref} is made for {made_for}; {hint}",
    )


def failed_item(series: SeriesInfo, what: str, reason: str) -> SkippedItem:
    """A series that could not be loaded or classified (the run goes on)."""
    return SkippedItem(
        series.key,
        FAILED,
        f"{_describe(series)} could not be {what}: {reason}; it is tried again on the next run",
    )


def own_files(results_path, others=(), world: int = 1) -> list[str]:
    """The results files of a run and their SQLite journals (and the rank files of a merged
    file under ``torchrun``): never listed as unreadable when they lie in the archive."""
    mains = [results_path, *others]
    files = [*mains, *(rank_results_path(m, r) for m in others for r in range(world))]
    return [f"{f}{end}" for f in files for end in ("", "-wal", "-shm", "-journal")]


def make_plan(
    scan: ScanResult,
    entry: ModelEntry | None,
    registry,
    *,
    model_ref: str | None = None,
    shard: tuple[int, int] | None = None,
    own_files: Iterable[str] = (),
) -> TriagePlan:
    """Queue the series ``entry`` serves (only this rank's shard), list the rest.

    Files the scan could not use are listed by rank 0 only (every rank scans the same files),
    except ``own_files`` (the results files, when they lie inside the archive).
    """
    rank, world = shard if shard is not None else (0, 1)
    plan = TriagePlan()
    if rank == 0:
        own = {os.path.realpath(p) for p in own_files}
        plan.skipped.extend(
            file_item(s) for s in scan.skipped if os.path.realpath(s.path) not in own
        )
    for study in scan.studies:
        for series in study.series:
            if world > 1 and shard_of(series.series_uid, world) != rank:
                continue
            if entry is not None and not serves(entry, series.modality):
                plan.skipped.append(other_modality_item(series, entry, registry, model_ref))
            else:
                plan.queue.append(Queued(series, study))
    return plan
