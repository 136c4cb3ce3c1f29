"""Small preview images of series (the series browser's icons), no Qt.

Only the middle image of a series is read. It is windowed the way the viewer opens it
(the file's window, else the modality default, else automatic), MONOCHROME1 inverted, and
shrunk by area averaging to fit ``size x size`` with the pixel aspect of the acquisition.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from medviewer.dicom import SeriesInfo, load_volume
from medviewer.dicom.display import default_window, to_display_uint8
from medviewer.errors import DicomError
from medviewer.jobs import Job, Progress

log = logging.getLogger(__name__)

DEFAULT_SIZE = 96


def _fit_shape(rows: int, cols: int, spacing: tuple[float, float], size: int) -> tuple[int, int]:
    """(h, w) of the thumbnail: the long side is ``size``, the aspect is physical."""
    row_sp, col_sp = (abs(float(v)) for v in spacing)
    if not (np.isfinite(row_sp) and np.isfinite(col_sp)) or row_sp <= 0 or col_sp <= 0:
        row_sp = col_sp = 1.0
    height, width = rows * row_sp, cols * col_sp
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _resample_axis(values: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    """Shrink ``axis`` to ``n_out`` by averaging whole bins, or grow it by repetition."""
    n_in = values.shape[axis]
    if n_out == n_in:
        return values
    if n_out < n_in:
        edges = (np.arange(n_out) * n_in) // n_out  # bins never empty when shrinking
        sums = np.add.reduceat(values, edges, axis=axis)
        counts = np.diff(np.append(edges, n_in)).astype(np.float32)
        shape = [1] * values.ndim
        shape[axis] = n_out
        return sums / counts.reshape(shape)
    index = np.minimum((np.arange(n_out) * n_in) // n_out, n_in - 1)
    return np.take(values, index, axis=axis)


def resize_to_fit(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` (h, w) or (h, w, c) uint8 resampled to ``shape`` (area average), uint8."""
    out = image.astype(np.float32)
    out = _resample_axis(out, shape[0], 0)
    out = _resample_axis(out, shape[1], 1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _colour_to_uint8(values: np.ndarray, bits_stored: int) -> np.ndarray:
    if values.dtype == np.uint8:
        return values
    top = float(2 ** min(max(bits_stored, 8), 16) - 1)
    return np.clip(values.astype(np.float32) * (255.0 / top), 0, 255).astype(np.uint8)


def thumbnail(series: SeriesInfo, size: int = DEFAULT_SIZE) -> np.ndarray:
    """The middle image of ``series`` as uint8 (h, w) greyscale or (h, w, 3) colour.

    The long side is ``size`` pixels. Raises :class:`DicomError` when the image cannot be read.
    """
    if not series.slices:
        raise DicomError(f"series {series.key} has no images")
    if size < 1:
        raise ValueError(f"thumbnail size must be positive, not {size}")
    mid = len(series.slices) // 2
    one = replace(series, slices=[series.slices[mid]], n_files=1)
    volume = load_volume(one)
    values = volume.array[0]
    if volume.is_color:
        image = _colour_to_uint8(values, series.pixel_format.bits_stored)
    else:
        window = default_window(series, values)
        image = to_display_uint8(values, window, invert=volume.invert)
    _, row_sp, col_sp = volume.spacing
    shape = _fit_shape(image.shape[0], image.shape[1], (row_sp, col_sp), size)
    return resize_to_fit(image, shape)


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def thumbnails_iter(
    series_list: Iterable[SeriesInfo], size: int = DEFAULT_SIZE
) -> Job[dict[str, np.ndarray | None]]:
    """Make one thumbnail per series, yielding each as soon as it is ready.

    Every step's ``detail`` is ``(series.key, array or None, error message or None)``. A series
    that fails gives an error message; the job itself never raises for bad images. Returns
    ``{key: array or None}``.
    """
    series_list = list(series_list)
    total = len(series_list)
    result: dict[str, np.ndarray | None] = {}
    for done, series in enumerate(series_list, start=1):
        array: np.ndarray | None = None
        error: str | None = None
        try:
            array = thumbnail(series, size)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # incl. pyo3 PanicException from the Rust decoders
            log.debug("thumbnail of %s failed", series.key, exc_info=True)
            error = f"no preview: {_reason(exc)}"
        result[series.key] = array
        label = series.description or series.modality or series.key
        yield Progress(
            done, total, f"preview {done} of {total}: {label}", (series.key, array, error)
        )
    return result


__all__ = ["DEFAULT_SIZE", "resize_to_fit", "thumbnail", "thumbnails_iter"]
