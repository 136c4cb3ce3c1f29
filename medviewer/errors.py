"""Exception hierarchy. Every message says what went wrong, where, and what to do."""

from __future__ import annotations


class MedviewerError(Exception):
    """Base class for errors a user can act on (shown as one line, no traceback)."""


class DicomError(MedviewerError):
    """A DICOM file or series cannot be read."""


class SeriesGeometryError(DicomError):
    """A series cannot be assembled into a volume (no usable geometry or slices)."""


class ModelError(MedviewerError):
    """A model package cannot be loaded or run."""


class TrainingDataError(ModelError):
    """The labels cannot train a model: too few, one class or one patient only, unusable."""


class LabelStoreError(MedviewerError):
    """The annotation store cannot be read or written."""


class Cancelled(MedviewerError):
    """A long job was cancelled by the user."""

    def __init__(self, message: str = "cancelled by the user") -> None:
        super().__init__(message)
