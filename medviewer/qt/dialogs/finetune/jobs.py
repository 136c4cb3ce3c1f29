"""The fine-tuning dialog's jobs (generators run on a worker by
:func:`medviewer.qt.workers.start_job`): reading the label store, checking the data, exporting
a package. No widgets here; the training core is imported inside the jobs, never at the top.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from medviewer.errors import Cancelled, MedviewerError
from medviewer.jobs import Progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobFailure:
    """A job that ended without a result, as a value the GUI thread can show.

    ``unmapped``: after a data error, the label classes the base model has no output for."""

    message: str
    cancelled: bool = False
    data_error: bool = False
    unmapped: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoreOverview:
    """What the label store holds, for the filters (read on a worker)."""

    path: str
    annotators: tuple[str, ...]
    label_sets: tuple[str, ...]
    final_counts: dict
    problem: str = ""


def failure_of(exc: BaseException) -> JobFailure:
    """The :class:`JobFailure` of an exception: our errors keep their message; anything else
    is named by its type and first line (the traceback goes to the debug log)."""
    from medviewer.errors import TrainingDataError

    if isinstance(exc, Cancelled):
        return JobFailure(str(exc), cancelled=True)
    if isinstance(exc, TrainingDataError):
        return JobFailure(str(exc), data_error=True)
    if isinstance(exc, MedviewerError):
        return JobFailure(str(exc))
    log.debug("fine-tuning job failed", exc_info=exc)
    first = (str(exc).strip().splitlines() or [""])[0]
    return JobFailure(f"{type(exc).__name__}: {first}")


def guarded(job):
    """Run ``job``; an exception comes back as a :class:`JobFailure` value (superqt would
    re-raise it on the GUI thread, and takes torch's RuntimeError for an aborted thread)."""
    try:
        return (yield from job)
    except GeneratorExit:
        raise
    except Exception as exc:
        return failure_of(exc)


def current_only(owner, attr: str, current: dict, callback):
    """``callback``, called only while ``owner.<attr>`` is still the worker in
    ``current["worker"]`` (a cancelled or replaced job's late callbacks are dropped)."""

    def call(value):
        worker = getattr(owner, attr)
        if worker is not None and worker is current.get("worker"):
            callback(value)

    return call


def training_core_loaded() -> bool:
    """Whether the training core is imported (by :func:`store_overview_job`, on a worker)."""
    return "medviewer.ai.train" in sys.modules and "medviewer.ai.datasets" in sys.modules


def store_overview_job(store_path):
    """Job: annotators, label sets and final-label counts of the store (read-only).

    It first imports the training core on this worker (a second or more: scipy), so that the
    GUI thread never waits for it."""
    yield Progress(0, None, "loading the training tools")
    import medviewer.ai.datasets  # noqa: F401
    import medviewer.ai.train  # noqa: F401
    from medviewer.labels.store import LabelStore

    yield Progress(0, None, "reading the label store")
    path = Path(store_path)
    if not path.exists():
        return StoreOverview(
            str(path), (), (), {}, f"{path} does not exist yet: label some slices first"
        )
    store = LabelStore(path, read_only=True)
    try:
        finals = store.query(status="final")
    finally:
        store.close()
    counts: dict[str, int] = {}
    for ann in finals:
        counts[ann.label] = counts.get(ann.label, 0) + 1
    return StoreOverview(
        str(path),
        tuple(sorted({a.annotator for a in finals})),
        tuple(sorted({a.label_set for a in finals if a.label_set})),
        dict(sorted(counts.items())),
    )


def check_data_job(store_path, base_ref, base_classes, kwargs):
    """Job: :func:`prepare_iter`; when the data cannot train a model, the failure also names
    the label classes the base model does not know (so the dialog can offer a mapping)."""
    from medviewer.ai.datasets import IGNORED_LABELS, prepare_iter
    from medviewer.errors import TrainingDataError

    try:
        return (yield from prepare_iter(store_path, base_ref, **kwargs))
    except TrainingDataError as exc:
        unmapped: tuple[str, ...] = ()
        try:
            from medviewer.labels.store import LabelStore

            store = LabelStore(store_path, read_only=True)
            try:
                names = {a.label for a in store.query(status="final")}
            finally:
                store.close()
            known = set(base_classes) | set(IGNORED_LABELS)
            unmapped = tuple(sorted(names - known))
        except Exception as inner:  # the message of the data error is what matters
            log.debug("unmapped classes not listed: %s", inner)
        return JobFailure(str(exc), data_error=True, unmapped=unmapped)


def export_package_job(folder, dest_parent):
    """Job: copy a model package folder into ``dest_parent/<name>-<version>``, file by file,
    into a temporary folder renamed into place when complete. Returns the new folder."""
    src = Path(folder)
    dest_parent = Path(dest_parent)
    name = f"{src.parent.name}-{src.name}" if src.parent.name else src.name
    dest = dest_parent / name
    if dest.exists():
        raise MedviewerError(
            f"{dest} already exists: choose another folder or move the old copy away"
        )
    files = sorted(p for p in src.rglob("*") if p.is_file())
    tmp = dest_parent / f".{name}.part"
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        for i, path in enumerate(files):
            yield Progress(i, len(files), f"copying {path.name}")
            target = tmp / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        os.replace(tmp, dest)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise MedviewerError(
            f"cannot copy the model to {dest}: {exc.strerror or exc}; check free space and "
            "that the folder is writable"
        ) from None
    yield Progress(len(files), len(files), "copied")
    return dest


__all__ = [
    "JobFailure",
    "StoreOverview",
    "check_data_job",
    "current_only",
    "export_package_job",
    "failure_of",
    "guarded",
    "store_overview_job",
    "training_core_loaded",
]
