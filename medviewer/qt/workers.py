"""Run core jobs (generators yielding Progress) on Qt's thread pool."""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator

from superqt.utils import GeneratorWorker, create_worker

from medviewer.errors import Cancelled, MedviewerError
from medviewer.jobs import Progress

log = logging.getLogger(__name__)


def start_job(
    job: Generator[Progress, None, object],
    *,
    on_progress: Callable[[Progress], None] | None = None,
    on_done: Callable[[object], None] | None = None,
    on_error: Callable[[str], None] | None = None,
) -> GeneratorWorker:
    """Run ``job`` on a worker thread; callbacks are delivered on the GUI thread.

    ``on_error`` receives a one-line message (the traceback goes to the debug log only).
    ``worker.quit()`` cancels between two progress steps.
    """

    def run():
        return (yield from job)

    # errors go to `failed` below; superqt would otherwise also re-raise them in the GUI thread
    worker = create_worker(run, _start_thread=False, _ignore_errors=True)
    if on_progress is not None:
        worker.yielded.connect(on_progress)
    if on_done is not None:
        worker.returned.connect(on_done)

    def failed(exc: Exception) -> None:
        if isinstance(exc, Cancelled):
            return
        if isinstance(exc, MedviewerError):
            message = str(exc)
        else:
            log.debug("job failed", exc_info=exc)
            message = f"unexpected error ({type(exc).__name__}: {exc})"
        if on_error is not None:
            on_error(message)
        else:
            log.warning("%s", message)

    worker.errored.connect(failed)
    worker.start()
    return worker
