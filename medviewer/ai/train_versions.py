"""Saving a fine-tuned version: its manifest fields (lineage: base, label snapshot, split,
options, history), its MODEL_CARD.md, and the atomic write into a ``.tmp-*`` folder of the
user models folder renamed to ``<name>/<version>`` only when complete (never over an old
version; a new version is never activated by itself)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from medviewer.ai.datasets import DataPlan
from medviewer.ai.registry import ModelEntry
from medviewer.ai.train_options import TrainOptions
from medviewer.errors import ModelError


def version_fields(
    base_entry,
    plan: DataPlan,
    options: TrainOptions,
    metrics: dict,
    *,
    temperature: float,
    device: str,
    world_size: int,
    head: str,
    history: list,
) -> dict:
    """The manifest fields of the new version: the base's, with the plan's classes, the fitted
    temperature, ``metrics`` (``{"base": ..., "new": ...}``) and the lineage."""
    m = base_entry.manifest
    lineage = {
        "base": {"name": m.name, "version": m.version, "sha256": m.sha256},
        "label_snapshot": plan.label_snapshot,
        "annotators": list(plan.annotators),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "split": {
            "train": len(plan.train),
            "val": len(plan.val),
            "patients_train": plan.patients.get("train", 0),
            "patients_val": plan.patients.get("val", 0),
            "counts": plan.counts,
            "single_patient": plan.single_patient,
            **asdict(plan.split),
        },
        "filters": {**asdict(plan.filters), "annotators": list(plan.filters.annotators)},
        "class_map": dict(plan.class_map),
        "added_classes": list(plan.added_classes),
        "missing": len(plan.missing),
        "options": asdict(options),
        "device": device,
        "world_size": world_size,
        "head": head,
        "history": [asdict(h) for h in history],
    }
    return {
        **m.to_dict(),
        "classes": list(plan.classes),
        "temperature": temperature,
        "metrics": metrics,
        "lineage": lineage,
        "training_data": (
            f"fine-tuned from {m.ref} on {len(plan.train) + len(plan.val)} locally labeled "
            f"slice(s) (label snapshot {plan.label_snapshot[:12]}); base: {m.training_data}"
        ),
        "description": (
            f"{m.name} fine-tuned from {m.ref} on local labels ({', '.join(plan.classes)}). "
            "Research use only, not for diagnosis."
        ),
    }


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def model_card(manifest, base, plan: DataPlan, options: TrainOptions, metrics: dict) -> str:
    """MODEL_CARD.md of a fine-tuned version."""
    b, n = metrics["base"], metrics["new"]
    lines = [
        f"# {manifest.name} {manifest.version} — fine-tuned from {base.ref}",
        "",
        "> **Research use only. Not for diagnosis.** Fine-tuned on local labels; check it on",
        "> your own held-out patients before relying on it for anything.",
        "",
        "## What it was fine-tuned from",
        f"- Base model: {base.ref} (sha256 {base.sha256}); its card stays as it was.",
        f"- Classes: {', '.join(manifest.classes)}"
        + (f" (added: {', '.join(plan.added_classes)})" if plan.added_classes else ""),
        f"- Mode: {options.mode}, {options.epochs} epoch(s), lr {options.lr:g}, batch "
        f"{options.batch_size}, optimizer {options.optimizer}, loss {options.loss}, "
        f"augmentation {'on' if options.augment else 'off'}, seed {options.seed}.",
        "",
        "## What it was fine-tuned on",
        f"- Label snapshot sha256: {plan.label_snapshot}",
        f"- Annotators: {', '.join(plan.annotators) or '-'}",
        f"- Slices: {len(plan.train)} training, {len(plan.val)} validation; patients "
        f"{plan.patients.get('train', 0)} / {plan.patients.get('val', 0)}.",
        "",
        "| class | train | val |",
        "|---|---:|---:|",
    ]
    for c in manifest.classes:
        lines.append(f"| {c} | {plan.counts['train'].get(c, 0)} | {plan.counts['val'].get(c, 0)} |")
    if plan.missing:
        lines.append(f"\n{len(plan.missing)} labeled slice(s) were not found on disk and left out.")
    lines += [
        "",
        "## Base vs new on the same validation slices",
        f"{n['n']} slices; macro over the classes present in validation.",
        "",
        "| metric | base | new |",
        "|---|---:|---:|",
    ]
    for key in ("accuracy", "macro_f1", "macro_auc", "ece"):
        lines.append(f"| {key} | {_fmt(b.get(key))} | {_fmt(n.get(key))} |")
    lines.append(f"| temperature | {b['temperature']:.3f} | {n['temperature']:.3f} |")
    if b.get("note"):
        lines += ["", f"Note: {b['note']}"]
    lines += [
        "",
        "## Caveats",
        "- The temperature was fitted on the same validation slices these numbers come from, "
        "so the calibration (ECE) of the new model is optimistic.",
    ]
    lines += [f"- {w}" for w in plan.warnings]
    lines += ["- Not for diagnosis.", ""]
    return "\n".join(lines)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fp:
        fp.write(data)
        fp.flush()
        os.fsync(fp.fileno())


def save_version(registry, base_entry, state: dict, manifest_fields: dict, card) -> ModelEntry:
    """Write a new immutable user version atomically: a ``.tmp-*`` folder in the user models
    folder, renamed to ``<name>/<version>`` once every file is on disk."""
    from safetensors.torch import save_file

    from medviewer.ai.manifest import parse_manifest
    from medviewer.ai.package import sha256_of

    name = base_entry.name
    registry.clean_stale_temporary()
    # a new version must not become active by itself: pin what is active now
    for mod in base_entry.manifest.modalities:
        if mod not in registry.active_refs():
            current = registry.active(mod)
            if current is not None:
                registry.set_active(mod, current.ref)
    root = registry.user_dir
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-finetune-", dir=root))
    except OSError as exc:
        raise ModelError(
            f"cannot write to the user models folder {root}: {exc.strerror or exc}; check free "
            "space and permissions"
        ) from None
    try:
        weights = tmp / "weights.safetensors"
        save_file(state, str(weights), metadata={"format": "pt"})
        with open(weights, "rb+") as fp:
            os.fsync(fp.fileno())
        sha = sha256_of(weights)
        for _attempt in range(20):
            version = registry.next_version(name, base_entry.version)
            data = {**manifest_fields, "name": name, "version": version}
            data["weights"] = {"file": "weights.safetensors", "sha256": sha}
            manifest = parse_manifest(data, "fine-tuned manifest")
            _write_file(tmp / "manifest.json", (json.dumps(data, indent=2) + "\n").encode())
            _write_file(tmp / "MODEL_CARD.md", card(manifest).encode("utf-8"))
            _fsync_dir(tmp)
            dest = registry.version_folder(name, version)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.exists():
                continue  # taken meanwhile (another run): next version
            try:
                os.rename(tmp, dest)
            except OSError:
                if dest.exists():
                    continue
                raise
            _fsync_dir(dest.parent)
            tmp = None
            break
        else:
            raise ModelError(f"no free version for {name} in {root}; remove old versions")
    except OSError as exc:
        raise ModelError(
            f"cannot save the fine-tuned model in {root}: {exc.strerror or exc}; check free "
            "space and permissions (nothing was installed)"
        ) from None
    finally:
        if tmp is not None and Path(tmp).exists():
            shutil.rmtree(tmp, ignore_errors=True)
    entry = registry.find(f"{name}:{version}")
    if entry.folder.resolve() != dest.resolve():
        raise ModelError(f"the saved model {name}:{version} is not the one listed ({entry.folder})")
    return entry
