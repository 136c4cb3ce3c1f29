"""Window/level: CT presets, windows from the file, automatic windows, MONOCHROME1, VOI LUT."""

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_voi_lut as pydicom_apply_voi_lut

from medviewer.dicom import auto_window, default_window, load_volume, presets_for, scan
from medviewer.dicom.display import Window, apply_voi_lut, header_windows, to_display_uint8
from medviewer.testing.synthetic import write_series


def _series(folder):
    (series,) = scan([folder]).all_series()
    return series


def test_ct_presets():
    presets = {w.name.lower(): (w.center, w.width) for w in presets_for("CT")}
    expected = {
        "brain": (40, 80),
        "subdural": (75, 215),
        "stroke": (40, 40),
        "bone": (600, 2800),
        "lung": (-600, 1500),
        "mediastinum": (50, 350),
        "abdomen": (40, 400),
        "liver": (60, 160),
    }
    for name, values in expected.items():
        assert presets[name] == values, name
    assert presets_for("ct") == presets_for("CT")
    assert presets_for("MR") == ()


def test_window_levels():
    assert Window(40, 80).levels == (0.0, 80.0)
    assert Window(-600, 1500).levels == (-1350.0, 150.0)
    low, high = Window(10, 0).levels  # zero width must not divide by zero later
    assert high > low


def test_window_read_from_the_header(tmp_path):
    write_series(tmp_path, n_slices=2, rows=16, cols=16)  # writes 40 / 80
    series = _series(tmp_path)
    (window,) = header_windows(series)
    assert (window.center, window.width) == (40.0, 80.0)
    values = load_volume(series).array
    assert default_window(series, values) == window


def test_window_from_enhanced_ct_functional_groups(testdata):
    path = testdata("eCT_Supplemental.dcm")
    series = _series(path)
    voi = pydicom.dcmread(path).SharedFunctionalGroupsSequence[0].FrameVOILUTSequence[0]
    centers = [float(v) for v in np.atleast_1d(voi.WindowCenter)]
    widths = [float(v) for v in np.atleast_1d(voi.WindowWidth)]
    windows = header_windows(series)
    assert [(w.center, w.width) for w in windows] == list(zip(centers, widths))


def test_auto_window_for_mr_spans_the_percentiles(tmp_path):
    rng = np.random.default_rng(5)
    mr = rng.gamma(2.0, 150.0, (4, 48, 48)).round()
    mr[0, 0, :5] = 60_000  # a few hot pixels must not set the window
    write_series(
        tmp_path,
        n_slices=4,
        rows=48,
        cols=48,
        modality="MR",
        hu=mr,
        intercept=0,
        stored_dtype=np.uint16,
    )
    series = _series(tmp_path)
    values = load_volume(series).array
    assert header_windows(series) == [Window(40.0, 80.0, "File 1")]
    window = auto_window(values)
    lo, hi = np.percentile(values, (0.5, 99.5))
    assert window.center == pytest.approx((lo + hi) / 2)
    assert window.width == pytest.approx(hi - lo)
    assert window.levels[1] < 10_000
    # Without a window in the file, MR opens with the automatic one.
    series.window_centers, series.window_widths = [], []
    assert default_window(series, values) == window


def test_auto_window_of_a_constant_image_has_width():
    window = auto_window(np.full((8, 8), 7, np.int16))
    assert window.width > 0 and window.levels[0] <= 7 <= window.levels[1]


def test_to_display_uint8_and_monochrome1_inversion(tmp_path):
    window = Window(40, 80)
    values = np.array([[-1000, 0, 40, 80, 3000]], np.int16)
    shown = to_display_uint8(values, window)
    assert shown.dtype == np.uint8
    assert shown[0, [0, 1, 3, 4]].tolist() == [0, 0, 255, 255]
    assert shown[0, 2] in (127, 128)  # the centre is mid-grey
    inverted = to_display_uint8(values, window, invert=True)
    assert np.array_equal(inverted, 255 - shown)

    write_series(
        tmp_path,
        n_slices=2,
        rows=16,
        cols=16,
        modality="MR",
        intercept=0,
        stored_dtype=np.uint16,
        photometric="MONOCHROME1",
    )
    volume = load_volume(_series(tmp_path))
    w = auto_window(volume.array)
    assert np.array_equal(
        to_display_uint8(volume.array, w, invert=volume.invert),
        255 - to_display_uint8(volume.array, w),
    )


def test_voi_lut_from_the_file_matches_pydicom(testdata):
    path = testdata("vlut_04.dcm")
    series = _series(path)
    assert series.voi_lut is not None
    first_mapped, bits, table = series.voi_lut
    ds = pydicom.dcmread(path)
    assert (first_mapped, bits) == tuple(int(v) for v in ds.VOILUTSequence[0].LUTDescriptor[1:])
    volume = load_volume(series)
    ours = apply_voi_lut(volume.array[0], series.voi_lut)
    assert np.array_equal(ours, pydicom_apply_voi_lut(ds.pixel_array, ds))
    assert len(np.unique(ours)) > 10


def test_voi_lut_clamps_outside_the_table():
    table = np.array([100, 200, 300, 400])
    values = np.array([-50, 9, 10, 11, 12, 13, 500])
    assert apply_voi_lut(values, (10, 16, table)).tolist() == [100, 100, 100, 200, 300, 400, 400]


def test_the_files_voi_lut_is_the_default_window_and_draws_as_the_table(testdata):
    path = testdata("vlut_04.dcm")
    series = _series(path)
    volume = load_volume(series)
    window = default_window(series, volume.array[0])
    assert window.name == "File VOI LUT" and window.lut is not None
    first_mapped, bits, table = series.voi_lut
    # what is drawn is the table's output (scaled to 8 bits), not a linear ramp
    mapped = apply_voi_lut(volume.array[0], series.voi_lut).astype(np.float64)
    expected = np.round(mapped * 255.0 / max(2**bits - 1, table.max()))
    drawn = to_display_uint8(volume.array[0], window).astype(np.float64)
    assert np.abs(drawn - expected).max() <= 1
    linear = to_display_uint8(volume.array[0], Window(window.center, window.width))
    assert not np.array_equal(drawn, linear)


def test_sigmoid_voi_lut_function_draws_an_s_curve(tmp_path):
    (path,) = write_series(tmp_path, n_slices=1, rows=1, cols=5).paths
    ds = pydicom.dcmread(path)
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = 40, 80, "SIGMOID"
    ds.save_as(path)
    series = _series(tmp_path)
    (window,) = header_windows(series)
    assert window.name == "File 1 (sigmoid)" and window.lut is not None
    assert window.shown_width == 80  # the file's width is what a reader sees
    values = np.array([[-1000.0, 20.0, 40.0, 60.0, 3000.0]])
    drawn = to_display_uint8(values, window)[0]
    sigmoid = 255.0 / (1.0 + np.exp(-4.0 * (values[0] - 40.0) / 80.0))
    assert np.abs(drawn - sigmoid).max() <= 2
    assert drawn[0] == 0 and drawn[-1] == 255 and drawn[2] in (127, 128)
