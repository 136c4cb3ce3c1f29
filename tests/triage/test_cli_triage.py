"""``medviewer triage [run] PATH...`` and ``medviewer triage report``: the archive and the tiny
models of conftest.py, run in-process through ``main`` (exit 0 / 1 one-line reason / 2 usage)."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import pytest

from medviewer.cli import main
from medviewer.cli.triage import with_default_action
from medviewer.triage.store import ResultsStore, ResultsStoreError
from tests.cli_run import run_cli
from tests.triage.conftest import MODEL, N_CT, OTHER_MODEL

N_SKIPPED = 3  # the MR series (no MR model asked for), the unreadable file, the report


_run = run_cli


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def _triage(archive, results, *extra):
    return [
        "triage",
        archive.root,
        "--results",
        results,
        "--model",
        MODEL,
        "--device",
        "cpu",
        *extra,
    ]


def _fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(path: Path, sha: str | None = None) -> list[dict]:
    with ResultsStore(path, read_only=True) as store:
        assert store.integrity() == "ok"
        return [r.to_dict() for r in store.results(sha)]


@pytest.fixture(scope="module")
def triaged(archive, models_dir, tmp_path_factory):
    """One uninterrupted run into a results file: (path, the --json summary)."""
    results = tmp_path_factory.mktemp("triaged") / "results.sqlite"
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDVIEWER_MODELS", str(models_dir))
        mp.setenv("MEDVIEWER_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in _triage(archive, results, "--json", "--workers", "2")])
    assert code == 0, err.getvalue()
    return results, json.loads(out.getvalue())


def _copy(results: Path, folder: Path) -> Path:
    dest = folder / results.name
    shutil.copyfile(results, dest)
    return dest


# -- the run -----------------------------------------------------------------------------------
def test_run_json_summary(triaged, archive):
    results, doc = triaged
    assert doc["results_path"] == str(results)
    assert doc["model"]["name"] == "tiny-triage" and doc["model"]["version"] == "1.0.0"
    assert (doc["done"], doc["already"], doc["skipped"], doc["failed"]) == (N_CT, 0, N_SKIPPED, 0)
    assert doc["seconds"] > 0 and doc["series_per_min"] > 0
    stored = doc["stored"]
    assert stored["series"] == N_CT and sum(stored["by_top_class"].values()) == N_CT
    assert stored["skipped"] == N_SKIPPED and stored["models"] == [MODEL]
    assert sorted(r["series_key"] for r in _rows(results)) == sorted(archive.ct_keys)


def test_run_again_repeats_nothing_and_prints_the_summary(triaged, archive, tmp_path, capsys):
    results = _copy(triaged[0], tmp_path)
    before = _rows(results)
    code, out, err = _run(capsys, *_triage(archive, results))
    assert code == 0, err
    assert _rows(results) == before
    assert f"0 series classified, {N_CT} already stored, {N_SKIPPED} skipped, 0 failed" in out
    assert f"results: {results}" in out
    table = out.split("most suspicious first:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert table[0].split()[:2] == ["#", "SUSPICION"]
    suspicions = [float(line.split()[1]) for line in table[1:]]
    assert len(suspicions) == N_CT and suspicions == sorted(suspicions, reverse=True)
    assert f"skipped ({N_SKIPPED}):" in out and "other_modality:" in out
    assert f"medviewer triage report --results {results}" in out
    assert "not a diagnosis" in out


def test_an_fp32_run_over_bfloat16_rows_says_they_were_kept(archive, tmp_path, capsys):
    results = tmp_path / "bf16.sqlite"
    code, _, err = _run(capsys, *_triage(archive, results, "--precision", "bf16"))
    assert code == 0, err
    code, out, err = _run(capsys, *_triage(archive, results, "--precision", "fp32"))
    assert code == 0, err
    assert f"0 series classified, {N_CT} already stored" in out
    assert f"note: {N_CT} stored series were classified in bfloat16 and were kept" in out


# -- the report --------------------------------------------------------------------------------
def test_report_text_sorted_by_suspicion(triaged, capsys):
    results, _ = triaged
    code, out, err = _run(capsys, "triage", "report", "--results", results)
    assert code == 0, err
    assert out.startswith(f"{results}: results of tiny-triage 1.0.0 (sha256 ")
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("   #  SUSPICION"))
    ranks = [line.split() for line in lines[start + 1 : start + 1 + N_CT]]
    assert [int(r[0]) for r in ranks] == list(range(1, N_CT + 1))
    suspicions = [float(r[1]) for r in ranks]
    assert suspicions == sorted(suspicions, reverse=True)
    assert f"skipped ({N_SKIPPED}):" in out and "not a diagnosis" in out


def test_report_csv_and_json_sorted_by_suspicion(triaged, tmp_path, capsys):
    results, _ = triaged
    code, out, err = _run(capsys, "triage", "report", "--results", results, "--csv")
    assert code == 0, err
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) == N_CT
    values = [float(r["suspicion"]) for r in table]
    assert values == sorted(values, reverse=True)
    assert {"p(normal)", "p(lesion)", "patient_id", "study_date", "flagged"} <= set(table[0])

    target = tmp_path / "out" / "worklist.csv"
    code, out, err = _run(capsys, "triage", "report", "--results", results, "--csv", target)
    assert code == 0 and out == "" and f"wrote {N_CT} series to {target}" in err
    assert list(csv.DictReader(target.open())) == table

    code, out, err = _run(capsys, "triage", "report", "--results", results, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"results_file", "model", "models", "summary", "results", "skipped"}
    assert [r["suspicion"] for r in doc["results"]] == values
    assert [r["rank"] for r in doc["results"]] == list(range(1, N_CT + 1))
    assert doc["summary"]["series"] == N_CT and len(doc["skipped"]) == N_SKIPPED
    assert {s["code"] for s in doc["skipped"]} == {"other_modality", "unreadable", "not_image"}

    code, out, _ = _run(capsys, "triage", "report", "--results", results, "--json", "--limit", 3)
    assert [r["suspicion"] for r in json.loads(out)["results"]] == values[:3]


# -- another model -----------------------------------------------------------------------------
def test_results_of_another_model_are_asked_about_not_overwritten(
    triaged, archive, tmp_path, capsys
):
    results = _copy(triaged[0], tmp_path)
    before = _fingerprint(results)
    old_rows = _rows(results)
    args = [a if a != MODEL else OTHER_MODEL for a in _triage(archive, results)]
    code, out, err = _run(capsys, *args)
    assert code == 1 and out == ""
    line = _one_line(err)
    assert line.startswith(f"medviewer triage: {results} holds results of tiny-triage 1.0.0 ")
    assert line.endswith(
        f"use --rerun-other-model to add results of {OTHER_MODEL} beside them, or another "
        "--results file"
    )
    assert _fingerprint(results) == before

    code, out, err = _run(capsys, *args, "--rerun-other-model", "--json")
    assert code == 0, err
    assert json.loads(out)["done"] == N_CT
    sha1 = old_rows[0]["model"]["sha256"]
    assert _rows(results, sha1) == old_rows  # the old results untouched
    code, out, _ = _run(capsys, "triage", "report", "--results", results)
    assert "results of tiny-triage 2.0.0" in out.splitlines()[0]
    assert "also holds results of tiny-triage 1.0.0" in out
    code, out, _ = _run(
        capsys, "triage", "report", "--results", results, "--model", MODEL, "--json"
    )
    assert json.loads(out)["model"]["version"] == "1.0.0"
    code, _, err = _run(capsys, "triage", "report", "--results", results, "--model", "nope")
    assert code == 1 and "holds no results of nope" in _one_line(err)


# -- places that cannot be used ----------------------------------------------------------------
def test_disk_full_stops_cleanly_and_the_next_run_goes_on(archive, tmp_path, capsys, monkeypatch):
    from dataclasses import replace

    results = tmp_path / "results.sqlite"
    real_add = ResultsStore.add
    calls = []

    def add_until_full(store, result):
        calls.append(result.series_key)
        if len(calls) == 3:  # the disk fills up: a real SQLITE_FULL inside the real add
            pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
            store.conn.execute(f"PRAGMA max_page_count = {pages}")
            result = replace(result, warnings=["x" * 50_000])
        return real_add(store, result)

    monkeypatch.setattr(ResultsStore, "add", add_until_full)
    code, out, err = _run(capsys, *_triage(archive, results))
    assert code == 1 and out == ""
    line = _one_line(err)
    assert "is full; free some space and run again to go on" in line
    assert "the 2 result(s) stored before are kept" in line
    assert len(_rows(results)) == 2

    monkeypatch.setattr(ResultsStore, "add", real_add)
    code, out, err = _run(capsys, *_triage(archive, results, "--json"))
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["done"], doc["already"]) == (N_CT - 2, 2)
    assert len(_rows(results)) == N_CT


def test_read_only_results_folder_exits_1_before_any_work(archive, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):  # root ignores permission bits: refuse it anyway
            real = os.access
            monkeypatch.setattr(
                os,
                "access",
                lambda p, m, *a, **k: False if Path(p) == folder and m & os.W_OK else real(p, m),
            )
        code, out, err = _run(capsys, *_triage(archive, folder / "r.sqlite"))
        assert code == 1 and out == ""
        assert "is read-only" in _one_line(err) and "nothing was written" in err
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o755)


def test_failures_exit_1_with_one_line(archive, tmp_path, capsys):
    code, _, err = _run(capsys, *_triage(archive, tmp_path / "r.sqlite", "--model", "nope:9"))
    assert code == 1 and "nope" in _one_line(err)
    assert not (tmp_path / "r.sqlite").exists()
    code, _, err = _run(capsys, "triage", tmp_path / "missing", "--results", tmp_path / "r")
    assert code == 1 and "no such file or folder" in _one_line(err)
    code, _, err = _run(capsys, "triage", "report", "--results", tmp_path / "none.sqlite")
    assert code == 1 and "no triage results at" in _one_line(err)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"\x07" * 500)
    code, _, err = _run(capsys, "triage", "report", "--results", garbage)
    assert code == 1 and "not a triage results file" in _one_line(err)
    with pytest.raises(ResultsStoreError):  # the same through the store
        ResultsStore(garbage, read_only=True)


@pytest.mark.parametrize(
    "args",
    [
        ["triage"],
        ["triage", "report", "--csv", "--json"],
        ["triage", "report", "--limit", "0"],
        ["triage", ".", "--workers", "0"],
        ["triage", ".", "--batch-size", "x"],
        ["triage", ".", "--device", "tpu"],
        ["triage", "run"],
        ["triage", "report", "extra"],
    ],
)
def test_usage_errors_exit_2(args, capsys):
    code, out, err = _run(capsys, *args)
    assert code == 2 and out == ""
    assert "error:" in err


def test_triage_path_means_triage_run():
    assert with_default_action(["triage", "/data"]) == ["triage", "run", "/data"]
    assert with_default_action(["-v", "triage", "--json", "x"]) == [
        "-v",
        "triage",
        "run",
        "--json",
        "x",
    ]
    assert with_default_action(["triage", "./report"]) == ["triage", "run", "./report"]
    for argv in (
        ["triage", "report"],
        ["triage", "run", "x"],
        ["triage", "-h"],
        ["triage"],
        ["inspect", "x"],
        [],
    ):
        assert with_default_action(argv) == argv
