"""The worklist dock's status line and buttons, without Qt: a running triage (series done,
series per minute, time left, paused), its summary, the cancelled notice, reading a results
file. TriageEvent and TriageSummary (:mod:`medviewer.triage.job`) are read by attribute.
"""

from __future__ import annotations

from dataclasses import dataclass

from medviewer.triage.records import duration_text


@dataclass(frozen=True)
class Controls:
    start: bool
    pause: bool
    pause_text: str
    cancel: bool
    open_results: bool


def controls(running: bool, paused: bool) -> Controls:
    return Controls(
        start=not running,
        pause=running,
        pause_text="Resume" if running and paused else "Pause",
        cancel=running,
        open_results=not running,
    )


def progress_text(event, paused: bool = False) -> str:
    """The status line of a running triage from its latest TriageEvent."""
    if event is None:
        return "Triage: scanning…"
    done, total = int(event.done), int(event.total or 0)
    if event.kind == "scanning":
        return f"Scanning: {done}/{total} files" if total else "Scanning…"
    if paused or event.kind == "paused":
        return f"Paused: {done}/{total} series done (Resume goes on, Cancel stops)"
    parts = [f"Triage: {done}/{total} series"]
    if event.series_per_min:
        parts.append(f"{event.series_per_min:.1f} series/min")
    if event.eta_s is not None and done < total:
        parts.append(f"about {duration_text(event.eta_s)} left")
    return " · ".join(parts)


def summary_text(summary) -> str:
    """What a finished triage did (a TriageSummary)."""
    text = f"Triage done: {summary.done} series classified"
    if summary.already:
        text += f", {summary.already} already stored"
    if summary.skipped:
        text += f", {summary.skipped} skipped"
    if summary.failed:
        text += f", {summary.failed} failed"
    return text + f" in {duration_text(summary.seconds)}"


CANCELLING = "Cancelling after the current series…"


def reading_text(path) -> str:
    return f"Reading {path}…"


def results_text(path) -> str:
    return f"Results of {path}"


def cancelled_text(stored: int) -> str:
    return (
        f"Triage cancelled: {stored} series stored; start it again on the same folders to go "
        "on where it stopped"
    )


__all__ = [
    "CANCELLING",
    "Controls",
    "cancelled_text",
    "controls",
    "progress_text",
    "reading_text",
    "results_text",
    "summary_text",
]
