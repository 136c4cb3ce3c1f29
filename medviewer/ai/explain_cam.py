"""The Grad-CAM family of maps: pytorch-grad-cam's own classes, run on one input tensor.

One thing is ours: *backward stops at the CAM layer*. A forward hook hands the rest of the
network a fresh leaf copy of the target layer's output, and the layers before it run without
autograd. The gradient of the class score with respect to that output, the only gradient the
CAM methods read, is unchanged; backward no longer walks the backbone or computes weight
gradients.

torch and pytorch_grad_cam load on first use.
"""

from __future__ import annotations

import threading
import types

import numpy as np

from medviewer.ai.explain_methods import GRADIENT_METHODS, METHOD_LABELS
from medviewer.ai.heavy_imports import import_heavy
from medviewer.ai.package import LoadedModel
from medviewer.errors import ModelError

SCORECAM_BATCH = 16

_QUIET_TQDM = types.SimpleNamespace(tqdm=lambda iterable, *args, **kwargs: iterable)


def _cam_class(method: str):
    import_heavy(grad_cam=True)
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


def cam_map(model: LoadedModel, net, tensor, method: str, index: int | None, truncate: bool = True):
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
