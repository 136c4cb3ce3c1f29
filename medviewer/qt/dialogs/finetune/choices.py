"""What the fine-tuning dialog offers to choose: (value, label[, help]) tables, no Qt."""

from __future__ import annotations

DEFAULT_BASE = "headct-lesions"
"""The base model preselected when the modality has no active model."""
REVIEW_CHOICES = (
    ("not_flagged", "Every final label not flagged by a reviewer"),
    ("approved", "Only labels a reviewer approved"),
    ("any", "Every final label (flagged ones too)"),
)
MODES = (
    (
        "two_stage",
        "Two stages (recommended)",
        "First the new output layer alone, then every layer at a tenth of the learning rate",
    ),
    (
        "probe",
        "Linear probe (fastest)",
        "Only the output layer learns; the rest of the network stays as it is",
    ),
    ("full", "Full fine-tune", "Every layer learns from the start"),
)
MONITORS = (
    ("macro_f1", "macro F1"),
    ("val_loss", "validation loss"),
    ("macro_auc", "macro AUC"),
    ("accuracy", "accuracy"),
)
OPTIMIZERS = (("adamw", "AdamW"), ("sgd", "SGD with momentum 0.9"))
LOSSES = (
    ("ce_weighted", "Cross-entropy, classes weighted by rarity"),
    ("ce", "Cross-entropy"),
    ("focal", "Focal loss"),
)
DEVICES = ("auto", "cpu", "cuda", "mps")
LEAVE_OUT = "\x00leave-out"
"""Combo data of the "leave out" choice of a class mapping."""


def monitor_name(key: str) -> str:
    """The words for a monitored metric (``"macro_f1"`` -> ``"macro F1"``)."""
    return dict(MONITORS).get(key, key)


def mode_help(index: int) -> str:
    """The help line of the ``index``-th training mode ("" out of range)."""
    return MODES[index][2] if 0 <= index < len(MODES) else ""
