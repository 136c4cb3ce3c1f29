"""Opening a worklist row: the series is scanned and loaded like any other (on workers, by the
main window), then shown at its most suspicious slice with the AI dock set to the model of the
result, Grad-CAM for the suspicious class and the heat map on; the AI dock also classifies the
series, so its per-slice plot shows where else the model looked. The explanation and the run
are the AI dock's own jobs on workers: nothing here blocks the GUI thread.
"""

from __future__ import annotations

from PySide6 import QtCore

from medviewer.session.worklist_view import (
    OpenRequest,
    model_differs_text,
    model_missing_text,
    slice_to_show,
)

EXPLAIN_METHOD = "gradcam"


class RowOpener(QtCore.QObject):
    """Opens rows in ``window`` (a MainWindow); ``opened(OpenRequest, int)`` when the series
    is shown at its slice, ``message(str)`` for what could not be done."""

    opened = QtCore.Signal(object, int)
    message = QtCore.Signal(str)

    def __init__(self, window, run_classifier: bool = True) -> None:
        super().__init__(window)
        self.window = window
        self.run_classifier = run_classifier
        self.pending: OpenRequest | None = None
        window.volume_ready.connect(self._volume_ready)
        window.series_loading.connect(self._series_loading)

    def open(self, request: OpenRequest) -> None:
        """Load the row's series (scanning its folder unless it is in the current scan)."""
        w = self.window
        self.pending = request
        volume, scan = w.session.volume, w.session.scan_result
        loaded = getattr(volume, "loaded", None)
        complete = volume is not None and (loaded is None or bool(loaded.all()))
        if complete and volume.series.key == request.series_key:
            self._show(request)
            return
        if scan is not None and any(s.key == request.series_key for s in scan.all_series()):
            w.load_series(request.series_key)
        else:
            w.open_paths([request.folder], series_key=request.series_key)

    def _series_loading(self, key: str) -> None:
        if self.pending is not None and key != self.pending.series_key:
            self.pending = None  # the user chose another series meanwhile

    def _volume_ready(self) -> None:
        request, volume = self.pending, self.window.session.volume
        if request is None or volume is None or volume.series.key != request.series_key:
            return
        self._show(request)

    def _show(self, request: OpenRequest) -> None:
        self.pending = None
        w = self.window
        slices = w.session.volume.series.slices
        index = slice_to_show(request, [s.sop_instance_uid for s in slices])
        self._set_up_explanation(request)
        w.viewer.set_primary_index(index)
        heat = w.actions.get("ai.toggle_heatmap")
        if heat is not None:
            heat.setChecked(True)
        panel = getattr(w, "ai_panel", None)
        if (
            self.run_classifier
            and panel is not None
            and panel.current_ref == request.model_ref
            and not panel.running
            and panel.series_result is None
        ):
            panel.run()
        w.viewer.primary.view.setFocus()
        self.opened.emit(request, index)

    def _set_up_explanation(self, request: OpenRequest) -> None:
        """The AI dock on the result's model, Grad-CAM, the suspicious class."""
        panel = getattr(self.window, "ai_panel", None)
        if panel is None:
            return
        i = panel.model_box.findData(request.model_ref)
        if i < 0:
            self.message.emit(model_missing_text(request.model_ref))
        else:
            panel.model_box.setCurrentIndex(i)
            entry = panel.current_entry
            sha = getattr(getattr(entry, "manifest", None), "sha256", "")
            if sha and request.model_sha256 and sha != request.model_sha256:
                self.message.emit(model_differs_text(request.model_ref))
        if panel.explain_box.method_enabled(EXPLAIN_METHOD):
            panel.method_box.setCurrentIndex(panel.method_box.findData(EXPLAIN_METHOD))
        t = panel.target_box.findData(request.target)
        if t >= 0:
            panel.target_box.setCurrentIndex(t)


__all__ = ["EXPLAIN_METHOD", "RowOpener"]
