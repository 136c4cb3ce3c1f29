"""The Network windows' texts and rules, without Qt (medviewer.session.network)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from medviewer.jobs import Progress
from medviewer.net.nodes import RemoteNode
from medviewer.net.retrieve import RetrieveEvent
from medviewer.session.network import (
    RescanThrottle,
    RetrieveState,
    date_range,
    echo_text,
    merged_paths,
    read_local,
    read_node,
    split_titles,
)


def test_the_station_form_is_checked_field_by_field():
    local, errors = read_local(
        {
            "ae_title": "X" * 17,
            "port": "abc",
            "allowed_callers": "PACS, BAD\\AE",
            "store_folder": "rel",
        }
    )
    assert local is None
    assert "at most 16" in errors["ae_title"] and "not a TCP port" in errors["port"]
    assert "store_folder" in errors and "full path" in errors["store_folder"]
    local, errors = read_local(
        {"ae_title": " READING1 ", "port": "11112", "allowed_callers": "PACS_AE, CT 1"}
    )
    assert errors == {} and local.ae_title == "READING1" and local.port == 11112
    assert local.allowed_callers == ("PACS_AE", "CT 1")
    assert split_titles("A B") == ("A", "B")


def test_a_node_form_refuses_a_second_name_and_a_bad_host():
    other = RemoteNode("PACS", "P", "10.0.0.1", 104)
    node, errors = read_node({"name": "pacs", "ae_title": "A", "host": "x y", "port": "0"}, [other])
    assert node is None and set(errors) == {"name", "host", "port"}
    node, errors = read_node(
        {"name": "CT", "ae_title": "CT_AE", "host": "ct.local", "port": "104", "retrieve": "move"}
    )
    assert errors == {} and node == RemoteNode("CT", "CT_AE", "ct.local", 104, "move")


def test_verify_results_in_words():
    ok = SimpleNamespace(ok=True, ms=3.4, reason="ok", message="PACS answered in 3 ms")
    refused = SimpleNamespace(ok=False, ms=1.0, reason="refused", message="nothing listens")
    assert echo_text(ok)[:2] == ("ok, 3 ms", True)
    assert echo_text(refused) == ("connection refused", False, "nothing listens")


def test_date_presets():
    today = dt.date(2026, 3, 10)
    assert date_range("Any date", today) == ("", "")
    assert date_range("Today", today) == ("20260310", "20260310")
    assert date_range("Yesterday", today) == ("20260309", "20260309")
    assert date_range("Last 7 days", today) == ("20260304", "20260310")


def test_retrieve_state_counts_and_lists_failures():
    s = RetrieveState("CT head", "1.2", expected=3)
    assert s.status_text() == "connecting…"
    s.add(Progress(1, 3, "", RetrieveEvent("stored", "stored", None, "1.2.3", "1.2.3.1")))
    line = s.add(Progress(2, 3, "", RetrieveEvent("failed", "disk full", None, "", "1.2.3.2")))
    assert line == "1.2.3.2: disk full" and s.series_seen == ["1.2.3"]
    assert s.status_text() == "1 of 3 instances, 1 failed"
    s.failed("the node closed the association")
    assert s.state == "failed" and "closed" in s.status_text()


def test_rescans_are_throttled_and_paths_merged(tmp_path):
    t = RescanThrottle(1.5)
    assert t.note("/s/A", 10.0) == 0.0  # the first file of a study: at once
    assert t.take(10.0) == ["/s/A"]
    assert t.note("/s/A", 10.5) == 1.0 and t.pending
    assert t.take(11.5) == ["/s/A"] and not t.pending
    a = str(tmp_path / "a")
    assert merged_paths([a], str(tmp_path / "a" / "1.2")) == [a]
    assert merged_paths([a], str(tmp_path / "b")) == [a, str(tmp_path / "b")]
