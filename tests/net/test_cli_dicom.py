"""``medviewer dicom``: nodes, echo, find, get, send and a foreground receiver, against Orthanc."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from medviewer.net.nodes import load_config
from tests.cli_run import run_cli
from tests.net.test_receive_send import _push


@pytest.fixture
def configured(pacs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MEDVIEWER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("MEDVIEWER_DATA_DIR", str(tmp_path / "data"))
    code, out, _ = run_cli(
        capsys, "dicom", "nodes", "add", "pacs", "ORTHANC", "127.0.0.1", pacs.server.dicom_port
    )
    assert code == 0 and "pacs: ORTHANC at 127.0.0.1" in out
    return tmp_path


def test_nodes_are_listed_changed_and_refused_in_plain_words(configured, capsys):
    code, out, _ = run_cli(capsys, "dicom", "nodes", "--json")
    assert code == 0 and json.loads(out)["nodes"][0]["ae_title"] == "ORTHANC"
    code, _, err = run_cli(capsys, "dicom", "nodes", "add", "bad", "A" * 20, "h", 104)
    assert code == 1 and "has 20 characters" in err
    # the same name again (any case) is refused, not silently replaced; --replace changes it
    code, _, err = run_cli(capsys, "dicom", "nodes", "add", "PACS", "OTHER", "127.0.0.1", 104)
    assert code == 1 and "already a node called pacs" in err
    assert load_config()[0].node("pacs").ae_title == "ORTHANC"
    port = load_config()[0].node("pacs").port
    code, out, _ = run_cli(
        capsys, "dicom", "nodes", "add", "pacs", "ORTHANC", "127.0.0.1", port, "--replace"
    )
    assert code == 0 and [n.name for n in load_config()[0].nodes] == ["pacs"]
    code, _, err = run_cli(capsys, "dicom", "echo", "nowhere")
    assert code == 1 and "no DICOM node called 'nowhere' (nodes: pacs)" in err
    code, out, _ = run_cli(capsys, "dicom", "nodes", "local", "--allow", "ORTHANC", "--port", 11112)
    assert code == 0 and "accepts from ORTHANC" in out
    assert load_config()[0].local.allowed_callers == ("ORTHANC",)
    code, out, _ = run_cli(capsys, "dicom", "nodes", "remove", "pacs")
    assert code == 0 and "no DICOM node configured" in out


def test_echo_find_get_send(pacs, configured, capsys):
    code, out, _ = run_cli(capsys, "dicom", "echo", "pacs", "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    series = pacs.series["rle"]
    code, out, _ = run_cli(capsys, "dicom", "find", "pacs", "--json")
    studies = json.loads(out)["matches"]
    assert code == 0 and series.study_uid in {m["study_uid"] for m in studies}
    code, out, _ = run_cli(capsys, "dicom", "find", "pacs")  # the table: every ID whole
    assert code == 0 and all(m["patient_id"] in out for m in studies if m["patient_id"])
    code, out, err = run_cli(capsys, "dicom", "find", "pacs", "--study", series.study_uid)
    assert code == 0 and series.series_uid in out and "1 series found" in err
    code, _, err = run_cli(capsys, "dicom", "find", "pacs", "--date", "2026-99")
    assert code == 1 and "not a date" in err
    to = configured / "got"
    code, out, _ = run_cli(
        capsys, "dicom", "get", "pacs", "--study", series.study_uid, "--to", to, "--json"
    )
    got = json.loads(out)
    assert code == 0 and got["stored"] == len(series.slices) and got["method"] == "get"
    assert len(list(to.rglob("*.dcm"))) == len(series.slices)
    code, out, _ = run_cli(capsys, "dicom", "send", "pacs", to, "--json")
    assert code == 0 and json.loads(out)["sent"] == len(series.slices)
    code, _, err = run_cli(capsys, "dicom", "send", "pacs", configured / "missing")
    assert code == 1 and "no such file or folder" in err


def test_a_refused_echo_exits_1_with_the_reason(pacs, configured, capsys):
    from medviewer.testing.orthanc import free_port

    run_cli(capsys, "dicom", "nodes", "add", "closed", "X", "127.0.0.1", free_port())
    code, out, _ = run_cli(capsys, "dicom", "echo", "closed")
    assert code == 1 and out.startswith("failed:") and "connection refused" in out
    assert out.count("failed") == 1 and "is the node running" in out  # and what to check


def test_a_failed_echo_says_why_in_one_line_without_the_librarys_log(tmp_path):
    # pynetdicom logs its own "TCP Initialisation Error" lines: they go to the log file,
    # not onto the terminal beside medviewer's own message (-v shows them)
    from medviewer.testing.orthanc import free_port

    env = {
        **os.environ,
        "MEDVIEWER_CONFIG_DIR": str(tmp_path / "config"),
        "MEDVIEWER_LOG_DIR": str(tmp_path / "logs"),
    }
    base = [sys.executable, "-m", "medviewer", "dicom"]
    port = str(free_port())
    add = subprocess.run([*base, "nodes", "add", "closed", "X", "127.0.0.1", port], env=env)
    assert add.returncode == 0
    run = subprocess.run([*base, "echo", "closed"], env=env, capture_output=True, text=True)
    assert run.returncode == 1 and "connection refused" in run.stdout + run.stderr
    assert "pynetdicom" not in run.stderr, run.stderr
    assert "pynetdicom" in (tmp_path / "logs" / "medviewer.log").read_text()
    loud = [sys.executable, "-m", "medviewer", "-v", "dicom", "echo", "closed"]
    loud = subprocess.run(loud, env=env, capture_output=True, text=True)
    assert "pynetdicom" in loud.stderr


def test_the_foreground_receiver_stores_what_orthanc_pushes(pacs, tmp_path):
    to = tmp_path / "received"
    env = {**os.environ, "MEDVIEWER_CONFIG_DIR": str(tmp_path / "config")}
    cmd = [sys.executable, "-m", "medviewer", "dicom", "receive", "--port", str(pacs.receiver_port)]
    cmd += ["--bind", "127.0.0.1", "--allow", "ORTHANC", "--to", str(to), "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while b"receiving" not in (proc.stderr.peek() if hasattr(proc.stderr, "peek") else b""):
            line = proc.stderr.readline()
            if "receiving as MEDVIEWER" in line or time.monotonic() > deadline:
                break
        series = pacs.series["native"]
        _push(pacs.server, series.series_uid)
        events = [json.loads(proc.stdout.readline()) for _ in series.slices]
        assert {e["kind"] for e in events} == {"stored"}
        assert len(list(to.rglob("*.dcm"))) == len(series.slices)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"{len(series.slices)} instance(s) stored" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20250101", ("20250101", "20250101")),
        ("2025-01-01", ("20250101", "20250101")),  # ISO: one day, not "2025" to "01-01"
        ("2025-01-01-2025-12-31", ("20250101", "20251231")),
        ("20250101-", ("20250101", "")),
        ("-2025-12-31", ("", "20251231")),
    ],
)
def test_find_dates_may_be_iso(text, expected):
    from medviewer.cli.dicom_net import _date_range

    assert _date_range(text) == expected
