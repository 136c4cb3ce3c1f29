"""Decoder processes for compressed pixel data.

Pixel decoders hold the GIL, so threads do not speed them up; processes do. A load of one big
compressed series starts processes of its own (:func:`new_pool`); a job that loads many series
(a triage run) keeps one :class:`DecoderPool` warm for all of them, so the model's thread never
waits on a decoder.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def new_pool(workers: int):
    """A process pool of ``workers`` decoder processes (spawned: safe from any thread)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")  # safe from any thread, including Qt's
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


class DecoderPool:
    """Decoder processes kept for many loads (a triage run): each compressed slice is decoded
    in a child process, so this process' threads (the model) never wait on a decoder holding
    the GIL. Started on first use; a pool broken by a decoder crash is replaced for the next
    series (the series in flight finishes in this process). Use as a context manager."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, int(workers or min(os.cpu_count() or 1, 8)))
        self._pool = None

    def executor(self):
        """The running process pool (started now if needed), or None when processes cannot
        be started here (the caller then decodes in this process)."""
        if self._pool is None:
            try:
                self._pool = new_pool(self.workers)
            except (OSError, ValueError) as exc:
                log.debug("no decoder processes (%s); decoding in this process", exc)
        return self._pool

    def check(self) -> None:
        """Drop a pool that a crashed decoder broke, so the next series starts a fresh one."""
        if self._pool is not None and getattr(self._pool, "_broken", False):
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> DecoderPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
