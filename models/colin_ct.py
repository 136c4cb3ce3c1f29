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

from dataclasses import dataclass
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


@dataclass(frozen=True)
class CtLook:
    """What a real head CT looks like where Colin27's conversion guesses: ``--second-head
    matched`` measures it on the real CT's training slices (:func:`measure_ct`)."""

    csf_hu: float
    """Lower quartile of deep CSF (inside the brain's outline, not parenchyma, 3 pixels from
    its edge: the ventricles and wide cisterns), 1-pixel Gaussian: the cores of the
    ventricles (their median still mixes in partial volume at the edges)."""
    parenchyma_hu: float
    """Median parenchyma HU after a 1.5-pixel Gaussian (noise averaged out)."""
    noise_sd: float
    """Median per-slice parenchyma noise (HU), as :class:`~medviewer.ai.lesions.Anatomy`
    measures it."""
    acf: np.ndarray
    """The noise's autocorrelation in the slice plane, lags -ACF_LAG..ACF_LAG (centre 1)."""


ACF_LAG = 6


def measure_ct(hu: np.ndarray, brain: np.ndarray, noise: np.ndarray, slices) -> CtLook:
    """CSF level, parenchyma level, noise level and noise texture of a head CT's ``slices``.

    The texture is the autocorrelation of the difference of neighbouring slices (both in
    ``slices``; their noise is independent, their anatomy nearly the same) over parenchyma
    3 pixels in from its edge."""
    csf, paren = [], []
    chosen = set(slices)
    lag = ACF_LAG
    sums = np.zeros((2 * lag + 1, 2 * lag + 1))
    counts = np.zeros_like(sums)
    for k in slices:
        inside = ndi.binary_fill_holes(brain[k]) & ~brain[k]
        smooth = ndi.gaussian_filter(hu[k].astype(np.float64), 1.0)
        csf.append(smooth[ndi.binary_erosion(inside, iterations=3)])
        if brain[k].sum() < 400:
            continue
        paren.append(np.median(ndi.gaussian_filter(hu[k].astype(np.float64), 1.5)[brain[k]]))
        if k + 1 not in chosen:
            continue
        m = ndi.binary_erosion(brain[k] & brain[k + 1], iterations=3)
        d = np.where(m, hu[k].astype(np.float64) - hu[k + 1], 0.0)
        d[m] -= d[m].mean()
        mf = m.astype(np.float64)
        h, w = d.shape
        for dy in range(-lag, lag + 1):
            for dx in range(-lag, lag + 1):
                ys, xs = slice(max(0, dy), h + min(0, dy)), slice(max(0, dx), w + min(0, dx))
                yd, xd = slice(max(0, -dy), h + min(0, -dy)), slice(max(0, -dx), w + min(0, -dx))
                sums[dy + lag, dx + lag] += (d[ys, xs] * d[yd, xd]).sum()
                counts[dy + lag, dx + lag] += (mf[ys, xs] * mf[yd, xd]).sum()
    acf = sums / np.maximum(counts, 1.0)
    return CtLook(
        csf_hu=float(np.percentile(np.concatenate(csf), 25)),
        parenchyma_hu=float(np.median(paren)),
        noise_sd=float(np.median(noise[list(slices)])),
        acf=acf / acf[lag, lag],
    )


def textured_noise(rng, shape: tuple, look: CtLook) -> np.ndarray:
    """White noise shaped slice by slice to ``look``'s autocorrelation (its power spectrum,
    Wiener-Khinchin), standard deviation ``noise_sd``."""
    lag = ACF_LAG
    kernel = np.zeros(shape[1:])
    for dy in range(-lag, lag + 1):
        for dx in range(-lag, lag + 1):
            kernel[dy % shape[1], dx % shape[2]] = look.acf[dy + lag, dx + lag]
    gain = np.sqrt(np.clip(np.fft.rfft2(kernel).real, 0.0, None))
    white = rng.standard_normal(shape).astype(np.float32)
    out = np.fft.irfft2(np.fft.rfft2(white) * gain, s=shape[1:]).astype(np.float32)
    return out * (look.noise_sd / float(out.std()))


def colin_hu(
    folder: Path = DATA, seed: int = 7, look: CtLook | None = None
) -> tuple[np.ndarray, tuple]:
    """(HU volume (slices, 256, 256) float32 on the CT's grid, spacing zyx in mm).

    ``look`` (``--second-head matched``): CSF, parenchyma, noise level and texture as the real
    CT measured them, and each 1.5 mm slice the mean of the volume across its thickness
    (partial volume) instead of a plane through it. Without it: the first conversion (CSF
    8 HU, smooth ~4 HU noise, thin planes), as the card's second-head runs used it."""
    import SimpleITK as sitk

    t1_img = sitk.ReadImage(str(folder / "ch2.nii.gz"))
    t1 = sitk.GetArrayFromImage(t1_img).astype(np.float32)  # (z, y, x), 1 mm
    brain = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "ch2bet.nii.gz"))) > 0
    csf, gm, wm = _three_means(t1[brain])
    # inside the brain: piecewise linear from T1 to HU through the three tissue levels
    hu = np.full(t1.shape, -1000.0, np.float32)
    levels = [HU_CSF, HU_GM, HU_WM]
    if look is not None:  # the real CT's CSF; grey and white matter moved to its parenchyma
        tissue = np.interp(t1[brain], [gm, wm], [HU_GM, HU_WM])
        shift = look.parenchyma_hu - float(np.median(tissue))
        levels = [look.csf_hu, HU_GM + shift, HU_WM + shift]
    hu[brain] = np.interp(t1[brain], [csf, gm, wm], levels)
    # the head: anything brighter than the background, filled slice by slice
    head = ndi.gaussian_filter(t1, 1.0) > 20.0
    for k in range(head.shape[0]):
        head[k] = ndi.binary_fill_holes(ndi.binary_closing(head[k], iterations=3))
    distance = ndi.distance_transform_edt(~brain)  # mm (1 mm voxels)
    outside = head & ~brain
    csf_gap = outside & (distance <= SKULL_MM[0])
    bone = outside & (distance > SKULL_MM[0]) & (distance <= SKULL_MM[1])
    scalp = outside & (distance > SKULL_MM[1])
    hu[csf_gap] = levels[0]
    rng = np.random.default_rng(seed)
    grain = ndi.gaussian_filter(rng.standard_normal(t1.shape).astype(np.float32), 2.0)
    hu[bone] = HU_BONE + 1500.0 * grain[bone]  # diploe and cortex vary
    fat = scalp & (t1 > 140.0)
    hu[scalp] = HU_SCALP
    hu[fat] = HU_FAT
    return _to_ct_grid(hu, rng, look), SPACING


def _to_ct_grid(hu: np.ndarray, rng, look: CtLook | None = None) -> np.ndarray:
    """Resample (1 mm, z up, y and x as the NIfTI stores them) to axial 1.5 mm slices of
    256 x 256 pixels of 0.957 mm, centred, with CT noise (~4 HU, slightly correlated; with
    ``look``: the real CT's noise, each slice averaged across its thickness)."""
    nz, ny, nx = hu.shape
    out_z = int(nz / SPACING[0])
    z = np.arange(out_z) * SPACING[0]
    centre_y, centre_x = (ny - 1) / 2.0, (nx - 1) / 2.0
    grid = (np.arange(SIZE) - (SIZE - 1) / 2.0) * SPACING[1]
    yy, xx = np.meshgrid(centre_y - grid, centre_x + grid, indexing="ij")  # anterior up
    out = np.empty((out_z, SIZE, SIZE), np.float32)
    across = (-0.5, 0.0, 0.5) if look is not None else (0.0,)  # mm, within the 1.5 mm slice
    for i, zz in enumerate(z):
        out[i] = np.mean(
            [
                ndi.map_coordinates(
                    hu, np.stack([np.full_like(yy, zz + dz), yy, xx]), order=1, cval=-1000.0
                )
                for dz in across
            ],
            axis=0,
        )
    if look is not None:
        return out + textured_noise(rng, out.shape, look)
    noise = ndi.gaussian_filter(rng.standard_normal(out.shape).astype(np.float32), (0, 0.7, 0.7))
    out += noise * (4.0 / float(noise.std()))
    return out
