"""The state of an open study, independent of any GUI.

The Qt layer calls these methods and redraws from the attributes; tests and the command line
can drive the very same object without Qt.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from medviewer.dicom import (
    ScanResult,
    SeriesInfo,
    StudyInfo,
    Volume,
    Window,
    default_window,
    load_volume_iter,
    scan_iter,
)
from medviewer.dicom.model import (
    CORRUPT,
    NO_PIXEL_DATA,
    NOT_DICOM,
    UNREADABLE,
    UNSUPPORTED_SYNTAX,
)
from medviewer.errors import DicomError
from medviewer.jobs import CancelToken, Job, Progress
from medviewer.session.display_state import DisplayState
from medviewer.session.measure import calibrated

_SKIP_NAMES = {
    NOT_DICOM: "not DICOM",
    NO_PIXEL_DATA: "DICOM without an image (reports, key objects, presentation states)",
    CORRUPT: "damaged",
    UNSUPPORTED_SYNTAX: "in a compression this installation cannot decode",
    UNREADABLE: "unreadable or missing",
}


def no_images_message(
    result: ScanResult, paths: Sequence[str | os.PathLike], kept_open: str = ""
) -> str:
    """Why opening ``paths`` showed nothing, and what to do; ``kept_open``: what stays open
    instead (a study description), if anything."""
    names = [os.fspath(p) for p in paths]
    where = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    counts: dict[str, int] = {}
    for skipped in result.skipped:
        counts[skipped.code] = counts.get(skipped.code, 0) + 1
    if not counts:
        found = "it holds no files"
    else:
        n = sum(counts.values())
        parts = [f"{k} {_SKIP_NAMES.get(code, code)}" for code, k in counts.items()]
        found = f"of its {n} file(s): " + ", ".join(parts)
    stays = f" {kept_open} stays open." if kept_open else ""
    return (
        f"No DICOM image series found in {where}: {found}.{stays} Open a folder, file or "
        "DICOMDIR that holds DICOM images (the Messages list names each skipped file)."
    )


class StudySession(DisplayState):
    """What is open: the scan result, the chosen series, its volume, slice and window."""

    def __init__(self) -> None:
        self.scan_result: ScanResult | None = None
        self.series: SeriesInfo | None = None
        self.volume: Volume | None = None
        self.slice_index: int = 0
        self.window: Window | None = None
        self.user_invert: bool = False
        self._generation = 0
        self.custom_windows: list[tuple[str, Window]] = []
        """User presets as (modality or "" for all, window)."""
        self.deidentified: bool = False
        self.cursor: tuple[int, int, int] = (0, 0, 0)
        """The crosshair: (slice k, row j, column i) of the volume."""
        from medviewer.session.measure import MeasurementStore

        self.measurements = MeasurementStore()

    # -- opening -------------------------------------------------------------------------
    def open_iter(
        self, paths: Sequence[str | os.PathLike], cancel: CancelToken | None = None
    ) -> Job[ScanResult]:
        """Scan ``paths``; afterwards ``scan_result`` holds what was found.

        When ``paths`` hold no image series, ``scan_result`` (the study open before, if any)
        is kept: nothing is lost; :func:`no_images_message` says why nothing opened."""
        result = yield from scan_iter(paths, cancel)
        if result.largest_series() is not None or self.scan_result is None:
            self.scan_result = result
        return result

    def default_series(self) -> SeriesInfo:
        """The series to show first: the one with the most voxels of the newest study (a
        current study opened with its prior is shown, not the prior)."""
        if self.scan_result is None:
            raise DicomError("nothing is open yet")
        series = self.scan_result.newest_largest_series()
        if series is None:
            reasons = {s.code for s in self.scan_result.skipped}
            detail = f" (skipped files: {', '.join(sorted(reasons))})" if reasons else ""
            raise DicomError(f"no displayable image series found{detail}")
        return series

    def load_iter(self, series: SeriesInfo, cancel: CancelToken | None = None) -> Job[Volume]:
        """Load ``series``; the volume becomes current as soon as its middle slice is ready.

        Calling this makes ``series`` the one wanted: a load started earlier (say, cancelled
        on a worker thread that has not stopped yet) no longer changes the session.
        """
        self._generation += 1
        return self._load(series, cancel, self._generation)

    def _load(self, series: SeriesInfo, cancel, generation: int) -> Job[Volume]:
        if generation == self._generation:
            self.series, self.volume = series, None
        return (
            yield from self._guarded_load(
                series, cancel, generation, self._show_first, load_volume_iter
            )
        )

    def _show_first(self, volume: Volume) -> None:
        shape = volume.array.shape
        self.volume = volume
        self.slice_index = shape[0] // 2
        self.cursor = (shape[0] // 2, shape[1] // 2, shape[2] // 2)
        self.window = default_window(volume.series, self.current_slice())

    # -- viewing ---------------------------------------------------------------------------
    @property
    def study(self) -> StudyInfo | None:
        """The study the current series belongs to."""
        if self.scan_result is None or self.series is None:
            return None
        for study in self.scan_result.studies:
            if study.study_uid == self.series.study_uid:
                return study
        return None

    def set_cursor(self, k: int, j: int, i: int) -> tuple[int, int, int]:
        """Move the crosshair (clamped); the acquired plane follows ``k``."""
        if self.volume is None:
            return self.cursor
        self.cursor = self.clamped_cursor(k, j, i)
        self.slice_index = self.cursor[0]
        return self.cursor

    def set_slice(self, index: int) -> int:
        """Move to slice ``index`` (clamped); returns the index now shown."""
        if self.n_slices == 0:
            self.slice_index = 0
        else:
            self.slice_index = int(min(max(index, 0), self.n_slices - 1))
            self.cursor = (self.slice_index, *self.cursor[1:])
        return self.slice_index

    def current_slice(self) -> np.ndarray:
        if self.volume is None:
            raise DicomError("no volume is loaded")
        return self.volume.array[self.slice_index]

    def status_text(self) -> str:
        if self.volume is None or self.series is None:
            return ""
        z, y, x = self.volume.spacing
        size = (
            f"{x:.3g} x {y:.3g} x {z:.3g} mm" if calibrated(self.volume) else "pixel size unknown"
        )
        return (  # no slice number: this line is shown once, the overlay follows the slice
            f"{self.series.modality} {self.series.description or ''} | "
            f"{self.n_slices} images | {size}"
        )


__all__ = ["StudySession", "Progress"]
