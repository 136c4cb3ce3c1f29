"""Mouse and keys of a :class:`~medviewer.qt.slice_view.SliceView` (``interaction_mode``).

wheel: ``scrolled(+-n)``; Ctrl+wheel: zoom about the cursor; left-drag: window/level
(``window_dragged(center, width)``, the owner applies it); right-drag: zoom (up = in);
middle-drag or Space + left-drag: pan; Up/Down: +-1, PageUp/PageDown: +-10 (``scrolled``);
Home/End: ``jump(0)`` / ``jump(-1)``. In ``"tool"`` mode the left button is left to the
measurement tools (everything else stays). Double-click (fit) is the ViewBox's.
"""

from __future__ import annotations

from PySide6 import QtCore

Qt = QtCore.Qt

MODES = ("navigate", "tool")
WHEEL_ZOOM_PER_NOTCH = 1.25
DRAG_ZOOM_PER_PIXEL = 1.01  # right-drag: 100 px up zooms in 2.7x
WL_PIXELS_PER_DOUBLING = 256.0  # left-drag right by this many pixels doubles the width
WL_PIXELS_PER_WIDTH = 256.0  # left-drag down by this many pixels raises the center by one width

_DRAG_CURSORS = {
    "pan": Qt.CursorShape.ClosedHandCursor,
    "zoom": Qt.CursorShape.SizeVerCursor,
    "window": Qt.CursorShape.SizeAllCursor,
}
_KEY_MOVES = {
    Qt.Key.Key_Up: -1,
    Qt.Key.Key_Down: 1,
    Qt.Key.Key_PageUp: -10,
    Qt.Key.Key_PageDown: 10,
}


class SliceInteractionMixin:
    """W/L drag, zoom, pan, wheel, cursor tracking and keys of a SliceView (its signals,
    ``view``, ``zoom_by`` / ``pan_by`` and image state come from the view)."""

    def _init_interaction(self) -> None:
        self._mode = "navigate"
        self._space = False
        self._drag_kind: str | None = None
        self._drag_window: tuple[float, float] | None = None
        self._wheel_rest = 0
        self._last_cursor: tuple[float, float] | None = None

    @property
    def interaction_mode(self) -> str:
        """Either "navigate" (left-drag = window/level) or "tool" (left button for the tools)."""
        return self._mode

    @interaction_mode.setter
    def interaction_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"interaction_mode must be one of {MODES}, not {mode!r}")
        self._mode = mode

    @property
    def space_held(self) -> bool:
        """Space is down: a left-drag pans (tools that take left drags may want to defer)."""
        return self._space

    # -- mouse ----------------------------------------------------------------------------------
    def _drag_event(self, ev) -> None:
        """A pyqtgraph MouseDragEvent on the ViewBox (called by SliceViewBox.mouseDragEvent)."""
        if ev.isStart():
            self._drag_kind = self._kind_for(ev.button())
            if self._drag_kind == "window":
                self._drag_window = self._current_window()
                if self._drag_window is None:
                    self._drag_kind = "none"  # colour image or nothing shown: nothing to level
            self._set_drag_cursor(self._drag_kind)
        kind = self._drag_kind
        if kind is None:
            ev.ignore()  # not our drag (e.g. left button in tool mode): leave it to others
            return
        ev.accept()
        delta = ev.pos() - ev.lastPos()
        if kind == "pan":
            a = self.view.mapToView(ev.lastPos())
            b = self.view.mapToView(ev.pos())
            self.pan_by(a.x() - b.x(), a.y() - b.y())
        elif kind == "zoom":
            center = self.view.mapToView(ev.buttonDownPos())
            self.zoom_by(DRAG_ZOOM_PER_PIXEL ** (-delta.y()), center)
        elif kind == "window" and (delta.x() or delta.y()):
            center, width = self._drag_window
            width *= 2.0 ** (delta.x() / WL_PIXELS_PER_DOUBLING)
            width = max(width, 1.0 if self._integer else 1e-6)
            center += delta.y() * width / WL_PIXELS_PER_WIDTH
            self._drag_window = (center, width)
            self.window_dragged.emit(center, width)
        if ev.isFinish():
            self._drag_kind = None
            self._drag_window = None
            self._set_drag_cursor(None)

    def _kind_for(self, button) -> str | None:
        if button == Qt.MouseButton.MiddleButton:
            return "pan"
        if button == Qt.MouseButton.RightButton:
            return "zoom"
        if button == Qt.MouseButton.LeftButton:
            if self._space:
                return "pan"
            return "window" if self._mode == "navigate" else None
        return None

    def _current_window(self) -> tuple[float, float] | None:
        if self._colour or self._levels is None:
            return None
        lo, hi = self._levels
        return ((lo + hi) / 2.0, hi - lo)

    def _set_drag_cursor(self, kind: str | None) -> None:
        if kind in _DRAG_CURSORS:
            self.viewport().setCursor(_DRAG_CURSORS[kind])
        elif self._space:
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            self.viewport().unsetCursor()

    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt name)
        dy = event.angleDelta().y()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            if dy:
                scene = self.mapToScene(event.position().toPoint())
                self.zoom_by(WHEEL_ZOOM_PER_NOTCH ** (dy / 120.0), self.view.mapSceneToView(scene))
            event.accept()
            return
        # accumulate: touchpads send fractions of a 120-unit notch
        self._wheel_rest += dy
        steps = int(self._wheel_rest / 120)  # toward zero
        self._wheel_rest -= steps * 120
        if steps:
            self.scrolled.emit(-steps)
        event.accept()

    def _mouse_moved(self, scene_pos) -> None:
        rc = None
        if self._shape is not None and self.view.sceneBoundingRect().contains(scene_pos):
            p = self.view.mapSceneToView(scene_pos)
            row, col = p.y() / self._spacing[0], p.x() / self._spacing[1]
            if 0.0 <= row < self._shape[0] and 0.0 <= col < self._shape[1]:
                rc = (row, col)
        if rc is None and self._last_cursor is None:
            return
        self._last_cursor = rc
        self.cursor_moved.emit(rc)

    def leaveEvent(self, event) -> None:  # noqa: N802
        super().leaveEvent(event)
        if self._last_cursor is not None:
            self._last_cursor = None
            self.cursor_moved.emit(None)

    # -- keys -------------------------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:  # noqa: N802
        key = event.key()
        if key in _KEY_MOVES:
            self.scrolled.emit(_KEY_MOVES[key])
        elif key == Qt.Key.Key_Home:
            self.jump.emit(0)
        elif key == Qt.Key.Key_End:
            self.jump.emit(-1)
        elif key == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space = True
                if self._drag_kind is None:
                    self._set_drag_cursor(None)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def keyReleaseEvent(self, event) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space = False
                if self._drag_kind is None:
                    self._set_drag_cursor(None)
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:  # noqa: N802
        self._space = False  # the release may go elsewhere
        if self._drag_kind is None:
            self._set_drag_cursor(None)
        super().focusOutEvent(event)
