"""The Qt-free session drives open -> load -> scroll -> window exactly like the UI does."""

import numpy as np
import pytest

from medviewer.dicom import Volume
from medviewer.errors import Cancelled, DicomError
from medviewer.jobs import CancelToken, run_job
from medviewer.session import StudySession
from medviewer.session.study import no_images_message
from medviewer.testing.synthetic import write_series


@pytest.fixture
def series_dir(tmp_path):
    return write_series(tmp_path / "ct", n_slices=9, rows=32, cols=32)


def test_open_load_and_navigate(series_dir):
    session = StudySession()
    result = run_job(session.open_iter([series_dir.folder]))
    assert session.scan_result is result
    series = session.default_series()
    seen_partial = []

    def watch(step):
        if isinstance(step.detail, Volume) and not seen_partial:
            # As soon as the middle slice is in, the session shows it.
            seen_partial.append(session.slice_index)
            assert session.volume is step.detail

    volume = run_job(session.load_iter(series), on_progress=watch)
    assert seen_partial == [4]
    assert np.array_equal(volume.array, series_dir.values)
    assert session.set_slice(-5) == 0
    assert session.set_slice(99) == 8
    assert np.array_equal(session.current_slice(), series_dir.values[8])
    assert session.window.name == "File 1"  # the file's own 40/80
    names = [w.name for w in session.available_windows()]
    assert names[:2] == ["File 1", "Brain"] and names[-1] == "Auto"
    assert "| 9 images |" in session.status_text()


def test_empty_folder_says_what_was_skipped(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    session = StudySession()
    run_job(session.open_iter([tmp_path]))
    with pytest.raises(DicomError, match="no displayable image series.*not_dicom"):
        session.default_series()


def test_a_scan_without_images_keeps_the_open_study_and_says_why(series_dir, tmp_path):
    session = StudySession()
    run_job(session.open_iter([series_dir.folder]))
    before = session.scan_result
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "a.txt").write_text("hello")
    (texts / "b.txt").write_text("hello")
    result = run_job(session.open_iter([texts]))
    assert result.largest_series() is None and session.scan_result is before
    assert no_images_message(result, [texts], "The study that was open") == (
        f"No DICOM image series found in {texts}: of its 2 file(s): 2 not DICOM. The "
        "study that was open stays open. Open a folder, file or DICOMDIR that holds DICOM "
        "images (the Messages list names each skipped file)."
    )
    missing = tmp_path / "gone"
    result = run_job(session.open_iter([missing]))
    assert "1 unreadable or missing" in no_images_message(result, [missing])
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_job(session.open_iter([empty]))
    assert f"in {empty}: it holds no files." in no_images_message(result, [empty])
    assert session.scan_result is before


def test_a_current_study_opened_with_its_prior_is_shown_first(tmp_path):
    uid = "1.2.826.0.1.3680043.8.498."

    def study(name, n, date, number):
        write_series(tmp_path / name, n_slices=n, rows=16, cols=16, study_date=date,
                     study_uid=f"{uid}{number}1", series_uid=f"{uid}{number}2")  # fmt: skip

    # the prior is bigger (more slices), so "the largest series" alone would pick it
    study("prior", 12, "20240610", 7)
    study("current", 6, "20260115", 8)
    session = StudySession()
    run_job(session.open_iter([tmp_path / "prior", tmp_path / "current"]))
    assert session.default_series().series_uid == f"{uid}82"
    # a study without a date is never taken for the newest; with none dated: the largest
    study("undated", 14, "", 9)
    run_job(session.open_iter([tmp_path / "undated", tmp_path / "prior"]))
    assert session.default_series().series_uid == f"{uid}72"
    study("undated2", 3, "", 6)
    run_job(session.open_iter([tmp_path / "undated", tmp_path / "undated2"]))
    assert session.default_series().series_uid == f"{uid}92"


def test_load_can_be_cancelled(series_dir):
    session = StudySession()
    run_job(session.open_iter([series_dir.folder]))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_job(session.load_iter(session.default_series(), cancel=token), cancel=token)


def test_a_superseded_load_no_longer_changes_the_session(tmp_path):
    first = write_series(tmp_path / "a", n_slices=5, rows=16, cols=16)
    second = write_series(tmp_path / "b", n_slices=7, rows=16, cols=16)
    session = StudySession()
    run_job(session.open_iter([tmp_path]))
    by_size = {s.n_frames: s for s in session.scan_result.all_series()}
    stale = session.load_iter(by_size[5])
    next(stale)  # the old load is under way on some worker...
    volume = run_job(session.load_iter(by_size[7]))  # ...when the user picks another series
    for _ in stale:  # the old worker finishes late
        pass
    assert session.volume is volume
    assert np.array_equal(session.volume.array, second.values)
    assert session.series.key == by_size[7].key
    assert first.values.shape[0] == 5
