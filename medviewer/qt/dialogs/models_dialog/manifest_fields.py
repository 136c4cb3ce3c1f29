"""What an installed version's manifest.json says beyond the Manifest class: key metrics (new and
base), lineage, the base it was trained from, the label counts; number formatting. Qt-free."""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)

METRIC_KEYS = ("accuracy", "macro_f1", "macro_auc", "ece")
METRIC_NAMES = {
    "accuracy": "Accuracy",
    "macro_f1": "Macro F1",
    "macro_auc": "Macro AUC",
    "ece": "ECE",
}


def raw_manifest(entry) -> dict:
    """The package's manifest.json as written (with fields the Manifest class does not keep,
    such as the lineage of a fine-tuned version); {} when unreadable."""
    try:
        data = json.loads((Path(entry.folder) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.debug("%s: manifest not read: %s", entry.folder, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def split_metrics(raw: dict) -> tuple[dict, dict]:
    """(new, base) key metrics of a manifest: a fine-tuned version has ``{"base", "new"}``
    metrics; a bundled one flat ones (``test_macro_f1`` ...). Missing values are left out."""
    metrics = raw.get("metrics") if isinstance(raw.get("metrics"), dict) else {}
    if isinstance(metrics.get("new"), dict):
        new, base = metrics["new"], metrics.get("base") or {}
    else:
        new, base = metrics, {}

    def pick(d: dict) -> dict:
        out = {}
        for key in METRIC_KEYS:
            for name in (key, f"test_{key}", f"val_{key}"):
                value = _number(d.get(name)) if isinstance(d, dict) else None
                if value is not None:
                    out[key] = value
                    break
        if isinstance(d, dict) and _number(d.get("n")) is not None:
            out["n"] = int(d["n"])
        return out

    return pick(new), pick(base if isinstance(base, dict) else {})


def lineage_of(raw: dict) -> dict:
    lineage = raw.get("lineage")
    return lineage if isinstance(lineage, dict) else {}


def base_text(lineage: dict) -> str:
    base = lineage.get("base")
    if isinstance(base, dict):
        name, version = base.get("name"), base.get("version")
        return f"{name}:{version}" if name and version else str(name or "")
    if base:
        return str(base)
    name, version = lineage.get("base_name"), lineage.get("base_version")
    return f"{name}:{version}" if name and version else ""


def label_counts(lineage: dict) -> dict[str, dict[str, int]]:
    """{"train": {cls: n}, "val": {cls: n}} from a lineage, whatever its exact shape."""
    for key in ("counts", "split", "label_counts"):
        value = lineage.get(key)
        if isinstance(value, dict):
            inner = value.get("counts") if isinstance(value.get("counts"), dict) else value
            if isinstance(inner.get("train"), dict):
                return {
                    side: {str(k): int(v) for k, v in (inner.get(side) or {}).items()}
                    for side in ("train", "val")
                }
    return {}


def fmt_metric(value) -> str:
    """A metric with three decimals, or an en dash when missing."""
    return "–" if value is None else f"{value:.3f}"


def esc(text) -> str:
    """``text`` escaped for rich text."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
