"""``lesion_evidence``: a compact CNN whose class scores are pooled from per-class evidence maps.

The bundled head CT model 2.0 uses it. The network looks at one slice and draws, for every
class, a map of evidence on a 32 x 32 grid (8 x 8 pixels per cell for a 256 input). A class's
logit is a smooth maximum (log-mean-exp) of its map, so a lesion class scores high exactly
where some cell holds strong evidence, and that cell is where the explanation points:

    stem (stride 4) -> stage1 (64 x 64) -> stage2 (32 x 32) -> stage3 (16 x 16, wide context)
    -> ``fuse``: stage3 upsampled + stage2 (32 x 32; the Grad-CAM layer)
    -> ``head``: one linear layer per cell -> class maps (B, classes, 32, 32)
    -> logits: log-mean-exp of each map

During training the lesion maps (every class after the first, ``normal``) are also fitted to
the lesion masks, so the evidence lies on the lesion. ``attention`` outputs the network's own
lesion map, sigmoid of the strongest lesion class per cell (B, 1, 32, 32): the map the
viewer overlays as "attention", and the same numbers the logits are pooled from.

``head`` is a plain ``nn.Linear``, so fine-tuning finds it and can grow it for new classes as
for any other architecture. torch is imported by whoever imports this module (the builders).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def _conv_bn(cin: int, cout: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class Residual(nn.Module):
    """A ResNet basic block (two 3x3 convolutions and a shortcut)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)  # in place, as torchvision's blocks do: no new feature map
        return F.relu(out, inplace=True)


class Fuse(nn.Module):
    """Deep context (stage3, upsampled) added to finer features (stage2), then a 3x3 conv."""

    def __init__(self, deep: int, fine: int, width: int) -> None:
        super().__init__()
        self.deep = nn.Conv2d(deep, width, 1, bias=False)
        self.fine = nn.Conv2d(fine, width, 1, bias=False)
        self.mix = _conv_bn(width, width)

    def forward(self, deep: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(self.deep(deep), size=fine.shape[-2:], mode="nearest")
        return self.mix(up + self.fine(fine))


class LesionMap(nn.Module):
    """Sigmoid of the strongest lesion class per cell (classes after the first, ``normal``)."""

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        if maps.shape[1] < 2:
            return torch.sigmoid(maps[:, :1])
        return torch.sigmoid(maps[:, 1:].amax(dim=1, keepdim=True))


class LesionEvidenceNet(nn.Module):
    """See the module docstring. ~1 M parameters; about 0.4 GMAC for a 256 x 256 slice."""

    def __init__(
        self,
        in_channels: int,
        n_classes: int,
        widths: tuple[int, int, int, int, int] = (24, 32, 64, 160, 64),
        sharpness: float = 4.0,
    ) -> None:
        super().__init__()
        w0, w1, w2, w3, wf = widths
        self.sharpness = float(sharpness)
        self.stem = nn.Sequential(_conv_bn(in_channels, w0, 2), _conv_bn(w0, w1, 2))
        self.stage1 = Residual(w1, w1)
        self.stage2 = nn.Sequential(Residual(w1, w2, 2), Residual(w2, w2))
        self.stage3 = nn.Sequential(Residual(w2, w3, 2), Residual(w3, w3))
        self.fuse = Fuse(w3, w2, wf)
        self.dropout = nn.Dropout(0.1)
        self.head = nn.Linear(wf, n_classes)
        self.attention = LesionMap()

    def class_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Per-class evidence (logit) maps, (B, classes, h, w)."""
        fine = self.stage2(self.stage1(self.stem(x)))
        f = self.fuse(self.stage3(fine), fine)
        f = self.dropout(f)
        return self.head(f.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def pool(self, maps: torch.Tensor) -> torch.Tensor:
        """Log-mean-exp of each map: between its mean and its maximum (sharper as r grows)."""
        r = self.sharpness
        flat = maps.flatten(2)
        return (torch.logsumexp(r * flat, dim=2) - math.log(flat.shape[2])) / r

    def forward_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (B, classes), class maps (B, classes, h, w))."""
        maps = self.class_maps(x)
        self.attention(maps)  # the viewer's attention overlay hooks this output
        return self.pool(maps), maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_maps(x)[0]
