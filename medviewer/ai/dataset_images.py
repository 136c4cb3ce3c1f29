"""The images of labeled slices, found by DICOM UID: the folders recorded in the store
first, then the data folders given; each needed series is loaded once through the DICOM core
and the labeled slices' stored values (HU for CT) are kept for training."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from medviewer.ai.dataset_plan import IGNORED_LABELS, TrainItem, key_text
from medviewer.errors import TrainingDataError
from medviewer.jobs import Progress
from medviewer.labels.schema import Annotation


@dataclass
class LabeledSlices:
    """What :func:`load_labeled_slices` kept: the items and their labels, pixels, series."""

    items: list[TrainItem] = field(default_factory=list)
    used: list[Annotation] = field(default_factory=list)
    """The labels behind ``items`` (for the snapshot hash and the annotators)."""
    pixels: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)
    inverts: dict[str, bool] = field(default_factory=dict)
    series: dict[str, object] = field(default_factory=dict)


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


def find_images(anns: list[Annotation], data_dirs, cancel):
    """Job: locate the labeled slices; returns (slice id -> label, slice id -> (study,
    series), missing [(key text, why)])."""
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
    return needed, located, missing


def load_labeled_slices(
    located: dict[tuple, tuple],
    series_by_key: dict[str, tuple],
    needed: dict[tuple, Annotation],
    mapping: dict[str, str | None],
    ignored: Counter,
    missing: list[tuple[str, str]],
    cancel,
):
    """Job: load each located series once and keep its labeled slices as
    :class:`TrainItem`s (labels mapped with ``mapping``); returns :class:`LabeledSlices`.
    Unloadable series and undecodable slices are appended to ``missing``, unmapped or ignored
    labels counted in ``ignored``."""
    out = LabeledSlices()
    pixels, inverts, infos, items, used = out.pixels, out.inverts, out.series, out.items, out.used
    wanted_series: dict[str, list[tuple]] = defaultdict(list)
    for sid, (_, series) in located.items():
        wanted_series[series.key].append(sid)
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
    return out
