"""The AI dock's status without Qt: message line, progress bar, usable controls, problems."""

import dataclasses

import numpy as np
import pytest

from medviewer.jobs import Progress
from medviewer.session import ai_status as status
from medviewer.session.ai_status import MessageLog, ProgressView, RunWarnings


def test_messages_are_shown_once_and_only_the_last_few():
    log = MessageLog()
    assert log.add("  model loaded on the CPU \n") == "model loaded on the CPU"
    assert log.add("model loaded on the CPU") is None  # already on the line
    assert log.add("   ") is None and log.add("") is None
    for i in range(8):
        log.add(f"warning {i}")
    assert len(log.messages) == status.MAX_MESSAGES == 6
    assert log.messages[0] == "warning 2" and log.messages[-1] == "warning 7"
    assert log.text().splitlines() == [f"• warning {i}" for i in range(2, 8)]
    assert log.add("model loaded on the CPU") is not None  # dropped off the line: new again
    log.clear()
    assert log.messages == [] and log.text() == ""


def test_a_run_says_each_warning_once_even_after_the_line_dropped_it():
    warnings, log = RunWarnings(), MessageLog()
    said = []
    many = [f"input warning {i}: treat the result with caution" for i in range(8)]
    for text in many + many:  # before the slices, and again in the result
        text = warnings.first_time(text)
        if text is not None and log.add(text) is not None:
            said.append(text)
    assert said == many
    warnings.reset()
    assert warnings.first_time(many[0]) == many[0]  # a new run says it again


@pytest.mark.parametrize(
    ("has_model", "running", "expected"),
    [
        (True, False, status.Controls(run=True, cancel=False, model=True, model_input=True)),
        (True, True, status.Controls(run=False, cancel=True, model=False, model_input=True)),
        (False, False, status.Controls(run=False, cancel=False, model=True, model_input=False)),
    ],
)
def test_which_controls_a_run_leaves_usable(has_model, running, expected):
    assert status.controls(has_model, running) == expected


def test_progress_of_a_run_from_start_to_end():
    assert status.progress_idle() == ProgressView(1, 0, "")  # no "44 slices classified" left
    assert status.progress_busy() == ProgressView(0, None, None)  # busy until the model loads
    loading = status.progress_step(Progress(0, None, "loading tiny-ct:1.0.0…"))
    assert loading == ProgressView(None, None, "loading tiny-ct:1.0.0…")  # keeps the busy bar
    batch = status.progress_step(Progress(4, 8, "4/8 slices"))
    assert batch == ProgressView(8, 4, "%v/%m  4/8 slices")
    quiet = status.progress_step(Progress(5, 8, ""))
    assert quiet == ProgressView(8, 5, None)
    assert status.progress_done(8) == ProgressView(8, 8, "8 slices classified")
    assert status.progress_done(0) == ProgressView(1, 0, "0 slices classified")
    assert status.progress_cancelled(7, 40) == ProgressView(40, 7, "cancelled")
    assert status.progress_failed() == ProgressView(1, 0, "failed")


def test_a_series_still_loading_cannot_be_classified():
    class Volume:
        loaded = np.array([True, True, False, True])

    vol = Volume()
    assert status.loading_problem(vol) == status.STILL_LOADING
    vol.loaded = np.ones(4, dtype=bool)
    assert status.loading_problem(vol) is None
    vol.loaded = None  # fully loaded volumes drop the mask
    assert status.loading_problem(vol) is None


def test_a_real_volume_is_ready_once_loaded(tmp_path):
    from medviewer.dicom import load_volume, scan
    from medviewer.testing.synthetic import write_series

    write_series(tmp_path, n_slices=4, rows=32, cols=32)
    volume = load_volume(scan([str(tmp_path)]).all_series()[0])
    assert status.loading_problem(volume) is None
    partly = dataclasses.replace(volume, loaded=np.array([True, False, False, False]))
    assert status.loading_problem(partly) == (
        "The series is still loading; try again when it has loaded"
    )
