"""A second, CT-like head for training the bundled model: Colin27's T1 MRI (MRIcron's
``ch2.nii.gz``, BSD-3) turned into Hounsfield units.

The one real head CT (``cranium-ct``) shows the normal anatomy of one head at its 108 levels:
a held-out level's CSF spaces (fourth ventricle, occipital horns) were never seen in training
and look like hypodense lesions. Colin27 is another head, at 1 mm. Its brain (``ch2bet``)
is split by T1 intensity into CSF, grey and white matter, which get CT values (8, 38 and 27 HU:
on CT grey matter is brighter than white, on T1 darker); a skull of 6 mm of bone (~1100 HU)
is laid around the brain inside the head, scalp soft tissue and fat outside it, air around.
It is then resampled to the CT's grid (0.957 mm pixels, 1.5 mm slices, 256 x 256) and given
CT-like noise. It is no CT: bone is geometric, there are no sinuses. It only adds another
brain's CSF, sulci and ventricles at every level, with lesions placed into it as into the CT.

numpy, scipy and SimpleITK only. Deterministic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mricron-templates"
SPACING = (1.5, 0.9570312, 0.9570312)
SIZE = 256
HU_CSF, HU_GM, HU_WM = 8.0, 38.0, 27.0
HU_BONE, HU_SCALP, HU_FAT = 1100.0, 45.0, -90.0
SKULL_MM = (2.0, 8.0)
"""Bone from this far outside the brain (CSF before it) to this far."""


def _three_means(values: np.ndarray) -> tuple[float, float, float]:
    """CSF, grey and white matter T1 levels: 1D k-means with 3 centres."""
    centres = np.percentile(values, [10, 50, 90]).astype(np.float64)
    for _ in range(50):
        nearest = np.argmin(np.abs(values[:, None] - centres[None]), axis=1)
        new = np.array([values[nearest == i].mean() for i in range(3)])
        if np.allclose(new, centres):
            break
        centres = new
    return tuple(float(c) for c in np.sort(centres))


def colin_hu(folder: Path = DATA, seed: int = 7) -> tuple[np.ndarray, tuple]:
    """(HU volume (slices, 256, 256) float32 on the CT's grid, spacing zyx in mm)."""
    import SimpleITK as sitk

    t1_img = sitk.ReadImage(str(folder / "ch2.nii.gz"))
    t1 = sitk.GetArrayFromImage(t1_img).astype(np.float32)  # (z, y, x), 1 mm
    brain = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "ch2bet.nii.gz"))) > 0
    csf, gm, wm = _three_means(t1[brain])
    # inside the brain: piecewise linear from T1 to HU through the three tissue levels
    hu = np.full(t1.shape, -1000.0, np.float32)
    hu[brain] = np.interp(t1[brain], [csf, gm, wm], [HU_CSF, HU_GM, HU_WM])
    # the head: anything brighter than the background, filled slice by slice
    head = ndi.gaussian_filter(t1, 1.0) > 20.0
    for k in range(head.shape[0]):
        head[k] = ndi.binary_fill_holes(ndi.binary_closing(head[k], iterations=3))
    distance = ndi.distance_transform_edt(~brain)  # mm (1 mm voxels)
    outside = head & ~brain
    csf_gap = outside & (distance <= SKULL_MM[0])
    bone = outside & (distance > SKULL_MM[0]) & (distance <= SKULL_MM[1])
    scalp = outside & (distance > SKULL_MM[1])
    hu[csf_gap] = HU_CSF
    rng = np.random.default_rng(seed)
    grain = ndi.gaussian_filter(rng.standard_normal(t1.shape).astype(np.float32), 2.0)
    hu[bone] = HU_BONE + 1500.0 * grain[bone]  # diploe and cortex vary
    fat = scalp & (t1 > 140.0)
    hu[scalp] = HU_SCALP
    hu[fat] = HU_FAT
    return _to_ct_grid(hu, rng), SPACING


def _to_ct_grid(hu: np.ndarray, rng) -> np.ndarray:
    """Resample (1 mm, z up, y and x as the NIfTI stores them) to axial 1.5 mm slices of
    256 x 256 pixels of 0.957 mm, centred, with CT noise (~4 HU, slightly correlated)."""
    nz, ny, nx = hu.shape
    out_z = int(nz / SPACING[0])
    z = np.arange(out_z) * SPACING[0]
    centre_y, centre_x = (ny - 1) / 2.0, (nx - 1) / 2.0
    grid = (np.arange(SIZE) - (SIZE - 1) / 2.0) * SPACING[1]
    yy, xx = np.meshgrid(centre_y - grid, centre_x + grid, indexing="ij")  # anterior up
    out = np.empty((out_z, SIZE, SIZE), np.float32)
    for i, zz in enumerate(z):
        coords = np.stack([np.full_like(yy, zz), yy, xx])
        out[i] = ndi.map_coordinates(hu, coords, order=1, cval=-1000.0)
    noise = ndi.gaussian_filter(rng.standard_normal(out.shape).astype(np.float32), (0, 0.7, 0.7))
    out += noise * (4.0 / float(noise.std()))
    return out
