"""Settings: defaults, round trip, forgiving load of damaged files, migration, atomic save."""

import dataclasses
import json
import os
from pathlib import Path

import pytest

from medviewer import settings as settings_mod
from medviewer.errors import MedviewerError
from medviewer.settings import (
    MAX_RECENT,
    SCHEMA_VERSION,
    Settings,
    load_settings,
    migrate,
    save_settings,
    settings_path,
)


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    folder = tmp_path / "config"
    monkeypatch.setenv("MEDVIEWER_CONFIG_DIR", str(folder))
    return folder


def _write(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")


def test_path_follows_the_environment(config_dir, monkeypatch):
    assert settings_path() == config_dir / "settings.json"
    monkeypatch.delenv("MEDVIEWER_CONFIG_DIR")
    import platformdirs

    assert settings_path() == Path(platformdirs.user_config_dir("medviewer")) / "settings.json"


def test_missing_file_gives_defaults_without_warnings(config_dir):
    settings, warnings = load_settings()
    assert settings == Settings() and warnings == []
    assert settings.schema_version == SCHEMA_VERSION == 1
    assert (settings.layout, settings.cine_fps, settings.overlays_visible) == ("1x1", 10, True)
    assert settings.deidentified is False and settings.recent == []
    assert not config_dir.exists()  # loading creates nothing


def test_round_trip(config_dir):
    s = Settings(
        window_geometry="AdnQywADAAAAAAAA",
        window_state="AAAA/wAAAAD9",
        last_folder="/data/ct",
        overlays_visible=False,
        deidentified=True,
        layout="1x3",
        cine_fps=25,
        custom_presets=[
            {"name": "Temporal bone", "center": 700.0, "width": 4000.0, "modality": "CT"}
        ],
    )
    s.remember("/data/a")
    s.remember("/data/b")
    path = save_settings(s)
    assert path == config_dir / "settings.json" and path.is_file()
    loaded, warnings = load_settings()
    assert warnings == []
    assert loaded == s
    assert loaded.recent == ["/data/b", "/data/a"]
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION


def test_remember_keeps_most_recent_first_unique_and_ten(tmp_path):
    s = Settings()
    for i in range(15):
        s.remember(f"/p/{i}")
    s.remember("/p/12")
    assert s.recent[0] == "/p/12" and len(s.recent) == MAX_RECENT
    assert len(set(s.recent)) == len(s.recent)
    assert s.recent[1:4] == ["/p/14", "/p/13", "/p/11"]
    s.remember(tmp_path / "x" / ".." / "y")
    assert s.recent[0] == os.path.abspath(tmp_path / "y")


def test_corrupt_json_gives_defaults_and_is_copied_aside(config_dir):
    path = config_dir / "settings.json"
    _write(path, '{"layout": "1x3", "cine_fps": ')
    settings, warnings = load_settings()
    assert settings == Settings()
    (warning,) = warnings
    assert str(path) in warning and "not valid JSON" in warning
    assert "using default settings" in warning and "settings.json.bad" in warning
    bad = config_dir / "settings.json.bad"
    assert bad.read_text() == '{"layout": "1x3", "cine_fps": '


@pytest.mark.parametrize("content", ["[1, 2, 3]", '"text"', "null", b"\xff\xfe\x00garbage"])
def test_not_an_object_or_not_text(config_dir, content):
    path = config_dir / "settings.json"
    path.parent.mkdir(parents=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    settings, warnings = load_settings()
    assert settings == Settings() and len(warnings) == 1
    assert str(path) in warnings[0] and "using default settings" in warnings[0]
    assert (config_dir / "settings.json.bad").read_bytes() == path.read_bytes()


def test_wrong_types_fall_back_per_field_and_keep_the_good_ones(config_dir):
    path = config_dir / "settings.json"
    _write(
        path,
        {
            "schema_version": 1,
            "last_folder": "/data/ct",
            "layout": "2x2",
            "cine_fps": "fast",
            "overlays_visible": "yes",
            "deidentified": True,
            "recent": ["/a", 3, "/b", "/a"],
            "custom_presets": [
                {"name": "Soft", "center": 40, "width": 400},
                {"name": "Broken", "center": 40, "width": -1},
                {"name": "Endless", "center": 40, "width": float("inf")},
                "nonsense",
            ],
            "window_state": 12,
            "something_new": {"x": 1},
        },
    )
    settings, warnings = load_settings()
    assert settings.last_folder == "/data/ct" and settings.deidentified is True
    assert settings.layout == "1x1" and settings.cine_fps == 10
    assert settings.overlays_visible is True and settings.window_state == ""
    assert settings.recent == ["/a", "/b"]
    assert settings.custom_presets == [
        {"name": "Soft", "center": 40.0, "width": 400.0, "modality": ""}
    ]
    text = "\n".join(warnings)
    for name in ("layout", "cine_fps", "overlays_visible", "window_state", "recent"):
        assert f"'{name}'" in text, name
    assert "3 presets without a name" in text
    assert "something_new" not in text  # unknown keys are ignored quietly
    assert all(str(path) in w and "settings.json.bad" in w for w in warnings)
    assert (config_dir / "settings.json.bad").is_file()


def test_out_of_range_values_are_clamped(config_dir):
    _write(config_dir / "settings.json", {"schema_version": 1, "cine_fps": 500})
    settings, warnings = load_settings()
    assert settings.cine_fps == 60
    assert len(warnings) == 1 and "500 is outside 1..60; using 60" in warnings[0]
    _write(config_dir / "settings.json", {"schema_version": 1, "cine_fps": 0})
    assert load_settings()[0].cine_fps == 1


def test_save_validates_what_it_writes(config_dir):
    s = Settings(cine_fps=240, layout="3x3", recent=[f"/r/{i}" for i in range(30)])
    path = save_settings(s)
    data = json.loads(path.read_text())
    assert data["cine_fps"] == 60 and data["layout"] == "1x1"
    assert data["recent"] == [f"/r/{i}" for i in range(MAX_RECENT)]
    assert load_settings()[1] == []


def test_migrates_version_0(config_dir):
    old = {"recent_files": ["/old/a", "/old/b"], "layout": "1x3"}
    assert migrate(old) == {"recent": ["/old/a", "/old/b"], "layout": "1x3", "schema_version": 1}
    assert "recent_files" in old  # the input is not modified
    _write(config_dir / "settings.json", old)
    settings, warnings = load_settings()
    assert warnings == []
    assert settings.recent == ["/old/a", "/old/b"] and settings.layout == "1x3"
    assert settings.schema_version == 1
    current = {"schema_version": 1, "recent": ["/x"]}
    assert migrate(current) == current


def test_newer_schema_is_read_with_a_warning(config_dir):
    _write(config_dir / "settings.json", {"schema_version": 7, "layout": "1x3", "hologram": 1})
    settings, warnings = load_settings()
    assert settings.layout == "1x3"
    assert len(warnings) == 1 and "newer medviewer" in warnings[0]
    assert "not overwritten" in warnings[0]
    before = (config_dir / "settings.json").read_bytes()
    with pytest.raises(MedviewerError, match="newer medviewer; it is not overwritten"):
        save_settings(settings)
    assert (config_dir / "settings.json").read_bytes() == before  # "hologram" kept


def test_save_is_atomic_and_creates_the_folder(config_dir, monkeypatch):
    path = save_settings(Settings(layout="1x3"))
    assert path.parent == config_dir
    before = path.read_text()

    def broken_dump(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(settings_mod.json, "dump", broken_dump)
    with pytest.raises(MedviewerError, match="could not save the settings .*No space left"):
        save_settings(Settings(layout="1x1"))
    assert path.read_text() == before  # the old file is intact
    assert sorted(p.name for p in config_dir.iterdir()) == ["settings.json"]  # no temp left


def test_save_into_an_unwritable_place_says_why(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(MedviewerError, match="could not save the settings to"):
        save_settings(Settings(), blocker / "sub" / "settings.json")


def test_explicit_path_wins_over_the_environment(config_dir, tmp_path):
    target = tmp_path / "elsewhere" / "s.json"
    save_settings(Settings(cine_fps=5), target)
    assert load_settings(target)[0].cine_fps == 5
    assert not (config_dir / "settings.json").exists()


def test_every_field_is_validated():
    names = {f.name for f in dataclasses.fields(Settings)} - {"schema_version"}
    assert set(settings_mod._CHECKS) == names


def test_tests_use_temporary_user_folders_and_the_bundled_models(tmp_path_factory):
    # tests/conftest.py: the user's real folders are never touched; the repo's models/ are seen
    from medviewer.ai.registry import ModelRegistry, bundled_models_dir, user_data_dir

    base = tmp_path_factory.getbasetemp().resolve()
    assert base in settings_path().resolve().parents
    assert base in user_data_dir().resolve().parents
    registry = ModelRegistry()
    assert base in registry.user_dir.resolve().parents
    repo_models = Path(__file__).resolve().parent.parent / "models"
    assert bundled_models_dir().resolve() == repo_models


def test_annotator_and_label_store_round_trip(config_dir, tmp_path, monkeypatch):
    from medviewer.settings import label_store_path

    s = Settings(annotator="  Dr   Ada  Lovelace ", label_store=str(tmp_path / "x.sqlite"))
    save_settings(s)
    loaded, warnings = load_settings()
    assert warnings == []
    assert loaded.annotator == "Dr Ada Lovelace"  # spaces normalised
    assert label_store_path(loaded) == tmp_path / "x.sqlite"
    monkeypatch.setenv("MEDVIEWER_DATA_DIR", str(tmp_path / "data"))
    assert label_store_path(Settings()) == tmp_path / "data" / "labels.sqlite"
    assert label_store_path() == tmp_path / "data" / "labels.sqlite"


def test_bad_annotator_falls_back_with_a_warning(config_dir):
    _write(config_dir / "settings.json", {"annotator": 42, "label_store": ["x"], "layout": "1x3"})
    loaded, warnings = load_settings()
    assert loaded.annotator == "" and loaded.label_store == "" and loaded.layout == "1x3"
    assert any("'annotator'" in w for w in warnings)
    assert any("'label_store'" in w for w in warnings)
    _write(config_dir / "settings.json", {"annotator": "x" * 500})
    loaded, warnings = load_settings()
    assert loaded.annotator == "" and any("at most 100" in w for w in warnings)


def test_reading_layout_fields_default_and_round_trip(config_dir):
    from medviewer.settings import VIEWPORT_GRIDS

    s = Settings()
    assert (s.viewport_grid, s.link_scroll, s.link_window, s.link_zoom_pan) == (
        "1x1",
        True,
        False,
        False,
    )
    assert s.link_offsets == {}
    for grid in VIEWPORT_GRIDS:
        s = Settings(viewport_grid=grid, link_scroll=False, link_window=True, link_zoom_pan=True)
        s.link_offsets = {"1.2.3|1.2.4": -12.5, "1.2.3|1.2.5": 3}
        save_settings(s)
        loaded, warnings = load_settings()
        assert warnings == [] and loaded == s
        assert loaded.link_offsets == {"1.2.3|1.2.4": -12.5, "1.2.3|1.2.5": 3.0}
    # A file from before these fields existed reads with their defaults, quietly.
    _write(config_dir / "settings.json", {"schema_version": 1, "layout": "1x3"})
    loaded, warnings = load_settings()
    assert warnings == [] and loaded.viewport_grid == "1x1" and loaded.link_offsets == {}


def test_bad_reading_layout_fields_fall_back_with_a_warning(config_dir):
    _write(
        config_dir / "settings.json",
        {
            "viewport_grid": "3x3",
            "link_scroll": "yes",
            "link_window": True,
            "link_zoom_pan": 1,
            "link_offsets": {"a|b": 2.5, "c|d": "far", "e|f": float("nan"), "": 1.0},
            "layout": "1x3",
        },
    )
    loaded, warnings = load_settings()
    assert loaded.viewport_grid == "1x1" and loaded.layout == "1x3"
    assert (loaded.link_scroll, loaded.link_window, loaded.link_zoom_pan) == (True, True, False)
    assert loaded.link_offsets == {"a|b": 2.5}
    text = "\n".join(warnings)
    for name in ("viewport_grid", "link_scroll", "link_zoom_pan"):
        assert f"'{name}'" in text, name
    assert "3 offset(s) without a pair key and a number left out" in text
    assert "'link_window'" not in text
    _write(config_dir / "settings.json", {"link_offsets": [1, 2]})
    loaded, warnings = load_settings()
    assert loaded.link_offsets == {} and "'link_offsets'" in warnings[0]


def test_link_offsets_keep_the_most_recent(config_dir):
    from medviewer.settings import MAX_LINK_OFFSETS

    many = {f"a|{n}": float(n) for n in range(MAX_LINK_OFFSETS + 5)}
    path = save_settings(Settings(link_offsets=many))
    kept = json.loads(path.read_text())["link_offsets"]
    assert len(kept) == MAX_LINK_OFFSETS and "a|4" not in kept and "a|5" in kept
    _write(path, {"link_offsets": many})
    loaded, warnings = load_settings()
    assert len(loaded.link_offsets) == MAX_LINK_OFFSETS
    assert any(f"only the last {MAX_LINK_OFFSETS} offsets kept" in w for w in warnings)


def test_a_replaced_settings_file_keeps_its_permissions_and_a_read_only_one_is_kept(config_dir):
    import stat as st

    path = save_settings(Settings(layout="1x3"))
    path.chmod(0o644)  # shared with the other accounts of the workstation
    save_settings(Settings(layout="1x1"))
    assert st.S_IMODE(path.stat().st_mode) == 0o644
    path.chmod(0o444)  # locked by IT
    before = path.read_bytes()
    with pytest.raises(MedviewerError, match="could not save the settings .*read-only"):
        save_settings(Settings(layout="1x3"))
    assert path.read_bytes() == before and st.S_IMODE(path.stat().st_mode) == 0o444
    path.chmod(0o644)
