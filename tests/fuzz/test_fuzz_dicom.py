"""The fuzz harness in `make test`: its seeds, its regressions and a short seeded atheris run.

The long run is ``make fuzz``; this keeps the harness working and replays what it found.
"""

import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from medviewer.dicom.model import ScanResult
from medviewer.session.study import StudySession

from . import dicom_harness as harness

HERE = Path(__file__).parent
REGRESSIONS = HERE.parent / "dicom" / "fuzz_regressions"
SHORT_RUNS = 400


@pytest.fixture(scope="module")
def seeds():
    return harness.seed_inputs()


def _transfer_syntax(data: bytes) -> str:
    import pydicom

    try:
        ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data), force=True)
        return str(ds.file_meta.get("TransferSyntaxUID", ""))
    except Exception:  # some seeds are damaged on purpose
        return ""


def test_seeds_cover_the_transfer_syntaxes_and_pass(seeds, tmp_path):
    syntaxes = set()
    loaded = skipped = 0
    for data in seeds.values():
        syntaxes.update(_transfer_syntax(part) for part in harness.split_input(data))
        outcome = harness.check_input(data, tmp_path / "in")  # raises on a finding
        loaded += outcome.loaded
        skipped += len(outcome.skipped)
    expected = {
        "1.2.840.10008.1.2",  # implicit VR little endian
        "1.2.840.10008.1.2.1",  # explicit VR little endian
        "1.2.840.10008.1.2.2",  # explicit VR big endian
        "1.2.840.10008.1.2.1.99",  # deflated
        "1.2.840.10008.1.2.5",  # RLE
        "1.2.840.10008.1.2.4.50",  # JPEG baseline
        "1.2.840.10008.1.2.4.70",  # JPEG lossless
        "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
        "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
        "1.2.840.10008.1.2.4.91",  # JPEG 2000
    }
    assert expected <= syntaxes
    assert "sample_pair" in seeds and harness.split_input(seeds["sample_pair"])[1]
    assert loaded >= 40 and skipped >= 5


def test_regression_inputs_pass_the_harness(tmp_path):
    files = sorted(REGRESSIONS.glob("*.dcm"))
    assert files, f"no regression inputs in {REGRESSIONS}"
    for path in files:
        outcome = harness.check_input(path.read_bytes(), tmp_path / "in")
        assert outcome.series == 1 and outcome.loaded == 0, path.name
        assert "could be decoded" in outcome.load_errors[0], path.name


def test_split_input_round_trips_and_never_fails():
    files = [b"one", b"", b"three"]
    assert harness.split_input(harness.join_files(files)) == files
    assert harness.split_input(b"plain bytes") == [b"plain bytes"]
    assert harness.split_input(harness.MAGIC + b"\xff\xff\xff\xff tail") == [
        b"\xff\xff\xff\xff tail"
    ]
    assert len(harness.split_input(harness.join_files([b"x"] * 20))) == harness.MAX_FILES


def test_the_harness_reports_a_file_the_scan_lost(seeds, tmp_path, monkeypatch):
    def lossy_open(self, paths, cancel=None):
        self.scan_result = ScanResult()
        return self.scan_result
        yield  # a generator, like the real one

    monkeypatch.setattr(StudySession, "open_iter", lossy_open)
    with pytest.raises(harness.Finding, match="1 file.* written, but 0 skipped"):
        harness.check_input(seeds["synthetic_explicit_le_single"], tmp_path / "in")


def test_the_harness_lets_a_non_medviewer_error_escape(seeds, tmp_path, monkeypatch):
    def broken(series, cancel=None):
        raise ValueError("a bug")
        yield

    monkeypatch.setattr("medviewer.session.study.load_volume_iter", broken)
    with pytest.raises(ValueError, match="a bug"):
        harness.check_input(seeds["synthetic_explicit_le_single"], tmp_path / "in")


def test_short_seeded_atheris_run(tmp_path):
    pytest.importorskip("atheris")
    corpus, findings = tmp_path / "corpus", tmp_path / "findings"
    findings.mkdir()
    harness.write_seeds(corpus)
    n_seeds = len(os.listdir(corpus))
    # libFuzzer's memory limit reads the peak RSS, and Linux carries a parent's peak through
    # fork + exec: under the whole suite this pytest process alone peaks above 3 GB. So the
    # limit is 3 GB above what the child starts with, not 3 GB in all.
    inherited_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    cmd = [
        sys.executable,
        str(HERE / "fuzz_dicom.py"),
        str(corpus),
        f"-runs={SHORT_RUNS}",
        "-seed=1",
        "-timeout=60",
        f"-rss_limit_mb={inherited_mb + 3072}",
        f"-artifact_prefix={findings}{os.sep}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    tail = "\n".join(
        line
        for line in proc.stderr.splitlines()[-60:]
        if not line.startswith("INFO: Instrumenting")
    )
    assert proc.returncode == 0, (
        f"atheris found something ({sorted(os.listdir(findings))}):\n{tail}"
    )
    # What matters: every seed was loaded and run, then the fuzzer went on mutating until it
    # reached the run limit, and nothing was found. libFuzzer's final count is not exact (it
    # counts the seed runs on top, e.g. "Done 409 runs" for -runs=400), so only a floor.
    seeded = re.search(r"seed corpus: files: (\d+)", proc.stderr)
    assert seeded and int(seeded.group(1)) == n_seeds, tail
    assert re.search(r"^#\d+\s+INITED ", proc.stderr, re.MULTILINE), tail
    done = re.search(r"^Done (\d+) runs", proc.stderr, re.MULTILINE)
    assert done and int(done.group(1)) >= SHORT_RUNS, tail
    assert not os.listdir(findings)
