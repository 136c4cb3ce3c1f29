"""The reading layout: a grid of viewports, which series and plane each shows, and links.

Qt-free state behind the reading area: the grid (``1x1`` ... ``1x3``), each viewport's
series key, plane, slab and wanted window, the active viewport, what is linked (slice,
window, zoom / pan) and the remembered manual link offsets per series pair. It travels to
the settings (grid, links, offsets) and inside hanging layouts as plain dicts; reading a
dict is forgiving: anything unusable falls back to its default with a message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from medviewer.dicom.display import Window
from medviewer.session.slab import SLAB_MODES, Slab

GRIDS: dict[str, tuple[int, int]] = {
    "1x1": (1, 1),
    "1x2": (1, 2),
    "2x1": (2, 1),
    "2x2": (2, 2),
    "1x3": (1, 3),
}
"""Grid name -> (rows, columns)."""
VIEWPORT_PLANES = ("acquired", "axial", "coronal", "sagittal")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class LinkOptions:
    """What the other viewports follow: the slice (by patient position), W/L, zoom / pan."""

    scroll: bool = True
    window: bool = False
    zoom_pan: bool = False

    def to_dict(self) -> dict[str, bool]:
        return {"scroll": self.scroll, "window": self.window, "zoom_pan": self.zoom_pan}

    @classmethod
    def from_dict(cls, d: Any, problems: list[str] | None = None) -> LinkOptions:
        """Links from a dict; a missing or non-boolean value keeps its default."""
        out = cls()
        if not isinstance(d, Mapping):
            _note(problems, f"links must be an object, got {d!r:.40}; using the defaults")
            return out
        for name in ("scroll", "window", "zoom_pan"):
            if name in d:
                if isinstance(d[name], bool):
                    setattr(out, name, d[name])
                else:
                    _note(problems, f"link {name!r} must be true or false, got {d[name]!r:.40}")
        return out


def slab_to_dict(slab: Slab) -> dict[str, Any]:
    return {"mode": slab.mode, "thickness_mm": float(slab.thickness_mm)}


def slab_from_dict(d: Any) -> Slab:
    """A :class:`Slab` from ``{"mode", "thickness_mm"}``; ValueError with the reason."""
    if d is None:
        return Slab()
    if not isinstance(d, Mapping):
        raise ValueError(f"slab must be an object, got {d!r:.40}")
    mode = d.get("mode", "off")
    thickness = d.get("thickness_mm", 0.0)
    if mode not in SLAB_MODES:
        raise ValueError(f"slab mode must be one of {', '.join(SLAB_MODES)}, got {mode!r:.40}")
    if not _is_number(thickness) or thickness < 0:
        raise ValueError(f"slab thickness must be a number of mm >= 0, got {thickness!r:.40}")
    return Slab(mode, float(thickness))


def window_to_dict(window: Window | None) -> dict[str, Any] | None:
    if window is None:
        return None
    out: dict[str, Any] = {"center": float(window.center), "width": float(window.width)}
    if window.name:
        out["name"] = window.name
    return out


def window_from_dict(d: Any) -> Window | None:
    """A :class:`Window` from ``{"center", "width"[, "name"]}`` or None; ValueError if bad."""
    if d is None:
        return None
    if not isinstance(d, Mapping):
        raise ValueError(f"window must be an object or null, got {d!r:.40}")
    center, width, name = d.get("center"), d.get("width"), d.get("name", "")
    if not (_is_number(center) and _is_number(width) and width > 0):
        raise ValueError(
            f"window needs a center and a positive width, got {center!r:.20} / {width!r:.20}"
        )
    return Window(float(center), float(width), name if isinstance(name, str) else "")


def check_plane(plane: Any) -> str:
    if plane not in VIEWPORT_PLANES:
        raise ValueError(f"plane must be one of {', '.join(VIEWPORT_PLANES)}, got {plane!r:.40}")
    return plane


@dataclass
class ViewportState:
    """One viewport: the series it shows (by ``SeriesInfo.key``), its plane and slab.

    ``window`` is the window wanted when the series loads (set by a hanging layout); None
    means the series' default window.
    """

    series_key: str | None = None
    plane: str = "acquired"
    slab: Slab = field(default_factory=Slab)
    window: Window | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "series_key": self.series_key,
            "plane": self.plane,
            "slab": slab_to_dict(self.slab),
            "window": window_to_dict(self.window),
        }

    @classmethod
    def from_dict(cls, d: Any, problems: list[str] | None = None) -> ViewportState:
        """A viewport from a dict; each unusable field keeps its default, with a message."""
        out = cls()
        if not isinstance(d, Mapping):
            _note(problems, f"a viewport must be an object, got {d!r:.40}; left empty")
            return out
        key = d.get("series_key")
        if isinstance(key, str) and key:
            out.series_key = key
        elif key is not None:
            _note(problems, f"series key must be text, got {key!r:.40}; viewport left empty")
        for name, parse in (("plane", check_plane), ("slab", slab_from_dict)):
            if name in d:
                try:
                    setattr(out, name, parse(d[name]))
                except ValueError as exc:
                    _note(problems, f"{exc}; using the default")
        try:
            out.window = window_from_dict(d.get("window"))
        except ValueError as exc:
            _note(problems, f"{exc}; using the series' default window")
        return out


def _note(problems: list[str] | None, message: str) -> None:
    if problems is not None:
        problems.append(message)


class ReadingLayout:
    """The grid of viewports and what they show; viewport 0 is the main (primary) series."""

    def __init__(
        self,
        grid: str = "1x1",
        viewports: list[ViewportState] | None = None,
        active: int = 0,
        links: LinkOptions | None = None,
        offsets: dict[str, float] | None = None,
    ) -> None:
        if grid not in GRIDS:
            raise ValueError(_unknown_grid(grid))
        self.grid = grid
        self.viewports: list[ViewportState] = []
        self._fit(list(viewports or []))
        self.active = min(max(int(active), 0), len(self.viewports) - 1)
        self.links = links if links is not None else LinkOptions()
        self.offsets: dict[str, float] = dict(offsets or {})
        """Manual link offsets in mm per series pair (see ``linking.store_offset``)."""

    def __repr__(self) -> str:
        return (
            f"ReadingLayout(grid={self.grid!r}, viewports={self.viewports!r}, "
            f"active={self.active}, links={self.links!r}, offsets={self.offsets!r})"
        )

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the grid."""
        return GRIDS[self.grid]

    @property
    def capacity(self) -> int:
        rows, cols = GRIDS[self.grid]
        return rows * cols

    def _fit(self, viewports: list[ViewportState]) -> None:
        n = self.capacity
        self.viewports = viewports[:n] + [ViewportState() for _ in range(n - len(viewports))]

    def _check(self, viewport: int) -> int:
        if not isinstance(viewport, int) or not 0 <= viewport < len(self.viewports):
            raise IndexError(
                f"viewport {viewport!r} is outside 0..{len(self.viewports) - 1} "
                f"of the {self.grid} grid"
            )
        return viewport

    def set_grid(self, name: str) -> None:
        """Switch to grid ``name`` (ValueError if unknown); viewports that survive keep
        what they show, new ones are empty, and the active viewport is clamped."""
        if name not in GRIDS:
            raise ValueError(_unknown_grid(name))
        self.grid = name
        self._fit(self.viewports)
        self.active = min(self.active, len(self.viewports) - 1)

    def assign(self, viewport: int, series_key: str | None) -> None:
        """Show series ``series_key`` (None: nothing) in ``viewport``; its plane and slab
        stay, the window wish is dropped when the series changes."""
        state = self.viewports[self._check(viewport)]
        if state.series_key != series_key:
            self.viewports[viewport] = replace(state, series_key=series_key, window=None)

    def set_active(self, viewport: int) -> None:
        self.active = self._check(viewport)

    def set_plane(self, viewport: int, plane: str) -> None:
        state = self.viewports[self._check(viewport)]
        self.viewports[viewport] = replace(state, plane=check_plane(plane))

    def set_slab(self, viewport: int, slab: Slab) -> None:
        state = self.viewports[self._check(viewport)]
        self.viewports[viewport] = replace(state, slab=slab)

    @property
    def active_state(self) -> ViewportState:
        return self.viewports[self.active]

    def viewports_showing(self, series_key: str) -> list[int]:
        """Indices of the viewports that show ``series_key``."""
        return [n for n, v in enumerate(self.viewports) if v.series_key == series_key]

    def to_dict(self) -> dict[str, Any]:
        return {
            "grid": self.grid,
            "viewports": [v.to_dict() for v in self.viewports],
            "active": self.active,
            "links": self.links.to_dict(),
            "offsets": dict(self.offsets),
        }

    @classmethod
    def from_dict(cls, d: Any, problems: list[str] | None = None) -> ReadingLayout:
        """A layout from :meth:`to_dict` output; never raises: a bad dict gives the
        defaults, bad fields fall back one by one, each with a message in ``problems``."""
        if not isinstance(d, Mapping):
            _note(problems, f"a reading layout must be an object, got {d!r:.40}; using 1x1")
            return cls()
        grid = d.get("grid", "1x1")
        if grid not in GRIDS:
            _note(problems, f"{_unknown_grid(grid)}; using 1x1")
            grid = "1x1"
        raw = d.get("viewports", [])
        if not isinstance(raw, list):
            _note(problems, "viewports must be a list; all left empty")
            raw = []
        viewports = [ViewportState.from_dict(v, problems) for v in raw]
        active = d.get("active", 0)
        if not isinstance(active, int) or isinstance(active, bool):
            _note(problems, f"active viewport must be a number, got {active!r:.40}; using 0")
            active = 0
        offsets_in = d.get("offsets", {})
        if not isinstance(offsets_in, Mapping):
            _note(problems, "link offsets must be an object; none kept")
            offsets_in = {}
        offsets = {
            k: float(v) for k, v in offsets_in.items() if isinstance(k, str) and _is_number(v)
        }
        if len(offsets) != len(offsets_in):
            _note(problems, "link offsets that are not numbers were left out")
        links = LinkOptions.from_dict(d.get("links", {}), problems)
        return cls(grid, viewports, active, links, offsets)


def _unknown_grid(name: Any) -> str:
    return f"unknown grid {name!r:.40}: use one of {', '.join(GRIDS)}"


def layout_from_settings(settings) -> ReadingLayout:
    """The grid, links and offsets remembered in ``medviewer.settings.Settings``."""
    grid = settings.viewport_grid if settings.viewport_grid in GRIDS else "1x1"
    links = LinkOptions(settings.link_scroll, settings.link_window, settings.link_zoom_pan)
    return ReadingLayout(grid, links=links, offsets=dict(settings.link_offsets))


def store_in_settings(layout: ReadingLayout, settings) -> None:
    """Remember ``layout``'s grid, links and offsets in ``settings`` (not the series)."""
    settings.viewport_grid = layout.grid
    settings.link_scroll = layout.links.scroll
    settings.link_window = layout.links.window
    settings.link_zoom_pan = layout.links.zoom_pan
    settings.link_offsets = dict(layout.offsets)


__all__ = [
    "GRIDS",
    "VIEWPORT_PLANES",
    "LinkOptions",
    "ReadingLayout",
    "ViewportState",
    "layout_from_settings",
    "slab_from_dict",
    "slab_to_dict",
    "store_in_settings",
    "window_from_dict",
    "window_to_dict",
]
