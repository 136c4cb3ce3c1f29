"""Node settings: checked with plain-words messages, stored atomically, read forgivingly;
nothing configured by default."""

from __future__ import annotations

import errno
import json
import socket

import pytest

from medviewer.net.association import probe
from medviewer.net.nodes import (
    LocalNode,
    NetConfig,
    NodeError,
    RemoteNode,
    load_config,
    save_config,
)


def test_a_nodes_file_of_a_newer_version_is_read_and_never_overwritten(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDVIEWER_CONFIG_DIR", str(tmp_path))
    save_config(NetConfig(nodes=[RemoteNode("pacs", "PACS", "10.0.0.5", 104)]))
    (path,) = tmp_path.glob("*.json")
    data = json.loads(path.read_text())
    data["version"] = 9
    data["nodes"][0]["tls"] = {"ca": "/etc/pki/ca.pem"}
    path.write_text(json.dumps(data))
    config, warnings = load_config()
    assert [n.name for n in config.nodes] == ["pacs"]
    assert len(warnings) == 1 and "newer medviewer (version 9)" in warnings[0]
    before = path.read_bytes()
    with pytest.raises(NodeError, match="newer medviewer .*not overwritten"):
        save_config(config)
    assert path.read_bytes() == before  # the "tls" block of the newer version is kept


def test_nothing_is_configured_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDVIEWER_CONFIG_DIR", str(tmp_path))
    config, warnings = load_config()
    assert warnings == [] and config.nodes == [] and not config.configured
    assert not config.local.receive_enabled and config.callers() == ()


@pytest.mark.parametrize(
    ("node", "words"),
    [
        (RemoteNode("pacs", "", "h", 104), "AE title of node pacs is empty"),
        (RemoteNode("pacs", "A" * 17, "h", 104), "has 17 characters"),
        (RemoteNode("pacs", "A\\B", "h", 104), "backslash"),
        (RemoteNode("pacs", "PACS", "h", 0), "not a TCP port"),
        (RemoteNode("pacs", "PACS", "h", 70000), "not a TCP port"),
        (RemoteNode("pacs", "PACS", "bad host!", 104), "not a host name"),
        (RemoteNode("", "PACS", "h", 104), "needs a name"),
        (RemoteNode("pacs", "PACS", "h", 104, "push"), "retrieve method 'push'"),
    ],
)
def test_bad_node_settings_are_refused_in_plain_words(node, words):
    with pytest.raises(NodeError, match=words):
        NetConfig().with_node(node)


def test_settings_round_trip_and_unknown_names_list_the_nodes(tmp_path):
    path = tmp_path / "dicom-nodes.json"
    config = NetConfig(LocalNode(ae_title="READING1", allowed_callers=("PACS",)))
    config = config.with_node(RemoteNode("PACS", " PACSAE ", "10.0.0.5", 104, "move"))
    config = config.with_node(RemoteNode("archive", "ARCH", "archive.local", 11112))
    save_config(config, path)
    again, warnings = load_config(path)
    assert warnings == []
    assert again.node("pacs") == RemoteNode("PACS", "PACSAE", "10.0.0.5", 104, "move")
    assert again.local.ae_title == "READING1" and again.callers() == ("PACS",)
    assert again.configured
    with pytest.raises(NodeError, match=r"no DICOM node called 'x' \(nodes: PACS, archive\)"):
        again.node("x")
    # a second node of the same name (any case, spaces) is refused unless it replaces
    for name in ("pacs", "PACS", " Pacs "):
        with pytest.raises(NodeError, match="already a node called PACS: .*--replace"):
            again.with_node(RemoteNode(name, "NEW", "10.0.0.6", 104))
    again = again.with_node(RemoteNode("pacs", "NEW", "10.0.0.6", 104), replace=True)
    assert [n.name for n in again.nodes] == ["archive", "pacs"]
    # each calling AE title once
    twice = NetConfig().with_node(RemoteNode("a", "ORTHANC", "10.0.0.7", 104))
    twice = twice.with_node(RemoteNode("b", "ORTHANC", "10.0.0.8", 104))
    assert twice.callers() == ("ORTHANC",)


@pytest.mark.parametrize("host", ["10.0.0.300", "256.1.1.1", "1.2.3.999"])
def test_four_numbers_must_be_an_ip_address(host):
    with pytest.raises(NodeError, match=f"the host '{host}' is not an IP address: each"):
        RemoteNode("pacs", "PACS", host, 104).checked()
    assert RemoteNode("pacs", "PACS", "10.0.0.255", 104).checked().host == "10.0.0.255"


def test_a_damaged_file_is_kept_aside_and_read_as_nothing_configured(tmp_path):
    path = tmp_path / "dicom-nodes.json"
    path.write_text(json.dumps({"nodes": [{"name": "pacs", "ae_title": "X" * 40}]}))
    config, warnings = load_config(path)
    assert config.nodes == [] and len(warnings) == 1
    assert "copied to" in warnings[0] and (tmp_path / "dicom-nodes.json.bad").exists()
    path.write_text("{not json")
    assert load_config(path)[0].nodes == []


def test_an_unwritable_settings_place_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(NodeError, match="could not be saved .* previous settings are unchanged"):
        save_config(NetConfig(), blocker / "dicom-nodes.json")


@pytest.mark.parametrize(
    ("error", "reason", "words"),
    [
        (ConnectionRefusedError(), "refused", "connection refused"),
        (TimeoutError(), "timeout", "did not answer within"),
        (socket.gaierror(), "no_route", "unknown here"),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), "no_route", "no route"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "no_route", "no route"),
    ],
)
def test_why_a_connection_fails_is_said_in_plain_words(monkeypatch, error, reason, words):
    # no packet leaves the machine: the connection attempt itself is replaced
    def fail(*a, **k):
        raise error

    monkeypatch.setattr(socket, "create_connection", fail)
    got_reason, got_words = probe("pacs.hospital.local", 104, 2.0)
    assert got_reason == reason and words in got_words
