"""Explanations for one slice: Grad-CAM family maps (pytorch-grad-cam) and the attention map.

Every map is computed on exactly the tensor the model sees (:meth:`LoadedModel.preprocess`),
then brought back to the slice's own pixel grid with :meth:`LoadedModel.to_slice`, so pixel
(r, c) of ``Explanation.map`` lies over pixel (r, c) of the slice that was explained.

The CAM methods are pytorch-grad-cam's own classes. Two things are ours:

- *Backward stops at the CAM layer* (``explain_cam``): a forward hook hands the rest of the
  network a fresh leaf copy of the target layer's output, so backward no longer walks the
  backbone; the gradient the CAM methods read is unchanged.
- *Faithfulness* is pytorch-grad-cam's ROAD metric (``explain_road``, :data:`FAITHFULNESS_NAME`),
  in [-1, 1]; **higher is better** (the map points at what the model uses), around 0 means the
  map tells no more than chance.

This module runs an explanation (:func:`explain`, :func:`explain_iter`) and is the public face
of the pieces: ``explain_methods`` (method table, :class:`Explanation`, argument checks),
``explain_cam`` (the CAM maps), ``explain_attention`` (the attention map), ``explain_road``
(faithfulness) and ``explain_cache`` (:class:`ExplanationCache`).

No Qt here; torch and pytorch_grad_cam load on first use.
"""

from __future__ import annotations

import copy

import numpy as np

from medviewer.ai.explain_attention import attention_map
from medviewer.ai.explain_cache import ExplanationCache
from medviewer.ai.explain_cam import SCORECAM_BATCH, cam_map
from medviewer.ai.explain_methods import (
    GRADIENT_METHODS,
    METHOD_LABELS,
    METHOD_NOTES,
    METHODS,
    NOTE,
    TARGET_INDEPENDENT,
    Explanation,
    available_methods,
    check_method,
    check_values,
    target_index,
)
from medviewer.ai.explain_road import (
    FAITHFULNESS_HELP,
    FAITHFULNESS_NAME,
    FAITHFULNESS_PERCENTILES,
    FAITHFULNESS_SEED,
    faithfulness_steps,
)
from medviewer.ai.package import LoadedModel
from medviewer.jobs import CancelToken, Job, Progress

__all__ = [
    "FAITHFULNESS_HELP",
    "FAITHFULNESS_NAME",
    "FAITHFULNESS_PERCENTILES",
    "FAITHFULNESS_SEED",
    "GRADIENT_METHODS",
    "METHODS",
    "METHOD_LABELS",
    "METHOD_NOTES",
    "NOTE",
    "SCORECAM_BATCH",
    "TARGET_INDEPENDENT",
    "Explanation",
    "ExplanationCache",
    "available_methods",
    "explain",
    "explain_iter",
]


def _input_tensor(model: LoadedModel, values: np.ndarray, invert: bool):
    import torch

    x = model.preprocess(values, invert=invert)
    return torch.from_numpy(np.ascontiguousarray(x))[None].to(model.device)


def _steps(
    model: LoadedModel,
    values: np.ndarray,
    method: str,
    target: str | int | None,
    invert: bool,
    faithfulness: bool,
    truncate: bool = True,
):
    """Generator of (Explanation, steps done, steps in all): first the map without its
    faithfulness, then one step per ROAD percentile but the last, then the final one."""
    import torch

    check_method(model, method)
    values = check_values(values)
    index = target_index(model, target)
    shape = values.shape[:2]
    total = 1 + (len(FAITHFULNESS_PERCENTILES) if faithfulness else 0)
    with torch.inference_mode(False):  # a caller's inference mode would forbid gradients
        tensor = _input_tensor(model, values, invert)
    if method == "scorecam":
        # seconds of forward passes: on a private copy, so predictions need not wait
        with model.lock:
            net = copy.deepcopy(model.module)
        input_map, logits = cam_map(model, net, tensor, method, index)
        del net
        grid = input_map
    else:
        with model.lock:
            if method == "attention":
                grid, logits = attention_map(model, tensor)
                input_map = None
            else:
                input_map, logits = cam_map(model, model.module, tensor, method, index, truncate)
                grid = input_map
    if index is None:
        index = int(torch.argmax(logits))
    probability = float(torch.softmax(logits / model.manifest.temperature, dim=0)[index])
    heat = np.clip(model.to_slice(grid, shape), 0.0, 1.0).astype(np.float32, copy=False)
    heat.setflags(write=False)
    expl = Explanation(
        map=heat,
        method=method,
        target=model.manifest.classes[index],
        target_index=index,
        faithfulness=None,
        faithfulness_name=FAITHFULNESS_NAME,
        probability=probability,
    )
    if not faithfulness:
        yield expl, total, total
        return
    yield expl, 1, total
    if input_map is None:
        input_map = model.to_slice(grid, model.manifest.input_size)
    steps = faithfulness_steps(model, tensor, input_map, index)
    while True:
        try:
            done = next(steps)
        except StopIteration as stop:
            score = stop.value
            break
        yield expl, 1 + done, total
    yield (
        Explanation(
            map=heat,
            method=method,
            target=expl.target,
            target_index=index,
            faithfulness=score if np.isfinite(score) else None,
            faithfulness_name=FAITHFULNESS_NAME,
            probability=probability,
        ),
        total,
        total,
    )


def explain(
    model: LoadedModel,
    values: np.ndarray,
    method: str,
    target: str | int | None = None,
    *,
    invert: bool = False,
    faithfulness: bool = True,
) -> Explanation:
    """Explain ``model``'s score for ``target`` (default: the predicted class) on one slice.

    ``values`` is the raw slice (rows, cols[, 3]) as in ``Volume.array[k]``; ``invert`` is
    ``Volume.invert`` (MONOCHROME1). Runs on the model's device holding ``model.lock`` while
    hooks are attached to the shared module; Score-CAM (many forward passes) copies the network
    under the lock and runs on the copy, and the faithfulness score takes the lock for each of
    its forward passes only. Raises :class:`ModelError` for an unknown method or
    class, or a method this model cannot run (:func:`available_methods` says why).
    """
    *_, (result, _, _) = _steps(model, values, method, target, invert, faithfulness)
    return result


def explain_iter(
    model: LoadedModel,
    values: np.ndarray,
    method: str,
    target: str | int | None = None,
    *,
    invert: bool = False,
    cancel: CancelToken | None = None,
    faithfulness: bool = True,
) -> Job[Explanation]:
    """:func:`explain` as a job for a worker thread; returns the Explanation.

    Yields ``Progress(0, total, "computing Grad-CAM")`` first. With ``faithfulness`` it then
    yields ``Progress(1, total, ...)`` as soon as the map is ready and once per further ROAD
    percentile, each with ``detail`` = the Explanation without its faithfulness score, so a
    viewer can draw the map while the score is computed (``total`` = 1 + the percentiles).
    ``cancel`` is checked between steps (:class:`Cancelled`).
    """
    label = METHOD_LABELS.get(method, method)
    total = 1 + (len(FAITHFULNESS_PERCENTILES) if faithfulness else 0)
    yield Progress(0, total, f"computing {label}")
    if cancel is not None:
        cancel.raise_if_cancelled()
    result = None
    for expl, done, _ in _steps(model, values, method, target, invert, faithfulness):
        result = expl
        if done < total:
            message = f"{label} ready; checking its faithfulness ({done}/{total - 1})"
            yield Progress(done, total, message, detail=expl)
            if cancel is not None:
                cancel.raise_if_cancelled()
    return result
