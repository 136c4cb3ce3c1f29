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

No torch and no Qt here; numpy and scipy.ndimage only. Everything takes a
``numpy.random.Generator``: the same seed gives the same data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

CLASSES = ("normal", "hyperdense_lesion", "hypodense_lesion")
KINDS = ("hyper", "hypo")
KIND_CLASS = {"hyper": 1, "hypo": 2}
IGNORE = -1
"""Label of a slice whose largest lesion cut is too small to call either way."""

DIAMETER_MM = (6.0, 30.0)
HYPER_HU = (25.0, 60.0)
HYPO_HU = (8.0, 25.0)
MIN_CUT_MM2 = 28.0
"""A slice whose largest lesion cut is smaller than a 6 mm disc (the smallest lesion there
is) has an ambiguous label: it is left out of training and evaluation."""
PARENCHYMA_HU = (18.0, 52.0)


# -- anatomy ------------------------------------------------------------------------------------
def parenchyma_mask(hu: np.ndarray, spacing_zyx: tuple[float, float, float]) -> np.ndarray:
    """Brain parenchyma of a head CT volume (slices, rows, cols) in HU, as a bool volume.

    Soft tissue of 18-52 HU inside the skull, away from bone (>= 3 mm) and from CSF and air
    (>= 1.5 mm), the largest 3D connected part (the brain; scalp muscle is outside the skull).
    """
    hu = np.asarray(hu, dtype=np.float32)
    row_mm = float(spacing_zyx[1])
    bone = hu > 200.0
    # the skull ring: a lower threshold keeps thin frontal bone, a disk closing bridges gaps
    # of a few mm, padding keeps the closing from gluing the ring to the image border
    yy, xx = np.mgrid[-4:5, -4:5]
    disk = (yy * yy + xx * xx) <= 16
    inside = np.zeros_like(bone)
    for k in range(hu.shape[0]):
        ring = np.pad(hu[k] > 100.0, 20)
        ring = ndi.binary_closing(ring, structure=disk, iterations=3)[20:-20, 20:-20]
        inside[k] = ndi.binary_fill_holes(ring) & ~ring
    smooth = ndi.gaussian_filter(hu, (0.0, 1.2, 1.2))
    tissue = (smooth >= PARENCHYMA_HU[0]) & (smooth <= PARENCHYMA_HU[1]) & inside
    far_bone = ndi.distance_transform_edt(~bone, sampling=spacing_zyx) >= 3.0
    tissue = ndi.binary_opening(tissue, structure=np.ones((1, 3, 3), bool)) & far_bone
    for k in range(tissue.shape[0]):  # fill pinholes (< ~35 mm^2), keep ventricles and sulci
        holes, n_holes = ndi.label(~tissue[k])
        if n_holes:
            sizes = np.bincount(holes.ravel())
            small = sizes * row_mm * row_mm < 35.0
            small[0] = False
            tissue[k] |= small[holes] & inside[k]
    labels, n = ndi.label(tissue)
    if n == 0:
        return tissue
    sizes = ndi.sum_labels(tissue, labels, index=np.arange(1, n + 1))
    brain = labels == (int(np.argmax(sizes)) + 1)
    # away from CSF/air edges: erode by ~1.5 mm in plane
    iters = max(1, int(round(1.5 / row_mm)))
    brain = ndi.binary_erosion(brain, structure=np.ones((1, 3, 3), bool), iterations=iters)
    return brain


def local_noise_std(hu_slice: np.ndarray, mask: np.ndarray) -> float:
    """The CT noise in parenchyma: std of the image minus its 5x5 mean, inside ``mask``."""
    if mask.sum() < 50:
        return 4.0
    img = np.asarray(hu_slice, dtype=np.float32)
    resid = img - ndi.uniform_filter(img, size=5)
    return float(np.clip(resid[mask].std() * np.sqrt(25.0 / 24.0), 1.0, 20.0))


# -- lesions ------------------------------------------------------------------------------------
@dataclass
class Lesion:
    """One synthetic lesion, in voxel coordinates of the host volume."""

    kind: str
    center: np.ndarray
    """(z, y, x) voxel coordinates."""
    radii_mm: np.ndarray
    """Semi-axes (a, b, c) in mm."""
    rotation: np.ndarray
    """3x3 rotation from volume (z, y, x mm) to lesion axes."""
    delta_hu: float
    """Signed contrast against the parenchyma."""
    style: str = "train"
    seed: int = 0
    lobulation: float = 0.0
    edge: float = 0.15
    texture: float = 0.15
    balls: list = field(default_factory=list)
    """Shifted style: (offset mm (3,), sigma mm) per metaball."""
    gradient: np.ndarray | None = None

    @property
    def diameter_mm(self) -> float:
        return float(2.0 * np.cbrt(np.prod(self.radii_mm)))

    @property
    def extent_mm(self) -> float:
        """A radius that bounds the whole lesion, soft edge included."""
        if self.style == "shifted":
            return float(max(np.linalg.norm(o) + 2.6 * s for o, s in self.balls))
        return float(self.radii_mm.max() * (1.0 + self.lobulation + 3.0 * self.edge) + 1.0)


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    a, b, c, d = q
    return np.array(
        [
            [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
            [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
            [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d],
        ]
    )


def random_lesion(
    rng: np.random.Generator, kind: str, center, style: str = "train", diameter_mm=None
) -> Lesion:
    """A lesion of ``kind`` ('hyper'/'hypo') at voxel ``center`` drawn from ``style``."""
    lo, hi = DIAMETER_MM
    if diameter_mm is None:
        d = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))  # log-uniform: many small
    else:
        d = float(diameter_mm)
    span = HYPER_HU if kind == "hyper" else HYPO_HU
    delta = float(rng.uniform(*span)) * (1.0 if kind == "hyper" else -1.0)
    if style == "train":
        aspect = rng.uniform(0.6, 1.0, size=3)
        aspect /= np.cbrt(np.prod(aspect))
        return Lesion(
            kind,
            np.asarray(center, float),
            d / 2.0 * aspect,
            _rotation(rng),
            delta,
            "train",
            int(rng.integers(2**31)),
            lobulation=float(rng.choice([0.0, rng.uniform(0.05, 0.35)])),
            edge=float(rng.uniform(0.06, 0.2)),
            texture=float(rng.uniform(0.05, 0.25)),
        )
    if style == "shifted":
        n = int(rng.integers(2, 6))
        r = d / 2.0
        balls = []
        for _ in range(n):
            offset = rng.normal(size=3)
            offset *= rng.uniform(0.0, 0.55 * r) / max(np.linalg.norm(offset), 1e-6)
            balls.append((offset, float(rng.uniform(0.35, 0.6) * r)))
        grad = rng.normal(size=3)
        grad *= rng.uniform(0.0, 0.35) / np.linalg.norm(grad)
        return Lesion(
            kind,
            np.asarray(center, float),
            np.array([r, r, r]),
            np.eye(3),
            delta,
            "shifted",
            int(rng.integers(2**31)),
            edge=float(rng.uniform(0.15, 0.35)),
            texture=float(rng.uniform(0.1, 0.3)),
            balls=balls,
            gradient=grad,
        )
    raise ValueError(f"unknown lesion style {style!r} (expected 'train' or 'shifted')")


FIELD_SIZE = 64
"""Edge (mm, at 1 mm per cell) of the periodic noise fields lesions sample from."""
FIELD_COUNT = 16
_FIELDS: dict[float, np.ndarray] = {}


def _field_bank(sigma: float) -> np.ndarray:
    """FIELD_COUNT periodic smooth noise fields (unit std) of correlation ``sigma`` mm.

    Built once per process from a fixed seed; a lesion picks one and a random offset into it,
    which is far cheaper than filtering a new field per lesion and just as random.
    """
    bank = _FIELDS.get(sigma)
    if bank is None:
        rng = np.random.default_rng(int(sigma * 1000) + 7)
        shape = (FIELD_COUNT, FIELD_SIZE, FIELD_SIZE, FIELD_SIZE)
        raw = rng.normal(size=shape).astype(np.float32)
        bank = ndi.gaussian_filter(raw, (0, sigma, sigma, sigma), mode="wrap")
        bank /= bank.std(axis=(1, 2, 3), keepdims=True)
        _FIELDS[sigma] = bank
    return bank


def _sample(sigma: float, seed: int, grid: np.ndarray) -> np.ndarray:
    """Field values at integer mm positions ``grid`` (..., 3), periodic, chosen by ``seed``."""
    bank = _field_bank(sigma)
    pick = np.random.default_rng(seed)
    f = bank[int(pick.integers(FIELD_COUNT))]
    idx = (grid + pick.integers(FIELD_SIZE, size=3)) % FIELD_SIZE
    return f[idx[..., 0], idx[..., 1], idx[..., 2]]


def _coords(lesion: Lesion, z_slices, shape_yx, spacing_zyx):
    """(points in mm (z, y, x) relative to the centre, 1 mm field indices, field size, box)."""
    sz, sy, sx = (float(v) for v in spacing_zyx)
    cz, cy, cx = lesion.center
    ext = lesion.extent_mm
    y0 = max(int(np.floor(cy - ext / sy)), 0)
    y1 = max(min(int(np.ceil(cy + ext / sy)) + 1, shape_yx[0]), y0)
    x0 = max(int(np.floor(cx - ext / sx)), 0)
    x1 = max(min(int(np.ceil(cx + ext / sx)) + 1, shape_yx[1]), x0)
    zs = np.asarray(list(z_slices), dtype=np.float64)
    pz = (zs - cz)[:, None, None] * sz
    py = (np.arange(y0, y1) - cy)[None, :, None] * sy
    px = (np.arange(x0, x1) - cx)[None, None, :] * sx
    pts = np.stack(np.broadcast_arrays(pz, py, px), axis=-1)
    # noise fields are sampled on a 1 mm grid fixed to the lesion's centre, so every slice
    # sees the same field: lobulation and texture agree between neighbouring slices
    grid = np.rint(pts).astype(np.int64)
    return pts, grid, (slice(y0, y1), slice(x0, x1))


def lesion_delta(
    lesion: Lesion, z_slices, shape_yx, spacing_zyx
) -> tuple[np.ndarray, np.ndarray, tuple[slice, slice]]:
    """(delta HU, profile, (rows, cols) box) of ``lesion`` on slices ``z_slices``.

    Both arrays have shape (len(z_slices), box rows, box cols). ``profile`` runs 0..1 with the
    lesion's boundary at 0.5; ``delta`` is the signed HU to add (contrast times profile times
    texture). Only the bounding box is computed, so a lesion is cheap whatever the image size.
    """
    pts, grid, box = _coords(lesion, z_slices, shape_yx, spacing_zyx)
    if pts.size == 0:
        empty = np.zeros(pts.shape[:-1], np.float32)
        return empty, empty, box
    if lesion.style == "train":
        rho = np.linalg.norm(pts @ lesion.rotation.T / lesion.radii_mm, axis=-1)
        if lesion.lobulation > 0:
            sigma = 3.0 if lesion.radii_mm.min() < 8.0 else 6.0
            bend = _sample(sigma, lesion.seed, grid)
            rho = rho * (1.0 + lesion.lobulation * np.tanh(bend))
        profile = 0.5 * (1.0 - np.tanh((rho - 1.0) / lesion.edge))
        shade = 1.0 + lesion.texture * _sample(0.8, lesion.seed + 1, grid)
    else:
        f = np.zeros(pts.shape[:-1])
        for offset, sigma in lesion.balls:
            f += np.exp(-np.sum((pts - offset) ** 2, axis=-1) / (2.0 * sigma * sigma))
        t = 0.45
        profile = 1.0 / (1.0 + np.exp(-(f - t) / (t * lesion.edge)))
        mottle = _sample(2.5, lesion.seed + 2, grid)
        shade = (1.0 + lesion.texture * mottle) * (
            1.0 + (pts @ lesion.gradient) / float(lesion.radii_mm[0])
        )
    profile = profile.astype(np.float32)
    delta = (lesion.delta_hu * profile * np.clip(shade, 0.2, 2.0)).astype(np.float32)
    return delta, profile, box


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


@dataclass
class Anatomy:
    """A host head CT: HU voxels, spacing, parenchyma mask and per-slice noise."""

    hu: np.ndarray
    spacing: tuple[float, float, float]
    brain: np.ndarray
    soft: np.ndarray
    noise: np.ndarray
    depth: np.ndarray
    """Per slice, the in-plane distance (mm) from each parenchyma pixel to its edge."""

    @classmethod
    def from_volume(cls, hu: np.ndarray, spacing_zyx) -> Anatomy:
        hu = np.asarray(hu, dtype=np.float32)
        spacing = tuple(float(v) for v in spacing_zyx)
        brain = parenchyma_mask(hu, spacing)
        soft = ndi.gaussian_filter(brain.astype(np.float32), (0, 1.0, 1.0))
        soft = np.clip(soft * 1.25, 0.0, 1.0) * ndi.binary_dilation(brain, np.ones((1, 3, 3), bool))
        noise = np.array([local_noise_std(hu[k], brain[k]) for k in range(hu.shape[0])])
        depth = np.stack(
            [
                ndi.distance_transform_edt(brain[k], sampling=spacing[1:]).astype(np.float32)
                for k in range(hu.shape[0])
            ]
        )
        return cls(hu, spacing, brain, soft.astype(np.float32), noise, depth)

    @property
    def pixel_mm2(self) -> float:
        return self.spacing[1] * self.spacing[2]

    def brain_area_mm2(self, k: int) -> float:
        return float(self.brain[k].sum()) * self.pixel_mm2


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
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(HU slice, mask, label, slice index) of class ``target`` (0 normal, 1 hyper, 2 hypo).

    Lesion samples hold 1-3 lesions, mostly of the target kind; sometimes a smaller lesion of
    the other kind is added (the label follows the larger cut). Draws again when the cut
    comes out too small to label.
    """
    candidates = lesion_candidates(anatomy, slices)
    if target == 0:
        # mostly from the slices lesions can be put in, so "much brain" is no shortcut to
        # "lesion"; sometimes any slice (vertex, skull base: normal too)
        pool = candidates if candidates and rng.random() < 0.85 else slices
        k = int(pool[int(rng.integers(len(pool)))])
        hu, mask, labels = compose(anatomy, [], [k])
        return hu[0], mask[0], 0, k
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
        hu, mask, labels = compose(anatomy, lesions, [k])
        if labels[0] == target:
            return hu[0], mask[0], target, k
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
