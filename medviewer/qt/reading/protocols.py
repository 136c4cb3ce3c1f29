"""Hanging protocols in the window: save the current layout under a name, and apply the
matching one when a study is opened.

The layouts file, matching and the choice of series per viewport are
:mod:`medviewer.session.hanging`'s; a bad or newer file only gives messages, never an error.
"""

from __future__ import annotations

from PySide6 import QtWidgets

from medviewer.errors import MedviewerError
from medviewer.session import hanging, priors


def save_hanging_layout(window, name: str | None = None):
    """Save what the viewports show as hanging protocol ``name`` (asked when None)."""
    area, session = window.reading, window.session
    scan = session.scan_result
    if scan is None or session.series is None:
        area.message.emit("Open a study first", False)
        return None
    if name is None:
        name, ok = QtWidgets.QInputDialog.getText(
            window, "Save hanging protocol", "Name of the layout (for this modality):"
        )
        if not ok:
            return None
    series_by_key = {s.key: s for s in scan.all_series()}
    windows = {n: area.viewport_session(n).window for n in area.loaded()}
    try:
        layout = hanging.layout_from_current(
            name,
            area.layout_state,
            series_by_key,
            windows,
            current_study_uid=session.series.study_uid,
        )
    except ValueError as exc:
        area.message.emit(f"Hanging protocol not saved: {exc}", True)
        return None
    layouts, problems = hanging.load_layouts()
    for problem in problems:
        area.message.emit(problem, True)
    try:
        hanging.save_layouts(hanging.upsert_layout(layouts, layout))
    except MedviewerError as exc:
        area.message.emit(str(exc), True)
        return None
    where = f"{layout.modality} {layout.body_part}".strip() if layout.body_part else layout.modality
    area.message.emit(f"Hanging protocol {layout.name!r} saved for {where} studies", False)
    return layout


def apply_matching(window, series) -> str | None:
    """Apply the hanging protocol matching the study of ``series`` (the one opened), if any.

    Returns the series key for viewport 0 (None: no protocol, open ``series`` as usual).
    """
    area = window.reading
    scan = window.session.scan_result
    study = area.study_of(series)
    layouts, problems = hanging.load_layouts()
    for problem in problems:
        area.message.emit(problem, True)
    found = hanging.match_layout(layouts, study) if study is not None else None
    if found is None:
        return None
    prior = priors.find_prior(study, series, scan.studies)
    layout, messages = hanging.apply_layout(found, study, prior[0] if prior else None)
    area.apply_layout(layout)
    area.message.emit(f"Hanging protocol {found.name!r} applied", False)
    for text in messages:
        area.message.emit(f"Hanging protocol {found.name!r}: {text}", True)
    return layout.viewports[0].series_key


__all__ = ["apply_matching", "save_hanging_layout"]
