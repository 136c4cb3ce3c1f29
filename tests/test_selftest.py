"""``medviewer selftest``: every check passes here, and every kind of failure is a FAIL line."""

import json
import shutil
import time

import pytest

from medviewer import cli, selftest
from medviewer.ai.registry import ModelRegistry
from medviewer.cli import main
from medviewer.selftest import Check, CheckFailed, Context, run_check, run_selftest
from medviewer.settings import Settings, save_settings


def test_selftest_passes_on_this_installation_and_prints_one_json_object(capsys):
    assert main(["selftest", "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out)  # exactly one object: anything else on stdout breaks this
    assert report["ok"] is True
    names = [c["name"] for c in report["checks"]]
    for name in (
        "python",
        "packages",
        "qt window",
        "dicom decoders",
        "dicom decoding",
        "decoder process",
        "sample study",
        "torch device",
        "bundled models",
        "model headct-lesions:1.0.0",
        "model headct-lesions:2.0.0",
        "grad-cam",
        "label store",
        "log file",
    ):
        assert name in names, name
    assert all(c["ok"] and c["detail"] and c["seconds"] >= 0 for c in report["checks"])
    checks = {c["name"]: c for c in report["checks"]}
    assert "sha256 7c840a03f6f3" in checks["model headct-lesions:1.0.0"]["detail"]
    assert checks["packages"]["data"]["versions"]["torch"].startswith("2.")
    assert checks["dicom decoders"]["data"]["syntaxes"]["1.2.840.10008.1.2.4.90"]["available"]


def test_what_a_check_raises_becomes_a_fail_with_its_text():
    def boom(ctx):
        raise RuntimeError("the decoder exploded\nsecond line")

    def refused(ctx):
        raise CheckFailed("the folder /x is read-only", "choose another folder")

    def slow(ctx):
        time.sleep(3)

    checks = [
        Check("fine", lambda ctx: "all good", "n/a"),
        Check("boom", boom, "reinstall it"),
        Check("refused", refused, "unused"),
        Check("slow", slow, "wait less"),
    ]
    report = run_selftest(checks, timeout=0.3)
    assert not report.ok
    fine, raised, failed, hung = report.checks
    assert fine.ok and fine.line().startswith("PASS  fine")
    assert not raised.ok
    assert raised.detail == "unexpected error (RuntimeError: the decoder exploded)"
    assert raised.line().endswith("— what to do: reinstall it [0.0 s]")
    assert failed.hint == "choose another folder" and "read-only" in failed.line()
    assert not hung.ok and "did not finish within 0.3 s" in hung.detail
    assert "3 of 4 checks FAILED (boom, refused, slow)" in report.summary()
    json.dumps(report.to_dict())


def test_a_failing_check_makes_the_command_exit_1_with_what_to_do(monkeypatch, capsys):
    def refused(ctx):
        raise CheckFailed("the label store folder is read-only", "choose another store")

    monkeypatch.setattr(selftest, "core_checks", lambda window=None: [Check("store", refused, "x")])
    assert main(["selftest"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  store" in out and "what to do: choose another store" in out
    assert "Traceback" not in out
    assert main(["selftest", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["checks"][0]["hint"] == "choose another store"


def test_a_damaged_model_fails_its_check_by_sha256(tmp_path):
    bundled = ModelRegistry().find("headct-lesions:1.0.0").folder
    copy = tmp_path / "models" / "headct-lesions" / "1.0.0"
    shutil.copytree(bundled, copy)
    weights = copy / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    entry = ModelRegistry(bundled_dir=tmp_path / "models").find("headct-lesions:1.0.0")
    result = run_check(selftest.model_check(entry), Context())
    assert not result.ok
    assert "sha256" in result.detail and "does not match" in result.detail
    assert "reinstall" in result.hint


def test_a_missing_sample_and_an_unusable_store_say_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDVIEWER_RESOURCES", str(tmp_path / "no-resources"))
    result = run_check(Check("sample study", selftest.check_sample, "-"), Context())
    assert not result.ok and "sample study is missing" in result.detail
    assert "reinstall" in result.hint
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    save_settings(Settings(label_store=str(blocker / "labels.sqlite")))
    result = run_check(Check("label store", selftest.check_label_store, "-"), Context())
    assert not result.ok and f"{blocker} is a file, not a folder" in result.detail
    assert "choose a label store" in result.hint


@pytest.mark.parametrize("with_store", [False, True])
def test_the_label_store_check_never_creates_anything(tmp_path, with_store):
    store = tmp_path / "new" / "deeper" / "labels.sqlite"
    if with_store:
        from medviewer.labels.store import LabelStore

        store.parent.mkdir(parents=True)
        LabelStore(store).close()
    save_settings(Settings(label_store=str(store)))
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    result = run_check(Check("label store", selftest.check_label_store, "-"), Context())
    assert result.ok, result.detail
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    # an existing store is only read (SQLite may leave its -wal / -shm companions beside it)
    assert {p: b for p, b in after.items() if not p.name.endswith(("-wal", "-shm"))} == before
    assert store.exists() == with_store
    assert ("0 label(s)" in result.detail) == with_store


def test_the_window_check_reports_why_qt_is_missing(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_qt(name, *args, **kwargs):
        if name == "medviewer.qt.selftest":
            raise ImportError("libEGL.so.1: cannot open shared object file")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_qt)
    result = run_check(cli._window_check(), Context())
    assert not result.ok and "libEGL.so.1" in result.detail
