"""What the main session and a secondary viewport share: how their volume is displayed.

:class:`DisplayState` is mixed into :class:`~medviewer.session.study.StudySession` and
:class:`~medviewer.session.viewport.ViewportSession`; both keep ``volume``, ``series``,
``window``, ``user_invert``, ``custom_windows`` and ``cursor`` and their own
``current_slice()``.
"""

from __future__ import annotations

from medviewer.dicom import SeriesInfo, Volume, Window
from medviewer.dicom.display import auto_window, header_windows, presets_for


class DisplayState:
    @property
    def inverted(self) -> bool:
        """Whether greyscale is drawn inverted: MONOCHROME1, flipped by the user's toggle."""
        native = bool(self.volume is not None and self.volume.invert)
        return native != self.user_invert

    @property
    def n_slices(self) -> int:
        return 0 if self.volume is None else int(self.volume.array.shape[0])

    def set_window(self, window: Window) -> None:
        self.window = window

    def clamped_cursor(self, k: int, j: int, i: int) -> tuple[int, int, int]:
        """(k, j, i) clamped into the volume (the volume must be loaded)."""
        shape = self.volume.array.shape
        return tuple(int(min(max(v, 0), n - 1)) for v, n in zip((k, j, i), shape[:3]))

    def _guarded_load(self, series: SeriesInfo, cancel, generation: int, show_first, load):
        """Load ``series``; its volume becomes this session's, first partly (``show_first``
        with the volume holding its middle slice, or the whole volume when no partial one
        came), then whole; ``load`` is ``load_volume_iter`` as the caller's module knows it.
        Nothing changes once a newer load was asked for (``generation``
        is no longer ``self._generation``), so a stale load never overwrites the newer one."""

        def current() -> bool:
            return generation == self._generation

        job = load(series, cancel)
        first = True
        while True:
            try:
                step = next(job)
            except StopIteration as stop:
                volume = stop.value
                if current():
                    if first:
                        show_first(volume)
                    self.volume, self.series = volume, volume.series
                    self.set_cursor(*self.cursor)  # clamp: failed slices may have been dropped
                return volume
            if first and isinstance(step.detail, Volume):
                first = False
                if current():
                    show_first(step.detail)
            yield step

    def available_windows(self) -> list[Window]:
        """Windows from the file, then the modality presets and the user's, then automatic."""
        if self.series is None or (self.volume is not None and self.volume.is_color):
            return []  # colour is drawn as it is: no window applies
        windows = header_windows(self.series) + list(presets_for(self.series.modality))
        windows += [w for m, w in self.custom_windows if m in ("", self.series.modality)]
        if self.volume is not None and not self.volume.is_color:
            windows.append(auto_window(self.current_slice()))
        return windows


__all__ = ["DisplayState"]
