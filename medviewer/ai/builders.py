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


class ChannelGate(nn.Module):
    """CBAM channel attention: a shared MLP over average- and max-pooled features."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(x.mean(dim=(2, 3), keepdim=True))
        mx = self.mlp(x.amax(dim=(2, 3), keepdim=True))
        return x * torch.sigmoid(avg + mx)


class SpatialGate(nn.Module):
    """CBAM spatial attention; ``map`` outputs the (B, 1, h, w) sigmoid map shown to users."""

    def __init__(self, kernel: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2)
        self.map = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * self.map(self.conv(pooled))


class CBAMBlock(nn.Module):
    """A ResNet basic block whose residual branch passes channel then spatial attention."""

    def __init__(self, cin: int, cout: int, stride: int = 1, attention: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.channel = ChannelGate(cout) if attention else nn.Identity()
        self.spatial = SpatialGate() if attention else nn.Identity()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.spatial(self.channel(out))
        return self.relu(out + self.shortcut(x))


class CBAMResNet(nn.Module):
    """A compact ResNet with CBAM attention in the two deepest stages (stride 8 at the end).

    Stem (stride 4) -> ``stage1`` (64x64 for a 256 input) -> ``stage2`` (32x32, attention) ->
    ``stage3`` (32x32, attention; the CAM target) -> global average pooling -> ``head``.
    The attention map shown to users is ``stage3.1.spatial.map``: where the last block lets
    features through.
    """

    def __init__(self, in_channels: int, n_classes: int, widths=(32, 48, 96, 128)) -> None:
        super().__init__()
        w0, w1, w2, w3 = widths
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, w0, 3, 2, 1, bias=False),
            nn.BatchNorm2d(w0),
            nn.ReLU(inplace=True),
            nn.Conv2d(w0, w1, 3, 2, 1, bias=False),
            nn.BatchNorm2d(w1),
            nn.ReLU(inplace=True),
        )
        self.stage1 = nn.Sequential(CBAMBlock(w1, w1), CBAMBlock(w1, w1))
        self.stage2 = nn.Sequential(
            CBAMBlock(w1, w2, stride=2, attention=True), CBAMBlock(w2, w2, attention=True)
        )
        self.stage3 = nn.Sequential(
            CBAMBlock(w2, w3, attention=True), CBAMBlock(w3, w3, attention=True)
        )
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(w3, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.head(f.mean(dim=(2, 3)))


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
    if architecture == "attention_cnn":
        return AttentionCNN(in_channels, n_classes)
    if architecture == "cbam_resnet":
        return CBAMResNet(in_channels, n_classes)
    if architecture == "lesion_evidence":
        from medviewer.ai.net_evidence import LesionEvidenceNet

        return LesionEvidenceNet(in_channels, n_classes)
    # torchvision takes ~1.4 s to import: only for the architectures that come from it
    import torchvision.models as tvm

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
