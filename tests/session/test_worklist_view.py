"""The triage worklist's view model, without Qt: rows, order, filters, texts, review status,
opening a row, a running triage's texts, and reading a results file."""

from types import SimpleNamespace

import pytest

from medviewer.jobs import run_job
from medviewer.labels.schema import SliceKey
from medviewer.labels.store import LabelStore
from medviewer.session import worklist_view as view
from medviewer.session.worklist_rows import flagged_text
from medviewer.triage.records import ModelIdentity, SeriesResult, SkippedItem

MODEL = ModelIdentity("tiny-ct", "1.0.0", "ab" * 32)
OTHER = ModelIdentity("tiny-ct", "2.0.0", "cd" * 32)


def result(key="1.2.3", suspicion=0.5, top="lesion", flagged=(), model=MODEL, **kw):
    probs = kw.pop("probabilities", None) or {"no lesion": 1.0 - suspicion, "lesion": suspicion}
    values = dict(
        series_key=key,
        series_uid=key.split("#")[0],
        study_uid="9.9",
        patient_id="P1",
        patient_name="Doe^Jane",
        study_date="20260115",
        study_description="Head",
        series_description="Axial head",
        modality="CT",
        series_number=3,
        n_slices=10,
        folder="/data/a",
        model=model,
        probabilities=probs,
        top_class=top,
        suspicion=suspicion,
        top_slice=4,
        top_slice_sop_uid=f"{key}.5",
        top_slice_probability=suspicion,
        flagged_slices=list(flagged),
        seconds=1.5,
        device="cpu",
        warnings=[],
        finished_at="2026-01-15T10:00:00Z",
    )
    values.update(kw)
    return SeriesResult(**values)


@pytest.fixture
def worklist():
    wl = view.Worklist()
    wl.set_results(
        [
            result("1.1", 0.20, top="no lesion"),
            result("1.2", 0.95, flagged=range(7)),
            result("1.3", 0.60, flagged=[2]),
            result("1.4", 0.95, flagged=range(3)),
        ],
        source="/r.sqlite",
    )
    return wl


def keys(rows):
    return [row.key[0] for row in rows]


def test_rows_are_sorted_most_suspicious_first(worklist):
    rows = worklist.rows()
    assert keys(rows) == ["1.2", "1.4", "1.3", "1.1"]  # ties: more flagged slices first
    assert [row.highlight for row in rows] == [True, True, True, False]
    assert worklist.source == "/r.sqlite"


def test_cells_say_patient_date_series_result_suspicion_flagged_review(worklist):
    row = worklist.rows()[0]
    assert dict(zip(view.COLUMNS, row.cells)) == {
        "Patient": "Doe Jane · P1",
        "Study date": "2026-01-15",
        "Series": "Axial head (CT #3, 10 slices)",
        "Series result": "lesion 0.95",
        "Suspicion": "0.95",
        "Flagged slices": "7 slices",
        "Review": "not reviewed",
    }
    assert worklist.rows()[2].cells[5] == "1 slice"
    assert worklist.rows()[3].cells[5] == "none"
    assert worklist.rows()[3].cells[3] == "no lesion 0.80"
    assert "image 5/10" in row.tips[4]  # the most suspicious slice, 1-based as the viewer
    assert "images 1, 2, 3" in row.tips[5]
    assert "tiny-ct 1.0.0 on cpu" in row.tips[3]
    assert flagged_text(list(range(50))) == "50+ slices"


def test_deidentified_display_hides_patient_and_date(worklist):
    worklist.set_deidentified(True)
    row = worklist.rows()[0]
    assert row.cells[:2] == ("(hidden)", "(hidden)")
    assert "P1" not in " ".join(row.tips)


def test_class_filter_and_not_yet_reviewed(worklist):
    assert worklist.class_choices() == [
        ("All results (4)", None),
        ("lesion (3)", "lesion"),
        ("no lesion (1)", "no lesion"),
    ]
    worklist.set_filters("no lesion", False)
    assert keys(worklist.rows()) == ["1.1"]
    worklist.set_filters(None, True)
    assert keys(worklist.rows()) == ["1.2", "1.4", "1.3", "1.1"]
    assert worklist.set_review("1.4", view.ReviewStatus(10, 10))
    assert keys(worklist.rows()) == ["1.2", "1.3", "1.1"]  # reviewed: filtered out
    assert worklist.set_review("1.3", view.ReviewStatus(4, 10))
    assert keys(worklist.rows()) == ["1.2", "1.3", "1.1"]  # partly labeled: still open
    assert not worklist.set_review("7.7", view.ReviewStatus(1, 1))  # not listed
    worklist.set_filters("lesion", True)
    assert keys(worklist.rows()) == ["1.2", "1.3"]
    assert worklist.summary_text() == "4 series · 3 suspicious · 3 not reviewed · 2 shown"


def test_live_rows_are_added_in_order(worklist):
    assert worklist.add(result("2.1", 0.99), view.ReviewStatus(0, 10))
    assert not worklist.add(result("2.1", 0.99))  # the same series again: no duplicate
    assert keys(worklist.rows())[:2] == ["2.1", "1.2"]
    assert worklist.add(result("2.1", 0.99, model=OTHER))  # another model's row beside it
    assert len(worklist.rows()) == 6
    worklist.add_skipped(SkippedItem("/x.dcm", "unreadable", "not DICOM"))
    worklist.add_skipped(SkippedItem("/x.dcm", "unreadable", "not DICOM"))
    assert worklist.skipped_text() == "/x.dcm: not DICOM"
    assert worklist.summary_text().endswith("1 skipped")
    assert worklist.index_of(("1.2", MODEL.sha256)) == 2


def test_review_status_texts():
    assert view.ReviewStatus(0, 40).text == "not reviewed"
    assert view.ReviewStatus(12, 40).text == "labeled 12/40"
    assert view.ReviewStatus(12, 40, flagged=2).text == "labeled 12/40, 2 flagged"
    assert view.ReviewStatus(40, 40, approved=40).text == "approved"
    assert view.ReviewStatus(40, 40, approved=3).text == "labeled 40/40, 3 approved"
    assert view.UNKNOWN_REVIEW.text == "unknown" and not view.UNKNOWN_REVIEW.reviewed
    assert view.ReviewStatus(40, 40).reviewed and not view.ReviewStatus(39, 40).reviewed


def test_review_status_from_the_label_store(tmp_path):
    store = LabelStore(tmp_path / "labels.sqlite")
    assert view.review_status(store, "1.2", 4) == view.ReviewStatus(0, 4)
    keys_ = [SliceKey("9.9", "1.2", f"1.2.{k}") for k in range(4)]
    store.set_label(keys_[0], "normal", annotator="ann")
    store.set_label(keys_[1], "uncertain", annotator="bob")
    assert view.review_status(store, "1.2", 4).text == "labeled 2/4"
    for key in keys_[2:]:
        store.set_label(key, "normal", annotator="ann")
    for key in keys_[:3]:
        store.review(
            key, annotator="ann" if key != keys_[1] else "bob", verdict="approved", reviewer="rev"
        )
    assert view.review_status(store, "1.2", 4).text == "labeled 4/4, 3 approved"
    store.review(keys_[3], annotator="ann", verdict="approved", reviewer="rev")
    assert view.review_status(store, "1.2", 4).text == "approved"
    store.set_label(SliceKey("9.9", "3.3"), "normal", annotator="ann", scope="series")
    assert view.review_status(store, "3.3", 6) == view.ReviewStatus(6, 6)
    store.close()


def test_suspicious_class_and_open_request():
    r = result(
        "4.4#2", 0.7, top="no lesion", probabilities={"normal": 0.7, "bleed": 0.7, "no lesion": 0.9}
    )
    assert view.suspicious_class(r) == "bleed"
    row = view.make_row(r, view.ReviewStatus(0, 10))
    request = view.open_request(row)
    assert request.series_key == "4.4#2" and request.series_uid == "4.4"
    assert request.model_ref == "tiny-ct:1.0.0" and request.target == "bleed"
    assert request.top_slice == 4 and request.folder == "/data/a"
    uids = ["a", "b", "4.4#2.5", "c"]
    assert view.slice_to_show(request, uids) == 2  # found by SOP Instance UID
    assert view.slice_to_show(request, ["a", "b"]) == 1  # else the index, clamped
    assert view.slice_to_show(request, []) == 0
    assert view.opening_text(row, request).endswith("at image 5…")
    assert view.opened_text(request, 2, 4).startswith("Image 3/4: the most suspicious slice")
    assert "bleed" in view.opened_text(request, 2, 4)
    assert "not installed" in view.model_missing_text("tiny-ct:1.0.0")


def test_progress_summary_and_controls():
    event = SimpleNamespace(kind="result", done=5, total=12, series_per_min=4.2, eta_s=100.0)
    assert view.progress_text(event) == "Triage: 5/12 series · 4.2 series/min · about 2 min left"
    assert view.progress_text(event, paused=True).startswith("Paused: 5/12 series done")
    assert view.progress_text(None) == "Triage: scanning…"
    summary = SimpleNamespace(done=9, already=3, skipped=2, failed=0, seconds=30.0)
    assert view.summary_text(summary) == (
        "Triage done: 9 series classified, 3 already stored, 2 skipped in 30 s"
    )
    assert "3 series stored" in view.cancelled_text(3)
    idle, running, paused = (
        view.controls(False, False),
        view.controls(True, False),
        view.controls(True, True),
    )
    assert idle.start and idle.open_results and not idle.pause and not idle.cancel
    assert not running.start and running.pause and running.cancel
    assert running.pause_text == "Pause" and paused.pause_text == "Resume"


def test_load_worklist_reads_results_and_review_status(tmp_path):
    from medviewer.triage.store import ResultsStore

    path = tmp_path / "results.sqlite"
    with ResultsStore(path, MODEL) as store:
        for r in (result("1.1", 0.1), result("1.2", 0.9), result("1.3", 0.5)):
            assert store.add(r)
        store.add_skipped(SkippedItem("/mr", "other_modality", "MR: the model reads CT"))
    labels = LabelStore(tmp_path / "labels.sqlite")
    labels.set_label(SliceKey("9.9", "1.2", "x"), "normal", annotator="ann")
    labels.close()
    found = run_job(view.load_worklist_iter(path, tmp_path / "labels.sqlite"))
    assert [r.series_key for r in found.results] == ["1.2", "1.3", "1.1"]
    assert found.reviews["1.2"].text == "labeled 1/10"
    assert found.reviews["1.1"].text == "not reviewed"
    assert [s.code for s in found.skipped] == ["other_modality"]
    missing = run_job(view.load_worklist_iter(path, tmp_path / "none.sqlite"))
    assert missing.review_problem is None
    assert {s.text for s in missing.reviews.values()} == {"not reviewed"}
    wl = view.Worklist()
    wl.set_results(found.results, found.reviews, found.skipped, found.path)
    assert wl.summary_text() == "3 series · 2 suspicious · 3 not reviewed · 1 skipped"


def test_a_near_certain_suspicion_is_not_rounded_to_one():
    wl = view.Worklist()
    wl.set_results([result("1.7", 0.99994, flagged=[1])], source="/r.sqlite")
    (row,) = wl.rows()
    cells = dict(zip(view.COLUMNS, row.cells))
    assert cells["Suspicion"] == ">0.99" and cells["Series result"] == "lesion >0.99"
