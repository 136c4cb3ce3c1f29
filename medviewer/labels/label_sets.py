"""Label sets: the classes an annotator picks from, as small JSON files.

Bundled sets live in ``resources/label_sets/*.json``; the user's own (edited copies or new
ones) in ``user_data_dir()/label_sets/*.json`` and win on a name clash. Editing a set never
rewrites stored labels: an annotation keeps its class name and the name of its set, and a
class that is no longer in the set is shown as such.

File layout::

    {"format": "medviewer-label-set", "name": "headct-lesions", "version": 1,
     "scope": "slice", "exclusive": true, "description": "...",
     "classes": [{"name": "normal", "color": "#4caf50", "key": "N", "description": "..."}]}
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from medviewer.atomic import write_json_atomic
from medviewer.errors import LabelStoreError
from medviewer.labels.schema import SCOPES, LabelClass, LabelSet

log = logging.getLogger(__name__)

FORMAT = "medviewer-label-set"
DEFAULT_SET = "headct-lesions"
# Single keys the viewer already uses (tools, views, window presets, the labeling actions
# accept G, next unlabeled J, next disagreement W, next uncertain Q, approve Y), and digits.
RESERVED_KEYS = frozenset("REVIODFPLHASCMTGJWQY0123456789")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def bundled_label_sets_dir() -> Path:
    from medviewer.resources import resources_dir

    return resources_dir() / "label_sets"


def user_label_sets_dir() -> Path:
    from medviewer.settings import user_data_dir

    return user_data_dir() / "label_sets"


def _fail(path: Path | str, field: str, problem: str) -> LabelStoreError:
    where = f"{path}, field {field!r}" if field else str(path)
    return LabelStoreError(f"label set {where}: {problem}")


def _text(data: dict, field: str, path, *, where: str = "", required: bool = True) -> str:
    name = f"{where}{field}"
    value = data.get(field, "" if not required else None)
    if value is None:
        raise _fail(path, name, "is missing; add it")
    if not isinstance(value, str):
        raise _fail(path, name, f"must be text, got {value!r:.40}")
    return value.strip()


def label_set_from_dict(data: Any, path: Path | str = "<label set>") -> LabelSet:
    """Validate a parsed label-set document; LabelStoreError names the file and field."""
    if not isinstance(data, dict):
        raise _fail(path, "", "must hold one JSON object with name, scope and classes")
    if data.get("format", FORMAT) != FORMAT:
        raise _fail(path, "format", f"must be {FORMAT!r}, got {data.get('format')!r:.40}")
    name = _text(data, "name", path)
    if not _NAME.match(name):
        raise _fail(
            path, "name", f"{name!r} must be 1-64 letters, digits, '_', '.' or '-' (no spaces)"
        )
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _fail(path, "version", f"must be a whole number >= 1, got {version!r:.40}")
    scope = data.get("scope", "slice")
    if scope not in SCOPES:
        raise _fail(path, "scope", f"must be one of {', '.join(SCOPES)}, got {scope!r:.40}")
    exclusive = data.get("exclusive", True)
    if not isinstance(exclusive, bool):
        raise _fail(path, "exclusive", f"must be true or false, got {exclusive!r:.40}")
    if exclusive is not True:
        raise _fail(
            path,
            "exclusive",
            "non-exclusive sets (several classes per slice and annotator) are not supported "
            "yet; set it to true",
        )
    raw = data.get("classes")
    if not isinstance(raw, list) or not raw:
        raise _fail(path, "classes", "must be a non-empty list of {name, color, key}")
    classes: list[LabelClass] = []
    names: dict[str, int] = {}
    keys: dict[str, int] = {}
    for i, item in enumerate(raw):
        where = f"classes[{i}]."
        if not isinstance(item, dict):
            raise _fail(path, f"classes[{i}]", "must be an object with name, color and key")
        cname = _text(item, "name", path, where=where)
        if not _NAME.match(cname):
            raise _fail(
                path, where + "name", f"{cname!r} must be 1-64 letters, digits, '_', '.' or '-'"
            )
        if cname in names:
            raise _fail(path, where + "name", f"{cname!r} repeats classes[{names[cname]}]")
        color = _text(item, "color", path, where=where)
        if not _COLOR.match(color):
            raise _fail(path, where + "color", f"{color!r} must be #rrggbb, e.g. #4caf50")
        key = _text(item, "key", path, where=where).upper()
        if len(key) != 1 or not key.isprintable() or key.isspace():
            raise _fail(path, where + "key", f"{key!r} must be one printable character")
        if key in RESERVED_KEYS:
            raise _fail(
                path,
                where + "key",
                f"{key!r} is a viewer shortcut (reserved: {' '.join(sorted(RESERVED_KEYS))}); "
                "choose another key",
            )
        if key in keys:
            raise _fail(path, where + "key", f"{key!r} is already the key of classes[{keys[key]}]")
        names[cname], keys[key] = i, i
        description = _text(item, "description", path, where=where, required=False)
        classes.append(LabelClass(cname, color.lower(), key, description))
    return LabelSet(
        name=name,
        version=version,
        scope=scope,
        exclusive=exclusive,
        classes=tuple(classes),
        description=_text(data, "description", path, required=False),
    )


def label_set_to_dict(label_set: LabelSet) -> dict[str, Any]:
    """The JSON document of a label set (what :func:`save_label_set` writes)."""
    return {
        "format": FORMAT,
        "name": label_set.name,
        "version": label_set.version,
        "scope": label_set.scope,
        "exclusive": label_set.exclusive,
        "description": label_set.description,
        "classes": [
            {"name": c.name, "color": c.color, "key": c.key, "description": c.description}
            for c in label_set.classes
        ],
    }


def load_label_set(path: str | os.PathLike) -> LabelSet:
    """Read and validate one label-set file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise LabelStoreError(f"cannot read the label set {path} ({reason})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabelStoreError(
            f"label set {path}, line {exc.lineno} column {exc.colno}: not valid JSON "
            f"({exc.msg}); fix the file or remove it"
        ) from exc
    return label_set_from_dict(data, path)


def default_label_set() -> LabelSet:
    """The bundled ``headct-lesions`` set (the user's edited copy when there is one)."""
    for label_set in list_label_sets():
        if label_set.name == DEFAULT_SET:
            return label_set
    return load_label_set(bundled_label_sets_dir() / f"{DEFAULT_SET}.json")


def list_label_sets(problems: list[str] | None = None) -> list[LabelSet]:
    """Bundled and user label sets, sorted by name; a user set replaces a bundled one of the
    same name. A file that does not validate is left out, its reason appended to
    ``problems`` (when given) and logged."""
    found: dict[str, LabelSet] = {}
    for folder in (bundled_label_sets_dir(), user_label_sets_dir()):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            try:
                label_set = load_label_set(path)
            except LabelStoreError as exc:
                log.warning("%s", exc)
                if problems is not None:
                    problems.append(str(exc))
                continue
            found[label_set.name] = label_set
    return [found[name] for name in sorted(found)]


def save_label_set(label_set: LabelSet) -> Path:
    """Validate and write ``label_set`` to the user's folder (atomically); returns the file.
    Stored labels are not touched."""
    data = label_set_to_dict(label_set)
    label_set_from_dict(data, f"<{label_set.name}>")
    folder = user_label_sets_dir()
    path = folder / f"{label_set.name}.json"
    try:
        write_json_atomic(path, data)
    except OSError as exc:
        raise LabelStoreError(
            f"cannot save the label set to {path} ({exc.strerror or exc}); the previous file "
            "is kept"
        ) from exc
    return path


__all__ = [
    "DEFAULT_SET",
    "RESERVED_KEYS",
    "bundled_label_sets_dir",
    "default_label_set",
    "label_set_from_dict",
    "label_set_to_dict",
    "list_label_sets",
    "load_label_set",
    "save_label_set",
    "user_label_sets_dir",
]
