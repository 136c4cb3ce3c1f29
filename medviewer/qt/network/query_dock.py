"""The Query / Retrieve dock: C-FIND on a worker with the studies appearing page by page
(Cancel sends the node a C-CANCEL), the series of the chosen study (a series-level query), and
retrieves of a study or of the selected series, each with its own progress and failures. The
retrieved series open in the viewer while they arrive (:class:`~medviewer.qt.network.live.
LiveStudies`)."""

from __future__ import annotations

from functools import partial

from PySide6 import QtCore

from medviewer.jobs import CancelToken, Progress
from medviewer.net.nodes import NodeError
from medviewer.qt.docks import show_bottom_dock
from medviewer.qt.network.query_panel import QueryPanel
from medviewer.qt.network.retrievals import Retrieval
from medviewer.qt.workers import start_job
from medviewer.session.network import RetrieveState, found_text, person, series_sort_key

MIN_HEIGHT = 320


def _find_job(node, calling_ae, query, level, cancel):
    from medviewer.net.query import find_iter

    yield Progress(0, None, f"asking {node.describe()}")
    return (yield from find_iter(node, calling_ae, query, level, cancel=cancel))


def _retrieve_job(node, local, store, study_uid, series_uid, receiver, expected, cancel):
    from medviewer.net.retrieve import retrieve_iter

    return (
        yield from retrieve_iter(
            node,
            local,
            store,
            study_uid,
            series_uid,
            receiver=receiver,
            expected=expected,
            cancel=cancel,
        )
    )


class QueryDock(QtCore.QObject):
    """Signals: ``search_finished(FindResult | None)``, ``series_listed()``,
    ``retrieve_started(Retrieval)``."""

    search_finished = QtCore.Signal(object)
    series_listed = QtCore.Signal()
    retrieve_started = QtCore.Signal(object)

    def __init__(self, network, window) -> None:
        super().__init__(window)
        self.network = network
        self.window = window
        self.panel = p = QueryPanel(window)
        self.dock = window._dock("Query / Retrieve", "query-retrieve", p, "Bottom")
        self.dock.hide()
        self._search = None
        self._search_cancel: CancelToken | None = None
        self._series_worker = None
        self._series_study = None
        p.search_button.clicked.connect(self.search)
        p.cancel_button.clicked.connect(self.cancel_search)
        p.nodes_button.clicked.connect(lambda: network.show_nodes_dialog())
        p.study_table.selectionModel().selectionChanged.connect(self._study_chosen)
        p.study_table.doubleClicked.connect(lambda *_: self.retrieve_study())
        p.retrieve_study_button.clicked.connect(lambda: self.retrieve_study())
        p.retrieve_series_button.clicked.connect(lambda: self.retrieve_series())
        self.config_changed()

    def show(self) -> None:
        show_bottom_dock(self.window, self.dock, MIN_HEIGHT, self.panel.name_edit)

    def toggle(self) -> None:
        if self.dock.isVisible():
            self.dock.hide()
        else:
            self.show()

    def config_changed(self) -> None:
        config = self.network.config
        names = [n.name for n in config.nodes]
        self.panel.set_nodes(names, self.panel.node_box.currentText())
        self.panel.set_searching(self._search is not None)
        if names and not self.panel.studies.items():
            self.panel.status.setText(f"Search {self.panel.node_box.currentText()} for studies.")

    def _node(self):
        name = self.panel.node_box.currentText()
        try:
            return self.network.config.node(name) if name else None
        except NodeError as exc:
            self.panel.status.setText(str(exc))
            return None

    # -- search -----------------------------------------------------------------------------
    def search(self) -> bool:
        """Query the chosen node for studies; rows appear page by page."""
        node = self._node()
        if node is None or self._search is not None:
            return False
        p = self.panel
        query = p.query()
        try:
            query.checked("STUDY")
        except NodeError as exc:
            # the rows of the last search do not answer this one: gone with it
            p.studies.clear()
            p.series.clear()
            p.update_retrieve_buttons()
            p.status.setText(f"Not searched: {exc}")
            return False
        p.studies.clear()
        p.series.clear()
        p.update_retrieve_buttons()
        p.status.setText(f"Searching {node.describe()}…")
        self._search_cancel = cancel = CancelToken()
        job = _find_job(node, self.network.config.local.ae_title, query, "STUDY", cancel)
        p.set_searching(True)

        def progress(step: Progress) -> None:
            if isinstance(step.detail, list):
                p.studies.append(step.detail)
                p.status.setText(f"{step.message}…")

        def done(result) -> None:
            self._search_ended()
            if not p.studies.items() and result.matches:
                p.studies.append(result.matches)
            if result.matches:
                p.status.setText(found_text(result))
            else:
                p.status.setText(
                    f"No study matches on {node.name}: widen the query (fewer fields, a "
                    "longer date range)."
                )
            p.study_table.resizeColumnsToContents()
            p.study_table.horizontalHeader().setStretchLastSection(True)
            self.search_finished.emit(result)

        def failed(message: str) -> None:
            self._search_ended()
            p.status.setText(message)
            self.search_finished.emit(None)

        worker = start_job(job, on_progress=progress, on_done=done, on_error=failed)
        self._search = worker

        def finished() -> None:  # a cancelled search ends without done / error
            if self._search is worker:
                self._search_ended()
                n = len(p.studies.items())
                p.status.setText(f"Search cancelled; {n} studies found before.")
                self.search_finished.emit(None)

        worker.finished.connect(finished)
        return True

    def _search_ended(self) -> None:
        self._search = None
        self.panel.set_searching(False)

    def cancel_search(self) -> None:
        if self._search_cancel is not None:
            self._search_cancel.cancel()
        if self._search is not None:
            self.panel.status.setText("Cancelling the search…")

    @property
    def searching(self) -> bool:
        return self._search is not None

    # -- series of a study -----------------------------------------------------------------------
    def _study_chosen(self, *_args) -> None:
        study = self.panel.current_study()
        if study is None or study is self._series_study:
            return
        self._series_study = study
        self.panel.series.clear()
        node = self._node()
        if node is None:
            return
        from medviewer.net.query import Query

        job = _find_job(
            node,
            self.network.config.local.ae_title,
            Query(study_uid=study.study_uid),
            "SERIES",
            CancelToken(),
        )
        if self._series_worker is not None:
            self._series_worker.quit()

        def done(result) -> None:
            if self._series_study is not study:
                return
            self._series_worker = None
            self.panel.series.set_items(sorted(result.matches, key=series_sort_key))
            self.panel.series_table.resizeColumnsToContents()
            self.panel.series_table.horizontalHeader().setStretchLastSection(True)
            self.series_listed.emit()

        def failed(message: str) -> None:
            if self._series_study is study:
                self._series_worker = None
                self.panel.status.setText(f"The series could not be listed: {message}")

        self._series_worker = start_job(job, on_done=done, on_error=failed)

    # -- retrieve -------------------------------------------------------------------------------
    def retrieve_study(self, study=None) -> Retrieval | None:
        study = study or self.panel.current_study()
        if study is None:
            return None
        title = (
            f"{person(study.patient_name) or study.patient_id or 'study'} · "
            f"{study.description or study.study_date or study.study_uid}"
        )
        return self._retrieve(study.study_uid, "", study.instances, title)

    def retrieve_series(self, series=None) -> list[Retrieval]:
        chosen = series or self.panel.selected_series()
        out = []
        for s in chosen:
            title = f"{s.modalities} {s.series_number} · {s.description or 'series'}"
            r = self._retrieve(s.study_uid, s.series_uid, s.instances, title)
            if r is not None:
                out.append(r)
        return out

    def _retrieve(self, study_uid, series_uid, expected, title) -> Retrieval | None:
        node = self._node()
        if node is None:
            return None
        net = self.network
        store = net.store()
        receiver = net.receiving.receiver if net.receiving.running else None
        job = partial(
            _retrieve_job,
            node,
            net.config.local,
            store,
            study_uid,
            series_uid,
            receiver,
            expected,
        )
        state = RetrieveState(f"{title} ({node.name})", study_uid, series_uid, expected)
        retrieval = Retrieval(state, job, self)
        folder = store.root / study_uid
        if self.panel.show_check.isChecked():
            net.live.open_when_here(folder, series_uid)
        retrieval.arrived.connect(
            lambda event: net.live.note(event.path) if event.path is not None else None
        )
        retrieval.ended.connect(lambda: net.live.finish(folder))
        retrieval.ended.connect(lambda: self._retrieve_ended(retrieval))
        self.panel.retrieves.add(retrieval)
        retrieval.start()
        self.panel.status.setText(f"Retrieving {title} from {node.describe()}…")
        self.retrieve_started.emit(retrieval)
        return retrieval

    def _retrieve_ended(self, retrieval: Retrieval) -> None:
        s = retrieval.state
        self.panel.status.setText(f"{s.title}: {s.status_text()}")
        self.window.statusBar().showMessage(f"{s.title}: {s.status_text()}", 8000)

    def close(self) -> None:
        if self._search_cancel is not None:
            self._search_cancel.cancel()
        for worker in (self._search, self._series_worker):
            if worker is not None:
                worker.quit()
        self._search = self._series_worker = None
        for r in self.panel.retrieves.retrievals():
            r.stop_now()
