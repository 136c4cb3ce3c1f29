"""Finding installed model packages: the bundled folder (``$MEDVIEWER_MODELS``, else
``models/`` beside the package) and the user's, scanned for folders holding
``manifest.json`` (up to three levels deep); version ordering; :class:`ModelEntry`; and the
listing part of :class:`~medviewer.ai.registry.ModelRegistry` (:class:`ModelListing`)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from medviewer.ai.manifest import Manifest, read_manifest
from medviewer.errors import ModelError
from medviewer.resources import install_root

MODELS_ENV = "MEDVIEWER_MODELS"
MAX_DEPTH = 3
IMPORT_HINT = "import one with `medviewer models import FOLDER`"


def bundled_models_dir() -> Path:
    """The shipped models: $MEDVIEWER_MODELS, else ``models/`` beside the package (in a frozen
    build, inside the bundle: see :func:`medviewer.resources.install_root`)."""
    override = os.environ.get(MODELS_ENV)
    return Path(override) if override else install_root() / "models"


def version_key(version: str) -> tuple:
    """Sort key for versions: dotted integers compared as numbers (1.10 > 1.9, 1.0 == 1.0.0);
    a suffix after them (``1.0.0rc1``, ``2.0-beta``) sorts before the plain release."""
    m = re.match(r"\s*v?(\d+(?:\.\d+)*)(.*)$", version)
    if not m:
        return ((), 0, version)
    nums = [int(p) for p in m.group(1).split(".")]
    while len(nums) > 1 and nums[-1] == 0:
        nums.pop()
    suffix = m.group(2).lstrip(".-+_ ")
    return (tuple(nums), 0 if suffix else 1, suffix)


@dataclass(frozen=True)
class ModelEntry:
    """One installed package (its manifest read and validated, its weights not yet checked)."""

    ref: str
    """``name:version``."""
    name: str
    version: str
    folder: Path
    bundled: bool
    manifest: Manifest

    @property
    def source(self) -> str:
        return "bundled" if self.bundled else "user"


class ModelListing:
    """Listing and finding packages; a mixin of ``ModelRegistry``, which provides
    ``bundled_dir``, ``user_dir``, ``_lock``, ``_problems`` and ``_scanned``."""

    def _package_folders(self, root: Path) -> list[Path]:
        found: list[Path] = []
        if not root.is_dir():
            return found
        base_depth = len(root.parts)
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):  # depth-bounded
            here = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            if "manifest.json" in filenames:
                found.append(here)
                dirnames[:] = []  # a package's own subfolders are not packages
            elif len(here.parts) - base_depth >= MAX_DEPTH:
                dirnames[:] = []
        return found

    def entries(self) -> list[ModelEntry]:
        """Every valid package, bundled first, each sorted by name then version.

        Invalid packages and duplicate refs are skipped; :meth:`problems` says why.
        """
        entries: list[ModelEntry] = []
        problems: list[str] = []
        seen: dict[str, ModelEntry] = {}
        for root, bundled in ((self.bundled_dir, True), (self.user_dir, False)):
            found: list[ModelEntry] = []
            for folder in self._package_folders(root):
                try:
                    manifest = read_manifest(folder)
                except ModelError as exc:
                    problems.append(f"{exc} (package skipped)")
                    continue
                if not (folder / manifest.weights_file).is_file():
                    problems.append(
                        f"{folder}: weights file {manifest.weights_file!r} named in the manifest "
                        "is missing (package skipped); copy the whole package folder again"
                    )
                    continue
                found.append(
                    ModelEntry(
                        manifest.ref,
                        manifest.name,
                        manifest.version,
                        folder,
                        bundled,
                        manifest,
                    )
                )
            found.sort(key=lambda e: (e.name, version_key(e.version)))
            for entry in found:
                other = seen.get(entry.ref)
                if other is not None:
                    problems.append(
                        f"{entry.folder}: model {entry.ref} is already installed in "
                        f"{other.folder}; this copy is ignored (remove one of them)"
                    )
                    continue
                seen[entry.ref] = entry
                entries.append(entry)
        with self._lock:
            self._problems = problems
            self._scanned = True
        return entries

    def problems(self) -> list[str]:
        """Why packages were skipped by the last :meth:`entries` (scans if it never ran)."""
        with self._lock:
            scanned = self._scanned
        if not scanned:
            self.entries()
        with self._lock:
            state = getattr(self, "_state_problem", None)
            return list(self._problems) + ([state] if state else [])

    def find(self, ref: str) -> ModelEntry:
        """The entry for ``name:version``, or the highest version of ``name``."""
        ref = (ref or "").strip()
        entries = self.entries()
        for e in entries:
            if e.ref == ref:
                return e
        same = [e for e in entries if e.name == ref]
        if same:
            return max(same, key=lambda e: (version_key(e.version), not e.bundled))
        known = ", ".join(e.ref for e in entries) or "none installed"
        raise ModelError(
            f"no model {ref!r} (installed: {known}); use NAME or NAME:VERSION from "
            f"`medviewer models list`, or {IMPORT_HINT}"
        )
