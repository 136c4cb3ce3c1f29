"""The triage run: scan an archive, classify every series the model applies to, store one row
per series, most suspicious first when read back.

:func:`triage_iter` is a job (a generator of :class:`~medviewer.jobs.Progress` whose
``detail`` is a :class:`TriageEvent`). Headers are scanned once; the series the model serves
are queued (the others, and the files that are no image, are noted with the reason); series
already stored for this model are not repeated. The next ``workers`` series load on threads
(:mod:`medviewer.triage.prefetch`), and their network inputs are made there too, while the
model classifies the current one in batches
(:func:`~medviewer.ai.classifier.predict_iter`), and each series' row is stored in its own
transaction right after: killed at any moment, a run loses at most the series in flight, and
started again it goes on where it stopped.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from medviewer.dicom.scan import scan_iter
from medviewer.errors import MedviewerError, ModelError
from medviewer.jobs import CancelToken, Job, Progress, run_job
from medviewer.triage.plan import TriagePlan, choose_model, failed_item, make_plan, own_files
from medviewer.triage.records import (
    ModelIdentity,
    ResultsModelMismatch,
    SeriesResult,
    SkippedItem,
)
from medviewer.triage.store import ResultsStore

log = logging.getLogger(__name__)

PAUSE_EVENT_S = 1.0
"""While paused, a "paused" event is yielded this often (cancel is checked more often)."""
_PAUSE_POLL_S = 0.1


@dataclass
class TriageOptions:
    """How to run a triage (the command line's options)."""

    model_ref: str | None = None
    """NAME[:VERSION]; None: the active model serving most of the scanned series."""
    device: str = "auto"
    workers: int = 2
    """Series loaded ahead of the model, each on its own thread (compressed slices are decoded
    in a shared pool of processes). Two keep the model fed on 2 cores while a slow JPEG 2000
    series decodes; each adds at most one volume in memory."""
    batch_size: int = 16
    accept_other_model: bool = False
    """Add this model's results to a file holding another model's results (never replaced)."""
    precision: str = "auto"
    """"fp32"; "bf16": the network runs under bfloat16 autocast (2-3x faster on CPUs with AMX
    or AVX-512 BF16 and on recent GPUs, slower where bfloat16 is emulated); probabilities move
    by up to ~0.01 and each row says so in its warnings; "auto": bf16 where the device does it
    in hardware (:func:`~medviewer.ai.device.native_bf16`), else fp32. A triage only sorts the
    worklist: opening a series runs the model in float32 in the AI dock."""


PRECISIONS = ("auto", "fp32", "bf16")
BF16_NOTE = (
    "classified in bfloat16 (--precision auto on a CPU that computes it natively, or bf16): "
    "probabilities may differ from float32 by up to ~0.01; re-run the series in the AI dock "
    "for the float32 values"
)


@dataclass
class TriageEvent:
    """What one step of a triage was about.

    ``kind``: "scanning" (headers being read: ``done``/``total`` are files), "scanned" (the
    queue is known), "result", "skipped", "already" (stored by an earlier run) or "paused".
    Otherwise ``done``/``total`` count the queued series (already stored ones included);
    ``series_per_min`` and ``eta_s`` come from the series classified in this run.
    """

    kind: str
    result: SeriesResult | None = None
    skipped: SkippedItem | None = None
    done: int = 0
    total: int = 0
    series_per_min: float | None = None
    eta_s: float | None = None


@dataclass
class TriageSummary:
    """What a triage did: results stored by this run, series stored before, items skipped
    (files and series of other modalities), series that failed, time and speed; ``warnings``:
    notices for the whole run (e.g. the device asked for is absent, the CPU ran it)."""

    results_path: str
    model: ModelIdentity | None
    done: int
    already: int
    skipped: int
    failed: int
    seconds: float
    series_per_min: float | None
    warnings: list[str] = field(default_factory=list)
    precision: str | None = None
    """What the network ran in ("fp32" or "bf16"; None when nothing was classified)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "results_path": self.results_path,
            "model": None if self.model is None else self.model.to_dict(),
            "done": self.done,
            "already": self.already,
            "skipped": self.skipped,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "series_per_min": (
                None if self.series_per_min is None else round(self.series_per_min, 2)
            ),
            "warnings": list(self.warnings),
            "precision": self.precision,
        }


def check_options(options: TriageOptions) -> None:
    """A :class:`~medviewer.errors.MedviewerError` naming the first bad option."""
    from medviewer.ai.device import DEVICE_CHOICES

    for name in ("workers", "batch_size"):
        value = getattr(options, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise MedviewerError(
                f"{name.replace('_', ' ')} must be a whole number of at least 1 (got {value!r})"
            )
    if options.precision not in PRECISIONS:
        raise MedviewerError(
            f"precision must be one of {', '.join(PRECISIONS)} (got {options.precision!r})"
        )
    device = (options.device or "auto").strip().lower()
    if device not in DEVICE_CHOICES and not device.startswith("cuda:"):
        raise ModelError(
            f"unknown device {options.device!r}: choose one of {', '.join(DEVICE_CHOICES)}"
        )


class _Clock:
    """Series done / total and the speed of this run (series classified per minute)."""

    def __init__(self, total: int, already: int) -> None:
        self.total, self.done, self.classified = total, already, 0
        self.start: float | None = None

    def event(self, kind: str, **kw) -> TriageEvent:
        rate = eta = None
        if self.start is not None and self.classified:
            elapsed = max(time.perf_counter() - self.start, 1e-6)
            rate = 60.0 * self.classified / elapsed
            eta = (self.total - self.done) * 60.0 / rate
        return TriageEvent(
            kind, done=self.done, total=self.total, series_per_min=rate, eta_s=eta, **kw
        )

    def step(self, kind: str, message: str, **kw) -> Progress:
        return Progress(self.done, self.total, message, detail=self.event(kind, **kw))


def _open_store(path, entry, options: TriageOptions, known_results: Sequence):
    """The run's results store, its model and the series stored already (here or in
    ``known_results``, checked first: a mismatch there leaves no file behind)."""
    identity = ModelIdentity.of(entry.manifest)
    elsewhere = stored_elsewhere(known_results, identity, options.accept_other_model)
    store = ResultsStore(path, identity, accept_other_model=options.accept_other_model)
    return store, identity, store.done_keys() | elsewhere


def stored_elsewhere(paths: Sequence, identity: ModelIdentity, accept_other_model: bool):
    """Series keys other results files (e.g. a merged file) already hold for ``identity``;
    :class:`ResultsModelMismatch` when one holds only another model's results (unless
    ``accept_other_model``), as opening it for writing would."""
    keys: set[str] = set()
    for path in paths:
        if not os.path.isfile(path):
            continue
        with ResultsStore(path, read_only=True) as other:
            models = other.models()
            mine = [m for m in models if (m.name, m.sha256) == (identity.name, identity.sha256)]
            if models and not mine and not accept_other_model:
                raise ResultsModelMismatch(
                    f"the results file {path} holds results of {models[-1].describe()}, not of "
                    f"{identity.describe()}; it was left as it is: add {identity.ref}'s results "
                    "beside them only when asked to, or choose another results file",
                    stored=models[-1],
                    model=identity,
                    path=path,
                )
            keys |= {r.series_key for r in other.results(identity.sha256)}
    return keys


def _store(store: ResultsStore, what, item) -> bool:
    """``store.add`` / ``add_skipped`` with any SQLite failure as a ResultsStoreError."""
    try:
        return what(item)
    except sqlite3.Error as exc:
        from medviewer.triage.store_file import sqlite_error

        timeout = store.busy_timeout_s
        raise sqlite_error(exc, "store a triage result", store.path, timeout, None) from exc


def _wait_while_paused(pause, cancel, clock: _Clock):
    while pause is not None and pause.is_set():
        yield clock.step("paused", "paused")
        until = time.monotonic() + PAUSE_EVENT_S
        while pause.is_set() and time.monotonic() < until:
            if cancel is not None:
                cancel.raise_if_cancelled()
            time.sleep(_PAUSE_POLL_S)


def _classify(
    model, loaded, batch_size: int, aggregation: str, precision: str = "fp32"
) -> SeriesResult:
    from medviewer.ai.classifier import predict_iter
    from medviewer.triage.outcome import series_result

    start = time.perf_counter()
    job = predict_iter(
        model, loaded.volume, batch_size=batch_size, prepared=loaded.prepared, lead=False
    )
    if precision == "bf16":
        import torch

        device = "cuda" if str(model.device).startswith("cuda") else "cpu"
        # the inference copy is channels-last, which lets the bfloat16 convolutions use the
        # CPU's matrix units
        with torch.autocast(device_type=device, dtype=torch.bfloat16):
            prediction = run_job(job)
        prediction.warnings.append(BF16_NOTE)
    else:
        prediction = run_job(job)
    seconds = loaded.seconds + time.perf_counter() - start
    return series_result(
        loaded.item.study, loaded.volume, prediction, seconds=seconds, aggregation=aggregation
    )


def triage_iter(
    paths: Iterable,
    results_path,
    options: TriageOptions | None = None,
    *,
    registry=None,
    cancel: CancelToken | None = None,
    pause: threading.Event | None = None,
    shard: tuple[int, int] | None = None,
    known_results: Sequence = (),
) -> Job[TriageSummary]:
    """Triage ``paths`` (files, folders, DICOMDIRs) into the results file ``results_path``.

    ``registry``: a :class:`~medviewer.ai.registry.ModelRegistry` (default: a new one).
    ``pause`` set: waits between series, yielding a "paused" event every
    :data:`PAUSE_EVENT_S`. ``cancel``: :class:`~medviewer.errors.Cancelled` once the current
    series' row is stored. ``shard=(rank, world)``: only the series whose
    :func:`~medviewer.triage.shard.shard_of` is ``rank``. ``known_results``: other results
    files whose rows of this model count as done (a torchrun's merged file).

    A results file of another model: :class:`ResultsModelMismatch` (unless
    ``accept_other_model``), before any work when ``model_ref`` is given, else right after
    the scan. An unwritable results place, a full disk: :class:`ResultsStoreError`, what was
    stored is kept. Unreadable files and series are noted, never stop the run.
    """
    options = options or TriageOptions()
    check_options(options)
    if registry is None:
        from medviewer.ai.registry import ModelRegistry

        registry = ModelRegistry()
    from medviewer.dicom.decode_pool import DecoderPool

    started = time.perf_counter()
    store: ResultsStore | None = None
    entry = None
    done_keys: set[str] = set()
    # one pool of processes reads the headers of a big archive, then decodes its compressed
    # slices; while they read, a thread imports torch and loads the model
    decoders = DecoderPool()
    try:
        if options.model_ref:
            entry = registry.find(options.model_ref)
            store, _, done_keys = _open_store(results_path, entry, options, known_results)
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        _warm_up(registry, entry, options.device)
        job = scan_iter(list(paths), cancel, pool=decoders.executor())
        try:
            while True:
                step = next(job)
                event = TriageEvent("scanning", done=step.done, total=step.total or 0)
                yield Progress(step.done, step.total, step.message, detail=event)
        except StopIteration as stop:
            scan = stop.value
        if entry is None:
            entry = choose_model(registry, scan, None)
            if entry is not None:
                store, _, done_keys = _open_store(results_path, entry, options, known_results)
        own = own_files(results_path, known_results, shard[1] if shard else 1)
        plan = make_plan(
            scan, entry, registry, model_ref=options.model_ref, shard=shard, own_files=own
        )
        summary = yield from _run(
            plan, store, entry, done_keys, options, registry, cancel, pause, decoders
        )
        summary.results_path = str(results_path)
        summary.seconds = time.perf_counter() - started
        return summary
    finally:
        decoders.close()
        if store is not None:
            store.close()


def _warm_up(registry, entry, device: str) -> None:
    """On a thread: import torch and, when the model is known, load it (the registry caches
    it, so the run's own load finds it ready). A failure here is met again, and reported, by
    that load."""

    def load() -> None:
        try:
            if entry is None:
                import torch  # noqa: F401
            else:
                registry.load(ref=entry.ref, device=device)
        except Exception:
            log.debug("loading ahead of the run failed", exc_info=True)

    threading.Thread(target=load, name="medviewer-triage-warm-up", daemon=True).start()


def _run(plan: TriagePlan, store, entry, done_keys, options, registry, cancel, pause, decoders):
    """The part after the scan: note what is skipped, then classify the queue."""
    from medviewer.triage.prefetch import Prefetcher

    identity = None if entry is None else ModelIdentity.of(entry.manifest)
    todo = [q for q in plan.queue if q.series.key not in done_keys]
    already = [q for q in plan.queue if q.series.key in done_keys]
    clock = _Clock(len(plan.queue), 0)
    summary = TriageSummary("", identity, 0, 0, 0, 0, 0.0, None)
    what = entry.ref if entry is not None else "no model"
    yield clock.step(
        "scanned",
        f"{len(plan.queue)} series for {what} ({len(already)} stored before), "
        f"{len(plan.skipped)} item(s) left out",
    )
    for item in plan.skipped:
        if store is not None:
            _store(store, store.add_skipped, item)
        summary.skipped += 1
        yield clock.step("skipped", item.reason, skipped=item)
    for q in already:
        clock.done += 1
        summary.already += 1
        yield clock.step("already", f"{q.series.key} was stored before")
    if not todo:
        return summary
    from medviewer.ai.classifier import prepare_inputs
    from medviewer.ai.package import LoadedModel

    # the inputs are made on the loading threads from the model card alone (no weights needed)
    recipe = LoadedModel(manifest=entry.manifest, module=None, folder=entry.folder)
    prepare = partial(prepare_inputs, recipe)
    prefetch = Prefetcher(todo, lambda q: q.series, options.workers, prepare, decoders)
    with prefetch as loads:
        model = registry.load(ref=entry.ref, device=options.device)
        summary.precision = resolve_precision(options.precision, model.device)
        summary.warnings.extend(registry.last_notices)
        for text in registry.last_notices:
            log.warning("%s", text)
        clock.start = time.perf_counter()
        for loaded in loads:
            if cancel is not None:
                cancel.raise_if_cancelled()
            if pause is not None and pause.is_set():
                yield from _wait_while_paused(pause, cancel, clock)
            series = loaded.item.series
            clock.done += 1
            result = failure = None
            if loaded.volume is None:
                failure = failed_item(series, "loaded", loaded.error or "unknown error")
            else:
                try:
                    result = _classify(
                        model,
                        loaded,
                        options.batch_size,
                        entry.manifest.aggregation,
                        summary.precision,
                    )
                except (ModelError, ValueError, RuntimeError) as exc:  # this series only
                    failure = failed_item(series, "classified", str(exc))
            loaded = None  # at most `workers` + 1 volumes alive
            if result is not None:
                if _store(store, store.add, result):
                    summary.done += 1
                else:  # another run on the same file stored it meanwhile
                    summary.already += 1
                clock.classified += 1
                yield clock.step("result", _result_message(result), result=result)
            else:
                _store(store, store.add_skipped, failure)
                summary.failed += 1
                yield clock.step("skipped", failure.reason, skipped=failure)
    summary.series_per_min = clock.event("result").series_per_min
    return summary


def resolve_precision(precision: str, device: str) -> str:
    """ "fp32" or "bf16" for the option ``precision`` on ``device`` ("auto": bf16 where the
    hardware does it natively)."""
    if precision != "auto":
        return precision
    from medviewer.ai.device import native_bf16

    return "bf16" if native_bf16(device) else "fp32"


def _result_message(result: SeriesResult) -> str:
    what = result.series_description or result.series_key
    return f"{what}: {result.top_class} (suspicion {result.suspicion:.2f})"


def triage(paths, results_path, options: TriageOptions | None = None, **kw) -> TriageSummary:
    """Run :func:`triage_iter` to the end. Keywords: those of :func:`triage_iter`, and
    ``on_progress`` (called with each :class:`~medviewer.jobs.Progress`)."""
    on_progress = kw.pop("on_progress", None)
    return run_job(triage_iter(paths, results_path, options, **kw), on_progress, kw.get("cancel"))
