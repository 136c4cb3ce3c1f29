"""``medviewer selftest``: can this installation do its job? Checked in-process, in seconds.

Each check is a function of a shared :class:`Context` that returns a one-line detail (or raises
:class:`CheckFailed` with what is wrong and what to do). :func:`run_selftest` runs them in
order, times each, and turns anything a check raises into a FAIL with the error's text, so the
report always completes. Checks run in-process (never ``sys.executable -m ...``), so they work
the same in a PyInstaller build; only the decoder-process check starts a child, exactly as the
viewer does when it decodes.

This module holds the checks that need no Qt; the window check lives in
``medviewer.qt.selftest`` and the command line composes both (:func:`core_checks`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import logging
import math
import os
import platform
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medviewer import __version__

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 60.0
"""A check still running after this long is reported as a FAIL and left behind."""
MODEL_SLICES = 24
"""About how many evenly spaced sample slices each bundled model classifies."""

REINSTALL = "reinstall medviewer (the packaged build, or `pip install` of it in a fresh venv)"

PACKAGES = (
    # (distribution, module)
    ("numpy", "numpy"),
    ("scipy", "scipy"),
    ("pydicom", "pydicom"),
    ("pylibjpeg", "pylibjpeg"),
    ("pylibjpeg-libjpeg", "libjpeg"),
    ("pylibjpeg-openjpeg", "openjpeg"),
    ("pylibjpeg-rle", "rle"),
    ("python-gdcm", "gdcm"),
    ("SimpleITK", "SimpleITK"),
    ("torch", "torch"),
    ("torchvision", "torchvision"),
    ("grad-cam", "pytorch_grad_cam"),
    ("safetensors", "safetensors"),
    ("platformdirs", "platformdirs"),
)
"""What the core needs; the Qt packages are reported by the window check."""

REQUIRED_SYNTAXES = {
    "1.2.840.10008.1.2.4.50": "JPEG baseline",
    "1.2.840.10008.1.2.4.51": "JPEG extended",
    "1.2.840.10008.1.2.4.57": "JPEG lossless",
    "1.2.840.10008.1.2.4.70": "JPEG lossless SV1",
    "1.2.840.10008.1.2.4.80": "JPEG-LS lossless",
    "1.2.840.10008.1.2.4.81": "JPEG-LS near-lossless",
    "1.2.840.10008.1.2.4.90": "JPEG 2000 lossless",
    "1.2.840.10008.1.2.4.91": "JPEG 2000",
    "1.2.840.10008.1.2.5": "RLE lossless",
    "1.2.840.10008.1.2.1.99": "deflated explicit VR little endian",
}
"""Compressed transfer syntaxes the viewer promises to read (README, "How DICOM is read")."""
OPTIONAL_SYNTAXES = {
    "1.2.840.10008.1.2.4.201": "HTJ2K lossless",
    "1.2.840.10008.1.2.4.202": "HTJ2K lossless RPCL",
    "1.2.840.10008.1.2.4.203": "HTJ2K",
}


class CheckFailed(Exception):
    """A check's verdict: ``detail`` says what is wrong, ``hint`` what to do about it."""

    def __init__(self, detail: str, hint: str = "", data: dict | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.hint = hint
        self.data = data or {}


@dataclass
class Context:
    """What one check hands to the next (the device, the sample volume, loaded models)."""

    device: str = "cpu"
    volume: Any = None
    models: list = field(default_factory=list)


@dataclass(frozen=True)
class Check:
    """One named check: ``run(context)`` returns a detail, or ``(detail, data)``."""

    name: str
    run: Callable[[Context], Any]
    hint: str
    """What to do when it fails with an unexpected error (a CheckFailed brings its own)."""
    main_thread: bool = False
    """Run on the calling thread without a timeout (Qt must create its objects there)."""


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float
    hint: str = ""
    data: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
            "hint": self.hint,
            "data": self.data,
        }

    def line(self) -> str:
        """``PASS  name  detail (s)``; a failure adds `` — what to do: hint``."""
        text = f"{'PASS' if self.ok else 'FAIL'}  {self.name:<26} {self.detail}"
        if not self.ok and self.hint:
            text += f" — what to do: {self.hint}"
        return f"{text} [{self.seconds:.1f} s]"


@dataclass
class Report:
    checks: list[CheckResult]
    seconds: float

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "medviewer": __version__,
            "checks": [c.to_dict() for c in self.checks],
        }

    def summary(self) -> str:
        n = len(self.checks)
        failed = [c.name for c in self.checks if not c.ok]
        if not failed:
            return f"All {n} checks passed in {self.seconds:.1f} s."
        return (
            f"{len(failed)} of {n} checks FAILED ({', '.join(failed)}) in {self.seconds:.1f} s; "
            "each FAIL line says what to do."
        )


# -- running ----------------------------------------------------------------------------------
def _error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def _call(check: Check, ctx: Context) -> tuple[bool, str, str, dict]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # library chatter is not a verdict
            value = check.run(ctx)
    except CheckFailed as exc:
        return False, exc.detail, exc.hint or check.hint, exc.data
    except (Exception, SystemExit) as exc:
        log.debug("selftest check %r raised", check.name, exc_info=True)
        return False, f"unexpected error ({_error_text(exc)})", check.hint, {}
    if isinstance(value, tuple):
        detail, data = value
        return True, str(detail), "", dict(data)
    return True, str(value), "", {}


def run_check(check: Check, ctx: Context, timeout: float = CHECK_TIMEOUT_S) -> CheckResult:
    """Run one check; never raises. Off the main thread with ``timeout`` unless it needs it."""
    start = time.perf_counter()
    if check.main_thread:
        ok, detail, hint, data = _call(check, ctx)
    else:
        box: list = []
        worker = threading.Thread(
            target=lambda: box.append(_call(check, ctx)),
            name=f"selftest-{check.name}",
            daemon=True,
        )
        worker.start()
        worker.join(timeout)
        if box:
            ok, detail, hint, data = box[0]
        else:
            ok, detail, hint, data = (
                False,
                f"did not finish within {timeout:g} s (still running; result unknown)",
                check.hint,
                {},
            )
    result = CheckResult(check.name, ok, detail, time.perf_counter() - start, hint, data)
    log.log(logging.INFO if ok else logging.WARNING, "selftest %s", result.line())
    return result


def run_selftest(
    checks: list[Check],
    on_result: Callable[[CheckResult], None] | None = None,
    timeout: float = CHECK_TIMEOUT_S,
) -> Report:
    """Run ``checks`` in order (each gets the same :class:`Context`); the report."""
    start = time.perf_counter()
    ctx = Context()
    results = []
    for check in checks:
        result = run_check(check, ctx, timeout)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return Report(results, time.perf_counter() - start)


# -- the checks -------------------------------------------------------------------------------
def check_python(ctx: Context) -> str:
    frozen = ", frozen build" if getattr(sys, "frozen", False) else ""
    detail = (
        f"Python {platform.python_version()} ({platform.python_implementation()}) on "
        f"{platform.platform(terse=True)} {platform.machine()}, {os.cpu_count()} CPU(s); "
        f"medviewer {__version__}{frozen}"
    )
    if not (3, 11) <= sys.version_info[:2] < (3, 13):
        raise CheckFailed(
            f"{detail}: this Python is not supported (3.11 or 3.12 is needed)",
            "install medviewer with Python 3.11 or 3.12, or use the packaged build",
        )
    return detail


def package_version(distribution: str, module) -> str:
    """The installed version: package metadata, else the module's ``__version__``."""
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:  # frozen builds may leave the metadata out
        pass
    for attr in ("__version__", "version", "VERSION"):
        value = getattr(module, attr, None)
        if isinstance(value, str):
            return value
    version = getattr(getattr(module, "Version", None), "GetVersion", None)  # gdcm
    return str(version()) if callable(version) else "version unknown"


def import_packages(packages) -> tuple[list[str], list[str], dict]:
    """Import each ``(distribution, module)``: (found texts, failure texts, versions)."""
    found, failed, versions = [], [], {}
    for dist, module_name in packages:
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            failed.append(f"{dist} ({module_name}: {_error_text(exc)})")
            continue
        versions[dist] = package_version(dist, module)
        found.append(f"{dist} {versions[dist]}")
    return found, failed, versions


def check_packages(ctx: Context) -> tuple[str, dict]:
    found, failed, versions = import_packages(PACKAGES)
    if failed:
        raise CheckFailed(
            f"cannot import {'; '.join(failed)}",
            f"{REINSTALL}; a frozen build is missing these modules (add them to the spec)",
            {"versions": versions},
        )
    return ", ".join(found), {"versions": versions}


def check_decoders(ctx: Context) -> tuple[str, dict]:
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    table, missing, optional_missing, plugins = {}, [], [], set()
    for uid, label in (*REQUIRED_SYNTAXES.items(), *OPTIONAL_SYNTAXES.items()):
        try:
            decoder = get_decoder(UID(uid))
            available = bool(decoder.is_available)
            names = list(decoder.available_plugins)
        except NotImplementedError:
            available, names = False, []
        table[uid] = {"name": label, "available": available, "plugins": names}
        plugins.update(names)
        if not available:
            (missing if uid in REQUIRED_SYNTAXES else optional_missing).append(f"{label} ({uid})")
    data = {"syntaxes": table}
    if missing:
        raise CheckFailed(
            f"no decoder for {', '.join(missing)}",
            "install the pylibjpeg-libjpeg / -openjpeg / -rle and python-gdcm packages, or "
            f"{REINSTALL}",
            data,
        )
    extra = f"; not available: {', '.join(optional_missing)}" if optional_missing else "; HTJ2K too"
    return (
        f"all {len(REQUIRED_SYNTAXES)} compressed transfer syntaxes the viewer reads have a "
        f"decoder (plug-ins: {', '.join(sorted(plugins))}){extra}",
        data,
    )


def _sample_file() -> Path:
    from medviewer.resources import sample_study_dir

    folder = sample_study_dir()
    files = sorted(folder.glob("*.dcm")) if folder.is_dir() else []
    if not files:
        raise CheckFailed(
            f"the bundled sample study is missing: no DICOM files in {folder}",
            f"{REINSTALL}; the sample ships in resources/sample/cranium-ct",
        )
    return files[0]


def _tiny_dataset(arr, transfer_syntax: str):
    """An in-memory image data set holding ``arr`` (uint8 or int16, one frame)."""
    from pydicom import Dataset
    from pydicom.dataset import FileMetaDataset

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    bits = arr.dtype.itemsize * 8
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if arr.dtype.kind == "i" else 0
    return ds


def _decode_each(ds, label: str, expected, tolerance: float = 0.0) -> list[str]:
    """Decode ``ds`` with the viewer's decoder and each in-process plug-in; plug-ins used."""
    import numpy as np
    from pydicom.pixels import get_decoder
    from pydicom.pixels import pixel_array as decode

    from medviewer.dicom import decoders

    ts = ds.file_meta.TransferSyntaxUID
    results = {"viewer": decoders.pixel_array(ds, f"<{label}>")}
    names = [p for p in get_decoder(ts).available_plugins if p not in decoders.ISOLATED_PLUGINS]
    problems = []
    for name in names:
        try:
            results[name] = decode(ds, decoding_plugin=name)
        except Exception as exc:
            problems.append(f"{name} could not decode the {label} ({_error_text(exc)})")
    for name, arr in results.items():
        if arr.shape != expected.shape:
            problems.append(f"{name} decoded the {label} as {arr.shape}, not {expected.shape}")
        elif float(np.abs(arr.astype(np.float64) - expected).mean()) > tolerance:
            problems.append(f"{name} decoded the {label} to different pixels")
    if problems:
        raise CheckFailed(
            "; ".join(problems),
            f"a decoder plug-in is broken: {REINSTALL} (or remove the broken plug-in)",
        )
    return names


def check_decoding(ctx: Context) -> str:
    import numpy as np
    from pydicom import uid

    from medviewer.dicom import decoders

    path = _sample_file()
    ds = decoders.read_dataset(str(path))
    reference = decoders.pixel_array(ds, str(path))
    j2k = _decode_each(ds, "sample slice", reference)
    parts = [
        f"{uid.UID(ds.file_meta.TransferSyntaxUID).name} sample slice "
        f"{reference.shape[0]}x{reference.shape[1]} ({', '.join(j2k)} agree)"
    ]
    ramp = ((np.arange(32 * 40).reshape(32, 40) * 37) % 4000 - 1000).astype(np.int16)
    rle = _tiny_dataset(ramp, uid.ExplicitVRLittleEndian)
    rle.PixelData = ramp.tobytes()
    rle.compress(uid.RLELossless, ramp, encoding_plugin="pydicom", generate_instance_uid=False)
    parts.append(f"RLE round trip ({', '.join(_decode_each(rle, 'RLE image', ramp))})")
    try:
        from PIL import Image
    except ImportError:
        parts.append("JPEG baseline not tried (no Pillow to make a sample)")
    else:
        import io

        from pydicom.encaps import encapsulate

        y, x = np.mgrid[0:32, 0:48]
        gray = (x * 4 + y * 2).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(gray).save(buffer, format="JPEG", quality=95)
        jpeg = _tiny_dataset(gray, uid.JPEGBaseline8Bit)
        jpeg.PixelData = encapsulate([buffer.getvalue()])
        names = _decode_each(jpeg, "JPEG image", gray, tolerance=2.0)
        parts.append(f"JPEG baseline ({', '.join(names)})")
    return "decoded " + "; ".join(parts)


def decode_in_child(path: str, plugin: str) -> tuple[int, str, tuple, str]:
    """Child-process entry of :func:`check_decoder_processes`: (pid, plug-in, shape, sha256)."""
    from pydicom.pixels import pixel_array as decode

    from medviewer.dicom import decoders

    ds = decoders.read_dataset(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arr = decode(ds, decoding_plugin=plugin) if plugin else decoders.pixel_array(ds, path)
    digest = hashlib.sha256(arr.tobytes()).hexdigest()
    return os.getpid(), plugin or "default", tuple(arr.shape), digest


def check_decoder_processes(ctx: Context) -> str:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from pydicom.pixels import get_decoder

    from medviewer.dicom import decoders

    path = _sample_file()
    ds = decoders.read_dataset(str(path))
    expected = hashlib.sha256(decoders.pixel_array(ds, str(path)).tobytes()).hexdigest()
    available = get_decoder(ds.file_meta.TransferSyntaxUID).available_plugins
    isolated = [p for p in decoders.ISOLATED_PLUGINS if p in available]
    plugin = isolated[0] if isolated else ""
    start = time.perf_counter()
    try:
        context = multiprocessing.get_context("spawn")  # what the viewer's decoding uses
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            pid, used, shape, digest = pool.submit(decode_in_child, str(path), plugin).result(
                timeout=CHECK_TIMEOUT_S / 2
            )
    except BrokenProcessPool as exc:
        raise CheckFailed(
            f"the decoder process ended before it answered ({_error_text(exc)})",
            "a frozen build must call multiprocessing.freeze_support() first thing in its entry "
            "script; check that security software lets medviewer start itself",
        ) from None
    if digest != expected:
        raise CheckFailed(
            f"the decoder process ({used}) decoded the sample slice to different pixels",
            f"a decoder plug-in is broken: {REINSTALL}",
        )
    return (
        f"a spawned decoder process (pid {pid}) decoded the sample slice with {used} "
        f"({shape[0]}x{shape[1]}, same pixels) in {time.perf_counter() - start:.1f} s"
    )


def check_sample(ctx: Context) -> tuple[str, dict]:
    from medviewer.dicom import load_volume, scan
    from medviewer.resources import sample_study_dir

    folder = sample_study_dir()
    _sample_file()
    result = scan([folder])
    series = result.largest_series()
    if series is None:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in result.skipped[:2])
        raise CheckFailed(
            f"no image series in the sample study {folder} ({reasons or 'nothing found'})",
            f"{REINSTALL}; the sample files are damaged",
        )
    start = time.perf_counter()
    volume = load_volume(series)
    seconds = time.perf_counter() - start
    unreadable = [w.message for w in volume.warnings if w.code == "slice_unreadable"]
    if unreadable:
        raise CheckFailed(
            f"the sample study did not load cleanly: {'; '.join(unreadable)}",
            f"{REINSTALL}; see the decoder checks above",
        )
    ctx.volume = volume
    n, rows, cols = volume.array.shape[:3]
    syntax = ", ".join(series.transfer_syntaxes)
    return (
        f"{folder.name}: {n} slices of {rows}x{cols} {volume.array.dtype} ({series.modality}, "
        f"{syntax}) loaded in {seconds:.1f} s",
        {"shape": list(volume.array.shape), "transfer_syntaxes": list(series.transfer_syntaxes)},
    )


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


def _bundled_entries():
    from medviewer.ai.registry import ModelRegistry

    registry = ModelRegistry()
    entries = [e for e in registry.entries() if e.bundled]
    root = str(registry.bundled_dir)
    problems = [p for p in registry.problems() if root in p]
    return registry.bundled_dir, entries, problems


def check_bundled_models(ctx: Context) -> str:
    folder, entries, problems = _bundled_entries()
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


def _probe_folder(folder: Path, what: str, hint: str) -> str:
    """Write, sync and delete a small file in ``folder``, or in the nearest existing folder
    above it when it does not exist yet (nothing is created); "" or a note saying so."""
    target, note = folder, ""
    while not target.exists() and target.parent != target:
        target, note = target.parent, f" (its folder will be made in {target.parent})"
    if not target.is_dir():
        raise CheckFailed(
            f"the {what} {folder} cannot be made: {target} is a file, not a folder", hint
        )
    try:
        fd, name = tempfile.mkstemp(dir=target, prefix=".medviewer-selftest-", suffix=".tmp")
        try:
            os.write(fd, b"medviewer selftest\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(name)
    except OSError as exc:
        raise CheckFailed(
            f"cannot write in {target}, the folder of the {what} {folder} ({exc.strerror or exc})",
            hint,
        ) from None
    return note


def check_label_store(ctx: Context) -> str:
    from medviewer.labels.store import LabelStore
    from medviewer.settings import label_store_path, load_settings

    settings, _ = load_settings()
    path = label_store_path(settings)
    hint = (
        "choose a label store in a folder you may write to (Labels menu), or ask for write "
        "permission on this one"
    )
    note = _probe_folder(path.parent, "label store", hint)
    if not path.exists():
        return f"{path}: not created yet; can be{note or ' (its folder is writable)'}"
    if not os.access(path, os.W_OK):
        raise CheckFailed(f"the label store {path} is read-only", hint)
    with LabelStore(path, read_only=True) as store:
        total = store.stats()["total"]
    return f"{path}: opens, writable, {total} label(s)"


def check_log(ctx: Context) -> str:
    from medviewer.logs import LOG_DIR_ENV, current_log_file, log_path

    active = current_log_file()
    path = active or log_path()
    note = _probe_folder(
        path.parent,
        "log file",
        f"set {LOG_DIR_ENV} to a folder you may write to, or fix this folder's permissions",
    )
    if active is None:
        return f"{path}: can be written{note}; this process writes no log (not configured)"
    return f"{path}: writable, patient identifiers redacted"


def core_checks(window: Check | None = None) -> list[Check]:
    """Every check in report order; ``window`` (the Qt check) goes after the packages."""
    checks = [
        Check("python", check_python, "use the packaged build of medviewer"),
        Check("packages", check_packages, REINSTALL),
    ]
    if window is not None:
        checks.append(window)
    checks += [
        Check("dicom decoders", check_decoders, REINSTALL),
        Check("dicom decoding", check_decoding, REINSTALL),
        Check("decoder process", check_decoder_processes, REINSTALL),
        Check("sample study", check_sample, REINSTALL),
        Check("torch device", check_torch, "run models on the CPU (--device cpu)"),
        Check("bundled models", check_bundled_models, REINSTALL),
    ]
    try:
        _, entries, _ = _bundled_entries()
    except Exception as exc:  # reported by the bundled models check
        log.debug("bundled models not listed: %s", exc)
        entries = []
    checks += [model_check(e) for e in entries]
    checks += [
        Check("grad-cam", check_explanations, REINSTALL),
        Check("label store", check_label_store, "choose another label store (Labels menu)"),
        Check("log file", check_log, "set MEDVIEWER_LOG_DIR to a writable folder"),
    ]
    return checks


__all__ = [
    "CHECK_TIMEOUT_S",
    "Check",
    "CheckFailed",
    "CheckResult",
    "Context",
    "Report",
    "core_checks",
    "run_check",
    "run_selftest",
]
