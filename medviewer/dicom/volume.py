"""Assemble a stack of slices into one preallocated volume array.

Native (uncompressed) pixel data is read straight from its byte offset, found once during the
scan, into a small buffer and rescaled into the volume: no per-file header parse, no float
copies. Compressed data goes through pydicom's pixel decoders. The middle slice is loaded
first so a viewer can show it while the rest arrives.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from medviewer.dicom import decoders
from medviewer.dicom.decode_pool import DecoderPool, new_pool
from medviewer.dicom.geometry import assemble_stack, known_starts, slice_point
from medviewer.dicom.model import (
    SLICE_UNREADABLE,
    Geometry,
    LoadWarning,
    PixelFormat,
    SeriesInfo,
    SliceRef,
)
from medviewer.dicom.volume_builder import VolumeBuilder
from medviewer.errors import DicomError
from medviewer.jobs import CancelToken, Job, Progress, run_job

log = logging.getLogger(__name__)

PROGRESS_EVERY = 16


@dataclass
class Volume:
    """A loaded stack: voxels (z, y, x[, rgb]) with rescale applied, and where they lie."""

    array: np.ndarray
    geometry: Geometry
    series: SeriesInfo
    warnings: list[LoadWarning] = field(default_factory=list)
    loaded: np.ndarray | None = None
    """Boolean per slice: True once that slice holds real data (for progressive display)."""
    source_files: list[str] = field(default_factory=list)

    @property
    def spacing(self) -> tuple[float, float, float]:
        return self.geometry.spacing

    @property
    def modality(self) -> str:
        return self.series.modality

    @property
    def photometric(self) -> str:
        return "RGB" if self.is_color else self.series.photometric

    @property
    def is_color(self) -> bool:
        return self.array.ndim == 4

    @property
    def invert(self) -> bool:
        """Low values are white (see SeriesInfo.drawn_inverted); the display inverts."""
        return self.series.drawn_inverted

    @property
    def units(self) -> str:
        if self.modality == "CT" and self.series.rescale_type in ("", "HU"):
            return "HU"
        return self.series.rescale_type

    def index_to_patient(self, k: float, j: float, i: float) -> np.ndarray:
        """Patient (x, y, z) in mm of voxel index (slice k, row j, column i).

        Along the slice axis each slice's own Image Position (Patient) is used when every
        slice has one (:func:`~medviewer.dicom.geometry.slice_point`), so a slice after a
        gap lies where it was acquired, not where equal spacing would put it."""
        sz, sy, sx = self.geometry.spacing
        d = self.geometry.direction_matrix()
        in_plane = d[:, 0] * (i * sx) + d[:, 1] * (j * sy)
        key = (id(self.series.slices), self.array.shape[0])
        cached = self.__dict__.get("_starts")
        if cached is None or cached[0] != key:
            cached = self.__dict__["_starts"] = (key, known_starts(self))
        return slice_point(cached[1], self.geometry, k) + in_plane

    def to_sitk(self):
        """This volume as a SimpleITK image with spacing, origin and direction."""
        import SimpleITK as sitk

        image = sitk.GetImageFromArray(self.array, isVector=self.is_color)
        sz, sy, sx = self.geometry.spacing
        image.SetSpacing((float(sx), float(sy), float(sz)))
        image.SetOrigin(tuple(float(v) for v in self.geometry.origin))
        image.SetDirection(tuple(float(v) for v in self.geometry.direction_matrix().ravel()))
        return image


def _decode_file(ref: SliceRef):
    """All frames of ``ref.path`` decoded by pydicom (palette colour applied) and its dataset.

    Compressed data goes through :func:`decoders.pixel_array`: the plug-ins that can abort the
    process on damaged data (GDCM) run last and only in a child process.
    """
    # force: the scan accepts files without the 128-byte preamble / file meta
    ds = decoders.read_dataset(ref.path, ref.transfer_syntax)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arr = decoders.pixel_array(ds, ref.path)
        if str(ds.get("PhotometricInterpretation", "")).upper() == "PALETTE COLOR":
            from pydicom.pixels import apply_color_lut

            arr = apply_color_lut(arr, ds)  # indices -> RGB through the file's palette
    return arr, ds


class _SliceReader:
    """Reads the stored values of one slice; keeps small buffers and the last decoded file."""

    def __init__(self, fmt: PixelFormat, *, native: bool = True) -> None:
        self.fmt = fmt
        self.scratch = np.empty(fmt.frame_shape if native else (0,), dtype=fmt.stored_dtype)
        self._cached_path: str | None = None
        self._cached: np.ndarray | None = None
        self._cached_ds = None
        self._cached_error: Exception | None = None

    def read(self, ref: SliceRef, out: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
        """Return (values, rescaled) where ``rescaled`` says the modality LUT was applied.

        Native data is read into ``out`` when given (the slice's own slot in the volume, so
        the bytes are copied once, by the kernel), else into a scratch buffer."""
        if ref.pixel_offset is not None and not ref.has_modality_lut:
            return self._read_native(ref, out), False
        return self._read_decoded(ref)

    def _read_native(self, ref: SliceRef, out: np.ndarray | None = None) -> np.ndarray:
        fmt = self.fmt
        buf = self.scratch if out is None else out
        offset = ref.pixel_offset + (ref.frame or 0) * fmt.frame_nbytes
        with open(ref.path, "rb", buffering=0) as fp:
            fp.seek(offset)
            got = fp.readinto(memoryview(buf).cast("B"))
        if got != fmt.frame_nbytes:
            raise DicomError(f"pixel data ends early: read {got} of {fmt.frame_nbytes} bytes")
        if ref.big_endian and buf.dtype.itemsize > 1:
            buf.byteswap(inplace=True)
        bits = buf.dtype.itemsize * 8
        if fmt.bits_stored < bits and not fmt.is_color:
            shift = bits - fmt.bits_stored
            if fmt.signed:  # sign-extend from BitsStored: arithmetic shift on the signed type
                np.left_shift(buf, shift, out=buf)
                np.right_shift(buf, shift, out=buf)
            else:  # high bits may carry overlays: mask them off
                np.bitwise_and(buf, (1 << fmt.bits_stored) - 1, out=buf)
        return buf

    def _read_decoded(self, ref: SliceRef) -> tuple[np.ndarray, bool]:
        if self._cached_path != ref.path:
            self._cached = self._cached_ds = self._cached_error = None
            self._cached_path = ref.path
            try:
                self._cached, self._cached_ds = _decode_file(ref)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # incl. pyo3 PanicException from Rust decoders
                self._cached_error = exc  # a multi-frame file fails once, not once per frame
                raise
        if self._cached_error is not None:
            raise self._cached_error
        arr, ds = self._cached, self._cached_ds
        if (
            ref.frame is not None
            and arr.ndim >= 3
            and arr.shape[0] > ref.frame
            and (arr.ndim == 4 or not self.fmt.is_color)
        ):
            frame = arr[ref.frame]
        else:
            frame = arr
        if frame.shape[:2] != (self.fmt.rows, self.fmt.cols):
            raise DicomError(
                f"decoded image is {frame.shape[1]}x{frame.shape[0]}, header says "
                f"{self.fmt.cols}x{self.fmt.rows} ((0028,0011) Columns, (0028,0010) Rows)"
            )
        if ref.has_modality_lut:
            from pydicom.pixels import apply_modality_lut

            return np.asarray(apply_modality_lut(frame, ds)), True
        return frame, False

    def release(self) -> None:
        self._cached = self._cached_ds = self._cached_error = None
        self._cached_path = None


def load_order(n: int) -> list[int]:
    """Middle slice first, then the others in order."""
    if n == 0:
        return []
    mid = n // 2
    return [mid, *(i for i in range(n) if i != mid)]


def load_volume_iter(
    series: SeriesInfo, cancel: CancelToken | None = None, *, decoders: DecoderPool | None = None
) -> Job[Volume]:
    """Load ``series`` into a :class:`Volume`: a job whose first progress step carries the
    partially filled volume (middle slice ready) as ``detail``.

    ``decoders``: a running :class:`DecoderPool` that decodes every compressed single-frame
    series, whatever its size (a job loading many series keeps one warm). Without it, only
    big compressed series get processes of their own (:data:`POOL_MIN_PIXELS`)."""
    if not series.slices:
        raise DicomError(f"series {series.key} has no images to load")
    n = len(series.slices)
    builder = VolumeBuilder(series)
    reader = _SliceReader(series.pixel_format)
    loaded = np.zeros(n, dtype=bool)
    volume = Volume(
        array=builder.array,
        geometry=series.geometry,
        series=series,
        warnings=list(series.warnings),
        loaded=loaded,
        source_files=[s.path for s in series.slices],
    )
    failures: list[tuple[int, str]] = []
    order = load_order(n)
    first = series.slices[0]
    if first.frame is not None and first.pixel_offset is None:
        order = list(range(n))  # decode the file once, frames in order
    for count, (z, values, rescaled, error) in enumerate(
        _read_slices(series, order, reader, builder.native_slot, decoders), start=1
    ):
        ref = series.slices[z]
        if error is None:
            try:
                builder.store(z, values, ref, rescaled)
            except Exception as exc:
                error = _reason(exc)
        if error is not None:
            failures.append((z, error))
            builder.array[z] = 0
        volume.array = builder.array
        loaded[z] = True
        if count == 1 or count % PROGRESS_EVERY == 0:
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield Progress(count, n, f"loaded {count} of {n} slices", detail=volume)
    reader.release()

    if failures:
        volume = _drop_failed(volume, failures)
    yield Progress(n, n, "volume loaded", detail=volume)
    return volume


# Compressed single-frame series with at least this many pixels are decoded in worker
# processes: pixel decoders hold the GIL, so threads do not help, processes do (JPEG 2000
# ~25-37 ms per 512x512 slice). Below it, starting the processes (~1 s) costs more than it saves.
POOL_MIN_PIXELS = 24_000_000


def _read_one(reader: _SliceReader, ref: SliceRef, out: np.ndarray | None = None):
    try:
        values, rescaled = reader.read(ref) if out is None else reader.read(ref, out)
        return values, rescaled, None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # one bad slice must not lose the others
        # BaseException: the Rust decoders (pylibjpeg-rle, ...) raise pyo3's PanicException
        log.debug("slice of %s failed", ref.path, exc_info=True)
        return None, False, _reason(exc)


def _pool_size(series: SeriesInfo) -> int:
    """How many decoder processes to use for ``series`` (0: decode in this process)."""
    cpus = os.cpu_count() or 1
    first = series.slices[0]
    fmt = series.pixel_format
    if cpus < 2 or len(series.slices) * fmt.rows * fmt.cols * fmt.samples < POOL_MIN_PIXELS:
        return 0
    if first.pixel_offset is not None or first.frame is not None:
        return 0  # native data is a plain read; multi-frame files decode once
    return min(cpus, 8)


def _decode_in_worker(args: tuple[str, int, int, int, bool]):
    """Process-pool entry point: decode one single-frame file; never raises."""
    path, rows, cols, samples, has_lut = args
    decoders.mark_child_process()  # a decoder crash here ends this worker, not the viewer
    fmt = PixelFormat(rows, cols, samples, 16, 16, False, "MONOCHROME2")
    reader = _SliceReader(fmt, native=False)
    values, rescaled, error = _read_one(reader, SliceRef(path=path, has_modality_lut=has_lut))
    return (None if values is None else np.ascontiguousarray(values)), rescaled, error


# Native slices of a series at least this long are read by this many threads, each straight
# into its slice of the volume: readinto releases the GIL, so the kernel's copies from the page
# cache run in parallel while this thread rescales the slices already read.
THREAD_MIN_SLICES = 32
READ_THREADS = 2


def _threads_help(series: SeriesInfo, order: list[int], slot) -> bool:
    if slot is None or len(order) < THREAD_MIN_SLICES or (os.cpu_count() or 1) < 2:
        return False
    return all(r.pixel_offset is not None and not r.has_modality_lut for r in series.slices)


def _read_native_in_threads(series: SeriesInfo, order: list[int], reader: _SliceReader, slot):
    """Yield (z, values, rescaled, error) in ``order``, read by :data:`READ_THREADS` threads.

    Every slot is taken before the first read: if the volume is widened meanwhile, the raw
    values land in the old array and are rescaled from there into the new one (the builder
    sees they are not in its array), so nothing is lost."""
    from concurrent.futures import ThreadPoolExecutor

    targets = [(z, slot(z)) for z in order]
    if any(out is None for _, out in targets):  # widened already: one scratch buffer, here
        for z in order:
            yield (z, *_read_one(reader, series.slices[z]))
        return
    pool = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="medviewer-read")
    try:
        results = pool.map(lambda t: _read_one(reader, series.slices[t[0]], t[1]), targets)
        for (z, _), result in zip(targets, results):
            yield (z, *result)
    finally:  # also when the load is cancelled: no thread writes into the volume after it
        pool.shutdown(wait=True, cancel_futures=True)


def _compressed_files(series: SeriesInfo) -> bool:
    first = series.slices[0]
    return first.pixel_offset is None and first.frame is None


def _read_slices(
    series: SeriesInfo, order: list[int], reader: _SliceReader, slot=None, shared=None
):
    """Yield (z, values, rescaled, error) in ``order``.

    ``slot(z)`` may give the array native data of slice z is read straight into. ``shared``:
    a :class:`DecoderPool` for compressed files; otherwise the first slice is read here and
    the rest by processes started for this series when it is big."""
    if shared is not None and _compressed_files(series):
        yield from _decode_with(shared.executor(), series, order, reader)
        shared.check()
        return
    workers = _pool_size(series)
    if not workers and _threads_help(series, order, slot):
        first = order[0]
        yield (first, *_read_one(reader, series.slices[first], slot(first)))
        yield from _read_native_in_threads(series, order[1:], reader, slot)
        return
    if not workers:
        for z in order:
            out = slot(z) if slot is not None else None
            yield (z, *_read_one(reader, series.slices[z], out))
        return
    first, rest = order[0], order[1:]
    yield (first, *_read_one(reader, series.slices[first]))
    try:
        pool = new_pool(workers)
    except (OSError, ValueError) as exc:
        log.debug("no decoder processes (%s); decoding in this process", exc)
        pool = None
    try:
        yield from _decode_with(pool, series, rest, reader)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _decode_with(pool, series: SeriesInfo, order: list[int], reader: _SliceReader):
    """Yield (z, values, rescaled, error) for ``order``, decoded by ``pool``'s processes;
    whatever they could not do (no pool, a broken pool) is decoded here."""
    fmt = series.pixel_format
    jobs = [
        (series.slices[z].path, fmt.rows, fmt.cols, fmt.samples, series.slices[z].has_modality_lut)
        for z in order
    ]
    done = 0
    if pool is not None:
        try:
            results = pool.map(_decode_in_worker, jobs, chunksize=4)
            for z, result in zip(order, results):
                yield (z, *result)
                done += 1
        except Exception as exc:  # a broken pool must not lose the study: finish here
            log.debug("decoder processes failed (%s); decoding the rest in this process", exc)
    for z in order[done:]:
        yield (z, *_read_one(reader, series.slices[z]))


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _drop_failed(volume: Volume, failures: list[tuple[int, str]]) -> Volume:
    series = volume.series
    bad = {z for z, _ in failures}
    if len(bad) == len(series.slices):
        z, reason = failures[0]
        raise DicomError(
            f"no slice of series {series.key} could be decoded; first failure in "
            f"{series.slices[z].path}: {reason}"
        )
    keep = [z for z in range(len(series.slices)) if z not in bad]
    refs = [series.slices[z] for z in keep]
    array = volume.array[keep]
    _, geometry, geo_warnings = assemble_stack(refs, keep_order=True)
    names = "; ".join(
        f"{os.path.basename(series.slices[z].path)}"
        + (f" frame {series.slices[z].frame + 1}" if series.slices[z].frame is not None else "")
        + f": {reason}"
        for z, reason in failures[:3]
    )
    more = f" and {len(failures) - 3} more" if len(failures) > 3 else ""
    warnings = [w for w in volume.warnings if w.code not in {g.code for g in geo_warnings}]
    warnings += geo_warnings
    warnings.append(
        LoadWarning(
            SLICE_UNREADABLE,
            f"{len(failures)} of {len(series.slices)} slice(s) could not be decoded and were "
            f"left out ({names}{more}); the files may be damaged",
        )
    )
    new_series = replace(series, slices=refs, geometry=geometry, warnings=warnings)
    return Volume(
        array=array,
        geometry=geometry,
        series=new_series,
        warnings=warnings,
        loaded=np.ones(len(refs), dtype=bool),
        source_files=[r.path for r in refs],
    )


def load_volume(series: SeriesInfo, on_progress=None, cancel=None) -> Volume:
    """Load ``series`` and return the volume (the blocking face of :func:`load_volume_iter`)."""
    return run_job(load_volume_iter(series, cancel), on_progress, cancel)
