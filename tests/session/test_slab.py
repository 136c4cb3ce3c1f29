"""Thick slabs: MIP / MinIP / average over exactly the planes inside, never outside the series."""

import dataclasses

import numpy as np
import pytest

from medviewer.dicom import load_volume, scan
from medviewer.dicom.model import Geometry
from medviewer.dicom.volume import Volume
from medviewer.session import mpr
from medviewer.session.slab import (
    SLAB_MODES,
    Slab,
    reformat_slab,
    slab_corner_text,
    slab_indices,
)
from medviewer.testing.synthetic import write_series

CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)


def _load(folder, n=12, rows=10, cols=9, seed=1, **kwargs):
    rng = np.random.default_rng(seed)
    hu = rng.integers(-1000, 2000, size=(n, rows, cols)).astype(np.int16)
    truth = write_series(folder, hu=hu, **kwargs)
    (series,) = scan([folder]).all_series()
    return load_volume(series), truth


@pytest.fixture(scope="module")
def axial(tmp_path_factory):
    return _load(tmp_path_factory.mktemp("slab") / "axial", spacing=(2.5, 0.8, 0.7))


def test_slab_values_are_checked():
    assert SLAB_MODES == ("off", "mip", "minip", "average")
    assert not Slab().active() and not Slab("mip", 0.0).active() and not Slab("off", 10).active()
    assert Slab("mip", 10.0).active()
    for bad in (dict(mode="max"), dict(mode="mip", thickness_mm=-1.0)):
        with pytest.raises(ValueError):
            Slab(**bad)
    with pytest.raises(ValueError):
        Slab("mip", float("nan"))
    with pytest.raises(ValueError):
        Slab("mip", "10")


def test_slab_indices_hold_the_planes_within_half_the_thickness_clipped(axial):
    volume, _ = axial
    assert slab_indices(volume, "acquired", 5, 10.0) == range(3, 8)  # 2.5 mm: 5 slices
    assert slab_indices(volume, "acquired", 1, 10.0) == range(0, 4)  # clipped at the start
    assert slab_indices(volume, "acquired", 11, 10.0) == range(9, 12)  # and at the end
    assert slab_indices(volume, "acquired", 5, 9.9) == range(4, 7)  # 4.95 mm < 5 mm
    assert slab_indices(volume, "acquired", 5, 2.0) == range(5, 6)  # thinner than a slice
    assert slab_indices(volume, "acquired", 5, 0.0) == range(5, 6)
    assert slab_indices(volume, "coronal", 4, 2.0) == range(3, 6)  # rows 0.8 mm apart
    with pytest.raises(IndexError):
        slab_indices(volume, "acquired", 12, 10.0)


@pytest.mark.parametrize(
    ("mode", "reduce"), [("mip", np.max), ("minip", np.min), ("average", np.mean)]
)
@pytest.mark.parametrize(("index", "inside"), [(5, slice(3, 8)), (1, slice(0, 4))])
def test_axial_slab_reduces_exactly_the_slices_inside(axial, mode, reduce, index, inside):
    volume, truth = axial
    image = reformat_slab(volume, "acquired", index, Slab(mode, 10.0))
    expected = reduce(truth.values[inside], axis=0)  # the written values, sorted by position
    if mode == "average":
        assert image.values.dtype == np.float32
        assert np.allclose(image.values, expected, atol=1e-3)
    else:
        assert image.values.dtype == volume.array.dtype
        assert np.array_equal(image.values, expected)
        # one more slice on either side would change the result somewhere
        wider = reduce(truth.values[max(inside.start - 1, 0) : inside.stop + 1], axis=0)
        assert not np.array_equal(wider, expected)
    plain = mpr.reformat(volume, "acquired", index)
    assert (image.index, image.count, image.plane) == (index, 12, "axial")
    assert (image.row_spacing, image.col_spacing) == (plain.row_spacing, plain.col_spacing)
    assert (image.row_cos, image.col_cos) == (plain.row_cos, plain.col_cos)


@pytest.mark.parametrize("plane", ["coronal", "sagittal"])
def test_reformatted_slab_is_the_reduction_of_the_reformatted_planes(axial, plane):
    volume, truth = axial
    thickness = 4.4  # 0.8 mm rows: 2 on each side; 0.7 mm columns: 3 on each side
    index = 4
    inside = slab_indices(volume, plane, index, thickness)
    assert inside == {"coronal": range(2, 7), "sagittal": range(1, 8)}[plane]
    stack = np.stack([mpr.reformat(volume, plane, m).values for m in inside])
    image = reformat_slab(volume, plane, index, Slab("mip", thickness))
    assert image.shape == mpr.reformat(volume, plane, index).shape
    assert np.array_equal(image.values, stack.max(axis=0))
    # and straight from the written values: superior at the top on both planes
    axis = 1 if plane == "coronal" else 2
    direct = np.max(np.take(truth.values, list(inside), axis=axis), axis=axis)[::-1]
    assert np.array_equal(image.values, direct)


def test_slab_on_a_coronal_acquisition_and_its_axial_reformat(tmp_path):
    volume, truth = _load(tmp_path / "cor", n=8, orientation=CORONAL, spacing=(2.0, 1.0, 0.5))
    acquired = reformat_slab(volume, "acquired", 3, Slab("minip", 4.0))
    assert acquired.plane == "coronal"
    assert np.array_equal(acquired.values, truth.values[2:5].min(axis=0))
    inside = slab_indices(volume, "axial", 5, 4.0)  # rows 1 mm apart: 5 planes
    assert inside == range(3, 8)
    stack = np.stack([mpr.reformat(volume, "axial", m).values for m in inside])
    image = reformat_slab(volume, "axial", 5, Slab("average", 4.0))
    assert np.allclose(image.values, stack.astype(np.float64).mean(axis=0), atol=1e-3)


def test_thin_or_off_slab_is_the_plain_plane(axial):
    volume, _ = axial
    for slab in (Slab(), Slab("off", 10.0), Slab("mip", 1.0), Slab("average", 0.0)):
        image = reformat_slab(volume, "acquired", 6, slab)
        assert np.array_equal(image.values, volume.array[6])
        assert np.shares_memory(image.values, volume.array)


def test_slab_respects_a_gap_in_the_series(tmp_path):
    offsets = [0.0, 2.5, 5.0, 7.5, 20.0, 22.5, 25.0]
    volume, truth = _load(tmp_path / "gap", n=7, spacing=(2.5, 0.8, 0.8), z_offsets=offsets)
    assert slab_indices(volume, "acquired", 3, 10.0) == range(1, 4)  # 20 mm is 12.5 away
    assert slab_indices(volume, "acquired", 4, 10.0) == range(4, 7)
    image = reformat_slab(volume, "acquired", 4, Slab("mip", 10.0))
    assert np.array_equal(image.values, truth.values[4:7].max(axis=0))


def test_single_slice_series_slab_is_that_slice(tmp_path):
    volume, truth = _load(tmp_path / "one", n=1)
    assert slab_indices(volume, "acquired", 0, 50.0) == range(0, 1)
    image = reformat_slab(volume, "acquired", 0, Slab("mip", 50.0))
    assert np.array_equal(image.values, truth.values[0])


def test_colour_volume_gets_no_slab(axial):
    volume, _ = axial
    rgb = np.arange(4 * 5 * 6 * 3, dtype=np.uint8).reshape(4, 5, 6, 3)
    geometry = Geometry((2.0, 1.0, 1.0), (0.0, 0.0, 0.0), volume.geometry.direction, "axial")
    colour = Volume(rgb, geometry, dataclasses.replace(volume.series, slices=[]))
    image = reformat_slab(colour, "acquired", 2, Slab("mip", 10.0))
    assert np.array_equal(image.values, rgb[2])


def test_corner_text():
    assert slab_corner_text(Slab("mip", 10.0), 5) == "MIP 10 mm (5 slices)"
    assert slab_corner_text(Slab("minip", 2.5), 1) == "MinIP 2.5 mm (1 slice)"
    assert slab_corner_text(Slab("average", 7.25), 3) == "Average 7.25 mm (3 slices)"
    assert slab_corner_text(Slab(), 1) == "" and slab_corner_text(Slab("mip", 0.0), 1) == ""
    assert Slab("mip", 10.0).label() == "MIP 10 mm"
