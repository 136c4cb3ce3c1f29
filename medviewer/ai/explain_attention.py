"""The attention map: the output of the model's own spatial attention gate (the layer its
manifest names ``attention_layer``), read with a forward hook during one forward pass.

torch loads on first use.
"""

from __future__ import annotations

import threading

import numpy as np

from medviewer.ai.package import LoadedModel
from medviewer.errors import ModelError


class _Capture:
    """Forward hook keeping the first output of a layer seen in this thread."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.output = None

    def __call__(self, module, inputs, output):
        if threading.get_ident() == self.thread and self.output is None:
            self.output = output.detach() if hasattr(output, "detach") else output


def attention_map(model: LoadedModel, tensor):
    """(attention map on its own grid, min-max normalised, logits); the caller holds
    ``model.lock``."""
    import torch

    from medviewer.ai.builders import find_module

    layer = find_module(model.module, model.manifest.attention_layer)
    capture = _Capture()
    handle = layer.register_forward_hook(capture)
    try:
        with torch.no_grad():
            logits = model.module(tensor)[0].detach().float().cpu()
    finally:
        handle.remove()
    att = capture.output
    if getattr(att, "ndim", None) != 4:
        shape = tuple(att.shape) if hasattr(att, "shape") else type(att).__name__
        raise ModelError(
            f"{model.manifest.ref}: attention layer {model.manifest.attention_layer!r} gave "
            f"{shape}, expected a (batch, 1, h, w) map; fix 'attention_layer' in the manifest"
        )
    a = att[0].float().mean(dim=0).cpu().numpy().astype(np.float32)
    lo, hi = float(a.min()), float(a.max())
    a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return a, logits
