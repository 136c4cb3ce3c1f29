"""Window/level: values from the file, presets per modality, automatic windows, VOI LUT."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medviewer.dicom.model import SeriesInfo


@dataclass(frozen=True)
class Window:
    """A display window: values ``center - width/2 .. center + width/2`` span black to white."""

    center: float
    width: float
    name: str = ""

    @property
    def levels(self) -> tuple[float, float]:
        """(low, high) as pyqtgraph's ``levels`` expect."""
        half = max(self.width, 1e-6) / 2.0
        return (self.center - half, self.center + half)


CT_PRESETS: tuple[Window, ...] = (
    Window(40, 80, "Brain"),
    Window(75, 215, "Subdural"),
    Window(40, 40, "Stroke"),
    Window(600, 2800, "Bone"),
    Window(-600, 1500, "Lung"),
    Window(50, 350, "Mediastinum"),
    Window(40, 400, "Abdomen"),
    Window(60, 160, "Liver"),
)

AUTO_PERCENTILES = (0.5, 99.5)


def presets_for(modality: str) -> tuple[Window, ...]:
    """Fixed presets for ``modality`` (CT in HU); other modalities rely on auto windows."""
    return CT_PRESETS if modality.upper() == "CT" else ()


def header_windows(series: SeriesInfo) -> list[Window]:
    """Windows stored in the file ((0028,1050) Window Center / (0028,1051) Width)."""
    out = []
    for i, (c, w) in enumerate(zip(series.window_centers, series.window_widths)):
        if w > 0:
            name = series.window_explanations[i] if i < len(series.window_explanations) else ""
            out.append(Window(float(c), float(w), name or f"File {i + 1}"))
    return out


def auto_window(values: np.ndarray, percentiles=AUTO_PERCENTILES, max_samples=262_144) -> Window:
    """Window spanning the given percentiles of ``values`` (sub-sampled for speed)."""
    flat = np.asarray(values).ravel()
    if flat.size == 0:
        return Window(0.0, 1.0, "Auto")
    if flat.size > max_samples:
        flat = flat[:: flat.size // max_samples + 1]
    lo, hi = np.percentile(flat, percentiles)
    if hi <= lo:
        lo, hi = float(flat.min()), float(flat.max())
        if hi <= lo:
            hi = lo + 1.0
    return Window((float(lo) + float(hi)) / 2.0, float(hi) - float(lo), "Auto")


def default_window(series: SeriesInfo, values: np.ndarray) -> Window:
    """The window a viewer opens with: the file's own, else Brain/Abdomen for CT, else auto."""
    from_file = header_windows(series)
    if from_file:
        return from_file[0]
    if series.modality == "CT":
        if "HEAD" in series.body_part.upper() or "BRAIN" in series.body_part.upper():
            return CT_PRESETS[0]
        return auto_window(values)
    return auto_window(values)


def apply_voi_lut(values: np.ndarray, voi_lut: tuple) -> np.ndarray:
    """Map ``values`` through a (first_mapped, bits, table) VOI LUT from the file."""
    first_mapped, _bits, table = voi_lut
    idx = np.clip(values.astype(np.int64) - int(first_mapped), 0, table.size - 1)
    return table[idx]


def to_display_uint8(values: np.ndarray, window: Window, invert: bool = False) -> np.ndarray:
    """Greyscale values -> 0..255 through ``window``; MONOCHROME1 inverted when asked."""
    lo, hi = window.levels
    scaled = (np.asarray(values, dtype=np.float32) - lo) * (255.0 / (hi - lo))
    out = np.clip(scaled, 0, 255).astype(np.uint8)
    if invert:
        np.subtract(255, out, out=out)
    return out
