"""Scanner variation (``medviewer.ai.ct_variation``) on a head phantom: each family does what
its name says, keeps the mask on the lesion, and the same seed gives the same image."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from medviewer.ai import ct_variation as V


@pytest.fixture(scope="module")
def head():
    """A 256 x 256 phantom: air, a skull ring (1000 HU), brain (30 HU) with a hypodense disc."""
    yy, xx = np.mgrid[:256, :256].astype(np.float32)
    r = np.hypot((yy - 128) / 100.0, (xx - 128) / 85.0)
    hu = np.full((256, 256), -1000.0, np.float32)
    hu[r < 1.0] = 1000.0
    hu[r < 0.9] = 30.0
    lesion = np.hypot(yy - 100, xx - 150) < 10
    hu[lesion] = 10.0
    return hu, lesion.astype(np.uint8) * 2


def _fine(img):
    return img - ndi.gaussian_filter(img, 2.0)


def test_noise_adds_the_stated_amount(head):
    hu, _ = head
    diff = V.noise(np.random.default_rng(1), hu) - hu
    assert 1.0 * 0.9 <= diff.std() <= 9.0 * 1.1
    assert abs(diff.mean()) < 0.5


def test_kernel_blurs_or_sharpens(head):
    hu, _ = head
    brain = np.hypot(*np.mgrid[-128:128, -128:128]) < 60
    seen = set()
    for seed in range(12):
        out = V.kernel(np.random.default_rng(seed), hu)
        before, after = np.abs(_fine(hu)).sum(), np.abs(_fine(out)).sum()
        seen.add("soft" if after < before else "sharp")
        assert np.allclose(out[brain & (np.abs(_fine(hu)) < 1e-3)].mean(), 30.0, atol=1.0)
    assert seen == {"soft", "sharp"}


def test_hu_offset_stays_within_its_range(head):
    hu, _ = head
    for seed in range(20):
        out = V.hu_offset(np.random.default_rng(seed), hu)
        water = out[hu == 30.0].mean() - 30.0 * 1.0
        assert -12.0 - 1.0 <= water <= 12.0 + 1.0


def test_position_and_fov_move_the_mask_with_the_lesion(head):
    hu, mask = head
    for seed in range(6):
        rng = np.random.default_rng(seed)
        out, m = V.geometry(rng, hu, mask)
        assert m.any()
        inside = ndi.binary_erosion(m == 2, iterations=2)
        assert abs(out[inside].mean() - 10.0) < 2.0  # the mask still covers the lesion
        out, m = V.field_of_view(np.random.default_rng(seed), hu, mask)
        assert out[0, 0] == V.AIR_HU and out[0, -1] == V.AIR_HU  # outside the circle


def test_beam_hardening_changes_tissue_near_bone_only(head):
    hu, _ = head
    out = V.beam_hardening(np.random.default_rng(3), hu, 1.0)
    assert np.array_equal(out[hu < -500], hu[hu < -500])  # air untouched
    assert np.array_equal(out[hu > 300], hu[hu > 300])  # bone untouched
    near = (hu == 30.0) & (ndi.distance_transform_edt(hu < 300) < 3)
    centre = (hu == 30.0) & (ndi.distance_transform_edt(hu < 300) > 40)
    assert np.abs(out[near] - hu[near]).mean() > np.abs(out[centre] - hu[centre]).mean()
    assert np.array_equal(
        V.beam_hardening(np.random.default_rng(3), hu * 0 - 1000.0), hu * 0 - 1000.0
    )


def test_partial_volume_is_a_weighted_mean_of_the_neighbours():
    stack = np.stack([np.zeros((4, 4)), np.full((4, 4), 30.0), np.full((4, 4), 60.0)])
    out = V.partial_volume(stack.astype(np.float32), np.random.default_rng(0))
    assert np.allclose(out, out[0, 0]) and 30.0 <= out[0, 0] <= 30.0 + 1e-4


def test_vary_is_seeded_and_leaves_out_what_it_is_not_asked(head):
    hu, mask = head
    a = V.vary(np.random.default_rng(9), hu, mask)
    b = V.vary(np.random.default_rng(9), hu, mask)
    c = V.vary(np.random.default_rng(10), hu, mask)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    same, m = V.vary(np.random.default_rng(9), hu, mask, families=())
    assert np.array_equal(same, hu) and np.array_equal(m, mask)
    assert a[0].dtype == np.float32


def test_deform_moves_tissue_a_few_pixels_and_keeps_the_mask_on_the_lesion(head):
    hu, mask = head
    out, m = V.deform(np.random.default_rng(4), hu, mask)
    assert not np.array_equal(out, hu) and m.any()
    # the skull ring moves by at most the amplitude (6 px): bone stays near bone
    near_bone = ndi.binary_dilation(hu > 300, iterations=7)
    assert near_bone[out > 300].all()
    inside = ndi.binary_erosion(m == 2, iterations=2)
    assert abs(out[inside].mean() - 10.0) < 2.0


@pytest.fixture(scope="module")
def ventricles():
    """A noisy brain (30 HU) with two ventricle-like CSF spaces (5 HU) and its parenchyma mask."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:256, :256].astype(np.float32)
    r = np.hypot((yy - 128) / 100.0, (xx - 128) / 85.0)
    hu = np.full((256, 256), -1000.0, np.float32)
    hu[r < 1.0] = 1000.0
    hu[r < 0.9] = 30.0
    csf = np.zeros(hu.shape, bool)
    for cx in (108, 148):
        csf |= (np.abs(xx - cx) < 5) & (np.abs(yy - 135) < 30)
    hu[csf] = 5.0
    hu[r < 0.9] += rng.normal(0.0, 3.0, size=int((r < 0.9).sum())).astype(np.float32)
    brain = ndi.binary_erosion((r < 0.85) & ~ndi.binary_dilation(csf, iterations=2))
    return hu, brain, csf


def test_csf_end_fills_part_of_a_csf_space_and_keeps_the_rest_of_the_slice(ventricles):
    hu, brain, csf = ventricles
    raised = []
    for seed in range(6):
        out = V.csf_end(np.random.default_rng(seed), hu, brain)
        far = ~ndi.binary_dilation(csf, iterations=6)
        assert np.abs(out[far] - hu[far]).max() < 1e-3  # only CSF and its edge change
        gain = out[csf] - hu[csf]
        assert gain.min() > -2.0 and gain.max() < 40.0
        raised.append(float((gain > 8.0).mean()))
        assert np.array_equal(V.csf_end(np.random.default_rng(seed), hu, brain), out)
    # it changes a part of the CSF, not nothing and not all of it every time
    assert 0.05 < np.mean(raised) < 0.9 and max(raised) > 0.1


def test_csf_end_keeps_the_noise_where_csf_became_parenchyma(ventricles):
    hu, brain, csf = ventricles
    out = V.csf_end(np.random.default_rng(1), hu, brain, fade=(1.0, 1.0), radius_px=(60, 60))
    filled = ndi.binary_erosion(csf, iterations=2) & (out > 20.0)
    assert filled.sum() > 100
    assert abs(float(out[filled].mean()) - 30.0) < 3.0
    fine = _fine(out)[filled].std()
    assert 0.5 * 3.0 < fine < 1.5 * 3.0


def test_csf_end_leaves_a_slice_without_csf_as_it_is(head):
    hu, mask = head
    brain = (hu > 20) & (hu < 40)
    out = V.csf_end(np.random.default_rng(0), np.where(brain | (hu > 500), hu, -1000.0), brain)
    assert np.array_equal(out, np.where(brain | (hu > 500), hu, -1000.0))


def _ramp_volume():
    """20 slices whose value is 10 x the slice index plus a column pattern (so columns differ)."""
    z = np.arange(20, dtype=np.float32)[:, None, None]
    cols = np.arange(64, dtype=np.float32)[None, None, :]
    return np.broadcast_to(10.0 * z + 0.001 * cols, (20, 64, 64)).copy()


def test_tilted_volume_cuts_obliquely_by_the_stated_angle():
    vol = _ramp_volume()
    region = np.zeros((64, 64), bool)
    region[16:48, 16:48] = True
    spacing = (1.5, 1.0, 1.0)
    out, allowed = V.tilted_volume(vol, spacing, 10.0, 0.0, [(0, 19)], region)
    # pitch: the height read changes along the rows by tan(10 deg) * 1 mm / 1.5 mm per row
    per_row = np.tan(np.radians(10.0)) / 1.5
    j = 10
    centre = 0.5 * (16 + 47)
    expected = 10.0 * (j + per_row * (np.arange(64) - centre))
    inside = (expected >= 0) & (expected <= 190)
    got = out[j][:, 0]
    assert np.allclose(got[inside], expected[inside], atol=1e-3)
    assert np.allclose(out[j][:, 5] - out[j][:, 0], 0.005, atol=1e-4)  # no roll: columns kept
    # every allowed slice and its neighbours stay inside the slab over the region
    reach = per_row * (47 - centre)
    assert allowed == [k for k in range(20) if k - 1 - reach >= 0 and k + 1 + reach <= 19]
    assert 10 in allowed and 0 not in allowed and 19 not in allowed


def test_tilted_volume_without_a_tilt_is_the_volume():
    vol = _ramp_volume()
    region = np.ones((64, 64), bool)
    out, allowed = V.tilted_volume(vol, (1.5, 1.0, 1.0), 0.0, 0.0, [(0, 19)], region)
    assert np.array_equal(out, vol)
    assert allowed == list(range(1, 19))


def test_tilted_volume_reads_nothing_outside_each_slice_slab():
    rng = np.random.default_rng(3)
    vol = rng.normal(30.0, 5.0, (30, 48, 48)).astype(np.float32)
    region = np.ones((48, 48), bool)
    slabs = [(0, 9), (20, 29)]
    held_out = list(range(10, 20))
    out, allowed = V.tilted_volume(vol, (1.5, 1.0, 1.0), 6.0, -5.0, slabs, region)
    changed = vol.copy()
    changed[held_out] += 1000.0
    out2, allowed2 = V.tilted_volume(changed, (1.5, 1.0, 1.0), 6.0, -5.0, slabs, region)
    trained = [k for k in range(30) if k not in held_out]
    assert np.array_equal(out[trained], out2[trained])
    assert allowed == allowed2 and set(allowed) <= set(trained)
    assert not np.array_equal(out[5], vol[5])  # it did tilt
