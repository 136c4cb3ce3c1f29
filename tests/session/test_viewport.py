"""A secondary viewport's own series: loading, the generation guard, windows, single slices."""

import numpy as np
import pytest

from medviewer.dicom import Volume, Window, default_window, scan
from medviewer.errors import DicomError
from medviewer.jobs import run_job
from medviewer.session import StudySession, mpr
from medviewer.session.slab import Slab, reformat_slab
from medviewer.session.viewport import ViewportSession
from medviewer.testing.synthetic import write_series


@pytest.fixture(scope="module")
def two_series(tmp_path_factory):
    base = tmp_path_factory.mktemp("viewport")
    uid = "1.2.826.0.1.3680043.8.498.1"
    first = write_series(base / "a", n_slices=5, rows=16, cols=16, study_uid=uid, seed=1)
    second = write_series(
        base / "b", n_slices=7, rows=16, cols=20, study_uid=uid, seed=2, body_part="CHEST"
    )
    (study,) = scan([base]).studies
    by_size = {s.n_frames: s for s in study.series}
    return study, by_size[5], by_size[7], first, second


def test_loads_a_series_like_the_main_session(two_series):
    study, _, series, _, written = two_series
    viewport = ViewportSession()
    assert viewport.volume is None and viewport.window is None and viewport.n_slices == 0
    seen = []

    def watch(step):
        if isinstance(step.detail, Volume) and not seen:
            seen.append((viewport.volume is step.detail, viewport.cursor))

    volume = run_job(viewport.load_iter(study, series), on_progress=watch)
    assert seen == [(True, (3, 8, 10))]  # shown from the middle slice, crosshair centred
    assert viewport.volume is volume and viewport.series.key == series.key
    assert viewport.study is study
    assert np.array_equal(volume.array, written.values)
    # The default window is the main session's: here the file's own 40/80.
    main = StudySession()
    run_job(main.open_iter([written.folder]))
    run_job(main.load_iter(main.default_series()))
    assert viewport.window == main.window == Window(40.0, 80.0, "File 1")
    assert viewport.window == default_window(series, volume.array[3])
    names = [w.name for w in viewport.available_windows()]
    assert names[:2] == ["File 1", "Brain"] and names[-1] == "Auto"


def test_a_wanted_window_replaces_the_default(two_series):
    study, _, series, _, _ = two_series
    viewport = ViewportSession()
    bone = Window(600, 2800, "Bone")
    run_job(viewport.load_iter(study, series, window=bone))
    assert viewport.window == bone
    viewport.set_window(Window(40, 400, "Abdomen"))
    assert viewport.window.name == "Abdomen"


def test_a_stale_load_never_overwrites_a_newer_choice(two_series):
    study, small, large, _, written = two_series
    viewport = ViewportSession()
    stale = viewport.load_iter(study, small)
    next(stale)  # the first load is under way on some worker...
    volume = run_job(viewport.load_iter(study, large))  # ...when another series is dropped
    for _ in stale:  # the old worker finishes late
        pass
    assert viewport.volume is volume and viewport.series.key == large.key
    assert np.array_equal(viewport.volume.array, written.values)
    assert viewport.cursor == (3, 8, 10)
    # Clearing also outruns a load in flight.
    late = viewport.load_iter(study, small)
    next(late)
    viewport.clear()
    for _ in late:
        pass
    assert viewport.volume is None and viewport.series is None and viewport.study is None
    assert viewport.window is None and viewport.cursor == (0, 0, 0)


def test_cursor_slice_and_inversion(two_series):
    study, _, series, _, written = two_series
    viewport = ViewportSession(deidentified=True)
    assert viewport.set_cursor(2, 3, 4) == (0, 0, 0)  # nothing loaded: nothing moves
    with pytest.raises(DicomError, match="no volume"):
        viewport.current_slice()
    run_job(viewport.load_iter(study, series))
    assert viewport.set_cursor(99, -3, 5) == (6, 0, 5)
    assert viewport.set_slice(-4) == 0 and viewport.cursor == (0, 0, 5)
    assert viewport.slice_index == 0 and viewport.n_slices == 7
    assert np.array_equal(viewport.current_slice(), written.values[0])
    assert viewport.deidentified is True and viewport.inverted is False
    viewport.user_invert = True
    assert viewport.inverted is True
    viewport.set_slab(Slab("mip", 5.0))
    assert viewport.slab.active()


def test_a_single_slice_series(tmp_path):
    written = write_series(tmp_path / "one", n_slices=1, rows=10, cols=12)
    (study,) = scan([tmp_path]).studies
    (series,) = study.series
    viewport = ViewportSession()
    volume = run_job(viewport.load_iter(study, series))
    assert volume.array.shape == (1, 10, 12) and viewport.cursor == (0, 5, 6)
    assert viewport.set_slice(3) == 0 and viewport.set_cursor(5, 20, 20) == (0, 9, 11)
    assert np.array_equal(viewport.current_slice(), written.values[0])
    assert viewport.window == Window(40.0, 80.0, "File 1")
    # Every plane still has something to show, and a slab holds just the one slice.
    assert mpr.plane_count(volume, "acquired") == 1
    coronal = mpr.reformat(volume, "coronal", 4)
    assert coronal.shape == (1, 12)
    thick = reformat_slab(volume, "acquired", 0, Slab("mip", 10.0))
    assert np.array_equal(thick.values, written.values[0])
