"""The host of the synthetic lesions: a real head CT's brain parenchyma and its CT noise.

:func:`parenchyma_mask` finds the brain in a head CT volume (HU); :class:`Anatomy` holds a host
volume with its mask, a soft version of it for blending, the noise per slice and each
parenchyma pixel's depth, which ``lesions`` uses to place lesions.

No torch and no Qt here; numpy and scipy.ndimage only. Nothing random.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import ndimage as ndi

PARENCHYMA_HU = (18.0, 52.0)


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

    @cached_property
    def _brain_pixels(self) -> np.ndarray:
        return self.brain.sum(axis=(1, 2))

    def brain_area_mm2(self, k: int) -> float:
        """Parenchyma area of slice ``k`` (counted once per volume: training asks it per
        sample)."""
        return float(self._brain_pixels[k]) * self.pixel_mm2
