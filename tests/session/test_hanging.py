"""Hanging layouts: saved from the current layout, kept in JSON, applied to matching studies."""

import json
from dataclasses import replace

import pytest

from medviewer.dicom import Window
from medviewer.errors import MedviewerError
from medviewer.session.hanging import (
    FORMAT,
    HangingLayout,
    HangingRule,
    HangingViewport,
    apply_layout,
    layout_from_current,
    layouts_path,
    load_layouts,
    match_layout,
    save_layouts,
    upsert_layout,
)
from medviewer.session.layout import LinkOptions, ReadingLayout
from medviewer.session.priors import find_prior
from medviewer.session.slab import Slab
from tests.session.reading_studies import series_named, study_on, write_studies

BRAIN, BONE = Window(40, 80, "Brain"), Window(600, 2800, "Bone")


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    return write_studies(tmp_path_factory.mktemp("reading"))


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    folder = tmp_path / "config"
    monkeypatch.setenv("MEDVIEWER_CONFIG_DIR", str(folder))
    return folder


def _reading_of_p1(scanned):
    """P1's current head CT beside its bone series (coronal MIP) and the prior."""
    now = study_on(scanned, "P1", "20260301")
    prior, prior_series = find_prior(now, series_named(now, "Head 5mm"), scanned.studies)
    shown = [series_named(now, "Head 5mm"), series_named(now, "Head bone 1mm"), prior_series]
    layout = ReadingLayout("2x2", links=LinkOptions(scroll=True, window=True))
    for n, series in enumerate(shown):
        layout.assign(n, series.key)
    layout.set_plane(1, "coronal")
    layout.set_slab(1, Slab("mip", 10.0))
    by_key = {s.key: s for s in scanned.all_series()}
    return layout, by_key, now


def test_saved_layout_is_applied_to_a_matching_study_and_not_to_another(scanned, config_dir):
    layout, by_key, _ = _reading_of_p1(scanned)
    saved = layout_from_current("Head CT with prior", layout, by_key, [BRAIN, BONE, BRAIN])
    assert (saved.modality, saved.body_part, saved.grid) == ("CT", "HEAD", "2x2")
    assert [v.rule.prior if v.rule else None for v in saved.viewports] == [
        False,
        False,
        True,
        None,
    ]
    path = save_layouts([saved])
    assert path == config_dir / "hanging_layouts.json" == layouts_path()
    assert json.loads(path.read_text())["format"] == FORMAT

    layouts, messages = load_layouts()
    assert messages == [] and layouts == [saved]

    # Another patient's head CT with the same protocol: series in the other order, the
    # description in capitals.
    now = study_on(scanned, "P3", "20260320")
    prior = study_on(scanned, "P3", "20250301")
    chosen = match_layout(layouts, now)
    assert chosen is not None and chosen.name == "Head CT with prior"
    reading, messages = apply_layout(chosen, now, prior)
    assert messages == []
    assert reading.grid == "2x2" and reading.links == LinkOptions(scroll=True, window=True)
    expected = [
        series_named(now, "HEAD 5MM").key,
        series_named(now, "Head bone 1mm").key,
        series_named(prior, "HEAD 5MM").key,
        None,
    ]
    assert [v.series_key for v in reading.viewports] == expected
    assert [v.plane for v in reading.viewports] == ["acquired", "coronal", "acquired", "acquired"]
    assert [v.window for v in reading.viewports] == [BRAIN, BONE, BRAIN, None]
    assert [v.slab for v in reading.viewports] == [Slab(), Slab("mip", 10.0), Slab(), Slab()]

    # Not applied to a chest CT (even with a series called "Head 5mm"), nor to an MR.
    assert match_layout(layouts, study_on(scanned, "P3", "20260321")) is None
    assert match_layout(layouts, study_on(scanned, "P1", "20251101")) is None


def test_a_rule_nothing_matches_leaves_its_viewport_empty_with_a_message(scanned):
    layout, by_key, _ = _reading_of_p1(scanned)
    saved = layout_from_current("Head", layout, by_key)
    now = study_on(scanned, "P3", "20260320")
    reading, messages = apply_layout(saved, now, None)  # no prior found
    assert [v.series_key for v in reading.viewports] == [
        series_named(now, "HEAD 5MM").key,
        series_named(now, "Head bone 1mm").key,
        None,
        None,
    ]
    (message,) = messages
    assert message.startswith("viewport 3:") and "no prior study" in message
    # A study without the bone series.
    only_5mm = study_on(scanned, "P1", "20240101")
    reading, messages = apply_layout(saved, only_5mm, None)
    assert [v.series_key for v in reading.viewports] == [only_5mm.series[0].key, None, None, None]
    assert any("CT series 'Head bone 1mm'" in m and "left empty" in m for m in messages)


def test_same_series_in_two_planes_and_two_series_for_two_alike_rules(scanned):
    now = study_on(scanned, "P1", "20260301")
    rule = HangingRule("CT", "head*", "acquired")
    twice = HangingLayout(
        "same pattern",
        "CT",
        "HEAD",
        "1x3",
        viewports=[
            HangingViewport(rule),
            HangingViewport(rule),
            HangingViewport(HangingRule("CT", "head*", "sagittal")),
        ],
    )
    reading, messages = apply_layout(twice, now, None)
    first, second = now.series[0].key, now.series[1].key
    assert messages == []
    assert [v.series_key for v in reading.viewports] == [first, second, first]


def test_descriptions_are_matched_exactly_though_they_hold_glob_characters(scanned):
    layout, by_key, now = _reading_of_p1(scanned)
    odd = series_named(now, "Head 5mm")
    strange = replace(odd, description="Head [5mm] *")
    by_key[odd.key] = strange
    saved = layout_from_current("odd", layout, by_key)
    assert saved.viewports[0].rule.matches(strange)
    assert not saved.viewports[0].rule.matches(replace(odd, description="Head 5 x"))
    assert not saved.viewports[0].rule.matches(odd)


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")


def test_missing_file_is_no_layouts_and_no_message(config_dir):
    assert load_layouts() == ([], [])


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        ('{"format": "medviewer-hanging-layouts", "version": 1, "layouts": [', "not valid JSON"),
        ('{"layouts": []}', "not a medviewer hanging layouts file"),
        (
            '{"format": "medviewer-hanging-layouts", "version": 0, "layouts": []}',
            "no usable version",
        ),
        ('{"format": "medviewer-hanging-layouts", "version": 1, "layouts": 3}', "no list"),
    ],
)
def test_a_bad_file_is_ignored_with_a_message(config_dir, content, phrase):
    path = config_dir / "hanging_layouts.json"
    _write(path, content)
    layouts, messages = load_layouts()
    assert layouts == []
    (message,) = messages
    assert phrase in message and str(path) in message and "ignored" in message
    assert (config_dir / "hanging_layouts.json.bad").read_text() == content


def test_a_file_of_a_newer_version_is_ignored_and_not_overwritten(config_dir):
    path = config_dir / "hanging_layouts.json"
    newer = {"format": FORMAT, "version": 2, "layouts": [{"name": "3-D", "hologram": True}]}
    _write(path, newer)
    layouts, messages = load_layouts()
    assert layouts == []
    (message,) = messages
    assert "written by a newer medviewer" in message and "ignored" in message
    layout = HangingLayout("x", "CT", viewports=[HangingViewport(HangingRule())])
    with pytest.raises(MedviewerError, match="newer medviewer; it is not overwritten"):
        save_layouts([layout])
    assert json.loads(path.read_text()) == newer


def test_a_bad_entry_is_skipped_and_the_good_ones_kept(config_dir, scanned):
    good = HangingLayout(
        "CT head",
        "CT",
        "HEAD",
        "1x2",
        viewports=[
            HangingViewport(HangingRule("CT", "head 5mm"), BRAIN),
            HangingViewport(HangingRule("CT", "head 5mm", "coronal", True), None, Slab("mip", 5)),
        ],
    )
    entries = [
        {"name": "no match", "grid": "1x1", "viewports": [{"rule": None}]},
        good.to_dict(),
        {"name": "too many", "match": {"modality": "CT"}, "grid": "1x1", "viewports": [{}, {}]},
        {"name": "bad slab", "match": {"modality": "CT"}, "grid": "1x1",
         "viewports": [{"rule": None, "slab": {"mode": "max"}}]},
        {"name": "bad plane", "match": {"modality": "CT"}, "grid": "1x1",
         "viewports": [{"rule": {"plane": "oblique"}}]},
        {"name": "bad window", "match": {"modality": "CT"}, "grid": "1x1",
         "viewports": [{"rule": None, "window": {"center": 40, "width": 0}}]},
        {"name": "", "match": {"modality": "CT"}, "grid": "1x1", "viewports": [{}]},
        "nonsense",
    ]  # fmt: skip
    _write(
        config_dir / "hanging_layouts.json", {"format": FORMAT, "version": 1, "layouts": entries}
    )
    layouts, messages = load_layouts()
    assert layouts == [good]
    assert len(messages) == 7
    for text, phrase in zip(
        messages,
        [
            "'no match'",
            "'too many'",
            "'bad slab'",
            "'bad plane'",
            "'bad window'",
            "number 7",
            "number 8",
        ],
    ):
        assert phrase in text and "is skipped" in text and "hanging_layouts.json.bad" in text
    assert "match must be an object" in messages[0]
    assert "do not fit the 1x1 grid" in messages[1]
    # The good layout still applies.
    now = study_on(scanned, "P1", "20260301")
    prior = study_on(scanned, "P1", "20250615")
    reading, problems = apply_layout(match_layout(layouts, now), now, prior)
    assert problems == []
    assert reading.viewports[1].series_key == series_named(prior, "Head 5mm").key
    assert reading.viewports[1].plane == "coronal"


def test_specific_layouts_win_and_upsert_replaces_by_name(scanned):
    head = study_on(scanned, "P1", "20260301")
    any_ct = HangingLayout("Any CT", "CT", "", "1x1", viewports=[HangingViewport()])
    head_ct = HangingLayout("Head CT", "CT", "HEAD", "1x2", viewports=[HangingViewport()])
    assert match_layout([any_ct, head_ct], head) is head_ct
    assert match_layout([any_ct, head_ct], study_on(scanned, "P1", "20251201")) is any_ct
    renamed = HangingLayout("head ct", "CT", "HEAD", "2x2", viewports=[HangingViewport()])
    assert upsert_layout([any_ct, head_ct], renamed) == [any_ct, renamed]
    assert upsert_layout([any_ct], head_ct) == [any_ct, head_ct]


def test_saving_needs_a_name_and_something_shown(scanned):
    layout, by_key, _ = _reading_of_p1(scanned)
    with pytest.raises(ValueError, match="needs a name"):
        layout_from_current("  ", layout, by_key)
    with pytest.raises(ValueError, match="nothing to save"):
        layout_from_current("empty", ReadingLayout("1x2"), by_key)


def test_an_unwritable_place_says_why(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(MedviewerError, match="could not save the hanging layouts"):
        save_layouts([], blocker / "sub" / "hanging_layouts.json")
