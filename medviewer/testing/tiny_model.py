"""Write small but real model packages for tests and benchmarks (random weights, seeded)."""

from __future__ import annotations

import json
from pathlib import Path


def make_package(
    folder: str | Path,
    *,
    name: str = "tiny-ct",
    version: str = "1.0.0",
    architecture: str = "attention_cnn",
    classes=("no lesion", "lesion"),
    input_size=(64, 64),
    channels: int = 3,
    windows=((40.0, 80.0), (75.0, 215.0), (600.0, 2800.0)),
    seed: int = 0,
    modalities=("CT",),
    state_dict=None,
    fmt: str = "safetensors",
) -> Path:
    """Create ``folder`` holding manifest.json, weights and MODEL_CARD.md; returns ``folder``."""
    import torch

    from medviewer.ai.builders import build
    from medviewer.ai.package import sha256_of

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if state_dict is None:
        torch.manual_seed(seed)
        net = build(architecture, channels, len(classes))
        state_dict = {k: v.contiguous() for k, v in net.state_dict().items()}
    if fmt == "safetensors":
        from safetensors.torch import save_file

        weights = folder / "weights.safetensors"
        save_file(state_dict, str(weights))
    else:
        weights = folder / "weights.pt"
        torch.save(state_dict, str(weights))
    cam_layer = {
        "attention_cnn": "features",
        "densenet121": "features",
        "cbam_resnet": "stage3",
        "lesion_evidence": "fuse",
    }.get(architecture, "layer4" if architecture.startswith("resnet") else "features")
    attention_layer = {
        "attention_cnn": "attention",
        "cbam_resnet": "stage3.1.spatial.map",
        "lesion_evidence": "attention",
    }.get(architecture)
    manifest = {
        "schema_version": 1,
        "name": name,
        "version": version,
        "architecture": architecture,
        "classes": list(classes),
        "input": {"size": list(input_size), "channels": channels},
        "preprocessing": {
            "kind": "ct_windows",
            "windows": [list(w) for w in windows][: channels if len(windows) > 1 else 1],
            "invert_monochrome1": True,
        },
        "cam_target_layer": cam_layer,
        "attention_layer": attention_layer,
        "aggregation": "max",
        "weights": {"file": weights.name, "sha256": sha256_of(weights)},
        "modalities": list(modalities),
        "training_data": "none: random weights for tests",
        "metrics": {},
        "licence": "test fixture",
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (folder / "MODEL_CARD.md").write_text(f"# {name} {version}\n\nRandom weights, for tests.\n")
    return folder
