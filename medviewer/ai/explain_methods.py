"""What explanations exist: the method names, labels and notes, the :class:`Explanation` a
method returns, which methods a model can run, and the checks of an explain call's arguments.

No torch here (the maps are computed in ``explain_cam`` / ``explain_attention``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medviewer.ai.package import LoadedModel
from medviewer.errors import ModelError

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

NOTE = (
    "CAM maps are normalised per image: colours compare regions within this slice, "
    "not across slices or models"
)


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


def check_method(model: LoadedModel, method: str) -> None:
    """Raise :class:`ModelError` for an unknown method or one ``model`` cannot run."""
    if method not in METHODS:
        raise ModelError(f"unknown explanation method {method!r}: use one of {', '.join(METHODS)}")
    reason = available_methods(model).get(method)
    if reason:
        raise ModelError(f"{METHOD_LABELS[method]} is not available: {reason}")


def target_index(model: LoadedModel, target: str | int | None) -> int | None:
    """The class index of ``target`` (a class name or index), ``None`` for the predicted one."""
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


def check_values(values: np.ndarray) -> np.ndarray:
    """``values`` as an array when it is one slice, (rows, cols) or (rows, cols, 3)."""
    arr = np.asarray(values)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3):
        if arr.shape[0] >= 1 and arr.shape[1] >= 1:
            return arr
    raise ModelError(
        f"cannot explain an array of shape {arr.shape}: give one slice, (rows, cols) or "
        "(rows, cols, 3)"
    )
