"""Multiplanar reformat: anatomical planes shown the radiology way, views not copies."""

import dataclasses
import math

import numpy as np
import pytest

from medviewer.dicom import load_volume, scan
from medviewer.session import mpr
from medviewer.session.overlay import orientation_labels
from medviewer.testing.synthetic import write_series
from tests.session.sample_cache import sample_study

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
SPACING = (2.0, 0.5, 0.8)  # between slices, rows, columns: all different on purpose
SHAPE = (6, 5, 7)  # slices, rows, columns: all different on purpose

EXPECTED_LABELS = {
    "axial": {"left": "R", "right": "L", "top": "A", "bottom": "P"},
    "coronal": {"left": "R", "right": "L", "top": "S", "bottom": "I"},
    "sagittal": {"left": "A", "right": "P", "top": "S", "bottom": "I"},
}


def _volume(folder, orientation, hu=None, spacing=SPACING):
    if hu is None:
        hu = np.arange(np.prod(SHAPE), dtype=np.int16).reshape(SHAPE)
    write_series(folder, spacing=spacing, orientation=orientation, hu=hu)
    (series,) = scan([folder]).all_series()
    return load_volume(series)


@pytest.fixture(scope="module")
def volumes(tmp_path_factory):
    root = tmp_path_factory.mktemp("mpr")
    return {
        name: _volume(root / name, orientation)
        for name, orientation in (("axial", AXIAL), ("coronal", CORONAL), ("sagittal", SAGITTAL))
    }


def _pixel_mm(volume, image, row, col):
    """Patient position of on-screen pixel (row, col), from the image's own geometry."""
    corner = volume.index_to_patient(*mpr.to_index(volume, image.plane, image.index, 0, 0))
    return (
        corner
        + col * image.col_spacing * np.asarray(image.row_cos)
        + row * image.row_spacing * np.asarray(image.col_cos)
    )


@pytest.mark.parametrize("acq", ["axial", "coronal", "sagittal"])
def test_acquired_plane_is_the_slice_itself(volumes, acq):
    volume = volumes[acq]
    assert mpr.acquired_plane(volume) == acq
    assert mpr.plane_count(volume, "acquired") == SHAPE[0]
    for k in (0, 3, SHAPE[0] - 1):
        image = mpr.reformat(volume, "acquired", k)
        assert image.plane == acq and image.index == k and image.count == SHAPE[0]
        assert np.array_equal(image.values, volume.array[k])
        assert np.shares_memory(image.values, volume.array)
        assert (image.row_spacing, image.col_spacing) == pytest.approx(SPACING[1:])


def test_standard_axial_acquired_plane_is_unchanged(volumes):
    volume = volumes["axial"]
    image = mpr.reformat(volume, "axial", 2)
    assert image.values.base is volume.array or image.values.base is volume.array.base
    assert image.values.strides == volume.array[2].strides
    assert image.row_cos == (1.0, 0.0, 0.0) and image.col_cos == (0.0, 1.0, 0.0)


def test_axial_series_reformats_exactly(volumes):
    volume = volumes["axial"]
    a = volume.array
    coronal = mpr.reformat(volume, "coronal", 3)
    assert np.array_equal(coronal.values, a[::-1, 3, :])  # superior at the top
    assert (coronal.row_spacing, coronal.col_spacing) == pytest.approx((2.0, 0.8))
    assert coronal.count == SHAPE[1]
    sagittal = mpr.reformat(volume, "sagittal", 6)
    assert np.array_equal(sagittal.values, a[::-1, :, 6])  # anterior (row 0) on the left
    assert (sagittal.row_spacing, sagittal.col_spacing) == pytest.approx((2.0, 0.5))
    assert sagittal.count == SHAPE[2]
    assert np.shares_memory(coronal.values, a) and np.shares_memory(sagittal.values, a)


def test_sagittal_series_axial_plane(volumes):
    volume = volumes["sagittal"]  # i: +y (posterior), j: -z, k: -x (towards patient right)
    a = volume.array
    axial = mpr.reformat(volume, "axial", 1)
    # rows towards posterior = +i, columns towards patient left = -k
    assert np.array_equal(axial.values, a[::-1, 1, :].T)
    assert axial.shape == (SHAPE[2], SHAPE[0])
    assert (axial.row_spacing, axial.col_spacing) == pytest.approx((0.8, 2.0))
    assert orientation_labels(axial.row_cos, axial.col_cos) == EXPECTED_LABELS["axial"]


@pytest.mark.parametrize("acq", ["axial", "coronal", "sagittal"])
@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_labels_follow_radiology_convention(volumes, acq, plane):
    image = mpr.reformat(volumes[acq], plane, 0)
    assert orientation_labels(image.row_cos, image.col_cos) == EXPECTED_LABELS[plane]
    assert image.plane == plane


@pytest.mark.parametrize("acq", ["axial", "coronal", "sagittal"])
@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_every_pixel_lies_where_its_geometry_says(volumes, acq, plane):
    """Each pixel's voxel (to_index) is at the patient point given by the plane geometry."""
    volume = volumes[acq]
    index = mpr.plane_count(volume, plane) // 2
    image = mpr.reformat(volume, plane, index)
    rows, cols = image.shape
    for row in range(rows):
        for col in range(cols):
            kji = mpr.to_index(volume, plane, index, row, col)
            assert image.values[row, col] == volume.array[kji]
            assert np.allclose(volume.index_to_patient(*kji), _pixel_mm(volume, image, row, col))


@pytest.mark.parametrize(
    ("acq", "orientation"),
    [("axial", AXIAL), ("coronal", CORONAL), ("sagittal", SAGITTAL)],
    ids=["axial", "coronal", "sagittal"],
)
def test_bright_voxel_appears_at_its_anatomical_place(tmp_path, acq, orientation):
    """A voxel right-anterior-superior of the centre shows up left/top/left on each view."""
    hu = np.zeros((9, 9, 9), dtype=np.int16)
    volume = _volume(tmp_path / acq, orientation, hu=hu, spacing=(1.0, 1.0, 1.0))
    centre = volume.index_to_patient(4, 4, 4)
    target = centre + np.array([-3.0, -2.0, 1.0])  # 3 mm right, 2 mm anterior, 1 mm superior
    d = volume.geometry.direction_matrix()
    i, j, k = np.rint(np.linalg.solve(d, target - np.asarray(volume.geometry.origin))).astype(int)
    volume.array[k, j, i] = 1000

    axial = mpr.reformat(volume, "axial", mpr.from_index(volume, "axial", (k, j, i))[0])
    (r,), (c,) = np.nonzero(axial.values == 1000)
    assert (r, c) == (4 - 2, 4 - 3)  # anterior = up, patient right = screen left
    coronal = mpr.reformat(volume, "coronal", mpr.from_index(volume, "coronal", (k, j, i))[0])
    (r,), (c,) = np.nonzero(coronal.values == 1000)
    assert (r, c) == (4 - 1, 4 - 3)  # superior = up, patient right = screen left
    sagittal = mpr.reformat(volume, "sagittal", mpr.from_index(volume, "sagittal", (k, j, i))[0])
    (r,), (c,) = np.nonzero(sagittal.values == 1000)
    assert (r, c) == (4 - 1, 4 - 2)  # superior = up, anterior = screen left
    for image in (axial, coronal, sagittal):
        index, row, col = mpr.from_index(volume, image.plane, (k, j, i))
        assert image.values[row, col] == 1000
        assert np.allclose(_pixel_mm(volume, image, row, col), target)


@pytest.mark.parametrize("acq", ["axial", "coronal", "sagittal"])
@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_crosshair_round_trips(volumes, acq, plane):
    volume = volumes[acq]
    rng = np.random.default_rng(1)
    for _ in range(25):
        kji = tuple(int(rng.integers(0, n)) for n in volume.array.shape)
        p, r, c = mpr.from_index(volume, plane, kji)
        assert mpr.to_index(volume, plane, p, r, c) == kji
        image = mpr.reformat(volume, plane, p)
        assert image.values[r, c] == volume.array[kji]
    cross = mpr.Crosshair.centred(volume)
    cross.set_from_plane(plane, 1, 2, 3)
    assert cross.on_plane(plane) == (1, 2, 3)
    assert np.allclose(cross.patient_mm(), volume.index_to_patient(*cross.kji))


def test_crosshair_links_the_three_planes(volumes):
    volume = volumes["axial"]
    cross = mpr.Crosshair(volume, (2, 1, 5))
    assert cross.on_plane("axial") == (2, 1, 5)
    assert cross.on_plane("coronal") == (1, SHAPE[0] - 1 - 2, 5)
    assert cross.on_plane("sagittal") == (5, SHAPE[0] - 1 - 2, 1)
    # Clicking the sagittal view moves the axial and coronal positions.
    cross.set_from_plane("sagittal", 5, 0, 4)
    assert cross.kji == (SHAPE[0] - 1, 4, 5)
    assert cross.on_plane("axial")[0] == SHAPE[0] - 1


def test_to_index_clamps_points_outside_the_image(volumes):
    volume = volumes["axial"]
    assert mpr.to_index(volume, "axial", 99, -3, 100) == (SHAPE[0] - 1, 0, SHAPE[2] - 1)


def test_bad_plane_and_index(volumes):
    volume = volumes["axial"]
    with pytest.raises(ValueError, match="unknown plane 'oblique'"):
        mpr.reformat(volume, "oblique", 0)
    with pytest.raises(IndexError, match="outside 0..4"):
        mpr.reformat(volume, "coronal", 5)
    with pytest.raises(IndexError):
        mpr.reformat(volume, "axial", -1)


def test_plane_position_and_spacing(volumes):
    axial_vol = volumes["axial"]
    image = mpr.reformat(axial_vol, "axial", 3)
    z = axial_vol.series.slices[3].position[2]
    assert mpr.plane_position_mm(axial_vol, image) == pytest.approx(z)
    assert mpr.slice_spacing(axial_vol, "axial") == pytest.approx(2.0)
    assert mpr.slice_spacing(axial_vol, "coronal") == pytest.approx(0.5)
    assert mpr.slice_spacing(axial_vol, "sagittal") == pytest.approx(0.8)
    coronal_vol = volumes["coronal"]
    image = mpr.reformat(coronal_vol, "coronal", 4)
    y = coronal_vol.series.slices[4].position[1]
    assert mpr.plane_position_mm(coronal_vol, image) == pytest.approx(y)


def test_colour_volume_keeps_channels_last(volumes):
    base = volumes["axial"]
    rgb = np.zeros((*SHAPE, 3), dtype=np.uint8)
    rgb[..., 0] = np.arange(SHAPE[0])[:, None, None]
    rgb[..., 1] = np.arange(SHAPE[1])[None, :, None]
    rgb[..., 2] = np.arange(SHAPE[2])[None, None, :]
    volume = dataclasses.replace(base, array=rgb)
    coronal = mpr.reformat(volume, "coronal", 2)
    assert coronal.values.shape == (SHAPE[0], SHAPE[2], 3)
    assert np.array_equal(coronal.values, rgb[::-1, 2, :, :])
    assert list(coronal.values[0, :, 2]) == list(range(SHAPE[2]))


def test_oblique_series_uses_the_nearest_axes(tmp_path):
    t = math.radians(25)
    oblique = (0.0, 1.0, 0.0, math.sin(t), 0.0, -math.cos(t))  # sagittal tilted 25 degrees
    volume = _volume(tmp_path / "obl", oblique)
    assert mpr.acquired_plane(volume) == "sagittal"
    image = mpr.reformat(volume, "acquired", 2)
    assert np.array_equal(image.values, volume.array[2])
    labels = orientation_labels(image.row_cos, image.col_cos)
    assert labels == {"left": "A", "right": "P", "top": "SR", "bottom": "IL"}
    axial = mpr.reformat(volume, "axial", 0)  # still an index plane: labels say how tilted
    assert orientation_labels(axial.row_cos, axial.col_cos)["top"] == "A"


def test_45_degree_obliques_get_distinct_axes(volumes):
    volume = volumes["axial"]
    s = math.sqrt(0.5)
    geometry = dataclasses.replace(
        volume.geometry, direction=((s, s, 0.0), (-s, s, 0.0), (0.0, 0.0, 1.0))
    )
    tilted = dataclasses.replace(volume, geometry=geometry)
    assert sorted(mpr.axis_assignment(tilted)) == [0, 1, 2]
    assert mpr.acquired_plane(tilted) == "axial"
    for plane in mpr.PLANES:
        mpr.reformat(tilted, plane, 0)


def test_sample_study_reformats():
    _, _, volume = sample_study()
    assert mpr.acquired_plane(volume) == "axial"
    assert mpr.plane_count(volume, "axial") == 108
    assert mpr.plane_count(volume, "coronal") == 256
    assert mpr.plane_count(volume, "sagittal") == 256
    coronal = mpr.reformat(volume, "coronal", 128)
    assert coronal.shape == (108, 256)
    assert coronal.row_spacing == pytest.approx(1.5)
    # Superior at the top: the first row is the highest slice, the last row the lowest.
    assert np.array_equal(coronal.values[0], volume.array[107, 128])
    assert np.array_equal(coronal.values[-1], volume.array[0, 128])
    sagittal = mpr.reformat(volume, "sagittal", 100)
    assert sagittal.shape == (108, 256)
    assert np.array_equal(sagittal.values[0], volume.array[107, :, 100])
    assert np.shares_memory(sagittal.values, volume.array)
