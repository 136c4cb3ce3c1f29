"""The parts' widgets and values, reachable on :class:`~medviewer.qt.ai.panel.AIPanel` under
the names they had when the panel was one class (the main window, the fine-tuning dialog,
tests and the screenshot script read them there): ``panel.run_button`` is
``panel.model_group.run_button``, ``panel.top_classes()`` is
``panel.runs.results.top_classes()``."""

from __future__ import annotations


def _forward(path: str, name: str) -> property:
    """A read-only property for ``self.<path>.<name>`` (``path`` may be dotted)."""

    def get(self):
        obj = self
        for part in path.split("."):
            obj = getattr(obj, part)
        return getattr(obj, name)

    return property(get, doc=f"``self.{path}.{name}``")


FORWARDED = {
    "model_group": "model_box device_box run_button cancel_button card_button progress "
    "message_label",
    "results_box": "series_label slice_label plot",
    "results_box.plot": "marker legend change_marks curves",
    "explain_box": "method_box target_box heatmap_check side_check cmap_box opacity_slider "
    "opacity_value threshold_slider threshold_value colorbar explanation_label "
    "faithfulness_label note_label input_button opacity threshold cmap method target "
    "method_enabled method_tooltip",
    "models": "registry current_ref current_entry device",
    "runs": "running",
    "runs.results": "classes series_result prediction top_classes",
    "explainer": "overlay explanation explained_slice",
    "views": "input_window card_window card_view",
}
"""Attribute path on the panel -> the names forwarded from it."""

RENAMED = {
    "_registry_error": ("models", "registry_error"),
    "_run_info": ("runs.results", "run_info"),
    "compare_predictions": ("runs", "compare"),
}
"""Name on the panel -> (attribute path, name there)."""


def with_panel_attributes(cls):
    """Class decorator: add :data:`FORWARDED` and :data:`RENAMED` to ``cls`` as read-only
    properties."""
    pairs = [(name, path, name) for path, names in FORWARDED.items() for name in names.split()]
    pairs += [(name, path, target) for name, (path, target) in RENAMED.items()]
    for name, path, target in pairs:
        if hasattr(cls, name):
            raise TypeError(f"{cls.__name__}.{name} exists: it cannot also forward to {path}")
        setattr(cls, name, _forward(path, target))
    return cls


__all__ = ["FORWARDED", "RENAMED", "with_panel_attributes"]
