"""One secondary viewport's own series: its volume, window, crosshair, slab and measurements.

:class:`ViewportSession` has the display side of
:class:`~medviewer.session.study.StudySession` (``volume``, ``window``, ``inverted``,
``study``, ``deidentified``, ``cursor``, ``measurements``, ``set_window``, ``set_cursor``), so
a plane view draws either one. It loads the way the main session does: the volume becomes
current with its middle slice, the default window comes from the file (else the modality's
preset, else an automatic one), and a load started earlier never overwrites a later choice.
"""

from __future__ import annotations

import numpy as np

from medviewer.dicom import (
    SeriesInfo,
    StudyInfo,
    Volume,
    Window,
    default_window,
    load_volume_iter,
)
from medviewer.errors import DicomError
from medviewer.jobs import CancelToken, Job
from medviewer.session.display_state import DisplayState
from medviewer.session.measure import MeasurementStore
from medviewer.session.slab import Slab


class ViewportSession(DisplayState):
    """What a secondary viewport shows: one series of one study, loaded on its own."""

    def __init__(self, deidentified: bool = False) -> None:
        self.volume: Volume | None = None
        self.series: SeriesInfo | None = None
        self.study: StudyInfo | None = None
        self.window: Window | None = None
        self.user_invert: bool = False
        self.deidentified: bool = deidentified
        self.cursor: tuple[int, int, int] = (0, 0, 0)
        """The crosshair: (slice k, row j, column i) of the volume."""
        self.measurements = MeasurementStore()
        self.slab = Slab()
        self.custom_windows: list[tuple[str, Window]] = []
        """User presets as (modality or "" for all, window), as in StudySession."""
        self._generation = 0

    # -- loading -----------------------------------------------------------------------------
    def load_iter(
        self,
        study: StudyInfo | None,
        series: SeriesInfo,
        cancel: CancelToken | None = None,
        window: Window | None = None,
    ) -> Job[Volume]:
        """Load ``series`` (of ``study``); it becomes current as soon as its middle slice is in.

        ``window`` (say, from a hanging layout) replaces the default window. Calling this
        makes ``series`` the one wanted: a load started earlier, or a :meth:`clear` since, no
        longer changes the viewport.
        """
        self._generation += 1
        return self._load(study, series, cancel, window, self._generation)

    def _load(self, study, series, cancel, window, generation: int) -> Job[Volume]:
        if generation == self._generation:
            self.study, self.series, self.volume = study, series, None
        return (
            yield from self._guarded_load(
                series,
                cancel,
                generation,
                lambda v: self._show_first(v, series, window),
                load_volume_iter,
            )
        )

    def _show_first(self, volume: Volume, series: SeriesInfo, window: Window | None) -> None:
        shape = volume.array.shape
        self.volume = volume
        self.cursor = (shape[0] // 2, shape[1] // 2, shape[2] // 2)
        self.window = window or default_window(series, volume.array[shape[0] // 2])

    def clear(self) -> None:
        """Show nothing; a load still under way no longer changes the viewport."""
        self._generation += 1
        self.volume = self.series = self.study = self.window = None
        self.cursor = (0, 0, 0)

    # -- viewing -------------------------------------------------------------------------------
    @property
    def slice_index(self) -> int:
        """The acquired slice shown: the crosshair's ``k``."""
        return self.cursor[0]

    def set_cursor(self, k: int, j: int, i: int) -> tuple[int, int, int]:
        """Move the crosshair (clamped into the volume)."""
        if self.volume is None:
            return self.cursor
        self.cursor = self.clamped_cursor(k, j, i)
        return self.cursor

    def set_slice(self, index: int) -> int:
        """Move to acquired slice ``index`` (clamped); returns the index now shown."""
        return self.set_cursor(index, *self.cursor[1:])[0]

    def set_slab(self, slab: Slab) -> None:
        self.slab = slab

    def current_slice(self) -> np.ndarray:
        if self.volume is None:
            raise DicomError("no volume is loaded in this viewport")
        return self.volume.array[self.slice_index]


__all__ = ["ViewportSession"]
