"""The bundled model's identity (manifest) and data: the host head CT, training batches and the
fixed validation, test, shifted-generator and robustness sets. Used by ``train_bundled.py``
and ``bundled_eval.py`` beside it; numpy only until a batch becomes a tensor.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from medviewer.ai import ct_variation as V  # noqa: E402
from medviewer.ai import lesions as L  # noqa: E402
from medviewer.ai.manifest import Manifest, Preprocessing  # noqa: E402

NAME = "headct-lesions"
VERSION = "2.0.0"
ARCHITECTURE = "lesion_evidence"
SEED = 20261206
OUT = ROOT / "models" / NAME / VERSION
SAMPLE = ROOT / "resources" / "sample" / "cranium-ct"
WINDOWS = ((40.0, 80.0), (75.0, 215.0), (40.0, 40.0))
"""brain, subdural, stroke (centre, width in HU): see the model card for why."""
MAP_STRIDE = 8
"""Pixels per cell of the class maps (256 input -> 32 x 32)."""
ROBUSTNESS_FAMILIES = (*V.FAMILIES, "all")

SPLITS: dict[str, tuple[tuple[int, int], ...]] = {
    "train": ((0, 24), (33, 33), (45, 62), (71, 71), (83, 107)),
    "val": ((27, 30), (65, 68)),
    "test": ((36, 42), (74, 80)),
}
"""Slice ranges (inclusive) of the sample head CT per split for 2.0.0. Every validation and
test band has 2 unused slices (3 mm) on each side; the training slices surround the bands, so
every brain level has trained neighbours 4.5-9 mm away. The validation and test slices are
subsets of 1.0.0's (``lesions.SPLITS``), which 1.0.0 never trained on either, so both models
are compared on slices neither has seen. (With 1.0.0's split, 2.0.0's first run called normal
slices at untrained levels abnormal: the fourth ventricle and occipital horns, CSF spaces
that look like hypodense lesions, appear at no trained level.)"""


def split_slices(name: str) -> list[int]:
    return [k for lo, hi in SPLITS[name] for k in range(lo, hi + 1)]


TRAIN_VARIATION = {
    "position": 0.7,
    "deform": 0.4,
    "thickness": 0.25,
    "other": 0.3,
    "csf_end": 0.35,
    "tilt": 0.3,
}
"""Probability of each variation per training sample (``deform``: another head shape;
``other``: each of noise, kernel, HU offset, field of view and beam hardening; ``csf_end``:
the end of a ventricle or sulcus in partial volume, unless ``--no-csf-ends``; ``tilt``: an
oblique slice of the head tilted out of plane, unless ``--no-tilt``)."""

TILTS = (
    (-7.0, 0.0), (-4.0, 0.0), (4.0, 0.0), (7.0, 0.0),
    (0.0, -7.0), (0.0, -4.0), (0.0, 4.0), (0.0, 7.0),
    (-4.0, -4.0), (-4.0, 4.0), (4.0, -4.0), (4.0, 4.0),
)  # fmt: skip
"""(pitch, roll) in degrees of the tilted heads (:func:`tilted_heads`)."""

TILT_MIN_SLAB = 5
"""Training slabs of fewer slices (the single slices beside the bands) are not resliced."""


def tilted_heads(anatomy: L.Anatomy) -> list[tuple[L.Anatomy, list[int]]]:
    """The host head tilted out of the slice plane by each of :data:`TILTS`, resliced within
    each training slab only (:func:`ct_variation.tilted_volume`): (anatomy, the slices a
    sample may be cut from). A tilted slice reads no voxel of a validation, test or buffer
    slice. The head region that must stay inside a slab: the parenchyma of any slice, grown
    by 12 pixels (~11 mm: skull and scalp)."""
    from scipy import ndimage as ndi

    slabs = [(lo, hi) for lo, hi in SPLITS["train"] if hi - lo + 1 >= TILT_MIN_SLAB]
    region = ndi.binary_dilation(anatomy.brain.any(axis=0), iterations=12)
    heads = []
    for pitch, roll in TILTS:
        hu, allowed = V.tilted_volume(anatomy.hu, anatomy.spacing, pitch, roll, slabs, region)
        head = L.Anatomy.from_volume(hu, anatomy.spacing)
        if allowed and L.lesion_candidates(head, allowed):
            heads.append((head, allowed))
    return heads


HOSTS = ("repaired", "as-is")
"""The host CT with its own right frontal lesion replaced by healthy tissue
(:mod:`medviewer.ai.host_lesion`), or as scanned."""


def load_host_volume():
    """The sample head CT as scanned: (HU volume, spacing z, y, x in mm)."""
    from medviewer.dicom.scan import scan
    from medviewer.dicom.volume import load_volume

    result = scan([str(SAMPLE)])
    series = [s for st in result.studies for s in st.series]
    volume = load_volume(series[0])
    return volume.array, volume.spacing


def load_anatomy(host: str = "repaired") -> L.Anatomy:
    """The host head: ``repaired`` (its real lesion replaced, so normal slices are normal;
    every set and the default training) or ``as-is`` (the scan as it is: 2.0.0's first four
    weights were trained on it)."""
    from medviewer.ai.host_lesion import repaired

    if host not in HOSTS:
        raise ValueError(f"host {host!r}: one of {', '.join(HOSTS)}")
    hu, spacing = load_host_volume()
    if host == "repaired":
        hu, _ = repaired(hu, spacing)
    return L.Anatomy.from_volume(hu, spacing)


def manifest(
    sha256: str = "0" * 64,
    temperature: float = 1.0,
    metrics=None,
    second_head: bool = False,
    host: str = "as-is",
) -> Manifest:
    return Manifest(
        name=NAME,
        version=VERSION,
        architecture=ARCHITECTURE,
        classes=L.CLASSES,
        input_size=(256, 256),
        channels=3,
        preprocessing=Preprocessing("ct_windows", WINDOWS),
        cam_target_layer="fuse",
        attention_layer="attention",
        weights_file="weights.safetensors",
        sha256=sha256,
        aggregation="abnormal_max",
        modalities=("CT",),
        body_parts=("HEAD", "BRAIN", "SKULL", "CRANIUM"),
        intensity_check={
            "hu_range": [15, 50],
            "min_fraction": 0.12,
            "meaning": "brain parenchyma, as in a head CT",
        },
        temperature=temperature,
        training_data=(
            "one real head CT (InVesalius 'Cranium', GPL-2)"
            + (
                " and a CT-like head made from the Colin27 brain MRI (MRIcron, BSD-3)"
                if second_head
                else ""
            )
            + " with synthetic focal lesions and simulated scanner variation; "
            + (
                "the CT's own chronic frontal lesion replaced by healthy tissue, so no real "
                "pathology"
                if host == "repaired"
                else "the CT's own chronic frontal lesion was labelled normal"
            )
        ),
        metrics=metrics or {},
        licence="GPL-2.0-or-later (trained on GPL-2 data)",
        description=(
            "Demonstration model: per-slice axial head CT classification into normal, "
            "hyperdense lesion and hypodense lesion, trained on synthetic lesions with lesion "
            "masks (the evidence maps are fitted to them). Research use only, not for diagnosis."
        ),
    )


def preprocessor():
    from medviewer.ai.package import LoadedModel

    return LoadedModel(manifest(), module=None, folder=OUT).preprocess


def map_targets(masks: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, classes, h/8, w/8) float32: 1 where a cell holds any pixel of that lesion class."""
    n, rows, cols = masks.shape
    cells = masks.reshape(n, rows // MAP_STRIDE, MAP_STRIDE, cols // MAP_STRIDE, MAP_STRIDE)
    out = np.zeros((n, n_classes, rows // MAP_STRIDE, cols // MAP_STRIDE), np.float32)
    for c in range(1, n_classes):
        out[:, c] = (cells == c).any(axis=(2, 4))
    return out


SECOND_HEAD_FRACTION = 0.35
"""With ``--second-head``: the share of training samples drawn from the CT-like Colin27 head
(``colin_ct.py``, every level) instead of the training slices of the real CT."""


COLIN_LICENCE = ROOT.parent / "shared" / "data" / "mricron-templates" / "COPYRIGHT.debian"
"""Colin27's licence (BSD-3, Debian's ``mricron-data``): copied beside weights trained on it."""


SECOND_HEAD_STYLES = ("mri", "matched")
"""``mri``: Colin27 converted with fixed tissue levels and smooth noise (the card's runs);
``matched``: CSF, parenchyma, noise level and texture measured on the real CT's training
slices, slices averaged across their thickness (``colin_ct.measure_ct``)."""


def load_second_head(style: str = "mri", anatomy: L.Anatomy | None = None) -> L.Anatomy:
    from colin_ct import colin_hu, measure_ct

    look = None
    if style == "matched":
        real = anatomy if anatomy is not None else load_anatomy()
        look = measure_ct(real.hu, real.brain, real.noise, split_slices("train"))
    elif style != "mri":
        raise ValueError(f"second head style {style!r}: one of {', '.join(SECOND_HEAD_STYLES)}")
    hu, spacing = colin_hu(look=look)
    return L.Anatomy.from_volume(hu, spacing)


def training_sample(rng, anatomy, pre, second=None, csf_ends=True, tilted=None, shares=None):
    """One class-balanced, varied training sample: (input, mask, label). ``second``: another
    head (an :class:`~medviewer.ai.lesions.Anatomy`) drawn from now and then; ``csf_ends``:
    now and then a CSF space's end in partial volume (:func:`~ct_variation.csf_end`);
    ``tilted``: :func:`tilted_heads`, one of which is drawn from now and then; ``shares``: how
    often each class is drawn (``--class-shares``; None: equally, as the shipped weights were)."""
    slices = split_slices("train")
    if second is not None and rng.random() < SECOND_HEAD_FRACTION:
        anatomy, slices = second, list(range(second.hu.shape[0]))
    elif tilted and rng.random() < TRAIN_VARIATION["tilt"]:
        anatomy, slices = tilted[int(rng.integers(len(tilted)))]
    target = int(rng.integers(3)) if shares is None else int(rng.choice(3, p=shares))
    thick = rng.random() < TRAIN_VARIATION["thickness"]
    hu, mask, label, k = L.make_sample(rng, anatomy, slices, target, thickness=thick)
    if csf_ends and rng.random() < TRAIN_VARIATION["csf_end"]:
        hu = V.csf_end(rng, hu, anatomy.brain[k])
    if rng.random() < TRAIN_VARIATION["deform"]:
        hu, mask = V.deform(rng, hu, mask)
    if rng.random() < TRAIN_VARIATION["position"]:
        hu, mask = V.geometry(rng, hu, mask)
    others = ("noise", "kernel", "hu_offset", "fov", "beam_hardening")
    p = TRAIN_VARIATION["other"]
    hu, mask = V.vary(rng, hu, mask, others, p=p, spacing_mm=anatomy.spacing[1])
    return pre(hu), mask, label


def training_batch(
    anatomy,
    pre,
    seed: int,
    epoch: int,
    step: int,
    size: int,
    second=None,
    csf_ends=True,
    tilted=None,
    shares=None,
):
    """A batch drawn from its own seed (epoch, step): the same whichever process makes it."""
    rng = np.random.default_rng([seed, epoch, step])
    xs = np.empty((size, 3, 256, 256), np.float32)
    masks = np.empty((size, 256, 256), np.uint8)
    ys = np.empty(size, np.int64)
    for i in range(size):
        sample = training_sample(rng, anatomy, pre, second, csf_ends, tilted, shares)
        xs[i], masks[i], ys[i] = sample
    return xs, map_targets(masks, len(L.CLASSES)), ys


@dataclass
class FixedSet:
    """A fixed evaluation set: inputs (float16), labels, masks, slice indices, HU slices and,
    per sample, the detectability of its labelled lesion (NaN for normal slices)."""

    x: np.ndarray
    y: np.ndarray
    masks: np.ndarray
    slices: np.ndarray
    hus: list
    detect: dict


def detectability(hu, mask, label: int, k: int, anatomy) -> dict:
    """Size, contrast and Rose index of the labelled lesion class's cut in this slice.

    contrast: mean |HU change| inside the mask of the label's class; noise: the host slice's
    parenchyma noise; rose: contrast / noise * sqrt(cut area in pixels) (Rose's criterion
    says a flat disc needs about 5 to be seen at all).
    """
    if label == 0:
        return {"diameter_mm": np.nan, "contrast_hu": np.nan, "rose": np.nan}
    inside = mask == label
    area_px = float(inside.sum())
    contrast = float(np.abs(hu[inside] - anatomy.hu[k][inside]).mean()) if area_px else 0.0
    noise = float(anatomy.noise[k])
    diameter = 2.0 * np.sqrt(area_px * anatomy.pixel_mm2 / np.pi)
    return {
        "diameter_mm": diameter,
        "contrast_hu": contrast,
        "rose": contrast / noise * np.sqrt(area_px),
    }


def fixed_set(anatomy, split: str, per_class: int, style: str, seed: int) -> FixedSet:
    rng = np.random.default_rng(seed)
    pre = preprocessor()
    slices = split_slices(split)
    xs, ys, masks, ks, hus = [], [], [], [], []
    detect = {"diameter_mm": [], "contrast_hu": [], "rose": []}
    for i in range(3 * per_class):
        target = i % 3
        hu, mask, label, k = L.make_sample(rng, anatomy, slices, target, style)
        xs.append(pre(hu).astype(np.float16))
        ys.append(label)
        masks.append(mask)
        ks.append(k)
        hus.append(hu.astype(np.float32))
        for key, v in detectability(hu, mask, label, k, anatomy).items():
            detect[key].append(v)
    return FixedSet(
        np.stack(xs),
        np.array(ys),
        np.stack(masks),
        np.array(ks),
        hus,
        {k: np.array(v) for k, v in detect.items()},
    )


def robustness_set(anatomy, per_family: int, seed: int):
    """Lesion-free held-out (test split) slices, each family of variation alone and all at
    once: (inputs float16, family name per sample)."""
    rng = np.random.default_rng(seed)
    pre = preprocessor()
    slices = split_slices("test")
    xs, names = [], []
    for family in ROBUSTNESS_FAMILIES:
        chosen = V.FAMILIES if family == "all" else (family,)
        for _ in range(per_family):
            thick = "thickness" in chosen
            hu, mask, _, _ = L.make_sample(rng, anatomy, slices, 0, thickness=thick)
            hu, _ = V.vary(rng, hu, mask, chosen, p=1.0, spacing_mm=anatomy.spacing[1])
            xs.append(pre(hu).astype(np.float16))
            names.append(family)
    return np.stack(xs), np.array(names)
