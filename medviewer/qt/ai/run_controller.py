"""Running the classifier from the AI dock: start a run on a worker (the visible slice
first), take its slices as they come, finish, fail or cancel it, and put what
:class:`medviewer.session.ai_results.RunResults` computes on the dock's widgets.

Callbacks of a worker that is no longer the current run (cancelled, superseded) are dropped.
"""

from __future__ import annotations

from medviewer.jobs import CancelToken, Progress
from medviewer.qt.ai import jobs
from medviewer.session import ai_status as status
from medviewer.session.ai_results import RUN_FAILED, SERIES_TIP, RunResults


class RunController:
    """The classification runs of an :class:`~medviewer.qt.ai.panel.AIPanel`."""

    def __init__(self, panel, loader: jobs.ModelLoader) -> None:
        self.panel = panel
        self.loader = loader
        self.results = RunResults()
        self.warnings = status.RunWarnings()
        self.worker = None
        self._cancel: CancelToken | None = None

    @property
    def running(self) -> bool:
        return self.worker is not None

    def reset(self, n_slices: int) -> None:
        """A new series: no results, no curves, no model named."""
        self.results.clear(n_slices)
        self._clear_plot()

    def _clear_plot(self) -> None:
        plot = self.panel.plot
        plot.clear_curves()
        plot.set_change_marks([], [])

    def run(self) -> bool:
        """Classify every slice of the current series in the background (current slice
        first). Returns False (with a message) when there is nothing to run or no model."""
        p = self.panel
        if self.worker is not None:
            return False
        problem = p._volume_ready()
        ref = p.current_ref
        if problem is None and ref is None:
            problem = status.NO_MODEL_TO_RUN
        if problem:
            p._message(problem)
            return False
        p._clear_messages()
        volume, device = p.session.volume, p.device
        cancel = CancelToken()
        first = p.current_slice
        self.results.start(int(volume.array.shape[0]))
        self.warnings.reset()
        self._clear_plot()
        p.series_label.setText(self.results.running_text(ref))
        p.model_group.set_progress(status.progress_busy())
        current = jobs.Current(self)

        worker = jobs.start(
            self._job(ref, device, volume, first, cancel),
            on_progress=current.guard(self._progress),
            on_done=current.guard(self._done),
            on_error=current.guard(self._failed),
        )
        current.worker = self.worker = worker
        self._cancel = cancel
        p._update_enabled()
        return True

    def _job(self, ref, device, volume, first, cancel):
        from medviewer.ai.classifier import check_input, predict_iter

        loaded = yield from self.loader.steps(ref, device)
        warnings = tuple(check_input(loaded.model, volume) or ())
        if warnings:
            yield Progress(0, None, "checked the input", detail=jobs.InputWarnings(warnings))
        return (yield from predict_iter(loaded.model, volume, first=first, cancel=cancel))

    def _progress(self, step: Progress) -> None:
        detail = step.detail
        if isinstance(detail, jobs.Loaded):
            self.panel._model_loaded(detail)
        elif isinstance(detail, jobs.InputWarnings):
            for text in detail.messages:
                self._warning(text)
        elif isinstance(detail, (list, tuple)):
            self.add(detail)
        self.panel.model_group.set_progress(status.progress_step(step))

    def _warning(self, text: str) -> None:
        """Show a warning of this run once (see RunWarnings)."""
        text = self.warnings.first_time(text)
        if text is not None:
            self.panel._message(text)

    def add(self, predictions) -> None:
        """Slice predictions on the plot and the slice line."""
        if not predictions:
            return
        plot = self.panel.plot
        if self.results.add(predictions):
            plot.make_curves(self.results.curves())
        plot.set_curves(self.results.curves())
        self.update_slice_label()

    def _done(self, result) -> None:
        p = self.panel
        self.worker = None
        self._cancel = None
        if result is not None:
            self.add(self.results.to_add(result))
            self.results.finish(result)
            for text in getattr(result, "warnings", None) or ():
                self._warning(text)  # the input warnings again, and the run's own
            p.series_label.setText(self.results.series_text())
            p.model_group.set_progress(status.progress_done(len(self.results.predictions)))
            p.series_label.setToolTip(SERIES_TIP)
        p._update_enabled()
        self.update_slice_label()
        p.run_finished.emit(result)

    def _failed(self, message: str) -> None:
        p = self.panel
        self.worker = None
        self._cancel = None
        p._message(message)
        p.series_label.setText(RUN_FAILED)
        p.model_group.set_progress(status.progress_failed())
        p._update_enabled()
        p.run_finished.emit(None)

    def cancel(self) -> None:
        """Stop the running classification; results so far stay on screen."""
        worker, cancel = self.worker, self._cancel
        if worker is None:
            return
        p = self.panel
        self.worker = None
        self._cancel = None
        if cancel is not None:
            cancel.cancel()
        worker.quit()
        r = self.results
        p.series_label.setText(r.cancelled_text())
        p.model_group.set_progress(status.progress_cancelled(len(r.predictions), r.n_slices))
        p._update_enabled()
        p.run_finished.emit(None)

    def update_slice_label(self) -> None:
        self.panel.slice_label.setText(self.results.slice_text(self.panel.current_slice))

    def compare(self, previous: dict[int, str], before: str | None = None) -> list[int]:
        """Mark on the plot the slices whose top class differs from ``previous`` and say how
        many; returns their indices, sorted."""
        message = self.results.compare(previous, before)
        self.panel.plot.set_change_marks(*self.results.change_marks())
        if message is not None:
            self.panel._message(message)
        return list(self.results.changed)


__all__ = ["RunController"]
