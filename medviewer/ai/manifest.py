"""The model card schema (``manifest.json``) and its validation. No torch here.

Every error names the field, what was expected and what was found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medviewer.errors import ModelError

SCHEMA_VERSION = 1
ARCHITECTURES = (
    "resnet18",
    "resnet34",
    "resnet50",
    "densenet121",
    "efficientnet_b0",
    "convnext_tiny",
    "attention_cnn",
    "cbam_resnet",
    "lesion_evidence",
)
AGGREGATIONS = ("max", "mean", "abnormal_max")
PREPROCESSING_KINDS = ("ct_windows", "percentile")


@dataclass(frozen=True)
class Preprocessing:
    """How a slice becomes the model's input tensor."""

    kind: str
    windows: tuple[tuple[float, float], ...] = ()
    """(center, width) in HU per channel, for ``ct_windows``."""
    low: float = 1.0
    high: float = 99.0
    """Percentiles mapped to 0 and 1, for ``percentile``."""
    invert_monochrome1: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "windows": [list(w) for w in self.windows],
            "low": self.low,
            "high": self.high,
            "invert_monochrome1": self.invert_monochrome1,
        }


@dataclass(frozen=True)
class Manifest:
    """A validated model card."""

    name: str
    version: str
    architecture: str
    classes: tuple[str, ...]
    input_size: tuple[int, int]
    channels: int
    preprocessing: Preprocessing
    cam_target_layer: str
    weights_file: str
    sha256: str
    attention_layer: str | None = None
    aggregation: str = "max"
    modalities: tuple[str, ...] = ()
    body_parts: tuple[str, ...] = ()
    """BodyPartExamined values the model was made for (empty: any)."""
    intensity_check: dict | None = None
    """``{"hu_range": [lo, hi], "min_fraction": f, "meaning": text}``: at least ``f`` of the
    voxels above -500 HU should lie in ``hu_range``, else the input looks out of scope."""
    temperature: float = 1.0
    """Logits are divided by this before the softmax (temperature scaling calibration)."""
    training_data: str = ""
    metrics: dict = field(default_factory=dict)
    licence: str = ""
    description: str = ""
    lineage: dict = field(default_factory=dict)
    """For a fine-tuned model: what it was made from (base name / version / sha256, label
    snapshot, split counts, options, date, annotators); empty for a model trained from scratch."""

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "version": self.version,
            "architecture": self.architecture,
            "classes": list(self.classes),
            "input": {"size": list(self.input_size), "channels": self.channels},
            "preprocessing": self.preprocessing.to_dict(),
            "cam_target_layer": self.cam_target_layer,
            "attention_layer": self.attention_layer,
            "aggregation": self.aggregation,
            "weights": {"file": self.weights_file, "sha256": self.sha256},
            "modalities": list(self.modalities),
            "body_parts": list(self.body_parts),
            "temperature": self.temperature,
            "intensity_check": self.intensity_check,
            "training_data": self.training_data,
            "metrics": self.metrics,
            "licence": self.licence,
            "description": self.description,
            **({"lineage": self.lineage} if self.lineage else {}),
        }


def _err(where: str, field_name: str, expected: str, got: Any) -> ModelError:
    shown = repr(got)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ModelError(f"{where}: field '{field_name}' must be {expected} (found {shown})")


def _get(data: dict, key: str, where: str, expected: str, check, default=...):
    if key not in data:
        if default is not ...:
            return default
        raise ModelError(f"{where}: required field '{key}' is missing ({expected})")
    value = data[key]
    if not check(value):
        raise _err(where, key, expected, value)
    return value


def _nonempty_str(v) -> bool:
    return isinstance(v, str) and bool(v.strip())


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def parse_manifest(data: Any, where: str = "manifest.json") -> Manifest:
    """Validate a decoded manifest and return it as a :class:`Manifest`."""
    if not isinstance(data, dict):
        raise ModelError(f"{where}: must be a JSON object, found {type(data).__name__}")
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise _err(where, "schema_version", f"{SCHEMA_VERSION}", version)
    name = _get(data, "name", where, "a non-empty string", _nonempty_str)
    ver = _get(data, "version", where, "a non-empty string such as '1.0.0'", _nonempty_str)
    arch = _get(
        data,
        "architecture",
        where,
        f"one of {', '.join(ARCHITECTURES)}",
        lambda v: v in ARCHITECTURES,
    )
    classes = _get(
        data,
        "classes",
        where,
        "a list of at least two distinct class names",
        lambda v: (
            isinstance(v, list)
            and len(v) >= 2
            and all(_nonempty_str(c) for c in v)
            and len(set(v)) == len(v)
        ),
    )
    inp = _get(
        data, "input", where, "an object with 'size' and 'channels'", lambda v: isinstance(v, dict)
    )
    size = _get(
        inp,
        "size",
        f"{where} input",
        "[height, width] of positive integers",
        lambda v: (
            isinstance(v, list)
            and len(v) == 2
            and all(isinstance(x, int) and 8 <= x <= 4096 for x in v)
        ),
    )
    channels = _get(inp, "channels", f"{where} input", "1 or 3", lambda v: v in (1, 3))
    pre_raw = _get(
        data, "preprocessing", where, "an object with 'kind'", lambda v: isinstance(v, dict)
    )
    kind = _get(
        pre_raw,
        "kind",
        f"{where} preprocessing",
        f"one of {', '.join(PREPROCESSING_KINDS)}",
        lambda v: v in PREPROCESSING_KINDS,
    )
    windows: tuple = ()
    if kind == "ct_windows":
        raw = _get(
            pre_raw,
            "windows",
            f"{where} preprocessing",
            "a list of [center, width] (HU), one per input channel",
            lambda v: (
                isinstance(v, list)
                and v
                and all(
                    isinstance(w, list)
                    and len(w) == 2
                    and _number(w[0])
                    and _number(w[1])
                    and w[1] > 0
                    for w in v
                )
            ),
        )
        windows = tuple((float(c), float(w)) for c, w in raw)
        if len(windows) not in (1, channels):
            raise _err(
                where,
                "preprocessing.windows",
                f"1 or {channels} windows (one per input channel)",
                raw,
            )
    low = float(
        _get(
            pre_raw,
            "low",
            f"{where} preprocessing",
            "a percentile 0..100",
            lambda v: _number(v) and 0 <= v < 100,
            1.0,
        )
    )
    high = float(
        _get(
            pre_raw,
            "high",
            f"{where} preprocessing",
            "a percentile above 'low'",
            lambda v: _number(v) and low < v <= 100,
            99.0,
        )
    )
    pre = Preprocessing(kind, windows, low, high, bool(pre_raw.get("invert_monochrome1", True)))
    cam_layer = _get(
        data, "cam_target_layer", where, "the dotted name of a module, e.g. 'layer4'", _nonempty_str
    )
    attention = _get(
        data,
        "attention_layer",
        where,
        "a module name or null",
        lambda v: v is None or _nonempty_str(v),
        None,
    )
    aggregation = _get(
        data,
        "aggregation",
        where,
        f"one of {', '.join(AGGREGATIONS)}",
        lambda v: v in AGGREGATIONS,
        "max",
    )
    weights = _get(
        data, "weights", where, "an object with 'file' and 'sha256'", lambda v: isinstance(v, dict)
    )
    wfile = _get(
        weights,
        "file",
        f"{where} weights",
        "a file name inside the package",
        lambda v: _nonempty_str(v) and "/" not in v and "\\" not in v and v != "..",
    )
    sha = _get(
        weights,
        "sha256",
        f"{where} weights",
        "64 hexadecimal characters",
        lambda v: (
            isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v.lower())
        ),
    )
    modalities = _get(
        data,
        "modalities",
        where,
        "a list of DICOM modality codes such as 'CT'",
        lambda v: isinstance(v, list) and all(_nonempty_str(m) for m in v),
        [],
    )
    body_parts = _get(
        data,
        "body_parts",
        where,
        "a list of DICOM BodyPartExamined values such as 'HEAD'",
        lambda v: isinstance(v, list) and all(_nonempty_str(b) for b in v),
        [],
    )
    temperature = _get(
        data,
        "temperature",
        where,
        "a positive number (logits are divided by it before the softmax)",
        lambda v: _number(v) and 0.05 <= v <= 20,
        1.0,
    )
    check = _get(
        data,
        "intensity_check",
        where,
        "null or an object with 'hu_range' [low, high], 'min_fraction' (0..1) and 'meaning'",
        lambda v: (
            v is None
            or (
                isinstance(v, dict)
                and isinstance(v.get("hu_range"), list)
                and len(v["hu_range"]) == 2
                and all(_number(x) for x in v["hu_range"])
                and v["hu_range"][0] < v["hu_range"][1]
                and _number(v.get("min_fraction"))
                and 0 < v["min_fraction"] < 1
            )
        ),
        None,
    )
    return Manifest(
        name=name.strip(),
        version=ver.strip(),
        architecture=arch,
        classes=tuple(classes),
        input_size=(size[0], size[1]),
        channels=channels,
        preprocessing=pre,
        cam_target_layer=cam_layer,
        weights_file=wfile,
        sha256=sha.lower(),
        attention_layer=attention,
        aggregation=aggregation,
        modalities=tuple(m.upper() for m in modalities),
        body_parts=tuple(b.strip().upper() for b in body_parts),
        temperature=float(temperature),
        intensity_check=dict(check) if check else None,
        training_data=str(data.get("training_data", "")),
        metrics=dict(data.get("metrics") or {}),
        licence=str(data.get("licence", "")),
        description=str(data.get("description", "")),
        lineage=dict(data.get("lineage") or {}) if isinstance(data.get("lineage"), dict) else {},
    )


def read_manifest(folder: str | Path) -> Manifest:
    """Read and validate ``folder/manifest.json``."""
    path = Path(folder) / "manifest.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(f"{folder}: no manifest.json — not a model package") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return parse_manifest(data, str(path))
