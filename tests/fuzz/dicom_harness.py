"""The fuzz target of the DICOM core: bytes -> files -> scan -> assemble -> load -> windows.

``check_input(data, folder)`` writes ``data`` into the empty ``folder`` as one file (or as
several, see :func:`split_input`), opens the folder the way the viewer does (``StudySession``:
scan, every stack assembled, each loaded, its default and available windows) and checks what
came back. Accepted outcomes:

* a ScanResult in which every file is either skipped with a code and a reason, or part of a
  series (a DICOMDIR is consumed), whose stacks load or fail with a ``MedviewerError``;
* a ``MedviewerError`` (a clear one-line message).

Anything else is a finding: another exception, a broken invariant (``Finding``), a warning
raised from a medviewer module (an error, as under pytest), a hang or a crash (the fuzzer's
``-timeout`` and its crash handler catch those).

Used by ``fuzz_dicom.py`` (atheris, coverage-guided), by ``test_fuzz_dicom.py`` and by the
regression tests in ``tests/dicom/test_fuzz_regressions.py``.
"""

from __future__ import annotations

import math
import os
import shutil
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medviewer.dicom.display import default_window
from medviewer.dicom.headers import DicomDir, read_header
from medviewer.dicom.model import (
    CORRUPT,
    NO_PIXEL_DATA,
    NOT_DICOM,
    UNREADABLE,
    UNSUPPORTED_SYNTAX,
    LoadWarning,
    ScanResult,
)
from medviewer.errors import MedviewerError
from medviewer.session.study import StudySession

# An input that starts with MAGIC holds several files: MAGIC, then for each file a u32
# little-endian length and that many bytes; what is left after the last complete one is one
# more file. Lets the fuzzer mutate series (sorting, spacing, mixed stacks), not only files.
MAGIC = b"MVFZ"
MAX_FILES = 8
SKIP_CODES = {CORRUPT, NO_PIXEL_DATA, NOT_DICOM, UNREADABLE, UNSUPPORTED_SYNTAX}


class Finding(AssertionError):
    """The DICOM core broke one of its promises on this input."""


@dataclass
class Outcome:
    """What one input did: how many files, skipped, stacks, loaded and failed loads."""

    files: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file name, code)
    series: int = 0
    loaded: int = 0
    load_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # LoadWarning codes of loaded volumes
    error: str | None = None  # a MedviewerError that ended the whole open


def split_input(data: bytes) -> list[bytes]:
    """The files an input stands for (see MAGIC); never fails, never returns none."""
    if not data.startswith(MAGIC):
        return [data]
    parts: list[bytes] = []
    pos = len(MAGIC)
    while pos + 4 <= len(data) and len(parts) < MAX_FILES - 1:
        (n,) = struct.unpack_from("<I", data, pos)
        if pos + 4 + n > len(data):
            break
        parts.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
    if pos < len(data) or not parts:
        parts.append(data[pos:])
    return parts


def join_files(files: list[bytes]) -> bytes:
    """The inverse of :func:`split_input` for building seeds."""
    return MAGIC + b"".join(struct.pack("<I", len(f)) + f for f in files)


def _finite(values) -> bool:
    return all(math.isfinite(float(v)) for v in np.ravel(np.asarray(values, dtype=float)))


def _check_scan(result: ScanResult, folder: Path, names: set[str]) -> None:
    if not isinstance(result, ScanResult):
        raise Finding(f"scan returned {type(result).__name__}, not a ScanResult")
    skipped_here = 0
    here = str(folder.resolve())
    for s in result.skipped:
        if s.code not in SKIP_CODES:
            raise Finding(f"skipped entry {s.path} has unknown code {s.code!r}")
        if not isinstance(s.reason, str) or not s.reason.strip():
            raise Finding(f"skipped entry {s.path} has no reason")
        if os.path.realpath(os.path.dirname(os.path.abspath(s.path))) == here:
            skipped_here += os.path.basename(s.path) in names
    for series in result.all_series():
        fmt = series.pixel_format
        if not series.slices or series.n_files <= 0:
            raise Finding(f"series {series.key} has no slices")
        if fmt.rows <= 0 or fmt.cols <= 0 or fmt.samples <= 0 or fmt.bits_allocated <= 0:
            raise Finding(f"series {series.key} has an impossible pixel format {fmt}")
        _check_geometry(series.geometry, f"series {series.key}")
        for w in series.warnings:
            _check_warning(w)
    # Every file is skipped once or counted in one stack; a DICOMDIR index is consumed.
    dicomdirs = sum(isinstance(read_header(str(folder / n)), DicomDir) for n in names)
    counted = skipped_here + sum(s.n_files for s in result.all_series()) + dicomdirs
    if counted != len(names):
        raise Finding(
            f"{len(names)} file(s) written, but {skipped_here} skipped + "
            f"{counted - skipped_here - dicomdirs} in stacks + {dicomdirs} DICOMDIR(s)"
        )


def _check_geometry(geometry, where: str) -> None:
    if len(geometry.spacing) != 3 or not _finite(geometry.spacing):
        raise Finding(f"{where}: spacing {geometry.spacing} is not finite")
    if any(v <= 0 for v in geometry.spacing):
        raise Finding(f"{where}: spacing {geometry.spacing} is not positive")
    if not _finite(geometry.origin) or not _finite(geometry.direction):
        raise Finding(f"{where}: origin / direction not finite")


def _check_warning(w) -> None:
    if not isinstance(w, LoadWarning) or not w.code or not w.message.strip():
        raise Finding(f"malformed load warning {w!r}")


def _check_volume(volume, series_key: str) -> None:
    series = volume.series
    shape = volume.array.shape
    if shape[0] != len(series.slices) or shape[0] != len(volume.source_files) or shape[0] == 0:
        raise Finding(
            f"volume of {series_key}: {shape[0]} slices in the array, {len(series.slices)} "
            f"in its series, {len(volume.source_files)} source files"
        )
    if tuple(shape[1:]) != tuple(series.pixel_format.frame_shape):
        raise Finding(
            f"volume of {series_key}: array {shape} but pixel format frame "
            f"{series.pixel_format.frame_shape}"
        )
    if volume.loaded is not None and not bool(np.all(volume.loaded)):
        raise Finding(f"volume of {series_key}: finished but not every slice marked loaded")
    _check_geometry(volume.geometry, f"volume of {series_key}")
    for w in volume.warnings:
        _check_warning(w)


def check_input(data: bytes, folder: str | os.PathLike) -> Outcome:
    """Run ``data`` through scan and load in ``folder`` (emptied first); see the module doc.

    Returns what happened; raises :class:`Finding` or whatever else the core let escape.
    """
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    files = split_input(data)
    names = set()
    for k, content in enumerate(files):
        name = f"f{k}.dcm"
        (folder / name).write_bytes(content)
        names.add(name)
    out = Outcome(files=len(files))
    with warnings.catch_warnings():
        # As under pytest (pyproject's filterwarnings): a warning from medviewer is an error.
        warnings.filterwarnings("error", module=r"medviewer(\..*)?$")
        session = StudySession()
        try:
            result = _run(session.open_iter([folder]))
        except MedviewerError as exc:
            out.error = str(exc)
            return out
        _check_scan(result, folder, names)
        out.skipped = sorted((os.path.basename(s.path), s.code) for s in result.skipped)
        all_series = result.all_series()
        out.series = len(all_series)
        for series in all_series:
            try:
                volume = _run(session.load_iter(series))
            except MedviewerError as exc:
                if not str(exc).strip():
                    raise Finding(f"empty MedviewerError loading {series.key}") from exc
                out.load_errors.append(str(exc))
                continue
            _check_volume(volume, series.key)
            out.loaded += 1
            out.warnings += [w.code for w in volume.warnings]
            # What the viewer does next: the opening window and the window menu.
            k = volume.array.shape[0] // 2
            session.set_slice(k)
            if not volume.is_color:
                window = default_window(volume.series, volume.array[k])
                if not (_finite([window.center, window.width]) and window.width > 0):
                    raise Finding(f"default window {window} of {series.key} is unusable")
            session.available_windows()
            session.status_text()
    return out


def _run(job):
    """Drive a job generator to its return value."""
    while True:
        try:
            next(job)
        except StopIteration as stop:
            return stop.value


# -- seeds -------------------------------------------------------------------------------------

# pydicom's and pydicom-data's test files, chosen for their transfer syntaxes and oddities.
PYDICOM_SEEDS = [
    # explicit VR little endian, incl. multi-frame, colour, YBR, damaged, no meta
    "CT_small.dcm", "MR_small.dcm", "MR_small_padded.dcm", "liver_1frame.dcm",
    "SC_rgb_small_odd.dcm", "SC_ybr_full_422_uncompressed.dcm", "SC_rgb_2frame.dcm",
    "MR_truncated.dcm", "badVR.dcm", "ExplVR_LitEndNoMeta.dcm", "no_meta.dcm",
    "reportsi.dcm", "test-SR.dcm", "meta_missing_tsyntax.dcm",
    # implicit VR little endian
    "MR_small_implicit.dcm", "rtdose_1frame.dcm", "rtdose.dcm", "nested_priv_SQ.dcm",
    "empty_charset_LEI.dcm", "no_meta_group_length.dcm", "rtplan.dcm",
    # explicit VR big endian
    "MR_small_bigendian.dcm", "MR_small_expb.dcm", "SC_rgb_small_odd_big_endian.dcm",
    "rtdose_expb_1frame.dcm", "ExplVR_BigEndNoMeta.dcm",
    # RLE lossless
    "MR_small_RLE.dcm", "SC_rgb_rle.dcm", "SC_rgb_rle_16bit.dcm", "SC_rgb_rle_32bit_2frame.dcm",
    "rtdose_rle_1frame.dcm", "emri_small_RLE.dcm",
    # JPEG baseline / extended / lossless, JPEG-LS
    "SC_rgb_small_odd_jpeg.dcm", "SC_rgb_jpeg_dcmtk.dcm", "SC_jpeg_no_color_transform.dcm",
    "JPEG-lossy.dcm", "SC_rgb_jpeg_gdcm.dcm", "UN_sequence.dcm",
    "MR_small_jpeg_ls_lossless.dcm", "JPEGLSNearLossless_16.dcm", "SC_rgb_jls_lossy_line.dcm",
    # JPEG 2000
    "MR_small_jp2klossless.dcm", "JPEG2000.dcm", "emri_small_jpeg_2k_lossless.dcm",
    "emri_small_jpeg_2k_lossless_too_short.dcm", "693_J2KI.dcm", "GDCMJ2K_TextGBR.dcm",
    # deflated explicit VR little endian
    "image_dfl.dcm",
    # DICOMDIR indexes
    "DICOMDIR-empty.dcm",
]  # fmt: skip


def _pydicom_files() -> dict[str, str]:
    from pydicom.data import get_testdata_files

    found: dict[str, str] = {}
    for path in get_testdata_files():
        found.setdefault(os.path.basename(path), path)
    return found


def _synthetic(transfer_syntax, n: int, seed: int, **kwargs) -> list[bytes]:
    """``n`` 32 x 32 CT slices of one series in ``transfer_syntax``, as file bytes."""
    import io

    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, generate_uid

    from medviewer.testing.synthetic import head_phantom, make_dataset

    hu = head_phantom(n, 32, 32, seed=seed)
    series_uid, study_uid = generate_uid(), generate_uid()
    out = []
    for k in range(n):
        deflate = transfer_syntax == DeflatedExplicitVRLittleEndian
        ds = make_dataset(
            (hu[k].astype(np.int32) + 1024).astype(np.int16),
            position=(-12.4, -12.4, 2.5 * k),
            intercept=-1024.0,
            instance_number=k + 1,
            series_uid=series_uid,
            study_uid=study_uid,
            transfer_syntax=ExplicitVRLittleEndian if deflate else transfer_syntax,
            **kwargs,
        )
        if deflate:
            ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        buf = io.BytesIO()
        ts = ds.file_meta.TransferSyntaxUID
        ds.save_as(
            buf,
            enforce_file_format=True,
            little_endian=not ts.startswith("1.2.840.10008.1.2.2"),
            implicit_vr=ts == "1.2.840.10008.1.2",
        )
        out.append(buf.getvalue())
    return out


def seed_inputs() -> dict[str, bytes]:
    """Name -> input: real files in several transfer syntaxes, single and as series."""
    import warnings as _warnings

    from pydicom.uid import (
        DeflatedExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        JPEG2000Lossless,
        JPEGLSLossless,
        RLELossless,
    )

    from medviewer.resources import sample_study_dir

    seeds: dict[str, bytes] = {}
    sample = sorted(sample_study_dir().glob("*.dcm"))
    if sample:
        mid = len(sample) // 2
        seeds["sample_single"] = sample[mid].read_bytes()
        seeds["sample_pair"] = join_files([p.read_bytes() for p in sample[mid : mid + 2]])
    available = _pydicom_files()
    for name in PYDICOM_SEEDS:
        if name in available:
            seeds[f"pydicom_{name}"] = Path(available[name]).read_bytes()
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        for label, ts in [
            ("explicit_le", ExplicitVRLittleEndian),
            ("implicit_le", ImplicitVRLittleEndian),
            ("big_endian", ExplicitVRBigEndian),
            ("deflate", DeflatedExplicitVRLittleEndian),
            ("rle", RLELossless),
            ("j2k", JPEG2000Lossless),
            ("jpegls", JPEGLSLossless),
        ]:
            try:
                files = _synthetic(ts, 3, seed=len(seeds))
            except (RuntimeError, NotImplementedError):  # no encoder installed for ts
                continue
            seeds[f"synthetic_{label}_single"] = files[0]
            seeds[f"synthetic_{label}_series"] = join_files(files)
        # A series with 12 stored bits and a non-integral slope, and one without geometry.
        seeds["synthetic_bits12_slope"] = join_files(
            _synthetic(ExplicitVRLittleEndian, 2, seed=91, bits_stored=12, slope=0.5)
        )
        seeds["synthetic_no_geometry"] = join_files(
            _synthetic(
                ExplicitVRLittleEndian, 2, seed=92, orientation=None, pixel_spacing=None,
                slice_thickness=None,
            )
        )  # fmt: skip
    return seeds


def write_seeds(folder: str | os.PathLike) -> int:
    """Write :func:`seed_inputs` into ``folder`` (a libFuzzer corpus); returns how many."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    seeds = seed_inputs()
    for name, data in seeds.items():
        (folder / f"seed_{name}").write_bytes(data)
    return len(seeds)
