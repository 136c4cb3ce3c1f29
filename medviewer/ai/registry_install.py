"""Installing and removing user model packages: ``medviewer models import`` (checked, then
copied to ``<user models>/<name>/<version>``, never over an installed ref), removal of
imported models (bundled ones are read-only), and the folders of fine-tuned versions (next
free version, stale ``.tmp-*`` folders). A part of :class:`~medviewer.ai.registry.ModelRegistry`."""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from medviewer.ai.registry_listing import ModelEntry
from medviewer.errors import ModelError

log = logging.getLogger("medviewer.ai.registry")  # the registry's logger, as before


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


class ModelInstaller:
    """Import, remove, fine-tuned version folders; a mixin of ``ModelRegistry``, which
    provides ``user_dir``, ``_lock``, ``_cache``, ``entries()``, ``find()``, ``_read_state()``
    and ``_write_state()``."""

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
