"""Compare with prior: the current series in viewport 0, the prior's matching series beside it.

Which study is the prior and which of its series matches is the session's answer
(:func:`medviewer.session.priors.find_prior`); this module arranges the viewports.
"""

from __future__ import annotations

from medviewer.errors import DicomError
from medviewer.qt.shortcuts import by_id
from medviewer.session import linking, priors


def compare_with_prior(window, key: str | None = None) -> bool:
    """Show series ``key`` (default: the primary series) with its prior in a 1x2 grid, linked.

    Returns False, with a message saying why, when there is no prior to show.
    """
    area, session = window.reading, window.session
    scan = session.scan_result
    if scan is None or (key is None and session.series is None):
        area.message.emit("Open a study first", False)
        return False
    try:
        series = scan.find_series(key or session.series.key)
    except DicomError as exc:
        area.message.emit(str(exc), True)
        return False
    study = area.study_of(series)
    found = priors.find_prior(study, series, scan.studies) if study is not None else None
    if found is None:
        part = f" {series.body_part}" if series.body_part else ""
        area.message.emit(
            f"No prior to compare with: no earlier study of this patient with a "
            f"{series.modality}{part} series is open",
            False,
        )
        return False
    prior_study, prior_series = found
    if area.count() < 2:
        area.set_grid("1x2")
    if session.series is None or session.series.key != series.key:
        window.load_series(series.key)
    area.set_active(0)
    area.assign(1, prior_series.key)
    text = f"Comparing with the prior of {priors.study_date_text(prior_study)}"
    if prior_series.description:
        text += f" ({prior_series.description})"
    area.message.emit(text, False)
    frame = series.frame_of_reference_uid
    offset = linking.offset_between(
        area.layout_state.offsets, series.series_uid, prior_series.series_uid
    )
    if offset is None and (not frame or frame != prior_series.frame_of_reference_uid):
        key_text = by_id("reading.link_here").display_keys()
        area.message.emit(
            "The prior has another frame of reference: scroll both viewports to the same "
            f"anatomy, then press {key_text} to link them (remembered for this pair)",
            False,
        )
    return True


__all__ = ["compare_with_prior"]
