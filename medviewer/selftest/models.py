"""Selftest checks of the AI stack: torch and its device, the bundled model packages (sha256,
then each classifies the sample study), and Grad-CAM / attention maps of the sample slice.

torch loads inside the checks, never when this module is imported.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

from medviewer.selftest.runner import REINSTALL, Check, CheckFailed, Context

MODEL_SLICES = 24
"""About how many evenly spaced sample slices each bundled model classifies."""


def check_torch(ctx: Context) -> tuple[str, dict]:
    import numpy as np
    import torch

    from medviewer.ai.device import device_label, pick_device

    device, notices = pick_device("auto")
    data: dict[str, Any] = {"torch": torch.__version__, "device": device}
    found = []
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        found.append(f"CUDA {torch.version.cuda}: {len(names)} GPU(s) ({', '.join(names)})")
        data["cuda"] = names
    else:
        found.append("no CUDA GPU")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("Apple MPS")
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    expected = float((values @ values.T).sum())
    for where in dict.fromkeys([device, "cpu"]):
        x = torch.from_numpy(values).to(where)
        got = float((x @ x.T).sum().cpu())
        if abs(got - expected) > 1e-3:
            raise CheckFailed(
                f"a small matrix product on {where} gave {got}, not {expected}",
                "update the GPU driver, or run models on the CPU (--device cpu, or the AI "
                "dock's device box)",
                data,
            )
    ctx.device = device
    note = f"; {'; '.join(notices)}" if notices else ""
    return (
        f"torch {torch.__version__}, {'; '.join(found)}; models run on "
        f"{device_label(device)} (a test computation there is correct){note}",
        data,
    )


def bundled_entries():
    """(bundled models folder, its registry entries, the registry's problems with it)."""
    from medviewer.ai.registry import ModelRegistry

    registry = ModelRegistry()
    entries = [e for e in registry.entries() if e.bundled]
    root = str(registry.bundled_dir)
    problems = [p for p in registry.problems() if root in p]
    return registry.bundled_dir, entries, problems


def check_bundled_models(ctx: Context) -> str:
    folder, entries, problems = bundled_entries()
    if problems:
        raise CheckFailed("; ".join(problems), f"{REINSTALL}; never edit the files under models/")
    if not entries:
        raise CheckFailed(
            f"no bundled model packages in {folder}",
            f"{REINSTALL}; the models/ folder ships with it (or set MEDVIEWER_MODELS)",
        )
    return f"{len(entries)} in {folder}: {', '.join(e.ref for e in entries)}"


def model_check(entry) -> Check:
    """A check that ``entry``'s weights match their sha256 and it classifies the sample."""

    def run(ctx: Context) -> tuple[str, dict]:
        import numpy as np

        from medviewer.ai.classifier import predict
        from medviewer.ai.package import load_package

        model = load_package(entry.folder, ctx.device)  # checks the sha256 first
        if ctx.volume is None:
            raise CheckFailed(
                "sha256 matches, but nothing to classify: the sample study did not load "
                "(see 'sample study')",
                "fix the sample study check first",
            )
        full = ctx.volume.array.shape[0]
        step = max(1, math.ceil(full / MODEL_SLICES))
        volume = dataclasses.replace(ctx.volume, array=ctx.volume.array[::step], loaded=None)
        n = volume.array.shape[0]
        start = time.perf_counter()
        res = predict(model, volume)
        seconds = time.perf_counter() - start
        probs = np.array([[p.probabilities[c] for c in res.classes] for p in res.slices])
        if (
            len(res.slices) != n
            or not np.isfinite(probs).all()
            or probs.min() < 0
            or probs.max() > 1
        ):
            raise CheckFailed(
                f"classified {len(res.slices)} of {n} slices, probabilities "
                f"{probs.min() if probs.size else '-'}..{probs.max() if probs.size else '-'}",
                f"the model package {entry.folder} does not work here: {REINSTALL}",
            )
        ctx.models.append(model)
        return (
            f"sha256 {model.sha256[:12]}… matches; classified {n} of the {full} sample "
            f"slices (every {step}) on {model.device} in {seconds:.1f} s (series: {res.top} "
            f"{res.probabilities[res.top]:.2f}, {res.method})",
            {"sha256": model.sha256, "top": res.top, "device": str(model.device)},
        )

    return Check(
        f"model {entry.ref}",
        run,
        f"the model package {entry.folder} is damaged: {REINSTALL}; never edit its files",
    )


def check_explanations(ctx: Context) -> str:
    import numpy as np

    from medviewer.ai.explain import METHOD_LABELS, available_methods, explain

    if not ctx.models or ctx.volume is None:
        raise CheckFailed(
            "not tried: no bundled model classified the sample (see the model checks)",
            "fix the model checks first",
        )
    done = []
    k = ctx.volume.array.shape[0] // 2
    values = ctx.volume.array[k]
    for model in ctx.models:
        methods = ["gradcam"] + [m for m in ("attention",) if available_methods(model)[m] is None]
        for method in methods:
            expl = explain(model, values, method, invert=ctx.volume.invert, faithfulness=False)
            heat = expl.map
            if (
                heat.shape != values.shape[:2]
                or not np.isfinite(heat).all()
                or heat.min() < 0
                or heat.max() > 1
            ):
                raise CheckFailed(
                    f"{METHOD_LABELS[method]} of {model.manifest.ref} gave a {heat.shape} map "
                    f"in [{heat.min():.3g}, {heat.max():.3g}], not {values.shape[:2]} in [0, 1]",
                    f"{REINSTALL} (grad-cam {METHOD_LABELS[method]} is not working)",
                )
            done.append(f"{METHOD_LABELS[method]} of {model.manifest.ref}")
    return (
        f"{', '.join(done)} on sample slice {k}: {values.shape[0]}x{values.shape[1]} maps in [0, 1]"
    )
