"""Per-user settings: a typed dataclass stored as JSON, read forgivingly, written atomically.

The file is ``settings.json`` in ``platformdirs.user_config_dir("medviewer")``, or in
``$MEDVIEWER_CONFIG_DIR`` when that is set. A damaged file never stops the application: the
good fields are kept, the bad ones fall back to their defaults with a warning, and the file is
copied to ``settings.json.bad`` first so nothing is lost.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medviewer.atomic import write_json_atomic
from medviewer.errors import MedviewerError

SCHEMA_VERSION = 1
CONFIG_DIR_ENV = "MEDVIEWER_CONFIG_DIR"
FILE_NAME = "settings.json"
LAYOUTS = ("1x1", "1x3")
VIEWPORT_GRIDS = ("1x1", "1x2", "2x1", "2x2", "1x3")  # rows x cols: session.layout.GRIDS
MAX_RECENT = 10
MAX_LINK_OFFSETS = 200
CINE_FPS_RANGE = (1, 60)


@dataclass
class Settings:
    """Everything medviewer remembers between runs.

    Attributes
    ----------
    schema_version : int
        Version of the file layout (see :func:`migrate`).
    window_geometry, window_state : str
        Base64 of Qt's ``saveGeometry()`` / ``saveState()`` bytes.
    last_folder : str
        Folder of the last open dialog.
    recent : list of str
        Recently opened paths, most recent first, unique, at most :data:`MAX_RECENT`.
    overlays_visible, deidentified : bool
        Corner texts shown; patient identity hidden.
    layout : str
        ``"1x1"`` or ``"1x3"``.
    cine_fps : int
        Cine frames per second, 1..60.
    custom_presets : list of dict
        User windows: ``{"name": str, "center": float, "width": float > 0, "modality": str}``
        (an empty modality applies to every series).
    annotator : str
        The name labels are stored under (asked once, on the first labeling action).
    label_store : str
        The label store file; empty for ``user_data_dir() / "labels.sqlite"``.
    viewport_grid : str
        The reading grid, one of :data:`VIEWPORT_GRIDS`.
    link_scroll, link_window, link_zoom_pan : bool
        Whether viewports follow the active one's slice, window, and zoom / pan.
    link_offsets : dict of str to float
        Manual link offsets in mm per series pair (``medviewer.session.linking.pair_key``),
        at most :data:`MAX_LINK_OFFSETS` (the most recently stored kept).
    """

    schema_version: int = SCHEMA_VERSION
    window_geometry: str = ""
    window_state: str = ""
    last_folder: str = ""
    recent: list[str] = field(default_factory=list)
    overlays_visible: bool = True
    deidentified: bool = False
    layout: str = "1x1"
    cine_fps: int = 10
    custom_presets: list[dict] = field(default_factory=list)
    annotator: str = ""
    label_store: str = ""
    viewport_grid: str = "1x1"
    link_scroll: bool = True
    link_window: bool = False
    link_zoom_pan: bool = False
    link_offsets: dict[str, float] = field(default_factory=dict)

    def remember(self, path: str | os.PathLike) -> None:
        """Put ``path`` (made absolute) first in :attr:`recent`, once, keeping at most 10."""
        text = os.path.abspath(os.fspath(path))
        self.recent = [text, *(p for p in self.recent if p != text)][:MAX_RECENT]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the (clamped) values."""
        good, _ = _validated(asdict(self), where="")
        data = asdict(Settings())
        data.update(good)
        return data


DATA_DIR_ENV = "MEDVIEWER_DATA_DIR"


def user_data_dir() -> Path:
    """Where user data lives (models, the label store): $MEDVIEWER_DATA_DIR, else the
    per-user data folder of medviewer (``platformdirs.user_data_dir``)."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("medviewer"))


def label_store_path(settings: Settings | None = None) -> Path:
    """The label store file: ``settings.label_store`` when set, else
    ``user_data_dir() / "labels.sqlite"``."""
    if settings is not None and settings.label_store:
        return Path(settings.label_store)
    return user_data_dir() / "labels.sqlite"


def settings_path() -> Path:
    """``$MEDVIEWER_CONFIG_DIR/settings.json``, else the per-user config folder's."""
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override) / FILE_NAME
    import platformdirs

    return Path(platformdirs.user_config_dir("medviewer")) / FILE_NAME


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a settings dict of any older schema up to :data:`SCHEMA_VERSION`.

    Version 0 (files without ``schema_version``) called the recent list ``recent_files``.
    Returns a new dict; newer versions are returned unchanged.
    """
    out = dict(data)
    version = out.get("schema_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        version = 0
    if version < 1:
        if "recent_files" in out:
            old = out.pop("recent_files")
            out.setdefault("recent", old)
        out["schema_version"] = 1
    return out


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _check_recent(v: Any) -> tuple[Any, str | None]:
    if not isinstance(v, list):
        return None, "must be a list of paths"
    paths = [p for p in v if isinstance(p, str) and p]
    unique = list(dict.fromkeys(paths))[:MAX_RECENT]
    dropped = len(v) - len(paths)
    msg = (
        "1 entry that is not a path was"
        if dropped == 1
        else f"{dropped} entries that are not paths were"
    )
    return unique, (f"{msg} left out" if dropped else None)


def _check_presets(v: Any) -> tuple[Any, str | None]:
    if not isinstance(v, list):
        return None, "must be a list of {name, center, width}"
    good = []
    for p in v:
        if (
            isinstance(p, dict)
            and isinstance(p.get("name"), str)
            and p["name"].strip()
            and _is_number(p.get("center"))
            and _is_number(p.get("width"))
            and p["width"] > 0
        ):
            good.append(
                {
                    "name": p["name"].strip(),
                    "center": float(p["center"]),
                    "width": float(p["width"]),
                    "modality": str(p.get("modality") or "").strip().upper(),
                }
            )
    dropped = len(v) - len(good)
    what = "1 preset" if dropped == 1 else f"{dropped} presets"
    msg = f"{what} without a name, a center and a positive width left out"
    return good, (msg if dropped else None)


def _check_fps(v: Any) -> tuple[Any, str | None]:
    lo, hi = CINE_FPS_RANGE
    if not _is_int(v):
        return None, f"must be a whole number {lo}..{hi}"
    clamped = min(max(v, lo), hi)
    return clamped, (f"{v} is outside {lo}..{hi}; using {clamped}" if clamped != v else None)


def _check_layout(v: Any) -> tuple[Any, str | None]:
    if v not in LAYOUTS:
        return None, f"must be one of {', '.join(LAYOUTS)}"
    return v, None


def _check_type(kind: type):
    """A check that accepts only ``str`` or only ``bool`` values."""

    def check(v: Any) -> tuple[Any, str | None]:
        if isinstance(v, kind):
            return v, None
        return None, f"must be {'true or false' if kind is bool else 'text'}"

    return check


MAX_ANNOTATOR_LENGTH = 100


def _check_annotator(v: Any) -> tuple[Any, str | None]:
    if not isinstance(v, str):
        return None, "must be text (a name)"
    name = " ".join(v.split())
    if len(name) > MAX_ANNOTATOR_LENGTH:
        return None, f"must be at most {MAX_ANNOTATOR_LENGTH} characters"
    return name, None


def _check_grid(v: Any) -> tuple[Any, str | None]:
    if v not in VIEWPORT_GRIDS:
        return None, f"must be one of {', '.join(VIEWPORT_GRIDS)}"
    return v, None


def _check_offsets(v: Any) -> tuple[Any, str | None]:
    if not isinstance(v, dict):
        return None, "must be an object of series pair -> offset in mm"
    good = {k: float(o) for k, o in v.items() if isinstance(k, str) and k and _is_number(o)}
    dropped, extra = len(v) - len(good), len(good) - MAX_LINK_OFFSETS
    notes = [f"{dropped} offset(s) without a pair key and a number left out"] * (dropped > 0)
    notes += [f"only the last {MAX_LINK_OFFSETS} offsets kept"] * (extra > 0)
    return dict(list(good.items())[-MAX_LINK_OFFSETS:]), ("; ".join(notes) or None)


_CHECKS = {
    "window_geometry": _check_type(str),
    "window_state": _check_type(str),
    "last_folder": _check_type(str),
    "recent": _check_recent,
    "overlays_visible": _check_type(bool),
    "deidentified": _check_type(bool),
    "layout": _check_layout,
    "cine_fps": _check_fps,
    "custom_presets": _check_presets,
    "annotator": _check_annotator,
    "label_store": _check_type(str),
    "viewport_grid": _check_grid,
    "link_scroll": _check_type(bool),
    "link_window": _check_type(bool),
    "link_zoom_pan": _check_type(bool),
    "link_offsets": _check_offsets,
}


def _validated(data: dict[str, Any], where: str) -> tuple[dict[str, Any], list[str]]:
    """Known fields of ``data`` that pass (possibly clamped), and a warning per problem."""
    good: dict[str, Any] = {}
    problems: list[str] = []
    defaults = Settings()
    for name, check in _CHECKS.items():
        if name not in data:
            continue
        value, problem = check(data[name])
        if value is None:
            default = getattr(defaults, name)
            problems.append(
                f"setting {name!r}{where} {problem}, got {data[name]!r:.60}; "
                f"using the default ({default!r})"
            )
            continue
        good[name] = value
        if problem:
            problems.append(f"setting {name!r}{where}: {problem}")
    return good, problems


def _copy_aside(path: Path) -> str:
    """Copy a damaged settings file to ``<name>.bad``; returns a phrase for the warning."""
    bad = path.with_name(path.name + ".bad")
    try:
        shutil.copyfile(path, bad)
    except OSError as exc:
        return f"it could not be copied to {bad} ({exc.strerror or exc})"
    return f"the file was copied to {bad}"


def load_settings(path: str | os.PathLike | None = None) -> tuple[Settings, list[str]]:
    """Read the settings; returns ``(settings, warnings)`` and never raises for bad content.

    A missing file gives the defaults and no warning. An unreadable or corrupt file gives the
    defaults; fields of the wrong type fall back to their defaults while the good ones are
    kept. Either way the file is copied to ``settings.json.bad`` and each problem is one
    warning saying what, where and what happens. Unknown keys are ignored; older schema
    versions are migrated.
    """
    path = Path(path) if path is not None else settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings(), []
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        aside = _copy_aside(path) if path.is_file() else "it was left as it is"
        return Settings(), [
            f"could not read the settings file {path} ({reason}); using default settings, {aside}"
        ]
    try:
        data = json.loads(text)
    except ValueError as exc:
        return Settings(), [
            f"the settings file {path} is damaged (not valid JSON: {exc}); using default "
            f"settings, {_copy_aside(path)}"
        ]
    if not isinstance(data, dict):
        return Settings(), [
            f"the settings file {path} does not hold a settings object; using default "
            f"settings, {_copy_aside(path)}"
        ]
    warnings: list[str] = []
    data = migrate(data)
    version = data.get("schema_version")
    if _is_int(version) and version > SCHEMA_VERSION:
        warnings.append(
            f"the settings file {path} was written by a newer medviewer (schema {version}); "
            "settings this version does not know are ignored, and the file is not "
            "overwritten (this session's window layout and choices are not saved)"
        )
    good, problems = _validated(data, where=f" in {path}")
    if problems:
        aside = _copy_aside(path)
        warnings += [f"{p}; {aside}" for p in problems]
    return Settings(**good), warnings


def _written_by_newer(path: Path) -> bool:
    try:
        version = json.loads(path.read_text(encoding="utf-8")).get("schema_version")
    except (OSError, ValueError, AttributeError):
        return False
    return _is_int(version) and version > SCHEMA_VERSION


def save_settings(settings: Settings, path: str | os.PathLike | None = None) -> Path:
    """Write ``settings`` (validated, clamped) atomically; creates the folder.

    Raises MedviewerError with a one-line reason when the file cannot be written; the
    previous file is then left untouched.
    """
    path = Path(path) if path is not None else settings_path()
    if _written_by_newer(path):
        raise MedviewerError(
            f"the settings file {path} was written by a newer medviewer; it is not overwritten"
        )
    data = settings.to_dict()
    try:
        write_json_atomic(path, data, sort_keys=True)
    except OSError as exc:
        raise MedviewerError(
            f"could not save the settings to {path} ({exc.strerror or exc}); "
            "the previous settings are kept"
        ) from exc
    return path


__all__ = [
    "CONFIG_DIR_ENV",
    "LAYOUTS",
    "MAX_LINK_OFFSETS",
    "MAX_RECENT",
    "SCHEMA_VERSION",
    "VIEWPORT_GRIDS",
    "Settings",
    "label_store_path",
    "load_settings",
    "migrate",
    "save_settings",
    "settings_path",
]
