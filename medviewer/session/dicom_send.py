"""Saving and sending a series' AI result as DICOM from the app, without Qt: the jobs the
AI dock and the series browser run on workers, and their results in plain words.

- :func:`build_results`: the SR, the KO of the flagged slices (none when nothing was
  flagged: the SR says so) and, when a heat map is shown, its Parametric Map;
- :func:`save_results_iter`: those objects written into a folder;
- :func:`send_results_iter`: written into a temporary folder, sent to a node, removed;
- :func:`send_series_iter`: the files of a series sent to a node;
- :func:`node_entries`: the "Send … to node" submenu's entries.

medviewer.reports (highdicom) and medviewer.net.send (pynetdicom) are imported by the jobs,
on the worker.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from medviewer.jobs import CancelToken, Progress

NO_NODE = "No DICOM node configured"
NO_NODE_TIP = "Add the PACS or workstation to send to in Network > DICOM nodes"
NO_RESULT = (
    "Run the classifier on the series first (Run in the AI dock): there is no result to save"
)
OTHER_MODEL_MAP = (
    "the heat map shown was made by another model than the result, so it was left out; "
    "choose the result's model and show its heat map to include one"
)
NO_KO = "no slice was flagged, so there is no key object selection (the SR records that)"


@dataclass(frozen=True)
class HeatMapShown:
    """The heat map the dock shows: slice ``index``, its map in [0, 1] and what made it
    (``sha256``: the weights of the model that made it)."""

    index: int
    map: object
    method: str
    target: str
    sha256: str


@dataclass
class Built:
    objects: list = field(default_factory=list)
    """(kind, dataset) pairs: "sr", "ko", "pmap"."""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Saved:
    """What :func:`save_results_iter` wrote."""

    paths: list[Path]
    kinds: list[str]
    notes: list[str]
    folder: str

    def text(self) -> str:
        what = ", ".join(KIND_WORDS[k] for k in self.kinds)
        lines = [f"Saved {what} in {self.folder}"]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)


KIND_WORDS = {
    "sr": "the structured report (SR)",
    "ko": "the key images (KO)",
    "pmap": "the heat map (Parametric Map)",
}


@dataclass(frozen=True)
class Sent:
    """The outcome of a send, with :meth:`text` in plain words."""

    what: str
    """"the AI result" or "series 3 · Head"."""
    result: object
    """The :class:`~medviewer.net.send.SendResult`."""
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.result.failures and self.result.sent > 0

    def text(self) -> str:
        r = self.result
        total = r.sent + len(r.failures)
        if self.complete:
            line = f"Sent {self.what} to {r.node}: {r.sent} file(s), all taken"
        elif r.sent == 0 and not r.failures:
            line = r.message or f"Nothing of {self.what} was sent to {r.node}"
        elif r.sent == 0:
            line = f"{r.node} took none of the {total} file(s) of {self.what}: {r.failures[0]}"
        else:
            line = (
                f"Sent {r.sent} of {total} file(s) of {self.what} to {r.node}; "
                f"{len(r.failures)} not taken, the first: {r.failures[0]}"
            )
        return "\n".join([line, *(f"Note: {n}" for n in self.notes)])


# -- building -------------------------------------------------------------------------------------
def build_results(volume, prediction, heat_map: HeatMapShown | None = None):
    """Job: the DICOM objects of ``prediction`` of ``volume`` (and of ``heat_map``), each
    checked; nothing is written. Returns :class:`Built`. Raises ReportError."""
    from medviewer.ai.findings import series_flagged_slices
    from medviewer.reports.ko import make_ko
    from medviewer.reports.sr import make_sr

    built = Built()
    steps = 3 if heat_map is not None else 2
    yield Progress(0, steps, "making the structured report (SR)")
    built.objects.append(("sr", make_sr(volume, prediction)))
    yield Progress(1, steps, "making the key object selection (KO)")
    if series_flagged_slices(prediction):
        built.objects.append(("ko", make_ko(volume, prediction)))
    else:
        built.notes.append(NO_KO)
    if heat_map is not None:
        if heat_map.sha256 and heat_map.sha256 != prediction.sha256:
            built.notes.append(OTHER_MODEL_MAP)
        else:
            from medviewer.reports.pmap import make_pmap

            yield Progress(2, steps, "making the parametric map of the heat map")
            built.objects.append(
                (
                    "pmap",
                    make_pmap(
                        volume,
                        heat_map.index,
                        heat_map.map,
                        method=heat_map.method,
                        target=heat_map.target,
                        model=prediction.model,
                        version=prediction.version,
                        sha256=prediction.sha256,
                    ),  # fmt: skip
                )
            )
    yield Progress(steps, steps, "the DICOM objects are ready")
    return built


def save_results_iter(volume, prediction, heat_map: HeatMapShown | None, folder):
    """Job: :func:`build_results`, then each object written into ``folder`` (atomically;
    nothing when one cannot be made). Returns :class:`Saved`."""
    from medviewer.reports.common import check_output_folder, write_objects

    check_output_folder(folder)
    built = yield from build_results(volume, prediction, heat_map)
    paths = write_objects(built.objects, folder)
    return Saved(paths, [k for k, _ in built.objects], built.notes, os.fspath(folder))


def send_results_iter(
    volume, prediction, heat_map: HeatMapShown | None, node, calling_ae: str,
    cancel: CancelToken | None = None,
):  # fmt: skip
    """Job: :func:`build_results` written into a temporary folder, sent to ``node`` with
    :func:`medviewer.net.send.send_iter` (one step per file), the folder removed. Returns
    :class:`Sent`."""
    from medviewer.net.send import send_iter
    from medviewer.reports.common import write_objects

    built = yield from build_results(volume, prediction, heat_map)
    with tempfile.TemporaryDirectory(prefix="medviewer-send-") as tmp:
        paths = write_objects(built.objects, tmp)
        result = yield from send_iter(node, calling_ae, paths, cancel=cancel)
    return Sent("the AI result", result, built.notes)


def series_files(series) -> list[str]:
    """The files of ``series`` (a SeriesInfo), each once, in slice order."""
    return list(dict.fromkeys(ref.path for ref in series.slices))


def series_words(series) -> str:
    number = f" {series.series_number}" if series.series_number is not None else ""
    desc = f" · {series.description}" if series.description else ""
    return f"series {series.modality}{number}{desc}"


def send_series_iter(series, node, calling_ae: str, cancel: CancelToken | None = None):
    """Job: the files of ``series`` sent to ``node``. Returns :class:`Sent`."""
    from medviewer.net.send import send_iter

    files = series_files(series)
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        from medviewer.errors import MedviewerError

        raise MedviewerError(
            f"{len(missing)} file(s) of {series_words(series)} are gone since the study was "
            f"opened (the first: {missing[0]}); open the study again, then send it"
        )
    yield Progress(0, len(files), f"sending {len(files)} file(s) to {node.name}")
    result = yield from send_iter(node, calling_ae, files, cancel=cancel)
    return Sent(series_words(series), result)


# -- the node menu ----------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeEntry:
    name: str
    text: str
    tip: str


def node_entries(config) -> list[NodeEntry]:
    """One entry per configured remote node (empty: show :data:`NO_NODE`)."""
    return [
        NodeEntry(n.name, n.name, f"{n.describe()}, as {config.local.ae_title}")
        for n in config.nodes
    ]


__all__ = [
    "Built",
    "HeatMapShown",
    "KIND_WORDS",
    "NO_KO",
    "NO_NODE",
    "NO_NODE_TIP",
    "NO_RESULT",
    "NodeEntry",
    "OTHER_MODEL_MAP",
    "Saved",
    "Sent",
    "build_results",
    "node_entries",
    "save_results_iter",
    "send_results_iter",
    "send_series_iter",
    "series_files",
    "series_words",
]
