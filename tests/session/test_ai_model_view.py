"""What the AI dock shows about models, without Qt: list, classes, card, model input."""

import dataclasses

import numpy as np
import pytest

from medviewer.ai.manifest import Preprocessing, read_manifest
from medviewer.ai.registry import ModelEntry
from medviewer.session import ai_model_view as view
from medviewer.testing.tiny_model import make_package


@pytest.fixture(scope="module")
def entry(tmp_path_factory):
    folder = make_package(
        tmp_path_factory.mktemp("models") / "tiny-ct" / "1.0.0", classes=("normal", "bleed")
    )
    manifest = read_manifest(folder)
    return ModelEntry(manifest.ref, manifest.name, manifest.version, folder, False, manifest)


def test_model_list_item_says_what_the_model_is_for(entry):
    item = view.model_item(entry)
    assert item.text == "tiny-ct 1.0.0" and item.ref == "tiny-ct:1.0.0"
    assert item.tip == "tiny-ct:1.0.0 — attention_cnn, classes: normal, bleed; for CT"
    bundled = dataclasses.replace(
        entry, bundled=True, manifest=dataclasses.replace(entry.manifest, modalities=())
    )
    item = view.model_item(bundled)
    assert item.text == "tiny-ct 1.0.0 (bundled)" and item.tip.endswith("; for any modality")


def test_class_choice_keeps_the_class_chosen_before(entry):
    choices = view.target_choices(entry)
    assert choices == [("Predicted class", None), ("normal", "normal"), ("bleed", "bleed")]
    assert view.target_index(choices, "bleed") == 2
    assert view.target_index(choices, None) == 0
    assert view.target_index(choices, "lesion") == 0  # another model's class: predicted
    assert view.target_choices(None) == [("Predicted class", None)]


def test_registry_messages():
    assert view.cannot_list(OSError("denied")) == "Could not list models: denied"
    assert view.unavailable("bad folder") == "Models unavailable: bad folder"
    assert view.no_active(KeyError("CT")) == "No active model: 'CT'"
    assert view.not_remembered("tiny-ct:1.0.0", "CT", OSError("read-only")) == (
        "tiny-ct:1.0.0 not remembered as the CT model: read-only"
    )
    assert "No model installed" in view.NO_MODEL_INSTALLED


def test_model_card_from_the_package_or_the_manifest(entry, tmp_path):
    card = view.read_card(entry)
    assert card.startswith("# tiny-ct 1.0.0") and "Random weights" in card
    assert view.read_card(None) is None
    assert view.read_card(dataclasses.replace(entry, folder=tmp_path)) is None  # no card
    (tmp_path / "MODEL_CARD.md").write_bytes(b"\xff\xfe not utf-8 \xff")
    assert view.read_card(dataclasses.replace(entry, folder=tmp_path)) is None
    text = view.fallback_card(dataclasses.replace(entry.manifest, description="Finds bleeds."))
    assert text.splitlines()[0] == "# tiny-ct 1.0.0"
    assert "Finds bleeds." in text and "has no MODEL_CARD.md" in text
    assert "Training data: none: random weights for tests; licence: test fixture." in text
    bare = dataclasses.replace(entry.manifest, training_data="", licence="")
    assert "Training data: ?; licence: ?." in view.fallback_card(bare)
    assert view.card_title("tiny-ct:1.0.0") == (
        "Model card — tiny-ct:1.0.0 (research use, not for diagnosis)"
    )


def test_model_input_texts_for_ct_windows(entry):
    tensor = np.linspace(0.0, 1.0, 3 * 8 * 8, dtype=np.float32).reshape(3, 8, 8)
    assert view.input_pending(2) == "Preparing the model input for slice 3…"
    title = view.input_title(entry.manifest, 2, tensor)
    assert title == "tiny-ct 1.0.0 — slice 3: 3 × 8 × 8 float32, values 0.00..1.00"
    pre = entry.manifest.preprocessing
    texts = [view.channel_text(pre, ch) for ch in range(3)]
    assert texts[0] == "Channel 1: window 40/80 (HU 0..80 -> 0..1)"
    assert texts[2] == "Channel 3: window 600/2800 (HU -800..2000 -> 0..1)"


def test_model_input_texts_for_one_window_and_percentiles():
    one = Preprocessing("ct_windows", windows=((40.0, 80.0),))
    assert view.channel_text(one, 2) == "Channel 3: window 40/80 (HU 0..80 -> 0..1)"
    pct = Preprocessing("percentile", low=0.5, high=99.5)
    assert view.channel_text(pct, 0) == "Channel 1: percentiles 0.5–99.5 of the slice"


def test_channel_grey_is_clipped_rounded_and_contiguous():
    values = np.array([[-0.5, 0.0, 0.5], [1.0, 1.5, 0.999]], dtype=np.float32)[:, ::-1]
    grey = view.channel_grey(values)
    assert grey.dtype == np.uint8 and grey.flags["C_CONTIGUOUS"]
    assert grey.tolist() == [[128, 0, 0], [255, 255, 255]]
