"""Label sets: the bundled default, validation messages naming file and field, user copies."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from medviewer.errors import LabelStoreError
from medviewer.labels.label_sets import (
    RESERVED_KEYS,
    default_label_set,
    label_set_to_dict,
    list_label_sets,
    load_label_set,
    save_label_set,
    user_label_sets_dir,
)
from medviewer.labels.schema import LabelClass


def test_default_set_matches_the_bundled_model():
    ls = default_label_set()
    assert ls.name == "headct-lesions" and ls.scope == "slice" and ls.exclusive
    assert ls.names == ("normal", "hyperdense_lesion", "hypodense_lesion", "uncertain", "exclude")
    assert [c.key for c in ls.classes] == ["N", "B", "K", "U", "X"]
    assert ls.by_key("b").name == "hyperdense_lesion" and ls.by_key("r") is None
    assert ls.by_name("exclude").key == "X" and ls.by_name("tumour") is None
    assert len({c.color for c in ls.classes}) == 5
    assert not {c.key for c in ls.classes} & RESERVED_KEYS
    manifest = json.loads(
        (Path(__file__).parents[2] / "models/headct-lesions/1.0.0/manifest.json").read_text()
    )
    assert set(manifest["classes"]) <= set(ls.names)


def _doc(**changes):
    doc = label_set_to_dict(default_label_set())
    doc.update(changes)
    return doc


@pytest.mark.parametrize(
    "doc, message",
    [
        (_doc(name="head ct"), "field 'name': 'head ct' must be"),
        (_doc(version=0), "field 'version': must be a whole number >= 1"),
        (_doc(scope="study"), "field 'scope': must be one of slice, series"),
        (_doc(exclusive="yes"), "field 'exclusive': must be true or false"),
        (_doc(exclusive=False), "non-exclusive sets .* not supported"),
        (_doc(classes=[]), "field 'classes': must be a non-empty list"),
        (_doc(classes=[{"name": "a", "color": "red", "key": "N"}]), r"classes\[0\].color"),
        (_doc(classes=[{"name": "a", "color": "#ffffff", "key": "R"}]), "viewer shortcut"),
        (_doc(classes=[{"name": "a", "color": "#ffffff", "key": "NN"}]), "one printable"),
        (_doc(classes=[{"color": "#ffffff", "key": "N"}]), r"classes\[0\].name': is missing"),
        (
            _doc(classes=[{"name": "a", "color": "#ffffff", "key": "N"},
                          {"name": "a", "color": "#000000", "key": "B"}]),
            r"classes\[1\].name': 'a' repeats classes\[0\]",
        ),
        (
            _doc(classes=[{"name": "a", "color": "#ffffff", "key": "N"},
                          {"name": "b", "color": "#000000", "key": "n"}]),
            r"classes\[1\].key': 'N' is already the key of classes\[0\]",
        ),
        (_doc(format="other"), "field 'format'"),
        ([1, 2], "must hold one JSON object"),
    ],
)  # fmt: skip
def test_validation_names_file_and_field(tmp_path, doc, message):
    path = tmp_path / "set.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(LabelStoreError, match=message) as info:
        load_label_set(path)
    assert str(path) in str(info.value)


def test_bad_json_names_line_and_column(tmp_path):
    path = tmp_path / "set.json"
    path.write_text('{\n  "name": "x",\n  "classes": [,]\n}')
    with pytest.raises(LabelStoreError, match=r"set.json, line 3 column 15: not valid JSON"):
        load_label_set(path)


def test_user_sets_override_bundled_and_bad_files_are_reported():
    edited = replace(
        default_label_set(),
        version=2,
        classes=(*default_label_set().classes, LabelClass("artefact", "#ff00ff", "Z")),
    )
    path = save_label_set(edited)
    assert path.parent == user_label_sets_dir() and load_label_set(path) == edited
    (user_label_sets_dir() / "broken.json").write_text("{")
    problems = []
    sets = {ls.name: ls for ls in list_label_sets(problems)}
    assert sets["headct-lesions"].version == 2 and "artefact" in sets["headct-lesions"].names
    assert default_label_set().version == 2
    assert len(problems) == 1 and "broken.json" in problems[0]
    with pytest.raises(LabelStoreError, match="viewer shortcut"):
        save_label_set(replace(edited, classes=(LabelClass("a", "#ffffff", "R"),)))
