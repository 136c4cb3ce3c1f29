"""What the AI dock's Explain box shows, without Qt: methods allowed, texts, keys, alignment."""

import dataclasses

import numpy as np
import pytest

from medviewer.ai.explain import METHODS, NOTE, Explanation, ExplanationCache
from medviewer.ai.manifest import read_manifest
from medviewer.dicom import load_volume, scan
from medviewer.session import explain_view as view
from medviewer.session import mpr
from medviewer.testing.synthetic import write_series
from medviewer.testing.tiny_model import make_package


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return read_manifest(make_package(tmp_path_factory.mktemp("pkg") / "tiny-ct"))


def load(folder, **kw):
    write_series(folder, n_slices=4, rows=24, cols=32, **kw)
    return load_volume(scan([str(folder)]).all_series()[0])


def expl(method="gradcam", faithfulness=0.4321, probability=0.87, note=NOTE) -> Explanation:
    heat = np.linspace(0.0, 1.0, 24 * 32, dtype=np.float32).reshape(24, 32)
    return Explanation(
        heat, method, "lesion", 1, faithfulness, "ROAD (LeRF−MoRF)/2", note, probability
    )


def test_method_list_in_menu_order_with_labels():
    choices = view.method_choices()
    assert [m for _label, m in choices] == list(METHODS)
    assert choices[0] == ("Grad-CAM", "gradcam") and ("Attention map", "attention") in choices


def test_a_model_without_attention_layer_disables_attention_with_the_reason(manifest):
    methods = list(METHODS)
    att = methods.index("attention")
    ok = view.method_availability(methods, manifest, att)
    assert all(ok.enabled) and set(ok.tips) == {None} and ok.index == att
    plain = dataclasses.replace(manifest, attention_layer=None)
    allowed = view.method_availability(methods, plain, att)
    assert not allowed.enabled[att] and sum(allowed.enabled) == len(methods) - 1
    assert "no attention layer" in allowed.tips[att] and "tiny-ct" in allowed.tips[att]
    assert allowed.index == 0  # moved off the disabled choice to the first allowed one
    keep = view.method_availability(methods, plain, methods.index("scorecam"))
    assert keep.index == methods.index("scorecam")
    nothing = view.method_availability(methods, None, att)  # no model: nothing disabled
    assert all(nothing.enabled) and nothing.index == att


def test_explanation_texts_name_method_class_probability_slice_and_model():
    text = view.explanation_text(expl(), 4, "tiny-ct 1.0.0")
    assert text.title == "Grad-CAM for <b>lesion</b> (p = 0.87), slice 5 — tiny-ct 1.0.0"
    assert text.faithfulness == (
        "Faithfulness +0.43 (ROAD (LeRF−MoRF)/2): higher is better; near 0 the map is no "
        "better than chance"
    )
    assert text.note == NOTE + "."
    partial = view.explanation_text(expl(faithfulness=None, probability=None), 0)
    assert partial.title == "Grad-CAM for <b>lesion</b>, slice 1"
    assert partial.faithfulness == "Faithfulness: computing…"
    negative = view.explanation_text(expl(faithfulness=-0.05), 0)
    assert negative.faithfulness.startswith("Faithfulness -0.05")


def test_explanation_note_adds_what_is_special_about_the_method():
    text = view.explanation_text(expl("scorecam"), 0)
    assert text.note.startswith(NOTE + ". Slower: one forward pass per feature channel")
    assert text.note.endswith("no gradients.")
    attention = view.explanation_text(expl("attention", note=""), 0)
    # one map for every class: the title names no class and no class probability
    assert attention.title == "Attention map, the same for every class, slice 1"
    eigen = view.explanation_text(expl("eigencam"), 4, "tiny-ct 1.0.0")
    assert eigen.title == "Eigen-CAM, the same for every class, slice 5 — tiny-ct 1.0.0"
    assert attention.note == (
        "Heat maps are normalised per image. The model's own spatial attention gate; "
        "the same map for every class."
    )


def test_control_readouts_and_status_lines():
    assert view.opacity_text(view.DEFAULT_OPACITY) == "40%"
    assert view.threshold_text(view.DEFAULT_THRESHOLD / 100) == "0.20"
    assert view.computing_text("gradcam++", 2) == "Computing Grad-CAM++ for slice 3…"
    assert view.computing_text("custom", 0) == "Computing custom for slice 1…"
    assert view.loading_text(6) == "Slice 7 is still loading"


def test_explanation_key_is_the_cache_key_of_the_slice(tmp_path, manifest):
    volume = load(tmp_path / "ct")
    entry = type("Entry", (), {"manifest": manifest})()
    key = view.explanation_key(volume, entry, "gradcam", "lesion", 2)
    assert key == ExplanationCache.key(volume.series.key, 2, "gradcam", "lesion", manifest.sha256)
    assert key != view.explanation_key(volume, entry, "gradcam", None, 2)
    assert key != view.explanation_key(volume, entry, "gradcam", "lesion", 3)
    assert view.explanation_key(None, entry, "gradcam", None, 0) is None
    assert view.explanation_key(volume, None, "gradcam", None, 0) is None
    assert view.explanation_key(volume, entry, None, None, 0) is None


@pytest.mark.parametrize(
    "orientation",
    [(1.0, 0.0, 0.0, 0.0, 1.0, 0.0), (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0), (0, 1, 0, 0, 0, -1)],
    ids=["axial", "axial-flipped", "sagittal"],
)
def test_heat_map_lies_over_the_same_pixels_as_the_plane_shows(tmp_path, orientation):
    volume = load(tmp_path / "ct", orientation=orientation)
    k = 1
    values = volume.array[k].astype(np.float64)
    grey = np.round(255 * (values - values.min()) / np.ptp(values)).astype(np.uint8)
    rgba = np.stack([grey, grey, grey, np.full_like(grey, 255)], axis=-1)
    aligner = view.PlaneAligner()
    out = aligner.to_plane(volume, rgba)
    shown = mpr.reformat(volume, mpr.acquired_plane(volume), k).values.astype(np.float64)
    expected = np.round(255 * (shown - values.min()) / np.ptp(values)).astype(np.uint8)
    assert out.shape[:2] == shown.shape and out.flags["C_CONTIGUOUS"]
    assert np.array_equal(out[..., 0], expected)
    assert aligner.to_plane(volume, rgba) is out  # the same map is turned once
    assert aligner.to_plane(volume, rgba.copy()) is not out
    assert aligner.to_plane(None, rgba) is rgba  # no series: as it is


def test_an_odd_geometry_never_loses_the_map(tmp_path):
    volume = load(tmp_path / "ct")
    broken = dataclasses.replace(volume, geometry=None)
    rgba = np.zeros((24, 32, 4), dtype=np.uint8)
    assert view.PlaneAligner().to_plane(broken, rgba) is rgba
