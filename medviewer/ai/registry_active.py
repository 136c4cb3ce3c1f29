"""Which model is active per modality: the user's choice kept in
``<data dir>/active_models.json`` (written atomically), else the newest model made for the
modality. The active-model part of :class:`~medviewer.ai.registry.ModelRegistry`."""

from __future__ import annotations

import json
import logging
import shutil

from medviewer.ai.registry_listing import ModelEntry, version_key
from medviewer.atomic import write_json_atomic
from medviewer.errors import ModelError

log = logging.getLogger("medviewer.ai.registry")  # the registry's logger, as before

STATE_FILE = "active_models.json"
STATE_SCHEMA = 1


class ActiveModels:
    """The active model per modality; a mixin of ``ModelRegistry``, which provides
    ``state_file``, ``_lock``, ``_state_problem``, ``entries()`` and ``find()``."""

    _state_problem: str | None

    def _read_state(self) -> dict[str, str]:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable (%s); no active models remembered", self.state_file, exc)
            self._set_aside(f"unreadable ({exc})", damaged=isinstance(exc, ValueError))
            return {}
        active = data.get("active") if isinstance(data, dict) else None
        if not isinstance(active, dict):
            self._set_aside("not a list of active models", damaged=True)
            return {}
        return {str(k).upper(): v for k, v in active.items() if isinstance(v, str) and v.strip()}

    def _set_aside(self, why: str, *, damaged: bool) -> None:
        """Say (once) that the remembered choices are lost; a damaged file is copied to
        ``.bad`` first, since the next choice of a model overwrites it."""
        if self._state_problem is not None:
            return
        kept = ""
        if damaged:
            bad = self.state_file.with_name(self.state_file.name + ".bad")
            try:
                shutil.copyfile(self.state_file, bad)
                kept = f"; it was copied to {bad}"
            except OSError as exc:
                kept = f"; it could not be copied aside ({exc.strerror or exc})"
        self._state_problem = (
            f"the active models file {self.state_file} is {why}: each modality uses its newest "
            f"model until you choose one{kept}"
        )

    def _write_state(self, active: dict[str, str]) -> None:
        path = self.state_file
        data = {"schema_version": STATE_SCHEMA, "active": dict(sorted(active.items()))}
        try:
            write_json_atomic(path, data)
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
