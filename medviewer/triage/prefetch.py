"""Series loaded ahead of the model: a bounded queue of :func:`load_volume_iter` jobs on
worker threads, handed out in queue order.

While the model classifies one series, the next ``depth`` series load on ``depth`` threads
(file reads release the GIL; big compressed series decode in processes inside the loader), so
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


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text or type(exc).__name__


class Prefetcher(Generic[T], Iterator["Loaded[T]"]):
    """Iterate ``items`` as :class:`Loaded`, loading up to ``depth`` series ahead.

    ``series_of(item)`` gives the :class:`SeriesInfo` of an item. Use as a context manager (or
    call :meth:`close`): closing cancels the loads still queued and waits for the running ones.
    """

    def __init__(self, items: Iterable[T], series_of, depth: int = 1) -> None:
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"prefetch depth must be a whole number of at least 1 (got {depth!r})")
        self._items = iter(items)
        self._series_of = series_of
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
            job = load_volume_iter(series, self._cancel)
            while True:
                next(job)
        except StopIteration as stop:
            return Loaded(item, stop.value, None, time.perf_counter() - start)
        except Cancelled:
            return Loaded(item, None, "cancelled", time.perf_counter() - start)
        except Exception as exc:  # a damaged series must not stop the archive
            log.debug("loading series %s failed", series.key, exc_info=True)
            return Loaded(item, None, _reason(exc), time.perf_counter() - start)

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
