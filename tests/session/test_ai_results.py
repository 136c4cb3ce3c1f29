"""What the AI dock shows of a run, without Qt: probabilities, curves, texts, comparisons."""

import numpy as np
import pytest

from medviewer.ai.classifier import Prediction, SeriesPrediction, aggregate
from medviewer.session.ai_results import (
    CLASS_COLOURS,
    RunResults,
    class_colour,
    fmt_p,
    fmt_probs,
    method_text,
    slice_at,
)

CLASSES = ("no lesion", "lesion")


def pred(k: int, lesion: float, model="tiny-ct", version="1.0.0", device="cpu") -> Prediction:
    probs = {"no lesion": 1.0 - lesion, "lesion": lesion}
    top = max(probs, key=probs.__getitem__)
    return Prediction(k, probs, top, model, version, "ab" * 32, device)


def series_of(preds, method="max", **kw) -> SeriesPrediction:
    first = preds[0]
    return SeriesPrediction(
        slices=list(preds),
        probabilities=aggregate(list(preds), CLASSES, method),
        method=method,
        model=kw.get("model", first.model),
        version=kw.get("version", first.version),
        sha256=first.sha256,
        device=kw.get("device", first.device),
    )


LESION = (0.05, 0.10, 0.80, 0.95, 0.60, 0.20, 0.05, 0.02)


def test_probabilities_fill_in_as_batches_arrive_visible_slice_first():
    r = RunResults(8)
    assert r.probs.shape == (8, 0) and r.classes == ()
    assert r.add([pred(3, LESION[3])]) is True  # the first slice brings the classes
    assert r.classes == CLASSES and r.probs.shape == (8, 2)
    assert np.isfinite(r.probs[3]).all() and np.isnan(np.delete(r.probs, 3, axis=0)).all()
    assert r.add([pred(k, LESION[k]) for k in (0, 1, 2, 4)]) is False  # same classes
    assert r.add([pred(k, LESION[k]) for k in (5, 6, 7)]) is False
    assert np.allclose(r.probs[:, 1], LESION) and np.allclose(r.probs.sum(axis=1), 1.0)
    assert r.run_info == ("tiny-ct", "1.0.0", "cpu")


def test_predictions_outside_the_series_and_empty_batches_are_ignored():
    r = RunResults(4)
    assert r.add([]) is False and r.classes == ()
    r.add([pred(1, 0.7), pred(9, 0.9), pred(-1, 0.9)])
    assert sorted(r.predictions) == [1]
    assert r.prediction(1).top == "lesion" and r.prediction(9) is None


def test_curves_are_image_numbers_and_one_line_per_class_with_gaps():
    r = RunResults(5)
    r.add([pred(0, 0.1), pred(2, 0.9)])
    curves = r.curves()
    assert [c.name for c in curves] == list(CLASSES)
    assert [c.colour for c in curves] == list(CLASS_COLOURS[:2])
    assert list(curves[0].x) == [1, 2, 3, 4, 5]  # as the viewer's "Im k/n"
    assert np.allclose(curves[1].y[[0, 2]], [0.1, 0.9])
    assert np.isnan(curves[1].y[[1, 3, 4]]).all()  # not classified yet: a gap in the line
    assert class_colour(len(CLASS_COLOURS) + 1) == CLASS_COLOURS[1]  # colours repeat


def test_classes_of_the_label_sets_keep_their_label_colours():
    # the plot's hypodense line is the blue of the hypodense label button and strip
    from medviewer.labels.label_sets import default_label_set

    colours = {c.name: c.color for c in default_label_set().classes}
    assert colours["hypodense_lesion"] == "#40c4ff" and colours["normal"] == "#4caf50"
    assert class_colour(0, "normal") == (0x4C, 0xAF, 0x50)
    assert class_colour(2, "hypodense_lesion") == (0x40, 0xC4, 0xFF)
    assert class_colour(1, "hyperdense_lesion") == (0xFF, 0x52, 0x52)
    assert class_colour(1, "not a label class") == CLASS_COLOURS[1]


def test_new_classes_remake_the_curves():
    r = RunResults(3)
    r.add([pred(0, 0.4)])
    other = Prediction(1, {"a": 0.2, "b": 0.3, "c": 0.5}, "c", "m3", "2.0.0", "cd" * 32, "cpu")
    assert r.add([other]) is True
    assert r.classes == ("a", "b", "c") and r.probs.shape == (3, 3)
    assert np.isnan(r.probs[0]).all()  # the old slice's row is gone with its classes


def test_series_and_slice_texts_name_the_model_and_the_aggregation():
    preds = [pred(k, p) for k, p in enumerate(LESION)]
    r = RunResults(8)
    assert r.slice_text(2) == ""  # before the first slices: nothing to say
    r.add(preds[:3])
    assert r.slice_text(5) == "Slice 6: not classified yet"
    text = r.slice_text(2)
    assert text.startswith("Slice 3: <b>lesion</b> 0.80")
    assert "lesion 0.80 · no lesion 0.20" in text and "tiny-ct 1.0.0" in text
    result = series_of(preds)
    assert r.to_add(result) == preds  # slices 3..7 never came: take them all
    r.add(r.to_add(result))
    r.finish(result)
    series = r.series_text()
    assert "<b>tiny-ct 1.0.0 (cpu)</b>" in series
    assert "Series (max over 8 slices): no lesion 0.98 · lesion 0.95" in series
    assert fmt_probs(result.probabilities) == "no lesion 0.98 · lesion 0.95"
    assert r.to_add(result) == []  # every slice is there already


def test_finish_names_the_device_the_run_ended_on():
    # a CUDA out-of-memory fallback finishes on the CPU: the result says so, not the first slice
    r = RunResults(2)
    preds = [pred(0, 0.3, device="cuda"), pred(1, 0.6, device="cuda")]
    r.add(preds)
    assert r.model_text() == "tiny-ct 1.0.0 (cuda)"
    r.finish(series_of(preds, device="cpu"))
    assert r.model_text() == "tiny-ct 1.0.0 (cpu)"


def test_a_new_run_keeps_naming_the_last_model_until_it_reports_a_new_series_does_not():
    r = RunResults(3)
    r.add([pred(0, 0.2, version="1.0.0")])
    r.start(3)
    assert r.predictions == {} and r.classes == () and r.run_info[1] == "1.0.0"
    assert r.running_text("tiny-ct:1.1.0") == "Running tiny-ct:1.1.0 on 3 slices…"
    r.add([pred(1, 0.2, version="1.1.0")])
    assert r.run_info[1] == "1.0.0"  # named by the run's result at the end
    r.clear(5)
    assert r.run_info is None and r.n_slices == 5 and r.model_text() == ""


def test_cancelled_text_counts_the_slices_done():
    r = RunResults(40)
    r.add([pred(k, 0.5) for k in range(7)])
    assert r.cancelled_text() == "Cancelled after 7 of 40 slices"


def test_compare_marks_the_slices_whose_top_class_changed():
    before = RunResults(6)
    before.add([pred(k, p) for k, p in enumerate((0.1, 0.2, 0.7, 0.9, 0.3, 0.1))])
    previous = before.top_classes()
    assert previous == {0: "no lesion", 1: "no lesion", 2: "lesion", 3: "lesion"} | {
        4: "no lesion",
        5: "no lesion",
    }
    after = RunResults(6)
    after.add([pred(k, p, version="1.1.0") for k, p in enumerate((0.1, 0.6, 0.7, 0.4, 0.3))])
    message = after.compare(previous, "tiny-ct 1.0.0")
    assert after.changed == [1, 3]
    assert message == (
        "Top class changed from tiny-ct 1.0.0 on 2 of 5 slices (red marks on the plot)"
    )
    assert after.change_marks() == ([2, 4], [1.0, 1.0])
    same = RunResults(6)
    same.add([pred(k, 0.1) for k in range(2)])
    assert same.compare({0: "no lesion", 1: "no lesion"}) == (
        "Top class changed from the previous run on 0 of 2 slices"
    )
    assert same.compare({}) is None and same.changed == []  # no earlier run: nothing to say
    after.start(6)
    assert after.changed == [] and after.change_marks() == ([], [])


def test_top_class_given_as_an_index_is_named():
    r = RunResults(1)
    r.add([Prediction(0, {"no lesion": 0.3, "lesion": 0.7}, 1, "m", "1", "ef" * 32, "cpu")])
    assert r.top_classes() == {0: "lesion"}
    assert "<b>lesion</b> 0.70" in r.slice_text(0)


def test_probabilities_text_shows_the_four_most_probable():
    probs = {"a": 0.05, "b": 0.4, "c": 0.1, "d": 0.2, "e": 0.15, "f": 0.1}
    assert fmt_probs(probs) == "b 0.40 · d 0.20 · e 0.15 · c 0.10 · +2 more"
    # never rounded to a certainty: 0.99994 is not "1.00", 6e-05 is not "0.00"
    assert fmt_probs({"x": 0.99994, "y": 6e-05}) == "x >0.99 · y <0.01"
    assert fmt_probs({"x": 0.994, "y": 0.006}) == "x 0.99 · y 0.01"
    assert fmt_p(float("nan")) == "–"
    # in the dock's rich text "<0.01" must stay text, not start a tag
    r = RunResults(1)
    r.add([Prediction(0, {"no lesion": 0.999, "lesion": 0.001}, 0, "m", "1", "ef" * 32, "cpu")])
    assert "no lesion &gt;0.99" in r.slice_text(0) and "lesion &lt;0.01" in r.slice_text(0)
    # in the dock's rich text "<0.01" must stay text, not start a tag
    r = RunResults(1)
    r.add([Prediction(0, {"no lesion": 0.999, "lesion": 0.001}, 0, "m", "1", "ef" * 32, "cpu")])
    assert "no lesion &gt;0.99" in r.slice_text(0) and "lesion &lt;0.01" in r.slice_text(0)


@pytest.mark.parametrize(
    ("method", "n", "text"),
    [
        ("max", 8, "max over 8 slices"),
        ("mean", 3, "mean over 3 slices"),
        ("abnormal_max", 8, "abnormal_max"),
        ("", 5, "5 slices"),
        (None, 2, "2 slices"),
    ],
)
def test_method_text(method, n, text):
    assert method_text(method, n) == text


def test_plot_position_to_slice_is_clamped_and_rounded():
    assert slice_at(5.6, 8) == 5  # image 6
    assert slice_at(3.0, 8) == 2
    assert slice_at(99.0, 8) == 7 and slice_at(-4.0, 8) == 0
    assert slice_at(float("nan"), 8) is None and slice_at(2.0, 0) is None


def test_real_classifier_output_as_the_dock_receives_it(tmp_path):
    from medviewer.ai.classifier import predict_iter
    from medviewer.ai.package import load_package
    from medviewer.dicom import load_volume, scan
    from medviewer.jobs import Progress
    from medviewer.testing.synthetic import write_series
    from medviewer.testing.tiny_model import make_package

    write_series(tmp_path / "ct", n_slices=8, rows=48, cols=48)
    volume = load_volume(scan([str(tmp_path / "ct")]).all_series()[0])
    model = load_package(make_package(tmp_path / "pkg", input_size=(64, 64)), device="cpu")
    r = RunResults(8)
    job = predict_iter(model, volume, first=5, batch_size=3)
    batches = []
    try:
        while True:
            step = next(job)
            if isinstance(step, Progress) and isinstance(step.detail, (list, tuple)):
                batches.append([int(p.index) for p in step.detail])
                r.add(step.detail)
    except StopIteration as stop:
        result = stop.value
    assert batches[0] == [5]  # the visible slice first
    assert r.to_add(result) == []
    r.finish(result)
    expected = np.array([[p.probabilities[c] for c in result.classes] for p in result.slices])
    assert np.allclose(r.probs, expected)
    assert r.classes == result.classes
    assert "tiny-ct 1.0.0 (cpu)" in r.series_text() and "max over 8 slices" in r.series_text()
    assert set(r.top_classes().values()) <= set(result.classes)
