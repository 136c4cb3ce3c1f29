"""Triage beyond one machine: the same run under ``torchrun``, the series sharded by UID.

``torchrun --nproc_per_node N [--nnodes M ...] -m medviewer triage ARCHIVE --results R``
starts N x M copies of the command. Each rank scans the archive (headers only), takes the
series whose :func:`shard_of` is its rank, and triages them into its own results file
(:func:`rank_results_path`, beside ``R``): every rank resumes from its own file, and from
``R`` itself, after a kill. When every rank is done (a collective over gloo, with a wait long
enough for the slowest shard), rank 0 merges the rank files into ``R`` and removes them.
Several nodes need ``R``'s folder on a filesystem they all share.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

log = logging.getLogger(__name__)

WAIT_FOR_RANKS = timedelta(days=7)
"""How long a rank that finished its shard waits for the others (gloo's default is 30 min)."""


def shard_of(series_uid: str, world: int) -> int:
    """The rank (0..world-1) that triages ``series_uid``: stable across processes, machines
    and Python versions (sha1 of the UID, not Python's salted ``hash``)."""
    if world <= 1:
        return 0
    digest = hashlib.sha1(series_uid.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % world


def rank_results_path(results_path, rank: int) -> Path:
    """Rank ``rank``'s own results file beside ``results_path``: ``R.rank1.sqlite`` for
    ``R.sqlite`` (the suffix kept, ``.sqlite`` when there is none)."""
    path = Path(results_path)
    suffix = path.suffix or ".sqlite"
    return path.with_name(f"{path.stem}.rank{rank}{suffix}")


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            p.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:  # merged already: a leftover costs nothing but space
            log.warning("could not remove %s after merging it: %s", p, exc)


def merge_ranks(results_path, world: int, model, accept_other_model: bool = False) -> int:
    """Merge the rank files 0..world-1 found beside ``results_path`` into it and remove them;
    returns the results added. A failed merge leaves every file in place."""
    from medviewer.triage.store import ResultsStore

    parts = [rank_results_path(results_path, r) for r in range(world)]
    parts = [p for p in parts if p.is_file()]
    added = 0
    with ResultsStore(results_path, model, accept_other_model=accept_other_model) as store:
        for part in parts:
            added += store.merge_from(part)
    for part in parts:
        _remove(part)
    return added


def _totals(group, summary) -> list[float]:
    """[done, already, skipped, failed, slowest seconds] over all ranks (a collective: every
    rank waits here for the slowest one)."""
    import torch
    import torch.distributed as dist

    counts = [summary.done, summary.already, summary.skipped, summary.failed]
    t = torch.tensor(counts, dtype=torch.float64)
    dist.all_reduce(t, group=group)
    slowest = torch.tensor([summary.seconds], dtype=torch.float64)
    dist.all_reduce(slowest, op=dist.ReduceOp.MAX, group=group)
    return [*t.tolist(), float(slowest.item())]


def run_distributed(paths, results_path, options=None, on_progress=None, *, registry=None):
    """Triage this rank's shard under ``torchrun``; rank 0 merges and returns the summary of
    the whole run (series per minute of all ranks together), other ranks return None.

    Without ``WORLD_SIZE`` > 1 this is :func:`~medviewer.triage.job.triage` into
    ``results_path``. ``on_progress`` is called on rank 0 only, with rank 0's own shard.
    """
    from medviewer.ai import ddp
    from medviewer.ai.device import pick_device
    from medviewer.triage.job import TriageOptions, TriageSummary, check_options, triage

    options = options or TriageOptions()
    check_options(options)
    if ddp.world_size() <= 1:
        return triage(paths, results_path, options, on_progress=on_progress, registry=registry)
    import torch.distributed as dist

    device, notices = pick_device(options.device)
    for text in notices:
        log.warning("%s", text)
    ctx, device = ddp.setup(device)
    try:
        group = dist.new_group(backend="gloo", timeout=WAIT_FOR_RANKS)
        own = rank_results_path(results_path, ctx.rank)
        summary = triage(
            paths,
            own,
            replace(options, device=device),
            on_progress=on_progress if ctx.is_main else None,
            registry=registry,
            shard=(ctx.rank, ctx.world_size),
            known_results=(results_path,),
        )
        done, already, skipped, failed, seconds = _totals(group, summary)
        if not ctx.is_main:
            return None
        if summary.model is not None:
            merge_ranks(results_path, ctx.world_size, summary.model, options.accept_other_model)
        rate = 60.0 * done / seconds if done and seconds > 0 else None
        return TriageSummary(
            results_path=os.fspath(results_path),
            model=summary.model,
            done=int(done),
            already=int(already),
            skipped=int(skipped),
            failed=int(failed),
            seconds=seconds,
            series_per_min=rate,
            warnings=[*notices, *(w for w in summary.warnings if w not in notices)],
        )
    finally:
        ddp.teardown(ctx)
