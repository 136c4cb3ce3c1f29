"""Inputs the coverage-guided fuzzer (tests/fuzz/fuzz_dicom.py) found, and what they must do.

Each file in ``fuzz_regressions/`` is a minimised input that once crashed or hung the viewer;
``fuzz_regressions/README.md`` says how each was found and shrunk. Every one now becomes a
clear outcome: a load error with a reason, or, beside good slices, a ``slice_unreadable``
warning while the other slices load.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000Lossless

from medviewer.dicom import decoders, load_volume, scan
from medviewer.dicom.model import SLICE_UNREADABLE
from medviewer.errors import DicomError

HERE = Path(__file__).parent / "fuzz_regressions"
GDCM_ABORT = HERE / "gdcm_abort_j2k.dcm"
JP2_ZERO_BOX = HERE / "jp2_zero_length_box.dcm"


def _gdcm_available() -> bool:
    from pydicom.pixels import get_decoder

    return "gdcm" in get_decoder(JPEG2000Lossless).available_plugins


def _stack_with_one_bad_slice(tmp_path, stack_writer, bad_file: Path, k_bad: int = 1):
    """A 4-slice JPEG 2000 stack whose slice ``k_bad`` carries ``bad_file``'s pixel data."""
    bad = pydicom.dcmread(bad_file)
    truth = stack_writer(
        tmp_path / "stack",
        n=4,
        rows=int(bad.Rows),
        cols=int(bad.Columns),
        transfer_syntax=JPEG2000Lossless,
        seed=5,
    )
    ds = pydicom.dcmread(truth.paths[k_bad])
    ds.PixelData = bad.PixelData
    ds.save_as(truth.paths[k_bad], enforce_file_format=True)
    return truth


def test_plain_pydicom_really_aborts_on_the_gdcm_input():
    """The input still triggers the bug it stands for: pydicom (GDCM first) kills the process."""
    if not _gdcm_available():
        pytest.skip("python-gdcm is not installed: nothing to abort")
    code = (
        "import sys, warnings, pydicom; warnings.simplefilter('ignore'); "
        "pydicom.dcmread(sys.argv[1]).pixel_array"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(GDCM_ABORT)], capture_output=True, timeout=120
    )
    assert proc.returncode < 0  # killed by a signal (SIGABRT), not a Python exception


def test_gdcm_abort_becomes_a_load_error(tmp_path):
    shutil.copy(GDCM_ABORT, tmp_path / "IM0001.dcm")
    result = scan([tmp_path])
    assert result.skipped == []  # the header is fine; only the pixel data is damaged
    (series,) = result.all_series()
    with pytest.raises(DicomError, match=r"no slice of series .* could be decoded.*IM0001\.dcm"):
        load_volume(series)


def test_gdcm_runs_isolated_and_its_crash_is_reported():
    if not _gdcm_available():
        pytest.skip("python-gdcm is not installed")
    ds = decoders.read_dataset(str(GDCM_ABORT))
    with pytest.raises(DicomError) as info:
        decoders.pixel_array(ds, str(GDCM_ABORT))
    message = str(info.value)
    assert "the file may be damaged" in message
    assert "pylibjpeg:" in message  # tried first, in this process
    assert "gdcm: the decoder crashed on it (signal SIGABRT)" in message
    # The dead child is gone; the next file that needs GDCM starts a fresh one.
    assert decoders._ISOLATED._proc is None


def test_gdcm_abort_in_one_slice_leaves_the_others(tmp_path, stack_writer):
    truth = _stack_with_one_bad_slice(tmp_path, stack_writer, GDCM_ABORT, k_bad=0)
    (series,) = scan([truth.folder]).all_series()
    volume = load_volume(series)
    assert volume.array.shape[0] == 3
    assert np.array_equal(volume.array, truth.values[1:])
    assert [w.code for w in volume.warnings] == [SLICE_UNREADABLE]
    assert Path(truth.paths[0]).name in volume.warnings[0].message


@pytest.mark.timeout(120)
def test_jp2_box_of_length_zero_is_refused_not_looped(tmp_path):
    shutil.copy(JP2_ZERO_BOX, tmp_path / "IM0001.dcm")
    (series,) = scan([tmp_path]).all_series()
    with pytest.raises(DicomError, match=r"JP2 box of length 0 at byte 40.*damaged"):
        load_volume(series)


@pytest.mark.timeout(120)
def test_jp2_box_of_length_zero_in_one_slice_leaves_the_others(tmp_path, stack_writer):
    truth = _stack_with_one_bad_slice(tmp_path, stack_writer, JP2_ZERO_BOX, k_bad=3)
    (series,) = scan([truth.folder]).all_series()
    volume = load_volume(series)
    assert np.array_equal(volume.array, truth.values[:3])
    assert [w.code for w in volume.warnings] == [SLICE_UNREADABLE]
    assert "JP2 box of length 0" in volume.warnings[0].message


def test_good_jpeg2000_still_decodes_in_process(tmp_path, stack_writer):
    """pylibjpeg decodes good data here; the isolated GDCM child is not even started."""
    decoders._ISOLATED.close()
    truth = stack_writer(tmp_path, n=3, transfer_syntax=JPEG2000Lossless, seed=7)
    (series,) = scan([tmp_path]).all_series()
    assert np.array_equal(load_volume(series).array, truth.values)
    assert decoders._ISOLATED._proc is None


def test_isolated_decoder_that_does_not_answer_is_killed_and_replaced(
    tmp_path, stack_writer, monkeypatch
):
    if not _gdcm_available():
        pytest.skip("python-gdcm is not installed")
    good = stack_writer(tmp_path, n=1, transfer_syntax=JPEG2000Lossless, seed=8).paths[0]
    isolated = decoders._IsolatedDecoder()
    monkeypatch.setattr(decoders, "ISOLATED_TIMEOUT_S", 0.001)  # no child answers that fast
    with pytest.raises(DicomError, match="did not finish within"):
        isolated.decode(good, str(JPEG2000Lossless), "gdcm")
    assert isolated._proc is None  # killed, not left running
    monkeypatch.setattr(decoders, "ISOLATED_TIMEOUT_S", 60.0)
    try:
        values = isolated.decode(good, str(JPEG2000Lossless), "gdcm")  # a fresh child
    finally:
        isolated.close()
    assert np.array_equal(values, pydicom.dcmread(good).pixel_array)
