"""One synthetic lesion: its shape, edge, texture and contrast, drawn from a random generator,
and the HU it adds to the slices it cuts.

Two shape/texture generators (``style``) exist:

* ``"train"`` — ellipsoids whose surface is bent by a smooth random field (from smooth
  ellipsoids to lobulated, irregular blobs), tanh edge, fine texture.
* ``"shifted"`` — unions of 2-5 Gaussian "metaballs" thresholded, a logistic edge of another
  width, coarse mottled texture and a density gradient across the lesion.

Lesions live in 3D (millimetres, the host's voxel spacing), so neighbouring slices agree. The
contrast is relative to the local parenchyma: hyperdense +25..+60 HU, hypodense -8..-25 HU.

No torch and no Qt here; numpy and scipy.ndimage only. Everything random takes a
``numpy.random.Generator`` (the noise fields come from fixed seeds): the same seed gives the
same lesion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

KINDS = ("hyper", "hypo")
DIAMETER_MM = (6.0, 30.0)
HYPER_HU = (25.0, 60.0)
HYPO_HU = (8.0, 25.0)


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
