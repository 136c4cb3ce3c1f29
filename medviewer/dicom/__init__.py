"""The DICOM core: scan headers, assemble volumes, display helpers. No Qt, no torch."""

from medviewer.dicom.display import Window, auto_window, default_window, presets_for
from medviewer.dicom.model import (
    LoadWarning,
    ScanResult,
    SeriesInfo,
    Skipped,
    StudyInfo,
)
from medviewer.dicom.scan import scan, scan_iter
from medviewer.dicom.volume import Volume, load_volume, load_volume_iter

__all__ = [
    "LoadWarning",
    "ScanResult",
    "SeriesInfo",
    "Skipped",
    "StudyInfo",
    "Volume",
    "Window",
    "auto_window",
    "default_window",
    "load_volume",
    "load_volume_iter",
    "presets_for",
    "scan",
    "scan_iter",
]
