"""How normal head CT differs between scanners, protocols and patients, as random transforms.

The bundled model 2.0 trains with these and is evaluated on lesion-free slices built from
them (the robustness set), so a normal scan that merely looks different is not called
abnormal. Each family imitates one source of variation:

* ``noise`` — a different dose and noise texture: Gaussian noise of 1-9 HU, smoothed by up to
  1.4 pixels (correlated "grainy" noise) and rescaled to its target standard deviation.
* ``kernel`` — another reconstruction kernel: a soft kernel blurs (Gaussian 0.4-1.3 px), a
  sharp one enhances edges (unsharp masking, which also amplifies the noise).
* ``thickness`` — thicker slices: neighbouring slices averaged (partial volume). It needs the
  neighbours, so :func:`medviewer.ai.lesions.make_sample` applies it (``thickness=True``);
  here it is :func:`partial_volume`.
* ``hu_offset`` — a calibration offset (-12..+12 HU) and gain (0.97-1.03).
* ``position`` — patient position: rotation (-25..+25 deg), scale (0.8-1.2), shift (+-24 px),
  left-right flip.
* ``fov`` — reconstruction field of view: zoom (0.75-1.3) and the scanner's circular
  reconstruction limit, outside which the image is padding.
* ``beam_hardening`` — cupping near the skull (a smooth darkening or brightening that fades
  over 3-10 mm from bone) and, half the time, dark streaks between dense bone.

Training only, because they need the volume or change the anatomy rather than the scanner:
:func:`deform` (another head shape), :func:`csf_end` (a CSF space's end in partial volume) and
:func:`tilted_volume` (the head tilted out of the slice plane: a chin-down or rolled head, or
a tilted gantry, cuts every structure obliquely).

No torch and no Qt; numpy and scipy.ndimage. Everything takes a ``numpy.random.Generator``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

FAMILIES = ("noise", "kernel", "thickness", "hu_offset", "position", "fov", "beam_hardening")
AIR_HU = -1024.0


def _affine(rng_matrix, hu, mask, offset):
    out = ndi.affine_transform(hu, rng_matrix, offset, order=1, cval=AIR_HU, mode="constant")
    m = ndi.affine_transform(mask, rng_matrix, offset, order=0, cval=0, mode="constant")
    return out.astype(np.float32), m


def geometry(rng, hu, mask, *, degrees=25.0, scale=(0.8, 1.2), shift=24.0, flip=True):
    """Rotation, scale, shift and flip about the image centre (mask by nearest neighbour)."""
    rows, cols = hu.shape
    theta = np.deg2rad(rng.uniform(-degrees, degrees))
    s = rng.uniform(*scale)
    f = -1.0 if flip and rng.random() < 0.5 else 1.0
    c, si = np.cos(theta) / s, np.sin(theta) / s
    matrix = np.array([[c, -si], [si, c]]) @ np.diag([1.0, f])
    centre = np.array([(rows - 1) / 2.0, (cols - 1) / 2.0])
    move = rng.uniform(-shift, shift, size=2)
    return _affine(matrix, hu, mask, centre - matrix @ (centre + move))


def field_of_view(rng, hu, mask):
    """Zoom 0.75-1.3 and a circular reconstruction limit (padding outside)."""
    hu, mask = geometry(rng, hu, mask, degrees=0.0, scale=(0.75, 1.3), shift=8.0, flip=False)
    rows, cols = hu.shape
    radius = rng.uniform(0.44, 0.52) * min(rows, cols)
    yy, xx = np.ogrid[:rows, :cols]
    outside = (yy - (rows - 1) / 2.0) ** 2 + (xx - (cols - 1) / 2.0) ** 2 > radius**2
    hu[outside] = AIR_HU
    mask[outside] = 0
    return hu, mask


def noise(rng, hu):
    """Added noise of 1-9 HU standard deviation, white or correlated over up to 1.4 px."""
    sigma = rng.uniform(1.0, 9.0)
    white = rng.standard_normal(hu.shape).astype(np.float32)
    corr = rng.uniform(0.0, 1.4)
    if corr > 0.3:
        white = ndi.gaussian_filter(white, corr)
        white /= max(float(white.std()), 1e-6)
    return hu + sigma * white


def kernel(rng, hu):
    """A soft kernel (blur) or a sharp one (unsharp masking), half the time each."""
    if rng.random() < 0.5:
        return ndi.gaussian_filter(hu, rng.uniform(0.4, 1.3)).astype(np.float32)
    amount = rng.uniform(0.3, 1.2)
    smooth = ndi.gaussian_filter(hu, rng.uniform(0.7, 1.2))
    return (hu + amount * (hu - smooth)).astype(np.float32)


def hu_offset(rng, hu):
    """Calibration: gain 0.97-1.03 about water (0 HU) and an offset of -12..+12 HU."""
    return (hu * rng.uniform(0.97, 1.03) + rng.uniform(-12.0, 12.0)).astype(np.float32)


def beam_hardening(rng, hu, spacing_mm: float = 1.0):
    """Cupping near bone (-12..+6 HU fading over 3-10 mm) and, half the time, dark streaks."""
    bone = hu > 300.0
    if not bone.any():
        return hu
    tissue = (hu > -200.0) & ~bone
    distance = ndi.distance_transform_edt(~bone) * spacing_mm
    amplitude = rng.uniform(-12.0, 6.0)
    fade = rng.uniform(3.0, 10.0)
    out = hu + np.where(tissue, amplitude * np.exp(-distance / fade), 0.0).astype(np.float32)
    if rng.random() < 0.5:
        ys, xs = np.nonzero(bone)
        rows, cols = hu.shape
        yy, xx = np.mgrid[:rows, :cols].astype(np.float32)
        for _ in range(int(rng.integers(1, 4))):
            i, j = rng.integers(len(ys), size=2)
            p, q = np.array([ys[i], xs[i]], float), np.array([ys[j], xs[j]], float)
            d = q - p
            length = float(np.hypot(*d))
            if length < 20.0:
                continue
            n = np.array([-d[1], d[0]]) / length
            across = (yy - p[0]) * n[0] + (xx - p[1]) * n[1]
            along = ((yy - p[0]) * d[0] + (xx - p[1]) * d[1]) / length**2
            band = np.exp(-0.5 * (across / rng.uniform(1.0, 3.0)) ** 2)
            band *= (along > 0.0) & (along < 1.0)
            out += np.where(tissue, -rng.uniform(5.0, 20.0) * band, 0.0).astype(np.float32)
    return out.astype(np.float32)


def deform(rng, hu, mask, amplitude=(2.0, 6.0), smooth=(10.0, 22.0)):
    """Another head shape: a smooth random displacement field (2-6 px, correlated over 10-22 px)
    applied to the slice and its mask. Training only: it widens the anatomy one head offers;
    it is not a scanner variation and the robustness set does not use it."""
    rows, cols = hu.shape
    sigma = rng.uniform(*smooth)
    field = []
    for _ in range(2):
        d = ndi.gaussian_filter(rng.standard_normal((rows, cols)), sigma)
        field.append(d / max(float(np.abs(d).max()), 1e-6) * rng.uniform(*amplitude))
    yy, xx = np.mgrid[:rows, :cols].astype(np.float32)
    coords = np.stack([yy + field[0], xx + field[1]])
    out = ndi.map_coordinates(hu, coords, order=1, cval=AIR_HU, mode="constant")
    m = ndi.map_coordinates(mask, coords, order=0, cval=0, mode="constant")
    return out.astype(np.float32), m


def csf_end(rng, hu, brain, fade=(0.3, 0.85), radius_px=(8.0, 20.0), parts=(1, 2)):
    """A ventricle's or sulcus's end as a slice that just touches it shows it.

    CSF here: pixels of CSF density (-30..22 HU) between the parenchyma of ``brain`` (the
    slice's parenchyma mask, closed over ~6 pixels, so fissures and the ventricles count).
    In one or two discs (8-20 pixels in radius) around random CSF pixels, the CSF beyond a
    random line through the disc becomes parenchyma and the rest fades towards the parenchyma
    around it by 30-85 %, with a soft edge: the faint, short CSF space a slice shows where
    partial volume cuts the end of a horn or a smaller ventricle. The noise is kept. Training
    only, on normal and lesion slices alike; the lesion mask is unchanged. A slice without
    such CSF is returned as it is.
    """
    hu = np.asarray(hu, dtype=np.float32)
    smooth = ndi.gaussian_filter(hu, 1.0)
    region = ndi.binary_fill_holes(ndi.binary_closing(brain, iterations=6))
    ys, xs = np.nonzero(region & ~brain & (smooth > -30.0) & (smooth < 22.0))
    if ys.size < 12:
        return hu
    rows, cols = hu.shape
    yy, xx = np.mgrid[:rows, :cols].astype(np.float32)
    csf = np.zeros(hu.shape, bool)
    csf[ys, xs] = True
    weight = np.zeros(hu.shape, np.float32)
    for _ in range(int(rng.integers(parts[0], parts[1] + 1))):
        i = int(rng.integers(ys.size))
        r = rng.uniform(*radius_px)
        dy, dx = yy - ys[i], xx - xs[i]
        disc = csf & (dy * dy + dx * dx <= r * r)
        angle = rng.uniform(0.0, 2.0 * np.pi)
        beyond = dy * np.sin(angle) + dx * np.cos(angle) > rng.uniform(-0.3, 0.5) * r
        weight = np.maximum(weight, np.where(disc, np.where(beyond, 1.0, rng.uniform(*fade)), 0))
    weight = ndi.gaussian_filter(weight.astype(np.float32), 1.0)
    near = ndi.gaussian_filter(brain.astype(np.float32), 8.0)
    level = ndi.gaussian_filter(np.where(brain, hu, 0.0).astype(np.float32), 8.0)
    median = float(np.median(hu[brain])) if brain.any() else 30.0
    level = np.where(near > 0.02, level / np.maximum(near, 1e-6), median)
    return (hu + weight * (level - smooth)).astype(np.float32)


def tilted_volume(hu, spacing_zyx, pitch_deg, roll_deg, slabs, region):
    """The volume as oblique slices of a head tilted ``pitch_deg`` (nodding, about the
    left-right axis) and ``roll_deg`` (about the front-back axis) out of the slice plane.

    Slice ``j`` of the result reads, at pixel (r, c), the source volume at height
    ``j + a (r - r0) + b (c - c0)`` (linear between the two nearest slices), ``a`` and ``b``
    the tangents of the angles in slice units per pixel and (r0, c0) the centre of
    ``region``'s bounding box. Only the slices within ``slabs`` (inclusive (first, last)
    ranges) are resliced, and each reads **only its own slab**: heights beyond it are clamped
    to its ends, so a tilted slice never borrows a voxel from outside its slab (a held-out
    slice, say). The other slices are copied as they are. Returns (volume float32, the slices
    whose oblique plane, and the planes of their two neighbours, stays inside their slab over
    all of ``region``, a 2D mask of the pixels that must not be clamped: the head).
    """
    hu = np.asarray(hu, dtype=np.float32)
    dz, dy, dx = (float(v) for v in spacing_zyx)
    a = np.tan(np.radians(pitch_deg)) * dy / dz
    b = np.tan(np.radians(roll_deg)) * dx / dz
    rows, cols = np.nonzero(region)
    r0 = 0.5 * (rows.min() + rows.max())
    c0 = 0.5 * (cols.min() + cols.max())
    yy, xx = np.mgrid[: hu.shape[1], : hu.shape[2]].astype(np.float32)
    offset = (a * (yy - r0) + b * (xx - c0)).astype(np.float32)
    reach_low, reach_high = -float(offset[region].min()), float(offset[region].max())
    out = hu.copy()
    allowed = []
    for lo, hi in slabs:
        for j in range(lo, hi + 1):
            z = np.clip(j + offset, lo, hi)
            z0 = np.minimum(np.floor(z).astype(np.intp), hi)
            z1 = np.minimum(z0 + 1, hi)
            w = z - z0
            flat = np.arange(z.size)
            src0 = hu[z0.ravel(), flat // hu.shape[2], flat % hu.shape[2]]
            src1 = hu[z1.ravel(), flat // hu.shape[2], flat % hu.shape[2]]
            out[j] = ((1.0 - w.ravel()) * src0 + w.ravel() * src1).reshape(z.shape)
            if j - 1 - reach_low >= lo and j + 1 + reach_high <= hi:
                allowed.append(j)
    return out, allowed


def partial_volume(stack: np.ndarray, rng) -> np.ndarray:
    """The middle of 3 neighbouring slices seen through a thicker slice: a weighted mean
    (neighbours weigh 0.25-1 each, as for slices 1.5-3x as thick)."""
    w = rng.uniform(0.25, 1.0)
    return ((stack[0] * w + stack[1] + stack[2] * w) / (1.0 + 2.0 * w)).astype(np.float32)


def vary(rng, hu, mask, families=FAMILIES, p: float = 1.0, spacing_mm: float = 1.0):
    """Apply each family of ``families`` with probability ``p``, in the order a scanner would
    (geometry, beam hardening, noise, reconstruction kernel, calibration); ``thickness`` is
    skipped here (see :func:`partial_volume`). Returns (HU float32, mask)."""
    hu = np.asarray(hu, dtype=np.float32)
    chosen = {f for f in families if rng.random() < p}
    if "position" in chosen:
        hu, mask = geometry(rng, hu, mask)
    if "fov" in chosen:
        hu, mask = field_of_view(rng, hu, mask)
    if "beam_hardening" in chosen:
        hu = beam_hardening(rng, hu, spacing_mm)
    if "noise" in chosen:
        hu = noise(rng, hu)
    if "kernel" in chosen:
        hu = kernel(rng, hu)
    if "hu_offset" in chosen:
        hu = hu_offset(rng, hu)
    return hu.astype(np.float32), mask
