"""Hanging layouts: saved reading layouts with series rules, applied to matching studies.

They live in ``hanging_layouts.json`` beside the settings (the user's config folder, or
``$MEDVIEWER_CONFIG_DIR``), plain JSON::

    {"format": "medviewer-hanging-layouts", "version": 1, "layouts": [
      {"name": "CT head vs prior", "match": {"modality": "CT", "body_part": "HEAD"},
       "grid": "1x2", "links": {"scroll": true, "window": false, "zoom_pan": false},
       "viewports": [
         {"rule": {"modality": "CT", "description_pattern": "head*", "plane": "acquired",
                   "prior": false},
          "window": {"center": 40, "width": 80}, "slab": {"mode": "off", "thickness_mm": 0}},
         {"rule": null, "window": null, "slab": null}]}]}

``description_pattern`` is a case-insensitive glob (``fnmatch``); ``prior`` takes the series
from the prior study; a ``null`` rule leaves the viewport empty. Reading never raises for bad
content: a damaged file, a file of another or newer version and each bad layout are ignored
with a message (an ignored file is first copied to ``hanging_layouts.json.bad``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from medviewer.atomic import write_json_atomic
from medviewer.dicom import SeriesInfo, StudyInfo, Window
from medviewer.errors import MedviewerError
from medviewer.session.hanging_model import HangingLayout, HangingRule, HangingViewport
from medviewer.session.layout import ReadingLayout, ViewportState
from medviewer.settings import settings_path

FORMAT = "medviewer-hanging-layouts"
VERSION = 1
FILE_NAME = "hanging_layouts.json"


def layouts_path() -> Path:
    """``hanging_layouts.json`` in the folder of ``settings.json``."""
    return settings_path().parent / FILE_NAME


# -- the file ---------------------------------------------------------------------------------
def _copy_aside(path: Path) -> str:
    bad = path.with_name(path.name + ".bad")
    try:
        bad.write_bytes(path.read_bytes())
    except OSError as exc:
        return f"it could not be copied to {bad} ({exc.strerror or exc})"
    return f"the file was copied to {bad}"


def _read(path: Path) -> tuple[list[HangingLayout], list[str], bool]:
    """Layouts, problems, and whether the file should be copied aside (ignored in part)."""
    where = f"the hanging layouts file {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [], [], False
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        return [], [f"could not read {where} ({reason}); no hanging layouts are used"], False
    except ValueError as exc:
        return [], [f"{where} is damaged (not valid JSON: {exc}); it is ignored"], True
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return [], [f"{where} is not a medviewer hanging layouts file; it is ignored"], True
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return [], [f"{where} has no usable version ({version!r:.20}); it is ignored"], True
    if version > VERSION:
        newer = f"{where} was written by a newer medviewer (version {version}): ignored"
        return [], [f"{newer}, and not overwritten by this version"], False
    entries = data.get("layouts")
    if not isinstance(entries, list):
        return [], [f"{where} holds no list of layouts; it is ignored"], True
    layouts, problems = [], []
    for n, entry in enumerate(entries, 1):
        try:
            layouts.append(HangingLayout.from_dict(entry))
        except ValueError as exc:
            name = entry.get("name") if isinstance(entry, dict) else None
            label = repr(name[:40]) if isinstance(name, str) and name.strip() else f"number {n}"
            problems.append(f"hanging layout {label} in {path} is skipped: {exc}")
    return layouts, problems, bool(problems)


def load_layouts(path: str | os.PathLike | None = None) -> tuple[list[HangingLayout], list[str]]:
    """The saved hanging layouts and a message per problem; never raises for bad content.

    A missing file gives no layouts and no message. A damaged file, one that is not a
    hanging layouts file, or one of a newer or older version is ignored as a whole; a bad
    layout inside a good file is skipped on its own. A file ignored in whole or in part is
    copied to ``hanging_layouts.json.bad`` first, so saving later loses nothing.
    """
    path = Path(path) if path is not None else layouts_path()
    layouts, problems, copy = _read(path)
    if copy:
        aside = _copy_aside(path)
        problems = [f"{p}; {aside}" for p in problems]
    return layouts, problems


def _written_by_newer(path: Path) -> bool:
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(old, dict) or old.get("format") != FORMAT:
        return False
    version = old.get("version")
    return isinstance(version, int) and not isinstance(version, bool) and version > VERSION


def save_layouts(layouts: Sequence[HangingLayout], path: str | os.PathLike | None = None) -> Path:
    """Write ``layouts`` atomically (the folder is created). MedviewerError with the reason
    when it cannot be written, or when the file there was written by a newer medviewer
    (which is left as it is)."""
    path = Path(path) if path is not None else layouts_path()
    if _written_by_newer(path):
        raise MedviewerError(
            f"{path} was written by a newer medviewer; it is not overwritten (layouts not saved)"
        )
    data = {"format": FORMAT, "version": VERSION, "layouts": [h.to_dict() for h in layouts]}
    try:
        write_json_atomic(path, data)
    except OSError as exc:
        raise MedviewerError(
            f"could not save the hanging layouts to {path} ({exc.strerror or exc}); "
            "the previous file is kept"
        ) from exc
    return path


# -- saving the current layout, finding and applying one ---------------------------------------
def _escape_glob(text: str) -> str:
    """``text`` as a glob matching exactly itself (case aside)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def layout_from_current(
    name: str,
    layout: ReadingLayout,
    series_by_key: Mapping[str, SeriesInfo],
    windows_by_viewport: Mapping[int, Window | None] | Sequence[Window | None] | None = None,
    *,
    current_study_uid: str | None = None,
) -> HangingLayout:
    """A hanging layout of what ``layout`` shows now, named ``name``.

    Each viewport's rule takes the modality and the exact description (as a glob) of the
    series it shows, its plane and slab, and its window from ``windows_by_viewport`` (by
    viewport index). Series of another study than ``current_study_uid`` (default: the study
    of the first viewport showing a series) are marked as taken from the prior. The layout
    matches the modality and body part of the current study's first series shown.
    ValueError when the name is empty or no viewport shows a known series.
    """
    if not name.strip():
        raise ValueError("a hanging layout needs a name")
    if isinstance(windows_by_viewport, Sequence):
        windows_by_viewport = dict(enumerate(windows_by_viewport))
    windows = windows_by_viewport or {}
    shown = [series_by_key.get(v.series_key) if v.series_key else None for v in layout.viewports]
    known = [s for s in shown if s is not None]
    if not known:
        raise ValueError("no viewport shows a series: there is nothing to save")
    current = current_study_uid or known[0].study_uid
    main = next((s for s in known if s.study_uid == current), known[0])
    viewports = []
    for n, (state, series) in enumerate(zip(layout.viewports, shown)):
        if series is None:
            viewports.append(HangingViewport(slab=state.slab))
            continue
        rule = HangingRule(
            modality=(series.modality or "").upper(),
            description_pattern=_escape_glob(series.description or ""),
            plane=state.plane,
            prior=series.study_uid != current,
        )
        viewports.append(HangingViewport(rule, windows.get(n, state.window), state.slab))
    return HangingLayout(
        name=name.strip(),
        modality=(main.modality or "").upper(),
        body_part=(main.body_part or "").strip().upper(),
        grid=layout.grid,
        links=replace(layout.links),
        viewports=viewports,
    )


def _fits(hl: HangingLayout, study: StudyInfo) -> bool:
    for series in study.series:
        if (series.modality or "").upper() != hl.modality:
            continue
        if not hl.body_part or (series.body_part or "").strip().upper() == hl.body_part:
            return True
    return False


def match_layout(layouts: Sequence[HangingLayout], study: StudyInfo) -> HangingLayout | None:
    """The layout for ``study``: one whose modality and body part a series of the study has
    (first in the list), else one for its modality and any body part, else None."""
    fitting = [hl for hl in layouts if _fits(hl, study)]
    specific = [hl for hl in fitting if hl.body_part]
    return (specific or fitting or [None])[0]


def _describe(rule: HangingRule) -> str:
    what = f"{rule.modality or 'any'} series {rule.description_pattern!r}"
    return f"{what} of the prior study" if rule.prior else what


def apply_layout(
    hl: HangingLayout, study: StudyInfo, prior: StudyInfo | None
) -> tuple[ReadingLayout, list[str]]:
    """The reading layout ``hl`` gives for ``study`` (and its ``prior``), with a message per
    viewport whose rule nothing matched (that viewport is left empty).

    Each rule takes the first series of its study (in series order) that matches it and is
    not already shown in the same plane, else the first that matches. The links are the
    layout's; the offsets are empty (merge the remembered ones).
    """
    layout = ReadingLayout(hl.grid, links=replace(hl.links))
    shown: set[tuple[str, str]] = set()
    messages = []
    for n, hv in enumerate(hl.viewports[: layout.capacity]):
        rule = hv.rule
        state = ViewportState(plane=rule.plane if rule else "acquired", slab=hv.slab)
        layout.viewports[n] = state
        if rule is None:
            continue
        source = prior if rule.prior else study
        if source is None:
            messages.append(
                f"viewport {n + 1}: no prior study to take the {_describe(rule)} from; left empty"
            )
            continue
        candidates = [s for s in source.series if rule.matches(s)]
        if not candidates:
            messages.append(f"viewport {n + 1}: no {_describe(rule)} found; left empty")
            continue
        fresh = [s for s in candidates if (s.key, rule.plane) not in shown]
        series = (fresh or candidates)[0]
        shown.add((series.key, rule.plane))
        state.series_key, state.window = series.key, hv.window
    return layout, messages


def upsert_layout(layouts: Sequence[HangingLayout], new: HangingLayout) -> list[HangingLayout]:
    """``layouts`` with ``new`` in place of the one of the same name (any case), else added."""
    key = new.name.casefold()
    out = [new if hl.name.casefold() == key else hl for hl in layouts]
    return out if any(hl is new for hl in out) else [*out, new]


__all__ = [
    "FILE_NAME",
    "FORMAT",
    "VERSION",
    "HangingLayout",
    "HangingRule",
    "HangingViewport",
    "apply_layout",
    "layout_from_current",
    "layouts_path",
    "load_layouts",
    "match_layout",
    "save_layouts",
    "upsert_layout",
]
