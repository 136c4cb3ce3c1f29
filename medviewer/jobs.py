"""Long jobs are generators that yield :class:`Progress` and return their result.

The command line drives them with :func:`run_job`; the Qt layer runs the very same generator on a
worker thread. Cancellation happens between yields: the driver stops iterating and calls
``close()`` on the generator, or a :class:`CancelToken` is checked by the job itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from medviewer.errors import Cancelled

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """One step of a long job.

    Parameters
    ----------
    done, total
        Units of work finished and expected (``total`` may be ``None`` when unknown).
    message
        A short human-readable description of the current step.
    detail
        Optional payload for a viewer (e.g. the partially filled volume).
    """

    done: int
    total: int | None
    message: str = ""
    detail: Any = None

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


Job = Generator[Progress, None, T]


class CancelToken:
    """Thread-safe flag a job polls between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


def run_job(
    job: Generator[Progress, None, T],
    on_progress: Callable[[Progress], None] | None = None,
    cancel: CancelToken | None = None,
) -> T:
    """Drive ``job`` to the end and return its result.

    Raises :class:`Cancelled` if ``cancel`` is set between two steps.
    """
    try:
        while True:
            step = next(job)
            if on_progress is not None:
                on_progress(step)
            if cancel is not None and cancel.cancelled:
                job.close()
                raise Cancelled()
    except StopIteration as stop:
        return stop.value
