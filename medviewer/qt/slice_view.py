"""One slice on screen: a pyqtgraph image in millimetres, scrolled by wheel and keys."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from medviewer.dicom import Window


class SliceView(pg.GraphicsLayoutWidget):
    """Shows a 2-D array with fixed levels; emits ``scrolled(steps)`` on wheel and arrow keys."""

    scrolled = QtCore.Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setBackground("k")
        self.view = self.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setMouseEnabled(x=True, y=True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self._shape: tuple[int, ...] | None = None
        self._spacing = (1.0, 1.0)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)

    def set_slice(
        self,
        values: np.ndarray,
        window: Window | None,
        invert: bool = False,
        spacing: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        """Display ``values`` (rows, cols[, 3]); greyscale through ``window``."""
        if values.ndim == 3:
            if values.dtype.kind in "ui":
                levels = (0, float(np.iinfo(values.dtype).max))  # full range of the stored type
            else:
                levels = (0, float(values.max() or 1))
            self.image.setImage(values, levels=levels, autoLevels=False)
        else:
            lo, hi = window.levels if window else (float(values.min()), float(values.max()) + 1)
            self.image.setImage(values, levels=(lo, hi), autoLevels=False)
            self.image.setLookupTable(_INVERTED if invert else None)
        if self._shape != values.shape[:2] or self._spacing != spacing:
            self._shape, self._spacing = values.shape[:2], spacing
            row_sp, col_sp = spacing
            self.image.setTransform(QtGui.QTransform.fromScale(col_sp, row_sp))
            self.view.autoRange(padding=0.0)

    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt name)
        steps = event.angleDelta().y() // 120
        if steps:
            self.scrolled.emit(-int(steps))
        event.accept()

    def keyPressEvent(self, event) -> None:  # noqa: N802
        key = event.key()
        moves = {
            QtCore.Qt.Key.Key_Up: -1,
            QtCore.Qt.Key.Key_Down: 1,
            QtCore.Qt.Key.Key_PageUp: -10,
            QtCore.Qt.Key.Key_PageDown: 10,
        }
        if key in moves:
            self.scrolled.emit(moves[key])
            event.accept()
            return
        super().keyPressEvent(event)


_INVERTED = np.arange(255, -1, -1, dtype=np.uint8)
