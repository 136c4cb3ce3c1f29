"""The "AI" dock: run the classifier on the series, read its results, explain them with heat maps.

Nothing heavy runs on the GUI thread: loading a model, classifying, explaining and preparing
the model-input preview are jobs on worker threads (:func:`medviewer.qt.workers.start_job`).
torch is never imported here; the AI engine is imported inside functions, and listing models
reads their manifests (JSON) only.

Wiring (see MainWindow): call :meth:`AIPanel.set_volume_changed` when a new volume becomes
current and :meth:`AIPanel.set_current_slice` on every slice change of the primary plane;
connect ``slice_requested(int)`` to the primary plane, ``overlay_changed(object)`` (an RGBA
array aligned with the primary plane's current slice, or None) to its overlay layer with
:attr:`AIPanel.opacity`, and ``side_by_side_changed(bool)`` to the layout.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.errors import Cancelled, MedviewerError, ModelError
from medviewer.jobs import CancelToken, Progress
from medviewer.qt.heatmap import COLORMAPS, ColorBar, HeatmapCache
from medviewer.qt.workers import start_job
from medviewer.session import mpr

log = logging.getLogger(__name__)
WARM_UP_DELAY_MS = 1500
"""After a series is shown, wait this long before importing torch in the background."""

RESEARCH_NOTICE = "Research use only — not for diagnosis"
DEVICES = ("auto", "cpu", "cuda", "mps")
DEVICE_TIPS = {
    "auto": "The GPU when there is one (CUDA, then Apple MPS), otherwise the CPU",
    "cpu": "Always the CPU",
    "cuda": "An NVIDIA GPU (falls back to the CPU with a notice when there is none)",
    "mps": "Apple silicon GPU (falls back to the CPU with a notice when there is none)",
}
DEFAULT_OPACITY = 40
DEFAULT_THRESHOLD = 20
CLASS_COLOURS = (
    (255, 170, 60),
    (80, 200, 255),
    (120, 230, 120),
    (240, 100, 160),
    (200, 160, 255),
    (255, 235, 90),
    (150, 150, 150),
    (255, 120, 90),
)
MARKER_PEN = pg.mkPen((255, 255, 255, 180), width=1, style=QtCore.Qt.PenStyle.DashLine)


@dataclass(frozen=True)
class _Loaded:
    """A model loaded on a worker, with what the registry said while loading it."""

    key: tuple[str, str]
    model: object
    notices: tuple[str, ...]


@dataclass(frozen=True)
class _Warnings:
    messages: tuple[str, ...]


@dataclass(frozen=True)
class _ExplainRequest:
    generation: int
    ref: str
    device: str
    index: int
    method: str
    target: str | None
    key: tuple
    volume: object = field(compare=False)


@dataclass(frozen=True)
class _Failure:
    message: str
    cancelled: bool = False


def _guarded(job):
    """Run ``job``; any exception comes back as a :class:`_Failure` value instead of being
    raised, so it reaches the panel's message line (superqt would re-raise it on the GUI
    thread, and swallows RuntimeError, which torch raises, as an "aborted thread")."""
    try:
        return (yield from job)
    except GeneratorExit:
        raise
    except Cancelled as exc:
        return _Failure(str(exc), cancelled=True)
    except MedviewerError as exc:
        return _Failure(str(exc))
    except Exception as exc:
        log.debug("AI job failed", exc_info=exc)
        first = (str(exc).strip().splitlines() or [""])[0]
        return _Failure(f"{type(exc).__name__}: {first}")


def _start(job, on_progress, on_done, on_error):
    """:func:`start_job` for AI jobs: failures go to ``on_error`` with a one-line message,
    a cancelled job reports nothing."""

    def done(result):
        if isinstance(result, _Failure):
            if not result.cancelled:
                on_error(result.message)
        else:
            on_done(result)

    return start_job(_guarded(job), on_progress=on_progress, on_done=done, on_error=on_error)


def _fmt_probs(probabilities: dict, limit: int = 4) -> str:
    items = sorted(probabilities.items(), key=lambda kv: -float(kv[1]))
    text = " · ".join(f"{name} {float(p):.2f}" for name, p in items[:limit])
    if len(items) > limit:
        text += f" · +{len(items) - limit} more"
    return text


def _combo_value(combo: QtWidgets.QComboBox):
    return combo.currentData(QtCore.Qt.ItemDataRole.UserRole)


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

    def __init__(self, session, registry=None, parent=None) -> None:
        super().__init__(parent)
        from medviewer.ai.explain import ExplanationCache

        self.session = session
        self._registry = registry
        self._registry_error: str | None = None
        self._generation = 0
        self._current = 0
        self._volume = None
        self._messages: list[str] = []
        # classification
        self._run_worker = None
        self._run_cancel: CancelToken | None = None
        self._run_info: tuple[str, str, str] | None = None  # name, version, device
        self._classes: tuple[str, ...] = ()
        self._probs = np.zeros((0, 0), dtype=np.float64)
        self._predictions: dict[int, object] = {}
        self._series_result = None
        self._run_warnings: set[str] = set()  # the input warnings this run has shown
        # models (loaded on workers; the dict is replaced, never mutated, so reads are safe)
        self._models: dict[tuple[str, str], _Loaded] = {}
        self._model_lock = threading.Lock()
        # explanations
        self._explanations = ExplanationCache()
        self._heat = HeatmapCache()
        self._explain_worker = None
        self._explain_cancel: CancelToken | None = None
        self._explain_running: _ExplainRequest | None = None
        self._explain_pending: _ExplainRequest | None = None
        self._shown = None  # (Explanation, request key)
        self._overlay: np.ndarray | None = None
        self._plane_cache: tuple[int, np.ndarray, np.ndarray] | None = None
        self._input_worker = None
        self.input_window: ModelInputWindow | None = None
        self.card_window: QtWidgets.QDialog | None = None

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
        self.notice.setToolTip(
            "The classifier and its heat maps are research tools. They are not a medical "
            "device and must not be used to make or support a diagnosis."
        )
        outer.addWidget(self.notice)

        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        body = QtWidgets.QWidget()
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)
        col = QtWidgets.QVBoxLayout(body)
        col.setContentsMargins(0, 0, 0, 0)

        # model and run
        box = QtWidgets.QGroupBox("Model")
        form = QtWidgets.QFormLayout(box)
        self.model_box = QtWidgets.QComboBox()
        self.model_box.setSizeAdjustPolicy(
            QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model_box.setMinimumContentsLength(12)
        self.model_box.activated.connect(self._model_picked)
        self.model_box.currentIndexChanged.connect(self._model_changed)
        self.device_box = QtWidgets.QComboBox()
        for i, device in enumerate(DEVICES):
            self.device_box.addItem(device, device)
            self.device_box.setItemData(i, DEVICE_TIPS[device], QtCore.Qt.ItemDataRole.ToolTipRole)
        self.device_box.currentIndexChanged.connect(self._model_changed)
        form.addRow("Model", self.model_box)
        form.addRow("Device", self.device_box)
        buttons = QtWidgets.QHBoxLayout()
        self.run_button = QtWidgets.QPushButton("Run")
        self.run_button.setToolTip("Classify every slice of the series (current slice first)")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.card_button = QtWidgets.QPushButton("Model card…")
        self.card_button.setToolTip(
            "What the model is for, how it was trained and tested, its limits and licence"
        )
        self.card_button.clicked.connect(self.show_model_card)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.card_button)
        form.addRow(buttons)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        form.addRow(self.progress)
        self.message_label = QtWidgets.QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setObjectName("aiMessages")
        self.message_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.message_label.setVisible(False)
        form.addRow(self.message_label)
        col.addWidget(box)

        # results
        box = QtWidgets.QGroupBox("Results")
        v = QtWidgets.QVBoxLayout(box)
        self.series_label = QtWidgets.QLabel("Not run yet")
        self.series_label.setWordWrap(True)
        self.slice_label = QtWidgets.QLabel("")
        self.slice_label.setWordWrap(True)
        v.addWidget(self.series_label)
        v.addWidget(self.slice_label)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(140)
        self.plot.setMaximumHeight(220)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "slice (image number, as in the viewer)")
        item.setLabel("left", "probability")
        item.showGrid(x=False, y=True, alpha=0.2)
        item.setYRange(0.0, 1.0, padding=0.02)
        item.disableAutoRange()
        self.legend = item.addLegend(offset=(-4, 4), labelTextSize="8pt")
        self.marker = pg.InfiniteLine(pos=0, angle=90, movable=True, pen=MARKER_PEN)
        self.marker.setToolTip("The current slice (drag or click the plot to move)")
        self.marker.sigDragged.connect(lambda line: self.plot_clicked_at(line.value()))
        item.addItem(self.marker, ignoreBounds=True)
        self.plot.scene().sigMouseClicked.connect(self._plot_mouse_clicked)
        self.plot.setToolTip("Probability of each class per slice; click to go to a slice")
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.change_marks = pg.ScatterPlotItem(
            size=9, symbol="t", brush=pg.mkBrush(255, 90, 90), pen=pg.mkPen(None)
        )
        self.change_marks.setToolTip("Slices whose top class changed with the new model")
        item.addItem(self.change_marks, ignoreBounds=True)
        v.addWidget(self.plot)
        col.addWidget(box)

        # explanations
        from medviewer.ai.explain import FAITHFULNESS_HELP, METHOD_LABELS, METHODS

        self._method_labels = METHOD_LABELS
        box = QtWidgets.QGroupBox("Explain")
        form = QtWidgets.QFormLayout(box)
        self.method_box = QtWidgets.QComboBox()
        for method in METHODS:
            self.method_box.addItem(METHOD_LABELS.get(method, method), method)
        self.method_box.currentIndexChanged.connect(self._explain_settings_changed)
        self.target_box = QtWidgets.QComboBox()
        self.target_box.addItem("Predicted class", None)
        self.target_box.currentIndexChanged.connect(self._explain_settings_changed)
        form.addRow("Method", self.method_box)
        form.addRow("Class", self.target_box)
        self.heatmap_check = QtWidgets.QCheckBox("Heat map on the image")
        self.heatmap_check.setToolTip("Show where the model looked for this class (H)")
        self.heatmap_check.toggled.connect(self._heatmap_toggled)
        form.addRow(self.heatmap_check)
        self.side_check = QtWidgets.QCheckBox("Side by side")
        self.side_check.setToolTip("The plain image next to the image with its heat map")
        self.side_check.toggled.connect(self.side_by_side_changed)
        form.addRow(self.side_check)
        self.cmap_box = QtWidgets.QComboBox()
        for name in COLORMAPS:
            self.cmap_box.addItem(name, name)
        self.cmap_box.currentIndexChanged.connect(self._colour_changed)
        form.addRow("Colours", self.cmap_box)
        self.opacity_slider = self._slider(0, 100, DEFAULT_OPACITY, self._opacity_changed)
        self.opacity_value = QtWidgets.QLabel(f"{DEFAULT_OPACITY}%")
        form.addRow("Opacity", self._with_value(self.opacity_slider, self.opacity_value))
        self.threshold_slider = self._slider(0, 95, DEFAULT_THRESHOLD, self._colour_changed)
        self.threshold_slider.setToolTip("Hide the map below this fraction of its maximum")
        self.threshold_value = QtWidgets.QLabel(f"{DEFAULT_THRESHOLD / 100:.2f}")
        form.addRow("Threshold", self._with_value(self.threshold_slider, self.threshold_value))
        row = QtWidgets.QHBoxLayout()
        self.colorbar = ColorBar(self.cmap)
        self.colorbar.set_threshold(self.threshold)
        row.addWidget(self.colorbar)
        info = QtWidgets.QVBoxLayout()
        self.explanation_label = QtWidgets.QLabel("")
        self.explanation_label.setWordWrap(True)
        self.faithfulness_label = QtWidgets.QLabel("")
        self.faithfulness_label.setWordWrap(True)
        self.faithfulness_label.setToolTip(FAITHFULNESS_HELP)
        self.note_label = QtWidgets.QLabel(
            "Heat maps are normalised per image: colours compare regions within one slice, "
            "not across slices or models."
        )
        self.note_label.setWordWrap(True)
        self.note_label.setStyleSheet("color: #9e9e9e;")
        for w in (self.explanation_label, self.faithfulness_label, self.note_label):
            info.addWidget(w)
        info.addStretch(1)
        row.addLayout(info, 1)
        form.addRow(row)
        self.input_button = QtWidgets.QPushButton("Model input…")
        self.input_button.setToolTip(
            "Show exactly what the model sees for this slice: each input channel after "
            "windowing and resizing"
        )
        self.input_button.clicked.connect(self.show_model_input)
        form.addRow(self.input_button)
        col.addWidget(box)
        col.addStretch(1)
        self.setMinimumWidth(280)

    @staticmethod
    def _slider(lo, hi, value, slot) -> QtWidgets.QSlider:
        s = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        s.setRange(lo, hi)
        s.setValue(value)
        s.valueChanged.connect(slot)
        return s

    @staticmethod
    def _with_value(slider, label) -> QtWidgets.QWidget:
        w = QtWidgets.QWidget()
        h = QtWidgets.QHBoxLayout(w)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(slider, 1)
        label.setMinimumWidth(36)
        h.addWidget(label)
        return w

    # -- registry and model choice ----------------------------------------------------------
    @property
    def registry(self):
        if self._registry is None and self._registry_error is None:
            try:
                from medviewer.ai.registry import ModelRegistry

                self._registry = ModelRegistry()
            except Exception as exc:  # a broken models folder must not break the window
                self._registry_error = str(exc)
        return self._registry

    def reload_models(self) -> None:
        """List the registry's models; preselect the active one for the current modality."""
        registry = self.registry
        entries = []
        if registry is not None:
            try:
                entries = list(registry.entries())
            except Exception as exc:
                self._message(f"Could not list models: {exc}")
            problems = getattr(registry, "problems", None)
            for problem in problems() if callable(problems) else ():
                self._message(problem)
        elif self._registry_error:
            self._message(f"Models unavailable: {self._registry_error}")
        self._entries = {e.ref: e for e in entries}
        self.model_box.blockSignals(True)
        self.model_box.clear()
        for e in entries:
            text = f"{e.name} {e.version}" + (" (bundled)" if e.bundled else "")
            self.model_box.addItem(text, e.ref)
            mods = ", ".join(e.manifest.modalities) or "any modality"
            tip = f"{e.ref} — {e.manifest.architecture}, classes: " + ", ".join(e.manifest.classes)
            self.model_box.setItemData(
                self.model_box.count() - 1, f"{tip}; for {mods}", QtCore.Qt.ItemDataRole.ToolTipRole
            )
        self.model_box.blockSignals(False)
        if not entries:
            self._message(
                "No model installed. Put a model package (manifest.json + weights) in the "
                "user models folder, then reopen the study."
            )
        self._select_active()
        self._model_changed()

    def _modality(self) -> str | None:
        volume = self.session.volume
        return volume.modality if volume is not None else None

    def _select_active(self) -> None:
        registry, modality = self.registry, self._modality()
        ref = None
        if registry is not None and modality:
            try:
                entry = registry.active(modality)
                ref = entry.ref if entry is not None else None
            except Exception as exc:
                self._message(f"No active model: {exc}")
        i = self.model_box.findData(ref) if ref else -1
        if i >= 0:
            self.model_box.blockSignals(True)
            self.model_box.setCurrentIndex(i)
            self.model_box.blockSignals(False)

    def _model_picked(self, _index: int) -> None:
        """The user chose a model: make it the active one for this modality."""
        ref, modality = self.current_ref, self._modality()
        if ref and modality and self.registry is not None:
            try:
                self.registry.set_active(modality, ref)
            except Exception as exc:
                self._message(f"{ref} not remembered as the {modality} model: {exc}")

    @property
    def current_ref(self) -> str | None:
        return _combo_value(self.model_box)

    @property
    def current_entry(self):
        return self._entries.get(self.current_ref)

    @property
    def device(self) -> str:
        return _combo_value(self.device_box) or "auto"

    def _model_changed(self, *_args) -> None:
        """Refill the class and method lists from the chosen model's card (no loading)."""
        from medviewer.ai.explain import available_methods

        entry = self.current_entry
        self.target_box.blockSignals(True)
        previous = _combo_value(self.target_box)
        self.target_box.clear()
        self.target_box.addItem("Predicted class", None)
        if entry is not None:
            for name in entry.manifest.classes:
                self.target_box.addItem(name, name)
        i = self.target_box.findData(previous) if previous else 0
        self.target_box.setCurrentIndex(max(i, 0))
        self.target_box.blockSignals(False)
        reasons = (
            available_methods(types.SimpleNamespace(manifest=entry.manifest))
            if entry is not None
            else {}
        )
        self._apply_method_availability(reasons)
        self._update_enabled()
        self._request_explanation()

    def _apply_method_availability(self, reasons: dict) -> None:
        model = self.method_box.model()
        self.method_box.blockSignals(True)
        for i in range(self.method_box.count()):
            method = self.method_box.itemData(i)
            reason = reasons.get(method)
            item = model.item(i)
            item.setEnabled(reason is None)
            self.method_box.setItemData(i, reason or None, QtCore.Qt.ItemDataRole.ToolTipRole)
        if not model.item(self.method_box.currentIndex()).isEnabled():
            for i in range(self.method_box.count()):
                if model.item(i).isEnabled():
                    self.method_box.setCurrentIndex(i)
                    break
        self.method_box.blockSignals(False)

    def method_enabled(self, method: str) -> bool:
        i = self.method_box.findData(method)
        return i >= 0 and self.method_box.model().item(i).isEnabled()

    def method_tooltip(self, method: str) -> str:
        i = self.method_box.findData(method)
        return self.method_box.itemData(i, QtCore.Qt.ItemDataRole.ToolTipRole) or ""

    # -- messages -----------------------------------------------------------------------------
    def _message(self, text: str) -> None:
        text = str(text).strip()
        if not text or text in self._messages:
            return
        self._messages.append(text)
        self._messages = self._messages[-6:]
        self.message_label.setText("\n".join(f"• {m}" for m in self._messages))
        self.message_label.setVisible(True)
        self.message_changed.emit(text)

    def _clear_messages(self) -> None:
        self._messages = []
        self.message_label.clear()
        self.message_label.setVisible(False)

    def messages(self) -> list[str]:
        """What the panel's message line says now (warnings, notices, errors)."""
        return list(self._messages)

    # -- volume and slice ---------------------------------------------------------------------
    def set_volume_changed(self) -> None:
        """A new volume is current: drop every result and job of the previous one."""
        self.cancel()
        self._cancel_explanation()
        self._explain_pending = None
        self._generation += 1
        self._volume = volume = self.session.volume
        n = 0 if volume is None else int(volume.array.shape[0])
        self._current = int(min(max(self.session.slice_index, 0), max(n - 1, 0)))
        self._predictions = {}
        self._series_result = None
        self._run_info = None
        self._probs = np.full((n, 0), np.nan)
        self._clear_curves()
        self.change_marks.setData([], [])
        self._explanations.clear()
        self._heat.clear()
        self._plane_cache = None
        self._clear_messages()
        self._set_shown(None)
        self.series_label.setText("Not run yet" if volume is not None else "No series open")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.plot.getPlotItem().setXRange(1, max(n, 2), padding=0.02)
        self.marker.setValue(self._current + 1)
        self._select_active()
        self._model_changed()
        self._update_slice_label()

    def set_current_slice(self, index: int) -> None:
        """The primary plane now shows slice ``index``: move the marker, update the labels
        and, with the heat map on, show (or compute) this slice's explanation."""
        index = int(index)
        if index == self._current and self._shown is not None:
            return
        self._current = index
        self.marker.setValue(index + 1)
        self._update_slice_label()
        self._request_explanation()

    @property
    def current_slice(self) -> int:
        return self._current

    def _volume_ready(self) -> str | None:
        volume = self.session.volume
        if volume is None:
            return "Open a study first"
        if volume is not self._volume:
            self.set_volume_changed()
        loaded = getattr(volume, "loaded", None)
        if loaded is not None and not bool(np.all(loaded)):
            return "The series is still loading; try again when it has loaded"
        return None

    def _update_enabled(self) -> None:
        running = self._run_worker is not None
        has_model = self.current_entry is not None
        self.run_button.setEnabled(has_model and not running)
        self.cancel_button.setEnabled(running)
        self.model_box.setEnabled(not running)
        self.device_box.setEnabled(not running)
        self.input_button.setEnabled(has_model)

    # -- classification -----------------------------------------------------------------------
    def run(self) -> bool:
        """Classify every slice of the current series in the background (current slice first).

        Returns False (with a message) when there is nothing to run or no model."""
        if self._run_worker is not None:
            return False
        problem = self._volume_ready()
        ref = self.current_ref
        if problem is None and ref is None:
            problem = "No model to run: install a model package first"
        if problem:
            self._message(problem)
            return False
        self._clear_messages()
        volume, device = self.session.volume, self.device
        n = int(volume.array.shape[0])
        cancel = CancelToken()
        first = self._current
        self._predictions = {}
        self._series_result = None
        self._probs = np.full((n, 0), np.nan)
        self._run_warnings = set()
        self._clear_curves()
        self.change_marks.setData([], [])
        self.series_label.setText(f"Running {ref} on {n} slices…")
        self.progress.setRange(0, 0)
        current: dict = {}

        def guard(callback):
            def call(value):
                if self._run_worker is not None and self._run_worker is current.get("worker"):
                    callback(value)

            return call

        job = self._run_job(ref, device, volume, first, cancel)
        worker = _start(
            job,
            on_progress=guard(self._run_progress),
            on_done=guard(self._run_done),
            on_error=guard(self._run_failed),
        )
        current["worker"] = self._run_worker = worker
        self._run_cancel = cancel
        self._update_enabled()
        return True

    def _model_steps(self, ref: str, device: str):
        """Job part (worker thread): the loaded model for (ref, device), loading it if needed."""
        key = (ref, device)
        hit = self._models.get(key)
        if hit is None:
            yield Progress(0, None, f"loading {ref}…")
            with self._model_lock:
                hit = self._models.get(key)
                if hit is None:
                    registry = self.registry
                    if registry is None:
                        raise ModelError(self._registry_error or "no model registry")
                    model = registry.load(ref, device=device)
                    notices = tuple(getattr(registry, "last_notices", None) or ())
                    hit = _Loaded(key, model, notices)
                    self._models = {key: hit}  # one model in memory at a time
        yield Progress(0, None, f"{ref} ready", detail=hit)
        return hit

    def _run_job(self, ref, device, volume, first, cancel):
        from medviewer.ai.classifier import check_input, predict_iter

        loaded = yield from self._model_steps(ref, device)
        warnings = tuple(check_input(loaded.model, volume) or ())
        if warnings:
            yield Progress(0, None, "checked the input", detail=_Warnings(warnings))
        return (yield from predict_iter(loaded.model, volume, first=first, cancel=cancel))

    def _run_progress(self, step: Progress) -> None:
        detail = step.detail
        if isinstance(detail, _Loaded):
            self._model_loaded(detail)
        elif isinstance(detail, _Warnings):
            for text in detail.messages:
                self._run_warning(text)
        elif isinstance(detail, (list, tuple)):
            self._add_predictions(detail)
        if step.total:
            self.progress.setRange(0, int(step.total))
            self.progress.setValue(int(step.done))
        if step.message:
            self.progress.setFormat(f"%v/%m  {step.message}" if step.total else step.message)

    def _run_warning(self, text: str) -> None:
        """Show a warning of this run once: check_input's warnings come before the slices are
        classified and again in the result, and the message line keeps only the last few."""
        text = str(text).strip()
        if text not in self._run_warnings:
            self._run_warnings.add(text)
            self._message(text)

    def _model_loaded(self, loaded: _Loaded) -> None:
        for notice in loaded.notices:
            self._message(notice)

    def _add_predictions(self, predictions) -> None:
        if not predictions:
            return
        first = predictions[0]
        classes = tuple(first.probabilities)
        if classes != self._classes or self._probs.shape[1] != len(classes):
            self._classes = classes
            n = self._probs.shape[0]
            self._probs = np.full((n, len(classes)), np.nan)
            self._make_curves(classes)
        if self._run_info is None:
            self._run_info = (first.model, first.version, first.device)
        for p in predictions:
            k = int(p.index)
            if 0 <= k < self._probs.shape[0]:
                self._predictions[k] = p
                self._probs[k] = [float(p.probabilities.get(c, np.nan)) for c in classes]
        self._update_curves()
        self._update_slice_label()

    def _run_done(self, result) -> None:
        self._run_worker = None
        self._run_cancel = None
        if result is not None:
            slices = result.slices
            items = list(slices.values()) if isinstance(slices, dict) else list(slices)
            missing = [p for p in items if int(p.index) not in self._predictions]
            if missing or not self._predictions:
                self._add_predictions(items)
            self._series_result = result
            self._run_info = (result.model, result.version, result.device)
            for text in getattr(result, "warnings", None) or ():
                self._run_warning(text)  # the input warnings again, and the run's own
            n = len(self._predictions)
            self.series_label.setText(
                f"<b>{self._model_text()}</b><br>Series ({self._method_text(result.method, n)}): "
                f"{_fmt_probs(result.probabilities)}"
            )
            self.progress.setRange(0, max(n, 1))
            self.progress.setValue(n)
            self.progress.setFormat(f"{n} slices classified")
            self.series_label.setToolTip(
                "max: per class, the highest probability any slice gave it (the values need "
                "not sum to 1); mean: per class, the mean over the slices"
            )
        self._update_enabled()
        self._update_slice_label()
        self.run_finished.emit(result)

    def _method_text(self, method: str, n: int) -> str:
        method = str(method or "")
        if method in ("max", "mean"):
            return f"{method} over {n} slices"
        return method or f"{n} slices"

    def _run_failed(self, message: str) -> None:
        self._run_worker = None
        self._run_cancel = None
        self._message(message)
        self.series_label.setText("The run failed (see the message above)")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("failed")
        self._update_enabled()
        self.run_finished.emit(None)

    def cancel(self) -> None:
        """Stop the running classification; results so far stay on screen."""
        worker, cancel = self._run_worker, self._run_cancel
        if worker is None:
            return
        self._run_worker = None
        self._run_cancel = None
        if cancel is not None:
            cancel.cancel()
        worker.quit()
        n = self._probs.shape[0]
        done = len(self._predictions)
        self.series_label.setText(f"Cancelled after {done} of {n} slices")
        self.progress.setRange(0, max(n, 1))
        self.progress.setValue(done)
        self.progress.setFormat("cancelled")
        self._update_enabled()
        self.run_finished.emit(None)

    @property
    def running(self) -> bool:
        return self._run_worker is not None

    def cancel_all(self) -> None:
        """Stop every background job (closing the window)."""
        self.cancel()
        self._cancel_explanation()
        self._explain_pending = None

    # -- results on screen ----------------------------------------------------------------------
    def probabilities(self) -> np.ndarray:
        """(slices, classes) probabilities of the last run; NaN where not classified yet."""
        return self._probs.copy()

    @property
    def classes(self) -> tuple[str, ...]:
        return self._classes

    @property
    def series_result(self):
        return self._series_result

    def prediction(self, index: int):
        return self._predictions.get(int(index))

    def top_classes(self) -> dict[int, str]:
        """Slice index -> top class of the last run (the slices classified so far)."""
        out = {}
        for k, p in self._predictions.items():
            top = p.top if isinstance(p.top, str) else self._classes[int(p.top)]
            out[int(k)] = str(top)
        return out

    def compare_predictions(self, previous: dict[int, str], before: str | None = None) -> list:
        """Mark on the plot the slices whose top class differs from ``previous`` (an earlier
        run's :meth:`top_classes`) and say how many; returns their indices, sorted."""
        now = self.top_classes()
        changed = sorted(k for k, top in now.items() if k in previous and previous[k] != top)
        self.change_marks.setData([k + 1 for k in changed], [1.0] * len(changed))
        if previous:
            what = before or "the previous run"
            self._message(
                f"Top class changed from {what} on {len(changed)} of {len(now)} slices"
                + (" (red marks on the plot)" if changed else "")
            )
        return changed

    def changed_slices(self) -> list[int]:
        """The slices marked by the last :meth:`compare_predictions` (0-based)."""
        x, _y = self.change_marks.getData()
        return [int(round(v)) - 1 for v in (x if x is not None else [])]

    def _model_text(self) -> str:
        if self._run_info is None:
            return ""
        name, version, device = self._run_info
        return f"{name} {version} ({device})"

    def _update_slice_label(self) -> None:
        p = self._predictions.get(self._current)
        if p is None:
            self.slice_label.setText(
                f"Slice {self._current + 1}: not classified yet" if self._predictions else ""
            )
            return
        top = p.top if isinstance(p.top, str) else self._classes[int(p.top)]
        prob = float(p.probabilities.get(top, np.nan))
        self.slice_label.setText(
            f"Slice {self._current + 1}: <b>{top}</b> {prob:.2f} "
            f"<span style='color:#9e9e9e'>({_fmt_probs(p.probabilities)}) — "
            f"{p.model} {p.version}</span>"
        )

    def _clear_curves(self) -> None:
        for curve in self.curves.values():
            self.plot.removeItem(curve)
        self.curves = {}
        self.legend.clear()
        self._classes = ()

    def _make_curves(self, classes) -> None:
        self._clear_curves()
        self._classes = tuple(classes)
        for i, name in enumerate(classes):
            colour = CLASS_COLOURS[i % len(CLASS_COLOURS)]
            curve = self.plot.plot(
                [], [], pen=pg.mkPen(colour, width=2), name=name, connect="finite"
            )
            self.curves[name] = curve

    def _update_curves(self) -> None:
        x = np.arange(1, self._probs.shape[0] + 1, dtype=np.float64)  # image numbers
        for c, name in enumerate(self._classes):
            self.curves[name].setData(x, self._probs[:, c], connect="finite")

    def _plot_mouse_clicked(self, event) -> None:
        if event.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        vb = self.plot.getPlotItem().vb
        pos = event.scenePos()
        if vb.sceneBoundingRect().contains(pos):
            self.plot_clicked_at(vb.mapSceneToView(pos).x())

    def plot_clicked_at(self, x: float) -> None:
        """The user pointed at ``x`` on the plot (data coordinates: image number, 1-based like
        the viewer's "Im k/n"): ask for that slice (``slice_requested`` carries the index)."""
        n = self._probs.shape[0] if self._probs.shape[0] else self.session.n_slices
        if n <= 0 or not np.isfinite(x):
            return
        index = int(min(max(round(float(x)) - 1, 0), n - 1))
        self.slice_requested.emit(index)

    # -- explanations ---------------------------------------------------------------------------
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

    @property
    def opacity(self) -> float:
        return self.opacity_slider.value() / 100.0

    @property
    def threshold(self) -> float:
        return self.threshold_slider.value() / 100.0

    @property
    def cmap(self) -> str:
        return _combo_value(self.cmap_box) or COLORMAPS[0]

    @property
    def method(self) -> str:
        return _combo_value(self.method_box)

    @property
    def target(self) -> str | None:
        return _combo_value(self.target_box)

    @property
    def overlay(self) -> np.ndarray | None:
        """The RGBA layer last sent with ``overlay_changed`` (None: no heat map shown)."""
        return self._overlay

    @property
    def explanation(self):
        """The Explanation shown for the current slice, or None."""
        return None if self._shown is None else self._shown[0]

    @property
    def explained_slice(self) -> int | None:
        """The slice index of the explanation shown, or None."""
        return None if self._shown is None or self._shown[1] is None else int(self._shown[1][1])

    def _heatmap_toggled(self, on: bool) -> None:
        if on:
            self._request_explanation()
        else:
            self._cancel_explanation()
            self._explain_pending = None
            self._set_shown(None)

    def _explain_settings_changed(self, *_args) -> None:
        self._request_explanation()

    def _colour_changed(self, *_args) -> None:
        self.threshold_value.setText(f"{self.threshold:.2f}")
        self.colorbar.set_colormap(self.cmap)
        self.colorbar.set_threshold(self.threshold)
        if self._shown is not None:
            self._set_shown(self._shown[0], self._shown[1])

    def _opacity_changed(self, value: int) -> None:
        self.opacity_value.setText(f"{value}%")
        if self._overlay is not None:
            self.overlay_changed.emit(self._overlay)

    def _explain_key(self, index: int | None = None) -> tuple | None:
        volume, entry = self.session.volume, self.current_entry
        if volume is None or entry is None or self.method is None:
            return None
        from medviewer.ai.explain import ExplanationCache

        index = self._current if index is None else index
        return ExplanationCache.key(
            volume.series.key, index, self.method, self.target, entry.manifest.sha256
        )

    def _request_explanation(self) -> None:
        """Show the current slice's explanation: from the cache, or computed on a worker."""
        if not self.heatmap_on:
            return
        volume, key = self.session.volume, self._explain_key()
        if volume is None or key is None or volume is not self._volume:
            self._set_shown(None)
            return
        k = self._current
        if not 0 <= k < volume.array.shape[0]:
            self._set_shown(None)
            return
        if self._shown is not None and self._shown[1] == key:
            return
        hit = self._explanations.get(key)
        if hit is not None:
            self._set_shown(hit, key)
            return
        self._set_shown(None)  # never leave another slice's map over this one
        loaded = getattr(volume, "loaded", None)
        if loaded is not None and not bool(loaded[k]):
            self.explanation_label.setText(f"Slice {k + 1} is still loading")
            return
        request = _ExplainRequest(
            self._generation,
            self.current_ref,
            self.device,
            k,
            self.method,
            self.target,
            key,
            volume,
        )
        running = self._explain_running
        if running is not None and running.key == key:
            self._explain_pending = None
            return
        self.explanation_label.setText(
            f"Computing {self._method_labels.get(self.method, self.method)} for slice {k + 1}…"
        )
        self.faithfulness_label.setText("")
        if self._explain_worker is not None:
            self._explain_pending = request  # the latest wins; started when this one ends
            return
        self._start_explanation(request)

    def _start_explanation(self, request: _ExplainRequest) -> None:
        from medviewer.ai.explain import explain_iter

        cancel = CancelToken()
        current: dict = {}

        def guard(callback):
            def call(value):
                if self._explain_worker is not None and self._explain_worker is current.get(
                    "worker"
                ):
                    callback(value)

            return call

        def job():
            loaded = yield from self._model_steps(request.ref, request.device)
            values = request.volume.array[request.index]
            invert = bool(getattr(request.volume, "invert", False))
            return (
                yield from explain_iter(
                    loaded.model,
                    values,
                    request.method,
                    request.target,
                    invert=invert,
                    cancel=cancel,
                )
            )

        worker = _start(
            job(),
            on_progress=guard(lambda step: self._explain_progress(request, step)),
            on_done=guard(lambda expl: self._explain_done(request, expl)),
            on_error=guard(lambda message: self._explain_failed(request, message)),
        )
        current["worker"] = self._explain_worker = worker
        self._explain_running = request
        self._explain_cancel = cancel
        worker.finished.connect(lambda w=worker: self._explain_finished(w))

    def _is_current(self, request: _ExplainRequest) -> bool:
        return (
            self.heatmap_on
            and request.generation == self._generation
            and request.key == self._explain_key()
        )

    def _explain_progress(self, request: _ExplainRequest, step: Progress) -> None:
        detail = step.detail
        if isinstance(detail, _Loaded):
            self._model_loaded(detail)
        elif detail is not None and hasattr(detail, "map") and self._is_current(request):
            self._set_shown(detail, request.key)  # the map first, faithfulness follows

    def _explain_done(self, request: _ExplainRequest, expl) -> None:
        self._explain_worker = None
        self._explain_running = None
        if expl is None or request.generation != self._generation:
            self._next_explanation()
            return
        self._explanations.put(request.key, expl)
        if self._is_current(request):
            self._set_shown(expl, request.key)
        self._next_explanation()

    def _explain_failed(self, request: _ExplainRequest, message: str) -> None:
        self._explain_worker = None
        self._explain_running = None
        if request.generation == self._generation:
            self._message(message)
            if self._is_current(request):
                self.explanation_label.setText("No heat map (see the message above)")
        self._next_explanation()

    def _explain_finished(self, worker) -> None:
        # a cancelled worker ends without done/error: start what is waiting
        if self._explain_worker is None and self._explain_pending is not None:
            self._next_explanation()

    def _next_explanation(self) -> None:
        pending, self._explain_pending = self._explain_pending, None
        if pending is None or self._explain_worker is not None:
            return
        if self._is_current(pending) and self._explanations.get(pending.key) is None:
            self._start_explanation(pending)
        elif self._is_current(pending):
            self._set_shown(self._explanations.get(pending.key), pending.key)

    def _cancel_explanation(self) -> None:
        worker, cancel = self._explain_worker, self._explain_cancel
        self._explain_worker = None
        self._explain_running = None
        self._explain_cancel = None
        if cancel is not None:
            cancel.cancel()
        if worker is not None:
            worker.quit()

    def _set_shown(self, expl, key=None) -> None:
        """Show ``expl`` (an Explanation of the current slice) or nothing."""
        if expl is None:
            self._shown = None
            self.explanation_label.setText("")
            self.faithfulness_label.setText("")
            if self._overlay is not None:
                self._overlay = None
                self.overlay_changed.emit(None)
            self.explanation_changed.emit(None)
            return
        self._shown = (expl, key)
        rgba = self._heat.get(expl.map, self.cmap, self.threshold)
        self._overlay = self._to_plane(rgba)
        label = self._method_labels.get(expl.method, expl.method)
        prob = getattr(expl, "probability", None)
        shown_prob = f" (p = {prob:.2f})" if prob is not None else ""
        model = ""
        entry = self.current_entry
        if entry is not None:
            model = f" — {entry.name} {entry.version}"
        self.explanation_label.setText(
            f"{label} for <b>{expl.target}</b>{shown_prob}, slice {self._current + 1}{model}"
        )
        if expl.faithfulness is None:
            self.faithfulness_label.setText("Faithfulness: computing…")
        else:
            self.faithfulness_label.setText(
                f"Faithfulness {expl.faithfulness:+.2f} ({expl.faithfulness_name}): higher is "
                "better; near 0 the map is no better than chance"
            )
        from medviewer.ai.explain import METHOD_NOTES

        extra = METHOD_NOTES.get(expl.method) or ""
        note = expl.note or "Heat maps are normalised per image"
        self.note_label.setText(f"{note}." + (f" {extra[0].upper()}{extra[1:]}." if extra else ""))
        self.overlay_changed.emit(self._overlay)
        self.explanation_changed.emit(expl)

    def _to_plane(self, rgba: np.ndarray) -> np.ndarray:
        """An RGBA layer aligned with ``volume.array[k]`` -> aligned with the primary plane's
        image of slice k (the acquired plane may be shown transposed or flipped)."""
        cached = self._plane_cache
        if cached is not None and cached[0] == id(rgba) and cached[1] is rgba:
            return cached[2]
        volume = self.session.volume
        out = rgba
        if volume is not None:
            try:
                plane = mpr.acquired_plane(volume)
                fake = dataclasses.replace(volume, array=rgba[None], loaded=None)
                out = np.ascontiguousarray(mpr.reformat(fake, plane, 0).values)
            except Exception as exc:  # never lose the map over a geometry oddity
                log.debug("heat map not reoriented: %s", exc)
        self._plane_cache = (id(rgba), rgba, out)
        return out

    # -- model input ------------------------------------------------------------------------------
    def model_card_text(self) -> str | None:
        """The chosen model's MODEL_CARD.md (Markdown), or None when it has none."""
        entry = self.current_entry
        if entry is None:
            return None
        path = Path(entry.folder) / "MODEL_CARD.md"
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def show_model_card(self) -> None:
        """Show the chosen model's card (read-only, from its package)."""
        entry = self.current_entry
        if entry is None:
            self._message("No model chosen")
            return
        text = self.model_card_text()
        if text is None:
            m = entry.manifest
            text = (
                f"# {m.name} {m.version}\n\n{m.description or ''}\n\n"
                f"This package has no MODEL_CARD.md. Training data: {m.training_data or '?'}; "
                f"licence: {m.licence or '?'}."
            )
        if self.card_window is None:
            self.card_window = QtWidgets.QDialog(self)
            self.card_window.setWindowTitle("Model card")
            self.card_window.resize(760, 720)
            lay = QtWidgets.QVBoxLayout(self.card_window)
            self.card_view = QtWidgets.QTextBrowser()
            self.card_view.setOpenExternalLinks(False)
            self.card_view.setOpenLinks(False)
            lay.addWidget(self.card_view)
        self.card_window.setWindowTitle(
            f"Model card — {entry.ref} (research use, not for diagnosis)"
        )
        self.card_view.setMarkdown(text)
        self.card_window.show()
        self.card_window.raise_()

    def show_model_input(self) -> None:
        """Open a window with the exact tensor the model gets for the current slice."""
        problem = self._volume_ready()
        if problem is None and self.current_ref is None:
            problem = "No model chosen"
        if problem:
            self._message(problem)
            return
        if self.input_window is None:
            self.input_window = ModelInputWindow(self)
        self.input_window.show_pending(self._current)
        self.input_window.show()
        self.input_window.raise_()
        volume, k, ref, device = self.session.volume, self._current, self.current_ref, self.device
        generation = self._generation

        def job():
            loaded = yield from self._model_steps(ref, device)
            invert = bool(getattr(volume, "invert", False))
            tensor = loaded.model.preprocess(volume.array[k], invert=invert)
            return (loaded.model.manifest, k, np.asarray(tensor, dtype=np.float32))

        def done(result):
            if self._input_worker is worker and generation == self._generation:
                self._input_worker = None
                if self.input_window is not None:
                    self.input_window.set_input(*result)

        def failed(message):
            if self._input_worker is worker:
                self._input_worker = None
                self._message(message)

        def progress(step):
            if self._input_worker is worker and isinstance(step.detail, _Loaded):
                self._model_loaded(step.detail)

        worker = _start(job(), progress, done, failed)
        self._input_worker = worker


class ModelInputWindow(QtWidgets.QDialog):
    """Each channel of the model's input tensor as a greyscale image, with its window."""

    SIZE = 192

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model input")
        self.setModal(False)
        layout = QtWidgets.QVBoxLayout(self)
        self.title = QtWidgets.QLabel("")
        self.title.setWordWrap(True)
        layout.addWidget(self.title)
        self.row = QtWidgets.QHBoxLayout()
        layout.addLayout(self.row)
        self.caption = QtWidgets.QLabel(
            "Exactly what the network receives: after windowing / normalisation to 0..1 and "
            "resizing to its input size (0 = black, 1 = white)."
        )
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("color: #9e9e9e;")
        layout.addWidget(self.caption)
        self.tensor: np.ndarray | None = None
        self._images: list[np.ndarray] = []
        self.channel_labels: list[QtWidgets.QLabel] = []

    def show_pending(self, index: int) -> None:
        self.title.setText(f"Preparing the model input for slice {index + 1}…")

    def set_input(self, manifest, index: int, tensor: np.ndarray) -> None:
        self.tensor = tensor
        while self.row.count():
            item = self.row.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self._images = []
        self.channel_labels = []
        c, h, w = tensor.shape
        self.title.setText(
            f"{manifest.name} {manifest.version} — slice {index + 1}: {c} × {h} × {w} float32, "
            f"values {float(tensor.min()):.2f}..{float(tensor.max()):.2f}"
        )
        pre = manifest.preprocessing
        for ch in range(c):
            if pre.kind == "ct_windows" and pre.windows:
                center, width = pre.windows[ch if len(pre.windows) > 1 else 0]
                lo, hi = center - width / 2, center + width / 2
                what = f"window {center:g}/{width:g} (HU {lo:g}..{hi:g} -> 0..1)"
            else:
                what = f"percentiles {pre.low:g}–{pre.high:g} of the slice"
            grey = np.ascontiguousarray(
                (np.clip(tensor[ch], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
            )
            self._images.append(grey)  # QImage does not own the buffer
            image = QtGui.QImage(grey.data, w, h, w, QtGui.QImage.Format.Format_Grayscale8)
            scale = max(1, self.SIZE // max(h, w))
            pixmap = QtGui.QPixmap.fromImage(image).scaled(
                w * scale,
                h * scale,
                QtCore.Qt.AspectRatioMode.KeepAspectRatio,
                QtCore.Qt.TransformationMode.FastTransformation,
            )
            picture = QtWidgets.QLabel()
            picture.setPixmap(pixmap)
            text = QtWidgets.QLabel(f"Channel {ch + 1}: {what}")
            text.setWordWrap(True)
            text.setMaximumWidth(max(pixmap.width(), 160))
            box = QtWidgets.QWidget()
            cell_layout = QtWidgets.QVBoxLayout(box)
            cell_layout.setContentsMargins(0, 0, 0, 0)
            cell_layout.addWidget(picture)
            cell_layout.addWidget(text)
            self.row.addWidget(box)
            self.channel_labels.append(text)
        self.adjustSize()


class AIDock(QtCore.QObject):
    """Puts an :class:`AIPanel` into a MainWindow: the right-hand "AI" dock, the "AI" menu, the
    heat map on the primary plane and the side-by-side view, all kept in step with the viewer.

    Attributes set on the window: ``ai_panel``, ``ai_dock``, ``ai_side`` and the actions
    ``ai.run`` / ``ai.toggle_heatmap`` in ``window.actions``.
    """

    def __init__(self, window, registry=None) -> None:
        super().__init__(window)
        from medviewer.qt.heatmap import SideBySideView
        from medviewer.qt.shortcuts import make_action

        self.window = w = window
        self.panel = AIPanel(w.session, registry=registry, parent=w)
        self.dock = w._dock("AI", "ai", self.panel, "Right")
        self.side = SideBySideView()
        self.side.setVisible(False)
        self.side.scrolled.connect(lambda steps: self._primary().set_index(self._index() + steps))
        w.viewer.splitter.addWidget(self.side)
        self._overlay_on = None

        run = make_action("ai.run", w, self.run, text="&Run classifier")
        heat = make_action("ai.toggle_heatmap", w, text="&Heat map", checkable=True)
        heat.toggled.connect(self.panel.set_heatmap)
        self.panel.heatmap_check.toggled.connect(heat.setChecked)
        w.actions["ai.run"] = run
        w.actions["ai.toggle_heatmap"] = heat
        finetune = make_action(
            "ai.finetune", w, lambda: self.show_finetune(), text="&Fine-tune model…"
        )
        models = make_action("ai.models", w, lambda: self.show_models(), text="&Models…")
        w.actions["ai.finetune"] = finetune
        w.actions["ai.models"] = models
        menu = QtWidgets.QMenu("&AI", w)
        menu.addAction(run)
        menu.addAction(heat)
        menu.addSeparator()
        menu.addAction(finetune)
        menu.addAction(models)
        menu.addSeparator()
        show = self.dock.toggleViewAction()
        show.setText("AI &panel")
        menu.addAction(show)
        bar = w.menuBar()
        help_menu = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
        if help_menu is not None:
            bar.insertMenu(help_menu, menu)
        else:
            bar.addMenu(menu)
        self.menu = menu

        self.finetune_dialog = None
        self.models_dialog = None
        w.ai_panel, w.ai_dock, w.ai_side = self.panel, self.dock, self.side
        w.viewer.primary_index_changed.connect(self.panel.set_current_slice)
        self.panel.slice_requested.connect(w.viewer.set_primary_index)
        self.panel.overlay_changed.connect(self._show_overlay)
        self.panel.side_by_side_changed.connect(self._side_by_side)
        for view in w.viewer.views.values():
            view.view.image.sigImageChanged.connect(self._sync_side)
        w.viewer.window_changed.connect(lambda _w: self._sync_side())
        w.volume_ready.connect(self.volume_loaded)
        self._warm_worker = None
        self._warm_timer = QtCore.QTimer(w)
        self._warm_timer.setSingleShot(True)
        self._warm_timer.timeout.connect(self.warm_up)
        w.volume_ready.connect(lambda: self._warm_timer.start(WARM_UP_DELAY_MS))

    def warm_up(self) -> None:
        """Import torch and pytorch-grad-cam on a worker once a series is shown and the user
        is reading it, so the first Run or heat map does not wait for the imports (seconds on
        a cold disk). Nothing is loaded onto a device; no model is read."""
        if self._warm_worker is not None or os.environ.get("MEDVIEWER_NO_WARMUP"):
            return

        def job():
            yield Progress(0, 2, "importing torch")
            import torch  # noqa: F401

            yield Progress(1, 2, "importing pytorch-grad-cam")
            import pytorch_grad_cam  # noqa: F401

            return True

        self._warm_worker = start_job(job(), on_error=lambda m: log.debug("warm-up: %s", m))

    def _primary(self):
        return self.window.viewer.primary

    def _index(self) -> int:
        return self._primary().index

    def run(self) -> None:
        self.dock.show()
        self.dock.raise_()
        self.panel.run()

    def volume_started(self) -> None:
        """MainWindow: a new volume is current (its middle slice is ready)."""
        self.panel.set_volume_changed()
        self.panel.set_current_slice(self._index())
        self._sync_side()

    def volume_loaded(self) -> None:
        self.panel.set_current_slice(self._index())  # slices that were loading can be explained

    def _show_overlay(self, rgba) -> None:
        target = self.side if self.panel.side_by_side else self._primary().view
        if self._overlay_on is not None and self._overlay_on is not target:
            self._overlay_on.set_overlay_rgba(None)
        target.set_overlay_rgba(rgba, self.panel.opacity)
        self._overlay_on = target if rgba is not None else None

    def _side_by_side(self, on: bool) -> None:
        self.side.setVisible(on)
        if on:  # share the width equally between the views shown
            splitter = self.window.viewer.splitter
            shown = [not splitter.widget(i).isHidden() for i in range(splitter.count())]
            width = sum(splitter.sizes()) or splitter.width()
            share = width // max(sum(shown), 1)
            splitter.setSizes([share if s else 0 for s in shown])
        self._sync_side()
        self._show_overlay(self.panel.overlay)

    def _sync_side(self, *_args) -> None:
        if self.side.isVisible():
            self.side.show_plane(self._primary())

    def _store_path(self):
        labeling = getattr(self.window, "labeling", None)
        store = getattr(labeling, "store", None)
        if store is not None:
            return store.path
        from medviewer.settings import label_store_path

        return label_store_path(self.window.settings)

    def _registry_or_message(self):
        registry = self.panel.registry
        if registry is None:
            QtWidgets.QMessageBox.warning(
                self.window,
                "Models",
                f"The models are unavailable: {self.panel._registry_error or 'no registry'}",
            )
        return registry

    def show_finetune(self):
        """AI > Fine-tune model…: the fine-tuning dialog on the Labels dock's store (one at a
        time, non-modal; the viewer stays usable while it trains)."""
        from medviewer.qt.dialogs.finetune import FinetuneDialog

        dialog = self.finetune_dialog
        if dialog is not None and (dialog.training or dialog.isVisible()):
            dialog.show()
            dialog.raise_()
            dialog.activateWindow()
            return dialog
        registry = self._registry_or_message()
        if registry is None:
            return None
        if dialog is not None:
            dialog.deleteLater()  # closed and idle: start afresh
        dialog = FinetuneDialog(
            self._store_path(),
            registry,
            modality=self.panel._modality(),
            ai_panel=self.panel,
            parent=self.window,
        )
        dialog.activated.connect(lambda _entry: self._models_changed())
        self.finetune_dialog = dialog
        dialog.show()
        return dialog

    def show_models(self):
        """AI > Models…: every installed version; activate (roll back), delete, model card."""
        from medviewer.qt.dialogs.models_dialog import ModelsDialog

        registry = self._registry_or_message()
        if registry is None:
            return None
        if self.models_dialog is None:
            self.models_dialog = ModelsDialog(
                registry, modality=self.panel._modality(), parent=self.window
            )
            self.models_dialog.active_changed.connect(lambda _m: self._models_changed())
            self.models_dialog.models_changed.connect(self._models_changed)
        else:
            self.models_dialog.reload()
        self.models_dialog.show()
        self.models_dialog.raise_()
        return self.models_dialog

    def _models_changed(self) -> None:
        """The installed or active models changed: list them again in the dock."""
        if not self.panel.running:
            self.panel.reload_models()
        if self.models_dialog is not None and self.models_dialog.isVisible():
            self.models_dialog.reload()

    def close(self) -> None:
        self.panel.cancel_all()
        if self.finetune_dialog is not None:
            self.finetune_dialog.cancel_all()


__all__ = ["AIDock", "AIPanel", "ModelInputWindow", "RESEARCH_NOTICE"]
