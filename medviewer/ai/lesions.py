"""Synthetic focal lesions in real head CT: the bundled model's honest training task.

No labelled head CT can be had offline, so the bundled classifier learns a task whose labels
we make ourselves: hyperdense (blood-like) or hypodense (oedema/infarct-like) focal lesions
added to the real anatomy of the sample head CT, with their masks kept as ground truth.

Two shape/texture generators exist:

* ``"train"`` — ellipsoids whose surface is bent by a smooth random field (from smooth
  ellipsoids to lobulated, irregular blobs), tanh edge, fine texture. Training, validation and
  the held-out test set use it.
* ``"shifted"`` — unions of 2-5 Gaussian "metaballs" thresholded, a logistic edge of another
  width, coarse mottled texture and a density gradient across the lesion. Only the second test
  set uses it, to show the model learned lesions rather than one generator's look.

Lesions are generated in 3D (millimetres, the volume's voxel spacing) and are cut to the
parenchyma, so neighbouring slices agree and nothing lands in bone, air or ventricles. The
contrast is relative to the local parenchyma: hyperdense +25..+60 HU, hypodense -8..-25 HU.

This module places lesions in the host and makes labelled samples (splits, placement,
composition, class-balanced sampling, augmentation) and is the public face of the pieces:
``lesion_shapes`` (one lesion's shape, texture, contrast, and the HU it adds) and
``lesion_anatomy`` (the host head CT: parenchyma mask, noise, depth).

No torch and no Qt here; numpy and scipy.ndimage only. Everything takes a
``numpy.random.Generator``: the same seed gives the same data.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from medviewer.ai.lesion_anatomy import (
    PARENCHYMA_HU,
    Anatomy,
    local_noise_std,
    parenchyma_mask,
)
from medviewer.ai.lesion_shapes import (
    DIAMETER_MM,
    FIELD_COUNT,
    FIELD_SIZE,
    HYPER_HU,
    HYPO_HU,
    KINDS,
    Lesion,
    lesion_delta,
    random_lesion,
)

__all__ = [
    "CLASSES",
    "DIAMETER_MM",
    "FIELD_COUNT",
    "FIELD_SIZE",
    "HYPER_HU",
    "HYPO_HU",
    "IGNORE",
    "KINDS",
    "KIND_CLASS",
    "MIN_CUT_MM2",
    "PARENCHYMA_HU",
    "SPLITS",
    "Anatomy",
    "Lesion",
    "augment",
    "compose",
    "lesion_candidates",
    "lesion_delta",
    "lesion_volume",
    "local_noise_std",
    "make_sample",
    "parenchyma_mask",
    "place_lesion",
    "random_lesion",
    "split_slices",
]

CLASSES = ("normal", "hyperdense_lesion", "hypodense_lesion")
KIND_CLASS = {"hyper": 1, "hypo": 2}
IGNORE = -1
"""Label of a slice whose largest lesion cut is too small to call either way."""

MIN_CUT_MM2 = 28.0
"""A slice whose largest lesion cut is smaller than a 6 mm disc (the smallest lesion there
is) has an ambiguous label: it is left out of training and evaluation."""


# -- anatomy + lesions -> labelled slices --------------------------------------------------------
SPLITS: dict[str, tuple[tuple[int, int], ...]] = {
    "train": ((0, 23), (47, 61), (85, 107)),
    "val": ((27, 31), (65, 69)),
    "test": ((35, 43), (73, 81)),
}
"""Slice ranges (inclusive) of the sample head CT per split: disjoint, 3 slices (4.5 mm) apart,
interleaved so each split sees skull base, ventricles and vertex levels."""


def split_slices(name: str) -> list[int]:
    return [k for lo, hi in SPLITS[name] for k in range(lo, hi + 1)]


def place_lesion(
    rng: np.random.Generator,
    anatomy: Anatomy,
    k: int,
    kind: str,
    style: str = "train",
    diameter_mm=None,
    slices: list[int] | None = None,
) -> Lesion | None:
    """A lesion whose centre lies in parenchyma near slice ``k`` so that slice cuts it.

    The centre slice stays within ``slices`` when given (a split never borrows anatomy from
    another). ``None`` when no parenchyma is close enough.
    """
    lesion = random_lesion(rng, kind, (0.0, 0.0, 0.0), style, diameter_mm)
    rz = float(lesion.radii_mm.min())
    reach = max(int(np.floor(0.5 * rz / anatomy.spacing[0])), 0)
    kc = int(np.clip(k + rng.integers(-reach, reach + 1), 0, anatomy.hu.shape[0] - 1))
    if slices is not None and kc not in slices:
        kc = k
    ok = np.argwhere(anatomy.depth[kc] >= min(0.35 * rz, 4.0))
    if len(ok) == 0:
        return None
    y, x = ok[int(rng.integers(len(ok)))]
    lesion.center = np.array(
        [kc + rng.uniform(-0.45, 0.45), y + rng.uniform(-0.5, 0.5), x + rng.uniform(-0.5, 0.5)]
    )
    return lesion


def compose(
    anatomy: Anatomy, lesions: list[Lesion], z_slices
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(HU, mask, labels) of ``z_slices`` with ``lesions`` added.

    ``mask`` is uint8: 0 background, 1 hyperdense, 2 hypodense (where lesions touch, the larger
    delta wins). ``labels`` per slice: the class of the lesion with the largest cut, ``normal``
    (0) without lesions, :data:`IGNORE` when the largest cut is under :data:`MIN_CUT_MM2`.
    """
    zs = list(z_slices)
    hu = anatomy.hu[zs].copy()
    mask = np.zeros(hu.shape, np.uint8)
    best = np.zeros(hu.shape, np.float32)
    cut = np.zeros((len(zs), len(lesions)))
    shape_yx = hu.shape[1:]
    for j, lesion in enumerate(lesions):
        delta, profile, box = lesion_delta(lesion, zs, shape_yx, anatomy.spacing)
        if profile.size == 0:
            continue
        soft = anatomy.soft[zs][:, box[0], box[1]]
        hu[:, box[0], box[1]] += delta * soft
        inside = (profile * soft) >= 0.5
        cut[:, j] = inside.sum(axis=(1, 2)) * anatomy.pixel_mm2
        strength = np.abs(delta) * soft
        win = inside & (strength > best[:, box[0], box[1]])
        mask[:, box[0], box[1]][win] = KIND_CLASS[lesion.kind]
        best[:, box[0], box[1]] = np.where(win, strength, best[:, box[0], box[1]])
    labels = []
    for i in range(len(zs)):
        if not lesions or cut[i].max() <= 0:
            labels.append(0)
        elif cut[i].max() < MIN_CUT_MM2:
            labels.append(IGNORE)
        else:
            labels.append(KIND_CLASS[lesions[int(np.argmax(cut[i]))].kind])
    return hu, mask, labels


def lesion_candidates(anatomy: Anatomy, slices: list[int], min_area_mm2: float = 400.0):
    """Slices of ``slices`` with enough parenchyma to hold a lesion."""
    return [k for k in slices if anatomy.brain_area_mm2(k) >= min_area_mm2]


def make_sample(
    rng: np.random.Generator,
    anatomy: Anatomy,
    slices: list[int],
    target: int,
    style: str = "train",
    tries: int = 20,
    thickness: bool = False,
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(HU slice, mask, label, slice index) of class ``target`` (0 normal, 1 hyper, 2 hypo).

    Lesion samples hold 1-3 lesions, mostly of the target kind; sometimes a smaller lesion of
    the other kind is added (the label follows the larger cut). Draws again when the cut
    comes out too small to label. With ``thickness`` the slice is seen as a thicker one: its
    neighbours, lesions included, are averaged in (:func:`ct_variation.partial_volume`); the
    mask and label stay those of the slice itself.
    """
    from medviewer.ai.ct_variation import partial_volume

    last = anatomy.hu.shape[0] - 1

    def cut(lesions, k):
        if not thickness:
            hu, mask, labels = compose(anatomy, lesions, [k])
            return hu[0], mask[0], labels[0]
        hu, mask, labels = compose(anatomy, lesions, [max(k - 1, 0), k, min(k + 1, last)])
        return partial_volume(hu, rng), mask[1], labels[1]

    candidates = lesion_candidates(anatomy, slices)
    if target == 0:
        # mostly from the slices lesions can be put in, so "much brain" is no shortcut to
        # "lesion"; sometimes any slice (vertex, skull base: normal too)
        pool = candidates if candidates and rng.random() < 0.85 else slices
        k = int(pool[int(rng.integers(len(pool)))])
        hu, mask, _ = cut([], k)
        return hu, mask, 0, k
    kind = KINDS[target - 1]
    other = KINDS[2 - target]
    for _ in range(tries):
        k = int(candidates[int(rng.integers(len(candidates)))])
        n = int(rng.choice([1, 2, 3], p=[0.6, 0.25, 0.15]))
        lesions = [place_lesion(rng, anatomy, k, kind, style, slices=slices) for _ in range(n)]
        if rng.random() < 0.15:
            small = place_lesion(rng, anatomy, k, other, style, diameter_mm=6.0, slices=slices)
            lesions.append(small)
        lesions = [le for le in lesions if le is not None]
        if not lesions:
            continue
        hu, mask, label = cut(lesions, k)
        if label == target:
            return hu, mask, target, k
    raise RuntimeError(f"could not place a {CLASSES[target]} in slices {slices[:3]}...")


def augment(
    rng: np.random.Generator, hu: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Random flip, rotation (+-12 deg), scale (0.9-1.1), shift (+-10 px), HU offset, noise."""
    rows, cols = hu.shape
    theta = np.deg2rad(rng.uniform(-12.0, 12.0))
    scale = rng.uniform(0.9, 1.1)
    flip = -1.0 if rng.random() < 0.5 else 1.0
    c, s = np.cos(theta) / scale, np.sin(theta) / scale
    matrix = np.array([[c, -s], [s, c]]) @ np.diag([1.0, flip])
    centre = np.array([(rows - 1) / 2.0, (cols - 1) / 2.0])
    shift = rng.uniform(-10.0, 10.0, size=2)
    offset = centre - matrix @ (centre + shift)
    out = ndi.affine_transform(hu, matrix, offset, order=1, cval=-1024.0, mode="constant")
    m = ndi.affine_transform(mask, matrix, offset, order=0, cval=0, mode="constant")
    out += rng.uniform(-6.0, 6.0)
    sigma = rng.uniform(0.0, 3.0)
    if sigma > 0.3:
        out += rng.normal(0.0, sigma, size=out.shape).astype(np.float32)
    return out.astype(np.float32), m


def lesion_volume(
    rng: np.random.Generator,
    anatomy: Anatomy,
    plan: list[tuple[int, str, float]],
    style: str = "train",
) -> tuple[np.ndarray, np.ndarray, list[int], list[Lesion]]:
    """The whole host volume with lesions planned as (slice, kind, diameter mm).

    Returns (HU volume float32, mask uint8, labels per slice, lesions): a 3D study in which
    each lesion spans the slices its size implies.
    """
    lesions = []
    for k, kind, d in plan:
        le = place_lesion(rng, anatomy, k, kind, style, diameter_mm=d)
        if le is not None:
            lesions.append(le)
    hu, mask, labels = compose(anatomy, lesions, range(anatomy.hu.shape[0]))
    return hu, mask, labels, lesions
