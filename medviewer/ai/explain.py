"""Explanations for one slice: Grad-CAM family maps (pytorch-grad-cam) and the attention map.

Every map is computed on exactly the tensor the model sees (:meth:`LoadedModel.preprocess`),
then brought back to the slice's own pixel grid with :meth:`LoadedModel.to_slice`, so pixel
(r, c) of ``Explanation.map`` lies over pixel (r, c) of the slice that was explained.

The CAM methods are pytorch-grad-cam's own classes. Two things are ours:

- *Backward stops at the CAM layer.* A forward hook hands the rest of the network a fresh leaf
  copy of the target layer's output, and the layers before it run without autograd. The
  gradient of the class score with respect to that output, the only gradient the CAM methods
  read, is unchanged; backward no longer walks the backbone or computes weight gradients.
- *Faithfulness* is pytorch-grad-cam's ROAD metric (:data:`FAITHFULNESS_NAME`): the mean
  change of the target's probability when the least relevant pixels are removed (replaced by
  noisy linear imputation) minus the change when the most relevant ones are, halved, averaged
  over :data:`FAITHFULNESS_PERCENTILES`. It lies in [-1, 1]; **higher is better** (the map
  points at what the model uses), around 0 means the map tells no more than chance.

No Qt here; torch and pytorch_grad_cam load on first use.
"""

from __future__ import annotations

import copy
import threading
import types
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

from medviewer.ai.package import LoadedModel
from medviewer.errors import ModelError
from medviewer.jobs import CancelToken, Job, Progress

METHODS = (
    "gradcam",
    "gradcam++",
    "hirescam",
    "xgradcam",
    "layercam",
    "eigencam",
    "scorecam",
    "attention",
)
METHOD_LABELS = {
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "hirescam": "HiResCAM",
    "xgradcam": "XGrad-CAM",
    "layercam": "LayerCAM",
    "eigencam": "Eigen-CAM",
    "scorecam": "Score-CAM",
    "attention": "Attention map",
}
METHOD_NOTES = {
    "gradcam": "",
    "gradcam++": "",
    "hirescam": "",
    "xgradcam": "",
    "layercam": "",
    "eigencam": "the same map for every class: the first principal component of the features",
    "scorecam": "slower: one forward pass per feature channel of the CAM layer "
    "(in batches of 16), no gradients",
    "attention": "the model's own spatial attention gate; the same map for every class",
}
GRADIENT_METHODS = ("gradcam", "gradcam++", "hirescam", "xgradcam", "layercam")
TARGET_INDEPENDENT = ("eigencam", "attention")
SCORECAM_BATCH = 16

NOTE = (
    "CAM maps are normalised per image: colours compare regions within this slice, "
    "not across slices or models"
)
FAITHFULNESS_NAME = "ROAD (LeRF−MoRF)/2"
FAITHFULNESS_HELP = (
    "ROAD faithfulness in [-1, 1], higher is better: removing the pixels the map calls least "
    "relevant should change the class probability less than removing the most relevant ones; "
    "near 0 the map is no better than chance"
)
FAITHFULNESS_PERCENTILES = (25, 50, 75)
"""Percent of pixels kept at each step; each costs two sparse imputations of the input."""
FAITHFULNESS_SEED = 0


@dataclass(frozen=True, eq=False)
class Explanation:
    """A saliency map aligned with the slice it explains.

    ``map`` is float32 (rows, cols) in [0, 1], read-only, pixel-for-pixel over the slice.
    ``faithfulness`` is :data:`FAITHFULNESS_NAME` (higher is better, see
    :data:`FAITHFULNESS_HELP`), ``None`` when it was not computed.
    """

    map: np.ndarray
    method: str
    target: str
    target_index: int
    faithfulness: float | None
    faithfulness_name: str
    note: str = NOTE
    probability: float | None = None
    """The model's softmax probability of ``target`` for this slice."""

    @property
    def label(self) -> str:
        return METHOD_LABELS.get(self.method, self.method)


# -- what can run -----------------------------------------------------------------------------
def available_methods(model: LoadedModel) -> dict[str, str | None]:
    """Each of :data:`METHODS` -> ``None`` when it can run on ``model``, else why not."""
    out: dict[str, str | None] = dict.fromkeys(METHODS)
    if not model.manifest.attention_layer:
        out["attention"] = (
            f"{model.manifest.ref} has no attention layer (its manifest names none); "
            "use a CAM method"
        )
    return out


def _check_method(model: LoadedModel, method: str) -> None:
    if method not in METHODS:
        raise ModelError(f"unknown explanation method {method!r}: use one of {', '.join(METHODS)}")
    reason = available_methods(model).get(method)
    if reason:
        raise ModelError(f"{METHOD_LABELS[method]} is not available: {reason}")


def _target_index(model: LoadedModel, target: str | int | None) -> int | None:
    classes = model.manifest.classes
    if target is None:
        return None
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if 0 <= int(target) < len(classes):
            return int(target)
        raise ModelError(
            f"class index {int(target)} is out of range for {model.manifest.ref}: "
            f"0..{len(classes) - 1} ({', '.join(classes)})"
        )
    if isinstance(target, str) and target in classes:
        return classes.index(target)
    raise ModelError(
        f"unknown class {target!r} for {model.manifest.ref}: use one of {', '.join(classes)}"
    )


def _check_values(values: np.ndarray) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3):
        if arr.shape[0] >= 1 and arr.shape[1] >= 1:
            return arr
    raise ModelError(
        f"cannot explain an array of shape {arr.shape}: give one slice, (rows, cols) or "
        "(rows, cols, 3)"
    )


# -- computing maps ---------------------------------------------------------------------------
_QUIET_TQDM = types.SimpleNamespace(tqdm=lambda iterable, *args, **kwargs: iterable)


def _cam_class(method: str):
    import pytorch_grad_cam as pgc

    if method == "scorecam":
        # Score-CAM wraps its batches in a tqdm bar on stderr; the CLI and the GUI report
        # progress their own way.
        from pytorch_grad_cam import score_cam

        score_cam.tqdm = _QUIET_TQDM
    return {
        "gradcam": pgc.GradCAM,
        "gradcam++": pgc.GradCAMPlusPlus,
        "hirescam": pgc.HiResCAM,
        "xgradcam": pgc.XGradCAM,
        "layercam": pgc.LayerCAM,
        "eigencam": pgc.EigenCAM,
        "scorecam": pgc.ScoreCAM,
    }[method]


class _BackwardFromHere:
    """Forward hook on the CAM layer: later layers see a leaf copy of its output, with grad on.

    Only acts in the thread that made it, so a forward from another thread that slipped past
    the model lock is left untouched.
    """

    def __init__(self) -> None:
        self.thread = threading.get_ident()

    def __call__(self, module, inputs, output):
        import torch

        if threading.get_ident() != self.thread or not isinstance(output, torch.Tensor):
            return None
        torch.set_grad_enabled(True)  # thread-local; the caller's no_grad() restores it
        leaf = output.detach().requires_grad_(True)
        return leaf.clone()  # a non-leaf, so an in-place op after the layer stays legal


class _Capture:
    """Forward hook keeping the first output of a layer seen in this thread."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.output = None

    def __call__(self, module, inputs, output):
        if threading.get_ident() == self.thread and self.output is None:
            self.output = output.detach() if hasattr(output, "detach") else output


def _input_tensor(model: LoadedModel, values: np.ndarray, invert: bool):
    import torch

    x = model.preprocess(values, invert=invert)
    return torch.from_numpy(np.ascontiguousarray(x))[None].to(model.device)


def _cam_map(
    model: LoadedModel, net, tensor, method: str, index: int | None, truncate: bool = True
):
    """(map in model-input pixels, logits) of a pytorch-grad-cam method on ``net``.

    ``net`` is ``model.module`` (the caller holds ``model.lock``) or a private copy of it.
    """
    import torch
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from medviewer.ai.builders import find_module

    layer = find_module(net, model.manifest.cam_target_layer)
    targets = None if index is None else [ClassifierOutputTarget(index)]
    handle = None
    if method in GRADIENT_METHODS:
        if truncate:
            handle = layer.register_forward_hook(_BackwardFromHere(), prepend=True)
            grad_mode = torch.no_grad()
        else:
            grad_mode = torch.enable_grad()
            tensor = tensor.clone().requires_grad_(True)
    else:
        grad_mode = torch.no_grad()
    cam = _cam_class(method)(model=net, target_layers=[layer])
    if method == "scorecam":
        cam.batch_size = SCORECAM_BATCH
    try:
        with torch.inference_mode(False), grad_mode:
            grayscale = cam(input_tensor=tensor, targets=targets)
        logits = cam.outputs.detach()[0].float().cpu()
    except (RuntimeError, ValueError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"{METHOD_LABELS[method]} failed on {model.manifest.ref} at layer "
            f"{model.manifest.cam_target_layer!r} ({first}); check 'cam_target_layer' in its "
            "manifest names a convolutional layer the forward pass uses"
        ) from exc
    finally:
        cam.activations_and_grads.release()
        if handle is not None:
            handle.remove()
        net.zero_grad(set_to_none=True)
    return np.asarray(grayscale[0], dtype=np.float32), logits


def _attention_map(model: LoadedModel, tensor):
    """(attention map on its own grid, min-max normalised, logits)."""
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


def _faithfulness_steps(model: LoadedModel, tensor, input_map: np.ndarray, index: int):
    """Generator over :data:`FAITHFULNESS_PERCENTILES`; returns the ROAD combined score.

    pytorch-grad-cam's ``ROADCombined`` is ``(mean LeRF - mean MoRF) / 2`` over the
    percentiles, each term the class score after imputation minus the score before; the
    "before" cancels, so per percentile this is (LeRF after - MoRF after) / 2, computed with
    the package's ``ROADLeastRelevantFirst`` / ``ROADMostRelevantFirst``. One percentile per
    step lets a job report progress and be cancelled between them.
    """
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

    _check_method(model, method)
    values = _check_values(values)
    index = _target_index(model, target)
    shape = values.shape[:2]
    total = 1 + (len(FAITHFULNESS_PERCENTILES) if faithfulness else 0)
    with torch.inference_mode(False):  # a caller's inference mode would forbid gradients
        tensor = _input_tensor(model, values, invert)
    if method == "scorecam":
        # seconds of forward passes: on a private copy, so predictions need not wait
        with model.lock:
            net = copy.deepcopy(model.module)
        input_map, logits = _cam_map(model, net, tensor, method, index)
        del net
        grid = input_map
    else:
        with model.lock:
            if method == "attention":
                grid, logits = _attention_map(model, tensor)
                input_map = None
            else:
                input_map, logits = _cam_map(model, model.module, tensor, method, index, truncate)
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
    steps = _faithfulness_steps(model, tensor, input_map, index)
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


# -- cache ------------------------------------------------------------------------------------
class ExplanationCache:
    """LRU of explanations; keys are ``(volume key, slice index, method, target, model sha256)``.

    Thread-safe. Explanations are immutable (their map is read-only), so one object can be
    shared by every view that shows it.
    """

    def __init__(self, max_items: int = 64) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self.max_items = max_items
        self._items: OrderedDict[Hashable, Explanation] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(
        volume_key: str, slice_index: int, method: str, target: str | int | None, model
    ) -> tuple:
        """The cache key; ``model`` is a LoadedModel or its sha256."""
        sha = model if isinstance(model, str) else model.sha256
        return (volume_key, int(slice_index), method, target, sha)

    def get(self, key: Hashable) -> Explanation | None:
        with self._lock:
            expl = self._items.get(key)
            if expl is not None:
                self._items.move_to_end(key)
            return expl

    def put(self, key: Hashable, expl: Explanation) -> None:
        with self._lock:
            self._items[key] = expl
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items
