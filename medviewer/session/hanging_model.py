"""What a hanging layout is: series rules, viewports, layouts, and their plain-dict form.

See :mod:`medviewer.session.hanging` for the file they are kept in and how they are applied.
``from_dict`` raises ValueError with a reason a user understands for anything unusable.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from medviewer.dicom import SeriesInfo, Window
from medviewer.session.layout import (
    GRIDS,
    LinkOptions,
    check_plane,
    slab_from_dict,
    slab_to_dict,
    window_from_dict,
    window_to_dict,
)
from medviewer.session.slab import Slab


def _text(d: Mapping, name: str, default: str = "") -> str:
    value = d.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {value!r:.40}")
    return value.strip()


def _object(value: Any, what: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be an object, got {value!r:.40}")
    return value


@dataclass(frozen=True)
class HangingRule:
    """Which series a viewport takes: modality, description glob, plane, from the prior."""

    modality: str = ""
    description_pattern: str = "*"
    plane: str = "acquired"
    prior: bool = False

    def matches(self, series: SeriesInfo) -> bool:
        if self.modality and self.modality.upper() != (series.modality or "").upper():
            return False
        description = (series.description or "").casefold()
        return fnmatch.fnmatchcase(description, self.description_pattern.casefold())

    def to_dict(self) -> dict[str, Any]:
        return {
            "modality": self.modality,
            "description_pattern": self.description_pattern,
            "plane": self.plane,
            "prior": self.prior,
        }

    @classmethod
    def from_dict(cls, d: Any) -> HangingRule:
        d = _object(d, "rule")
        prior = d.get("prior", False)
        if not isinstance(prior, bool):
            raise ValueError(f"rule 'prior' must be true or false, got {prior!r:.40}")
        return cls(
            modality=_text(d, "modality").upper(),
            description_pattern=_text(d, "description_pattern", "*"),
            plane=check_plane(d.get("plane", "acquired")),
            prior=prior,
        )


@dataclass(frozen=True)
class HangingViewport:
    """One viewport of a hanging layout: its rule (None: left empty), window and slab."""

    rule: HangingRule | None = None
    window: Window | None = None
    slab: Slab = field(default_factory=Slab)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": None if self.rule is None else self.rule.to_dict(),
            "window": window_to_dict(self.window),
            "slab": slab_to_dict(self.slab),
        }

    @classmethod
    def from_dict(cls, d: Any) -> HangingViewport:
        d = _object(d, "viewport")
        rule = d.get("rule")
        return cls(
            rule=None if rule is None else HangingRule.from_dict(rule),
            window=window_from_dict(d.get("window")),
            slab=slab_from_dict(d.get("slab")),
        )


@dataclass
class HangingLayout:
    """A saved layout for studies of ``modality`` (and ``body_part``, "" for any)."""

    name: str
    modality: str
    body_part: str = ""
    grid: str = "1x1"
    links: LinkOptions = field(default_factory=LinkOptions)
    viewports: list[HangingViewport] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "match": {"modality": self.modality, "body_part": self.body_part},
            "grid": self.grid,
            "links": self.links.to_dict(),
            "viewports": [v.to_dict() for v in self.viewports],
        }

    @classmethod
    def from_dict(cls, d: Any) -> HangingLayout:
        """A layout from its dict; ValueError with the reason when anything is unusable."""
        d = _object(d, "a layout")
        name = _text(d, "name")
        if not name:
            raise ValueError("a layout needs a name")
        match = _object(d.get("match"), "match")
        modality = _text(match, "modality").upper()
        if not modality:
            raise ValueError("match needs a modality")
        grid = d.get("grid")
        if grid not in GRIDS:
            raise ValueError(f"unknown grid {grid!r:.40}: use one of {', '.join(GRIDS)}")
        problems: list[str] = []
        links = LinkOptions.from_dict(d.get("links", {}), problems)
        if problems:
            raise ValueError(problems[0])
        raw = d.get("viewports")
        if not isinstance(raw, list) or not raw:
            raise ValueError("viewports must be a non-empty list")
        rows, cols = GRIDS[grid]
        if len(raw) > rows * cols:
            raise ValueError(f"{len(raw)} viewports do not fit the {grid} grid")
        viewports = [HangingViewport.from_dict(v) for v in raw]
        body_part = _text(match, "body_part").upper()
        return cls(name, modality, body_part, grid, links, viewports)


__all__ = ["HangingLayout", "HangingRule", "HangingViewport"]
