"""What a triage stores: the model's identity, one series' result, a skipped item, how
suspicious a result is, and the two errors of the results store. Plain data, no SQLite."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# what counts as a finding is shared with medviewer.reports; re-exported here for triage
from medviewer.ai.findings import MAX_FLAGGED as MAX_FLAGGED
from medviewer.ai.findings import normal_class as normal_class
from medviewer.ai.findings import suspicion as suspicion
from medviewer.errors import MedviewerError


@dataclass(frozen=True)
class ModelIdentity:
    """Which model made a result: its card's name and version and its weights' sha256."""

    name: str
    version: str
    sha256: str

    @property
    def ref(self) -> str:
        """``name:version``, as ``--model`` takes it."""
        return f"{self.name}:{self.version}"

    def describe(self) -> str:
        """``name version (sha256 0123456789ab…)`` for messages."""
        return f"{self.name} {self.version} (sha256 {self.sha256[:12]}…)"

    @classmethod
    def of(cls, manifest) -> ModelIdentity:
        """The identity of a model card (:class:`~medviewer.ai.manifest.Manifest`)."""
        return cls(manifest.name, manifest.version, manifest.sha256)

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelIdentity:
        return cls(str(d["name"]), str(d["version"]), str(d["sha256"]))


@dataclass
class SeriesResult:
    """The model's result for one series (one row of the results store)."""

    series_key: str
    series_uid: str
    study_uid: str
    patient_id: str
    patient_name: str
    study_date: str
    study_description: str
    series_description: str
    modality: str
    series_number: int | None
    n_slices: int
    folder: str
    """The folder of the series' first file (to open the series again)."""
    model: ModelIdentity
    probabilities: dict[str, float]
    """The series' calibrated probabilities, aggregated as the model card says."""
    top_class: str
    suspicion: float
    """See :func:`suspicion`: the higher, the sooner a reader should look at the series."""
    top_slice: int
    """Index (volume order) of the most suspicious slice."""
    top_slice_sop_uid: str
    top_slice_probability: float
    """That slice's probability of the series' most suspicious abnormal class."""
    flagged_slices: list[int] = field(default_factory=list)
    """Slices whose top class is not the normal class, most suspicious first (at most 50)."""
    seconds: float = 0.0
    device: str = ""
    warnings: list[str] = field(default_factory=list)
    finished_at: str = ""
    """When the result was stored: ISO 8601, UTC."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``model`` nested); :meth:`from_dict` reads it back."""
        return {
            "series_key": self.series_key,
            "series_uid": self.series_uid,
            "study_uid": self.study_uid,
            "patient_id": self.patient_id,
            "patient_name": self.patient_name,
            "study_date": self.study_date,
            "study_description": self.study_description,
            "series_description": self.series_description,
            "modality": self.modality,
            "series_number": self.series_number,
            "n_slices": self.n_slices,
            "folder": self.folder,
            "model": self.model.to_dict(),
            "probabilities": dict(self.probabilities),
            "top_class": self.top_class,
            "suspicion": self.suspicion,
            "top_slice": self.top_slice,
            "top_slice_sop_uid": self.top_slice_sop_uid,
            "top_slice_probability": self.top_slice_probability,
            "flagged_slices": list(self.flagged_slices),
            "seconds": self.seconds,
            "device": self.device,
            "warnings": list(self.warnings),
            "finished_at": self.finished_at,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SeriesResult:
        number = d.get("series_number")
        return cls(
            series_key=str(d["series_key"]),
            series_uid=str(d["series_uid"]),
            study_uid=str(d.get("study_uid", "")),
            patient_id=str(d.get("patient_id", "")),
            patient_name=str(d.get("patient_name", "")),
            study_date=str(d.get("study_date", "")),
            study_description=str(d.get("study_description", "")),
            series_description=str(d.get("series_description", "")),
            modality=str(d.get("modality", "")),
            series_number=None if number is None else int(number),
            n_slices=int(d.get("n_slices", 0)),
            folder=str(d.get("folder", "")),
            model=ModelIdentity.from_dict(d["model"]),
            probabilities={str(k): float(v) for k, v in d["probabilities"].items()},
            top_class=str(d["top_class"]),
            suspicion=float(d["suspicion"]),
            top_slice=int(d["top_slice"]),
            top_slice_sop_uid=str(d.get("top_slice_sop_uid", "")),
            top_slice_probability=float(d.get("top_slice_probability", 0.0)),
            flagged_slices=[int(k) for k in d.get("flagged_slices", ())],
            seconds=float(d.get("seconds", 0.0)),
            device=str(d.get("device", "")),
            warnings=[str(w) for w in d.get("warnings", ())],
            finished_at=str(d.get("finished_at", "")),
        )


@dataclass
class SkippedItem:
    """A file or series the triage did not classify, and why."""

    where: str
    """The file path or series key."""
    code: str
    """``unreadable`` | ``not_image`` | ``other_modality`` | ``failed`` | ..."""
    reason: str
    """In plain words: what, where, and what to do."""

    def to_dict(self) -> dict[str, str]:
        return {"where": self.where, "code": self.code, "reason": self.reason}


class ResultsStoreError(MedviewerError):
    """The results file cannot be used: an unwritable or read-only location, a damaged or
    foreign file, a full disk. The message says which, and that what was stored is kept."""


class ResultsModelMismatch(MedviewerError):
    """The results file holds results of another model (its name or sha256 differs)."""

    def __init__(self, message: str, *, stored: ModelIdentity, model: ModelIdentity, path) -> None:
        super().__init__(message)
        self.stored = stored
        """The model whose results the file holds (the most recent one)."""
        self.model = model
        """The model the file was opened for."""
        self.path = path


def duration_text(seconds: float | None) -> str:
    """A run's duration or time left in words: "45 s", "7 min", "2 h 05 min" ("" for None)."""
    if seconds is None:
        return ""
    seconds = max(0, round(float(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
