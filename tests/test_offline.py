"""Nothing in medviewer uses the network: the whole workflow runs with network access blocked.

For the whole test, ``socket.socket`` (any family but local AF_UNIX, which multiprocessing's
pipes use), ``socket.create_connection``, ``socket.getaddrinfo`` and the host-name look-ups
raise :class:`NetworkBlocked` — not an OSError, so no ``except OSError`` can quietly swallow
it — and every attempt is recorded and fails the test at the end even if something caught it.
Then: open the bundled lesion study -> classify it with the bundled model -> explain a slice ->
label slices -> fine-tune (a tiny model, one epoch) -> export (volume, labels, the new model
package) -> de-identify the study. (The PNG export is a Qt grab of the screen: no network
either, tested with the GUI in tests/qt/test_phi_png.py.)
"""

from __future__ import annotations

import ast
import json
import socket
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


class NetworkBlocked(AssertionError):
    """Raised by every network call while the block is on."""


@pytest.fixture
def no_network(monkeypatch):
    attempts: list[str] = []
    real_socket = socket.socket

    def refuse(what: str):
        attempts.append(what)
        raise NetworkBlocked(f"network access attempted during an offline test: {what}")

    class GuardedSocket(real_socket):
        def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
            if fileno is None and family not in (-1, socket.AF_UNIX):
                refuse(f"socket.socket(family={family!r}, type={type!r})")
            if fileno is None and family == -1:
                refuse("socket.socket() (AF_INET by default)")
            super().__init__(family, type, proto, fileno)

        def connect(self, address):
            if self.family != socket.AF_UNIX:
                refuse(f"socket.connect({address!r})")
            return super().connect(address)

    monkeypatch.setattr(socket, "socket", GuardedSocket)
    for name in ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex"):
        monkeypatch.setattr(socket, name, lambda *a, _n=name, **k: refuse(f"socket.{_n}{a}"))
    yield attempts
    assert attempts == [], f"network access was attempted: {attempts}"


def test_the_block_refuses_every_way_out(no_network):
    import urllib.request

    with pytest.raises(NetworkBlocked):
        socket.create_connection(("127.0.0.1", 9))
    with pytest.raises(NetworkBlocked):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(NetworkBlocked):
        socket.socket()
    with pytest.raises(NetworkBlocked):
        socket.getaddrinfo("example.org", 443)
    with pytest.raises(NetworkBlocked):
        urllib.request.urlopen("http://example.org/", timeout=1)
    a, b = socket.socketpair()  # local pipes (multiprocessing) still work
    a.sendall(b"ok")
    assert b.recv(2) == b"ok"
    a.close(), b.close()
    assert len(no_network) == 5
    no_network.clear()  # these were on purpose


def test_open_infer_explain_label_finetune_export_offline(no_network, tmp_path):
    from medviewer.ai.classifier import predict
    from medviewer.ai.datasets import SplitOptions, prepare
    from medviewer.ai.explain import explain
    from medviewer.ai.registry import ModelRegistry
    from medviewer.ai.train import TrainOptions, finetune
    from medviewer.dicom import load_volume, scan
    from medviewer.dicom.deid import anonymize
    from medviewer.dicom.export import write_volume
    from medviewer.labels.io import export_labels
    from medviewer.labels.schema import SliceKey
    from medviewer.labels.store import LabelStore
    from medviewer.resources import lesion_sample_dir
    from tests.ai.finetune_helpers import tiny_registry

    # open (the bundled lesion demonstration study: 44 slices of the sample head CT)
    (series,) = scan([lesion_sample_dir()]).all_series()
    volume = load_volume(series)
    n = volume.array.shape[0]
    assert volume.array.shape == (44, 256, 256)

    # infer with the bundled model
    registry = ModelRegistry()
    model = registry.load(modality="CT", device="cpu")
    result = predict(model, volume, batch_size=32)
    assert len(result.slices) == n
    assert abs(sum(result.slices[0].probabilities.values()) - 1) < 1e-4

    # explain one slice (Grad-CAM) and the model's attention
    k = n // 2
    for method in ("gradcam", "attention"):
        expl = explain(model, volume.array[k], method, invert=volume.invert, faithfulness=False)
        assert expl.map.shape == volume.array[k].shape and np.isfinite(expl.map).all()

    # label: 24 slices, two classes, in a real store
    store_path = tmp_path / "labels.sqlite"
    with LabelStore(store_path) as store, store.transaction():
        for i, ref in enumerate(series.slices[10:34]):
            store.set_label(
                SliceKey(series.study_uid, series.series_uid, ref.sop_instance_uid),
                "lesion" if i % 2 else "no lesion",
                annotator="alice",
                path_hint=ref.path,
            )

    # fine-tune a tiny model for one epoch
    tiny = tiny_registry(tmp_path)
    plan = prepare(
        store_path, "tiny-ct", split=SplitOptions(allow_single_patient=True), registry=tiny
    )
    tuned = finetune(
        plan,
        TrainOptions(epochs=1, head_epochs=1, lr=1e-2, batch_size=8, early_stopping=0),
        registry=tiny,
    )
    assert (tuned.entry.folder / "manifest.json").is_file()
    assert tiny.load(ref=tuned.entry.ref, device="cpu").manifest.ref == tuned.entry.ref

    # export: the volume, the labels, the new model package; then de-identify the study
    out = tmp_path / "exports"
    out.mkdir()
    write_volume(volume, out / "series.nii.gz")
    with LabelStore(store_path) as store:
        assert export_labels(store, out / "labels.csv") == 24
        assert export_labels(store, out / "labels.json") == 24
    assert json.loads((out / "labels.json").read_text())["labels"]
    manifest = json.loads((tuned.entry.folder / "manifest.json").read_text())
    assert manifest["lineage"]["base"]["name"] == "tiny-ct"
    deid = anonymize(lesion_sample_dir(), tmp_path / "anon")
    assert deid.written == n and deid.skipped == []
    assert no_network == []


NETWORK_MODULES = {
    "socket",
    "ssl",
    "http",
    "urllib.request",
    "urllib3",
    "requests",
    "httpx",
    "aiohttp",
    "ftplib",
    "smtplib",
    "xmlrpc",
    "huggingface_hub",
    "torch.hub",
    "pynetdicom",
}


# The hospital DICOM network lives in medviewer/net alone (pynetdicom, to the nodes the user
# configured); medviewer/testing/orthanc.py drives the tests' PACS on the loopback.
NETWORK_PLACES = ("medviewer/net/", "medviewer/testing/orthanc.py")


def test_no_medviewer_module_imports_a_network_library():
    """A second, static guard: outside the DICOM network package, the package's own imports
    name no network library."""
    found = []
    for path in sorted((REPO / "medviewer").rglob("*.py")):
        if str(path.relative_to(REPO)).startswith(NETWORK_PLACES):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if any(name == m or name.startswith(m + ".") for m in NETWORK_MODULES):
                    found.append(f"{path.relative_to(REPO)}:{node.lineno} imports {name}")
    assert found == []


def test_with_no_node_configured_the_network_package_opens_no_socket(
    no_network, tmp_path, monkeypatch
):
    """Loading the (empty) node settings and everything a window would ask of them."""
    import importlib

    monkeypatch.setenv("MEDVIEWER_CONFIG_DIR", str(tmp_path))
    for name in ("nodes", "association", "verify", "query", "retrieve", "send", "receiver"):
        importlib.import_module(f"medviewer.net.{name}")
    from medviewer.net.nodes import load_config

    config, warnings = load_config()
    assert warnings == [] and not config.configured and config.callers() == ()
