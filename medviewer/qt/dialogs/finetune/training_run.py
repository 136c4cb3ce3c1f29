"""One fine-tuning run on a worker (:func:`medviewer.ai.train.finetune_iter`), drawn live on
the Training page; the dialog decides what its end means."""

from __future__ import annotations

import time

from PySide6 import QtCore

from medviewer.jobs import CancelToken, Progress
from medviewer.qt.dialogs.finetune import training_view as view
from medviewer.qt.dialogs.finetune.choices import monitor_name
from medviewer.qt.dialogs.finetune.jobs import JobFailure, current_only, guarded
from medviewer.qt.dialogs.finetune.training_page import TrainingPage
from medviewer.qt.workers import start_job


class TrainingRun(QtCore.QObject):
    """At most one run at a time. Callbacks of a worker that is no longer current are dropped.

    Parameters
    ----------
    page : the Training page it draws on.
    registry : the ModelRegistry the new version is saved to.
    """

    epoch_finished = QtCore.Signal(object)
    """Each EpochResult, after the page drew it."""
    ended = QtCore.Signal(object, bool)
    """(the FinetuneResult, a JobFailure or None; whether Cancel was pressed during the run)."""

    def __init__(self, page: TrainingPage, registry, parent=None) -> None:
        super().__init__(parent)
        self.page = page
        self.registry = registry
        self.progress = view.TrainingProgress(0.0)
        self._plan = None
        self._worker = None
        self._cancel: CancelToken | None = None
        self._cancelling = False

    @property
    def running(self) -> bool:
        return self._worker is not None

    @property
    def cancelling(self) -> bool:
        """Cancel was pressed; the run stops after the current batch."""
        return self._cancelling

    def start(self, plan, options) -> None:
        """Train ``plan`` with ``options`` (TrainOptions) on a worker."""
        from medviewer.ai.train import finetune_iter

        self._plan = plan
        self.progress = view.TrainingProgress(time.monotonic())
        self._cancelling = False
        self.page.start(
            options.epochs, options.monitor, monitor_name(options.monitor), view.snapshot_note(plan)
        )
        self.page.log(view.start_log(plan, options))
        cancel = CancelToken()
        current: dict = {}

        def guard(callback):
            return current_only(self, "_worker", current, callback)

        worker = start_job(
            guarded(finetune_iter(plan, options, registry=self.registry, cancel=cancel)),
            on_progress=guard(self._on_progress),
            on_done=guard(self._done),
            on_error=guard(lambda m: self._done(JobFailure(m))),
        )
        current["worker"] = self._worker = worker
        self._cancel = cancel

    def _on_progress(self, step: Progress) -> None:
        from medviewer.ai.train import BatchProgress, EpochResult, Evaluating

        detail = step.detail
        if isinstance(detail, BatchProgress):
            batch = self.progress.batch(detail, time.monotonic())
            self.page.show_batch(batch, self.progress.batch_x, self.progress.batch_y)
        elif isinstance(detail, EpochResult):
            self.page.show_epoch(self.progress.epoch(detail))
            self.epoch_finished.emit(detail)
        elif isinstance(detail, Evaluating):
            self.page.set_progress_text(view.scoring_text(detail.which))
            self.page.log(view.scoring_log(detail.which, len(self._plan.val)))
        elif step.message:
            self.page.set_progress_text(step.message)
            if not step.message.startswith(("epoch", "batch")):
                self.page.log(step.message)

    def cancel(self) -> bool:
        """Ask the run to stop after the current batch (the job then removes its temporary
        folder). False when nothing runs or Cancel was already pressed."""
        if not self.running or self._cancelling:
            return False
        self._cancelling = True
        if self._cancel is not None:
            self._cancel.cancel()
        self.page.set_progress_text("cancelling after this batch…")
        self.page.log("Cancel requested")
        return True

    def stop(self) -> None:
        """Cancel without a word on the page (the main window is closing)."""
        if self._cancel is not None:
            self._cancel.cancel()

    def _done(self, result) -> None:
        self._worker = None
        self._cancel = None
        cancelled, self._cancelling = self._cancelling, False
        self.ended.emit(result, cancelled)


__all__ = ["TrainingRun"]
