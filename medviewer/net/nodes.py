"""The DICOM nodes medviewer may talk to: this station (its AE title, receive port, who may send
to it) and the remote nodes the user configured (name, AE title, host, port, retrieve method).

Nothing is configured by default, and with no node configured medviewer opens no socket. The
configuration is ``dicom-nodes.json`` beside ``settings.json`` (``$MEDVIEWER_CONFIG_DIR`` when
set), written atomically. A damaged file never stops the application: it is copied aside to
``dicom-nodes.json.bad`` and read as "nothing configured", with a warning.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from medviewer.atomic import write_json_atomic
from medviewer.errors import MedviewerError

FILE_NAME = "dicom-nodes.json"
RETRIEVE_METHODS = ("get", "move")
"""C-GET (the files come back on the same association) or C-MOVE (the node sends them to
this station's receiver, so the node must know this station's AE title, host and port)."""
DEFAULT_LOCAL_AE = "MEDVIEWER"
DEFAULT_RECEIVE_PORT = 11112


class NodeError(MedviewerError):
    """A node's settings are not usable (the message names the field and what to do)."""


def check_ae_title(value: str, what: str = "AE title") -> str:
    """``value`` stripped, or :class:`NodeError`: 1-16 characters of the DICOM default
    character repertoire, no backslash, not only spaces (PS3.5 AE value representation)."""
    text = str(value or "").strip()
    if not text:
        raise NodeError(f"the {what} is empty: give 1 to 16 characters, e.g. {DEFAULT_LOCAL_AE}")
    if len(text) > 16:
        raise NodeError(f"the {what} {text!r} has {len(text)} characters; at most 16 are allowed")
    if "\\" in text or any(not (32 <= ord(c) < 127) for c in text):
        raise NodeError(
            f"the {what} {text!r} holds a backslash, a control or a non-ASCII character: use "
            "letters, digits, spaces, '-' or '_'"
        )
    return text


def check_port(value, what: str = "port") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise NodeError(f"the {what} {value!r} is not a TCP port: give a number from 1 to 65535")
    return value


_HOST = re.compile(r"^[A-Za-z0-9._:\-\[\]%]+$")


def check_host(value: str) -> str:
    text = str(value or "").strip()
    dotted = text.split(".")
    if len(dotted) == 4 and all(part.isdigit() for part in dotted):
        try:  # four numbers: an IPv4 address, each part 0-255
            ipaddress.IPv4Address(text)
        except ValueError:
            raise NodeError(
                f"the host {value!r} is not an IP address: each of its four numbers must be "
                "0 to 255 (e.g. 10.1.2.3)"
            ) from None
    if not text or not _HOST.match(text):
        raise NodeError(
            f"the host {value!r} is not a host name or IP address (e.g. pacs.hospital.local or "
            "10.1.2.3)"
        )
    return text


@dataclass(frozen=True)
class RemoteNode:
    """A PACS or modality this station may query, retrieve from and send to."""

    name: str
    ae_title: str
    host: str
    port: int
    retrieve: str = "get"
    """"get" (C-GET, C-MOVE if the node refuses it) or "move" (C-MOVE to this station)."""

    def checked(self) -> RemoteNode:
        name = str(self.name or "").strip()
        if not name:
            raise NodeError("a node needs a name (how you will call it, e.g. PACS)")
        if self.retrieve not in RETRIEVE_METHODS:
            raise NodeError(
                f"node {name}: retrieve method {self.retrieve!r} is unknown; choose "
                f"{' or '.join(RETRIEVE_METHODS)}"
            )
        return RemoteNode(
            name,
            check_ae_title(self.ae_title, f"AE title of node {name}"),
            check_host(self.host),
            check_port(self.port, f"port of node {name}"),
            self.retrieve,
        )

    def describe(self) -> str:
        return f"{self.name} ({self.ae_title} at {self.host}:{self.port})"


@dataclass(frozen=True)
class LocalNode:
    """This station: its AE title, where it receives, and whom it accepts studies from."""

    ae_title: str = DEFAULT_LOCAL_AE
    port: int = DEFAULT_RECEIVE_PORT
    bind_address: str = ""
    """The address the receiver listens on; "" for every interface of this machine."""
    receive_enabled: bool = False
    """The receiver (C-STORE SCP) runs only when switched on."""
    allowed_callers: tuple[str, ...] = ()
    """Calling AE titles the receiver accepts; empty: only the configured nodes' AE titles."""
    store_folder: str = ""
    """Where retrieved and received studies are kept; "" for the user data folder's
    ``studies``."""
    store_cap_gb: float = 20.0
    """Received or retrieved instances are refused ("out of resources") beyond this size."""

    def checked(self) -> LocalNode:
        callers = tuple(check_ae_title(a, "allowed calling AE title") for a in self.allowed_callers)
        if not self.store_cap_gb > 0:
            raise NodeError(
                f"the study folder's size cap {self.store_cap_gb!r} GB must be more than 0"
            )
        return replace(
            self,
            ae_title=check_ae_title(self.ae_title, "local AE title"),
            port=check_port(self.port, "receive port"),
            bind_address=str(self.bind_address or "").strip(),
            allowed_callers=callers,
        )


@dataclass
class NetConfig:
    """The local station and the remote nodes, as stored in ``dicom-nodes.json``."""

    local: LocalNode = field(default_factory=LocalNode)
    nodes: list[RemoteNode] = field(default_factory=list)

    @property
    def configured(self) -> bool:
        """True when there is something to talk to: a remote node, or the receiver on."""
        return bool(self.nodes) or self.local.receive_enabled

    def node(self, name: str) -> RemoteNode:
        """The node called ``name`` (case-insensitive), else :class:`NodeError` listing them."""
        for n in self.nodes:
            if n.name.lower() == str(name).strip().lower():
                return n
        known = ", ".join(n.name for n in self.nodes) or "none configured"
        raise NodeError(
            f"no DICOM node called {name!r} (nodes: {known}); add one with "
            "`medviewer dicom nodes add NAME AE_TITLE HOST PORT` or in Network > DICOM nodes"
        )

    def with_node(self, node: RemoteNode, replace: bool = False) -> NetConfig:
        """A copy with ``node`` added; a node of the same name (whatever its case) is an
        error unless ``replace`` says to change it."""
        node = node.checked()
        same = [n for n in self.nodes if n.name.strip().lower() == node.name.lower()]
        if same and not replace:
            raise NodeError(
                f"there is already a node called {same[0].name}: give this one another name, "
                "or replace it (medviewer dicom nodes add ... --replace)"
            )
        others = [n for n in self.nodes if n not in same]
        return NetConfig(self.local, [*others, node])

    def without_node(self, name: str) -> NetConfig:
        gone = self.node(name)
        return NetConfig(self.local, [n for n in self.nodes if n is not gone])

    def callers(self) -> tuple[str, ...]:
        """The calling AE titles the receiver accepts."""
        titles = self.local.allowed_callers or tuple(n.ae_title for n in self.nodes)
        return tuple(dict.fromkeys(titles))  # each once, in order

    def to_dict(self) -> dict:
        local = asdict(self.local)
        local["allowed_callers"] = list(self.local.allowed_callers)
        return {"version": CONFIG_VERSION, "local": local, "nodes": [asdict(n) for n in self.nodes]}


def config_path() -> Path:
    from medviewer.settings import settings_path

    return settings_path().with_name(FILE_NAME)


CONFIG_VERSION = 1


def _newer_version(data) -> int | None:
    """The file's version when a newer medviewer wrote it, else None."""
    version = data.get("version") if isinstance(data, dict) else None
    ok = isinstance(version, int) and not isinstance(version, bool)
    return version if ok and version > CONFIG_VERSION else None


def _from_dict(data: dict) -> NetConfig:
    if not isinstance(data, dict):
        raise NodeError("the file does not hold a JSON object")
    raw_local = data.get("local") or {}
    if not isinstance(raw_local, dict):
        raise NodeError("'local' is not an object")
    known = {f for f in LocalNode.__dataclass_fields__}
    local_kw = {k: v for k, v in raw_local.items() if k in known}
    if "allowed_callers" in local_kw:
        local_kw["allowed_callers"] = tuple(local_kw["allowed_callers"] or ())
    local = LocalNode(**local_kw).checked()
    nodes = []
    for i, raw in enumerate(data.get("nodes") or []):
        if not isinstance(raw, dict):
            raise NodeError(f"node {i + 1} is not an object")
        fields = {f for f in RemoteNode.__dataclass_fields__}
        nodes.append(RemoteNode(**{k: v for k, v in raw.items() if k in fields}).checked())
    names = [n.name.lower() for n in nodes]
    if len(set(names)) != len(names):
        raise NodeError("two nodes have the same name")
    return NetConfig(local, nodes)


def load_config(path: str | os.PathLike | None = None) -> tuple[NetConfig, list[str]]:
    """The configuration and warnings. No file: nothing configured. A damaged file: copied to
    ``.bad`` and read as nothing configured (the warning says where the copy is)."""
    path = Path(path) if path is not None else config_path()
    if not path.exists():
        return NetConfig(), []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        config = _from_dict(data)
        newer = _newer_version(data)
        if newer:
            return config, [
                f"the DICOM node settings in {path} were written by a newer medviewer (version "
                f"{newer}); the nodes are read as this version understands them, and the file "
                "is not overwritten (change nodes with the newer version)"
            ]
        return config, []
    except (OSError, ValueError, TypeError, NodeError) as exc:
        bad = path.with_name(path.name + ".bad")
        try:
            shutil.copyfile(path, bad)
            kept = f"it was copied to {bad}"
        except OSError as copy_exc:
            kept = f"it could not be copied aside ({copy_exc.strerror or copy_exc})"
        return NetConfig(), [
            f"the DICOM node settings in {path} could not be read ({exc}); {kept}, and no node "
            "is configured until you add them again"
        ]


def save_config(config: NetConfig, path: str | os.PathLike | None = None) -> Path:
    """Write ``config`` atomically; :class:`NodeError` naming the file when that fails."""
    path = Path(path) if path is not None else config_path()
    try:
        newer = _newer_version(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        newer = None
    if newer:
        raise NodeError(
            f"{path} was written by a newer medviewer (version {newer}); it is not "
            "overwritten: change the nodes with that version"
        )
    checked = NetConfig(config.local.checked(), [n.checked() for n in config.nodes])
    try:
        return write_json_atomic(path, checked.to_dict())
    except OSError as exc:
        raise NodeError(
            f"the DICOM node settings could not be saved to {path} ({exc.strerror or exc}); "
            "the previous settings are unchanged"
        ) from None
