"""The host head CT's own lesion, found and (for training and testing) replaced.

The sample head CT (InVesalius "Cranium", ``resources/sample/cranium-ct``) is not a normal
head: its right frontal lobe holds a chronic hypodense lesion, about 35 x 40 mm in plane and
42 mm high (slices 55-82 of 108), 9 HU on average against the parenchyma's 24, next to a skull
defect at slice 84 (encephalomalacia after surgery or trauma is the likely reading). The
parenchyma mask (:func:`medviewer.ai.lesion_anatomy.parenchyma_mask`, 18-52 HU) leaves it out
as if it were a CSF space, so on the CT as scanned every slice through it is a "normal"
slice of the bundled model's data: in training (levels 55-62 and 71), in validation (65-68,
half of the validation's normal images) and in the test (74-80, half of the test's).

:func:`lesion_mask` finds it (deterministic: thresholds, a seed point and morphology, no
hand-drawn voxels); :func:`repaired` fills it with the mirror image of the healthy left
frontal lobe across the midline, blended over ~2 pixels, so the normal class is normal. The
unrepaired slices stay what the viewer shows; ``models/bundled_eval.py`` reports on them
separately as the one real hypodense lesion at hand, and the lesion demonstration study's
ground truth includes it.

No torch and no Qt here; numpy and scipy.ndimage only. Nothing random.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

SEED_ZYX = (70, 80, 95)
"""A voxel inside the lesion (slice, row, column) of the sample CT."""
BOX = (slice(50, 92), slice(50, 130), slice(65, 128))
"""Where the lesion may lie: slices, rows and columns (the right frontal quadrant)."""
LESION_HU = (-2.0, 16.0)
"""Smoothed HU of the lesion (parenchyma 18-52, CSF below ~8)."""


def _inside_skull(hu: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[-4:5, -4:5]
    disk = (yy * yy + xx * xx) <= 16
    inside = np.zeros(hu.shape, bool)
    for k in range(hu.shape[0]):
        ring = np.pad(hu[k] > 100.0, 20)
        ring = ndi.binary_closing(ring, structure=disk, iterations=3)[20:-20, 20:-20]
        inside[k] = ndi.binary_fill_holes(ring) & ~ring
    return inside


def lesion_mask(hu: np.ndarray, spacing_zyx) -> np.ndarray:
    """The host CT's right frontal lesion as a bool volume (empty if the seed is not in one).

    Inside the skull and >= 3 mm from bone, smoothed HU in :data:`LESION_HU`, within
    :data:`BOX`; eroded by 3 pixels in plane to cut the thin bridges to the ventricle and the
    interhemispheric fissure, the part holding :data:`SEED_ZYX` kept, and grown back by 4
    pixels within the same thresholds."""
    hu = np.asarray(hu, dtype=np.float32)
    smooth = ndi.gaussian_filter(hu, (0.7, 2.5, 2.5))
    bone = hu > 150.0
    far = ndi.distance_transform_edt(~bone, sampling=spacing_zyx) >= 3.0
    box = np.zeros(hu.shape, bool)
    box[BOX] = True
    low, high = LESION_HU
    candidate = _inside_skull(hu) & far & box & (smooth > low) & (smooth < high)
    plane = np.ones((1, 3, 3), bool)
    candidate = ndi.binary_opening(candidate, structure=plane)
    core = ndi.binary_erosion(candidate, structure=plane, iterations=3)
    labels, _ = ndi.label(core)
    seed = labels[SEED_ZYX]
    if seed == 0:
        return np.zeros(hu.shape, bool)
    return ndi.binary_dilation(labels == seed, structure=plane, iterations=4) & candidate


def midline_columns(hu: np.ndarray, mask: np.ndarray) -> dict[int, float]:
    """Per slice holding ``mask``: the column of the head's left-right mid-plane, halfway
    between the skull's inner edges over the rows the mask spans."""
    inside = _inside_skull(hu)
    out = {}
    for k in np.flatnonzero(mask.any(axis=(1, 2))):
        rows = np.flatnonzero(mask[k].any(axis=1))
        centres = []
        for r in range(rows.min(), rows.max() + 1):
            cols = np.flatnonzero(inside[k, r])
            if cols.size:
                centres.append((cols.min() + cols.max()) / 2.0)
        out[int(k)] = float(np.median(centres))
    return out


def repaired(hu: np.ndarray, spacing_zyx) -> tuple[np.ndarray, np.ndarray]:
    """(the volume with the lesion replaced by its mirror image across the midline, the
    lesion mask). The mask grown by 2 pixels is blended towards the mirrored tissue with a
    soft edge (Gaussian, 1 pixel): fully inside, fading out over the next ~4 pixels; farther
    away the volume is unchanged."""
    hu = np.asarray(hu, dtype=np.float32)
    mask = lesion_mask(hu, spacing_zyx)
    out = hu.copy()
    if not mask.any():
        return out, mask
    grown = ndi.binary_dilation(mask, structure=np.ones((1, 3, 3), bool), iterations=2)
    weight = np.clip(ndi.gaussian_filter(grown.astype(np.float32), (0.0, 1.0, 1.0)) * 1.5, 0, 1)
    rows, cols = hu.shape[1:]
    yy, xx = np.mgrid[:rows, :cols].astype(np.float32)
    for k, mid in midline_columns(hu, grown).items():
        mirror = ndi.map_coordinates(hu[k], [yy, 2.0 * mid - xx], order=1, mode="nearest")
        w = weight[k]
        out[k] = hu[k] * (1.0 - w) + mirror * w
    return out, mask
