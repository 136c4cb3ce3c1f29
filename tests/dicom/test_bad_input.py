"""Bad files never stop a scan: each becomes one skipped entry with a code and a reason."""

import builtins
import errno
import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000Lossless, RLELossless

from medviewer.dicom import headers, load_volume, scan
from medviewer.dicom import volume as volume_module
from medviewer.dicom.model import (
    CORRUPT,
    NO_PIXEL_DATA,
    NOT_DICOM,
    SLICE_UNREADABLE,
    UNREADABLE,
    UNSUPPORTED_SYNTAX,
)
from medviewer.testing.synthetic import make_dataset


def _fragment_start(data: bytes) -> int:
    """Offset of the first pixel data fragment (after the basic offset table item)."""
    item = b"\xfe\xff\x00\xe0"
    bot = data.index(item, data.index(b"\xe0\x7f\x10\x00"))
    return data.index(item, bot + 8) + 8


def test_every_bad_file_is_skipped_once_with_the_right_code(
    tmp_path, stack_writer, testdata, monkeypatch
):
    folder = tmp_path / "study"
    native = stack_writer(folder, n=4, names=[f"ct{k}.dcm" for k in range(4)])
    j2k = stack_writer(
        folder,
        n=3,
        transfer_syntax=JPEG2000Lossless,
        study_uid=native.study_uid,
        names=[f"j2k{k}.dcm" for k in range(3)],
        seed=1,
    )
    spare_native = stack_writer(tmp_path / "spare", n=1, seed=2).paths[0]
    spare_j2k = stack_writer(
        tmp_path / "spare2", n=1, seed=3, transfer_syntax=JPEG2000Lossless
    ).paths[0]

    (folder / "empty.dcm").write_bytes(b"")
    # a DICM marker followed by rubbish: damaged, not a harmless report without an image
    (folder / "garbage.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"garbage" * 10)
    (folder / "notes.txt").write_text("Patient called, report to follow.\n" * 20)
    data = Path(spare_native).read_bytes()
    (folder / "cut_native.dcm").write_bytes(data[: len(data) - 700])  # inside the pixel data
    data = Path(spare_j2k).read_bytes()
    (folder / "cut_j2k.dcm").write_bytes(data[: _fragment_start(data) + 40])
    shutil.copy(testdata("rtstruct.dcm"), folder / "rtstruct.dcm")
    shutil.copy(testdata("reportsi.dcm"), folder / "report.dcm")
    # A private compressed transfer syntax nobody can decode, with real encapsulated data.
    ds = make_dataset(np.zeros((16, 16), np.int16), transfer_syntax=RLELossless)
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.5"
    ds.save_as(
        folder / "private_ts.dcm", enforce_file_format=True, implicit_vr=False, little_endian=True
    )
    locked = folder / "locked.dcm"
    shutil.copy(native.paths[0], locked)
    os.chmod(locked, 0)
    if os.access(locked, os.R_OK):  # root (or Windows) still reads it: simulate the denial
        real_open = builtins.open

        def denying_open(file, *args, **kwargs):
            if os.fspath(file) == str(locked):
                raise PermissionError(errno.EACCES, "Permission denied", str(locked))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(headers, "open", denying_open, raising=False)

    try:
        result = scan([folder])
    finally:
        os.chmod(locked, 0o644)

    codes = {os.path.basename(s.path): s.code for s in result.skipped}
    assert codes == {
        "empty.dcm": NOT_DICOM,
        "garbage.dcm": CORRUPT,
        "notes.txt": NOT_DICOM,
        "cut_native.dcm": CORRUPT,
        "cut_j2k.dcm": CORRUPT,
        "rtstruct.dcm": NO_PIXEL_DATA,
        "report.dcm": NO_PIXEL_DATA,
        "private_ts.dcm": UNSUPPORTED_SYNTAX,
        "locked.dcm": UNREADABLE,
    }
    assert len(result.skipped) == len(codes)  # one entry per file
    for skipped in result.skipped:
        assert skipped.reason.strip() and "\n" not in skipped.reason, skipped
        assert "Traceback" not in skipped.reason
    assert "1.2.3.4.5" in [s.reason for s in result.skipped if s.code == UNSUPPORTED_SYNTAX][0]
    assert "truncated" in [s.reason for s in result.skipped if s.path.endswith("cut_native.dcm")][0]
    reason = [s.reason for s in result.skipped if s.path.endswith("garbage.dcm")][0]
    assert "no (0008,0016) SOP Class UID" in reason and "copy the file again" in reason

    series = {s.series_uid: s for s in result.all_series()}
    assert set(series) == {native.series_uid, j2k.series_uid}
    for truth in (native, j2k):
        volume = load_volume(series[truth.series_uid])
        assert np.array_equal(volume.array, truth.values)
        assert volume.warnings == []


def test_missing_decoder_plugin_is_unsupported_syntax(tmp_path, stack_writer, monkeypatch):
    truth = stack_writer(tmp_path, n=2, transfer_syntax=JPEG2000Lossless)
    import pydicom.pixels

    real = pydicom.pixels.get_decoder

    class Unavailable:
        is_available = False

    def get_decoder(uid):
        return Unavailable() if uid == JPEG2000Lossless else real(uid)

    monkeypatch.setattr(pydicom.pixels, "get_decoder", get_decoder)
    result = scan([tmp_path])
    assert result.all_series() == []
    assert sorted(s.path for s in result.skipped) == sorted(truth.paths)
    for skipped in result.skipped:
        assert skipped.code == UNSUPPORTED_SYNTAX
        assert "no decoder installed" in skipped.reason


def test_compressed_slice_that_fails_to_decode_is_dropped(tmp_path, stack_writer):
    truth = stack_writer(tmp_path, n=5, transfer_syntax=JPEG2000Lossless, step=2.0)
    damaged = truth.paths[4]
    data = bytearray(Path(damaged).read_bytes())
    start = _fragment_start(bytes(data))
    assert data[start : start + 2] == b"\xff\x4f"  # JPEG 2000 start of codestream
    data[start : start + 16] = bytes(16)  # the DICOM structure stays intact
    Path(damaged).write_bytes(bytes(data))

    result = scan([tmp_path])
    assert result.skipped == []  # the header is fine: only decoding can tell
    (series,) = result.all_series()
    volume = load_volume(series)

    assert volume.array.shape == (4, 32, 32)
    assert np.array_equal(volume.array, truth.values[:4])
    codes = [w.code for w in volume.warnings]
    assert codes == [SLICE_UNREADABLE]
    assert os.path.basename(damaged) in volume.warnings[0].message
    assert volume.geometry.spacing[0] == pytest.approx(2.0)


def test_decoder_panic_is_contained_to_its_slice(tmp_path, stack_writer, monkeypatch):
    """The Rust decoders raise pyo3's PanicException, a BaseException, on some damaged data."""
    truth = stack_writer(tmp_path, n=4, transfer_syntax=RLELossless)
    (series,) = scan([tmp_path]).all_series()

    class PanicException(BaseException):
        pass

    real = volume_module._SliceReader._read_decoded

    def panicking(self, ref):
        if ref.path == truth.paths[0]:
            raise PanicException("index out of bounds: the len is 2048 but the index is 2048")
        return real(self, ref)

    monkeypatch.setattr(volume_module._SliceReader, "_read_decoded", panicking)
    volume = load_volume(series)
    assert np.array_equal(volume.array, truth.values[1:])
    assert [w.code for w in volume.warnings] == [SLICE_UNREADABLE]
    assert "index out of bounds" in volume.warnings[0].message


def test_keyboard_interrupt_is_not_swallowed(tmp_path, stack_writer, monkeypatch):
    stack_writer(tmp_path, n=3, transfer_syntax=RLELossless)
    (series,) = scan([tmp_path]).all_series()

    def interrupted(self, ref):
        raise KeyboardInterrupt

    monkeypatch.setattr(volume_module._SliceReader, "_read_decoded", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_volume(series)


def test_header_damage_in_a_good_looking_file(tmp_path, stack_writer):
    truth = stack_writer(tmp_path, n=3)
    ds = pydicom.dcmread(truth.paths[0])
    del ds.Rows
    ds.save_as(truth.paths[0])
    result = scan([tmp_path])
    assert [(s.path, s.code) for s in result.skipped] == [(truth.paths[0], CORRUPT)]
    assert "Rows" in result.skipped[0].reason
    (series,) = result.all_series()
    assert np.array_equal(load_volume(series).array, truth.values[1:])
