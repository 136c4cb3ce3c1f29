"""Slice order and spacing come from positions along the slice normal, never from names."""

import math

import numpy as np
import pydicom
import pytest

from medviewer.dicom import load_volume, scan
from medviewer.dicom.geometry import orientation_label, slice_normal
from medviewer.dicom.model import (
    DUPLICATE_POSITION,
    MISSING_POSITION,
    NONUNIFORM_SPACING,
    OBLIQUE,
)

N = 7
# InstanceNumbers and file names that both disagree with the true order and with each other.
LYING_NUMBERS = [4, 7, 1, 6, 2, 5, 3]
LYING_NAMES = [
    "IM0005.dcm",
    "IM0002.dcm",
    "IM0007.dcm",
    "IM0001.dcm",
    "IM0006.dcm",
    "IM0003.dcm",
    "IM0004.dcm",
]

_TILT = math.radians(20)
ORIENTATIONS = {
    "axial": ((1, 0, 0, 0, 1, 0), "axial"),
    "axial-reversed": ((1, 0, 0, 0, -1, 0), "axial"),  # normal points to the feet
    "sagittal": ((0, 1, 0, 0, 0, -1), "sagittal"),
    "coronal": ((1, 0, 0, 0, 0, -1), "coronal"),
    "oblique": ((1, 0, 0, 0, math.cos(_TILT), math.sin(_TILT)), "oblique"),
}


def _only_series(folder):
    result = scan([folder])
    assert result.skipped == []
    (series,) = result.all_series()
    return series


@pytest.mark.parametrize("name", list(ORIENTATIONS))
def test_order_follows_the_normal_not_names_or_instance_numbers(tmp_path, stack_writer, name):
    orientation, label = ORIENTATIONS[name]
    truth = stack_writer(
        tmp_path,
        n=N,
        rows=24,
        cols=40,
        orientation=orientation,
        origin=(30.0, -20.0, 15.0),
        step=3.0,
        instance_numbers=LYING_NUMBERS,
        names=LYING_NAMES,
        pixel_spacing=(0.7, 0.9),
    )
    # The test only means something if neither names nor numbers give the true order.
    assert sorted(range(N), key=lambda k: LYING_NAMES[k]) != list(range(N))
    assert sorted(range(N), key=lambda k: LYING_NUMBERS[k]) != list(range(N))

    series = _only_series(tmp_path)
    volume = load_volume(series)

    assert np.array_equal(volume.array, truth.values)
    assert [s.path for s in series.slices] == truth.paths
    geo = series.geometry
    assert geo.orientation == label
    assert (OBLIQUE in series.warning_codes()) == (label == "oblique")
    assert set(series.warning_codes()) <= {OBLIQUE}
    assert geo.spacing == pytest.approx((3.0, 0.7, 0.9), abs=1e-5)
    assert geo.origin == pytest.approx(tuple(truth.positions[0]), abs=1e-5)
    assert np.allclose(geo.direction[2], truth.normal, atol=1e-6)
    # Every voxel sits where DICOM says: IPP_k + i * dx * row_dir + j * dy * col_dir
    row_dir, col_dir = np.array(orientation[:3], float), np.array(orientation[3:], float)
    for k, (j, i) in [(0, (0, 0)), (3, (5, 7)), (N - 1, (23, 39))]:
        expected = truth.positions[k] + i * 0.9 * row_dir + j * 0.7 * col_dir
        assert np.allclose(volume.index_to_patient(k, j, i), expected, atol=1e-4)


def test_oblique_warning_names_the_orientation(tmp_path, stack_writer):
    stack_writer(tmp_path, n=3, orientation=ORIENTATIONS["oblique"][0])
    series = _only_series(tmp_path)
    (warning,) = [w for w in series.warnings if w.code == OBLIQUE]
    assert "(0020,0037)" in warning.message and "0.9397" in warning.message


def test_tiny_gantry_tilt_still_counts_as_axial(tmp_path, stack_writer):
    tilt = math.radians(0.3)
    stack_writer(tmp_path, n=3, orientation=(1, 0, 0, 0, math.cos(tilt), math.sin(tilt)))
    series = _only_series(tmp_path)
    assert series.geometry.orientation == "axial"
    assert OBLIQUE not in series.warning_codes()


def test_spacing_comes_from_positions_not_slice_thickness(tmp_path, stack_writer):
    truth = stack_writer(tmp_path, n=6, step=3.0, slice_thickness=5.0)
    series = _only_series(tmp_path)
    assert series.geometry.spacing[0] == pytest.approx(3.0)
    assert series.warnings == []
    assert np.array_equal(load_volume(series).array, truth.values)


def test_missing_positions_fall_back_to_instance_number(tmp_path, stack_writer):
    names = list(reversed([f"IM{k}.dcm" for k in range(5)]))  # names say the opposite order
    truth = stack_writer(tmp_path, n=5, omit_position=range(5), names=names, slice_thickness=2.5)
    series = _only_series(tmp_path)
    assert MISSING_POSITION in series.warning_codes()
    assert [s.instance_number for s in series.slices] == [1, 2, 3, 4, 5]
    assert np.array_equal(load_volume(series).array, truth.values)
    assert series.geometry.spacing[0] == pytest.approx(2.5)  # SliceThickness as a last resort


def test_one_missing_position_sorts_the_whole_series_by_instance_number(tmp_path, stack_writer):
    # Positions say 0..4 in order, InstanceNumbers say 5..1: the number decides once a position
    # is missing, and the origin is the position of the first slice shown.
    names = ["b.dcm", "d.dcm", "a.dcm", "e.dcm", "c.dcm"]
    truth = stack_writer(
        tmp_path, n=5, instance_numbers=[5, 4, 3, 2, 1], names=names, omit_position=[2]
    )
    series = _only_series(tmp_path)
    assert MISSING_POSITION in series.warning_codes()
    assert "1 of 5" in series.warnings[0].message
    volume = load_volume(series)
    assert np.array_equal(volume.array, truth.values[::-1])
    assert series.geometry.origin == pytest.approx(tuple(truth.positions[-1]), abs=1e-5)


def test_gap_gives_nonuniform_spacing_and_the_median_gap(tmp_path, stack_writer):
    offsets = [0.0, 3.0, 6.0, 9.0, 15.0, 18.0, 21.0]  # one slice missing between 9 and 15
    truth = stack_writer(tmp_path, n=7, offsets=offsets, pixel_spacing=(0.7, 0.9))
    series = _only_series(tmp_path)
    assert series.warning_codes() == [NONUNIFORM_SPACING]
    assert "6 mm" in series.warnings[0].message
    assert series.geometry.spacing[0] == pytest.approx(3.0)
    volume = load_volume(series)
    assert np.array_equal(volume.array, truth.values)
    # Each slice lies where its own Image Position says, after the gap too (equal spacing
    # would put slice 4 at 12 mm, not 15); between slices the position is interpolated.
    row_dir = np.array(truth.orientation[:3], float)
    for k, (j, i) in [(0, (0, 0)), (3, (2, 5)), (4, (0, 0)), (6, (7, 1))]:
        expected = truth.positions[k] + i * 0.9 * row_dir
        expected += j * 0.7 * np.array(truth.orientation[3:], float)
        assert np.allclose(volume.index_to_patient(k, j, i), expected, atol=1e-4)
    halfway = (truth.positions[3] + truth.positions[4]) / 2
    assert np.allclose(volume.index_to_patient(3.5, 0, 0), halfway, atol=1e-4)
    # past the last slice it steps on by the series' spacing (3 mm)
    assert np.allclose(
        volume.index_to_patient(7, 0, 0),
        truth.positions[6] + 3.0 * np.asarray(truth.normal),
        atol=1e-4,
    )


def test_uneven_but_tolerable_spacing_is_not_flagged(tmp_path, stack_writer):
    offsets = [0.0, 2.5, 5.0005, 7.5, 10.0]  # rounding noise in the positions
    stack_writer(tmp_path, n=5, offsets=offsets)
    series = _only_series(tmp_path)
    assert series.warnings == []
    assert series.geometry.spacing[0] == pytest.approx(2.5, abs=1e-3)


def test_duplicate_positions_keep_one_image(tmp_path, stack_writer):
    hu = np.stack([np.full((16, 16), 10 * k, np.int16) for k in range(5)])
    # Slices 2 and 3 share a position; slice 3 has the higher InstanceNumber and must go.
    truth = stack_writer(tmp_path, hu, offsets=[0, 2, 4, 4, 6], instance_numbers=[1, 2, 3, 9, 5])
    series = _only_series(tmp_path)
    assert series.warning_codes() == [DUPLICATE_POSITION]
    assert series.n_frames == 4 and series.n_files == 5
    volume = load_volume(series)
    assert [int(v) for v in volume.array[:, 0, 0]] == [0, 10, 20, 40]
    assert series.geometry.spacing[0] == pytest.approx(2.0)
    assert truth.values.shape[0] == 5  # all five were written


def test_degenerate_orientation_does_not_stop_the_scan(tmp_path, stack_writer):
    def zero_orientation(ds, k):
        ds.ImageOrientationPatient = [0, 0, 0, 0, 0, 0]

    truth = stack_writer(tmp_path, n=4, edit=zero_orientation)
    series = _only_series(tmp_path)
    assert series.geometry.orientation == "unknown"
    assert MISSING_POSITION in series.warning_codes()
    assert np.array_equal(load_volume(series).array, truth.values)


@pytest.mark.filterwarnings("ignore:Invalid value for VR DS")
def test_non_finite_position_is_treated_as_missing(tmp_path, stack_writer):
    def nan_position(ds, k):
        if k == 1:
            ds.ImagePositionPatient = ["nan", "0", "0"]

    truth = stack_writer(tmp_path, n=4, edit=nan_position)
    series = _only_series(tmp_path)
    assert math.isnan(float(pydicom.dcmread(truth.paths[1]).ImagePositionPatient[0]))
    assert MISSING_POSITION in series.warning_codes()
    assert all(math.isfinite(v) for v in series.geometry.spacing)
    assert all(math.isfinite(v) for v in series.geometry.origin)
    assert np.array_equal(load_volume(series).array, truth.values)


def test_slice_normal_and_labels():
    assert np.allclose(slice_normal((1, 0, 0, 0, 1, 0)), (0, 0, 1))
    assert np.allclose(slice_normal((1, 0, 0, 0, -1, 0)), (0, 0, -1))
    assert np.allclose(slice_normal((0, 1, 0, 0, 0, -1)), (-1, 0, 0))
    assert np.allclose(slice_normal((1, 0, 0, 0, 0, -1)), (0, 1, 0))
    with pytest.raises(ValueError):
        slice_normal((1, 0, 0, 1, 0, 0))
    for name, (orientation, label) in ORIENTATIONS.items():
        assert orientation_label(orientation) == label, name
    assert orientation_label(None) == "unknown"
    assert orientation_label((0, 0, 0, 0, 0, 0)) == "unknown"
