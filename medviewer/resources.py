"""Where bundled resources live (sample study, icons, style sheet)."""

from __future__ import annotations

import os
from pathlib import Path

_REPO_RESOURCES = Path(__file__).resolve().parent.parent / "resources"


def resources_dir() -> Path:
    """The resources folder: $MEDVIEWER_RESOURCES, else the one beside the package."""
    override = os.environ.get("MEDVIEWER_RESOURCES")
    return Path(override) if override else _REPO_RESOURCES


def sample_study_dir() -> Path:
    """The bundled sample head CT (DICOM, JPEG 2000 lossless)."""
    return resources_dir() / "sample" / "cranium-ct"


def lesion_sample_dir() -> Path:
    """The demonstration copy of part of the sample head CT with synthetic lesions."""
    return resources_dir() / "sample" / "cranium-ct-lesions"
