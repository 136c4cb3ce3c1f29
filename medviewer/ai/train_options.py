"""How a fine-tuning run is asked to train: :class:`TrainOptions` and their checks."""

from __future__ import annotations

import math
from dataclasses import dataclass

from medviewer.errors import ModelError

MODES = ("probe", "full", "two_stage")
OPTIMIZERS = ("adamw", "sgd")
LOSSES = ("ce", "ce_weighted", "focal")
MONITORS = ("macro_f1", "val_loss", "macro_auc", "accuracy")


@dataclass(frozen=True)
class TrainOptions:
    """How to fine-tune (defaults suit a few hundred labeled slices)."""

    mode: str = "two_stage"
    epochs: int = 8
    head_epochs: int = 2
    lr: float = 1e-3
    batch_size: int = 16
    optimizer: str = "adamw"
    weight_decay: float = 1e-4
    loss: str = "ce_weighted"
    label_smoothing: float = 0.0
    augment: bool = True
    early_stopping: int = 3
    monitor: str = "macro_f1"
    seed: int = 0
    device: str = "auto"


def check_options(o: TrainOptions) -> None:
    """ModelError naming the option, what it must be and what it was."""

    def bad(name, must, got):
        return ModelError(f"training option {name} must be {must} (got {got!r})")

    if o.mode not in MODES:
        raise bad("mode", f"one of {', '.join(MODES)}", o.mode)
    if o.optimizer not in OPTIMIZERS:
        raise bad("optimizer", f"one of {', '.join(OPTIMIZERS)}", o.optimizer)
    if o.loss not in LOSSES:
        raise bad("loss", f"one of {', '.join(LOSSES)}", o.loss)
    if o.monitor not in MONITORS:
        raise bad("monitor", f"one of {', '.join(MONITORS)}", o.monitor)
    for name in ("epochs", "batch_size"):
        v = getattr(o, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise bad(name, "a whole number of at least 1", v)
    for name in ("head_epochs", "early_stopping", "seed"):
        v = getattr(o, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise bad(name, "a whole number of at least 0", v)
    if not (isinstance(o.lr, (int, float)) and o.lr > 0 and math.isfinite(o.lr)):
        raise bad("lr", "a positive number such as 1e-3", o.lr)
    if not (o.weight_decay >= 0):
        raise bad("weight_decay", "0 or more", o.weight_decay)
    if not (0.0 <= o.label_smoothing < 1.0):
        raise bad("label_smoothing", "between 0 and 1 (e.g. 0.1)", o.label_smoothing)
