"""The AI dock's status, computed without Qt: its message line (warnings, notices, errors),
the progress bar of a run, which controls a run leaves usable, and why a run or a model
view cannot start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_MESSAGES = 6
"""The message line keeps the last few messages."""

NO_STUDY = "Open a study first"
STILL_LOADING = "The series is still loading; try again when it has loaded"
NO_MODEL_TO_RUN = "No model to run: install a model package first"
NO_MODEL_CHOSEN = "No model chosen"


class MessageLog:
    """The messages the dock shows, each once, the last :data:`MAX_MESSAGES` of them."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, text) -> str | None:
        """Take ``text``; returns it (stripped) when it is new, None when it is empty or
        already shown."""
        text = str(text).strip()
        if not text or text in self.messages:
            return None
        self.messages.append(text)
        self.messages = self.messages[-MAX_MESSAGES:]
        return text

    def clear(self) -> None:
        self.messages = []

    def text(self) -> str:
        return "\n".join(f"• {m}" for m in self.messages)


class RunWarnings:
    """The warnings of one run, each said once: the input checks come before the slices are
    classified and again in the result, and the message line keeps only the last few."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def reset(self) -> None:
        self._seen = set()

    def first_time(self, text) -> str | None:
        """``text`` (stripped) the first time this run sees it, else None."""
        text = str(text).strip()
        if text in self._seen:
            return None
        self._seen.add(text)
        return text


@dataclass(frozen=True)
class Controls:
    """Which of the dock's controls can be used."""

    run: bool
    cancel: bool
    model: bool
    """The model and device choice."""
    model_input: bool


def controls(has_model: bool, running: bool) -> Controls:
    """A run locks the model and device choice and can only be cancelled."""
    return Controls(
        run=has_model and not running,
        cancel=running,
        model=not running,
        model_input=has_model,
    )


@dataclass(frozen=True)
class ProgressView:
    """What the progress bar shows; None leaves that part as it is. ``maximum`` 0 is a busy
    bar (the range is always 0 .. maximum)."""

    maximum: int | None = None
    value: int | None = None
    format: str | None = None


def progress_idle() -> ProgressView:
    """Nothing run on this series (yet): an empty bar without the last run's words."""
    return ProgressView(1, 0, "")


def progress_busy() -> ProgressView:
    return ProgressView(0)


def progress_step(step) -> ProgressView:
    """A run's Progress step: its count when it has a total, and its message."""
    maximum = value = fmt = None
    if step.total:
        maximum, value = int(step.total), int(step.done)
    if step.message:
        fmt = f"%v/%m  {step.message}" if step.total else step.message
    return ProgressView(maximum, value, fmt)


def progress_done(n: int) -> ProgressView:
    return ProgressView(max(n, 1), n, f"{n} slices classified")


def progress_cancelled(done: int, n: int) -> ProgressView:
    return ProgressView(max(n, 1), done, "cancelled")


def progress_failed() -> ProgressView:
    return ProgressView(1, 0, "failed")


def loading_problem(volume) -> str | None:
    """Why ``volume`` cannot be classified yet (some slices still loading), or None."""
    loaded = getattr(volume, "loaded", None)
    if loaded is not None and not bool(np.all(loaded)):
        return STILL_LOADING
    return None


__all__ = [
    "Controls",
    "MAX_MESSAGES",
    "MessageLog",
    "NO_MODEL_CHOSEN",
    "NO_MODEL_TO_RUN",
    "NO_STUDY",
    "ProgressView",
    "RunWarnings",
    "STILL_LOADING",
    "controls",
    "loading_problem",
    "progress_busy",
    "progress_cancelled",
    "progress_done",
    "progress_failed",
    "progress_idle",
    "progress_step",
]
