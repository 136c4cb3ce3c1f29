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

The parts live in ``registry_listing`` (discovery, :class:`ModelEntry`, versions),
``registry_active`` (active model per modality) and ``registry_install`` (import, remove,
fine-tuned version folders); :class:`ModelRegistry` joins them and keeps the load cache.
Every name is importable from here as before.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path

from medviewer.ai.package import LoadedModel
from medviewer.ai.registry_active import STATE_FILE, ActiveModels
from medviewer.ai.registry_active import STATE_SCHEMA as STATE_SCHEMA
from medviewer.ai.registry_install import ModelInstaller
from medviewer.ai.registry_listing import IMPORT_HINT, ModelListing, bundled_models_dir
from medviewer.ai.registry_listing import MAX_DEPTH as MAX_DEPTH
from medviewer.ai.registry_listing import MODELS_ENV as MODELS_ENV
from medviewer.ai.registry_listing import ModelEntry as ModelEntry
from medviewer.ai.registry_listing import version_key as version_key
from medviewer.errors import ModelError
from medviewer.settings import DATA_DIR_ENV, user_data_dir  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

CACHE_SIZE = 3


class ModelRegistry(ModelListing, ActiveModels, ModelInstaller):
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
        self._state_problem: str | None = None
        """Why the remembered active models could not be read (said once), or None."""
        self._scanned = False
        self._cache: OrderedDict[tuple, LoadedModel] = OrderedDict()
        self._lock = threading.RLock()

    # -- loading ------------------------------------------------------------------------------
    def load(
        self, ref: str | None = None, modality: str | None = None, device: str = "auto"
    ) -> LoadedModel:
        """Load ``ref`` (else the active model for ``modality``) on ``device``.

        The weights' sha256 is checked on the first load; loaded models are cached per
        (ref, device). :attr:`last_notices` holds notices such as a device fallback.
        """
        from medviewer.ai.heavy_imports import import_heavy

        import_heavy()  # before torch is touched: never beside another thread's import
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
