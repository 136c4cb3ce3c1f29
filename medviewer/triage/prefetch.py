"""Series loaded ahead of the model: a bounded queue of :func:`load_volume_iter` jobs on
worker threads, handed out in queue order.

While the model classifies one series, the next ``depth`` series load on ``depth`` threads
(file reads release the GIL; compressed series decode in the processes of a shared
:class:`~medviewer.dicom.decode_pool.DecoderPool`, so a decoder never holds the model's GIL), so
at most ``depth`` + 1 volumes are alive: the one being classified and the ones loading or
waiting. A series that cannot be loaded comes out with the reason instead of a volume: it never
stops the run.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from medviewer.dicom.decode_pool import DecoderPool
from medviewer.dicom.model import SeriesInfo
from medviewer.dicom.volume import Volume, load_volume_iter
from medviewer.errors import Cancelled
from medviewer.jobs import CancelToken

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Loaded(Generic[T]):
    """One queue item after loading: its volume, or why it has none."""

    item: T
    volume: Volume | None
    error: str | None
    seconds: float
    prepared: object = None
    """What ``prepare(volume)`` made on the loading thread (None without one, or if it
    failed: the consumer then does that work itself and meets the error there)."""


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text or type(exc).__name__


class Prefetcher(Generic[T], Iterator["Loaded[T]"]):
    """Iterate ``items`` as :class:`Loaded`, loading up to ``depth`` series ahead.

    ``series_of(item)`` gives the :class:`SeriesInfo` of an item; ``prepare(volume)``, when
    given, runs on the loading thread right after a load (the triage makes the network's inputs
    there); ``decoders``: a :class:`~medviewer.dicom.decode_pool.DecoderPool` for compressed
    series. Use as a context manager (or call :meth:`close`): closing cancels the loads still
    queued and waits for the running ones.
    """

    def __init__(
        self,
        items: Iterable[T],
        series_of,
        depth: int = 1,
        prepare=None,
        decoders: DecoderPool | None = None,
    ) -> None:
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"prefetch depth must be a whole number of at least 1 (got {depth!r})")
        self._items = iter(items)
        self._series_of = series_of
        self._prepare = prepare
        self._decoders = decoders
        self._cancel = CancelToken()
        self._pool = ThreadPoolExecutor(max_workers=depth, thread_name_prefix="medviewer-triage")
        self._queue: deque[Future] = deque()
        for _ in range(depth):
            self._submit_next()

    def _submit_next(self) -> None:
        item = next(self._items, None)
        if item is not None:
            self._queue.append(self._pool.submit(self._load, item))

    def _load(self, item: T) -> Loaded[T]:
        start = time.perf_counter()
        series: SeriesInfo = self._series_of(item)
        try:
            job = load_volume_iter(series, self._cancel, decoders=self._decoders)
            while True:
                next(job)
        except StopIteration as stop:
            volume = stop.value
        except Cancelled:
            return Loaded(item, None, "cancelled", time.perf_counter() - start)
        except Exception as exc:  # a damaged series must not stop the archive
            log.debug("loading series %s failed", series.key, exc_info=True)
            return Loaded(item, None, _reason(exc), time.perf_counter() - start)
        prepared = None
        if self._prepare is not None and not self._cancel.cancelled:
            try:
                prepared = self._prepare(volume)
            except Exception:  # the consumer meets it again, with its own handling
                log.debug("preparing series %s failed", series.key, exc_info=True)
        return Loaded(item, volume, None, time.perf_counter() - start, prepared)

    def __next__(self) -> Loaded[T]:
        if not self._queue:
            raise StopIteration
        head = self._queue.popleft()
        self._submit_next()  # the next load starts before waiting for this one
        return head.result()

    def close(self) -> None:
        """Stop: queued loads are dropped, running ones cancelled and waited for."""
        self._cancel.cancel()
        for future in self._queue:
            future.cancel()
        self._queue.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
