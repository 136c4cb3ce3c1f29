"""Every file of pydicom's test data and pydicom-data through scan + load.

Outcomes were checked one by one: files without an image are ``no_pixel_data``, damaged
ones ``corrupt``, non-DICOM files ``not_dicom``; everything else loads and matches what
pydicom itself decodes, frame by frame, after the modality rescale.
"""

import os
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_color_lut, apply_modality_lut

from medviewer.dicom import load_volume, scan
from medviewer.dicom.model import (
    CORRUPT,
    DUPLICATE_POSITION,
    LOSSY_COMPRESSION,
    NO_PIXEL_DATA,
    NOT_DICOM,
    SLICE_UNREADABLE,
)

from .stacks import all_testdata_files

EXPECTED_SKIPS = {
    # truncated pixel data
    "MR_truncated.dcm": CORRUPT,
    "emri_small_jpeg_2k_lossless_too_short.dcm": CORRUPT,
    # pixel data without Rows / Columns / BitsAllocated
    "meta_missing_tsyntax.dcm": CORRUPT,
    "nested_priv_SQ.dcm": CORRUPT,
    # a header fragment: no SOP Class UID (Type 1 in every object), no pixel data
    "empty_charset_LEI.dcm": CORRUPT,
    # DICOM objects without an image
    "rtstruct.dcm": NO_PIXEL_DATA,
    "rtplan.dcm": NO_PIXEL_DATA,
    "rtplan_truncated.dcm": NO_PIXEL_DATA,
    "reportsi.dcm": NO_PIXEL_DATA,
    "reportsi_with_empty_number_tags.dcm": NO_PIXEL_DATA,
    "test-SR.dcm": NO_PIXEL_DATA,
    "waveform_ecg.dcm": NO_PIXEL_DATA,
    "ExplVR_LitEndNoMeta.dcm": NO_PIXEL_DATA,
    "ExplVR_BigEndNoMeta.dcm": NO_PIXEL_DATA,
    "UN_sequence.dcm": NO_PIXEL_DATA,
    "no_meta_group_length.dcm": NO_PIXEL_DATA,
    "priv_SQ.dcm": NO_PIXEL_DATA,
    # not DICOM at all
    "README.txt": NOT_DICOM,
    "README": NOT_DICOM,
    "crayons.icc": NOT_DICOM,
    "test1.json": NOT_DICOM,
    "test_PN.json": NOT_DICOM,
    "zipMR.gz": NOT_DICOM,
    "rtplan.dump": NOT_DICOM,
    "rtstruct.dump": NOT_DICOM,
}
# pydicom cannot decode these either; their series loads without them.
UNDECODABLE = {"JPEG-lossy.dcm", "JPEG2000-embedded-sequence-delimiter.dcm"}
# Comparing with pydicom's own decode is skipped above this many values (time, not doubt).
MAX_COMPARED_VALUES = 20_000_000


def _expected_skip(path: str) -> str | None:
    name = os.path.basename(path)
    if "TINY_ALPHA" in path and name.startswith("IM"):
        return NO_PIXEL_DATA  # the tiny file-set's CT records carry no pixel data
    return EXPECTED_SKIPS.get(name)


@pytest.fixture(scope="module")
def everything():
    files = all_testdata_files()
    assert len(files) > 200
    folders = sorted({os.path.dirname(p) for p in files})
    # Files and their folders together: each file must still be counted once.
    result = scan([*files, *folders])
    volumes = {}
    for series in result.all_series():
        volumes[series.key] = load_volume(series)  # nothing may escape, not even DicomError
    return files, result, volumes


def test_every_file_is_accounted_for_once(everything):
    files, result, _ = everything
    skipped = [os.path.realpath(s.path) for s in result.skipped]
    in_series = [os.path.realpath(s.path) for se in result.all_series() for s in se.slices]
    assert len(skipped) == len(set(skipped))
    assert not set(skipped) & set(in_series)
    dicomdirs = {os.path.realpath(p) for p in files if os.path.basename(p).startswith("DICOMDIR")}
    # Images sharing a position with another image of their series are counted by the
    # series (n_files) but left out of its slices, with a duplicate_position warning.
    duplicates = sum(se.n_files - len({s.path for s in se.slices}) for se in result.all_series())
    assert all(
        DUPLICATE_POSITION in se.warning_codes()
        for se in result.all_series()
        if se.n_files > len({s.path for s in se.slices})
    )
    assert len(skipped) + sum(se.n_files for se in result.all_series()) + len(dicomdirs) == len(
        files
    )
    accounted = set(skipped) | set(in_series) | dicomdirs
    missing = [p for p in files if os.path.realpath(p) not in accounted]
    assert len(missing) == duplicates > 0


def test_known_bad_files_are_skipped_with_the_right_code(everything):
    files, result, _ = everything
    got = {os.path.realpath(s.path): s for s in result.skipped}
    for path in files:
        code = _expected_skip(path)
        real = os.path.realpath(path)
        if code is not None:
            assert real in got, f"{path} should be skipped as {code}"
            assert got[real].code == code, (path, got[real].code, got[real].reason)
            assert got[real].reason.strip()
    # no_meta.dcm is CT_small without its file meta, and damaged beyond what pydicom reads.
    no_meta = [s for s in result.skipped if os.path.basename(s.path) == "no_meta.dcm"]
    assert len(no_meta) == 1 and no_meta[0].code in (NOT_DICOM, CORRUPT)
    unexpected = [
        (os.path.basename(s.path), s.code, s.reason)
        for s in result.skipped
        if _expected_skip(s.path) is None and os.path.basename(s.path) != "no_meta.dcm"
    ]
    assert unexpected == []


def test_undecodable_slices_are_left_out_with_a_warning(everything):
    _, result, volumes = everything
    for name in UNDECODABLE:
        (series,) = [
            se
            for se in result.all_series()
            if name in {os.path.basename(s.path) for s in se.slices}
        ]
        volume = volumes[series.key]
        assert SLICE_UNREADABLE in [w.code for w in volume.warnings], name
        assert name not in {os.path.basename(p) for p in volume.source_files}
        assert name in next(w.message for w in volume.warnings if w.code == SLICE_UNREADABLE)
        assert volume.array.shape[0] == len(volume.source_files) > 0


# pydicom refuses this one (NumberOfFrames '1A'); medviewer reads its one native frame.
PYDICOM_CANNOT_COMPARE = {"badVR.dcm"}


def _reference_frames(path: str, transfer_syntax: str, cache: dict):
    if path not in cache:
        cache.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True)
            if not ds.file_meta.get("TransferSyntaxUID"):
                ds.file_meta.TransferSyntaxUID = transfer_syntax
            try:
                pixels = ds.pixel_array
                if ds.get("PhotometricInterpretation") == "PALETTE COLOR":
                    pixels = apply_color_lut(pixels, ds)  # the viewer shows the palette's colours
                cache[path] = (ds, pixels)
            except Exception:
                cache[path] = (ds, None)
    return cache[path]


def _rescaled(ds, frame: np.ndarray, index) -> np.ndarray:
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared and "PixelValueTransformationSequence" in shared[0]:
        xform = shared[0].PixelValueTransformationSequence[0]
        return frame * float(xform.RescaleSlope) + float(xform.RescaleIntercept)
    if "DoseGridScaling" in ds and "RescaleSlope" not in ds:  # RT Dose: stored x scaling = Gy
        return frame * float(ds.DoseGridScaling)
    return apply_modality_lut(frame, ds)


def test_loaded_voxels_match_pydicom(everything):
    _, result, volumes = everything
    cache: dict = {}
    compared = 0
    uncompared = set()
    for key, volume in volumes.items():
        if volume.array.size > MAX_COMPARED_VALUES:
            continue
        for k, ref in enumerate(volume.series.slices):
            ds, pixels = _reference_frames(ref.path, ref.transfer_syntax, cache)
            if pixels is None:
                uncompared.add(os.path.basename(ref.path))
                continue
            frame_ndim = 3 if volume.is_color else 2
            frame = pixels[ref.frame] if pixels.ndim > frame_ndim else pixels
            if volume.is_color:
                expected = frame
            else:
                expected = _rescaled(ds, frame, ref.frame)
            got = volume.array[k]
            assert got.shape == expected.shape, (key, ref.path)
            assert np.allclose(
                got.astype(np.float64), np.asarray(expected, np.float64), rtol=1e-6, atol=1e-3
            ), (key, ref.path, ref.frame)
            compared += 1
    assert compared > 150
    assert uncompared <= PYDICOM_CANNOT_COMPARE


def test_selected_outcomes(everything):
    _, result, volumes = everything
    by_file = {os.path.basename(s.path): se for se in result.all_series() for s in se.slices}
    ct = volumes[by_file["CT_small.dcm"].key]
    assert ct.array.dtype == np.int16 and ct.units == "HU"
    assert volumes[by_file["emri_small.dcm"].key].array.shape == (10, 64, 64)
    assert volumes[by_file["eCT_Supplemental.dcm"].key].array.shape == (2, 512, 512)
    assert volumes[by_file["SC_rgb_2frame.dcm"].key].array.shape == (2, 100, 100, 3)
    assert volumes[by_file["color3d_jpeg_baseline.dcm"].key].array.shape == (120, 480, 640, 3)
    assert volumes[by_file["RG3_UNCR.dcm"].key].invert  # MONOCHROME1 CR
    assert LOSSY_COMPRESSION in by_file["JPGExtended.dcm"].warning_codes()
    assert LOSSY_COMPRESSION in by_file["color3d_jpeg_baseline.dcm"].warning_codes()
    assert LOSSY_COMPRESSION not in by_file["emri_small_jpeg_2k_lossless.dcm"].warning_codes()
