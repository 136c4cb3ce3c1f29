"""Faithfulness of a map: pytorch-grad-cam's ROAD metric (:data:`FAITHFULNESS_NAME`).

The mean change of the target's probability when the least relevant pixels are removed
(replaced by noisy linear imputation) minus the change when the most relevant ones are, halved,
averaged over :data:`FAITHFULNESS_PERCENTILES`. It lies in [-1, 1]; **higher is better** (the
map points at what the model uses), around 0 means the map tells no more than chance.

torch and pytorch_grad_cam load on first use.
"""

from __future__ import annotations

import numpy as np

from medviewer.ai.heavy_imports import import_heavy
from medviewer.ai.package import LoadedModel

FAITHFULNESS_NAME = "ROAD (LeRF−MoRF)/2"
FAITHFULNESS_HELP = (
    "ROAD faithfulness in [-1, 1], higher is better: removing the pixels the map calls least "
    "relevant should change the class probability less than removing the most relevant ones; "
    "near 0 the map is no better than chance"
)
FAITHFULNESS_PERCENTILES = (25, 50, 75)
"""Percent of pixels kept at each step; each costs two sparse imputations of the input."""
FAITHFULNESS_SEED = 0


class _LockedForward:
    """The model as a callable that holds ``model.lock`` for each forward pass only.

    ROAD spends most of its time imputing pixels (no model involved); other threads may use
    the model meanwhile.
    """

    def __init__(self, model: LoadedModel) -> None:
        self.model = model

    def __call__(self, x):
        with self.model.lock:
            return self.model.module(x)


def faithfulness_steps(model: LoadedModel, tensor, input_map: np.ndarray, index: int):
    """Generator over :data:`FAITHFULNESS_PERCENTILES`; returns the ROAD combined score.

    pytorch-grad-cam's ``ROADCombined`` is ``(mean LeRF - mean MoRF) / 2`` over the
    percentiles, each term the class score after imputation minus the score before; the
    "before" cancels, so per percentile this is (LeRF after - MoRF after) / 2, computed with
    the package's ``ROADLeastRelevantFirst`` / ``ROADMostRelevantFirst``. One percentile per
    step lets a job report progress and be cancelled between them.
    """
    import_heavy(grad_cam=True)
    import torch
    from pytorch_grad_cam.metrics.road import ROADLeastRelevantFirst, ROADMostRelevantFirst
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    targets = [ClassifierOutputSoftmaxTarget(index)]
    cams = input_map[None].astype(np.float32)
    x = tensor.detach()
    forward = _LockedForward(model)
    terms = []
    gen = torch.Generator().manual_seed(FAITHFULNESS_SEED)
    for i, percentile in enumerate(FAITHFULNESS_PERCENTILES):
        # the imputation adds noise from torch's global generator: a fixed seed per step gives
        # the same score for the same map, without touching the caller's random state
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        with torch.random.fork_rng(devices=[]), torch.inference_mode(False):
            torch.manual_seed(seed)
            lerf = ROADLeastRelevantFirst(percentile)(x, cams, targets, forward, return_diff=False)
            morf = ROADMostRelevantFirst(percentile)(x, cams, targets, forward, return_diff=False)
        terms.append(float(np.asarray(lerf).reshape(-1)[0] - np.asarray(morf).reshape(-1)[0]) / 2)
        if i + 1 < len(FAITHFULNESS_PERCENTILES):
            yield i + 1
    return float(np.mean(terms))
