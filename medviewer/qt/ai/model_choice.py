"""Which model the AI dock uses: the registry (created on first use; a broken models folder
never breaks the window), the model list read from the manifests (no model is loaded), the
active model of the series' modality preselected, and the user's pick remembered as active.
"""

from __future__ import annotations

from medviewer.qt.ai.widgets import combo_value
from medviewer.session import ai_model_view as view


class ModelChoice:
    """The model and device choice of an :class:`~medviewer.qt.ai.panel.AIPanel` (its
    ``model_box`` and ``device_box``); messages go to the panel's message line."""

    def __init__(self, panel, registry=None) -> None:
        self.panel = panel
        self._registry = registry
        self.registry_error: str | None = None
        self.entries: dict = {}

    @property
    def registry(self):
        if self._registry is None and self.registry_error is None:
            try:
                from medviewer.ai.registry import ModelRegistry

                self._registry = ModelRegistry()
            except Exception as exc:  # a broken models folder must not break the window
                self.registry_error = str(exc)
        return self._registry

    def reload(self) -> None:
        """List the registry's models; preselect the active one for the current modality."""
        panel, registry = self.panel, self.registry
        entries = []
        if registry is not None:
            try:
                entries = list(registry.entries())
            except Exception as exc:
                panel._message(view.cannot_list(exc))
        elif self.registry_error:
            panel._message(view.unavailable(self.registry_error))
        self.entries = {e.ref: e for e in entries}
        panel.model_group.set_models([view.model_item(e) for e in entries])
        if not entries:
            panel._message(view.NO_MODEL_INSTALLED)
        self.select_active()
        # after the active model was looked up: a damaged active-models file is said too
        problems = getattr(registry, "problems", None) if registry is not None else None
        for problem in problems() if callable(problems) else ():
            panel._message(problem)
        panel._model_changed()

    def select_active(self) -> None:
        """Select the active model of the open series' modality (without signals)."""
        # no series open yet: the CT model the viewer starts with, not the first listed
        registry, modality = self.registry, self.panel._modality() or "CT"
        ref = None
        if registry is not None and modality:
            try:
                entry = registry.active(modality)
                ref = entry.ref if entry is not None else None
            except Exception as exc:
                self.panel._message(view.no_active(exc))
        self.panel.model_group.select_model(ref)

    def picked(self, _index: int) -> None:
        """The user chose a model: make it the active one for this modality."""
        ref, modality = self.current_ref, self.panel._modality()
        if ref and modality and self.registry is not None:
            try:
                self.registry.set_active(modality, ref)
            except Exception as exc:
                self.panel._message(view.not_remembered(ref, modality, exc))

    @property
    def current_ref(self) -> str | None:
        return combo_value(self.panel.model_box)

    @property
    def current_entry(self):
        return self.entries.get(self.current_ref)

    @property
    def device(self) -> str:
        return combo_value(self.panel.device_box) or "auto"


__all__ = ["ModelChoice"]
