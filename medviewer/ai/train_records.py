"""What a fine-tuning run reports: the ``Progress.detail`` records it yields and its result."""

from __future__ import annotations

from dataclasses import dataclass

from medviewer.ai.datasets import DataPlan
from medviewer.ai.registry import ModelEntry
from medviewer.ai.train_options import TrainOptions


@dataclass(frozen=True)
class BatchProgress:
    """Progress.detail after each training batch."""

    epoch: int
    n_epochs: int
    batch: int
    n_batches: int
    loss: float
    stage: str
    batch_size: int
    slices: int = 0
    """Slices in this batch (the last batch of an epoch may be smaller than batch_size)."""


@dataclass(frozen=True)
class EpochResult:
    """Progress.detail at the end of each epoch (validation of that epoch's weights)."""

    epoch: int
    n_epochs: int
    stage: str
    train_loss: float
    val_loss: float
    monitor: str
    value: float
    best: bool
    seconds: float


@dataclass(frozen=True)
class Evaluating:
    """Progress.detail while the base (``which="base"``) or new model is scored."""

    which: str


@dataclass
class FinetuneResult:
    """The new version (not activated) and how it compares with its base."""

    entry: ModelEntry
    base_ref: str
    plan: DataPlan
    options: TrainOptions
    base_metrics: dict
    new_metrics: dict
    history: list[EpochResult]
    warnings: list[str]
    device: str = "cpu"
    seconds: float = 0.0

    def to_json(self) -> dict:
        """The object ``medviewer train --json`` prints."""
        base_name, _, base_version = self.base_ref.partition(":")
        return {
            "model": {
                "name": self.entry.name,
                "version": self.entry.version,
                "path": str(self.entry.folder),
            },
            "base": {"name": base_name, "version": base_version},
            "split": {
                "train": len(self.plan.train),
                "val": len(self.plan.val),
                "patients_train": self.plan.patients.get("train", 0),
                "patients_val": self.plan.patients.get("val", 0),
            },
            "base_metrics": self.base_metrics,
            "new_metrics": self.new_metrics,
        }
