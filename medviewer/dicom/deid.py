"""De-identify DICOM files with the Basic Application Level Confidentiality Profile (PS3.15 E).

:func:`anonymize_iter` copies a file, a folder (searched recursively) or a DICOMDIR's files
into a new folder with the same layout, each file de-identified by :func:`deidentify_dataset`
(:mod:`.deid_dataset`; the attribute table is :mod:`.deid_profile`):

- every attribute of Table E.1-1 gets its Basic Profile action (:mod:`.deid_profile`):
  ``X`` removed, ``Z`` emptied, ``D`` a dummy value of its VR, ``U`` a new UID. Compound codes
  keep the attribute present without its content, since the IOD type is not known here:
  ``X/Z``, ``X/Z/D`` and ``Z/D`` are emptied, ``X/D`` gets a dummy value, and ``X/Z/U*``
  sequences are kept with their instance UIDs replaced, so references still resolve;
- private attributes (odd groups), curves (``50xx``) and overlays (``60xx``: the profile
  removes overlay data and comments, and an overlay plane without its data is invalid, so the
  whole group goes) are removed; retired group lengths too;
- sequences not in the table are kept and their items cleaned the same way (action ``K``);
- UIDs are replaced by ``2.25.<128-bit hash>`` of a secret drawn once per run: the same input
  UID gives the same new UID in every file of the run (series and study stay together,
  references such as ReferencedSOPInstanceUID and the file meta's MediaStorageSOPInstanceUID
  agree), and two runs give unrelated UIDs;
- PatientIdentityRemoved (0012,0062) = YES, DeidentificationMethod (0012,0063) and its code
  sequence (0012,0064) with DCM 113100 are set; pixel data is written back byte for byte.

Files are written atomically (a hidden temporary file in the target folder, renamed into
place; :mod:`.deid_files`). The input is never written to; an output folder inside the input,
equal to it, or already holding files is refused. Files that are not DICOM, damaged or
truncated are skipped with a reason and never copied.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

from medviewer.dicom.deid_dataset import (
    BASIC_PROFILE_CODE,
    DUMMY_TEXT,
    METHOD_TEXT,
    DatasetReport,
    UidMapper,
    deidentify_dataset,
)
from medviewer.dicom.deid_files import (
    PATH_PLACEHOLDER,
    ensure_meta,
    identity_texts,
    inside,
    read_full,
    safe_relpath,
    walk_files,
    write_atomic,
)
from medviewer.dicom.deid_profile import PROFILE_EDITION
from medviewer.dicom.headers import DicomDir, read_header
from medviewer.dicom.model import (
    CORRUPT,
    NO_PIXEL_DATA,
    UNREADABLE,
    UNSUPPORTED_SYNTAX,
    Skipped,
)
from medviewer.errors import DicomError
from medviewer.jobs import CancelToken, Job, Progress, run_job

log = logging.getLogger(__name__)

# Codes of skipped files beyond those of the scan (medviewer.dicom.model).
DICOMDIR_NOT_COPIED = "dicomdir_not_copied"
DEID_FAILED = "deid_failed"


@dataclass
class AnonymizeResult:
    """What a run wrote and left out. Paths in ``files`` are (input, output), absolute."""

    source: str
    output: str
    files: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    uids_replaced: int = 0

    @property
    def written(self) -> int:
        return len(self.files)

    def to_dict(self) -> dict:
        """The object ``medviewer anonymize --json`` prints."""
        root = self.source if os.path.isdir(self.source) else os.path.dirname(self.source)
        return {
            "input": self.source,
            "output": self.output,
            "profile": f"Basic Application Level Confidentiality Profile ({PROFILE_EDITION})",
            "written": self.written,
            "uids_replaced": self.uids_replaced,
            "skipped": [s.to_dict() for s in self.skipped],
            "warnings": list(self.warnings),
            "files": [
                {"input": os.path.relpath(a, root), "output": os.path.relpath(b, self.output)}
                for a, b in self.files
            ],
        }


def _check_paths(source: str, output: str) -> tuple[str, str, str]:
    """(resolved input, resolved output, mirror root) or DicomError saying what to change."""
    src, out = os.path.abspath(source), os.path.abspath(output)
    if not os.path.exists(src):
        raise DicomError(f"no such file or folder: {source}")
    real_src, real_out = os.path.realpath(src), os.path.realpath(out)
    if inside(real_out, real_src):
        where = "is the input" if real_out == real_src else "lies inside the input"
        raise DicomError(
            f"the output folder {output} {where} {source}: choose a folder outside it, so the "
            "originals are never overwritten or mixed with their copies"
        )
    if os.path.exists(out):
        if not os.path.isdir(out):
            raise DicomError(f"{output} exists and is not a folder: give a new or empty folder")
        if os.listdir(out):
            raise DicomError(
                f"the output folder {output} is not empty: give a new or empty folder (a second "
                "run into it would mix two different UID mappings)"
            )
    try:
        os.makedirs(out, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".medviewer-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DicomError(
            f"cannot write into {output} ({exc.strerror or exc}): choose a folder you can write to"
        ) from None
    root = real_src if os.path.isdir(real_src) else os.path.dirname(real_src)
    return real_src, out, root


class _PydicomNotes(logging.Filter):
    """Turns pydicom's value warnings (an odd value in the original) into our debug lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            log.debug("pydicom: %s", record.getMessage())
            return False
        return True


@contextmanager
def _quiet_pydicom():
    """pydicom's value warnings are not the user's concern here: they go to the debug log."""
    logger, notes = logging.getLogger("pydicom"), _PydicomNotes()
    logger.addFilter(notes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.removeFilter(notes)


@dataclass
class _Run:
    """The state of one run: where from, where to, the UID map, the names given out."""

    source: str
    output: str
    root: str
    uids: UidMapper = field(default_factory=UidMapper)
    renamed: set[str] = field(default_factory=set)
    targets: set[str] = field(default_factory=set)


def anonymize_iter(
    source: str | os.PathLike, output: str | os.PathLike, cancel: CancelToken | None = None
) -> Job[AnonymizeResult]:
    """Job: de-identify ``source`` (file, folder, DICOMDIR) into the new folder ``output``.

    Raises DicomError before writing anything when ``source`` is missing or ``output`` is the
    input, inside it, a non-empty folder or not writable; and when a file cannot be written
    (the files written before it are complete). Everything else that goes wrong with one file
    is a :class:`Skipped` entry of the result.
    """
    real_src, out, root = _check_paths(os.fspath(source), os.fspath(output))
    run = _Run(real_src, out, root)
    files = walk_files(real_src) if os.path.isdir(real_src) else [real_src]
    seen = set(files)
    result = AnonymizeResult(source=real_src, output=out)
    burned_in = 0
    yield Progress(0, len(files), f"found {len(files)} file(s)")
    i = 0
    while i < len(files):
        if cancel is not None:
            cancel.raise_if_cancelled()
        path = files[i]
        i += 1
        header = read_header(path)
        if isinstance(header, DicomDir):
            for ref in header.referenced:
                real = os.path.realpath(ref)
                if real in seen:
                    continue
                seen.add(real)
                if os.path.exists(real) and inside(real, root):
                    files.append(real)
                else:
                    why = "missing on disk" if not os.path.exists(real) else "outside its folder"
                    result.skipped.append(Skipped(ref, UNREADABLE, f"listed in {path}, {why}"))
            result.skipped.append(
                Skipped(
                    path,
                    DICOMDIR_NOT_COPIED,
                    "a DICOMDIR index is not copied: it repeats the patients' names and the "
                    "original UIDs; the files it lists are de-identified without it",
                )
            )
        elif isinstance(header, Skipped) and header.code not in (
            NO_PIXEL_DATA,
            UNSUPPORTED_SYNTAX,
        ):
            result.skipped.append(header)  # not DICOM, damaged, truncated, unreadable
        else:
            with _quiet_pydicom():
                item = _one_file(path, run)
            if isinstance(item, Skipped):
                result.skipped.append(item)
            else:
                result.files.append((path, item[0]))
                burned_in += item[1]
        yield Progress(i, len(files), f"de-identified {len(result.files)} of {len(files)} files")
    result.uids_replaced = len(run.uids)
    if burned_in:
        result.warnings.append(
            f"{burned_in} file(s) have (0028,0301) Burned In Annotation = YES: their pixels may "
            "show the patient's name; the Basic profile leaves pixel data as it is, so check or "
            "mask those images before sharing them"
        )
    if run.renamed:
        result.warnings.append(
            f"{len(run.renamed)} file or folder name(s) held a patient's name or ID or an "
            f"original UID and were renamed in the copy ({PATH_PLACEHOLDER} / the new UID)"
        )
    log.info(
        "de-identified %d file(s) of %s into %s, %d skipped",
        result.written,
        real_src,
        out,
        len(result.skipped),
    )
    return result


def _one_file(path: str, run: _Run) -> tuple[str, bool] | Skipped:
    """De-identify and write one file: (target, burned-in flag) or why it was not copied."""
    try:
        ds = read_full(path)
    except PermissionError as exc:
        return Skipped(path, UNREADABLE, f"no permission to read the file: {exc.strerror}")
    except Exception as exc:  # pydicom raises many types on damaged files
        log.debug("full read of %s failed", path, exc_info=True)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Skipped(path, CORRUPT, f"could not read the whole file ({first}); not copied")
    identity = identity_texts(ds)
    try:
        report = deidentify_dataset(ds, run.uids)
        ensure_meta(ds)
    except Exception as exc:  # never copy a file that could not be cleaned
        log.debug("de-identification of %s failed", path, exc_info=True)
        return Skipped(
            path,
            DEID_FAILED,
            f"could not be de-identified ({type(exc).__name__}: {exc}); not copied — report "
            "this file to the medviewer maintainers",
        )
    target = _target_for(path, run, report.uids, identity)
    try:
        write_atomic(ds, target)
    except OSError as exc:
        raise DicomError(
            f"could not write {target} ({exc.strerror or exc}); the files before it are "
            "complete — free some space or choose another folder, and run again into an empty "
            "folder"
        ) from None
    run.targets.add(target)
    return target, report.burned_in


def _target_for(path: str, run: _Run, uid_pairs: dict[str, str], identity: list[str]) -> str:
    """Where the copy of ``path`` goes: the same relative path, cleaned of identity, unique."""
    rel = os.path.relpath(path, run.root)
    safe = safe_relpath(rel, uid_pairs, identity)
    if safe != rel:
        old_parts = rel.split(os.sep)
        for k, (a, b) in enumerate(zip(old_parts, safe.split(os.sep))):
            if a != b:
                run.renamed.add(os.sep.join(old_parts[: k + 1]))
    target = os.path.join(run.output, safe)
    stem, ext = os.path.splitext(target)
    n = 1
    while target in run.targets:  # two names that became one (two patients' 'ANON.dcm')
        n += 1
        target = f"{stem}-{n}{ext}"
    if inside(os.path.realpath(target), run.source):
        raise DicomError(
            f"refusing to write {target}: it lies inside the input {run.source}; choose an "
            "output folder outside the input"
        )
    return target


def anonymize(
    source: str | os.PathLike, output: str | os.PathLike, on_progress=None, cancel=None
) -> AnonymizeResult:
    """De-identify and return the result (the blocking face of :func:`anonymize_iter`)."""
    return run_job(anonymize_iter(source, output, cancel), on_progress, cancel)


__all__ = [
    "BASIC_PROFILE_CODE",
    "DEID_FAILED",
    "DICOMDIR_NOT_COPIED",
    "DUMMY_TEXT",
    "METHOD_TEXT",
    "PATH_PLACEHOLDER",
    "AnonymizeResult",
    "DatasetReport",
    "UidMapper",
    "anonymize",
    "anonymize_iter",
    "deidentify_dataset",
]
