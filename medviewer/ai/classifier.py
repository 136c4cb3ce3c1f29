"""Classify every slice of a series, then aggregate the slices into one series result.

:func:`predict_iter` is a job (a generator of :class:`~medviewer.jobs.Progress`): the slice the
user is looking at is classified first, alone, so a viewer can show its result at once; the
other slices follow in order, in batches. Each step's ``detail`` is the list of
:class:`Prediction` of that batch. Slice indices are positions in the volume, i.e. the order
of ``medviewer convert``.

Running out of GPU memory is not fatal: the batch is halved and retried, and at one slice per
batch the model moves to the CPU for the rest of the series (with a warning in the result).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medviewer.ai.package import LoadedModel
from medviewer.dicom.volume import Volume
from medviewer.errors import ModelError
from medviewer.jobs import CancelToken, Job, Progress, run_job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """The model's output for one slice.

    ``index`` is the slice's position in the volume (``convert`` order); ``probabilities``
    maps every class of the model card, in the card's order, to its softmax probability (they
    sum to 1); ``top`` is the most probable class; ``device`` is where this slice ran.
    """

    index: int
    probabilities: dict[str, float]
    top: str
    model: str
    version: str
    sha256: str
    device: str


@dataclass
class SeriesPrediction:
    """All slices' predictions and the series result.

    ``probabilities`` aggregate the slices by ``method``, the model card's ``aggregation``:

    - ``"max"``: per class, the highest probability any slice gave it. The values are *not*
      renormalised, so they need not sum to 1 (a series with one lesion slice and many normal
      ones scores high on both classes); read each as "how strongly the most convinced slice
      argues for this class".
    - ``"mean"``: per class, the mean over the slices; these sum to 1.
    - ``"abnormal_max"`` (for models whose first class is the normal/background class): each
      other class gets the highest probability any slice gave it, the first class gets the
      lowest (the series is normal only if every slice is); not renormalised. The series' top
      class is then a finding whenever one slice is convinced of it.

    ``slices`` are sorted by index. ``warnings`` say why the result may be unreliable (input
    outside what the model was trained on, slices skipped, device fallback).
    """

    slices: list[Prediction]
    probabilities: dict[str, float]
    method: str
    model: str
    version: str
    sha256: str
    device: str
    warnings: list[str] = field(default_factory=list)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.probabilities)

    @property
    def top(self) -> str:
        """The class with the highest series probability."""
        return max(self.probabilities, key=self.probabilities.__getitem__)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``medviewer infer --json``."""
        return {
            "model": {"name": self.model, "version": self.version, "sha256": self.sha256},
            "device": self.device,
            "classes": list(self.classes),
            "slices": [
                {"index": p.index, "probabilities": dict(p.probabilities)} for p in self.slices
            ],
            "series": {"probabilities": dict(self.probabilities), "method": self.method},
            "warnings": list(self.warnings),
        }


def aggregate(slices: list[Prediction], classes: tuple[str, ...], method: str) -> dict:
    """Series probabilities from slice predictions (see :class:`SeriesPrediction`)."""
    if not slices:
        return {c: float("nan") for c in classes}
    probs = np.array([[p.probabilities[c] for c in classes] for p in slices], dtype=np.float64)
    if method == "max":
        values = probs.max(axis=0)
    elif method == "mean":
        values = probs.mean(axis=0)
    elif method == "abnormal_max":
        values = probs.max(axis=0)
        values[0] = probs[:, 0].min()
    else:
        raise ModelError(
            f"unknown aggregation {method!r}: the model card must say max, mean or abnormal_max"
        )
    return {c: float(v) for c, v in zip(classes, values)}


def _article(code: str) -> str:
    """'an' before a code read letter by letter that starts with a vowel sound (an MR)."""
    return "an" if code[:1] in tuple("AEFHILMNORSX") else "a"


def check_input(model: LoadedModel, volume: Volume) -> list[str]:
    """Warnings when ``volume`` is not what ``model`` was made for (it still runs)."""
    m = model.manifest
    pre = m.preprocessing
    out: list[str] = []
    modality = (volume.modality or "").strip().upper()
    listed = ", ".join(m.modalities)
    off_modality = False
    if m.modalities and modality not in m.modalities:
        off_modality = True
        if modality:
            out.append(
                f"the model card lists {listed}; this is {_article(modality)} {modality} "
                "series: the input is outside what the model was trained on, treat the result "
                "with caution"
            )
        else:
            out.append(
                f"the model card lists {listed}; this series has no modality: check that the "
                "input is what the model was trained on"
            )
    body = (volume.series.body_part or "").strip().upper()
    if m.body_parts and body and not any(b in body or body in b for b in m.body_parts):
        out.append(
            f"the model card is for {', '.join(m.body_parts)}; this series' BodyPartExamined "
            f"(0018,0015) is {body}: the input is outside what the model was trained on, treat "
            "the result with caution"
        )
    check = m.intensity_check
    if check and not off_modality and not volume.is_color and volume.units == "HU":
        fraction = _fraction_in(volume, check["hu_range"])
        if fraction is not None and fraction < check["min_fraction"]:
            lo, hi = check["hu_range"]
            meaning = check.get("meaning") or f"{lo:g} to {hi:g} HU"
            out.append(
                f"only {fraction:.0%} of this series' tissue lies in {lo:g}..{hi:g} HU "
                f"({meaning}); the model expects at least {check['min_fraction']:.0%}: the "
                "input looks outside what the model was trained on (another body part?), "
                "treat the result with caution"
            )
    if volume.is_color:
        if pre.kind == "ct_windows":
            out.append(
                "this series is colour (RGB) but the model windows CT values in HU: the colour "
                "is converted to luminance and windowed as if it were HU, so the result is "
                "unreliable"
            )
        elif m.channels == 1:
            out.append(
                "this series is colour (RGB) and the model takes one channel: the colour is "
                "converted to luminance"
            )
    elif pre.kind == "ct_windows" and not off_modality and volume.units != "HU":
        units = volume.units or "unknown units"
        out.append(
            f"the model windows Hounsfield units but this series' values are in {units}: "
            "check the rescale of the series"
        )
    if volume.invert and not pre.invert_monochrome1:
        out.append(
            "this series is MONOCHROME1 (white is low) and the model card asks for no "
            "inversion: values are given to the model as stored"
        )
    rows, cols = volume.array.shape[1:3]
    h, w = m.input_size
    if rows and cols and h and w:
        stretch = (cols / rows) / (w / h)
        if stretch > 1.5 or stretch < 1 / 1.5:
            out.append(
                f"slices are {rows}x{cols} pixels and the model takes {h}x{w}: they are "
                "stretched to fit, which the model may not have seen in training"
            )
    if volume.loaded is not None:
        missing = int(np.size(volume.loaded) - np.count_nonzero(volume.loaded))
        if missing:
            out.append(
                f"{missing} slice(s) of {len(volume.loaded)} are not loaded and are not "
                "classified; wait for the series to finish loading and run again"
            )
    return out


def _fraction_in(volume: Volume, hu_range) -> float | None:
    """Of the loaded voxels above -500 HU (tissue), the fraction inside ``hu_range``."""
    arr = volume.array
    if volume.loaded is not None:
        arr = arr[np.asarray(volume.loaded, bool)]
    sample = arr[:, ::4, ::4] if arr.ndim == 3 else arr
    tissue = sample[sample > -500]
    if tissue.size < 100:
        return None
    lo, hi = hu_range
    return float(np.count_nonzero((tissue >= lo) & (tissue <= hi)) / tissue.size)


def _module_device(model: LoadedModel):
    """Where the network's weights really are (the truth, whatever ``model.device`` says)."""
    try:
        return next(model.module.parameters()).device
    except (StopIteration, AttributeError):
        return model.device


def _slice_values(volume: Volume, k: int) -> tuple[np.ndarray, bool]:
    """Slice ``k``, with NaN/inf replaced by 0 in float data (True when that happened)."""
    values = volume.array[k]
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0), True
    return values, False


@dataclass
class PreparedInputs:
    """The network's inputs for every slice of a volume, made ahead of time (e.g. on a loader
    thread while the model classifies another series): ``inputs`` (slices, channels, H, W)
    float32 in slice order, ``bad`` the slices whose NaN/inf values were read as 0."""

    inputs: np.ndarray
    bad: frozenset[int]


def prepare_inputs(model: LoadedModel, volume: Volume) -> PreparedInputs:
    """:meth:`LoadedModel.preprocess` of every slice of ``volume`` (only ``model.manifest`` is
    used: a LoadedModel without its network will do)."""
    n = int(volume.array.shape[0])
    h, w = model.manifest.input_size
    out = np.empty((n, model.manifest.channels, h, w), dtype=np.float32)
    bad = set()
    for k in range(n):
        values, cleaned = _slice_values(volume, k)
        if cleaned:
            bad.add(k)
        model.preprocess(values, invert=volume.invert, out=out[k])
    return PreparedInputs(out, frozenset(bad))


def _run_batch(model: LoadedModel, inputs: np.ndarray) -> np.ndarray:
    """Softmax probabilities (batch, classes) as float64, under the model's lock."""
    import torch

    with model.lock, torch.inference_mode():
        x = torch.from_numpy(inputs).to(_module_device(model))
        logits = model.inference_module()(x)
        if logits.ndim != 2 or logits.shape[1] != len(model.manifest.classes):
            raise ModelError(
                f"{model.manifest.ref}: the network gave outputs of shape "
                f"{tuple(logits.shape)} for {len(model.manifest.classes)} classes; the package "
                "is inconsistent, ask its author for a fixed one"
            )
        scaled = logits.detach().double() / model.manifest.temperature
        return torch.softmax(scaled, dim=1).cpu().numpy()


def _images(ks: list[int]) -> str:
    """Slice indices as the viewer numbers its images (1-based, "Im k/n")."""
    if len(ks) == 1:
        return f"image {ks[0] + 1}"
    if list(ks) == list(range(ks[0], ks[0] + len(ks))):
        return f"images {ks[0] + 1}-{ks[-1] + 1}"
    return f"{len(ks)} images"


def predict_iter(
    model: LoadedModel,
    volume: Volume,
    *,
    first: int | None = None,
    batch_size: int = 16,
    cancel: CancelToken | None = None,
    prepared: PreparedInputs | None = None,
    lead: bool = True,
) -> Job[SeriesPrediction]:
    """Classify the slices of ``volume``; yields ``Progress(done, total, message, detail)``
    with ``detail`` the batch's list of :class:`Prediction`; returns a
    :class:`SeriesPrediction`.

    ``first`` (default: the middle slice) runs alone as the first batch, then the other
    slices in index order in batches of ``batch_size`` (``lead=False``: no lone first batch,
    all slices in index order, for jobs that want the series result only). ``cancel`` is
    checked before every batch (raising :class:`~medviewer.errors.Cancelled`). Each batch runs under
    ``torch.inference_mode()`` holding ``model.lock``, on ``model.inference_module()`` (BatchNorm
    folded). Inputs are ``model.preprocess(volume.array[k], invert=volume.invert)``, or taken
    from ``prepared`` (:func:`prepare_inputs` of this volume) when given.

    Meant for fully loaded volumes: when ``volume.loaded`` marks slices as not loaded yet,
    those are skipped (with a warning), never classified from empty pixels.

    Out of GPU memory: the batch is halved and retried; at one slice the model is moved to
    the CPU (``model`` itself, shared with whoever holds it) and the run goes on there.
    """
    from medviewer.ai.device import free_cached_memory, is_out_of_memory

    m = model.manifest
    n = int(volume.array.shape[0]) if volume.array.ndim >= 3 else 0
    if n == 0:
        raise ModelError("the series has no slices to classify")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ModelError(f"batch size must be a whole number of at least 1 (got {batch_size!r})")
    if first is None:
        first = n // 2
    if not 0 <= first < n:
        raise ModelError(f"slice {first} is out of range: the series has slices 0..{n - 1}")
    warnings = check_input(model, volume)
    if prepared is not None:
        want = (n, model.manifest.channels, *model.manifest.input_size)
        if tuple(prepared.inputs.shape) != want:
            raise ModelError(
                f"the prepared inputs have shape {tuple(prepared.inputs.shape)}, not {want}: "
                "they were made for another volume or model"
            )
    loaded = volume.loaded
    ready = [k for k in range(n) if loaded is None or bool(loaded[k])]
    if not ready:
        raise ModelError("no slice of the series is loaded yet; wait for loading to finish")
    if first not in ready:
        first = min(ready, key=lambda k: abs(k - first))
    order = [first, *(k for k in ready if k != first)] if lead else ready
    total = len(order)
    classes = m.classes
    results: list[Prediction] = []
    bad_values: set[int] = set()
    size = batch_size
    start_device = str(model.device)
    i = 0
    while i < total:
        if cancel is not None:
            cancel.raise_if_cancelled()
        ks = order[i : i + (1 if i == 0 and lead else size)]
        if prepared is not None:
            inputs = np.ascontiguousarray(prepared.inputs[ks])
            bad_values.update(k for k in ks if k in prepared.bad)
        else:
            arrays = []
            for k in ks:
                values, cleaned = _slice_values(volume, k)
                if cleaned:
                    bad_values.add(k)
                arrays.append(model.preprocess(values, invert=volume.invert))
            inputs = np.ascontiguousarray(np.stack(arrays), dtype=np.float32)
        try:
            probs = _run_batch(model, inputs)
        except ModelError:
            raise
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            device = str(model.device)
            free_cached_memory(device)
            if len(ks) > 1:
                size = max(1, len(ks) // 2)
                log.info(
                    "out of memory on %s with %d slices; retrying with %d", device, len(ks), size
                )
                continue
            if device == "cpu":
                raise ModelError(
                    f"not enough memory to classify slice {ks[0]} with {m.ref} on the CPU: "
                    "close other programs or use a smaller model"
                ) from None
            with model.lock:
                model.to("cpu")
            free_cached_memory(device)
            size = batch_size  # the CPU has room for the batches asked for
            warnings.append(
                f"the GPU ({device}) ran out of memory even at one slice per batch: {m.ref} "
                "was moved to the CPU for the rest of this series (slower); close other GPU "
                "programs or choose the CPU device"
            )
            continue
        device = str(model.device)
        batch = []
        for k, row in zip(ks, probs):
            p = {c: float(v) for c, v in zip(classes, row)}
            batch.append(
                Prediction(
                    index=int(k),
                    probabilities=p,
                    top=max(p, key=p.__getitem__),
                    model=m.name,
                    version=m.version,
                    sha256=m.sha256,
                    device=device,
                )
            )
        results.extend(batch)
        i += len(ks)
        yield Progress(i, total, f"classified {_images(ks)}", detail=batch)
    if bad_values:
        shown = ", ".join(str(k) for k in sorted(bad_values)[:8])
        more = "…" if len(bad_values) > 8 else ""
        warnings.append(
            f"slice(s) {shown}{more} hold NaN or infinite values; they were read as 0 for the model"
        )
    results.sort(key=lambda p: p.index)
    final_device = str(model.device)
    if final_device != start_device and not any("ran out of memory" in w for w in warnings):
        warnings.append(f"{m.ref} moved from {start_device} to {final_device} during the run")
    return SeriesPrediction(
        slices=results,
        probabilities=aggregate(results, classes, m.aggregation),
        method=m.aggregation,
        model=m.name,
        version=m.version,
        sha256=m.sha256,
        device=final_device,
        warnings=warnings,
    )


def predict(model: LoadedModel, volume: Volume, **kw) -> SeriesPrediction:
    """Run :func:`predict_iter` to the end. Keywords: ``first``, ``batch_size``, ``cancel``,
    ``on_progress`` (called with each :class:`~medviewer.jobs.Progress`)."""
    on_progress = kw.pop("on_progress", None)
    cancel = kw.get("cancel")
    return run_job(predict_iter(model, volume, **kw), on_progress, cancel)
