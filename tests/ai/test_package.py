"""Model cards and packages: every bad manifest names its field; unsafe or damaged weights are
refused; the preprocessing is the documented one; loading never modifies a file."""

import json
import shutil

import numpy as np
import pytest
import torch

from medviewer.ai.manifest import Manifest, parse_manifest, read_manifest
from medviewer.ai.package import load_package, load_state_dict
from medviewer.errors import ModelError
from medviewer.testing.tiny_model import make_package
from tests.ai.conftest import edit_manifest, make_exploit_package, rehash, snapshot


@pytest.fixture
def card(tiny_pkg) -> dict:
    return json.loads((tiny_pkg / "manifest.json").read_text())


@pytest.fixture
def pkg(tiny_pkg, tmp_path):
    """A private copy of the tiny package to damage."""
    return shutil.copytree(tiny_pkg, tmp_path / "pkg")


def test_the_tiny_card_parses_and_round_trips(card):
    m = parse_manifest(card)
    assert isinstance(m, Manifest)
    assert m.ref == "tiny-ct:1.0.0" and m.channels == 3 and m.input_size == (64, 64)
    assert m.preprocessing.windows == ((40.0, 80.0), (75.0, 215.0), (600.0, 2800.0))
    assert parse_manifest(json.loads(json.dumps(m.to_dict()))) == m


@pytest.mark.parametrize(
    "field",
    ["name", "version", "architecture", "classes", "input", "preprocessing", "cam_target_layer"],
)
def test_a_missing_field_is_named(card, field):
    del card[field]
    with pytest.raises(ModelError) as err:
        parse_manifest(card, "pkg/manifest.json")
    text = str(err.value)
    assert text.startswith("pkg/manifest.json") and f"'{field}'" in text and "missing" in text


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda d: d.update(name=""), "name"),
        (lambda d: d.update(version=1), "version"),
        (lambda d: d.update(architecture="vgg16"), "architecture"),
        (lambda d: d.update(classes="lesion"), "classes"),
        (lambda d: d.update(classes=["a", "a"]), "classes"),
        (lambda d: d.update(classes=["only"]), "classes"),
        (lambda d: d["input"].update(size=[64]), "size"),
        (lambda d: d["input"].update(size=[4, 4]), "size"),
        (lambda d: d["input"].update(channels=2), "channels"),
        (lambda d: d["input"].pop("channels"), "channels"),
        (lambda d: d["preprocessing"].update(kind="zscore"), "kind"),
        (lambda d: d["preprocessing"].update(windows=[[40, 0]]), "windows"),
        (lambda d: d["preprocessing"].update(windows=[[40, 80], [40, 80]]), "windows"),
        (lambda d: d["preprocessing"].update(low=150), "low"),
        (lambda d: d.update(aggregation="median"), "aggregation"),
        (lambda d: d.update(attention_layer=7), "attention_layer"),
        (lambda d: d.update(weights="weights.safetensors"), "weights"),
        (lambda d: d["weights"].pop("sha256"), "sha256"),
        (lambda d: d["weights"].update(sha256="xyz"), "sha256"),
        (lambda d: d["weights"].update(file="../../etc/passwd"), "file"),
        (lambda d: d.update(modalities="CT"), "modalities"),
        (lambda d: d.update(schema_version=2), "schema_version"),
    ],
)
def test_a_wrong_value_names_the_field_and_what_was_found(card, edit, field):
    edit(card)
    with pytest.raises(ModelError) as err:
        parse_manifest(card)
    text = str(err.value)
    assert f"'{field}'" in text or f"{field}'" in text, text
    assert "manifest.json" in text


def test_not_a_json_object(tmp_path):
    with pytest.raises(ModelError, match="must be a JSON object"):
        parse_manifest([1, 2])
    (tmp_path / "manifest.json").write_text('{"name": ')
    with pytest.raises(ModelError, match="not valid JSON \\(line 1"):
        read_manifest(tmp_path)
    with pytest.raises(ModelError, match="no manifest.json"):
        read_manifest(tmp_path / "elsewhere")


def test_modalities_are_upper_case(card):
    card["modalities"] = ["ct", "Mr"]
    assert parse_manifest(card).modalities == ("CT", "MR")


def test_load_never_modifies_the_package(pkg):
    before = snapshot(pkg)
    model = load_package(pkg)
    assert not model.module.training
    assert model.folder == pkg and model.sha256 == model.manifest.sha256
    assert snapshot(pkg) == before


def test_a_plain_state_dict_pt_loads(tmp_path):
    model = load_package(make_package(tmp_path / "pt", fmt="pt"))
    assert model.manifest.weights_file == "weights.pt"


def test_weights_whose_sha256_does_not_match(pkg):
    edit_manifest(pkg, lambda d: d["weights"].update(sha256="ab" * 32))
    before = snapshot(pkg)
    with pytest.raises(ModelError) as err:
        load_package(pkg)
    assert "does not match the manifest's abababababab" in str(err.value)
    assert snapshot(pkg) == before


def test_missing_weights(pkg):
    (pkg / "weights.safetensors").unlink()
    with pytest.raises(ModelError, match="weights file 'weights.safetensors' .* is missing"):
        load_package(pkg)


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "pwned.txt"
    evil = make_exploit_package(tmp_path / "evil", marker)
    before = snapshot(evil)
    with pytest.raises(ModelError) as err:
        load_package(evil)
    assert "refused" in str(err.value) and "safetensors" in str(err.value)
    with pytest.raises(ModelError, match="refused"):
        load_state_dict(evil / "weights.pt")
    assert not marker.exists()
    assert snapshot(evil) == before


def test_junk_weights(pkg, tmp_path):
    (pkg / "weights.safetensors").write_bytes(b"\x00" * 64)
    rehash(pkg)
    with pytest.raises(ModelError, match="not a valid safetensors file"):
        load_package(pkg)
    torch.save([1, 2, 3], str(tmp_path / "list.pt"))
    with pytest.raises(ModelError, match="expected a state_dict"):
        load_state_dict(tmp_path / "list.pt")


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(classes=["a", "b", "c"]),  # 2 classes in the weights
        lambda d: d.update(architecture="resnet18", cam_target_layer="layer4"),
        lambda d: (
            d["input"].update(channels=1) or d["preprocessing"].update(windows=[[40.0, 80.0]])
        ),
    ],
    ids=["classes", "architecture", "channels"],
)
def test_weights_that_do_not_fit_the_card(pkg, edit):
    edit_manifest(pkg, edit)
    with pytest.raises(ModelError) as err:
        load_package(pkg)
    assert "weights do not fit" in str(err.value)


def test_an_unknown_cam_layer_is_named(pkg):
    edit_manifest(pkg, lambda d: d.update(cam_target_layer="layer9"))
    with pytest.raises(ModelError, match="layer 'layer9' not found .*features"):
        load_package(pkg)


# -- preprocessing -------------------------------------------------------------------------------
def _window(v, c, w):
    return np.clip((v - (c - w / 2)) / w, 0, 1)


def test_ct_windows_per_channel_and_resize(tiny_model):
    ramp = np.tile(np.linspace(-1000, 2000, 64, dtype=np.float32), (64, 1))
    x = tiny_model.preprocess(ramp.astype(np.int16))
    assert x.shape == (3, 64, 64) and x.dtype == np.float32
    for ch, (c, w) in enumerate(tiny_model.manifest.preprocessing.windows):
        np.testing.assert_allclose(x[ch], _window(ramp.astype(np.int16), c, w), atol=1e-6)
    small = tiny_model.preprocess(np.full((20, 30), 40, dtype=np.int16))
    assert small.shape == (3, 64, 64)
    np.testing.assert_allclose(small[0], 0.5, atol=1e-6)


@pytest.mark.parametrize("shape", [(128, 128), (100, 90), (64, 64), (128, 64)])
def test_resizing_is_torch_bilinear_also_on_the_shortcut_for_twice_the_size(tiny_model, shape):
    """A slice of exactly twice the input size takes a 2 x 2 mean shortcut instead of torch's
    kernel: the same bilinear values (to float32 rounding), written into ``out`` if given."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    rng = np.random.default_rng(3)
    hu = rng.integers(-1024, 2000, shape).astype(np.int16)
    hu[: shape[0] // 3] = rng.integers(-20, 120, (shape[0] // 3, shape[1]))  # inside the windows
    windows = tiny_model.manifest.preprocessing.windows
    planes = np.stack([_window(hu.astype(np.float32), c, w) for c, w in windows]).astype(np.float32)
    want = F.interpolate(torch.from_numpy(planes)[None], size=(64, 64), mode="bilinear")[0]
    out = np.full((3, 64, 64), np.nan, dtype=np.float32)
    got = tiny_model.preprocess(hu, out=out)
    assert got is out
    np.testing.assert_allclose(got, want.numpy(), rtol=0, atol=3e-7)
    # the same call twice gives the same bits
    assert np.array_equal(tiny_model.preprocess(hu), got)


def test_monochrome1_is_inverted(tiny_model):
    flat = np.full((32, 32), 40, dtype=np.int16)
    np.testing.assert_allclose(
        tiny_model.preprocess(flat, invert=True), 1 - tiny_model.preprocess(flat), atol=1e-6
    )


def test_colour_becomes_luminance_for_ct_windows(tiny_model):
    rgb = np.zeros((16, 16, 3), dtype=np.uint8)
    rgb[..., 0] = 100
    x = tiny_model.preprocess(rgb)
    lum = 0.299 * 100
    np.testing.assert_allclose(x[0], _window(lum, 40, 80), atol=1e-5)


def test_percentile_model_keeps_colour(tmp_path):
    pkg = make_package(tmp_path / "pct")
    edit_manifest(pkg, lambda d: d.update(preprocessing={"kind": "percentile"}))
    model = load_package(pkg)
    rgb = np.random.default_rng(0).integers(0, 256, (40, 40, 3)).astype(np.uint8)
    x = model.preprocess(rgb)
    assert x.shape == (3, 64, 64) and 0 <= x.min() and x.max() <= 1
    assert not np.allclose(x[0], x[1])


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("temperature", 0, "temperature"),
        ("temperature", "2", "temperature"),
        ("body_parts", "HEAD", "body_parts"),
        ("intensity_check", {"hu_range": [50, 15], "min_fraction": 0.1}, "intensity_check"),
        ("intensity_check", {"hu_range": [15, 50], "min_fraction": 1.5}, "intensity_check"),
        ("aggregation", "median", "abnormal_max"),
    ],
)
def test_new_manifest_fields_are_validated(field, value, match):
    base = {
        "name": "m",
        "version": "1",
        "architecture": "cbam_resnet",
        "classes": ["normal", "hyperdense_lesion", "hypodense_lesion"],
        "input": {"size": [256, 256], "channels": 3},
        "preprocessing": {"kind": "ct_windows", "windows": [[40, 80], [75, 215], [40, 40]]},
        "cam_target_layer": "stage3",
        "weights": {"file": "weights.safetensors", "sha256": "a" * 64},
    }
    ok = parse_manifest(dict(base, temperature=1.7, body_parts=["head"]))
    assert ok.temperature == 1.7 and ok.body_parts == ("HEAD",) and ok.intensity_check is None
    with pytest.raises(ModelError, match=match):
        parse_manifest(dict(base, **{field: value}))
