"""The growing volume array of a load: its dtype, and each slice's values rescaled into it.

The array starts in the narrowest dtype that holds the rescaled values the headers promise
(int16 for most CT) and widens (int32, float32, float64) only when a slice's values do not
fit, so a normal series is written once, in place, without float copies.
"""

from __future__ import annotations

import logging

import numpy as np

from medviewer.dicom.model import SeriesInfo, SliceRef

log = logging.getLogger(__name__)

COLOR_PHOTOMETRICS = {
    "RGB",
    "YBR_FULL",
    "YBR_FULL_422",
    "YBR_ICT",
    "YBR_RCT",
    "YBR_PARTIAL_420",
    "PALETTE COLOR",
}


def _is_integral(x: float) -> bool:
    return float(x).is_integer()


_INT_LADDER = [np.dtype(np.int16), np.dtype(np.int32)]


def _initial_dtype(series: SeriesInfo) -> np.dtype:
    fmt = series.pixel_format
    if fmt.is_color or fmt.photometric in COLOR_PHOTOMETRICS:
        return np.dtype(np.uint8) if fmt.bits_allocated <= 8 else np.dtype(np.uint16)
    refs = series.slices
    if any(not (_is_integral(r.slope) and _is_integral(r.intercept)) for r in refs):
        return np.dtype(np.float32)
    if all(r.slope == 1 and r.intercept == 0 and not r.has_modality_lut for r in refs):
        return fmt.stored_dtype if fmt.bits_allocated > 1 else np.dtype(np.uint8)
    return np.dtype(np.int16) if fmt.bits_allocated <= 16 else np.dtype(np.int32)


def _fits(dtype: np.dtype, lo: float, hi: float) -> bool:
    if dtype.kind == "f":
        return True
    info = np.iinfo(dtype)
    return info.min <= lo and hi <= info.max


class VolumeBuilder:
    """Holds the growing array; widens its dtype if a slice's values do not fit."""

    def __init__(self, series: SeriesInfo) -> None:
        self.series = series
        dtype = _initial_dtype(series)
        n = len(series.slices)
        self.array = np.empty((n, *series.pixel_format.frame_shape), dtype=dtype)

    def _widen(self, lo: float, hi: float, need_float: bool) -> None:
        current = self.array.dtype
        if need_float:
            target = np.dtype(np.float32) if current.itemsize <= 2 else np.dtype(np.float64)
        else:
            target = next((d for d in _INT_LADDER if _fits(d, lo, hi)), np.dtype(np.float64))
        if target == current:
            return
        log.debug("widening volume from %s to %s for values %s..%s", current, target, lo, hi)
        self.array = self.array.astype(target)

    def native_slot(self, z: int) -> np.ndarray | None:
        """Slice z of the array, when native stored values can be read straight into it (the
        array still has the stored dtype): one copy of the bytes instead of two."""
        out = self.array
        if out.ndim != 3 or out.dtype != self.series.pixel_format.stored_dtype:
            return None
        return out[z]

    def _rescale_in_place(self, z: int, ref: SliceRef) -> None:
        """Slice z holds raw stored values (read into :meth:`native_slot`): rescale them
        there, or through :meth:`store` when the result needs a wider array."""
        raw = self.array[z]
        slope, intercept = ref.slope, ref.intercept
        if slope == 1 and intercept == 0:
            return
        if _is_integral(slope) and _is_integral(intercept):
            vmin, vmax = int(raw.min()), int(raw.max())
            a, b = vmin * slope + intercept, vmax * slope + intercept
            if _fits(raw.dtype, min(a, b), max(a, b)):
                # Integer arithmetic modulo 2**bits is exact: the result fits (checked).
                if slope != 1:
                    np.multiply(raw, raw.dtype.type(int(slope)), out=raw, casting="unsafe")
                if intercept:
                    np.add(raw, raw.dtype.type(int(intercept)), out=raw)
                return
        self.store(z, raw.copy(), ref, rescaled=False)

    def store(self, z: int, values: np.ndarray, ref: SliceRef, rescaled: bool) -> None:
        out = self.array
        if values.base is out and not rescaled:  # read straight into its slot
            self._rescale_in_place(z, ref)
            return
        if values.ndim == 3 or out.ndim == 4:  # colour: stored as decoded
            if values.dtype != out.dtype and values.dtype.itemsize > out.dtype.itemsize:
                # native byte order: big endian files decode to '>u4', which SimpleITK rejects
                self.array = out = out.astype(values.dtype.newbyteorder("="))
            out[z] = values
            return
        slope, intercept = (1.0, 0.0) if rescaled else (ref.slope, ref.intercept)
        if values.dtype.kind == "f" or not (_is_integral(slope) and _is_integral(intercept)):
            if out.dtype.kind != "f":
                self._widen(0, 0, need_float=True)
                out = self.array
            np.multiply(values, slope, out=out[z], casting="unsafe")
            out[z] += out.dtype.type(intercept)
            return
        vmin, vmax = int(values.min()), int(values.max())
        a, b = vmin * slope + intercept, vmax * slope + intercept
        lo, hi = min(a, b), max(a, b)
        if not _fits(out.dtype, lo, hi):
            self._widen(lo, hi, need_float=False)
            out = self.array
        target = out[z]
        if out.dtype.kind == "f":
            np.multiply(values, slope, out=target, casting="unsafe")
            target += out.dtype.type(intercept)
            return
        # Integer arithmetic modulo 2**bits is exact here because the result fits (checked).
        if slope == 1:
            np.copyto(target, values, casting="unsafe")
        else:
            np.multiply(
                values, out.dtype.type(int(slope)), out=target, dtype=out.dtype, casting="unsafe"
            )
        if intercept:
            np.add(target, out.dtype.type(int(intercept)), out=target)
