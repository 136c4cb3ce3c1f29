"""Heat map colouring: lookup tables, threshold, alpha, caching once per map, the colour bar."""

import numpy as np
import pytest

from medviewer.qt import heatmap
from medviewer.qt.heatmap import COLORMAPS, ColorBar, HeatmapCache, colorize, lookup_table


@pytest.mark.parametrize("name", COLORMAPS)
def test_lookup_tables_are_256_rgb_uint8(name):
    table = lookup_table(name)
    assert table.shape == (256, 3) and table.dtype == np.uint8
    assert lookup_table(name) is table  # built once


def test_known_colours_of_each_map():
    jet, hot, inferno = lookup_table("jet"), lookup_table("hot"), lookup_table("inferno")
    assert tuple(jet[0]) == (0, 0, 128) and tuple(jet[255]) == (128, 0, 0)  # dark blue..red
    assert jet[128, 1] == 255  # green in the middle
    assert tuple(hot[255]) == (255, 255, 255) and hot[0, 1] == hot[0, 2] == 0
    assert tuple(inferno[0]) == (0, 0, 4) and inferno[255, 0] > 240  # black .. pale yellow
    # brightness rises monotonically for the perceptual maps
    for table in (hot, inferno):
        luminance = table.astype(float) @ [0.299, 0.587, 0.114]
        assert np.all(np.diff(luminance) >= -1.0)


def test_unknown_colour_map_is_refused():
    with pytest.raises(ValueError, match="jet"):
        lookup_table("rainbow")
    with pytest.raises(ValueError, match="rows, cols"):
        colorize(np.zeros(5), "jet")


def test_colorize_shape_dtype_values_threshold_and_alpha():
    m = np.array([[0.0, 0.25, 0.5], [0.75, 1.0, 2.0]], dtype=np.float32)
    rgba = colorize(m, "jet", threshold=0.5, alpha=0.5)
    assert rgba.shape == (2, 3, 4) and rgba.dtype == np.uint8
    table = lookup_table("jet")
    assert np.array_equal(rgba[0, 0, :3], table[0])
    assert np.array_equal(rgba[0, 1, :3], table[64])
    assert np.array_equal(rgba[1, 1, :3], table[255])
    assert np.array_equal(rgba[1, 2, :3], table[255])  # clipped to 1
    assert rgba[..., 3].tolist() == [[0, 0, 128], [128, 128, 128]]  # below 0.5 is transparent
    full = colorize(m, "hot")
    assert np.all(full[..., 3] == 255)  # no threshold, alpha 1


def test_nan_is_transparent_and_negative_values_clip():
    m = np.array([[np.nan, -1.0]], dtype=np.float32)
    rgba = colorize(m, "inferno")
    assert rgba[0, 0, 3] == 0
    assert rgba[0, 1, 3] == 255 and np.array_equal(rgba[0, 1, :3], lookup_table("inferno")[0])


def test_cache_colours_once_per_map_and_setting(monkeypatch):
    calls = []
    real = heatmap.colorize

    def counting(*args, **kwargs):
        calls.append(args[1:])
        return real(*args, **kwargs)

    monkeypatch.setattr(heatmap, "colorize", counting)
    cache = HeatmapCache()
    a = np.random.default_rng(0).random((32, 40)).astype(np.float32)
    first = cache.get(a, "jet", 0.2)
    assert cache.get(a, "jet", 0.2) is first  # same object, no recolouring
    assert len(calls) == 1 and cache.computed == 1
    assert not first.flags.writeable
    other = cache.get(a, "hot", 0.2)
    assert other is not first and len(calls) == 2
    cache.get(a, "jet", 0.3)
    assert len(calls) == 3
    assert cache.get(a, "jet", 0.2) is first and len(calls) == 3
    b = a.copy()
    assert cache.get(b, "jet", 0.2) is not first  # another map, coloured on its own
    assert np.array_equal(cache.get(b, "jet", 0.2), first)


def test_cache_is_bounded_and_never_confuses_a_reused_key():
    cache = HeatmapCache(max_items=2)
    maps = [np.full((4, 4), v, dtype=np.float32) for v in (0.1, 0.5, 0.9)]
    for m in maps:
        cache.get(m, "jet")
    assert len(cache) == 2
    x = np.zeros((4, 4), dtype=np.float32)
    y = np.ones((4, 4), dtype=np.float32)
    first = cache.get(x, "jet", key="slice-3")
    second = cache.get(y, "jet", key="slice-3")  # same key, another array: recoloured
    assert second is not first and second[0, 0, 0] == lookup_table("jet")[255, 0]


def test_colour_bar_paints_gradient_and_caption(qtbot):
    bar = ColorBar("jet")
    qtbot.addWidget(bar)
    bar.resize(140, 220)
    bar.show()
    qtbot.waitExposed(bar)
    image = bar.grab().toImage()
    top = image.pixelColor(12, 14)
    bottom = image.pixelColor(12, bar.height() - 2 * bar.fontMetrics().lineSpacing() - 14)
    assert top.red() > 100 and top.blue() < 60  # 1.0 is red at the top
    assert bottom.blue() > 100 and bottom.red() < 60  # 0.0 is blue at the bottom
    assert bar.caption() == "normalised per image"
    bar.set_colormap("inferno")
    bar.set_threshold(0.4)
    assert bar.cmap == "inferno" and bar.threshold == pytest.approx(0.4)
    with pytest.raises(ValueError):
        bar.set_colormap("nope")
