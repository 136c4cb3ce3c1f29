"""AI > Models…: every installed version with its metrics and lineage, which one is active;
activate (roll back), delete a user version (the active one falls back), bundled ones stay.

Tiny random-weight packages: one "bundled" (a temporary MEDVIEWER_MODELS) and two fine-tuned
user versions whose manifests carry lineage and base/new metrics as the training core writes.
"""

import json

import pytest
from PySide6 import QtWidgets

from medviewer.ai.registry import ModelRegistry
from medviewer.qt.dialogs.models_dialog import ModelsDialog, label_counts, split_metrics
from medviewer.qt.main_window import MainWindow
from medviewer.testing.tiny_model import make_package

BASE = "tiny-ct:1.0.0"
V11 = "tiny-ct:1.1.0"
V12 = "tiny-ct:1.2.0"


def _metrics(acc, n=24):
    return {
        "n": n,
        "classes": ["no lesion", "lesion"],
        "accuracy": acc,
        "macro_f1": acc - 0.05,
        "macro_auc": acc + 0.05,
        "ece": 0.3 - acc / 4,
        "per_class": {},
    }


def _finetuned(folder, version, base_acc, new_acc):
    make_package(folder, version=version, seed=int(version.split(".")[1]))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["metrics"] = {"base": _metrics(base_acc), "new": _metrics(new_acc)}
    manifest["lineage"] = {
        "base": {"name": "tiny-ct", "version": "1.0.0", "sha256": "0" * 64},
        "date": f"2026-11-2{version[2]}T10:00:00+00:00",
        "label_snapshot": "ab" * 32,
        "annotators": ["alice", "bob"],
        "split": {
            "train": 72,
            "val": 24,
            "counts": {
                "train": {"no lesion": 40, "lesion": 32},
                "val": {"no lesion": 13, "lesion": 11},
            },
        },
        "options": {"mode": "two_stage", "epochs": 4, "lr": 0.001},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture
def registry(tmp_path):
    bundled = tmp_path / "bundled"
    user = tmp_path / "data" / "models"
    make_package(bundled / "tiny-ct" / "1.0.0")
    _finetuned(user / "tiny-ct" / "1.1.0", "1.1.0", 0.5, 0.75)
    _finetuned(user / "tiny-ct" / "1.2.0", "1.2.0", 0.5, 0.8)
    return ModelRegistry(bundled, user, tmp_path / "data" / "active_models.json")


@pytest.fixture
def dialog(qtbot, registry):
    d = ModelsDialog(registry, modality="CT")
    qtbot.addWidget(d)
    d.show()
    qtbot.waitExposed(d)
    return d


def cell(d, ref, column):
    row = d.refs().index(ref)
    col = [d.table.horizontalHeaderItem(c).text() for c in range(d.table.columnCount())]
    return d.table.item(row, col.index(column)).text()


def test_lists_every_version_with_source_metrics_lineage_and_active(dialog, registry):
    d = dialog
    assert d.refs() == [BASE, V11, V12]
    assert cell(d, BASE, "Source") == "bundled"
    assert cell(d, V11, "Source") == "user"
    # nobody chose: the newest CT model is the default pick
    assert registry.active("CT").ref == V12
    assert cell(d, V12, "Active for") == "CT (default)"
    assert cell(d, BASE, "Active for") == ""
    assert cell(d, V12, "Accuracy") == "0.800"
    assert cell(d, V12, "Trained from") == BASE
    assert cell(d, V12, "Date").startswith("2026-11-22")
    d.select(V11)
    html = d.details.toHtml()
    for text in ("Trained from", BASE, "alice, bob", "Labels used", "no lesion", "Base"):
        assert text in html, text
    new, base = split_metrics(json.loads((registry.find(V11).folder / "manifest.json").read_text()))
    assert (base["accuracy"], new["accuracy"], new["n"]) == (0.5, 0.75, 24)
    lineage = json.loads((registry.find(V11).folder / "manifest.json").read_text())["lineage"]
    assert label_counts(lineage)["val"] == {"no lesion": 13, "lesion": 11}


def test_activate_any_version_and_roll_back(dialog, registry, qtbot):
    d = dialog
    with qtbot.waitSignal(d.active_changed) as blocker:
        assert d.activate_selected(V11, "CT")
    assert blocker.args == ["CT"]
    assert registry.active("CT").ref == V11
    assert cell(d, V11, "Active for") == "CT"
    assert "tiny-ct:1.1.0 is now the active CT model" in d.message_label.text()
    assert d.activate_selected(BASE, "CT")  # roll back to the bundled version
    assert registry.active("CT").ref == BASE
    assert registry.active_refs() == {"CT": BASE}
    assert cell(d, BASE, "Active for") == "CT"
    assert cell(d, V11, "Active for") == ""


def test_activate_for_a_modality_the_model_is_not_for_is_refused(dialog, registry):
    assert not dialog.activate_selected(V11, "MR")
    assert "made for CT, not MR" in dialog.message_label.text()
    assert "MR" not in registry.active_refs()


def test_delete_the_active_user_version_falls_back_and_says_so(dialog, registry, qtbot):
    d = dialog
    assert d.activate_selected(V12, "CT")
    folder = registry.find(V12).folder
    with qtbot.waitSignal(d.models_changed):
        assert d.delete_selected(V12, confirm=False)
    assert not folder.exists()
    assert d.refs() == [BASE, V11]
    fallback = registry.active("CT").ref
    assert fallback == V11  # the newest remaining CT model
    text = d.message_label.text()
    assert "Deleted tiny-ct:1.2.0" in text and f"CT now uses {fallback}" in text


def test_bundled_versions_cannot_be_deleted(dialog, registry):
    d = dialog
    d.select(BASE)
    assert not d.delete_button.isEnabled()
    assert "read-only" in d.delete_button.toolTip()
    assert not d.delete_selected(BASE, confirm=False)
    assert "read-only" in d.message_label.text()
    assert (registry.find(BASE).folder / "manifest.json").is_file()
    d.select(V11)
    assert d.delete_button.isEnabled()


def test_model_card_opens(dialog, qtbot):
    dialog.select(V11)
    dialog.show_card()
    card = dialog.card_window
    qtbot.waitExposed(card)
    assert "tiny-ct 1.1.0" in card.view.toPlainText()
    assert "research use" in card.windowTitle()
    card.close()


def test_ai_menu_has_fine_tune_and_models(qtbot, tmp_path, monkeypatch):
    bundled = tmp_path / "bundled"
    make_package(bundled / "tiny-ct" / "1.0.0")
    monkeypatch.setenv("MEDVIEWER_MODELS", str(bundled))
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    menu = w.ai.menu
    texts = [a.text().replace("&", "") for a in menu.actions()]
    assert "Fine-tune model…" in texts and "Models…" in texts
    assert w.actions["ai.finetune"].shortcut().toString() == "Ctrl+Shift+F"
    assert w.actions["ai.models"].shortcut().toString() == "Ctrl+Shift+M"
    w.actions["ai.models"].trigger()
    models = w.ai.models_dialog
    qtbot.waitExposed(models)
    assert models.refs() == [BASE]
    # activating there refreshes the AI dock's list
    assert models.activate_selected(BASE, "CT")
    assert w.ai_panel.model_box.findData(BASE) >= 0
    models.close()
    w.actions["ai.finetune"].trigger()
    ft = w.ai.finetune_dialog
    qtbot.waitExposed(ft)
    assert ft.base_ref == BASE
    assert ft.store_path.name == "labels.sqlite"
    qtbot.waitUntil(lambda: ft.overview is not None, timeout=10_000)
    # a version saved by training is in the dock's list at once (not only once activated)
    make_package(bundled / "tiny-ct" / "1.1.0", version="1.1.0")
    assert w.ai_panel.model_box.findData("tiny-ct:1.1.0") < 0
    ft.training_finished.emit(object())
    assert w.ai_panel.model_box.findData("tiny-ct:1.1.0") >= 0
    assert w.ai_panel.model_box.currentData() == BASE  # the active one stays chosen
    ft.close()
    assert isinstance(ft, QtWidgets.QDialog)
    w.close()
