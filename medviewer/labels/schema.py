"""What a label is: frozen dataclasses shared by the store, import/export and the panel.

Labels are keyed by DICOM UIDs (Study / Series / SOP Instance UID + frame), never by file
path, so moving or re-importing a study keeps every label. Provenance (annotator, source,
model, times, review) travels with each annotation because labels feed fine-tuning.
"""

from __future__ import annotations

from dataclasses import dataclass

SCOPES = ("slice", "series")
SOURCES = ("human", "model")
STATUSES = ("draft", "final")
REVIEWS = ("", "approved", "flagged")


@dataclass(frozen=True, slots=True)
class SliceKey:
    """What an annotation is attached to: a slice (or frame), or a whole series.

    ``sop_uid`` is "" for a series-scope label; ``frame`` is None for single-frame images and
    the 1-based frame number of a multi-frame image otherwise.
    """

    study_uid: str
    series_uid: str
    sop_uid: str = ""
    frame: int | None = None

    def __str__(self) -> str:
        where = self.sop_uid or "(whole series)"
        frame = "" if self.frame is None else f" frame {self.frame}"
        return f"series {self.series_uid} image {where}{frame}"


@dataclass(frozen=True, slots=True)
class Region:
    """Evidence rectangle in pixel coordinates of that slice (x = column, y = row)."""

    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True, slots=True)
class ModelRef:
    """The model whose suggestion was accepted: enough to find the exact weights again."""

    name: str
    version: str
    sha256: str = ""

    def __str__(self) -> str:
        return f"{self.name}:{self.version}"


@dataclass(frozen=True, slots=True)
class Annotation:
    """One annotator's current label of one key, with its provenance and review."""

    id: int
    key: SliceKey
    label: str
    scope: str
    annotator: str
    source: str
    model: ModelRef | None
    region: Region | None
    status: str
    review: str
    reviewer: str
    comment: str
    created_at: str
    updated_at: str
    label_set: str
    path_hint: str


@dataclass(frozen=True, slots=True)
class LabelClass:
    """One class of a label set: its name, display colour and keyboard key."""

    name: str
    color: str
    key: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class LabelSet:
    """The classes an annotator chooses from, their scope and exclusivity."""

    name: str
    version: int
    scope: str
    exclusive: bool
    classes: tuple[LabelClass, ...]
    description: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    def by_key(self, key: str) -> LabelClass | None:
        """The class bound to keyboard ``key`` (case-insensitive), or None."""
        wanted = key.casefold()
        return next((c for c in self.classes if c.key.casefold() == wanted), None)

    def by_name(self, name: str) -> LabelClass | None:
        return next((c for c in self.classes if c.name == name), None)


__all__ = [
    "REVIEWS",
    "SCOPES",
    "SOURCES",
    "STATUSES",
    "Annotation",
    "LabelClass",
    "LabelSet",
    "ModelRef",
    "Region",
    "SliceKey",
]
