"""Shared pieces of the AI tests: isolated model folders, a small CT series, package surgery."""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

WINDOWS = ((40.0, 80.0), (75.0, 215.0), (600.0, 2800.0))  # make_package's default CT windows
BN_SCALE = 1.0 / math.sqrt(1.0 + 1e-5)  # eval BatchNorm with running_var 1


@pytest.fixture(autouse=True)
def _isolated_models(tmp_path_factory, monkeypatch):
    """No test sees the real bundled models or the user's data folder."""
    monkeypatch.setenv("MEDVIEWER_MODELS", str(tmp_path_factory.mktemp("no-bundled-models")))
    monkeypatch.setenv("MEDVIEWER_DATA_DIR", str(tmp_path_factory.mktemp("no-user-data")))


# -- series ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def ct_folder(tmp_path_factory) -> Path:
    """A 6-slice synthetic head CT, 48 x 48, files shuffled on disk."""
    from medviewer.testing.synthetic import write_series

    folder = tmp_path_factory.mktemp("ct") / "series"
    write_series(folder, n_slices=6, rows=48, cols=48)
    return folder


@pytest.fixture(scope="session")
def ct_volume(ct_folder):
    """The loaded CT volume. Shared: never modify it, use dataclasses.replace for variants."""
    from medviewer.dicom import load_volume, scan

    return load_volume(scan([str(ct_folder)]).all_series()[0])


def with_values(volume, values: np.ndarray, modality: str | None = None):
    """A copy of ``volume`` holding ``values`` (and another modality)."""
    series = volume.series if modality is None else replace(volume.series, modality=modality)
    return replace(volume, array=values, series=series, loaded=None)


# -- packages ----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def tiny_pkg(tmp_path_factory) -> Path:
    """A valid attention_cnn package (3 CT windows, 2 classes). Shared: never modify it."""
    from medviewer.testing.tiny_model import make_package

    return make_package(tmp_path_factory.mktemp("pkg") / "tiny-ct" / "1.0.0", seed=1)


@pytest.fixture
def tiny_model(tiny_pkg):
    """A fresh LoadedModel of :func:`tiny_pkg` on the CPU (tests may move or patch it)."""
    from medviewer.ai.package import load_package

    return load_package(tiny_pkg)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def snapshot(*roots: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``roots``: path -> (sha256, mtime_ns)."""
    out = {}
    for root in roots:
        root = Path(root)
        if not root.exists():
            continue
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for p in files:
            out[str(p)] = (sha256(p), os.stat(p).st_mtime_ns)
    return out


def edit_manifest(folder: Path, change) -> None:
    """Rewrite ``folder/manifest.json`` after ``change(data)`` edited the dict in place."""
    path = Path(folder) / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def rehash(folder: Path) -> None:
    """Make the manifest's sha256 match its (replaced) weights file."""

    def change(data):
        data["weights"]["sha256"] = sha256(Path(folder) / data["weights"]["file"])

    edit_manifest(folder, change)


class _Exploit:
    """Unpickling this runs a shell command (what a malicious .pt would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > '{self.marker}'",))


def make_exploit_package(folder: Path, marker: Path) -> Path:
    """A package whose weights.pt (correct sha256) would run code if unpickled unsafely."""
    import torch

    from medviewer.testing.tiny_model import make_package

    make_package(folder, fmt="pt", name="evil", version="6.6.6")
    torch.save({"features.0.0.weight": _Exploit(marker)}, str(Path(folder) / "weights.pt"))
    rehash(folder)
    return Path(folder)


def known_answer_state(lesion_gain: float = 4.0, bias=(0.5, -1.0)) -> dict:
    """attention_cnn (3 channels, 2 classes) weights with a closed-form output.

    Every conv passes the mean of the input channels through the centre tap of feature channel
    0 (padding never reaches the centre tap); every other weight is zero, BatchNorm is the
    identity up to ``BN_SCALE`` and the attention gate is a constant 0.5. For a constant input
    of channel mean ``m`` the pooled feature is ``m * BN_SCALE**8`` and the logits are
    ``(bias[0], bias[1] + lesion_gain * m * BN_SCALE**8)``.
    """
    import torch

    from medviewer.ai.builders import build

    net = build("attention_cnn", 3, 2)
    state = {k: torch.zeros_like(v) for k, v in net.state_dict().items()}
    for b in range(4):
        for conv, bn in ((0, 1), (3, 4)):
            w = state[f"features.{b}.{conv}.weight"]
            if b == 0 and conv == 0:
                w[0, :, 1, 1] = 1.0 / 3.0
            else:
                w[0, 0, 1, 1] = 1.0
            state[f"features.{b}.{bn}.weight"].fill_(1.0)
            state[f"features.{b}.{bn}.running_var"].fill_(1.0)
    state["classifier.weight"][1, 0] = lesion_gain
    state["classifier.bias"][:] = torch.tensor(bias)
    return {k: v.contiguous() for k, v in state.items()}


def known_answer(hu: float, lesion_gain: float = 4.0, bias=(0.5, -1.0)) -> dict[str, float]:
    """The exact probabilities :func:`known_answer_state` gives a constant slice of ``hu``."""
    chans = [min(max((hu - (c - w / 2.0)) / w, 0.0), 1.0) for c, w in WINDOWS]
    f = sum(chans) / 3.0 * BN_SCALE**8
    logits = np.array([bias[0], bias[1] + lesion_gain * f])
    p = np.exp(logits - logits.max())
    p /= p.sum()
    return {"no lesion": float(p[0]), "lesion": float(p[1])}
