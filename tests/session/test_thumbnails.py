"""Series previews: middle slice, display window, aspect from pixel spacing, errors as data."""

from dataclasses import replace

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from medviewer.dicom import load_volume, scan
from medviewer.dicom.display import default_window, to_display_uint8
from medviewer.errors import DicomError
from medviewer.resources import sample_study_dir
from medviewer.session.thumbnails import resize_to_fit, thumbnail, thumbnails_iter
from medviewer.testing.synthetic import write_series


@pytest.fixture(scope="module")
def sample_series():
    return scan([sample_study_dir()]).all_series()[0]


def test_sample_study_thumbnail_is_the_windowed_middle_slice(sample_series):
    image = thumbnail(sample_series, size=96)
    assert image.dtype == np.uint8 and image.shape == (96, 96)  # 256x256, square pixels
    volume = load_volume(sample_series)
    middle = volume.array[volume.array.shape[0] // 2]
    expected = to_display_uint8(middle, default_window(sample_series, middle))
    expected = resize_to_fit(expected, (96, 96))
    assert np.abs(image.astype(int) - expected.astype(int)).max() <= 1
    assert image.min() == 0 and image.max() == 255  # a real head, not a flat image


def test_other_sizes(sample_series):
    assert thumbnail(sample_series, size=40).shape == (40, 40)
    assert thumbnail(sample_series, size=300).shape == (300, 300)


def test_rgb_file_gives_a_colour_thumbnail():
    path = get_testdata_file("SC_rgb.dcm", download=False)
    series = scan([path]).all_series()[0]
    image = thumbnail(series, size=50)
    assert image.shape == (50, 50, 3) and image.dtype == np.uint8
    # SC_rgb.dcm holds colour bars: the channels must differ somewhere
    assert np.abs(image[..., 0].astype(int) - image[..., 2].astype(int)).max() > 100


def test_aspect_follows_pixel_spacing_not_pixel_count(tmp_path):
    # 32 rows x 64 cols, rows 2 mm apart, columns 0.5 mm apart: 64 mm tall, 32 mm wide
    write_series(tmp_path, n_slices=3, rows=32, cols=64, spacing=(2.5, 2.0, 0.5))
    series = scan([tmp_path]).all_series()[0]
    assert thumbnail(series, size=96).shape == (96, 48)


def test_monochrome1_is_inverted(tmp_path):
    plain = write_series(tmp_path / "m2", n_slices=3, rows=32, cols=32)
    write_series(tmp_path / "m1", n_slices=3, rows=32, cols=32, photometric="MONOCHROME1")
    m2 = thumbnail(scan([plain.folder]).all_series()[0], size=32)
    m1 = thumbnail(scan([tmp_path / "m1"]).all_series()[0], size=32)
    assert np.array_equal(m1, 255 - m2)


def test_area_averaging_downsample():
    image = np.zeros((4, 4), np.uint8)
    image[:2, :2] = 200
    image[2:, 2:] = 100
    assert resize_to_fit(image, (2, 2)).tolist() == [[200, 0], [0, 100]]
    stripes = np.tile(np.array([0, 255], np.uint8), (6, 3))  # 6 x 6 alternating columns
    assert np.all(resize_to_fit(stripes, (3, 3)) == 128)  # averaged, not sampled


def test_empty_series_raises(sample_series):
    with pytest.raises(DicomError):
        thumbnail(replace(sample_series, slices=[]))


def test_iter_streams_one_step_per_series_and_reports_failures(tmp_path, sample_series):
    write_series(tmp_path / "a", n_slices=4, rows=16, cols=16, series_description="A")
    good = scan([tmp_path / "a"]).all_series()[0]
    broken_ref = replace(good.slices[2], path=str(tmp_path / "gone.dcm"))
    broken = replace(
        good,
        series_uid="1.2.3.broken",
        slices=[*good.slices[:2], broken_ref, *good.slices[3:]],
    )
    job = thumbnails_iter([sample_series, broken, good], size=24)
    steps = []
    while True:
        try:
            steps.append(next(job))
        except StopIteration as stop:
            result = stop.value
            break
    assert [(s.done, s.total) for s in steps] == [(1, 3), (2, 3), (3, 3)]
    keys = [s.detail[0] for s in steps]
    assert keys == [sample_series.key, "1.2.3.broken", good.key]
    key, array, error = steps[0].detail
    assert array.shape == (24, 24) and error is None
    key, array, error = steps[1].detail
    assert array is None and error and "\n" not in error
    assert steps[2].detail[1] is not None and steps[2].detail[2] is None
    assert result["1.2.3.broken"] is None and result[good.key] is not None
