"""Counting real paints in the frame benchmarks: a frame counts only if its image painted."""

from __future__ import annotations


class PaintCounter:
    """Counts ImageItem.paint calls (pyqtgraph's scene calls the Python method)."""

    def __init__(self, item) -> None:
        self.count = 0
        original = item.paint

        def paint(*args):
            self.count += 1
            return original(*args)

        item.paint = paint
