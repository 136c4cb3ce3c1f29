"""A caption under an exported view that carries a heat map: what the map is, whose it is,
its colour scale and the research-use notice, so the picture still says so when shared."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui

from medviewer.qt.heatmap import NORMALISED_NOTE, lookup_table

MARGIN = 8
BAR_WIDTH = 160
BAR_HEIGHT = 12


def add_caption(image: QtGui.QImage, text: str, cmap: str, threshold: float) -> QtGui.QImage:
    """``image`` with a dark strip below it: the colour scale of ``cmap`` from 0 to 1 (hatched
    below ``threshold``, which the image does not show) and ``text``, wrapped to the width."""
    width = image.width()
    font = QtGui.QFont()
    font.setPointSize(9)
    metrics = QtGui.QFontMetrics(font)
    text_left = MARGIN * 2 + BAR_WIDTH
    box = QtCore.QRect(text_left, MARGIN, max(width - text_left - MARGIN, 80), 10_000)
    flags = int(QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.TextFlag.TextWordWrap)
    text_height = metrics.boundingRect(box, flags, text).height()
    strip = max(text_height, BAR_HEIGHT + metrics.lineSpacing() + 4) + 2 * MARGIN
    out = QtGui.QImage(width, image.height() + strip, QtGui.QImage.Format.Format_RGB32)
    out.fill(QtGui.QColor(20, 20, 20))
    p = QtGui.QPainter(out)
    p.drawImage(0, 0, image)
    p.translate(0, image.height())
    p.setFont(font)
    table = np.ascontiguousarray(np.repeat(lookup_table(cmap)[None, :, :], 2, axis=0))
    scale = QtGui.QImage(table.data, 256, 2, 256 * 3, QtGui.QImage.Format.Format_RGB888)
    bar = QtCore.QRect(MARGIN, MARGIN, BAR_WIDTH, BAR_HEIGHT)
    p.drawImage(bar, scale)
    if threshold > 0:
        cut = QtCore.QRect(bar.left(), bar.top(), int(round(BAR_WIDTH * threshold)), BAR_HEIGHT)
        p.fillRect(cut, QtGui.QColor(0, 0, 0, 170))
        p.fillRect(
            cut, QtGui.QBrush(QtGui.QColor(128, 128, 128), QtCore.Qt.BrushStyle.BDiagPattern)
        )
    p.setPen(QtGui.QColor(230, 230, 230))
    below = bar.bottom() + 2 + metrics.ascent()
    p.drawText(bar.left(), below, "0")
    p.drawText(bar.right() - metrics.horizontalAdvance("1"), below, "1")
    note = NORMALISED_NOTE
    p.drawText(bar.left() + (BAR_WIDTH - metrics.horizontalAdvance(note)) // 2, below, note)
    p.drawText(box, flags, text)
    p.end()
    return out
