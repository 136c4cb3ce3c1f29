"""Network builders by architecture name: torchvision classifiers and our attention CNN."""

from __future__ import annotations

import torch
from torch import nn


class SpatialAttention(nn.Module):
    """A 1-channel sigmoid map that gates the features; its output is the attention map."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.score = nn.Conv2d(channels, 1, kernel_size=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.score(features))


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class AttentionCNN(nn.Module):
    """A small CNN with a spatial attention gate before global pooling.

    ``features`` (the CAM target layer) -> ``attention`` (sigmoid map, B x 1 x h x w) ->
    attention-weighted average pooling -> ``classifier``.
    """

    def __init__(self, in_channels: int, n_classes: int, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _block(in_channels, width),
            _block(width, width * 2),
            _block(width * 2, width * 4),
            _block(width * 4, width * 4),
        )
        self.attention = SpatialAttention(width * 4)
        self.classifier = nn.Linear(width * 4, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        a = self.attention(f)
        pooled = (f * a).sum(dim=(2, 3)) / a.sum(dim=(2, 3)).clamp_min(1e-6)
        return self.classifier(pooled)


def _first_conv(module: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    return nn.Conv2d(
        in_channels,
        module.out_channels,
        module.kernel_size,
        module.stride,
        module.padding,
        bias=module.bias is not None,
    )


def build(architecture: str, in_channels: int, n_classes: int) -> nn.Module:
    """An untrained network of ``architecture`` for ``in_channels`` inputs, ``n_classes`` out."""
    import torchvision.models as tvm

    if architecture == "attention_cnn":
        return AttentionCNN(in_channels, n_classes)
    if architecture in ("resnet18", "resnet34", "resnet50"):
        net = getattr(tvm, architecture)(weights=None)
        net.conv1 = _first_conv(net.conv1, in_channels)
        net.fc = nn.Linear(net.fc.in_features, n_classes)
        return net
    if architecture == "densenet121":
        net = tvm.densenet121(weights=None)
        net.features.conv0 = _first_conv(net.features.conv0, in_channels)
        net.classifier = nn.Linear(net.classifier.in_features, n_classes)
        return net
    if architecture == "efficientnet_b0":
        net = tvm.efficientnet_b0(weights=None)
        net.features[0][0] = _first_conv(net.features[0][0], in_channels)
        net.classifier[-1] = nn.Linear(net.classifier[-1].in_features, n_classes)
        return net
    if architecture == "convnext_tiny":
        net = tvm.convnext_tiny(weights=None)
        net.features[0][0] = _first_conv(net.features[0][0], in_channels)
        net.classifier[-1] = nn.Linear(net.classifier[-1].in_features, n_classes)
        return net
    from medviewer.errors import ModelError

    raise ModelError(f"unknown architecture {architecture!r}")


def find_module(net: nn.Module, dotted: str) -> nn.Module:
    """The submodule at ``dotted`` (e.g. 'layer4' or 'features.3'), or ModelError."""
    from medviewer.errors import ModelError

    try:
        return net.get_submodule(dotted)
    except AttributeError:
        names = [n for n, _ in net.named_children()]
        raise ModelError(
            f"layer {dotted!r} not found in the network (top-level layers: {', '.join(names)})"
        ) from None
