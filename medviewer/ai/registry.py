"""The installed models: bundled (read-only) and the user's own, which one is active per modality.

Two folders are scanned for model packages (a folder with ``manifest.json``; ``name/version``
nesting is the usual layout, any depth up to three works):

- bundled: ``$MEDVIEWER_MODELS``, else ``models/`` beside the package (shipped, read-only);
- user: ``<data dir>/models`` where the data dir is ``$MEDVIEWER_DATA_DIR``, else
  ``platformdirs.user_data_dir("medviewer")``. ``medviewer models import`` copies packages here.

Which model is active for a modality is kept in ``<data dir>/active_models.json`` (written
atomically). Listing, activating and loading only read package files; nothing here ever
modifies a package. A package that fails validation is left out of :meth:`ModelRegistry.entries`
and its reason is listed by :meth:`ModelRegistry.problems`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from medviewer.ai.manifest import Manifest, read_manifest
from medviewer.ai.package import LoadedModel
from medviewer.errors import ModelError
from medviewer.resources import install_root
from medviewer.settings import DATA_DIR_ENV, user_data_dir  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

MODELS_ENV = "MEDVIEWER_MODELS"
STATE_FILE = "active_models.json"
STATE_SCHEMA = 1
MAX_DEPTH = 3
CACHE_SIZE = 3
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


def _safe_part(text: str) -> str:
    """A folder name for a manifest name / version (no separators, no leading dots)."""
    cleaned = re.sub(r"[^A-Za-z0-9._+-]+", "_", text.strip()).lstrip(".")
    return cleaned or "_"


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


class ModelRegistry:
    """Finds, activates, imports, removes and loads model packages.

    Thread-safe for the Qt layer's use: :meth:`load` may run on worker threads.
    """

    def __init__(
        self,
        bundled_dir: Path | None = None,
        user_dir: Path | None = None,
        state_file: Path | None = None,
    ) -> None:
        self.bundled_dir = Path(bundled_dir) if bundled_dir is not None else bundled_models_dir()
        data = None
        if user_dir is None or state_file is None:
            data = user_data_dir()
        self.user_dir = Path(user_dir) if user_dir is not None else data / "models"
        self.state_file = Path(state_file) if state_file is not None else data / STATE_FILE
        self.last_notices: list[str] = []
        """Notices of the last :meth:`load` (e.g. the CUDA -> CPU fallback)."""
        self._problems: list[str] = []
        self._scanned = False
        self._cache: OrderedDict[tuple, LoadedModel] = OrderedDict()
        self._lock = threading.RLock()

    # -- listing ----------------------------------------------------------------------------
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
            return list(self._problems)

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

    # -- active model per modality --------------------------------------------------------------
    def _read_state(self) -> dict[str, str]:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable (%s); no active models remembered", self.state_file, exc)
            return {}
        active = data.get("active") if isinstance(data, dict) else None
        if not isinstance(active, dict):
            return {}
        return {str(k).upper(): v for k, v in active.items() if isinstance(v, str) and v.strip()}

    def _write_state(self, active: dict[str, str]) -> None:
        path = self.state_file
        data = {"schema_version": STATE_SCHEMA, "active": dict(sorted(active.items()))}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".active_models.", suffix=".part", dir=path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fp:
                    json.dump(data, fp, indent=2)
                    fp.write("\n")
                    fp.flush()
                    os.fsync(fp.fileno())
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise ModelError(
                f"cannot save the active models to {path}: {exc.strerror or exc}; check that "
                "the folder is writable"
            ) from None

    def active_refs(self) -> dict[str, str]:
        """Modality -> ref as set with :meth:`set_active` (refs may no longer be installed)."""
        return self._read_state()

    def active(self, modality: str) -> ModelEntry | None:
        """The model set for ``modality``, else the newest one made for it, else ``None``.

        A model card without modalities counts as made for any modality, after the ones that
        list it.
        """
        mod = (modality or "").strip().upper()
        entries = self.entries()
        chosen = self._read_state().get(mod)
        if chosen:
            for e in entries:
                if e.ref == chosen:
                    return e
        listed = [e for e in entries if mod and mod in e.manifest.modalities]
        if not listed:
            listed = [e for e in entries if not e.manifest.modalities]
        if not listed:
            return None
        return max(listed, key=lambda e: (version_key(e.version), not e.bundled, e.name))

    def set_active(self, modality: str, ref: str | None) -> ModelEntry | None:
        """Remember ``ref`` (resolved to ``name:version``) as the model for ``modality``.

        ``ref=None`` forgets the choice. Returns the entry made active.
        """
        mod = (modality or "").strip().upper()
        if not mod:
            raise ModelError("no modality given: say which modality the model is for, e.g. CT")
        with self._lock:
            active = self._read_state()
            entry = None
            if ref is None:
                active.pop(mod, None)
            else:
                entry = self.find(ref)
                active[mod] = entry.ref
            self._write_state(active)
        return entry

    # -- import / remove ----------------------------------------------------------------------
    def import_package(self, folder: str | Path) -> ModelEntry:
        """Check the package in ``folder`` (manifest, sha256, weights load on the CPU), then
        copy it to ``user_dir/name/version``. An installed ref is never overwritten."""
        from medviewer.ai.package import load_package, sha256_of

        folder = Path(folder)
        if not folder.is_dir():
            raise ModelError(f"{folder}: no such folder; give the folder holding manifest.json")
        model = load_package(folder, "cpu")  # every check: manifest, hash, safe weights, shapes
        manifest = model.manifest
        del model
        with self._lock:
            for e in self.entries():
                if e.ref == manifest.ref:
                    raise ModelError(
                        f"model {manifest.ref} is already installed ({e.source}, {e.folder}); "
                        "give the package a new version in its manifest"
                        + ("" if e.bundled else f", or `medviewer models remove {e.ref}` first")
                    )
            dest = self.user_dir / _safe_part(manifest.name) / _safe_part(manifest.version)
            if dest.exists():
                raise ModelError(
                    f"{dest} already exists but holds no valid package {manifest.ref}; move it "
                    "away, then import again"
                )
            tmp = None
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = Path(tempfile.mkdtemp(prefix=".import-", dir=dest.parent))
                shutil.rmtree(tmp)
                shutil.copytree(folder, tmp, symlinks=False)
                copied = tmp / manifest.weights_file
                if sha256_of(copied) != manifest.sha256:
                    raise ModelError(
                        f"{folder}: the weights changed while being copied; import again"
                    )
                os.rename(tmp, dest)
                tmp = None
            except OSError as exc:
                raise ModelError(
                    f"cannot copy {folder} to {dest}: {exc.strerror or exc}; check free space "
                    "and permissions"
                ) from None
            finally:
                if tmp is not None and tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
        return ModelEntry(manifest.ref, manifest.name, manifest.version, dest, False, manifest)

    def remove(self, ref: str) -> ModelEntry:
        """Delete an imported (user) model; bundled ones are read-only. Returns what was removed.

        ``ref`` is ``name:version``, or a ``name`` with a single version installed.
        """
        entry = self.find(ref)
        if entry.ref != ref.strip():
            versions = [e.ref for e in self.entries() if e.name == entry.name]
            if len(versions) > 1:
                raise ModelError(
                    f"{ref!r} has {len(versions)} versions installed ({', '.join(versions)}); "
                    "say which one to remove as NAME:VERSION"
                )
        if entry.bundled:
            raise ModelError(
                f"{entry.ref} is bundled with medviewer ({entry.folder}): bundled models are "
                "read-only; only imported models can be removed"
            )
        if not _is_within(entry.folder, self.user_dir) or entry.folder.resolve() == (
            self.user_dir.resolve()
        ):
            raise ModelError(
                f"{entry.ref} lies in {entry.folder}, outside the user models folder "
                f"{self.user_dir} (a link?); not removing it: delete it by hand"
            )
        with self._lock:
            try:
                shutil.rmtree(entry.folder)
            except OSError as exc:
                raise ModelError(
                    f"cannot remove {entry.folder}: {exc.strerror or exc}; check permissions"
                ) from None
            parent = entry.folder.parent
            if parent != self.user_dir and _is_within(parent, self.user_dir):
                try:
                    parent.rmdir()  # the now empty name folder
                except OSError:
                    pass
            active = self._read_state()
            kept = {m: r for m, r in active.items() if r != entry.ref}
            if kept != active:
                self._write_state(kept)
            for key in [k for k in self._cache if k[0] == entry.ref]:
                del self._cache[key]
        return entry

    # -- fine-tuned versions -------------------------------------------------------------------
    def next_version(self, name: str, base_version: str) -> str:
        """The next free ``<major>.<minor + 1>.0`` for ``name`` after every installed version
        with the base's major number (1.0.0 -> 1.1.0 -> 1.2.0), bundled and user alike, and
        after any folder already taken in the user models folder."""
        m = re.match(r"\s*v?(\d+)(?:\.(\d+))?", base_version or "")
        major = int(m.group(1)) if m else 1
        minor = int(m.group(2) or 0) if m else 0
        versions = [e.version for e in self.entries() if e.name == name]
        folder = self.user_dir / _safe_part(name)
        if folder.is_dir():
            versions += [p.name for p in folder.iterdir() if not p.name.startswith(".")]
        for v in versions:
            vm = re.match(r"\s*v?(\d+)(?:\.(\d+))?", v)
            if vm and int(vm.group(1)) == major:
                minor = max(minor, int(vm.group(2) or 0))
        return f"{major}.{minor + 1}.0"

    def version_folder(self, name: str, version: str) -> Path:
        """Where a user version ``name:version`` lives (it need not exist)."""
        return self.user_dir / _safe_part(name) / _safe_part(version)

    def clean_stale_temporary(self, older_than_s: float = 3600.0) -> list[Path]:
        """Delete ``.tmp-*`` folders left in the user models folder by a killed fine-tuning
        run (older than ``older_than_s``, so a run saving right now is left alone). They are
        never listed as models. Returns what was removed."""
        import time

        removed: list[Path] = []
        root = self.user_dir
        if not root.is_dir():
            return removed
        now = time.time()
        for parent in (root, *(p for p in root.iterdir() if p.is_dir())):
            try:
                children = list(parent.iterdir())
            except OSError:
                continue
            for child in children:
                if not (child.name.startswith(".tmp-") and child.is_dir()):
                    continue
                try:
                    if now - child.stat().st_mtime < older_than_s:
                        continue
                    shutil.rmtree(child)
                    removed.append(child)
                except OSError as exc:
                    log.warning("could not remove the stale folder %s: %s", child, exc)
        return removed

    # -- loading ------------------------------------------------------------------------------
    def load(
        self, ref: str | None = None, modality: str | None = None, device: str = "auto"
    ) -> LoadedModel:
        """Load ``ref`` (else the active model for ``modality``) on ``device``.

        The weights' sha256 is checked on the first load; loaded models are cached per
        (ref, device). :attr:`last_notices` holds notices such as a device fallback.
        """
        from medviewer.ai.device import free_cached_memory, is_out_of_memory, pick_device
        from medviewer.ai.package import load_package

        if ref:
            entry = self.find(ref)
        elif modality:
            entry = self.active(modality)
            if entry is None:
                raise ModelError(f"no model for modality {modality.upper()}: {IMPORT_HINT}")
        else:
            raise ModelError(
                "no model chosen: give a model (NAME[:VERSION]) or a modality to pick the "
                "active model for it"
            )
        dev, notices = pick_device(device)
        key = (entry.ref, dev, str(entry.folder), entry.manifest.sha256)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                self.last_notices = list(notices)
                return hit
            try:
                model = load_package(entry.folder, dev)
            except ModelError:
                raise
            except Exception as exc:
                if dev == "cpu" or not is_out_of_memory(exc):
                    raise
                free_cached_memory(dev)
                notices.append(
                    f"not enough memory on {dev} to load {entry.ref}; running on the CPU"
                )
                dev = "cpu"
                model = load_package(entry.folder, dev)
            self._cache[key] = model
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
            self.last_notices = list(notices)
        return model

    def clear_cache(self) -> None:
        """Forget loaded models (frees their memory once nobody else holds them)."""
        with self._lock:
            self._cache.clear()
