"""The "AI" dock's widget: run the classifier on the series, read its results, explain them
with heat maps. This module is the shell: the layout of its boxes, their wiring, the state
shared by its parts (series, slice, generation, messages) and the panel's public API, which
forwards to its parts:

- :class:`~medviewer.qt.ai.model_choice.ModelChoice`: registry and model / device choice;
- :class:`~medviewer.qt.ai.run_controller.RunController`: Run / Cancel and the results;
- :class:`~medviewer.qt.ai.explain_controller.ExplainController`: the heat maps;
- :class:`~medviewer.qt.ai.model_views.ModelViews`: model card and model-input windows.

Nothing heavy runs on the GUI thread: loading a model, classifying, explaining and preparing
the model-input preview are jobs on worker threads. torch is never imported here.

Wiring (see :class:`~medviewer.qt.ai.dock.AIDock`): call :meth:`AIPanel.set_volume_changed`
when a new volume becomes current and :meth:`AIPanel.set_current_slice` on every slice change
of the primary plane; connect ``slice_requested(int)`` to the primary plane,
``overlay_changed(object)`` (an RGBA array aligned with the primary plane's current slice, or
None) to its overlay layer with :attr:`AIPanel.opacity`, and ``side_by_side_changed(bool)`` to
the layout.
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtWidgets

from medviewer.qt.ai.attributes import with_panel_attributes
from medviewer.qt.ai.explain_box import ExplainBox
from medviewer.qt.ai.explain_controller import ExplainController
from medviewer.qt.ai.jobs import Loaded, ModelLoader
from medviewer.qt.ai.model_choice import ModelChoice
from medviewer.qt.ai.model_views import ModelViews
from medviewer.qt.ai.run_boxes import ModelBox, ResultsBox
from medviewer.qt.ai.run_controller import RunController
from medviewer.session import ai_status as status
from medviewer.session.ai_model_view import target_choices
from medviewer.session.ai_results import NO_SERIES, NOT_RUN, slice_at

RESEARCH_NOTICE = "Research use only — not for diagnosis"
RESEARCH_TIP = (
    "The classifier and its heat maps are research tools. They are not a medical "
    "device and must not be used to make or support a diagnosis."
)


@with_panel_attributes
class AIPanel(QtWidgets.QWidget):
    """Model picker, Run/Cancel, series and slice results, probability plot, explanations."""

    slice_requested = QtCore.Signal(int)
    overlay_changed = QtCore.Signal(object)
    side_by_side_changed = QtCore.Signal(bool)
    run_finished = QtCore.Signal(object)
    """The SeriesPrediction of a completed run, or None when it was cancelled or failed."""
    explanation_changed = QtCore.Signal(object)
    """The Explanation now shown for the current slice (also a partial one), or None."""
    message_changed = QtCore.Signal(str)
    results_dropped = QtCore.Signal()
    """The results on screen were dropped (another model chosen): suggestions go with them."""

    def __init__(self, session, registry=None, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self._generation = 0
        self._current = 0
        self._volume = None
        self._log = status.MessageLog()
        self.models = ModelChoice(self, registry)
        loader = ModelLoader(lambda: self.registry, lambda: self._registry_error)
        self.runs = RunController(self, loader)
        self.explainer = ExplainController(self, loader)
        self.views = ModelViews(self, loader)
        self._build()
        self.reload_models()
        self._update_enabled()

    # -- construction -------------------------------------------------------------------------
    def _build(self) -> None:
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.setSpacing(4)
        self.notice = QtWidgets.QLabel(f"⚠ {RESEARCH_NOTICE}")
        self.notice.setObjectName("aiResearchNotice")
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet(
            "QLabel { color: #ffb74d; font-weight: bold; border: 1px solid #ffb74d;"
            " border-radius: 3px; padding: 3px; }"
        )
        self.notice.setToolTip(RESEARCH_TIP)
        outer.addWidget(self.notice)

        self.scroll = scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        body = QtWidgets.QWidget()
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)
        col = QtWidgets.QVBoxLayout(body)
        col.setContentsMargins(0, 0, 0, 0)
        self.model_group = ModelBox()
        self.results_box = ResultsBox()
        self.explain_box = ExplainBox()
        for box in (self.model_group, self.results_box, self.explain_box):
            col.addWidget(box)
        col.addStretch(1)
        self.setMinimumWidth(280)
        self._connect()

    def _connect(self) -> None:
        m, e = self.model_group, self.explain_box
        m.model_box.activated.connect(self.models.picked)
        m.model_box.currentIndexChanged.connect(self._model_changed)
        m.device_box.currentIndexChanged.connect(self._model_changed)
        m.run_button.clicked.connect(self.run)
        m.cancel_button.clicked.connect(self.cancel)
        m.card_button.clicked.connect(self.show_model_card)
        self.plot.clicked_at.connect(self.plot_clicked_at)
        e.method_box.currentIndexChanged.connect(self._explain_settings_changed)
        e.target_box.currentIndexChanged.connect(self._explain_settings_changed)
        e.heatmap_check.toggled.connect(self.explainer.heatmap_toggled)
        e.heatmap_check.toggled.connect(self._show_legend)
        e.side_check.toggled.connect(self.side_by_side_changed)
        e.cmap_box.currentIndexChanged.connect(self.explainer.colour_changed)
        e.opacity_slider.valueChanged.connect(self.explainer.opacity_changed)
        e.threshold_slider.valueChanged.connect(self.explainer.colour_changed)
        e.input_button.clicked.connect(self.show_model_input)
        self.run_finished.connect(self._show_results)

    # -- model choice -------------------------------------------------------------------------
    def reload_models(self) -> None:
        """List the registry's models; preselect the active one for the current modality."""
        self.models.reload()

    def _modality(self) -> str | None:
        volume = self.session.volume
        return volume.modality if volume is not None else None

    def _model_changed(self, *_args) -> None:
        """Refill the class and method lists from the chosen model's card (no loading)."""
        entry = self.current_entry
        box = self.explain_box
        box.set_targets(target_choices(entry), box.target)
        box.set_method_availability(entry.manifest if entry is not None else None)
        self._drop_other_models_results()
        self._update_enabled()
        self.explainer.request()

    def _drop_other_models_results(self) -> None:
        """Results (plot, series and slice lines, suggestions, heat maps) belong to the model
        that made them: choosing another model drops them rather than show one model's
        scores beside another's maps. A change of device keeps them."""
        results = self.runs.results
        if results.run_info is None or self.runs.running:
            return
        entry = self.current_entry
        if entry is not None and (entry.name, entry.version) == tuple(results.run_info[:2]):
            return
        made_by = results.model_text()
        self.runs.reset(results.n_slices)
        self.explainer.clear()
        self.explainer.set_shown(None)
        chosen = f"{entry.name} {entry.version}" if entry is not None else "another model"
        self.series_label.setText(
            f"The results of {made_by} were put away: {chosen} is chosen now. "
            "Run it (Ctrl+R) for its own results."
        )
        self.model_group.set_progress(status.progress_idle())
        self.runs.update_slice_label()
        self.results_dropped.emit()

    def _show_legend(self, on: bool) -> None:
        """A map on the image: scroll the dock to its colour bar and title (never a map
        without its legend in view)."""
        if on:
            QtCore.QTimer.singleShot(
                0, lambda: self.scroll.ensureWidgetVisible(self.explain_box.colorbar, 0, 40)
            )

    def _show_results(self, result) -> None:
        """A run ended with a result: scroll the dock so its results are in view."""
        if result is not None:
            QtCore.QTimer.singleShot(0, self._scroll_to_results)

    def _scroll_to_results(self) -> None:
        """The results box's top at the top of the dock (its plot may just have appeared)."""
        self.scroll.widget().layout().activate()
        self.scroll.verticalScrollBar().setValue(self.results_box.y())

    def _explain_settings_changed(self, *_args) -> None:
        self.explainer.request()

    # -- messages -----------------------------------------------------------------------------
    def _message(self, text: str) -> None:
        text = self._log.add(text)
        if text is not None:
            self.model_group.set_messages(self._log.text())
            self.message_changed.emit(text)

    def _clear_messages(self) -> None:
        self._log.clear()
        self.model_group.set_messages("")

    def messages(self) -> list[str]:
        """What the panel's message line says now (warnings, notices, errors)."""
        return list(self._log.messages)

    def _model_loaded(self, loaded: Loaded) -> None:
        for notice in loaded.notices:
            self._message(notice)

    # -- volume and slice ---------------------------------------------------------------------
    def set_volume_changed(self) -> None:
        """A new volume is current: drop every result and job of the previous one."""
        self.cancel()
        self.explainer.cancel()
        self.explainer.pending = None
        self._generation += 1
        self._volume = volume = self.session.volume
        n = 0 if volume is None else int(volume.array.shape[0])
        self._current = int(min(max(self.session.slice_index, 0), max(n - 1, 0)))
        self.runs.reset(n)
        self.explainer.clear()
        self._clear_messages()
        self.explainer.set_shown(None)
        self.series_label.setText(NOT_RUN if volume is not None else NO_SERIES)
        self.model_group.set_progress(status.progress_idle())
        self.plot.set_slice_count(n)
        self.plot.set_current(self._current)
        self.models.select_active()
        self._model_changed()
        self.runs.update_slice_label()

    def set_current_slice(self, index: int) -> None:
        """The primary plane now shows slice ``index``: move the marker, update the labels
        and, with the heat map on, show (or compute) this slice's explanation."""
        index = int(index)
        if index == self._current and self.explainer.shown is not None:
            return
        self._current = index
        self.plot.set_current(index)
        self.runs.update_slice_label()
        self.explainer.request()

    @property
    def current_slice(self) -> int:
        return self._current

    def _volume_ready(self) -> str | None:
        volume = self.session.volume
        if volume is None:
            return status.NO_STUDY
        if volume is not self._volume:
            self.set_volume_changed()
        return status.loading_problem(volume)

    def _update_enabled(self) -> None:
        controls = status.controls(self.current_entry is not None, self.runs.running)
        self.model_group.set_controls(controls, self.input_button)

    def plot_clicked_at(self, x: float) -> None:
        """The user pointed at ``x`` on the plot (data coordinates: image number, 1-based like
        the viewer's "Im k/n"): ask for that slice (``slice_requested`` carries the index)."""
        n = self.runs.results.n_slices or self.session.n_slices
        index = slice_at(x, n)
        if index is not None:
            self.slice_requested.emit(index)

    # -- jobs ---------------------------------------------------------------------------------
    def run(self) -> bool:
        """Classify every slice of the current series in the background (current slice first).

        Returns False (with a message) when there is nothing to run or no model."""
        return self.runs.run()

    def cancel(self) -> None:
        """Stop the running classification; results so far stay on screen."""
        self.runs.cancel()

    def cancel_all(self) -> None:
        """Stop every background job (closing the window)."""
        self.cancel()
        self.explainer.cancel()
        self.explainer.pending = None

    def model_card_text(self) -> str | None:
        """The chosen model's MODEL_CARD.md (Markdown), or None when it has none."""
        from medviewer.session.ai_model_view import read_card

        return read_card(self.current_entry)

    def show_model_card(self) -> None:
        """Show the chosen model's card (read-only, from its package)."""
        self.views.show_card()

    def show_model_input(self) -> None:
        """Open a window with the exact tensor the model gets for the current slice."""
        self.views.show_input()

    # -- results and heat map ---------------------------------------------------------------
    def probabilities(self) -> np.ndarray:
        """(slices, classes) probabilities of the last run; NaN where not classified yet."""
        return self.runs.results.probs.copy()

    def changed_slices(self) -> list[int]:
        """The slices marked by the last :meth:`compare_predictions` (0-based)."""
        return list(self.runs.results.changed)

    @property
    def heatmap_on(self) -> bool:
        return self.heatmap_check.isChecked()

    def set_heatmap(self, on: bool) -> None:
        self.heatmap_check.setChecked(bool(on))

    def toggle_heatmap(self) -> None:
        self.heatmap_check.toggle()

    @property
    def side_by_side(self) -> bool:
        return self.side_check.isChecked()


__all__ = ["AIPanel", "RESEARCH_NOTICE"]
