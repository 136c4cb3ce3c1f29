"""AI > Fine-tune model…: from the label store to a validated, versioned model, in four pages.

1. **Data** — base model, label filters, split, extra folders; "Check data" runs
   :func:`medviewer.ai.datasets.prepare_iter` on a worker and shows the plan (counts per class
   and split, patients, missing images, warnings) or, when the data cannot train a model, what
   is missing in plain words. Label classes the base model does not know can become new outputs
   or be mapped to a base class (or left out), then the data is checked again.
2. **Options** — mode and epochs, with an "Advanced" view of every training option.
3. **Training** — :func:`medviewer.ai.train.finetune_iter` on a worker: live loss and metric
   curves, progress with an estimate of the time left, a log, Cancel (no version is written).
4. **Result** — base and new model on the same validation cases, side by side: metrics,
   per-class scores, confusion matrices, calibration; Activate, Keep current, Export package.

The GUI thread only draws: checking, training, exporting run as jobs
(:func:`medviewer.qt.workers.start_job`). torch is never imported here.

Modules: ``dialog`` (the dialog: steps, navigation, hand-offs between steps), one flow per
step (``data_check``, ``training_run``, ``result_actions``), one widget per page
(``data_page`` + ``plan_box``, ``options_page``, ``training_page``, ``result_page``), the
Qt-free parts (``jobs``; ``data_view``, ``training_view``, ``result_view``: what the pages
show; ``steps``, ``formatting``, ``choices``, ``style``) and ``widgets`` (small helpers).
"""

from medviewer.qt.dialogs.finetune.dialog import FinetuneDialog
from medviewer.qt.dialogs.finetune.formatting import fmt_duration, metric_change
from medviewer.qt.dialogs.finetune.jobs import StoreOverview, export_package_job
from medviewer.qt.dialogs.finetune.result_view import reliability_points
from medviewer.qt.dialogs.finetune.widgets import ConfusionTable

__all__ = [
    "ConfusionTable",
    "FinetuneDialog",
    "StoreOverview",
    "export_package_job",
    "fmt_duration",
    "metric_change",
    "reliability_points",
]
