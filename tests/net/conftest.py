"""A real PACS for the network tests: Debian's Orthanc on 127.0.0.1 with free ports, holding
the bundled sample head CT (JPEG 2000), a native CT series and an RLE series. It knows this
station as MEDVIEWER at the receiver port the tests use. Stopped at the end of the session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom.uid import RLELossless

from medviewer.dicom import scan
from medviewer.net.nodes import LocalNode
from medviewer.testing.orthanc import OrthancServer, free_port
from medviewer.testing.synthetic import write_series

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "resources" / "sample" / "cranium-ct"


@dataclass
class Pacs:
    server: OrthancServer
    receiver_port: int
    folders: dict[str, Path]
    """name -> folder of the series uploaded: sample (J2K), native, rle."""
    series: dict[str, object]
    """name -> the scanned SeriesInfo of that folder."""

    def node(self, **kw):
        return self.server.node(**kw)

    def local(self, **kw) -> LocalNode:
        return LocalNode(port=self.receiver_port, bind_address="127.0.0.1", **kw)


@pytest.fixture(scope="session")
def pacs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pacs")
    folders = {"sample": SAMPLE, "native": root / "native", "rle": root / "rle"}
    write_series(folders["native"], n_slices=20, rows=64, cols=64, seed=3)
    write_series(folders["rle"], n_slices=12, rows=48, cols=48, seed=4, transfer_syntax=RLELossless)
    receiver_port = free_port()
    server = OrthancServer(
        root / "orthanc",
        {"medviewer": ("MEDVIEWER", receiver_port), "other": ("OTHERPACS", free_port())},
    )
    with server:
        server.upload(folders.values())
        series = {name: scan([str(f)]).all_series()[0] for name, f in folders.items()}
        yield Pacs(server, receiver_port, folders, series)


class CancelAfter:
    """An ``on_progress`` callback that records the steps and sets ``token`` at the n-th."""

    def __init__(self, n: int) -> None:
        from medviewer.jobs import CancelToken

        self.n = n
        self.token = CancelToken()
        self.steps: list = []

    def __call__(self, step) -> None:
        self.steps.append(step)
        if len(self.steps) == self.n:
            self.token.cancel()
