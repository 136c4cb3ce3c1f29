"""The Labels dock's texts, without Qt: annotation, suggestion, list rows, class keys."""

from dataclasses import dataclass, field

from medviewer.labels.schema import LabelClass, ModelRef, Region
from medviewer.session.labeling_view import (
    TABLE_COLUMNS,
    annotator_text,
    class_button_text,
    class_tooltip,
    describe,
    label_html,
    slice_title,
    suggestion_html,
    swatch,
    table_row,
)

MODEL = ModelRef("headct-lesions", "1.0.0")


@dataclass
class Ann:
    label: str = "normal"
    annotator: str = "alice"
    source: str = "human"
    model: ModelRef | None = None
    status: str = "final"
    review: str = ""
    reviewer: str = ""
    comment: str = ""
    region: Region | None = None


@dataclass
class Sugg:
    label: str = "lesion"
    probability: float = 0.91
    entropy: float = 0.3
    model: ModelRef = MODEL


@dataclass
class FakeSession:
    labels: dict = field(default_factory=dict)
    suggestions: dict = field(default_factory=dict)
    classes: tuple = ("normal", "lesion")
    colors: dict = field(default_factory=lambda: {"normal": "#00ff00", "lesion": "#ff0000"})

    def label_at(self, k):
        return self.labels.get(k)

    def suggestion(self, k):
        return self.suggestions.get(k)

    def color_of(self, label):
        return self.colors.get(label)

    def in_label_set(self, label):
        return label in self.classes

    def disagrees(self, k):
        ann, sg = self.labels.get(k), self.suggestions.get(k)
        return ann is not None and sg is not None and ann.label != sg.label

    @property
    def has_predictions(self):
        return bool(self.suggestions)


def test_swatch_and_describe():
    assert swatch(None, "x") == "x"
    assert swatch("#123456", "x") == "<span style='color:#123456'>■</span> x"
    assert "not labeled" in describe(None)
    text = describe(
        Ann(
            source="model",
            model=MODEL,
            review="flagged",
            reviewer="bob",
            comment="check",
            region=Region(0, 0, 1, 1),
        )
    )
    assert text.split("<br>") == [
        "<b>normal</b>",
        "by alice · model headct-lesions:1.0.0",
        "status final",
        "flagged by bob: check",
        "evidence rectangle",
    ]
    assert "by alice · human" in describe(Ann())


def test_label_and_suggestion_texts():
    s = FakeSession()
    assert slice_title(4, 10) == "Slice 5 of 10"
    assert "not labeled" in label_html(s, 0)
    assert "run the classifier" in suggestion_html(s, 0)
    s.labels[0] = Ann(label="old class")
    assert label_html(s, 0).endswith("<br><i>(not in this label set)</i>")
    s.labels[0] = Ann(label="normal")
    assert label_html(s, 0).startswith("<span style='color:#00ff00'>■</span> <b>normal</b>")
    s.suggestions[1] = Sugg()
    assert "—" in suggestion_html(s, 0)
    s.suggestions[0] = Sugg()
    text = suggestion_html(s, 0)
    assert "<b>lesion</b> 0.91" in text and "≠ label" in text
    assert "uncertainty 0.30" in text and "headct-lesions:1.0.0" in text
    s.suggestions[0] = Sugg(label="normal")
    assert "≠ label" not in suggestion_html(s, 0)
    s.suggestions[0] = Sugg(label="other")
    assert "(not a class of the label set)" in suggestion_html(s, 0)
    assert "⚠" not in suggestion_html(s, 0)
    # a run on a series outside the model's scope: every suggestion says so
    s.caveats = (
        "the model card lists CT; this is an MR series: the input is outside what the model "
        "was trained on, treat the output with caution",
        "slice(s) 3 hold NaN or infinite values; they were read as 0 for the model",
    )
    text = suggestion_html(s, 0)
    assert "⚠ the model card lists CT; this is an MR series: the input is outside" in text
    assert text.endswith("... (+1 more in the AI dock)</span>")


def test_table_row_and_class_texts():
    assert len(TABLE_COLUMNS) == 6
    assert table_row(2, Ann(review="flagged", comment="why")) == (
        "3",
        "normal",
        "alice",
        "human",
        "final",
        "flagged: why",
    )
    assert table_row(0, Ann(source="model", model=MODEL))[3] == "headct-lesions:1.0.0"
    assert table_row(0, Ann(source="model"))[3] == "model"
    cls = LabelClass("lesion", "#ff0000", "2", "a focal lesion")
    assert class_tooltip(cls, "", None) == "Label the slice lesion (2) — a focal lesion"
    assert class_tooltip(cls, "Label lesion", "Zoom in") == "Label lesion — a focal lesion"
    assert class_button_text(cls, None) == "2  lesion"
    assert class_button_text(cls, "Zoom in") == "lesion"
    assert class_button_text(LabelClass("x", "#fff", ""), None) == "x"
    assert (
        class_button_text(LabelClass("hypodense_lesion", "#fff", "K"), None)
        == "K  hypodense lesion"
    )
    assert annotator_text("") == "Annotator: <i>not set</i>"
    assert annotator_text("bob") == "Annotator: <b>bob</b>"
