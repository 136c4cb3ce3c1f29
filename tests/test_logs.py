"""The log file: where it lives, what the command line writes to it, and no patient values."""

import logging
import shutil

import platformdirs
import pydicom
import pytest

from medviewer import logs, phi
from medviewer.cli import main
from medviewer.resources import sample_study_dir


@pytest.fixture(autouse=True)
def _fresh_logging():
    logs.reset_logging()
    phi.REGISTRY.clear()
    yield
    logs.reset_logging()
    phi.REGISTRY.clear()


def sample_patient_values() -> list[str]:
    """The sample's identifying values as stored, and each part of its patient name."""
    ds = pydicom.dcmread(sorted(sample_study_dir().glob("*.dcm"))[0], stop_before_pixels=True)
    values = [str(ds.PatientName), str(ds.PatientID)]
    values += [str(ds.get(k)) for k in ("PatientBirthDate", "OtherPatientIDs") if ds.get(k)]
    values += [part for part in str(ds.PatientName).split("^") if len(part) >= 3]
    assert "Anonymous^Cranium" in values and "MV-SAMPLE-0001" in values
    return values


def test_log_dir_follows_the_overrides_then_platformdirs(monkeypatch, tmp_path):
    monkeypatch.delenv("MEDVIEWER_LOG_DIR")
    data = tmp_path / "data"
    monkeypatch.setenv("MEDVIEWER_DATA_DIR", str(data))
    assert logs.log_path() == data / "logs" / "medviewer.log"
    monkeypatch.setenv("MEDVIEWER_LOG_DIR", str(tmp_path / "elsewhere"))
    assert logs.log_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("MEDVIEWER_LOG_DIR")
    monkeypatch.delenv("MEDVIEWER_DATA_DIR")
    assert str(logs.log_dir()) == platformdirs.user_log_dir("medviewer")


def test_configure_writes_medviewer_debug_and_rotates(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDVIEWER_LOG_DIR", str(tmp_path))
    monkeypatch.setattr(logs, "MAX_BYTES", 4000)
    path = logs.configure_logging(what="test")
    assert path == tmp_path / "medviewer.log"
    logging.getLogger("medviewer.dicom.scan").debug("debug detail %d", 1)
    logging.getLogger("some.library").info("library chatter")  # not medviewer, not a warning
    logging.getLogger("some.library").warning("library warning")
    for i in range(100):
        logging.getLogger("medviewer.test").info("line %03d of a long run of log lines", i)
    assert (tmp_path / "medviewer.log.1").is_file()
    text = "".join(p.read_text() for p in sorted(tmp_path.glob("medviewer.log*")))
    assert "started (test)" in text and "debug detail 1" in text and "library warning" in text
    assert "library chatter" not in text
    assert "line 099" in logs.log_tail(max_lines=3)
    # configuring again replaces the handler: nothing is written twice
    logs.configure_logging()
    logging.getLogger("medviewer.test").warning("once")
    assert logs.log_tail().count("once") == 1


def test_an_unwritable_log_folder_is_no_reason_to_fail(monkeypatch, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MEDVIEWER_LOG_DIR", str(blocker / "logs"))
    assert main(["inspect", str(sample_study_dir())]) == 0
    assert logs.current_log_file() is None
    assert "Head CT" in capsys.readouterr().out


def _patient_folder(tmp_path):
    """Part of the sample in a folder named after its patient, one slice's pixels damaged."""
    folder = tmp_path / "Anonymous^Cranium MV-SAMPLE-0001"
    folder.mkdir()
    for src in sorted(sample_study_dir().glob("*.dcm"))[50:60]:
        shutil.copy(src, folder / src.name)
    damaged = folder / "IM0055.dcm"
    data = bytearray(damaged.read_bytes())
    start = data.find(b"\xff\x4f\xff\x51")  # JPEG 2000 SOC + SIZ: break the image header
    data[start + 4 : start + 44] = bytes(40)
    damaged.write_bytes(bytes(data))
    return folder


def test_the_command_line_on_the_sample_logs_no_patient_value(tmp_path, capsys):
    folder = _patient_folder(tmp_path)
    assert main(["-v", "inspect", str(sample_study_dir()), str(folder)]) == 0
    assert "MV-SAMPLE-0001" in capsys.readouterr().out  # the user sees it; the log must not
    assert main(["-v", "infer", "--json", str(folder)]) == 0
    out = capsys.readouterr()
    assert '"slices"' in out.out and "slice_unreadable" in out.err
    text = logs.log_path().read_text(encoding="utf-8")
    assert "started (inspect)" in text and "started (infer)" in text
    # the decoders logged the damaged file by its path, which names the patient
    damaged = [line for line in text.splitlines() if "IM0055.dcm" in line]
    assert damaged and all(phi.PLACEHOLDER in line for line in damaged)
    for value in sample_patient_values():
        assert value.lower() not in text.lower(), value
