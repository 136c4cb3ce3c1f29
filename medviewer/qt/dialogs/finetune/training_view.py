"""What the Training page shows, computed without Qt: the fraction done, the curves' points,
the estimate of the time left and the texts of a run.

:class:`TrainingProgress` follows one run from the core's ``BatchProgress`` and
``EpochResult`` (read by attribute, so tests can feed it plain objects).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from medviewer.qt.dialogs.finetune.choices import monitor_name
from medviewer.qt.dialogs.finetune.formatting import fmt_duration

PROGRESS_STEPS = 1000
"""The progress bar's range: 0 .. PROGRESS_STEPS."""


def shown_value(e) -> float:
    """The monitored metric of an EpochResult as the user reads it: the core reports the
    validation loss negated (higher is better for every monitor); show the loss itself."""
    value = float(e.value)
    return -value if e.monitor == "val_loss" and value < 0 else value


def stage_name(stage: str) -> str:
    return "output layer" if stage == "head" else "all layers"


def time_left(spent: float, progressed: float, fraction: float) -> float | None:
    """Seconds left at the pace since the first batch: ``spent`` seconds moved the run on by
    ``progressed`` (a fraction of the whole) and ``fraction`` is done. None until at least 1 %
    and 1 s have passed (earlier estimates jump about)."""
    if progressed > 0.01 and spent > 1.0:
        return spent * (1.0 - fraction) / progressed
    return None


@dataclass(frozen=True)
class BatchStep:
    """What one batch changes on the Training page."""

    point_added: bool
    """A batch-loss point was added (the loss was finite)."""
    value: int
    """The progress bar's value (0 .. PROGRESS_STEPS)."""
    text: str
    eta: str


@dataclass(frozen=True)
class EpochStep:
    """What one finished epoch changes on the Training page."""

    xs: list[int]
    train: list[float]
    val: list[float]
    values: list[float]
    best: int | None
    """Index into ``xs`` of the best epoch so far (None: none marked best)."""
    value: int
    text: str
    log: str


@dataclass
class TrainingProgress:
    """Where one training run stands. The fraction done never goes back; the clock of the
    estimate starts with the first batch (loading and the first evaluation are not batches)."""

    t0: float
    """When the run started (``time.monotonic()``)."""
    history: list = field(default_factory=list)
    """The EpochResults so far."""
    batch_x: list[float] = field(default_factory=list)
    batch_y: list[float] = field(default_factory=list)
    fraction: float = 0.0
    n_slices: int = 0
    """Slices trained on since the first batch."""
    _t_batches: float | None = None
    _f_batches: float = 0.0

    @property
    def value(self) -> int:
        return int(round(self.fraction * PROGRESS_STEPS))

    def elapsed(self, now: float) -> float:
        return now - self.t0

    def batch(self, b, now: float) -> BatchStep:
        """Take a BatchProgress seen at ``now``."""
        n_batches = max(int(b.n_batches), 1)
        n_epochs = max(int(b.n_epochs), 1)
        done_epochs = len(self.history)
        within = min(max(int(b.batch), 0), n_batches) / n_batches
        x = done_epochs + within
        self.fraction = max(self.fraction, min(max(x / n_epochs, 0.0), 1.0))
        loss = float(b.loss)
        point_added = math.isfinite(loss)
        if point_added:
            self.batch_x.append(x)
            self.batch_y.append(loss)
        text = (
            f"epoch {done_epochs + 1}/{n_epochs} ({stage_name(b.stage)}) · batch "
            f"{min(int(b.batch), n_batches)}/{n_batches} · loss {loss:.3f}"
        )
        if self._t_batches is None:
            self._t_batches, self._f_batches = now, self.fraction
            self.n_slices = 0
        self.n_slices += int(b.batch_size)
        elapsed = self.elapsed(now)
        spent = now - self._t_batches
        left = time_left(spent, self.fraction - self._f_batches, self.fraction)
        if left is not None:
            eta = (
                f"About {fmt_duration(left)} left (elapsed {fmt_duration(elapsed)}, "
                f"{self.n_slices / spent:.1f} slices/s); scoring the new model follows"
            )
        else:
            eta = f"Elapsed {fmt_duration(elapsed)} — estimating the time left…"
        return BatchStep(point_added, self.value, text, eta)

    def epoch(self, e) -> EpochStep:
        """Take an EpochResult."""
        self.history.append(e)
        n = len(self.history)
        xs = list(range(1, n + 1))
        values = [shown_value(h) for h in self.history]
        best = [i for i, h in enumerate(self.history) if h.best]
        n_epochs = max(int(e.n_epochs), 1)
        self.fraction = max(self.fraction, n / n_epochs)
        monitor = monitor_name(e.monitor)
        log = (
            f"Epoch {n}/{n_epochs} ({stage_name(e.stage)}): training loss "
            f"{float(e.train_loss):.4f}, validation loss {float(e.val_loss):.4f}, "
            f"{monitor} {shown_value(e):.4f}"
            + (" — best so far" if e.best else "")
            + f" ({float(e.seconds):.1f} s)"
        )
        return EpochStep(
            xs=xs,
            train=[float(h.train_loss) for h in self.history],
            val=[float(h.val_loss) for h in self.history],
            values=values,
            best=best[-1] if best else None,
            value=self.value,
            text=f"epoch {n}/{n_epochs} done · {monitor} {shown_value(e):.3f}",
            log=log,
        )


def snapshot_note(plan) -> str:
    """The note above the curves: the run trains on the labels as they were checked."""
    n_labels = len(plan.train) + len(plan.val)
    return (
        f"Training on a snapshot of {n_labels} labels (snapshot "
        f"{str(plan.label_snapshot)[:12]}). Labels written while it trains are not in this "
        "run — check the data again afterwards for a run that includes them. The viewer "
        "stays usable meanwhile."
    )


def start_log(plan, options) -> str:
    """The first log line of a run."""
    return (
        f"Fine-tuning {plan.base_ref} ({options.mode}, up to {options.epochs} epochs, "
        f"lr {options.lr:g}, batch {options.batch_size}) on {len(plan.train)} slices; "
        f"validating on {len(plan.val)}"
    )


def scoring_text(which: str) -> str:
    """Progress text while the core scores ``which`` ("base" or "new") model."""
    model = "the base model" if which == "base" else "the new model"
    return f"scoring {model} on the validation slices…"


def scoring_log(which: str, n_val: int) -> str:
    model = "the base model" if which == "base" else "the new model"
    return f"Scoring {model} on the {n_val} validation slices"


def stopped_text(cancelled: bool, message: str, active: str) -> str:
    """Why a run ended without a new version, and that ``active`` (the active model) is
    untouched."""
    if cancelled:
        return f"Training cancelled. No new model version was saved; {active} stays as it was."
    return f"Training failed: {message}. No new model version was saved; {active} stays as it was."


__all__ = [
    "BatchStep",
    "EpochStep",
    "PROGRESS_STEPS",
    "TrainingProgress",
    "scoring_log",
    "scoring_text",
    "shown_value",
    "snapshot_note",
    "start_log",
    "stopped_text",
    "time_left",
]
