"""A faster copy of a network for inference: BatchNorm folded into its convolutions, and the
weights in channels-last memory order.

In eval mode a BatchNorm after a convolution is an affine map per channel, so it can be
folded into the convolution's weights and bias (``torch.nn.utils.fusion.fuse_conv_bn_eval``).
That removes one full pass over every feature map per convolution. Channels-last memory order
lets oneDNN (CPU) and cuDNN pick their fastest kernels. On 2 CPU cores the two together make
the bundled 2.0.0 network about 1.8x faster in float32, and about 3x faster under bfloat16
autocast on a CPU with AMX (6.4 -> 3.6 ms and 3.9 -> 1.2 ms per slice in batches of 16).

The folding is structural: a ``Conv2d`` directly followed by a ``BatchNorm2d`` in a plain
``nn.Sequential`` (one that does not override ``forward``), and the ``convN`` / ``bnN``
attribute pairs of ResNet-style blocks (``bn1(conv1(x))``). Such a pattern is an assumption
about how a module's ``forward`` uses its children, so the copy is checked against the
original on a test input: if the outputs differ by more than float32 rounding, the unfolded
copy is used (channels-last only) and the reason is logged. The original module is never
changed; explanations (which need gradients and hooks on named layers) and fine-tuning keep
using it.

torch is imported by whoever imports this module (the classifier, lazily).
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

log = logging.getLogger(__name__)

#: Largest allowed difference between the original's and the copy's outputs, relative to the
#: outputs' magnitude (float32 rounding of a folded convolution is ~1e-6).
TOLERANCE = 1e-4


def _foldable(conv: nn.Module, bn: nn.Module) -> bool:
    return (
        type(conv) is nn.Conv2d
        and type(bn) is nn.BatchNorm2d
        and bn.track_running_stats
        and bn.running_mean is not None
        and conv.out_channels == bn.num_features
    )


def fold_batchnorm(module: nn.Module) -> tuple[nn.Module, int]:
    """A copy of ``module`` (eval mode) with conv -> BatchNorm pairs folded; (copy, pairs)."""
    net = copy.deepcopy(module).eval()
    folded = 0
    for parent in list(net.modules()):
        children = parent._modules
        if isinstance(parent, nn.Sequential) and type(parent).forward is nn.Sequential.forward:
            names = list(children)
            for a, b in zip(names, names[1:], strict=False):
                if _foldable(children[a], children[b]):
                    children[a] = fuse_conv_bn_eval(children[a], children[b])
                    children[b] = nn.Identity()
                    folded += 1
            continue
        for name in list(children):
            if not name.startswith("conv"):
                continue
            bn_name = "bn" + name[len("conv") :]
            if bn_name in children and _foldable(children[name], children[bn_name]):
                children[name] = fuse_conv_bn_eval(children[name], children[bn_name])
                children[bn_name] = nn.Identity()
                folded += 1
    return net, folded


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or not bool(torch.isfinite(a).all()):
        return False
    scale = float(a.abs().max()) + 1.0
    return float((a - b).abs().max()) <= TOLERANCE * scale


def inference_copy(module: nn.Module, example: torch.Tensor) -> tuple[nn.Module, str]:
    """The fastest checked copy of ``module`` for inference on ``example``'s device, and a
    one-line description of what was done (for logs and benchmarks)."""
    device = example.device
    channels_last = device.type in ("cpu", "cuda") and example.ndim == 4
    was_training = module.training
    module.eval()
    try:
        # compared in float32 even when called under a bfloat16 autocast
        with torch.inference_mode(), torch.autocast(device.type, enabled=False):
            reference = module(example)
            net, folded = fold_batchnorm(module)
            if channels_last:
                net = net.to(memory_format=torch.channels_last)
            if folded and not _close(reference, net(example)):
                log.info(
                    "folding BatchNorm changed the outputs of %s; using it unfolded",
                    type(module).__name__,
                )
                net, folded = copy.deepcopy(module).eval(), 0
                if channels_last:
                    net = net.to(memory_format=torch.channels_last)
    finally:
        module.train(was_training)
    for p in net.parameters():
        p.requires_grad_(False)
    what = f"{folded} BatchNorm folded" + (", channels-last" if channels_last else "")
    return net, what
