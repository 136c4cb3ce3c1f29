"""The host CT's own lesion (``medviewer/ai/host_lesion.py``): found where it is, replaced by
healthy tissue without touching the rest of the head, and not found in a head without it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models"))

import bundled_sets as S  # noqa: E402

from medviewer.ai import host_lesion as HL  # noqa: E402
from medviewer.ai import lesions as L  # noqa: E402


@pytest.fixture(scope="module")
def host():
    hu, spacing = S.load_host_volume()
    hu = np.asarray(hu, np.float32)
    fixed, mask = HL.repaired(hu, spacing)
    return hu, spacing, fixed, mask


def test_the_real_lesion_is_found_in_the_right_frontal_lobe_and_is_hypodense(host):
    hu, spacing, _, mask = host
    slices = np.flatnonzero(mask.any(axis=(1, 2)))
    assert 53 <= slices.min() <= 57 and 80 <= slices.max() <= 84, (slices.min(), slices.max())
    rows, cols = np.nonzero(mask.any(axis=0))
    # the front of the head is at low rows; the patient's right at low columns (left of image)
    assert rows.max() < 128 and cols.max() < 128
    area_mm2 = mask.sum(axis=(1, 2)) * spacing[1] * spacing[2]
    assert 450.0 <= area_mm2.max() <= 900.0
    brain = L.Anatomy.from_volume(hu, spacing).brain
    parenchyma = float(np.median(hu[brain][::7]))
    assert parenchyma - float(hu[mask].mean()) >= 10.0  # ~9 HU against ~24
    assert not (mask & brain).any()  # the parenchyma mask had left it out, as if CSF


def test_the_repair_fills_the_lesion_with_tissue_and_leaves_the_rest_alone(host):
    hu, spacing, fixed, mask = host
    from scipy import ndimage as ndi

    grown = ndi.binary_dilation(mask, structure=np.ones((1, 3, 3), bool), iterations=6)
    assert np.array_equal(fixed[~grown], hu[~grown])
    repaired = L.Anatomy.from_volume(fixed, spacing)
    parenchyma = float(np.median(fixed[repaired.brain][::7]))
    assert abs(float(fixed[mask].mean()) - parenchyma) < 5.0
    assert repaired.brain[mask].mean() > 0.5  # now parenchyma, where lesions may be placed
    # and nothing is left to find: the repaired head has no such lesion
    assert HL.lesion_mask(fixed, spacing).sum() < 0.02 * mask.sum()


def test_the_sets_use_the_repaired_host_and_a_wrong_host_name_is_refused(host):
    _, _, fixed, _ = host
    anatomy = S.load_anatomy()
    assert np.array_equal(anatomy.hu, fixed)
    with pytest.raises(ValueError, match="repaired, as-is"):
        S.load_anatomy("scanned")
