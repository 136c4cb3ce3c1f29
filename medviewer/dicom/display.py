"""Window/level: values from the file, presets per modality, automatic windows, VOI LUT."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from medviewer.dicom.model import SeriesInfo


@dataclass(frozen=True)
class Window:
    """A display window: values ``center - width/2 .. center + width/2`` span black to white."""

    center: float
    width: float
    name: str = ""
    lut: np.ndarray | None = field(default=None, compare=False, repr=False)
    """A non-linear window: uint8 grey levels spread evenly over ``levels`` (the file's VOI LUT
    or a SIGMOID function); None for the usual linear ramp."""
    file_width: float | None = field(default=None, compare=False)
    """The width the file states, where ``width`` spans more (a SIGMOID's table covers four
    times it); what the window list and the corner show."""

    @property
    def shown_width(self) -> float:
        """The width to show a reader: the file's, else ``width``."""
        return self.width if self.file_width is None else self.file_width

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
    """Windows stored in the file: its (0028,3010) VOI LUT first, then (0028,1050) Window
    Center / (0028,1051) Width, drawn through (0028,1056) VOI LUT Function SIGMOID when the
    file says so."""
    out = []
    if series.voi_lut is not None:
        out.append(voi_lut_window(series.voi_lut))
    sigmoid = series.voi_function == "SIGMOID"
    for i, (c, w) in enumerate(zip(series.window_centers, series.window_widths)):
        if w > 0:
            name = series.window_explanations[i] if i < len(series.window_explanations) else ""
            name = name or f"File {i + 1}"
            out.append(sigmoid_window(c, w, name) if sigmoid else Window(float(c), float(w), name))
    return out


def voi_lut_window(voi_lut: tuple, name: str = "File VOI LUT") -> Window:
    """The file's VOI LUT (first_mapped, bits, table) as a window: values below the first
    entry take its grey, above the last the last one's, as the standard says."""
    first_mapped, bits, table = voi_lut
    table = np.asarray(table, dtype=np.float64)
    top = float(2 ** int(bits) - 1) if 0 < int(bits) <= 16 else float(table.max() or 1.0)
    if table.max() > top:  # a descriptor whose bits understate the table's values
        top = float(table.max())
    grey = np.clip(np.round(table * (255.0 / top)), 0, 255).astype(np.uint8)
    n = grey.size  # entry k is drawn for the value first_mapped + k
    return Window(float(first_mapped) + n / 2.0, float(n), name, lut=grey)


def sigmoid_window(center: float, width: float, name: str) -> Window:
    """(0028,1056) SIGMOID: grey = 1 / (1 + exp(-4 (x - center) / width)), over center +- 2 width
    (the curve is flat beyond)."""
    x = np.linspace(-2.0, 2.0, 1024)
    grey = np.round(255.0 / (1.0 + np.exp(-4.0 * x))).astype(np.uint8)
    return Window(
        float(center), float(4.0 * width), f"{name} (sigmoid)", lut=grey, file_width=float(width)
    )


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
    if window.lut is not None:  # through the non-linear table, as the view draws it
        n = window.lut.size
        index = np.clip(scaled * (n / 255.0), 0, n - 1).astype(np.intp)
        out = window.lut[index]
    else:
        out = np.clip(scaled, 0, 255).astype(np.uint8)
    if invert:
        np.subtract(255, out, out=out)
    return out
