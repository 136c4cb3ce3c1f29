"""A real PACS for tests and benchmarks: Debian's Orthanc, started on 127.0.0.1 with free ports
and a configuration in a temporary folder, stopped at the end. Nothing leaves the loopback.

    with OrthancServer(tmp, modalities={"medviewer": ("MEDVIEWER", 11112)}) as pacs:
        pacs.upload(paths)            # REST, POST /instances
        pacs.node()                   # a RemoteNode for medviewer.net
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from medviewer.net.nodes import RemoteNode

AE_TITLE = "ORTHANC"


def free_port() -> int:
    """A TCP port nothing listens on now (on 127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def orthanc_binary() -> str:
    exe = shutil.which("Orthanc") or (
        "/usr/sbin/Orthanc" if os.path.exists("/usr/sbin/Orthanc") else None
    )
    if exe is None:
        raise RuntimeError(
            "Orthanc is not installed: run `make system` as root (Debian package orthanc)"
        )
    return exe


class OrthancServer:
    """One Orthanc process. ``modalities``: name -> (AE title, port) of DICOM nodes on
    127.0.0.1 it knows (and will C-MOVE to / accept from)."""

    def __init__(
        self, folder: str | os.PathLike, modalities: dict[str, tuple[str, int]] | None = None
    ) -> None:
        self.folder = Path(folder)
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.modalities = dict(modalities or {})
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def node(
        self, name: str = "pacs", retrieve: str = "get", ae_title: str = AE_TITLE
    ) -> RemoteNode:
        return RemoteNode(name, ae_title, "127.0.0.1", self.dicom_port, retrieve)

    def start(self) -> OrthancServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = {
            "Name": "medviewer-test-pacs",
            "StorageDirectory": str(self.folder / "storage"),
            "IndexDirectory": str(self.folder / "storage"),
            "HttpServerEnabled": True,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomServerEnabled": True,
            "DicomAet": AE_TITLE,
            "DicomPort": self.dicom_port,
            "DicomCheckCalledAet": True,
            "DicomCheckModalityHost": True,
            "DicomAlwaysAllowEcho": False,
            "DicomAlwaysAllowStore": False,
            "DicomModalities": {
                name: {
                    "AET": aet,
                    "Host": "127.0.0.1",
                    "Port": port,
                    "AllowEcho": True,
                    "AllowFind": True,
                    "AllowGet": True,
                    "AllowMove": True,
                    "AllowStore": True,
                }
                for name, (aet, port) in self.modalities.items()
            },
            "Plugins": [],
            "StableAge": 1,
            "UnknownSopClassAccepted": True,
            "DicomScpTimeout": 30,
            "LimitFindResults": 0,
            "LimitFindInstances": 0,
            "SaveJobs": False,
        }
        cfg = self.folder / "orthanc.json"
        cfg.write_text(json.dumps(config, indent=2))
        log = open(self.folder / "orthanc.log", "wb")
        self._proc = subprocess.Popen(
            [orthanc_binary(), str(cfg)], stdout=log, stderr=subprocess.STDOUT, cwd=self.folder
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited at start-up: {self.log_tail()}")
            try:
                self.get("/system")
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer within 30 s: {self.log_tail()}")

    def log_tail(self, n: int = 3000) -> str:
        try:
            return (self.folder / "orthanc.log").read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def __enter__(self) -> OrthancServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- REST (loopback) ---------------------------------------------------------------------
    def _request(self, method: str, path: str, body: bytes | None = None):
        req = urllib.request.Request(self.url + path, data=body, method=method)
        if body is not None:
            req.add_header("Content-Type", "application/dicom")
        with urllib.request.urlopen(req, timeout=30) as resp:
            data = resp.read()
        return json.loads(data) if data[:1] in (b"{", b"[") else data

    def get(self, path: str):
        return self._request("GET", path)

    def delete(self, path: str):
        return self._request("DELETE", path)

    def upload(self, paths) -> int:
        """POST every file of ``paths`` (files or folders); returns how many were stored."""
        n = 0
        for p in paths:
            p = Path(p)
            files = (
                sorted(
                    f
                    for f in p.rglob("*")
                    if f.is_file() and not any(x.startswith(".") for x in f.relative_to(p).parts)
                )
                if p.is_dir()
                else [p]
            )
            for f in files:
                self._request("POST", "/instances", f.read_bytes())
                n += 1
        return n

    def instances_of(self, sop_uid: str) -> bytes:
        """The stored file of the instance ``sop_uid`` (as Orthanc keeps it)."""
        found = self._request(
            "POST",
            "/tools/find",
            json.dumps({"Level": "Instance", "Query": {"SOPInstanceUID": sop_uid}}).encode(),
        )
        if not found:
            raise KeyError(sop_uid)
        return self.get(f"/instances/{found[0]}/file")

    def clear(self) -> None:
        for patient in self.get("/patients"):
            self.delete(f"/patients/{patient}")
