"""CSV / JSON export and import: exact round trips, and every kind of bad row reported."""

import json

import pytest

from medviewer.errors import LabelStoreError
from medviewer.labels import io as label_io
from medviewer.labels.io import CSV_COLUMNS, export_labels, import_labels
from medviewer.labels.label_sets import default_label_set
from medviewer.labels.schema import ModelRef, Region, SliceKey
from medviewer.labels.store import LabelStore

MODEL = ModelRef("headct-lesions", "1.0.0", "cd" * 32)
HEADER = ",".join(CSV_COLUMNS)
T = "2026-01-02T03:04:05.000000+00:00"


def populate(store, keys):
    store.set_label(keys[0], "normal", annotator="alice", path_hint="/p/Doe^John/1.dcm")
    store.set_label(keys[1], "uncertain", annotator="alice", status="draft")
    store.set_label(
        keys[1], "hyperdense_lesion", annotator="bob", source="model", model=MODEL,
        region=Region(1.5, 2, 30, 40.25),
    )  # fmt: skip
    store.set_label(SliceKey(keys[6].study_uid, keys[6].series_uid, keys[6].sop_uid, 2),
                    "exclude", annotator="bob")  # fmt: skip
    store.set_label(
        SliceKey(keys[6].study_uid, keys[6].series_uid), "normal", annotator="carol",
        scope="series",
    )  # fmt: skip
    store.review(keys[0], annotator="alice", verdict="flagged", reviewer="rita",
                 comment='a "quoted", comma\nand a new line, é')  # fmt: skip


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_round_trip_is_exact(tmp_path, store, keys, suffix):
    populate(store, keys)
    first = tmp_path / f"first{suffix}"
    assert export_labels(store, first) == 5
    with LabelStore(tmp_path / "empty.sqlite") as empty:
        report = import_labels(empty, first)
        assert (report.imported, report.unchanged, report.skipped) == (5, 0, [])
        second = tmp_path / f"second{suffix}"
        export_labels(empty, second)
        again = import_labels(empty, second)
        assert (again.imported, again.unchanged) == (0, 5)
        if suffix == ".json":  # all but the PHI survives: region, sha256, created_at, set
            assert [_fields(a) for a in empty.query()] == [_fields(a) for a in store.query()]
    assert first.read_bytes() == second.read_bytes()


def _fields(a):
    return {f: getattr(a, f) for f in a.__slots__ if f not in ("id", "path_hint")}


def test_export_leaves_out_phi_unless_asked_and_filters(tmp_path, store, keys):
    populate(store, keys)
    out = tmp_path / "l.csv"
    export_labels(store, out)
    text = out.read_text()
    assert text.splitlines()[0] == HEADER and "Doe^John" not in text
    export_labels(store, out, include_phi=True)
    assert out.read_text().splitlines()[0] == HEADER + ",path_hint"
    assert "Doe^John" in out.read_text()
    export_labels(store, tmp_path / "l.json")
    assert "path_hint" not in (tmp_path / "l.json").read_text()
    assert export_labels(store, tmp_path / "bob.csv", annotator="bob") == 2
    assert export_labels(store, tmp_path / "draft.json", status="draft") == 1
    with pytest.raises(LabelStoreError, match=r"name it .csv or .json"):
        export_labels(store, tmp_path / "l.txt")


def test_csv_row_format(tmp_path, store, keys):
    store.set_label(keys[0], "hyperdense_lesion", annotator="bob", source="model", model=MODEL)
    export_labels(store, tmp_path / "l.csv")
    row = (tmp_path / "l.csv").read_text().splitlines()[1].split(",")
    fields = dict(zip(CSV_COLUMNS, row))
    assert fields["frame"] == "" and fields["scope"] == "slice"
    assert fields["model"] == "headct-lesions:1.0.0" and fields["source"] == "model"


def write_csv(path, *rows, header=HEADER):
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def row(sop="1.2.3.1", label="normal", annotator="alice", **kw):
    fields = {
        "study_uid": "1.2",
        "series_uid": "1.2.3",
        "sop_uid": sop,
        "frame": "",
        "label": label,
        "scope": "slice",
        "annotator": annotator,
        "source": "human",
        "model": "",
        "status": "final",
        "review": "",
        "reviewer": "",
        "comment": "",
        "updated_at": T,
        **kw,
    }
    return ",".join(fields[c] for c in CSV_COLUMNS)


def test_bad_rows_are_reported_with_lines_and_reasons(tmp_path, store):
    path = write_csv(
        tmp_path / "in.csv",
        row("1.2.3.1"),  # 2 good
        row("1.2.3.2", label="tumour"),  # 3 unknown class
        row("1.2.3.3", annotator=""),  # 4
        row("1.2.3.1"),  # 5 duplicate of 2
        row("1.2.3.4", label="normal"),  # 6 conflicts with 7
        row("1.2.3.4", label="exclude"),  # 7
        row("1.2.3.5", source="model"),  # 8 model missing
        row("1.2.3.6", frame="0"),  # 9
        row("1.2.3.7", updated_at="yesterday"),  # 10
        row("1.2.3.8", updated_at="2026-01-02T03:04:05"),  # 11 no time zone
        row("x.y", label="normal"),  # 12 not a UID
        row("1.2.3.9", review="approved"),  # 13 no reviewer
        row("1.2.3.10", scope="series"),  # 14 series scope with a SOP UID
        row("1.2.3.11", status="done"),  # 15
        "1.2,1.2.3,1.2.3.12,,normal",  # 16 too few fields
        row("1.2.3.13", series_uid="1.2.99"),  # 17 unknown series
        row("1.2.3.14", label="exclude", frame="2"),  # 18 good
    )
    report = import_labels(store, path, known_series={"1.2.3"})
    reasons = {s.line: s.reason for s in report.skipped}
    assert report.imported == 2 and report.unchanged == 0 and report.rows == 17
    assert "label 'tumour' is not a class of the label set headct-lesions" in reasons[3]
    assert "annotator is empty" in reasons[4]
    assert reasons[5] == "duplicate of line 2"
    assert "conflicts with line 7" in reasons[6] and "label normal vs exclude" in reasons[6]
    assert "conflicts with line 6" in reasons[7]
    assert "model (name:version) is empty" in reasons[8]
    assert "frame 0 is below 1" in reasons[9]
    assert "not an ISO 8601 time" in reasons[10]
    assert "no time zone" in reasons[11]
    assert "not a DICOM UID" in reasons[12]
    assert "has no reviewer" in reasons[13]
    assert "series label is keyed by the series alone" in reasons[14]
    assert "status 'done'" in reasons[15]
    assert "has 5 fields, the header 14" in reasons[16]
    assert "series 1.2.99 is not in the open studies" in reasons[17]
    assert sorted(reasons) == list(range(3, 18))
    assert {a.key.sop_uid for a in store.query()} == {"1.2.3.1", "1.2.3.14"}
    assert store.current(SliceKey("1.2", "1.2.3", "1.2.3.14", 2)).label == "exclude"
    d = report.to_dict()
    assert d["n_skipped"] == 15 and d["skipped"][0] == {"line": 3, "reason": reasons[3]}
    json.dumps(d)


def test_missing_columns_refuse_the_whole_file(tmp_path, store):
    path = write_csv(
        tmp_path / "in.csv", "1.2,1.2.3,1.2.3.1,", header="study_uid,series_uid,sop_uid,frame"
    )
    with pytest.raises(LabelStoreError, match=r"line 1: the header lacks .*label, annotator"):
        import_labels(store, path)
    assert store.stats()["total"] == 0
    path = write_csv(
        tmp_path / "twice.csv", header="study_uid,series_uid,sop_uid,annotator,label,label"
    )
    with pytest.raises(LabelStoreError, match="label appear twice"):
        import_labels(store, path)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(LabelStoreError, match="is empty"):
        import_labels(store, tmp_path / "empty.csv")
    (tmp_path / "latin.csv").write_bytes(b"study_uid\n\xe9\xff\n")
    with pytest.raises(LabelStoreError, match="not UTF-8"):
        import_labels(store, tmp_path / "latin.csv")
    with pytest.raises(LabelStoreError, match="no such file"):
        import_labels(store, tmp_path / "none.csv")


def test_minimal_csv_uses_defaults_and_warns(tmp_path, store):
    path = write_csv(
        tmp_path / "min.csv",
        "1.2,1.2.3,1.2.3.1,normal,alice,x",
        header="\ufeffstudy_uid,series_uid,sop_uid,label,annotator,notes",
    )
    report = import_labels(store, path)
    assert report.imported == 1
    assert any("notes" in w and "ignored" in w for w in report.warnings)
    assert any("defaults" in w for w in report.warnings)
    ann = store.current(SliceKey("1.2", "1.2.3", "1.2.3.1"))
    assert (ann.status, ann.source, ann.scope) == ("final", "human", "slice")


def test_excel_semicolons_and_class_names_in_another_case_are_read(tmp_path, store):
    path = write_csv(
        tmp_path / "excel.csv",
        "1.2;1.2.3;1.2.3.1;Normal;alice",
        "1.2;1.2.3;1.2.3.2;hypodense lesion;alice",
        "1.2;1.2.3;1.2.3.3;HYPERDENSE_LESION;alice",
        "1.2;1.2.3;1.2.3.4;tumour;alice",
        header="study_uid;series_uid;sop_uid;label;annotator",
    )
    report = import_labels(store, path)
    assert report.imported == 3
    assert any("semicolons" in w for w in report.warnings)
    assert {a.key.sop_uid: a.label for a in store.query()} == {
        "1.2.3.1": "normal",
        "1.2.3.2": "hypodense_lesion",
        "1.2.3.3": "hyperdense_lesion",
    }
    assert "label 'tumour' is not a class" in report.skipped[0].reason


def test_bad_json_files(tmp_path, store):
    bad = tmp_path / "bad.json"
    bad.write_text('{"labels": [\n  {"study_uid": "1.2",}\n]}')
    with pytest.raises(LabelStoreError, match=r"bad.json, line 2 column 23: not valid JSON"):
        import_labels(store, bad)
    bad.write_text('{"format": "something-else", "labels": []}')
    with pytest.raises(LabelStoreError, match="field 'format'"):
        import_labels(store, bad)
    bad.write_text('{"format": "medviewer-labels", "version": 99, "labels": []}')
    with pytest.raises(LabelStoreError, match="newer medviewer"):
        import_labels(store, bad)
    bad.write_text('{"labels": [3, {"study_uid": "1.2", "series_uid": "1.2.3", '
                   '"sop_uid": "1.2.3.1", "label": "normal", "annotator": "a", '
                   '"region": {"x0": 1}}]}')  # fmt: skip
    report = import_labels(store, bad)
    assert [s.line for s in report.skipped] == [1, 2]
    assert "region" in report.skipped[1].reason


def test_an_error_mid_import_writes_nothing(tmp_path, store, keys, monkeypatch):
    store.set_label(keys[0], "normal", annotator="alice")
    path = write_csv(tmp_path / "in.csv", *(row(f"1.2.3.{i}") for i in range(1, 21)))
    before = (store.stats(), store.conn.execute("SELECT count(*) FROM history").fetchone())
    calls = {"n": 0}
    original = LabelStore.import_annotation

    def failing(self, ann):
        calls["n"] += 1
        if calls["n"] == 11:
            raise LabelStoreError("could not import the label: injected failure")
        return original(self, ann)

    monkeypatch.setattr(LabelStore, "import_annotation", failing)
    with pytest.raises(LabelStoreError, match="injected"):
        import_labels(store, path)
    assert calls["n"] == 11
    assert (store.stats(), store.conn.execute("SELECT count(*) FROM history").fetchone()) == before
    assert store.query(series_uid="1.2.3") == []


def test_dry_run_reports_and_writes_nothing(tmp_path, store):
    path = write_csv(tmp_path / "in.csv", row("1.2.3.1"), row("1.2.3.2", label="bad"))
    report = import_labels(store, path, dry_run=True)
    assert (report.imported, len(report.skipped), report.dry_run) == (1, 1, True)
    assert store.stats()["total"] == 0


def test_the_store_keeps_newer_labels(tmp_path, store):
    key = SliceKey("1.2", "1.2.3", "1.2.3.1")
    store.set_label(key, "exclude", annotator="alice")  # now: newer than T
    report = import_labels(store, write_csv(tmp_path / "in.csv", row("1.2.3.1")))
    assert report.imported == 0 and "store holds a newer label" in report.skipped[0].reason
    assert store.current(key).label == "exclude"
    later = "2099-01-01T00:00:00.000000+00:00"
    report = import_labels(store, write_csv(tmp_path / "b.csv", row("1.2.3.1", updated_at=later)))
    assert report.imported == 1 and store.current(key).label == "normal"
    assert [h["action"] for h in store.history(key)] == ["set", "import"]
    assert store.undo(annotator="alice") == key  # undo takes back alice's own set, not
    assert store.current(key).label == "normal"  # the import, which stays


def test_import_against_another_label_set(tmp_path, store):
    from medviewer.labels.schema import LabelClass, LabelSet

    spine = LabelSet("spine", 1, "slice", True, (LabelClass("fracture", "#ff0000", "Z"),))
    path = write_csv(tmp_path / "in.csv", row("1.2.3.1", label="fracture"), row("1.2.3.2"))
    report = import_labels(store, path, label_set=spine)
    assert report.imported == 1 and "not a class of the label set spine" in report.skipped[0].reason
    assert store.query()[0].label_set == "spine"
    assert default_label_set().by_name("fracture") is None


def test_csv_import_keeps_fields_csv_does_not_carry(tmp_path, store, keys):
    store.set_label(keys[0], "hyperdense_lesion", annotator="bob", source="model", model=MODEL,
                    region=Region(1, 1, 5, 5))  # fmt: skip
    export_labels(store, tmp_path / "a.csv")
    text = (tmp_path / "a.csv").read_text().replace(",final,", ",draft,")
    text = text.replace(store.query()[0].updated_at, "2099-01-01T00:00:00.000000+00:00")
    (tmp_path / "a.csv").write_text(text)
    assert import_labels(store, tmp_path / "a.csv").imported == 1
    ann = store.current(keys[0])
    assert ann.status == "draft" and ann.region == Region(1, 1, 5, 5) and ann.model == MODEL


def test_import_module_has_no_partial_file_on_export_failure(tmp_path, store, keys, monkeypatch):
    populate(store, keys)
    out = tmp_path / "l.csv"
    out.write_text("old\n")

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(label_io.os, "fsync", boom)
    with pytest.raises(LabelStoreError, match="No space left on device"):
        export_labels(store, out)
    assert out.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()].count("l.csv") == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
