"""The model registry: scanning, versions, active model per modality, import, remove, load.

Nothing here may modify a package: every test that touches one compares sha256 and mtime.
"""

import json
import shutil
from pathlib import Path

import pytest
import torch

from medviewer.ai import registry as reg
from medviewer.ai.package import LoadedModel
from medviewer.ai.registry import ModelEntry, ModelRegistry, version_key
from medviewer.errors import ModelError
from medviewer.testing.tiny_model import make_package
from tests.ai.conftest import edit_manifest, make_exploit_package, snapshot


@pytest.fixture
def dirs(tmp_path):
    return {
        "bundled": tmp_path / "bundled",
        "user": tmp_path / "data" / "models",
        "state": tmp_path / "data" / "active_models.json",
    }


def _registry(dirs) -> ModelRegistry:
    return ModelRegistry(dirs["bundled"], dirs["user"], dirs["state"])


@pytest.fixture
def shelf(dirs, tiny_pkg):
    """Bundled: tiny-ct 1.0.0 (nested) and flat-mr 2 (a flat folder, MR). User: tiny-ct 1.10.0,
    tiny-ct 1.9.1 (copies of the same weights, new versions)."""
    shutil.copytree(tiny_pkg, dirs["bundled"] / "tiny-ct" / "1.0.0")
    make_package(
        dirs["bundled"] / "flat-mr",
        name="flat-mr",
        version="2",
        channels=1,
        windows=((40.0, 80.0),),
        modalities=("MR",),
    )
    for version in ("1.10.0", "1.9.1"):
        dest = dirs["user"] / "tiny-ct" / version
        shutil.copytree(tiny_pkg, dest)
        edit_manifest(dest, lambda d, v=version: d.update(version=v))
    return dirs


def test_version_key_compares_dotted_integers():
    assert version_key("1.10.0") > version_key("1.9.1") > version_key("1.9")
    assert version_key("1.0") == version_key("1.0.0") == version_key("1")
    assert version_key("2.0rc1") < version_key("2.0") < version_key("2.0.1")
    assert version_key("v3") > version_key("2.99")
    sorted(["1.0", "abc", "2"], key=version_key)  # non-numeric versions still sort


def test_entries_scan_nested_and_flat_packages_of_both_folders(shelf):
    entries = _registry(shelf).entries()
    assert [(e.ref, e.bundled) for e in entries] == [
        ("flat-mr:2", True),
        ("tiny-ct:1.0.0", True),
        ("tiny-ct:1.9.1", False),
        ("tiny-ct:1.10.0", False),
    ]
    e = entries[1]
    assert isinstance(e, ModelEntry)
    assert (e.name, e.version, e.source) == ("tiny-ct", "1.0.0", "bundled")
    assert e.folder == shelf["bundled"] / "tiny-ct" / "1.0.0"
    assert e.manifest.ref == e.ref and e.manifest.architecture == "attention_cnn"
    assert _registry(shelf).problems() == []


def test_missing_folders_mean_no_models(tmp_path):
    r = ModelRegistry(tmp_path / "nope", tmp_path / "nada", tmp_path / "state.json")
    assert r.entries() == [] and r.problems() == []
    assert r.active("CT") is None


def test_invalid_packages_are_skipped_and_listed_as_problems(shelf, tiny_pkg):
    broken = shelf["user"] / "broken" / "1.0"
    shutil.copytree(tiny_pkg, broken)
    edit_manifest(broken, lambda d: d.pop("classes"))
    no_weights = shelf["user"] / "noweights"
    shutil.copytree(tiny_pkg, no_weights)
    edit_manifest(no_weights, lambda d: d.update(name="noweights"))
    (no_weights / "weights.safetensors").unlink()
    dup = shelf["user"] / "copy-of-bundled"
    shutil.copytree(tiny_pkg, dup)
    (shelf["user"] / "junk").mkdir()
    (shelf["user"] / "junk" / "manifest.json").write_text("{not json")

    r = _registry(shelf)
    refs = [e.ref for e in r.entries()]
    assert refs == ["flat-mr:2", "tiny-ct:1.0.0", "tiny-ct:1.9.1", "tiny-ct:1.10.0"]
    problems = r.problems()
    assert len(problems) == 4, problems
    text = "\n".join(problems)
    assert "'classes'" in text and "missing" in text
    assert "weights file 'weights.safetensors'" in text
    assert "already installed" in text and str(dup) in text
    assert "not valid JSON" in text


def test_find_by_name_takes_the_highest_version(shelf):
    r = _registry(shelf)
    assert r.find("tiny-ct").ref == "tiny-ct:1.10.0"
    assert r.find("tiny-ct:1.0.0").bundled
    assert r.find(" flat-mr:2 ").ref == "flat-mr:2"


@pytest.mark.parametrize("ref", ["nothing", "tiny-ct:9", "", "flat-mr:2.0.0"])
def test_find_unknown_lists_the_installed_refs(shelf, ref):
    with pytest.raises(ModelError) as err:
        _registry(shelf).find(ref)
    text = str(err.value)
    assert "tiny-ct:1.10.0" in text and "flat-mr:2" in text
    assert "medviewer models" in text


def test_active_defaults_to_the_newest_for_the_modality(shelf):
    r = _registry(shelf)
    assert r.active("CT").ref == "tiny-ct:1.10.0"
    assert r.active("mr").ref == "flat-mr:2"
    assert r.active("US") is None
    assert not shelf["state"].exists()  # reading never writes


def test_a_card_without_modalities_serves_any_modality_after_listed_ones(dirs):
    make_package(dirs["bundled"] / "any", name="any", modalities=())
    make_package(dirs["bundled"] / "ct", name="ct-only", version="0.1")
    r = _registry(dirs)
    assert r.active("US").ref == "any:1.0.0"
    assert r.active("CT").ref == "ct-only:0.1"


def test_set_active_persists_atomically_and_survives_a_new_registry(shelf):
    before = snapshot(shelf["bundled"], shelf["user"])
    r = _registry(shelf)
    entry = r.set_active("ct", "tiny-ct:1.0.0")
    assert entry.ref == "tiny-ct:1.0.0"
    assert json.loads(shelf["state"].read_text()) == {
        "schema_version": 1,
        "active": {"CT": "tiny-ct:1.0.0"},
    }
    assert [p.name for p in shelf["state"].parent.iterdir() if p.name.startswith(".")] == []
    assert _registry(shelf).active("CT").ref == "tiny-ct:1.0.0"
    r.set_active("MR", "tiny-ct")  # a name is remembered as the version it resolves to now
    assert r.active_refs() == {"CT": "tiny-ct:1.0.0", "MR": "tiny-ct:1.10.0"}
    r.set_active("CT", None)
    assert r.active("CT").ref == "tiny-ct:1.10.0"
    assert snapshot(shelf["bundled"], shelf["user"]) == before


def test_set_active_unknown_ref_changes_nothing(shelf):
    r = _registry(shelf)
    r.set_active("CT", "tiny-ct:1.0.0")
    state = snapshot(shelf["state"])
    with pytest.raises(ModelError, match="no model 'tiny-ct:7'"):
        r.set_active("CT", "tiny-ct:7")
    with pytest.raises(ModelError, match="modality"):
        r.set_active("", "tiny-ct")
    assert snapshot(shelf["state"]) == state


def test_a_damaged_state_file_falls_back_to_defaults(shelf):
    shelf["state"].parent.mkdir(parents=True, exist_ok=True)
    shelf["state"].write_text("[1, 2")
    r = _registry(shelf)
    assert r.active("CT").ref == "tiny-ct:1.10.0"
    # said where the AI dock lists problems, with a copy kept before it is overwritten
    bad = shelf["state"].with_name("active_models.json.bad")
    said = [p for p in r.problems() if "active models file" in p]
    assert len(said) == 1 and str(bad) in said[0] and bad.read_text() == "[1, 2"
    r.set_active("CT", "tiny-ct:1.0.0")  # and is replaced by a good one
    assert r.active("CT").ref == "tiny-ct:1.0.0"
    assert bad.read_text() == "[1, 2"


def test_an_active_model_that_was_removed_falls_back(shelf):
    r = _registry(shelf)
    r.set_active("CT", "tiny-ct:1.9.1")
    shutil.rmtree(shelf["user"] / "tiny-ct" / "1.9.1")
    assert r.active("CT").ref == "tiny-ct:1.10.0"


# -- import --------------------------------------------------------------------------------------
def test_import_validates_then_copies_to_name_version(dirs, tmp_path):
    src = make_package(tmp_path / "incoming", name="my model", version="3.1", fmt="pt")
    before = snapshot(src)
    r = _registry(dirs)
    entry = r.import_package(src)
    assert entry.ref == "my model:3.1" and not entry.bundled
    assert entry.folder == dirs["user"] / "my_model" / "3.1"
    assert snapshot(src) == before
    copied = {Path(p).name: v[0] for p, v in snapshot(entry.folder).items()}
    assert copied == {Path(p).name: v[0] for p, v in before.items()}
    assert [e.ref for e in r.entries()] == ["my model:3.1"]
    assert not [p for p in (dirs["user"] / "my_model").iterdir() if p.name.startswith(".")]
    assert isinstance(r.load("my model:3.1", device="cpu"), LoadedModel)


def test_import_never_overwrites(shelf, tiny_pkg):
    r = _registry(shelf)
    before = snapshot(shelf["bundled"], shelf["user"])
    with pytest.raises(ModelError, match="already installed .*bundled"):
        r.import_package(tiny_pkg)  # tiny-ct:1.0.0 is bundled
    user_copy = shelf["user"] / "tiny-ct" / "1.9.1"
    with pytest.raises(ModelError, match="models remove tiny-ct:1.9.1"):
        r.import_package(user_copy)
    assert snapshot(shelf["bundled"], shelf["user"]) == before


def test_import_refuses_a_folder_in_the_way(dirs, tiny_pkg):
    blocker = dirs["user"] / "tiny-ct" / "1.0.0"
    blocker.mkdir(parents=True)
    (blocker / "notes.txt").write_text("mine")
    with pytest.raises(ModelError, match="already exists"):
        _registry(dirs).import_package(tiny_pkg)
    assert (blocker / "notes.txt").read_text() == "mine"


def test_import_of_bad_packages_copies_nothing(dirs, tmp_path):
    bad_hash = make_package(tmp_path / "bad-hash")
    edit_manifest(bad_hash, lambda d: d["weights"].update(sha256="0" * 64))
    marker = tmp_path / "pwned.txt"
    evil = make_exploit_package(tmp_path / "evil", marker)
    before = snapshot(tmp_path)
    r = _registry(dirs)
    with pytest.raises(ModelError, match="does not match"):
        r.import_package(bad_hash)
    with pytest.raises(ModelError, match="refused"):
        r.import_package(evil)
    with pytest.raises(ModelError, match="no such folder"):
        r.import_package(tmp_path / "missing")
    with pytest.raises(ModelError, match="no manifest.json"):
        r.import_package(tmp_path)
    assert not marker.exists()
    assert snapshot(tmp_path) == before
    assert r.entries() == []


# -- remove --------------------------------------------------------------------------------------
def test_remove_deletes_a_user_model_and_forgets_it_as_active(shelf):
    r = _registry(shelf)
    r.set_active("CT", "tiny-ct:1.9.1")
    r.set_active("MR", "flat-mr")
    removed = r.remove("tiny-ct:1.9.1")
    assert removed.ref == "tiny-ct:1.9.1"
    assert not (shelf["user"] / "tiny-ct" / "1.9.1").exists()
    assert r.active_refs() == {"MR": "flat-mr:2"}
    r.remove("tiny-ct:1.10.0")
    assert not (shelf["user"] / "tiny-ct").exists()  # the empty name folder goes too
    assert shelf["user"].is_dir()


def test_bundled_models_are_read_only(shelf):
    before = snapshot(shelf["bundled"])
    with pytest.raises(ModelError, match="bundled models are read-only"):
        _registry(shelf).remove("flat-mr:2")
    assert snapshot(shelf["bundled"]) == before


def test_remove_by_name_needs_a_single_version(shelf):
    with pytest.raises(ModelError, match="3 versions installed"):
        _registry(shelf).remove("tiny-ct")
    with pytest.raises(ModelError, match="no model 'gone:1'"):
        _registry(shelf).remove("gone:1")


# -- load --------------------------------------------------------------------------------------
def test_load_checks_caches_and_never_touches_files(shelf):
    before = snapshot(shelf["bundled"], shelf["user"])
    r = _registry(shelf)
    m = r.load("tiny-ct:1.0.0", device="cpu")
    assert isinstance(m, LoadedModel) and m.device == "cpu"
    assert m.manifest.ref == "tiny-ct:1.0.0" and r.last_notices == []
    assert r.load("tiny-ct:1.0.0", device="cpu") is m
    assert r.load(modality="CT", device="cpu").manifest.ref == "tiny-ct:1.10.0"
    r.set_active("CT", "tiny-ct:1.0.0")
    assert r.load(modality="ct") is m
    r.entries()
    r.problems()
    assert snapshot(shelf["bundled"], shelf["user"]) == before


def test_load_on_absent_cuda_gives_a_notice(shelf, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    r = _registry(shelf)
    m = r.load("flat-mr", device="cuda")
    assert m.device == "cpu"
    assert r.last_notices == ["CUDA was requested but no CUDA GPU is available; running on the CPU"]
    r.load("flat-mr", device="cpu")
    assert r.last_notices == []


def test_load_without_a_model_for_the_modality(shelf):
    with pytest.raises(ModelError) as err:
        _registry(shelf).load(modality="US")
    assert str(err.value) == (
        "no model for modality US: import one with `medviewer models import FOLDER`"
    )
    with pytest.raises(ModelError, match="no model chosen"):
        _registry(shelf).load()


def test_load_reports_a_damaged_package(shelf):
    folder = shelf["bundled"] / "tiny-ct" / "1.0.0"
    with open(folder / "weights.safetensors", "r+b") as fp:
        fp.seek(200)
        fp.write(b"\x00\x01\x02\x03")
    before = snapshot(folder)
    r = _registry(shelf)
    assert "tiny-ct:1.0.0" in [e.ref for e in r.entries()]  # listing does not hash
    with pytest.raises(ModelError, match="does not match the manifest"):
        r.load("tiny-ct:1.0.0")
    assert snapshot(folder) == before


def test_default_folders_follow_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDVIEWER_MODELS", str(tmp_path / "b"))
    monkeypatch.setenv("MEDVIEWER_DATA_DIR", str(tmp_path / "d"))
    r = ModelRegistry()
    assert r.bundled_dir == tmp_path / "b"
    assert r.user_dir == tmp_path / "d" / "models"
    assert r.state_file == tmp_path / "d" / "active_models.json"
    monkeypatch.delenv("MEDVIEWER_MODELS")
    assert ModelRegistry().bundled_dir == Path(reg.__file__).resolve().parents[2] / "models"
    monkeypatch.delenv("MEDVIEWER_DATA_DIR")
    import platformdirs

    assert ModelRegistry().user_dir == Path(platformdirs.user_data_dir("medviewer")) / "models"


def test_a_linked_package_folder_is_listed_but_not_deleted(dirs, tiny_pkg):
    dirs["user"].mkdir(parents=True)
    (dirs["user"] / "linked").symlink_to(tiny_pkg, target_is_directory=True)
    before = snapshot(tiny_pkg)
    r = _registry(dirs)
    assert [e.ref for e in r.entries()] == ["tiny-ct:1.0.0"]
    with pytest.raises(ModelError, match="outside the user models folder .*delete it by hand"):
        r.remove("tiny-ct")
    assert snapshot(tiny_pkg) == before
