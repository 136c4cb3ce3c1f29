"""Loading voxels: rescale, bit depths, encodings, multi-frame, colour, progress, memory."""

import os
import tracemalloc

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_color_lut, apply_modality_lut
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)

from medviewer.dicom import Volume, load_volume, load_volume_iter, scan
from medviewer.dicom.model import LOSSY_COMPRESSION, MISSING_POSITION, SLICE_UNREADABLE
from medviewer.errors import Cancelled, DicomError
from medviewer.jobs import CancelToken, run_job
from medviewer.testing.synthetic import write_series

NATIVE_AND_RLE = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian, RLELossless]


def _ts_id(ts) -> str:
    return ts.name.replace(" ", "-")


def _load_only(paths):
    result = scan(paths if isinstance(paths, list) else [paths])
    assert result.skipped == []
    (series,) = result.all_series()
    return series, load_volume(series)


# --- rescale ------------------------------------------------------------------------------------


def test_ct_int16_with_intercept_is_exact_and_never_float(tmp_path):
    truth = write_series(tmp_path, n_slices=16, rows=128, cols=128)  # int16 stored, -1024
    result = scan([tmp_path])
    (series,) = result.all_series()

    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    try:
        volume = load_volume(series)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        if not tracing:
            tracemalloc.stop()

    assert volume.array.dtype == np.int16
    assert volume.array.nbytes == 16 * 128 * 128 * 2
    assert np.array_equal(volume.array, truth.values)
    assert int(volume.array.min()) < -900  # air really is in HU, not stored values
    assert volume.units == "HU"
    # The volume plus small per-slice buffers; one float64 copy would be 4x the volume.
    assert peak < 1.25 * volume.array.nbytes, f"peak {peak} B for a {volume.array.nbytes} B volume"


def test_unsigned_stored_with_intercept_gives_int16(tmp_path):
    truth = write_series(tmp_path, n_slices=4, rows=32, cols=32, stored_dtype=np.uint16)
    series, volume = _load_only(tmp_path)
    assert series.pixel_format.stored_dtype == np.uint16
    assert volume.array.dtype == np.int16
    assert np.array_equal(volume.array, truth.values)
    assert volume.array.min() < 0


def test_non_integer_slope_gives_float32(tmp_path, stack_writer):
    rng = np.random.default_rng(3)
    hu = rng.integers(-1000, 3000, (4, 32, 32)) + rng.choice([0.0, 0.25, 0.5, 0.75], (4, 32, 32))
    truth = stack_writer(tmp_path, hu, slope=0.25, intercept=-1024.5)
    _, volume = _load_only(tmp_path)
    assert np.array_equal(truth.values, hu)
    assert volume.array.dtype == np.float32
    assert np.allclose(volume.array, truth.values, rtol=0, atol=1e-4)
    assert not np.allclose(volume.array, np.round(truth.values))  # the fractions survived


@pytest.mark.parametrize(
    "stored_dtype, slope, intercept",
    [(np.uint16, 1.0, -1024.0), (np.int16, 2.0, 0.0)],
    ids=["uint16-intercept", "int16-slope2"],
)
def test_values_beyond_int16_are_widened_not_wrapped(
    tmp_path, stack_writer, stored_dtype, slope, intercept
):
    hu = np.zeros((5, 16, 16), np.int64)
    hu[:, 4:8, 4:8] = 1000
    hu[-1, 0, 0] = 40_000  # only the last slice (loaded after the middle one) overflows
    hu[-1, 0, 1] = -1024
    truth = stack_writer(tmp_path, hu, slope=slope, intercept=intercept, stored_dtype=stored_dtype)
    _, volume = _load_only(tmp_path)
    assert volume.array.dtype == np.int32
    assert np.array_equal(volume.array, truth.values)
    assert int(volume.array.max()) == 40_000


def _bits_stored_12(ds, k):
    ds.BitsStored, ds.HighBit = 12, 11


@pytest.mark.parametrize("ts", NATIVE_AND_RLE, ids=_ts_id)
def test_bits_stored_12_garbage_in_high_bits_is_masked(tmp_path, stack_writer, ts):
    rng = np.random.default_rng(12)
    truth = rng.integers(0, 4096, (3, 24, 24)).astype(np.uint16)
    truth[:, 0, :2] = (0, 4095)
    # Overlay bits or garbage in bits 12..15: never zero, so unmasked values are always wrong.
    raw = truth | (rng.integers(1, 16, truth.shape).astype(np.uint16) << 12)
    stack_writer(
        tmp_path,
        raw,
        modality="MR",
        intercept=0.0,
        stored_dtype=np.uint16,
        transfer_syntax=ts,
        edit=_bits_stored_12,
    )
    _, volume = _load_only(tmp_path)
    assert volume.array.dtype == np.uint16
    assert np.array_equal(volume.array, truth)


@pytest.mark.parametrize("ts", NATIVE_AND_RLE, ids=_ts_id)
def test_signed_bits_stored_12_is_sign_extended(tmp_path, stack_writer, ts):
    rng = np.random.default_rng(13)
    truth = rng.integers(-2048, 2048, (3, 24, 24)).astype(np.int16)
    truth[:, 0, :3] = (-2048, -1, 2047)
    # 12-bit two's complement in the low bits, the high 4 bits all zero: raw int16 is >= 0.
    raw = (truth.view(np.uint16) & 0x0FFF).view(np.int16)
    assert raw.min() >= 0
    stack_writer(
        tmp_path, raw, modality="MR", intercept=0.0, transfer_syntax=ts, edit=_bits_stored_12
    )
    _, volume = _load_only(tmp_path)
    assert volume.array.dtype == np.int16
    assert np.array_equal(volume.array, truth)


# --- encodings -----------------------------------------------------------------------------------


def _deflate(ds, k):
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian


@pytest.mark.parametrize(
    "ts",
    [
        ExplicitVRBigEndian,
        ImplicitVRLittleEndian,
        RLELossless,
        JPEG2000Lossless,
        DeflatedExplicitVRLittleEndian,
    ],
    ids=_ts_id,
)
def test_lossless_encodings_are_voxel_exact(tmp_path, stack_writer, ts):
    edit = _deflate if ts == DeflatedExplicitVRLittleEndian else None
    write_ts = ExplicitVRLittleEndian if edit else ts
    names = [f"{k:02d}.dcm" for k in (3, 1, 4, 0, 2)]
    truth = stack_writer(
        tmp_path,
        n=5,
        transfer_syntax=write_ts,
        edit=edit,
        names=names,
        instance_numbers=[2, 5, 1, 4, 3],
    )
    series, volume = _load_only(tmp_path)
    assert series.transfer_syntaxes == [ts]
    assert volume.array.dtype == np.int16
    assert np.array_equal(volume.array, truth.values)
    assert LOSSY_COMPRESSION not in series.warning_codes()


@pytest.mark.parametrize(
    "family",
    [
        [
            "MR_small.dcm",
            "MR_small_bigendian.dcm",
            "MR_small_implicit.dcm",
            "MR_small_RLE.dcm",
            "MR_small_jp2klossless.dcm",
            "MR_small_jpeg_ls_lossless.dcm",
            "MR_small_expb.dcm",
        ],
        [
            "emri_small.dcm",
            "emri_small_big_endian.dcm",
            "emri_small_RLE.dcm",
            "emri_small_jpeg_2k_lossless.dcm",
            "emri_small_jpeg_ls_lossless.dcm",
        ],
    ],
    ids=["MR_small", "emri_small"],
)
def test_pydicom_files_in_every_lossless_encoding_agree(testdata, family):
    reference = pydicom.dcmread(testdata(family[0])).pixel_array
    reference = reference.reshape((-1, *reference.shape[-2:]))
    for name in family:
        _, volume = _load_only(testdata(name))
        assert np.array_equal(volume.array, reference), name


@pytest.mark.parametrize("name", ["JPGExtended.dcm", "SC_rgb_jpeg_dcmtk.dcm", "US1_UNCI.dcm"])
def test_lossy_files_are_flagged(testdata, name):
    series, volume = _load_only(testdata(name))
    assert LOSSY_COMPRESSION in series.warning_codes()
    assert LOSSY_COMPRESSION in [w.code for w in volume.warnings]
    assert volume.array.size > 0


@pytest.mark.parametrize("value, flagged", [("01", True), ("00", False)])
def test_lossy_image_compression_attribute(tmp_path, stack_writer, value, flagged):
    def mark(ds, k):
        ds.LossyImageCompression = value

    stack_writer(tmp_path, n=2, edit=mark)
    series, _ = _load_only(tmp_path)
    assert (LOSSY_COMPRESSION in series.warning_codes()) is flagged


# --- multi-frame ---------------------------------------------------------------------------------


def test_multiframe_mr_keeps_frame_order(testdata):
    path = testdata("emri_small.dcm")
    series, volume = _load_only(path)
    assert volume.array.shape == (10, 64, 64)
    assert [s.frame for s in series.slices] == list(range(10))
    assert MISSING_POSITION in series.warning_codes()
    assert np.array_equal(volume.array, pydicom.dcmread(path).pixel_array)


def test_enhanced_ct_frames_sorted_by_their_own_positions(testdata):
    path = testdata("eCT_Supplemental.dcm")
    series, volume = _load_only(path)
    ds = pydicom.dcmread(path)
    frames = ds.pixel_array
    shared = ds.SharedFunctionalGroupsSequence[0]
    xform = shared.PixelValueTransformationSequence[0]
    slope, intercept = float(xform.RescaleSlope), float(xform.RescaleIntercept)
    z = [
        float(f.PlanePositionSequence[0].ImagePositionPatient[2])
        for f in ds.PerFrameFunctionalGroupsSequence
    ]
    # Orientation (-1,0,0, 0,1,0): the normal points to -z, so the higher z comes first.
    order = list(np.argsort([-v for v in z]))

    assert volume.array.shape == (2, 512, 512)
    assert volume.array.dtype == np.int16
    assert [s.frame for s in series.slices] == order
    assert np.array_equal(volume.array, frames[order] * slope + intercept)
    assert series.geometry.orientation == "axial"
    assert series.geometry.spacing[0] == pytest.approx(abs(z[1] - z[0]))
    assert series.geometry.origin[2] == pytest.approx(max(z))
    assert series.warnings == []


# --- photometric ---------------------------------------------------------------------------------


@pytest.mark.parametrize("photometric, invert", [("MONOCHROME1", True), ("MONOCHROME2", False)])
def test_monochrome1_is_flagged_and_values_stay_raw(tmp_path, photometric, invert):
    truth = write_series(
        tmp_path,
        n_slices=3,
        rows=32,
        cols=32,
        modality="MR",
        intercept=0,
        stored_dtype=np.uint16,
        photometric=photometric,
    )
    series, volume = _load_only(tmp_path)
    assert series.photometric == photometric
    assert volume.invert is invert
    assert np.array_equal(volume.array, truth.values)


@pytest.mark.parametrize(
    "name, n",
    [
        ("SC_rgb.dcm", 1),
        ("SC_rgb_rle.dcm", 1),
        ("SC_rgb_2frame.dcm", 2),
        ("SC_rgb_dcmtk_+eb+cy+n1.dcm", 1),  # YBR_FULL, JPEG baseline
        ("SC_ybr_full_uncompressed.dcm", 1),
        ("SC_rgb_expb_16bit_2frame.dcm", 2),
        ("SC_rgb_expb_32bit_2frame.dcm", 2),
    ],
)
def test_colour_files_load_as_rgb(testdata, name, n):
    path = testdata(name)
    series, volume = _load_only(path)
    reference = pydicom.dcmread(path).pixel_array.reshape((n, 100, 100, 3))
    assert volume.array.shape == (n, 100, 100, 3)
    assert volume.is_color and volume.photometric == "RGB"
    assert volume.array.dtype.isnative  # big endian files must not leak '>u4' into the volume
    assert np.array_equal(volume.array, reference)
    red = volume.array[0, 5, 50].astype(float) / np.iinfo(volume.array.dtype).max
    assert np.allclose(red, (1, 0, 0), atol=0.02)  # the top band of this test image is red
    sitk_image = volume.to_sitk()
    assert sitk_image.GetNumberOfComponentsPerPixel() == 3
    assert sitk_image.GetSize() == (100, 100, n)


def test_file_without_preamble_and_meta_loads(testdata):
    """OT-PAL-8-face.dcm has no 128-byte preamble nor file meta; the scan accepts it."""
    path = testdata("OT-PAL-8-face.dcm")
    series, volume = _load_only(path)
    ds = pydicom.dcmread(path, force=True)
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    assert volume.array.shape == (1, 480, 640, 3)  # PALETTE COLOR: shown in its colours
    assert np.array_equal(volume.array[0], apply_color_lut(ds.pixel_array, ds))
    assert volume.is_color and volume.photometric == "RGB"
    assert SLICE_UNREADABLE not in [w.code for w in volume.warnings]


def test_palette_colour_multiframe_is_rgb(testdata):
    path = testdata("OBXXXX1A_2frame.dcm")
    _, volume = _load_only(path)
    ds = pydicom.dcmread(path)
    expected = apply_color_lut(ds.pixel_array, ds)
    assert volume.array.shape == (2, 600, 800, 3)
    assert np.array_equal(volume.array, expected)


def test_multiframe_that_fails_to_decode_is_decoded_once(testdata, monkeypatch):
    from medviewer.dicom import volume as volume_module

    path = testdata("emri_small_RLE.dcm")
    series = scan([path]).all_series()[0]
    calls = []

    def broken(ref):
        calls.append(ref.path)
        raise ValueError("damaged fragment")

    monkeypatch.setattr(volume_module, "_decode_file", broken)
    with pytest.raises(DicomError, match="no slice .* could be decoded.*damaged fragment"):
        volume_module.load_volume(series)
    assert calls == [path]  # 10 frames, one attempt


def test_modality_lut_sequence_is_applied(testdata):
    path = testdata("mlut_18.dcm")
    _, volume = _load_only(path)
    ds = pydicom.dcmread(path)
    assert np.array_equal(volume.array[0], apply_modality_lut(ds.pixel_array, ds))


# --- progress, cancel, damaged slices ------------------------------------------------------------


def test_first_progress_carries_the_middle_slice(tmp_path):
    truth = write_series(tmp_path, n_slices=7, rows=32, cols=32)
    (series,) = scan([tmp_path]).all_series()
    job = load_volume_iter(series)
    first = next(job)
    assert isinstance(first.detail, Volume)
    assert (first.done, first.total) == (1, 7)
    loaded = first.detail.loaded.copy()
    assert loaded.tolist() == [False, False, False, True, False, False, False]
    assert np.array_equal(first.detail.array[3], truth.values[3])
    assert first.detail.array.shape == (7, 32, 32)  # full size from the start
    try:
        while True:
            step = next(job)
    except StopIteration as stop:
        volume = stop.value
    assert step.done == step.total == 7
    assert volume.loaded.all()
    assert np.array_equal(volume.array, truth.values)


def test_cancelled_token_stops_loading(tmp_path):
    write_series(tmp_path, n_slices=5, rows=16, cols=16)
    (series,) = scan([tmp_path]).all_series()
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        load_volume(series, cancel=token)
    with pytest.raises(Cancelled):
        run_job(load_volume_iter(series), cancel=token)
    with pytest.raises(Cancelled):
        scan([tmp_path], cancel=token)


def test_cancel_from_a_progress_callback_closes_the_job(tmp_path):
    write_series(tmp_path, n_slices=5, rows=16, cols=16)
    (series,) = scan([tmp_path]).all_series()
    token = CancelToken()
    seen = []

    def on_progress(step):
        seen.append(step)
        token.cancel()

    job = load_volume_iter(series)
    with pytest.raises(Cancelled):
        run_job(job, on_progress, token)
    assert len(seen) == 1
    with pytest.raises(StopIteration):
        next(job)  # closed, not left half-way


def test_native_file_truncated_after_the_scan_drops_that_slice(tmp_path, stack_writer):
    truth = stack_writer(tmp_path, n=5)
    (series,) = scan([tmp_path]).all_series()
    damaged = truth.paths[1]
    with open(damaged, "r+b") as fp:
        fp.truncate(os.path.getsize(damaged) - 300)
    volume = load_volume(series)
    assert volume.array.shape == (4, 32, 32)
    assert np.array_equal(volume.array, np.delete(truth.values, 1, axis=0))
    (warning,) = [w for w in volume.warnings if w.code == SLICE_UNREADABLE]
    assert os.path.basename(damaged) in warning.message
    assert volume.source_files == [p for p in truth.paths if p != damaged]
    assert volume.loaded.all() and len(volume.series.slices) == 4


def test_no_decodable_slice_is_a_dicom_error(tmp_path, stack_writer):
    truth = stack_writer(tmp_path, n=3)
    (series,) = scan([tmp_path]).all_series()
    for path in truth.paths:
        with open(path, "r+b") as fp:
            fp.truncate(os.path.getsize(path) - 500)
    with pytest.raises(DicomError, match="no slice"):
        load_volume(series)


def test_units_follow_modality(tmp_path):
    write_series(
        tmp_path, n_slices=2, rows=16, cols=16, modality="MR", intercept=0, stored_dtype=np.uint16
    )
    _, volume = _load_only(tmp_path)
    assert volume.modality == "MR" and volume.units == ""


# --- native slices read by threads --------------------------------------------------------------


def test_a_long_native_series_is_read_by_threads_exactly_even_when_a_late_slice_widens(
    tmp_path, stack_writer, monkeypatch
):
    from medviewer.dicom import volume as volume_module

    used = []
    real = volume_module._read_native_in_threads
    monkeypatch.setattr(
        volume_module,
        "_read_native_in_threads",
        lambda *a: (used.append(len(a[1])), (yield from real(*a))),
    )
    n = volume_module.THREAD_MIN_SLICES + 8
    hu = np.zeros((n, 16, 16), np.int64)
    hu[:, 4:8, 4:8] = 1000
    hu[:, 0, 0] = -1024
    hu[-3, 0, 1] = 40_000  # read after many slices were rescaled in place as int16
    truth = stack_writer(tmp_path, hu, slope=2.0, intercept=0.0, stored_dtype=np.int16)
    (series,) = scan([tmp_path]).all_series()
    damaged = truth.paths[n // 2 + 3]
    with open(damaged, "r+b") as fp:
        fp.truncate(os.path.getsize(damaged) - 100)
    volume = load_volume(series)
    assert used == [n - 1]  # the middle slice alone first, then the rest in threads
    assert volume.array.dtype == np.int32
    assert np.array_equal(volume.array, np.delete(truth.values, n // 2 + 3, axis=0))
    (warning,) = [w for w in volume.warnings if w.code == SLICE_UNREADABLE]
    assert os.path.basename(damaged) in warning.message


def test_a_cancelled_threaded_load_leaves_no_reading_thread(tmp_path):
    import threading

    from medviewer.dicom.volume import THREAD_MIN_SLICES

    write_series(tmp_path, n_slices=THREAD_MIN_SLICES * 3, rows=64, cols=64)
    (series,) = scan([tmp_path]).all_series()
    token = CancelToken()

    def on_progress(step):
        if step.done > 1:
            token.cancel()

    with pytest.raises(Cancelled):
        load_volume(series, on_progress=on_progress, cancel=token)
    assert not [t for t in threading.enumerate() if t.name.startswith("medviewer-read")]
