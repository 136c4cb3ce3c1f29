"""Scan files, folders and DICOMDIRs into patient -> study -> series, headers only."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator

from medviewer.dicom.geometry import assemble_stack, orientation_key
from medviewer.dicom.headers import DicomDir, FileHeader, read_header
from medviewer.dicom.model import (
    LOSSY_COMPRESSION,
    MISSING_POSITION,
    MIXED_SIZES,
    NOT_DICOM,
    ROTATION,
    UNREADABLE,
    LoadWarning,
    ScanResult,
    SeriesInfo,
    Skipped,
    StudyInfo,
)
from medviewer.jobs import CancelToken, Job, Progress, run_job

log = logging.getLogger(__name__)

PROGRESS_EVERY = 25


def _walk(path: str, skipped: list[Skipped]) -> Iterator[str]:
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path, onerror=None):
            dirs.sort()
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in sorted(files):
                if name.startswith("."):
                    continue
                yield os.path.join(root, name)
    elif os.path.exists(path):
        yield path
    else:
        skipped.append(Skipped(path, UNREADABLE, "no such file or folder"))


POOL_CHUNK = 64
"""Headers per task when a process pool reads them."""


def _read_chunk(paths: list[str]) -> list:
    """Process-pool entry point: the headers of ``paths`` (never raises for one bad file)."""
    return [read_header(p) for p in paths]


def _headers_in(pool, files: list[str], start: int):
    """Yield (index, read_header result) for ``files[start:]``, read by ``pool``'s processes
    in chunks (in order); any pool failure: the rest is read here."""
    chunks = [files[i : i + POOL_CHUNK] for i in range(start, len(files), POOL_CHUNK)]
    done = start
    try:
        for chunk in pool.map(_read_chunk, chunks):
            for result in chunk:
                yield done, result
                done += 1
    except Exception as exc:  # a broken pool must not lose the scan: finish here
        log.debug("header processes failed (%s); reading the rest here", exc)
    for i in range(done, len(files)):
        yield i, read_header(files[i])


def scan_iter(
    paths: Iterable[str | os.PathLike], cancel: CancelToken | None = None, *, pool=None
) -> Job[ScanResult]:
    """Scan ``paths`` (files, folders recursively, DICOMDIRs): a job returning a ScanResult.

    Only headers are read. Every file that cannot be used becomes one ``Skipped`` entry.
    ``pool``: a process pool (e.g. a triage's decoder pool) that reads the headers of a long
    list of files, so this process' other threads (importing torch, loading the model) run
    meanwhile; the result is the same.
    """
    skipped: list[Skipped] = []
    files: list[str] = []
    seen: set[str] = set()
    for p in paths:
        for f in _walk(os.fspath(p), skipped):
            real = os.path.realpath(f)
            if real not in seen:
                seen.add(real)
                files.append(f)
    yield Progress(0, len(files), f"found {len(files)} files")

    headers: list[FileHeader] = []
    i = 0
    while i < len(files):
        if pool is not None and len(files) - i >= 2 * POOL_CHUNK:
            batch = _headers_in(pool, files, i)  # up to the files known now
        else:
            batch = ((k, read_header(files[k])) for k in range(i, i + 1))
        for k, result in batch:
            if cancel is not None:
                cancel.raise_if_cancelled()
            i = k + 1
            _take(result, files[k], files, seen, skipped, headers)
            if i % PROGRESS_EVERY == 0 or i == len(files):
                yield Progress(i, len(files), f"read {i} of {len(files)} headers")

    result = group_headers(headers)
    result.skipped.extend(skipped)
    return result


def _take(result, path: str, files, seen, skipped, headers) -> None:
    """File one read_header ``result``; a DICOMDIR adds the files it lists to ``files``."""
    if isinstance(result, DicomDir):
        added = 0
        for ref in result.referenced:
            real = os.path.realpath(ref)
            if real in seen:
                continue
            seen.add(real)
            if not os.path.exists(ref):
                skipped.append(
                    Skipped(ref, UNREADABLE, f"listed in DICOMDIR {path} but missing on disk")
                )
                continue
            files.append(ref)
            added += 1
        log.debug("DICOMDIR %s referenced %d new files", path, added)
    elif isinstance(result, Skipped):
        skipped.append(result)
    else:
        headers.append(result)


def scan(paths: Iterable[str | os.PathLike], on_progress=None, cancel=None) -> ScanResult:
    """Scan and return the result (the blocking face of :func:`scan_iter`)."""
    return run_job(scan_iter(paths, cancel), on_progress, cancel)


def group_headers(headers: list[FileHeader]) -> ScanResult:
    """Group file headers into studies and coherent stacks (pure function)."""
    studies: dict[str, StudyInfo] = {}
    by_series: dict[tuple[str, str], list[FileHeader]] = defaultdict(list)
    for h in headers:
        if h.study_uid not in studies:
            studies[h.study_uid] = StudyInfo(
                study_uid=h.study_uid,
                patient_id=h.patient_id,
                patient_name=h.patient_name,
                study_date=h.study_date,
                description=h.study_description,
            )
        by_series[(h.study_uid, h.series_uid)].append(h)

    for (study_uid, _series_uid), members in by_series.items():
        studies[study_uid].series.extend(_build_stacks(members))

    for study in studies.values():
        study.series.sort(key=lambda s: (s.series_number is None, s.series_number or 0, s.key))
    ordered = sorted(studies.values(), key=lambda s: (s.patient_id, s.study_date, s.study_uid))
    return ScanResult(studies=ordered)


def _stack_key(h: FileHeader, orientation) -> tuple:
    fmt = h.pixel_format
    return (
        fmt.rows,
        fmt.cols,
        fmt.samples,
        orientation_key(orientation),
        fmt.bits_allocated,
        fmt.photometric,
    )


def _build_stacks(members: list[FileHeader]) -> list[SeriesInfo]:
    # Multi-frame files are stacks of their own; single-frame files group by size/orientation.
    groups: dict[tuple, list[FileHeader]] = defaultdict(list)
    for h in members:
        if h.multiframe:
            groups[("file", h.path)].append(h)
        else:
            groups[_stack_key(h, h.slices[0].orientation)].append(h)

    keys = list(groups)
    rotation = _one_image_per_orientation(groups)
    if rotation is not None:
        return [rotation]
    stacks: list[SeriesInfo] = []
    for key in sorted(keys, key=lambda k: -sum(len(h.slices) for h in groups[k])):
        stacks.append(_make_series(groups[key], is_multiframe=key[0] == "file"))
    single = [k for k in keys if k[0] != "file"]
    if len(single) > 1:
        sizes = {(k[0], k[1]) for k in single}
        orients = {k[3] for k in single}
        what = []
        if len(sizes) > 1:
            what.append("image sizes " + ", ".join(f"{r}x{c}" for r, c in sorted(sizes)))
        if len(orients) > 1:
            what.append(f"{len(orients)} orientations")
        if not what:
            what.append("different pixel formats (bit depth or colour)")
        text = (
            f"series mixes {' and '.join(what)}; split into {len(stacks)} stacks, "
            "each shown on its own"
        )
        for s in stacks:
            s.warnings.insert(0, LoadWarning(MIXED_SIZES, text))
    for i, s in enumerate(stacks):
        s.stack_index = i
        s.n_stacks = len(stacks)
    return stacks


ROTATION_MIN_IMAGES = 5
"""A series of at least this many single images, each in its own orientation, is one rotating
projection (a MIP spin, a 3D angiography run), not that many one-image stacks. Fewer (a
three-plane localizer) stay split, each image with its own orientation letters."""


def _one_image_per_orientation(groups: dict[tuple, list[FileHeader]]) -> SeriesInfo | None:
    """One stack without positions, in Instance Number order, when every single-frame image
    of the series has an orientation of its own (same size and format); else None."""
    keys = [k for k in groups if k[0] != "file"]
    if len(keys) < ROTATION_MIN_IMAGES or len(keys) != len(groups):
        return None
    if any(len(groups[k]) != 1 or len(groups[k][0].slices) != 1 for k in keys):
        return None
    if len({(k[0], k[1], k[2], k[4], k[5]) for k in keys}) != 1:
        return None  # another size or pixel format: a mixed series, split as usual
    files = [
        dataclasses.replace(
            h, slices=[dataclasses.replace(h.slices[0], position=None, orientation=None)]
        )
        for k in keys
        for h in groups[k]
    ]
    series = _make_series(files, is_multiframe=False)
    series.warnings = [w for w in series.warnings if w.code != MISSING_POSITION]
    series.warnings.insert(
        0,
        LoadWarning(
            ROTATION,
            f"each of the {len(files)} images of this series has its own orientation (a "
            "rotating projection such as a MIP spin): shown as one stack in (0020,0013) "
            "Instance Number order, without slice positions or reformats",
        ),
    )
    return series


def _make_series(files: list[FileHeader], *, is_multiframe: bool) -> SeriesInfo:
    first = files[0]
    slices = [ref for h in files for ref in h.slices]
    ordered, geometry, warnings = assemble_stack(slices, keep_order=is_multiframe)
    syntaxes = sorted({h.transfer_syntax for h in files})
    lossy = [h for h in files if h.lossy]
    if lossy:
        from pydicom.uid import UID

        names = ", ".join(sorted({UID(h.transfer_syntax).name for h in lossy}))
        warnings.append(
            LoadWarning(
                LOSSY_COMPRESSION,
                f"{len(lossy)} of {len(files)} file(s) are lossy compressed ({names}); fine "
                "detail may be altered — not for primary diagnosis where that matters",
            )
        )
    return SeriesInfo(
        series_uid=first.series_uid,
        study_uid=first.study_uid,
        modality=first.modality,
        description=first.series_description,
        series_number=first.series_number,
        pixel_format=first.pixel_format,
        slices=ordered,
        geometry=geometry,
        transfer_syntaxes=syntaxes,
        n_files=len(files),
        warnings=warnings,
        window_centers=first.window_centers,
        window_widths=first.window_widths,
        window_explanations=first.window_explanations,
        voi_lut=first.voi_lut,
        rescale_type=first.rescale_type,
        body_part=first.body_part,
        frame_of_reference_uid=first.frame_of_reference_uid,
        slice_thickness=first.slice_thickness,
        presentation_inverse=first.presentation_inverse,
        voi_function=first.voi_function,
    )


__all__ = ["scan", "scan_iter", "group_headers", "NOT_DICOM"]
