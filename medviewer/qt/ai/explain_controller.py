"""Explaining the current slice from the AI dock: the explanation job (one at a time; the
latest request waits and wins), the cache of explanations and of coloured maps, and the map
shown: sent as an RGBA layer aligned with the primary plane (``overlay_changed``) with the
texts of :mod:`medviewer.session.explain_view` under the colour bar.

Results of a request that no longer matches the slice, method, class or series are never
shown.
"""

from __future__ import annotations

from medviewer.jobs import CancelToken, Progress
from medviewer.qt.ai import jobs
from medviewer.qt.heatmap import HeatmapCache
from medviewer.session import explain_view as view


class ExplainController:
    """The explanations of an :class:`~medviewer.qt.ai.panel.AIPanel` (its ``explain_box``
    holds the controls)."""

    def __init__(self, panel, loader: jobs.ModelLoader) -> None:
        from medviewer.ai.explain import ExplanationCache

        self.panel = panel
        self.loader = loader
        self.cache = ExplanationCache()
        self.heat = HeatmapCache()
        self.aligner = view.PlaneAligner()
        self.worker = None
        self._cancel: CancelToken | None = None
        self.running_request: jobs.ExplainRequest | None = None
        self.pending: jobs.ExplainRequest | None = None
        self.shown = None  # (Explanation, request key)
        self.overlay = None  # the RGBA layer last sent with overlay_changed

    @property
    def box(self):
        return self.panel.explain_box

    def clear(self) -> None:
        """A new series: forget every explanation and coloured map."""
        self.cache.clear()
        self.heat.clear()
        self.aligner.clear()

    def key(self, index: int | None = None) -> tuple | None:
        p = self.panel
        index = p.current_slice if index is None else index
        return view.explanation_key(
            p.session.volume, p.current_entry, self.box.method, self.box.target, index
        )

    # -- the controls -------------------------------------------------------------------------
    def heatmap_toggled(self, on: bool) -> None:
        if on:
            self.request()
        else:
            self.cancel()
            self.pending = None
            self.set_shown(None)

    def colour_changed(self, *_args) -> None:
        self.box.show_colours()
        if self.shown is not None:
            self.set_shown(self.shown[0], self.shown[1])

    def opacity_changed(self, value: int) -> None:
        self.box.opacity_value.setText(view.opacity_text(value))
        if self.overlay is not None:
            self.panel.overlay_changed.emit(self.overlay)

    # -- requests and the job -----------------------------------------------------------------
    def request(self) -> None:
        """Show the current slice's explanation: from the cache, or computed on a worker."""
        p, box = self.panel, self.box
        if not p.heatmap_on:
            return
        volume, key = p.session.volume, self.key()
        if volume is None or key is None or volume is not p._volume:
            self.set_shown(None)
            return
        k = p.current_slice
        if not 0 <= k < volume.array.shape[0]:
            self.set_shown(None)
            return
        if self.shown is not None and self.shown[1] == key:
            return
        hit = self.cache.get(key)
        if hit is not None:
            self.set_shown(hit, key)
            return
        self.set_shown(None)  # never leave another slice's map over this one
        loaded = getattr(volume, "loaded", None)
        if loaded is not None and not bool(loaded[k]):
            box.explanation_label.setText(view.loading_text(k))
            return
        request = jobs.ExplainRequest(
            p._generation, p.current_ref, p.device, k, box.method, box.target, key, volume
        )
        running = self.running_request
        if running is not None and running.key == key:
            self.pending = None
            return
        box.show_text(view.computing_text(box.method, k))
        if self.worker is not None:
            self.pending = request  # the latest wins; started when this one ends
            return
        self._start(request)

    def _start(self, request: jobs.ExplainRequest) -> None:
        from medviewer.ai.explain import explain_iter

        cancel = CancelToken()
        current = jobs.Current(self)

        def job():
            loaded = yield from self.loader.steps(request.ref, request.device)
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

        worker = jobs.start(
            job(),
            on_progress=current.guard(lambda step: self._progress(request, step)),
            on_done=current.guard(lambda expl: self._done(request, expl)),
            on_error=current.guard(lambda message: self._failed(request, message)),
        )
        current.worker = self.worker = worker
        self.running_request = request
        self._cancel = cancel
        worker.finished.connect(lambda w=worker: self._finished(w))

    def _is_current(self, request: jobs.ExplainRequest) -> bool:
        p = self.panel
        return p.heatmap_on and request.generation == p._generation and request.key == self.key()

    def _progress(self, request: jobs.ExplainRequest, step: Progress) -> None:
        detail = step.detail
        if isinstance(detail, jobs.Loaded):
            self.panel._model_loaded(detail)
        elif detail is not None and hasattr(detail, "map") and self._is_current(request):
            self.set_shown(detail, request.key)  # the map first, faithfulness follows

    def _done(self, request: jobs.ExplainRequest, expl) -> None:
        self.worker = None
        self.running_request = None
        if expl is None or request.generation != self.panel._generation:
            self._next()
            return
        self.cache.put(request.key, expl)
        if self._is_current(request):
            self.set_shown(expl, request.key)
        self._next()

    def _failed(self, request: jobs.ExplainRequest, message: str) -> None:
        self.worker = None
        self.running_request = None
        if request.generation == self.panel._generation:
            self.panel._message(message)
            if self._is_current(request):
                self.box.explanation_label.setText(view.NO_MAP)
        self._next()

    def _finished(self, worker) -> None:
        # a cancelled worker ends without done/error: start what is waiting
        if self.worker is None and self.pending is not None:
            self._next()

    def _next(self) -> None:
        pending, self.pending = self.pending, None
        if pending is None or self.worker is not None:
            return
        if self._is_current(pending) and self.cache.get(pending.key) is None:
            self._start(pending)
        elif self._is_current(pending):
            self.set_shown(self.cache.get(pending.key), pending.key)

    def cancel(self) -> None:
        worker, cancel = self.worker, self._cancel
        self.worker = None
        self.running_request = None
        self._cancel = None
        if cancel is not None:
            cancel.cancel()
        if worker is not None:
            worker.quit()

    # -- the map shown ------------------------------------------------------------------------
    def set_shown(self, expl, key=None) -> None:
        """Show ``expl`` (an Explanation of the current slice) or nothing."""
        p, box = self.panel, self.box
        if expl is None:
            self.shown = None
            box.show_text("", "")
            if self.overlay is not None:
                self.overlay = None
                p.overlay_changed.emit(None)
            p.explanation_changed.emit(None)
            return
        self.shown = (expl, key)
        rgba = self.heat.get(expl.map, box.cmap, box.threshold)
        self.overlay = self.aligner.to_plane(p.session.volume, rgba)
        entry = p.current_entry
        model = f"{entry.name} {entry.version}" if entry is not None else None
        text = view.explanation_text(expl, p.current_slice, model)
        box.show_text(text.title, text.faithfulness, text.note)
        p.overlay_changed.emit(self.overlay)
        p.explanation_changed.emit(expl)

    @property
    def explanation(self):
        return None if self.shown is None else self.shown[0]

    @property
    def explained_slice(self) -> int | None:
        return None if self.shown is None or self.shown[1] is None else int(self.shown[1][1])


__all__ = ["ExplainController"]
