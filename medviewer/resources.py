"""Where bundled resources live (sample study, icons, style sheet, the shipped models)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def install_root() -> Path:
    """The folder holding ``resources/`` and ``models/``.

    In a frozen build (PyInstaller sets ``sys.frozen`` and ``sys._MEIPASS``) that is the
    bundle's contents folder (``dist/medviewer/_internal``); otherwise the folder above the
    ``medviewer`` package (the source checkout, or an editable install of it).
    """
    bundle = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle:
        return Path(bundle)
    return _SOURCE_ROOT


def resources_dir() -> Path:
    """The resources folder: $MEDVIEWER_RESOURCES, else ``resources/`` in :func:`install_root`."""
    override = os.environ.get("MEDVIEWER_RESOURCES")
    return Path(override) if override else install_root() / "resources"


def sample_study_dir() -> Path:
    """The bundled sample head CT (DICOM, JPEG 2000 lossless)."""
    return resources_dir() / "sample" / "cranium-ct"


def lesion_sample_dir() -> Path:
    """The demonstration copy of part of the sample head CT with synthetic lesions."""
    return resources_dir() / "sample" / "cranium-ct-lesions"
