"""The reading layout: grids, assignments, the active viewport, dict and settings round trips."""

import json

import pytest

from medviewer.dicom import Window
from medviewer.session.layout import (
    GRIDS,
    LinkOptions,
    ReadingLayout,
    ViewportState,
    layout_from_settings,
    store_in_settings,
)
from medviewer.session.slab import Slab
from medviewer.settings import VIEWPORT_GRIDS, Settings, load_settings, save_settings


def _keys(layout):
    return [v.series_key for v in layout.viewports]


def test_grids_have_the_shapes_the_issue_names():
    assert tuple(GRIDS) == VIEWPORT_GRIDS  # the settings accept exactly these
    assert {n: r * c for n, (r, c) in GRIDS.items()} == {
        "1x1": 1,
        "1x2": 2,
        "2x1": 2,
        "2x2": 4,
        "1x3": 3,
    }
    layout = ReadingLayout()
    assert (layout.grid, layout.capacity, layout.active, _keys(layout)) == ("1x1", 1, 0, [None])
    assert layout.links == LinkOptions(scroll=True, window=False, zoom_pan=False)
    with pytest.raises(ValueError, match="unknown grid '3x3'"):
        ReadingLayout("3x3")


def test_set_grid_keeps_surviving_viewports_and_clamps_the_active_one():
    layout = ReadingLayout("2x2")
    for n, key in enumerate(["a", "b", "c", "d"]):
        layout.assign(n, key)
    layout.set_plane(1, "coronal")
    layout.set_active(3)
    layout.set_grid("1x2")
    assert _keys(layout) == ["a", "b"] and layout.viewports[1].plane == "coronal"
    assert layout.active == 1 and layout.active_state.series_key == "b"
    layout.set_grid("1x3")
    assert _keys(layout) == ["a", "b", None] and layout.active == 1
    with pytest.raises(ValueError, match="unknown grid"):
        layout.set_grid("4x4")
    assert layout.grid == "1x3" and _keys(layout) == ["a", "b", None]  # unchanged
    layout.set_grid("1x1")
    assert _keys(layout) == ["a"] and layout.active == 0


def test_assign_and_set_active_check_the_viewport():
    layout = ReadingLayout("1x2")
    layout.assign(1, "ct")
    layout.set_plane(1, "sagittal")
    layout.set_slab(1, Slab("mip", 10.0))
    layout.viewports[1].window = Window(40, 80, "Brain")
    layout.assign(1, "ct")  # the same series again: nothing changes
    assert layout.viewports[1].window == Window(40, 80, "Brain")
    layout.assign(1, "mr")  # another series keeps the plane and slab, not the window
    assert layout.viewports[1] == ViewportState("mr", "sagittal", Slab("mip", 10.0), None)
    assert layout.viewports_showing("mr") == [1]
    layout.assign(1, None)
    assert _keys(layout) == [None, None]
    for bad in (2, -1):
        with pytest.raises(IndexError, match="outside 0..1 of the 1x2 grid"):
            layout.assign(bad, "x")
        with pytest.raises(IndexError):
            layout.set_active(bad)
    with pytest.raises(ValueError, match="plane must be one of"):
        layout.set_plane(0, "oblique")
    layout.set_active(1)
    assert layout.active == 1


def test_to_dict_and_back_through_json():
    layout = ReadingLayout(
        "2x2",
        [
            ViewportState("1.2.3", "acquired"),
            ViewportState("1.2.4#2", "coronal", Slab("mip", 10.0), Window(600, 2800, "Bone")),
            ViewportState(None, "sagittal", Slab("average", 3.5)),
        ],
        active=1,
        links=LinkOptions(scroll=True, window=True, zoom_pan=False),
        offsets={"1.2.3|1.2.9": -12.5},
    )
    assert _keys(layout) == ["1.2.3", "1.2.4#2", None, None]  # padded to the grid
    text = json.dumps(layout.to_dict())
    problems = []
    back = ReadingLayout.from_dict(json.loads(text), problems)
    assert problems == []
    assert back.to_dict() == layout.to_dict()
    assert back.viewports[1].slab == Slab("mip", 10.0)
    assert back.viewports[1].window == Window(600.0, 2800.0, "Bone")
    assert (back.grid, back.active, back.links.window, back.offsets) == (
        "2x2",
        1,
        True,
        {"1.2.3|1.2.9": -12.5},
    )


@pytest.mark.parametrize("bad", [None, "2x2", [1, 2], 42])
def test_a_dict_that_is_no_layout_gives_the_defaults(bad):
    problems = []
    layout = ReadingLayout.from_dict(bad, problems)
    assert layout.to_dict() == ReadingLayout().to_dict()
    assert len(problems) == 1 and "must be an object" in problems[0]
    assert ReadingLayout.from_dict(bad).grid == "1x1"  # no list: nothing raised either


def test_bad_fields_fall_back_one_by_one_with_a_message():
    problems = []
    layout = ReadingLayout.from_dict(
        {
            "grid": "1x2",
            "viewports": [
                {"series_key": "a", "plane": "oblique", "slab": {"mode": "max"}},
                {"series_key": 7, "slab": {"mode": "mip", "thickness_mm": -2}, "window": 3},
                "nonsense",
            ],
            "active": "second",
            "links": {"scroll": "yes", "window": True},
            "offsets": {"a|b": "far", "c|d": 2.5},
        },
        problems,
    )
    assert layout.grid == "1x2" and _keys(layout) == ["a", None]  # the third did not fit
    assert [v.plane for v in layout.viewports] == ["acquired", "acquired"]
    assert all(v.slab == Slab() and v.window is None for v in layout.viewports)
    assert layout.active == 0 and layout.links == LinkOptions(scroll=True, window=True)
    assert layout.offsets == {"c|d": 2.5}
    text = "\n".join(problems)
    for expected in (
        "plane must be one of",
        "slab mode must be one of",
        "series key must be text",
        "slab thickness",
        "window must be an object",
        "a viewport must be an object",
        "active viewport",
        "link 'scroll'",
        "link offsets",
    ):
        assert expected in text, expected
    problems = []
    assert ReadingLayout.from_dict({"grid": "3x3", "viewports": {}}, problems).grid == "1x1"
    assert "unknown grid '3x3'" in problems[0] and "viewports must be a list" in problems[1]


def test_grid_links_and_offsets_go_through_the_settings_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDVIEWER_CONFIG_DIR", str(tmp_path / "config"))
    settings, _ = load_settings()
    assert layout_from_settings(settings).to_dict() == ReadingLayout().to_dict()
    layout = ReadingLayout("2x2", [ViewportState("x")], links=LinkOptions(False, True, True))
    layout.offsets["1.2|1.3"] = 7.25
    store_in_settings(layout, settings)
    save_settings(settings)
    loaded, warnings = load_settings()
    assert warnings == []
    back = layout_from_settings(loaded)
    assert back.grid == "2x2" and back.links == LinkOptions(False, True, True)
    assert back.offsets == {"1.2|1.3": 7.25}
    assert _keys(back) == [None] * 4  # series are per study: not remembered
    assert layout_from_settings(Settings(viewport_grid="bogus")).grid == "1x1"
