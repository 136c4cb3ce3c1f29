"""AI > Models…: every installed model version, which one is active per modality, and what
each was measured at; activate any version (roll back), delete a user version, read its card.

Listing reads manifests only (JSON, no torch). Importing checks the package's weights, so it
runs as a job on a worker.

Modules: ``dialog`` (ModelsDialog: widgets, listing, selection), ``versions_table`` (the
table's columns and rows, which modalities each version is active for), ``model_actions``
(activate / roll back, delete, import, open the card), ``model_card`` (the details pane and
the model-card window) and ``manifest_fields`` (Qt-free: metrics, lineage, label counts).
"""

from medviewer.qt.dialogs.models_dialog.dialog import ModelsDialog
from medviewer.qt.dialogs.models_dialog.manifest_fields import (
    METRIC_KEYS,
    METRIC_NAMES,
    base_text,
    label_counts,
    lineage_of,
    raw_manifest,
    split_metrics,
)
from medviewer.qt.dialogs.models_dialog.model_card import (
    details_html,
    model_card_text,
    show_model_card,
)
from medviewer.qt.dialogs.models_dialog.versions_table import COLUMNS

__all__ = [
    "COLUMNS",
    "METRIC_KEYS",
    "METRIC_NAMES",
    "ModelsDialog",
    "base_text",
    "details_html",
    "label_counts",
    "lineage_of",
    "model_card_text",
    "raw_manifest",
    "show_model_card",
    "split_metrics",
]
