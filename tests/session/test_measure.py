"""Measurements: ruler lengths in mm, ROI statistics against numpy masks, probe, the store."""

import math

import numpy as np
import pytest

from medviewer.dicom import load_volume, scan
from medviewer.session import mpr
from medviewer.session.measure import (
    Measurement,
    MeasurementStore,
    angle_deg,
    probe,
    roi_mask,
    roi_stats,
    ruler_length_mm,
)
from medviewer.testing.synthetic import write_series
from tests.session.sample_cache import sample_study


@pytest.fixture(scope="module")
def anisotropic(tmp_path_factory):
    """A synthetic axial series with 0.5 mm rows and 0.8 mm columns."""
    folder = tmp_path_factory.mktemp("aniso")
    write_series(folder, n_slices=3, rows=40, cols=50, spacing=(2.0, 0.5, 0.8))
    (series,) = scan([folder]).all_series()
    return load_volume(series)


# --- ruler -----------------------------------------------------------------------------------


def test_ruler_uses_row_and_column_spacing(anisotropic):
    image = mpr.reformat(anisotropic, "axial", 1)
    rs, cs = image.row_spacing, image.col_spacing
    assert (rs, cs) == pytest.approx((0.5, 0.8))
    assert ruler_length_mm((5, 5), (5, 15), rs, cs) == pytest.approx(8.0)  # horizontal
    assert ruler_length_mm((5, 5), (15, 5), rs, cs) == pytest.approx(5.0)  # vertical
    assert ruler_length_mm((0, 0), (6, 5), rs, cs) == pytest.approx(5.0)  # 3-4-5 in mm
    assert ruler_length_mm((2.5, 2.5), (2.5, 2.5), rs, cs) == 0.0


def test_angle_is_measured_in_millimetres_not_pixels(anisotropic):
    image = mpr.reformat(anisotropic, "axial", 1)
    rs, cs = image.row_spacing, image.col_spacing  # 0.5 mm rows, 0.8 mm columns
    # arms 8 mm along the columns and 8 mm down the rows: 90 degrees in mm (10 columns and
    # 16 rows), where the pixel grid alone would say atan(16/10) = 58 degrees
    assert angle_deg((5, 15), (5, 5), (21, 5), rs, cs) == pytest.approx(90.0)
    assert angle_deg((5, 15), (5, 5), (21, 5), 1, 1) == pytest.approx(90.0)
    assert angle_deg((0, 10), (0, 0), (16, 10), rs, cs) == pytest.approx(45.0)  # 8 mm and 8 mm
    assert angle_deg((0, 10), (0, 0), (0, 20), rs, cs) == pytest.approx(0.0)
    assert angle_deg((0, 10), (0, 0), (0, -20), rs, cs) == pytest.approx(180.0)
    # the order of the arms does not matter; the angle is never reflex
    assert angle_deg((16, 10), (0, 0), (0, 10), rs, cs) == pytest.approx(45.0)
    assert math.isnan(angle_deg((0, 0), (0, 0), (3, 4), rs, cs))


def test_ruler_on_a_coronal_reformat_uses_slice_spacing(anisotropic):
    image = mpr.reformat(anisotropic, "coronal", 10)
    assert (image.row_spacing, image.col_spacing) == pytest.approx((2.0, 0.8))
    assert ruler_length_mm((0, 0), (2, 0), image.row_spacing, image.col_spacing) == 4.0


# --- ROI statistics --------------------------------------------------------------------------


def _centre_mask(shape, inside):
    rr, cc = np.mgrid[0 : shape[0], 0 : shape[1]]
    return inside(rr + 0.5, cc + 0.5)


def test_rect_stats_match_numpy():
    rng = np.random.default_rng(3)
    values = rng.integers(-100, 100, size=(30, 40)).astype(np.int16)
    s = roi_stats(values, "rect", (12.2, 3.7), (4.6, 20.1), 0.5, 0.8, units="HU")
    # Centres r + 0.5 in [4.6, 12.2] -> rows 5..11; c + 0.5 in [3.7, 20.1] -> cols 4..19.
    ref = values[5:12, 4:20].astype(float)
    assert s.n_pixels == ref.size == 7 * 16
    assert s.mean == pytest.approx(ref.mean())
    assert s.sd == pytest.approx(ref.std(ddof=0))
    assert (s.min, s.max) == (ref.min(), ref.max())
    assert s.area_mm2 == pytest.approx(7 * 16 * 0.5 * 0.8)
    assert s.units == "HU"


def test_ellipse_stats_match_numpy():
    rng = np.random.default_rng(4)
    values = rng.normal(40, 10, size=(64, 64)).astype(np.float32)
    p0, p1 = (10.0, 8.0), (30.0, 50.0)
    cr, cc, ar, ac = 20.0, 29.0, 10.0, 21.0
    mask = _centre_mask(values.shape, lambda r, c: ((r - cr) / ar) ** 2 + ((c - cc) / ac) ** 2 <= 1)
    s = roi_stats(values, "ellipse", p0, p1, 0.7, 0.7)
    ref = values[mask].astype(float)
    assert s.n_pixels == mask.sum()
    assert s.mean == pytest.approx(ref.mean())
    assert s.sd == pytest.approx(ref.std())
    assert (s.min, s.max) == (pytest.approx(ref.min()), pytest.approx(ref.max()))
    assert s.area_mm2 == pytest.approx(mask.sum() * 0.49)
    # A pixel-aligned disc has about pi r^2 pixels.
    assert s.n_pixels == pytest.approx(math.pi * ar * ac, rel=0.02)
    # Corners given in any order give the same ROI.
    assert roi_stats(values, "ellipse", (30.0, 8.0), (10.0, 50.0), 0.7, 0.7) == s


def test_roi_mask_follows_the_pixel_centre_rule():
    # Pixel (r, c) spans [r, r+1) x [c, c+1): a box [1, 3] x [1, 3] holds centres 1.5, 2.5.
    window, mask = roi_mask((5, 5), "rect", (1, 1), (3, 3))
    assert window == (slice(1, 3), slice(1, 3)) and mask.all()
    # [1.6, 2.4] holds no centre at all.
    assert roi_stats(np.ones((5, 5)), "rect", (1.6, 1.6), (2.4, 2.4), 1, 1).n_pixels == 0
    # A 1x1 ellipse around one centre holds exactly that pixel.
    window, mask = roi_mask((5, 5), "ellipse", (2, 3), (3, 4))
    assert window == (slice(2, 3), slice(3, 4)) and mask.tolist() == [[True]]


def test_roi_partly_outside_the_image_is_clipped():
    values = np.arange(100, dtype=np.int16).reshape(10, 10)
    s = roi_stats(values, "rect", (-5, -5), (2, 3), 1.0, 1.0)
    assert s.n_pixels == 6 and s.max == values[1, 2] and s.min == 0


@pytest.mark.parametrize(
    ("kind", "p0", "p1"),
    [
        ("rect", (50, 50), (60, 60)),  # entirely outside
        ("rect", (2, 2), (2, 8)),  # zero height
        ("ellipse", (3, 3), (3, 9)),  # flat ellipse
        ("ellipse", (1.6, 1.6), (2.4, 2.4)),  # no centre inside
        ("rect", (float("nan"), 0), (3, 3)),
    ],
)
def test_empty_roi_gives_nan_not_an_exception(kind, p0, p1):
    s = roi_stats(np.zeros((10, 10)), kind, p0, p1, 1.0, 1.0, "HU")
    assert s.n_pixels == 0 and s.area_mm2 == 0.0
    assert all(math.isnan(v) for v in (s.mean, s.sd, s.min, s.max))


def test_roi_stats_on_the_sample_brain():
    _, _, volume = sample_study()
    image = mpr.reformat(volume, "axial", 60)
    values = image.values
    s = roi_stats(values, "ellipse", (100, 100), (140, 150), image.row_spacing, 0.9570312)
    mask = _centre_mask(
        values.shape, lambda r, c: ((r - 120) / 20) ** 2 + ((c - 125) / 25) ** 2 <= 1
    )
    assert s.n_pixels == mask.sum()
    assert s.mean == pytest.approx(values[mask].mean())
    assert s.sd == pytest.approx(values[mask].std())
    assert s.area_mm2 == pytest.approx(mask.sum() * 0.9570312**2)


def test_colour_roi_uses_the_channel_mean():
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 30, 60, 90
    assert roi_stats(rgb, "rect", (0, 0), (4, 4), 1, 1).mean == pytest.approx(60.0)
    with pytest.raises(ValueError, match="2-D image"):
        roi_stats(np.zeros(5), "rect", (0, 0), (1, 1), 1, 1)


# --- probe -----------------------------------------------------------------------------------


def test_probe_reads_the_pixel_containing_the_point():
    values = np.arange(12, dtype=np.int16).reshape(3, 4)
    assert probe(values, 0, 0) == 0.0
    assert probe(values, 1.99, 2.01) == values[1, 2]
    assert probe(values, 2.5, 3.5) == 11.0
    for row, col in ((-0.01, 0), (0, -0.5), (3.0, 0), (0, 4.0), (float("nan"), 1)):
        assert probe(values, row, col) is None


# --- the store -------------------------------------------------------------------------------

KEY = ("1.2.3", "axial", 5)
OTHER = ("1.2.3", "coronal", 5)


def test_store_keeps_measurements_per_view():
    store = MeasurementStore()
    a = store.add(KEY, "ruler", [(0, 0), (0, 10)], label="width")
    b = store.add(KEY, "probe", [(1, 1)])
    c = store.add(OTHER, "rect", [(0, 0), (2, 2)])
    assert len({a.id, b.id, c.id}) == 3
    assert a == Measurement(a.id, "ruler", ((0.0, 0.0), (0.0, 10.0)), "width")
    assert store.on(KEY) == [a, b] and store.on(OTHER) == [c]
    assert store.on(("1.2.3", "axial", 6)) == []
    moved = store.update(a.id, [(1, 1), (4, 5)])
    assert moved.points == ((1.0, 1.0), (4.0, 5.0)) and moved.label == "width"
    assert store.find(a.id) == moved and store.key_of(a.id) == KEY
    assert store.relabel(b.id, "cyst").label == "cyst"
    assert store.remove(b.id).id == b.id
    assert store.on(KEY) == [moved]
    d = store.add(KEY, "ellipse", [(0, 0), (3, 3)])
    assert d.id > c.id  # ids are never reused
    assert store.clear(KEY) == 2 and store.on(KEY) == [] and len(store) == 1
    assert store.clear() == 1 and len(store) == 0


def test_store_rejects_unknown_ids_and_bad_shapes():
    store = MeasurementStore()
    m = store.add(KEY, "ruler", [(0, 0), (1, 1)])
    for call in (store.find, store.remove, lambda i: store.update(i, [(0, 0), (1, 1)])):
        with pytest.raises(KeyError, match=f"no measurement with id 99 .*ids in the store: {m.id}"):
            call(99)
    with pytest.raises(ValueError, match="a ruler needs 2 point"):
        store.add(KEY, "ruler", [(0, 0)])
    with pytest.raises(ValueError, match="a probe needs 1 point"):
        store.update(store.add(KEY, "probe", [(0, 0)]).id, [(0, 0), (1, 1)])
    with pytest.raises(ValueError, match="unknown measurement kind 'cobb'"):
        store.add(KEY, "cobb", [(0, 0), (1, 1), (2, 2)])
    with pytest.raises(ValueError, match="an? angle needs 3 point"):
        store.add(KEY, "angle", [(0, 0), (1, 1)])


def test_describe_gives_the_viewer_text():
    values = np.full((20, 20), 40, dtype=np.int16)
    values[5:8, 5:8] = [[20, 30, 40], [35, 45, 51], [38, 40, 42]]
    store = MeasurementStore()
    ruler = store.add(KEY, "ruler", [(0, 0), (0, 15.375)])
    assert store.describe(ruler, values, 0.5, 0.8, "HU") == "12.3 mm"
    rect = store.add(KEY, "rect", [(5, 5), (8, 8)])
    block = values[5:8, 5:8].astype(float)
    assert store.describe(rect, values, 0.5, 0.8, "HU") == (
        f"mean {block.mean():.1f} HU, SD {block.std():.1f}, min 20, max 51, area 3.6 mm²"
    )
    assert store.describe(rect, values, 0.5, 0.8, "").startswith(f"mean {block.mean():.1f}, SD")
    assert store.describe(store.add(KEY, "probe", [(0.5, 0.5)]), values, 1, 1, "HU") == "40 HU"
    outside = store.add(KEY, "probe", [(25, 0)])
    assert store.describe(outside, values, 1, 1, "HU") == "outside the image"
    empty = store.add(KEY, "ellipse", [(30, 30), (40, 40)])
    assert store.describe(empty, values, 1, 1, "HU") == "no pixel inside, area 0.0 mm²"
    uncalibrated = store.describe(ruler, values, 0.5, 0.8, "HU", calibrated=False)
    assert uncalibrated == "15.4 px"
    angle = store.add(KEY, "angle", [(0, 10), (0, 0), (16, 10)])
    assert store.describe(angle, values, 0.5, 0.8, "HU") == "45.0°"
    assert store.describe(angle, values, 0.5, 0.8, "HU", calibrated=False) == "58.0°"
    flat = store.add(KEY, "angle", [(0, 0), (0, 0), (3, 4)])
    assert store.describe(flat, values, 1, 1, "HU") == "arm of no length"


def test_describe_colour_probe_shows_the_channels():
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[1, 0] = (200, 100, 5)
    m = MeasurementStore().add(KEY, "probe", [(1.2, 0.3)])
    assert MeasurementStore.describe(m, rgb, 1, 1, "") == "R 200 G 100 B 5"
