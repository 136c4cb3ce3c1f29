"""What the AI dock shows about models, computed without Qt: the model list and its tips,
the class choice, the registry's messages, the model card (or what stands in for it) and the
texts and greyscale images of the model-input window.

Entries are read by attribute (``ref``, ``name``, ``version``, ``bundled``, ``folder``,
``manifest``) like :class:`medviewer.ai.registry` entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

PREDICTED_CLASS = "Predicted class"
NO_MODEL_INSTALLED = (
    "No model installed. Put a model package (manifest.json + weights) in the "
    "user models folder, then reopen the study."
)
INPUT_CAPTION = (
    "Exactly what the network receives: after windowing / normalisation to 0..1 and "
    "resizing to its input size (0 = black, 1 = white)."
)


@dataclass(frozen=True)
class ModelItem:
    """One line of the model list."""

    text: str
    ref: str
    tip: str


def model_item(entry) -> ModelItem:
    m = entry.manifest
    text = f"{entry.name} {entry.version}" + (" (bundled)" if entry.bundled else "")
    mods = ", ".join(m.modalities) or "any modality"
    tip = f"{entry.ref} — {m.architecture}, classes: " + ", ".join(m.classes)
    return ModelItem(text, entry.ref, f"{tip}; for {mods}")


def target_choices(entry) -> list[tuple[str, str | None]]:
    """The class choice of an explanation: (text, class); None is the predicted class."""
    choices: list[tuple[str, str | None]] = [(PREDICTED_CLASS, None)]
    if entry is not None:
        choices += [(name, name) for name in entry.manifest.classes]
    return choices


def target_index(choices: list[tuple[str, str | None]], previous: str | None) -> int:
    """Where the class chosen before is in ``choices`` (the predicted class when it is
    gone)."""
    if previous:
        for i, (_text, value) in enumerate(choices):
            if value == previous:
                return i
    return 0


def cannot_list(exc) -> str:
    return f"Could not list models: {exc}"


def unavailable(error: str) -> str:
    return f"Models unavailable: {error}"


def no_active(exc) -> str:
    return f"No active model: {exc}"


def not_remembered(ref: str, modality: str, exc) -> str:
    return f"{ref} not remembered as the {modality} model: {exc}"


# -- the model card ---------------------------------------------------------------------------
def read_card(entry) -> str | None:
    """The package's MODEL_CARD.md (Markdown), or None when it has none (or it is
    unreadable)."""
    if entry is None:
        return None
    path = Path(entry.folder) / "MODEL_CARD.md"
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def fallback_card(manifest) -> str:
    """What stands in for a missing model card: the manifest's own words."""
    m = manifest
    return (
        f"# {m.name} {m.version}\n\n{m.description or ''}\n\n"
        f"This package has no MODEL_CARD.md. Training data: {m.training_data or '?'}; "
        f"licence: {m.licence or '?'}."
    )


def card_title(ref: str) -> str:
    return f"Model card — {ref} (research use, not for diagnosis)"


# -- the model input --------------------------------------------------------------------------
def input_pending(index: int) -> str:
    return f"Preparing the model input for slice {index + 1}…"


def input_title(manifest, index: int, tensor: np.ndarray) -> str:
    """The shape, type and range of the tensor the model gets for slice ``index``."""
    c, h, w = tensor.shape
    return (
        f"{manifest.name} {manifest.version} — slice {index + 1}: {c} × {h} × {w} float32, "
        f"values {float(tensor.min()):.2f}..{float(tensor.max()):.2f}"
    )


def channel_text(preprocessing, channel: int) -> str:
    """How channel ``channel`` (0-based) was made from the slice."""
    pre = preprocessing
    if pre.kind == "ct_windows" and pre.windows:
        center, width = pre.windows[channel if len(pre.windows) > 1 else 0]
        lo, hi = center - width / 2, center + width / 2
        what = f"window {center:g}/{width:g} (HU {lo:g}..{hi:g} -> 0..1)"
    else:
        what = f"percentiles {pre.low:g}–{pre.high:g} of the slice"
    return f"Channel {channel + 1}: {what}"


def channel_grey(values: np.ndarray) -> np.ndarray:
    """A channel (0..1) as contiguous 8-bit grey (0 black, 255 white; clipped)."""
    return np.ascontiguousarray((np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))


__all__ = [
    "INPUT_CAPTION",
    "ModelItem",
    "NO_MODEL_INSTALLED",
    "PREDICTED_CLASS",
    "cannot_list",
    "card_title",
    "channel_grey",
    "channel_text",
    "fallback_card",
    "input_pending",
    "input_title",
    "model_item",
    "no_active",
    "not_remembered",
    "read_card",
    "target_choices",
    "target_index",
    "unavailable",
]
