"""The bundled sample study, scanned and loaded once per test run (shared by the session tests)."""

from functools import cache

from medviewer.dicom import load_volume, scan
from medviewer.resources import sample_study_dir


@cache
def sample_study():
    """``(study, series, volume)`` of the bundled 108 x 256 x 256 head CT."""
    result = scan([sample_study_dir()])
    (study,) = result.studies
    (series,) = study.series
    return study, series, load_volume(series)
