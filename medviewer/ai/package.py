"""Load a model package safely: check the manifest and the weights' sha256, never unpickle code.

A package folder holds ``manifest.json``, the weights (``.safetensors`` preferred, or a plain
state_dict loaded with ``torch.load(weights_only=True)``) and ``MODEL_CARD.md``. Files are only
read, never modified.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medviewer.ai.manifest import Manifest, read_manifest
from medviewer.errors import ModelError


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        while block := fp.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def load_state_dict(path: Path) -> dict:
    """Tensors from ``path``; pickles that would construct arbitrary objects are refused."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:
            raise ModelError(f"{path}: not a valid safetensors file ({exc})") from None
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for code-running pickles, others for junk
        raise ModelError(
            f"{path}: refused — the weights file holds pickled Python objects beyond plain "
            "tensors (loading it could run code). Re-save the model as safetensors or as a "
            f"plain state_dict ({type(exc).__name__})"
        ) from None
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise ModelError(f"{path}: expected a state_dict (names -> tensors)")
    return state


@dataclass
class LoadedModel:
    """A ready network with its card; ``lock`` serialises CAM hooks on the shared module."""

    manifest: Manifest
    module: object
    folder: Path
    device: str = "cpu"
    lock: threading.Lock = field(default_factory=threading.Lock)
    _fast: tuple | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def sha256(self) -> str:
        return self.manifest.sha256

    def to(self, device: str) -> LoadedModel:
        self.module = self.module.to(device)
        self.device = device
        self._fast = None
        return self

    def inference_module(self):
        """The network as batch inference runs it: a copy with BatchNorm folded into the
        convolutions and channels-last weights (:mod:`medviewer.ai.inference_graph`), made on
        first use and remade whenever :attr:`module` is replaced, moved or its weights change
        in place. Explanations and fine-tuning use :attr:`module` itself, and so does inference
        while a hook or a replaced ``forward`` is on it (tests and tools that watch it). Call it
        holding :attr:`lock`."""
        import torch

        module = self.module
        if not isinstance(module, torch.nn.Module) or _instrumented(module):
            return module
        tensors = [*module.parameters(), *module.buffers()]
        if not tensors:
            return module
        device = tensors[0].device
        key = (id(module), str(device), tuple(t._version for t in tensors))
        if self._fast is not None and self._fast[0] == key:
            return self._fast[1]
        from medviewer.ai.inference_graph import inference_copy

        example = torch.from_numpy(self.example_input(2)).to(device)
        fast, _what = inference_copy(module, example)
        self._fast = (key, fast)
        return fast

    def example_input(self, batch: int = 1) -> np.ndarray:
        """A fixed pseudo-random batch shaped like the model's input (float32, in [0, 1))."""
        h, w = self.manifest.input_size
        shape = (batch, self.manifest.channels, h, w)
        return np.random.default_rng(0).random(shape, dtype=np.float32)

    # -- preprocessing ------------------------------------------------------------------------
    def preprocess(
        self, values: np.ndarray, *, invert: bool = False, out: np.ndarray | None = None
    ) -> np.ndarray:
        """One slice (rows, cols[, 3]) -> float32 (channels, H, W) exactly as the model sees it.

        CT windows map HU to [0, 1] per channel; percentile normalisation maps the slice's own
        low/high percentiles to [0, 1]. Colour is reduced to luminance unless the model takes 3
        channels of percentile input. MONOCHROME1 is inverted when the card asks for it. The
        slice is resized (bilinear, no crop) to the input size; :meth:`to_slice` undoes it.
        ``out``: a float32 (channels, H, W) array to write into (returned).
        """
        m = self.manifest
        pre = m.preprocessing
        arr = np.asarray(values, dtype=np.float32)
        if arr.ndim == 3 and not (pre.kind == "percentile" and m.channels == 3):
            arr = arr @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        if out is None:
            out = np.empty((m.channels, *m.input_size), dtype=np.float32)
        if arr.ndim == 2 and pre.kind == "ct_windows":
            return self._ct_windows(arr, invert and pre.invert_monochrome1, out)
        if arr.ndim == 2:
            planes = [self._percentile(arr)]
            if invert and pre.invert_monochrome1:
                planes = [1.0 - p for p in planes]
            stack = np.stack(planes)
        else:
            stack = np.stack([self._percentile(arr[..., c]) for c in range(3)])
        _resize_into(stack, out[: len(stack)])
        out[len(stack) :] = out[0]  # one plane for a 3-channel network: repeated
        return out

    def _ct_windows(self, arr: np.ndarray, invert: bool, out: np.ndarray) -> np.ndarray:
        """The CT windows of one slice, resized into ``out``. Each window is computed in
        place, plane by plane (the same float32 operations as clip((arr - low) / width, 0, 1)
        without a temporary array per step), straight into ``out`` when the slice already has
        the input size."""
        windows = self.manifest.preprocessing.windows
        direct = arr.shape == out.shape[1:]
        planes = out if direct else np.empty((len(windows), *arr.shape), dtype=np.float32)
        for plane, (c, w) in zip(planes, windows):
            np.subtract(arr, c - w / 2.0, out=plane)
            np.divide(plane, w, out=plane)
            np.clip(plane, 0.0, 1.0, out=plane)
            if invert:
                np.subtract(1.0, plane, out=plane)
        if not direct:
            _resize_into(planes[: len(windows)], out[: len(windows)])
        out[len(windows) :] = out[0]  # one window for a 3-channel network: repeated
        return out

    def _percentile(self, arr: np.ndarray) -> np.ndarray:
        pre = self.manifest.preprocessing
        lo, hi = np.percentile(arr, (pre.low, pre.high))
        if hi <= lo:
            hi = lo + 1.0
        return np.clip((arr - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)

    def to_slice(self, heat: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """A map in model-input pixels (or any grid) -> float32 aligned with the slice."""
        import torch
        import torch.nn.functional as F  # noqa: N812

        t = torch.from_numpy(np.ascontiguousarray(heat, dtype=np.float32))[None, None]
        out = F.interpolate(t, size=tuple(shape), mode="bilinear", align_corners=False)
        return out[0, 0].numpy()


def _resize_into(planes: np.ndarray, out: np.ndarray) -> None:
    """Bilinear resize (half-pixel centres, no antialiasing: torch's ``interpolate(...,
    mode="bilinear", align_corners=False)``) of float32 ``planes`` (c, rows, cols) into
    ``out`` (c, H, W). The same size is copied; exactly twice the size (a 512 x 512 slice for a
    256 x 256 network) is the mean of each 2 x 2 block, which is what bilinear sampling at
    half-pixel centres gives there, summed in the same order, without torch's general kernel."""
    rows, cols = planes.shape[1:]
    h, w = out.shape[1:]
    if (rows, cols) == (h, w):
        out[...] = planes
    elif (rows, cols) == (2 * h, 2 * w):
        tmp = np.empty((h, w), dtype=np.float32)
        for src, dst in zip(planes, out):
            np.add(src[0::2, 0::2], src[0::2, 1::2], out=dst)
            np.add(src[1::2, 0::2], src[1::2, 1::2], out=tmp)
            np.add(dst, tmp, out=dst)
            np.multiply(dst, 0.25, out=dst)
    else:
        import torch
        import torch.nn.functional as F  # noqa: N812

        tensor = torch.from_numpy(np.ascontiguousarray(planes))[None]
        resized = F.interpolate(tensor, size=(h, w), mode="bilinear", align_corners=False)
        out[...] = resized[0].numpy()


def _instrumented(module) -> bool:
    """True when a hook or a replaced ``forward`` sits on ``module`` or a submodule: whoever
    put it there expects to see the module itself run, so it is not swapped for a copy."""
    for m in module.modules():
        if "forward" in m.__dict__ or m._forward_hooks or m._forward_pre_hooks:
            return True
    return False


def load_package(folder: str | Path, device: str = "cpu") -> LoadedModel:
    """Validate and load the package in ``folder`` onto ``device``."""
    import torch

    from medviewer.ai.builders import build, find_module

    folder = Path(folder)
    manifest = read_manifest(folder)
    weights = folder / manifest.weights_file
    if not weights.is_file():
        raise ModelError(
            f"{folder}: weights file {manifest.weights_file!r} named in the manifest is missing"
        )
    actual = sha256_of(weights)
    if actual != manifest.sha256:
        raise ModelError(
            f"{weights}: sha256 {actual[:12]}… does not match the manifest's "
            f"{manifest.sha256[:12]}…; the file is damaged or not the one the card describes"
        )
    state = load_state_dict(weights)
    net = build(manifest.architecture, manifest.channels, len(manifest.classes))
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelError(
            f"{weights}: weights do not fit a {manifest.architecture} with "
            f"{manifest.channels} channel(s) and {len(manifest.classes)} classes "
            f"({first})"
        ) from None
    find_module(net, manifest.cam_target_layer)
    if manifest.attention_layer:
        find_module(net, manifest.attention_layer)
    net.eval()
    with torch.no_grad():
        net.to(device)
    return LoadedModel(manifest=manifest, module=net, folder=folder, device=device)
