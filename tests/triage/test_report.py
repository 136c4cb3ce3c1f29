"""The triage report: rows most suspicious first, CSV, the text table, the summary."""

from __future__ import annotations

import csv
import io

from medviewer.testing.triage_results import MODEL_B, make_result
from medviewer.triage.records import SkippedItem
from medviewer.triage.report import (
    ROW_KEYS,
    csv_text,
    most_suspicious_first,
    report_rows,
    skipped_lines,
    summary,
    text_table,
    write_csv,
)


def _results():
    return [
        make_result("1.1", 0.10, series_number=3, series_description="Axial bone"),
        make_result("1.2", 0.95, patient_name="=HYPERLINK(1)", flagged_slices=[6, 7, 2]),
        make_result("1.3", 0.60, warnings=["intensity outside the range", "a slice left out"]),
        make_result("1.4", 0.60, top_slice_probability=0.99),
    ]


def test_rows_are_most_suspicious_first_with_the_worklist_columns():
    rows = report_rows(_results())
    assert [r["series_key"] for r in rows] == ["1.2", "1.4", "1.3", "1.1"]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]
    assert list(rows[0]) == list(ROW_KEYS)
    top = rows[0]
    assert top["top_class"] == "lesion" and top["top_probability"] == 0.95
    assert top["flagged"] == 3 and top["flagged_slices"] == [6, 7, 2]
    # the viewer's image numbers ("Im 7/44") beside the 0-based indices
    assert top["flagged_images"] == [7, 8, 3] and top["top_image"] == top["top_slice"] + 1
    assert top["model"] == "tiny-ct:1.0.0"
    assert rows[-1]["top_class"] == "normal" and rows[-1]["top_probability"] == 0.9
    assert [r.series_key for r in most_suspicious_first(_results())] == ["1.2", "1.4", "1.3", "1.1"]


def test_csv_has_a_column_per_class_and_never_a_formula(tmp_path):
    results = [*_results(), make_result("1.5", 0.3, classes=("normal", "bleed"))]
    table = list(csv.DictReader(io.StringIO(csv_text(results))))
    assert [r["series_key"] for r in table] == ["1.2", "1.4", "1.3", "1.5", "1.1"]
    assert "probabilities" not in table[0]
    assert table[0]["p(lesion)"] == "0.95" and table[0]["p(bleed)"] == ""
    assert table[3]["p(bleed)"] == "0.3"
    assert table[0]["patient_name"] == "'=HYPERLINK(1)"
    assert table[0]["flagged_slices"] == "6 7 2" and table[0]["flagged_images"] == "7 8 3"
    assert table[2]["warnings"] == "intensity outside the range | a slice left out"
    assert table[4]["series_number"] == "3"

    out = tmp_path / "sub" / "report.csv"
    write_csv(results, out)
    assert out.read_text() == csv_text(results)
    stream = io.StringIO()
    write_csv([], stream)
    assert stream.getvalue().startswith("rank,suspicion,top_class,")
    assert stream.getvalue().count("\n") == 1  # the header only


def test_summary_counts():
    skipped = [
        SkippedItem("/a/sr.dcm", "not_image", "/a/sr.dcm is a structured report"),
        SkippedItem("1.9", "other_modality", "series 1.9 is MR; the model reads CT"),
        SkippedItem("/a/b.dcm", "not_image", "/a/b.dcm holds no pixels"),
    ]
    counts = summary(_results(), skipped)
    assert counts == {
        "series": 4,
        "by_top_class": {"lesion": 3, "normal": 1},
        "flagged_series": 3,
        "skipped": 3,
        "skipped_by_code": {"not_image": 2, "other_modality": 1},
        "models": ["tiny-ct:1.0.0"],
    }
    assert summary([make_result("1", model=MODEL_B)], [])["models"] == ["tiny-ct:2.0.0"]
    assert skipped_lines(skipped, 2) == [
        "not_image: /a/sr.dcm is a structured report",
        "other_modality: series 1.9 is MR; the model reads CT",
        "... 1 more skipped",
    ]


def test_text_table():
    text = text_table(_results(), limit=2)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["#", "SUSPICION", "RESULT"]
    assert lines[1].split()[:4] == ["1", "0.950", "lesion", "0.95"]
    assert "=HYPERLINK(1)" in lines[1] and "2024-01-31" in lines[1]
    assert lines[2].split()[:2] == ["2", "0.600"]
    assert lines[3] == "... 2 more series (raise the limit to see them)"
    full = text_table(_results()).splitlines()
    assert len(full) == 5 and "3 Axial bone" in full[4]
    assert text_table([]).splitlines() == [lines[0]]
