"""ExplanationCache: a thread-safe LRU of explanations, so a slice is explained once per
(volume, slice, method, target, model)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from medviewer.ai.explain_methods import Explanation


class ExplanationCache:
    """LRU of explanations; keys are ``(volume key, slice index, method, target, model sha256)``.

    Thread-safe. Explanations are immutable (their map is read-only), so one object can be
    shared by every view that shows it.
    """

    def __init__(self, max_items: int = 64) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self.max_items = max_items
        self._items: OrderedDict[Hashable, Explanation] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(
        volume_key: str, slice_index: int, method: str, target: str | int | None, model
    ) -> tuple:
        """The cache key; ``model`` is a LoadedModel or its sha256."""
        sha = model if isinstance(model, str) else model.sha256
        return (volume_key, int(slice_index), method, target, sha)

    def get(self, key: Hashable) -> Explanation | None:
        with self._lock:
            expl = self._items.get(key)
            if expl is not None:
                self._items.move_to_end(key)
            return expl

    def put(self, key: Hashable, expl: Explanation) -> None:
        with self._lock:
            self._items[key] = expl
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items
