"""Selftest checks of what is installed: the Python, the core packages, the DICOM decoders.

The Qt packages are reported by the window check (``medviewer.qt.selftest``).
"""

from __future__ import annotations

import importlib
import os
import platform
import sys

from medviewer import __version__
from medviewer.selftest.runner import REINSTALL, CheckFailed, Context, error_text

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
            failed.append(f"{dist} ({module_name}: {error_text(exc)})")
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
