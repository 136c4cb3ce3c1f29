"""The synthetic lesion generator behind the bundled model: real anatomy, honest labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi

from medviewer.ai import lesions as L

SAMPLE = Path(__file__).resolve().parents[2] / "resources" / "sample" / "cranium-ct"


@pytest.fixture(scope="module")
def anatomy() -> L.Anatomy:
    from medviewer.dicom import load_volume, scan

    volume = load_volume(scan([SAMPLE]).studies[0].series[0])
    return L.Anatomy.from_volume(volume.array, volume.spacing)


def test_parenchyma_mask_is_brain_not_bone_csf_or_scalp(anatomy):
    hu, brain = anatomy.hu, anatomy.brain
    mid = 62  # lateral ventricles level
    assert anatomy.brain_area_mm2(mid) > 5000
    # no bone and no CSF/air in the mask (smoothed HU within the parenchyma range)
    assert not (hu[brain] > 200).any()
    smooth = ndi.gaussian_filter(hu[mid], 1.2)
    assert (smooth[brain[mid]] >= L.PARENCHYMA_HU[0]).mean() > 0.95  # pinholes are filled
    assert (smooth[brain[mid]] < 10).mean() < 0.002  # ventricles (CSF ~0-10 HU) are left out
    # scalp muscle lies outside the skull: the mask stays inside the bone ring
    rows = np.where(brain[mid].any(axis=1))[0]
    bone_rows = np.where((hu[mid] > 300).any(axis=1))[0]
    assert bone_rows.min() < rows.min() and rows.max() < bone_rows.max()
    # the vertex and the lowest slices (face, no brain) hold no parenchyma
    assert anatomy.brain_area_mm2(107) == 0
    assert anatomy.brain_area_mm2(0) == 0


def test_splits_are_disjoint_with_a_gap():
    parts = {name: set(L.split_slices(name)) for name in L.SPLITS}
    for a in parts:
        for b in parts:
            if a < b:
                gaps = [abs(i - j) for i in parts[a] for j in parts[b]]
                assert min(gaps) >= 4, (a, b)  # at least 3 slices (4.5 mm) between splits
    assert set().union(*parts.values()) <= set(range(108))


def test_same_seed_same_data_other_seed_other_data(anatomy):
    slices = L.split_slices("train")
    a = L.make_sample(np.random.default_rng(7), anatomy, slices, 1)
    b = L.make_sample(np.random.default_rng(7), anatomy, slices, 1)
    c = L.make_sample(np.random.default_rng(8), anatomy, slices, 1)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[3] == b[3]
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("target", [1, 2])
@pytest.mark.parametrize("style", ["train", "shifted"])
def test_lesions_lie_in_parenchyma_with_the_promised_contrast(anatomy, target, style):
    rng = np.random.default_rng(100 + target)
    for _ in range(6):
        hu, mask, label, k = L.make_sample(rng, anatomy, L.split_slices("train"), target, style)
        assert label == target
        lesion = mask > 0
        assert lesion.sum() * anatomy.pixel_mm2 >= L.MIN_CUT_MM2
        # inside the (slightly widened) parenchyma: never bone, air or ventricle
        near_brain = ndi.binary_dilation(anatomy.brain[k], iterations=2)
        assert near_brain[lesion].all()
        assert not (anatomy.hu[k][lesion] > 200).any()
        own = mask == target
        delta = (hu - anatomy.hu[k])[own]
        mean = float(np.median(delta))
        if target == 1:
            assert 10.0 <= mean <= 60.0 * 1.4
        else:
            assert -25.0 * 1.4 <= mean <= -4.0
        changed = hu != anatomy.hu[k]
        assert changed.any() and (anatomy.soft[k][changed] > 0).all()  # only parenchyma moves


def test_normal_samples_are_untouched_anatomy(anatomy):
    hu, mask, label, k = L.make_sample(np.random.default_rng(3), anatomy, L.split_slices("val"), 0)
    assert label == 0 and not mask.any()
    assert np.array_equal(hu, anatomy.hu[k])


def test_lesion_size_matches_the_requested_diameter(anatomy):
    rng = np.random.default_rng(11)
    sizes = []
    for _ in range(8):
        le = L.place_lesion(rng, anatomy, 62, "hyper", diameter_mm=20.0)
        le.lobulation = 0.0
        _, profile, _ = L.lesion_delta(le, range(40, 85), anatomy.hu.shape[1:], anatomy.spacing)
        voxels = (profile >= 0.5).sum() * float(np.prod(anatomy.spacing))
        sizes.append(2.0 * np.cbrt(voxels * 3.0 / (4.0 * np.pi)))
    assert 17.0 <= np.median(sizes) <= 23.0


def test_volume_lesions_are_consistent_across_slices(anatomy):
    rng = np.random.default_rng(5)
    hu, mask, labels, lesions = L.lesion_volume(rng, anatomy, [(62, "hypo", 18.0)])
    assert len(lesions) == 1
    ks = [k for k in range(mask.shape[0]) if (mask[k] == 2).any()]
    assert ks == list(range(ks[0], ks[-1] + 1)), "one lesion, one run of slices"
    assert 6 <= len(ks) <= 18  # 18 mm across at 1.5 mm slices, give or take lobulation
    for a, b in zip(ks[1:-2], ks[2:-1]):  # neighbouring cuts overlap
        overlap = ((mask[a] == 2) & (mask[b] == 2)).sum()
        assert overlap > 0.3 * min((mask[a] == 2).sum(), (mask[b] == 2).sum())
    called = [labels[k] for k in ks]
    assert called.count(2) >= len(ks) - 4  # tips may be too small to call (IGNORE)
    assert set(called) <= {2, L.IGNORE}
    assert labels[ks[0] - 2] == 0 and labels[ks[-1] + 2] == 0


def test_both_kinds_on_one_slice_take_the_larger_lesion(anatomy):
    rng = np.random.default_rng(21)
    big = L.place_lesion(rng, anatomy, 62, "hypo", diameter_mm=24.0)
    small = L.place_lesion(rng, anatomy, 62, "hyper", diameter_mm=8.0)
    small.center[0] = big.center[0]
    _, mask, labels = L.compose(anatomy, [big, small], [int(round(big.center[0]))])
    assert labels == [2]
    assert (mask == 1).any() and (mask == 2).any()


def test_a_tiny_cut_is_ambiguous_not_normal(anatomy):
    rng = np.random.default_rng(2)
    le = L.place_lesion(rng, anatomy, 62, "hyper", diameter_mm=12.0)
    le.lobulation = 0.0
    kc = int(round(le.center[0]))
    cuts = {}
    for k in range(kc - 8, kc + 9):
        _, mask, labels = L.compose(anatomy, [le], [k])
        cuts[k] = (int((mask > 0).sum()), labels[0])
    assert cuts[kc][1] == 1
    assert any(label == L.IGNORE for _, label in cuts.values())
    assert all(label == 0 for n, label in cuts.values() if n == 0)


def test_augment_moves_image_and_mask_together(anatomy):
    rng = np.random.default_rng(9)
    hu, mask, label, k = L.make_sample(rng, anatomy, L.split_slices("train"), 1)
    for seed in range(5):
        out, m = L.augment(np.random.default_rng(seed), hu, mask)
        assert out.shape == hu.shape and m.dtype == mask.dtype
        lesion = m == 1
        assert lesion.sum() > 0.6 * (mask == 1).sum()
        ring = ndi.binary_dilation(lesion, iterations=4) & ~ndi.binary_dilation(
            lesion, iterations=1
        )
        # the lesion is still brighter than its surroundings where the mask says it is
        assert np.median(out[lesion]) > np.median(out[ring & (out > 0) & (out < 100)]) + 8


def test_shifted_style_differs_from_training_style():
    rng = np.random.default_rng(0)
    a = L.random_lesion(rng, "hyper", (0, 0, 0), "train", 16.0)
    b = L.random_lesion(rng, "hyper", (0, 0, 0), "shifted", 16.0)
    assert a.style == "train" and b.style == "shifted" and len(b.balls) >= 2
    with pytest.raises(ValueError, match="unknown lesion style"):
        L.random_lesion(rng, "hyper", (0, 0, 0), "other")
