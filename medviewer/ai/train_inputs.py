"""Training inputs: the plan's slices through the model's own ``preprocess`` (the inference
path) as float16 tensors, and seeded augmentation of model inputs."""

from __future__ import annotations

import math

import numpy as np

from medviewer.ai.datasets import DataPlan
from medviewer.errors import ModelError


def model_inputs(model, plan: DataPlan, items) -> tuple:
    """float16 (n, C, H, W) model inputs through ``model.preprocess`` and int64 labels."""
    import torch

    from medviewer.dicom.volume import load_volume

    need = [
        (it.series_key, it.index) for it in items if (it.series_key, it.index) not in plan.pixels
    ]
    for skey in sorted({s for s, _ in need}):  # a plan without pixels: read the series again
        series = plan.series.get(skey)
        if series is None:
            raise ModelError(f"series {skey} of the plan is unknown; prepare the data again")
        volume = load_volume(series)
        for it in items:
            if it.series_key == skey:
                plan.pixels[(skey, it.index)] = np.array(volume.array[it.index])
    h, w = model.manifest.input_size
    x = torch.empty((len(items), model.manifest.channels, h, w), dtype=torch.float16)
    for i, it in enumerate(items):
        arr = model.preprocess(
            plan.pixels[(it.series_key, it.index)], invert=plan.inverts.get(it.series_key, False)
        )
        x[i] = torch.from_numpy(arr)
    index = {c: i for i, c in enumerate(plan.classes)}
    y = torch.tensor([index[it.label] for it in items], dtype=torch.int64)
    return x, y


def augment_batch(x, generator, *, max_degrees: float = 10.0, max_shift: float = 0.06):
    """Random left-right flip, rotation (+-``max_degrees``), shift (+- a fraction of the size)
    and intensity (scale 0.9-1.1, offset +-0.05) of model inputs in [0, 1]; seeded."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    n = x.shape[0]
    u = torch.rand(n, 6, generator=generator, dtype=torch.float32)
    flip = torch.where(u[:, 0] < 0.5, -1.0, 1.0)
    theta = (u[:, 1] * 2 - 1) * math.radians(max_degrees)
    tx, ty = (u[:, 2] * 2 - 1) * max_shift * 2, (u[:, 3] * 2 - 1) * max_shift * 2
    cos, sin = torch.cos(theta), torch.sin(theta)
    mat = torch.stack(
        [torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1
    ).to(x.device, x.dtype)
    grid = F.affine_grid(mat, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    scale = (0.9 + 0.2 * u[:, 4]).to(x.device, x.dtype).view(n, 1, 1, 1)
    offset = ((u[:, 5] * 2 - 1) * 0.05).to(x.device, x.dtype).view(n, 1, 1, 1)
    return (out * scale + offset).clamp_(0.0, 1.0)
