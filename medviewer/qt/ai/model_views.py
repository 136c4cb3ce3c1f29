"""The AI dock's windows about the chosen model: its model card (read-only Markdown from the
package, or the manifest's words when it has none) and the model-input window (each channel
of the exact tensor the model gets for the current slice, prepared on a worker).
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.qt.ai import jobs
from medviewer.session import ai_model_view as view
from medviewer.session.ai_status import NO_MODEL_CHOSEN


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
        self.caption = QtWidgets.QLabel(view.INPUT_CAPTION)
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("color: #9e9e9e;")
        layout.addWidget(self.caption)
        self.tensor: np.ndarray | None = None
        self._images: list[np.ndarray] = []
        self.channel_labels: list[QtWidgets.QLabel] = []

    def show_pending(self, index: int) -> None:
        self.title.setText(view.input_pending(index))

    def set_input(self, manifest, index: int, tensor: np.ndarray) -> None:
        self.tensor = tensor
        while self.row.count():
            item = self.row.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self._images = []
        self.channel_labels = []
        c, h, w = tensor.shape
        self.title.setText(view.input_title(manifest, index, tensor))
        for ch in range(c):
            grey = view.channel_grey(tensor[ch])
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
            text = QtWidgets.QLabel(view.channel_text(manifest.preprocessing, ch))
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


class ModelViews:
    """The model card and model-input windows of an :class:`~medviewer.qt.ai.panel.AIPanel`
    (created on first use, parented to the panel)."""

    def __init__(self, panel, loader: jobs.ModelLoader) -> None:
        self.panel = panel
        self.loader = loader
        self.card_window: QtWidgets.QDialog | None = None
        self.card_view: QtWidgets.QTextBrowser | None = None
        self.input_window: ModelInputWindow | None = None
        self.input_worker = None

    def show_card(self) -> None:
        """Show the chosen model's card (read-only, from its package)."""
        p = self.panel
        entry = p.current_entry
        if entry is None:
            p._message(NO_MODEL_CHOSEN)
            return
        text = p.model_card_text()
        if text is None:
            text = view.fallback_card(entry.manifest)
        if self.card_window is None:
            self.card_window = QtWidgets.QDialog(p)
            self.card_window.setWindowTitle("Model card")
            self.card_window.resize(760, 720)
            lay = QtWidgets.QVBoxLayout(self.card_window)
            self.card_view = QtWidgets.QTextBrowser()
            self.card_view.setOpenExternalLinks(False)
            self.card_view.setOpenLinks(False)
            lay.addWidget(self.card_view)
        self.card_window.setWindowTitle(view.card_title(entry.ref))
        self.card_view.setMarkdown(text)
        self.card_window.show()
        self.card_window.raise_()

    def show_input(self) -> None:
        """Open a window with the exact tensor the model gets for the current slice."""
        p = self.panel
        problem = p._volume_ready()
        if problem is None and p.current_ref is None:
            problem = NO_MODEL_CHOSEN
        if problem:
            p._message(problem)
            return
        if self.input_window is None:
            self.input_window = ModelInputWindow(p)
        self.input_window.show_pending(p.current_slice)
        self.input_window.show()
        self.input_window.raise_()
        volume, k, ref, device = p.session.volume, p.current_slice, p.current_ref, p.device
        generation = p._generation

        def job():
            loaded = yield from self.loader.steps(ref, device)
            invert = bool(getattr(volume, "invert", False))
            tensor = loaded.model.preprocess(volume.array[k], invert=invert)
            return (loaded.model.manifest, k, np.asarray(tensor, dtype=np.float32))

        def done(result):
            if self.input_worker is worker and generation == p._generation:
                self.input_worker = None
                if self.input_window is not None:
                    self.input_window.set_input(*result)

        def failed(message):
            if self.input_worker is worker:
                self.input_worker = None
                p._message(message)

        def progress(step):
            if self.input_worker is worker and isinstance(step.detail, jobs.Loaded):
                p._model_loaded(step.detail)

        worker = jobs.start(job(), progress, done, failed)
        self.input_worker = worker


__all__ = ["ModelInputWindow", "ModelViews"]
