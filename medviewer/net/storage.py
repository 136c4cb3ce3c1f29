"""The managed local study folder: where retrieved and received instances are kept.

Layout: ``ROOT/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``. The names are
made from the instance's UIDs, each checked to be a DICOM UID (digits and dots, at most 64
characters), never from a path or a name found in the data, so a dataset cannot write outside
the folder. Each file is written atomically (a dot file, fsync, one rename): a scan of the
folder never lists a half-written instance. An instance that is already there is kept as it
is (the later copy is reported as a duplicate). Beyond the size cap, or with the disk full,
:class:`StoreFull` is raised and nothing is left behind.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import threading
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from medviewer.atomic import write_bytes_atomic
from medviewer.errors import MedviewerError

UID_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)*$")


class StoreError(MedviewerError):
    """An instance cannot be stored (the message says which and why)."""


class StoreFull(StoreError):
    """The size cap is reached or the disk is full (a receiver answers "out of resources")."""


def check_uid(value, what: str) -> str:
    """``value`` as a UID, or :class:`StoreError`: used for file names, so never a path."""
    text = str(value or "").strip().rstrip("\x00")
    if not text or len(text) > 64 or not UID_PATTERN.match(text):
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise StoreError(
            f"the instance's {what} {shown!r} is not a DICOM UID (digits and dots, at most 64 "
            "characters); it was not stored"
        )
    return text


@dataclass(frozen=True)
class Stored:
    """Where one instance went: its path, its UIDs, and whether it was a duplicate."""

    path: Path
    study_uid: str
    series_uid: str
    sop_uid: str
    duplicate: bool = False


@dataclass(frozen=True)
class StudyEntry:
    """One study in the folder (for the list to delete from)."""

    study_uid: str
    path: Path
    instances: int
    bytes: int
    patient_name: str
    patient_id: str
    study_date: str
    description: str


def _uids(data: bytes) -> tuple[str, str, str]:
    import pydicom

    try:
        ds = pydicom.dcmread(
            BytesIO(data),
            stop_before_pixels=True,
            specific_tags=["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"],
        )
    except Exception as exc:
        raise StoreError(f"the instance is not a readable DICOM file ({exc}); not stored") from None
    return (
        check_uid(ds.get("StudyInstanceUID"), "Study Instance UID (0020,000D)"),
        check_uid(ds.get("SeriesInstanceUID"), "Series Instance UID (0020,000E)"),
        check_uid(ds.get("SOPInstanceUID"), "SOP Instance UID (0008,0018)"),
    )


class StudyStore:
    """The folder ``root`` with a size cap in bytes. Thread-safe (a receiver stores from its
    association threads)."""

    def __init__(self, root: str | os.PathLike, cap_bytes: int) -> None:
        self.root = Path(root)
        self.cap_bytes = int(cap_bytes)
        self._lock = threading.Lock()
        self._used: int | None = None

    def used_bytes(self) -> int:
        with self._lock:
            return self._usage()

    def _usage(self) -> int:
        if self._used is None:
            total = 0
            for dirpath, dirs, files in os.walk(self.root):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for name in files:
                    if not name.startswith("."):
                        try:
                            total += os.path.getsize(os.path.join(dirpath, name))
                        except OSError:
                            pass
            self._used = total
        return self._used

    def path_for(self, study_uid: str, series_uid: str, sop_uid: str) -> Path:
        return self.root / study_uid / series_uid / f"{sop_uid}.dcm"

    def store(self, data: bytes) -> Stored:
        """Store one encoded instance (a DICOM file with its file meta information)."""
        study, series, sop = _uids(data)
        target = self.path_for(study, series, sop)
        with self._lock:
            if target.exists():
                return Stored(target, study, series, sop, duplicate=True)
            if self._usage() + len(data) > self.cap_bytes:
                raise StoreFull(
                    f"the study folder {self.root} has reached its size cap "
                    f"({self.cap_bytes / 1e9:.3g} GB): instance {sop} was refused; delete "
                    "studies from the list or raise the cap"
                )
            try:
                write_bytes_atomic(target, data)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise StoreFull(
                        f"the disk holding {self.root} is full: instance {sop} was refused "
                        "(nothing half-written was left); free space or move the study folder"
                    ) from None
                raise StoreError(
                    f"instance {sop} could not be written to {target} ({exc.strerror or exc})"
                ) from None
            self._used = self._usage() + len(data)
        return Stored(target, study, series, sop)

    def studies(self) -> list[StudyEntry]:
        """The studies in the folder, newest file first."""
        import pydicom

        out = []
        if not self.root.is_dir():
            return out
        for study_dir in self.root.iterdir():
            if study_dir.name.startswith(".") or not study_dir.is_dir():
                continue
            files = [
                p for p in study_dir.rglob("*.dcm") if not any(x.startswith(".") for x in p.parts)
            ]
            if not files:
                continue
            header = {}
            try:
                header = pydicom.dcmread(files[0], stop_before_pixels=True)
            except Exception:
                pass

            def text(keyword: str, ds=header) -> str:
                return str(ds.get(keyword, "") or "") if hasattr(ds, "get") else ""

            out.append(
                StudyEntry(
                    study_dir.name,
                    study_dir,
                    len(files),
                    sum(p.stat().st_size for p in files),
                    text("PatientName"),
                    text("PatientID"),
                    text("StudyDate"),
                    text("StudyDescription"),
                )
            )
        out.sort(key=lambda e: max(p.stat().st_mtime for p in e.path.rglob("*.dcm")), reverse=True)
        return out

    def delete_study(self, study_uid: str) -> None:
        uid = check_uid(study_uid, "Study Instance UID")
        folder = self.root / uid
        if not folder.is_dir():
            raise StoreError(f"study {uid} is not in the study folder {self.root}")
        with self._lock:
            shutil.rmtree(folder)
            self._used = None
