"""The AI dock's jobs on worker threads: starting them through
:func:`medviewer.qt.workers.start_job` with every failure turned into a one-line message, and
loading the chosen model once (one model in memory at a time).

No widgets here. torch is never imported here: the registry loads it on the worker.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import shiboken6

from medviewer.errors import Cancelled, MedviewerError, ModelError
from medviewer.jobs import Progress
from medviewer.qt.workers import start_job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loaded:
    """A model loaded on a worker, with what the registry said while loading it."""

    key: tuple[str, str]
    model: object
    notices: tuple[str, ...]


@dataclass(frozen=True)
class InputWarnings:
    """What ``check_input`` said about the series, before its slices are classified."""

    messages: tuple[str, ...]


@dataclass(frozen=True)
class ExplainRequest:
    """One slice's explanation to compute (``key`` is its cache key)."""

    generation: int
    ref: str
    device: str
    index: int
    method: str
    target: str | None
    key: tuple
    volume: object = field(compare=False)


@dataclass(frozen=True)
class Failure:
    message: str
    cancelled: bool = False


def guarded(job):
    """Run ``job``; any exception comes back as a :class:`Failure` value instead of being
    raised, so it reaches the panel's message line (superqt would re-raise it on the GUI
    thread, and swallows RuntimeError, which torch raises, as an "aborted thread")."""
    try:
        return (yield from job)
    except GeneratorExit:
        raise
    except Cancelled as exc:
        return Failure(str(exc), cancelled=True)
    except MedviewerError as exc:
        return Failure(str(exc))
    except Exception as exc:
        log.debug("AI job failed", exc_info=exc)
        first = (str(exc).strip().splitlines() or [""])[0]
        return Failure(f"{type(exc).__name__}: {first}")


def start(job, on_progress, on_done, on_error):
    """:func:`start_job` for AI jobs: failures go to ``on_error`` with a one-line message,
    a cancelled job reports nothing."""

    def done(result):
        if isinstance(result, Failure):
            if not result.cancelled:
                on_error(result.message)
        else:
            on_done(result)

    return start_job(guarded(job), on_progress=on_progress, on_done=done, on_error=on_error)


class ModelLoader:
    """The loaded model, shared by the dock's jobs. ``registry`` is called (on the worker)
    for the registry, ``registry_error`` for why there is none."""

    def __init__(self, registry, registry_error) -> None:
        self._registry = registry
        self._registry_error = registry_error
        # the dict is replaced, never mutated, so reads without the lock are safe
        self._models: dict[tuple[str, str], Loaded] = {}
        self._lock = threading.Lock()

    def steps(self, ref: str, device: str):
        """Job part (worker thread): the loaded model for (ref, device), loading it if
        needed; the last step's detail is the :class:`Loaded`."""
        key = (ref, device)
        hit = self._models.get(key)
        if hit is None:
            yield Progress(0, None, f"loading {ref}…")
            with self._lock:
                hit = self._models.get(key)
                if hit is None:
                    registry = self._registry()
                    if registry is None:
                        raise ModelError(self._registry_error() or "no model registry")
                    model = registry.load(ref, device=device)
                    notices = tuple(getattr(registry, "last_notices", None) or ())
                    hit = Loaded(key, model, notices)
                    self._models = {key: hit}  # one model in memory at a time
        yield Progress(0, None, f"{ref} ready", detail=hit)
        return hit


__all__ = [
    "ExplainRequest",
    "Failure",
    "InputWarnings",
    "Loaded",
    "ModelLoader",
    "guarded",
    "start",
]


class Current:
    """The callbacks of one job, made to fire only while that job is still ``owner.worker``:
    the late results of a job that a newer one (or a reset) replaced are dropped.

        current = Current(self)
        current.worker = self.worker = start(job, current.guard(step), current.guard(done), ...)
    """

    def __init__(self, owner, attr: str = "worker") -> None:
        self._owner = owner
        self._attr = attr
        self.worker = None

    def guard(self, callback):
        def call(value):
            now = getattr(self._owner, self._attr, None)
            panel = getattr(self._owner, "panel", None)
            if panel is not None and not shiboken6.isValid(panel):
                return  # the dock was destroyed while the job ran: nobody to tell
            if now is not None and now is self.worker:
                callback(value)

        return call
