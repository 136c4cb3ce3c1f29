"""Links between the viewports of the reading area: slice, window / level, zoom / pan, and
the reference lines.

Where a linked viewport goes is the session's answer (:func:`medviewer.session.linking.follow`
with the pair's remembered offset); this module only listens to the viewports, asks, and
shows the answer: the slice, or the notice in the viewport's corner. Linking two patients is
refused, with the reason said once per pair.
"""

from __future__ import annotations

from PySide6 import QtCore

from medviewer.qt.shortcuts import by_id
from medviewer.session import linking, mpr


class LinkController(QtCore.QObject):
    """Keeps the other viewports of ``area`` (a ReadingArea) in step with the active one."""

    def __init__(self, area) -> None:
        super().__init__(area)
        self.area = area
        self._busy = False
        self._refused_told: set[str] = set()
        viewer = area.viewer
        viewer.primary_index_changed.connect(lambda _i: self._moved(0))
        viewer.window_changed.connect(lambda w: self._window_changed(0, w))
        for view in viewer.views.values():
            view.view.view_changed.connect(lambda _z, v=view: self._view_changed(0, v.view))
        for widget in area.viewports:
            n = widget.number
            widget.index_changed.connect(lambda _i, n=n: self._moved(n))
            widget.window_changed.connect(lambda w, n=n: self._window_changed(n, w))
            widget.view_changed.connect(
                lambda n: self._view_changed(n, self.area.main_view(n).view)
            )
            widget.loaded.connect(self._arrived)
            widget.finished.connect(lambda _n: self.sync(move=False))

    @property
    def options(self):
        return self.area.layout_state.links

    # -- the pair of viewports ----------------------------------------------------------------
    def _side(self, n: int):
        volume = self.area.volume(n)
        return self.area.viewport_session(n).study, volume.series

    def refusal(self, src: int, dst: int) -> str | None:
        """Why viewports ``src`` and ``dst`` may not be linked (told once per pair)."""
        reason = linking.link_refusal(self._side(src), self._side(dst))
        if reason:
            pair = linking.pair_key(
                self.area.volume(src).series.series_uid, self.area.volume(dst).series.series_uid
            )
            if pair not in self._refused_told:
                self._refused_told.add(pair)
                self.area.message.emit(reason, True)
        return reason

    def target(self, src: int, dst: int) -> linking.LinkTarget | None:
        """Where ``dst`` goes when ``src`` shows its current plane (None: refused)."""
        if self.refusal(src, dst):
            return None
        a, b = self.area.volume(src), self.area.volume(dst)
        view_a, view_b = self.area.main_view(src), self.area.main_view(dst)
        offset = linking.offset_between(
            self.area.layout_state.offsets, a.series.series_uid, b.series.series_uid
        )
        return linking.follow(a, view_a.plane, view_a.index, b, view_b.plane, offset)

    # -- slices -------------------------------------------------------------------------------
    def _moved(self, n: int) -> None:
        if self._busy:
            return
        if n != self.area.active:
            self.area.set_active(n)  # scrolling a viewport makes it the active one
        self.sync()

    def sync(self, move: bool = True) -> None:
        """Move the other viewports to the active one's position (when scrolling is linked
        and ``move``) and redraw the reference lines."""
        src = self.area.active
        loaded = self.area.loaded()
        if src not in loaded:
            self._clear_reference_lines()
            return
        if move and self.options.scroll:
            for dst in loaded:
                if dst != src:
                    self._follow(src, dst)
        self.update_reference_lines()

    def _arrived(self, n: int) -> None:
        """A series came into viewport ``n``: it joins the others where they are."""
        loaded = [m for m in self.area.loaded() if m != n]
        if loaded and self.options.scroll:
            src = self.area.active if self.area.active in loaded else loaded[0]
            self._follow(src, n)
        self.update_reference_lines()

    def _follow(self, src: int, dst: int) -> None:
        target = self.target(src, dst)
        if target is None:
            return
        notice = target.notice
        if not target.moves:
            notice = f"{notice} ({by_id('reading.link_here').display_keys()})"
        self._busy = True
        try:
            if dst == 0:
                self._follow_primary(target.index if target.moves else None, target, notice)
            elif target.moves:
                self.area.viewports[dst - 1].follow(target.index, notice)
            else:
                view = self.area.main_view(dst)
                view.notice = notice
                view.update_corner_text()
        finally:
            self._busy = False

    def _follow_primary(self, index, target, notice: str) -> None:
        viewer = self.area.viewer
        view = viewer.primary
        if not target.moves:
            view.notice = notice
            view.update_corner_text()
        elif index is None:
            view.show_linked(None, notice)
        else:
            view.blank, view.notice = False, notice
            volume = self.area.session.volume
            _, row, col = mpr.from_index(volume, view.plane, self.area.session.cursor)
            viewer.set_cursor(mpr.to_index(volume, view.plane, index, row, col))

    def link_here(self) -> list[str]:
        """Remember, for each other viewport showing another series in the same plane, the
        offset that links it as it is now to the active viewport's slice (what the user
        aligned by eye); returns what was linked."""
        src = self.area.active
        loaded = self.area.loaded()
        if src not in loaded or len(loaded) < 2:
            self.area.message.emit("Open a series in two viewports to link them", False)
            return []
        a, view_a = self.area.volume(src), self.area.main_view(src)
        done, why_not = [], []
        for dst in loaded:
            b, view_b = self.area.volume(dst), self.area.main_view(dst)
            if dst == src or b.series.series_uid == a.series.series_uid:
                continue  # one series is linked to itself by position, exactly
            if view_b.plane != view_a.plane:  # an offset is along the slice normal
                why_not.append(
                    f"viewport {dst + 1} shows the {view_b.plane} plane, the active one the "
                    f"{view_a.plane}: show the same plane in both to link them here"
                )
                continue
            refusal = linking.link_refusal(self._side(src), self._side(dst))
            if refusal:
                why_not.append(f"viewport {dst + 1}: {refusal}")
                continue
            offset = linking.offset_for(
                a, view_a.plane, view_a.index, b, view_b.plane, view_b.index
            )
            linking.store_offset(
                self.area.layout_state.offsets, a.series.series_uid, b.series.series_uid, offset
            )
            view_b.notice = ""
            name = b.series.description or b.series.modality
            done.append(f"viewport {dst + 1} ({name}) linked with an offset of {offset:.1f} mm")
        for text in done:
            self.area.message.emit(text, False)
        if not done:  # say why nothing was linked, never nothing at all
            for text in why_not or ["no other viewport shows another series to link"]:
                self.area.message.emit(f"Not linked: {text}", True)
        self.sync()
        return done

    # -- reference lines ------------------------------------------------------------------------
    def update_reference_lines(self) -> None:
        src = self.area.active
        a, view_a = self.area.volume(src), self.area.main_view(src)
        for n in range(self.area.count()):
            b, shown = self.area.volume(n), self.area.plane_views(n)
            for view in self.area.plane_views(n, visible_only=False):
                points = None
                if n != src and a is not None and b is not None and view in shown:
                    if not linking.link_refusal(self._side(src), self._side(n)):
                        points = linking.reference_line(
                            a, view_a.plane, view_a.index, b, view.plane, view.index
                        )
                view.set_reference_line(points)

    def _clear_reference_lines(self) -> None:
        for n in range(self.area.count()):
            for view in self.area.plane_views(n, visible_only=False):
                view.set_reference_line(None)

    # -- window / level, zoom / pan -----------------------------------------------------------
    def _window_changed(self, n: int, window) -> None:
        if self._busy or not self.options.window or n != self.area.active:
            return
        modality = self.area.volume(n).series.modality if self.area.volume(n) else None
        self._busy = True
        try:
            for dst in self.area.loaded():
                if dst == n or self.area.volume(dst).series.modality != modality:
                    continue  # a CT window means nothing on an MR image
                if dst == 0:
                    self.area.viewer.set_window(window)
                else:
                    self.area.viewports[dst - 1].set_window(window)
        finally:
            self._busy = False

    def _view_changed(self, n: int, src_view) -> None:
        if self._busy or not self.options.zoom_pan or n != self.area.active:
            return
        if src_view is not self.area.main_view(n).view:
            return
        self._busy = True
        try:
            for dst in self.area.loaded():
                if dst != n:
                    copy_view(src_view, self.area.main_view(dst).view)
        finally:
            self._busy = False


def copy_view(src, dst) -> None:
    """Give SliceView ``dst`` the zoom of ``src`` and the same relative centre of its image."""
    rect_s, rect_d = src.image_rect(), dst.image_rect()
    if rect_s is None or rect_d is None or rect_s.width() <= 0 or rect_s.height() <= 0:
        return
    cx, cy = src.view_center()
    fx = (cx - rect_s.left()) / rect_s.width()
    fy = (cy - rect_s.top()) / rect_s.height()
    dst.set_zoom(src.zoom)
    x, y = dst.view_center()
    dst.pan_by(rect_d.left() + fx * rect_d.width() - x, rect_d.top() + fy * rect_d.height() - y)


__all__ = ["LinkController", "copy_view"]
