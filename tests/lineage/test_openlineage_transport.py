"""The embedded mode's OpenLineage configuration: file transport by default, a Marquez (OpenLineage HTTP)
endpoint when VAXPASS_OPENLINEAGE_URL is set — checked with a real HTTP server receiving the provider's event."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from embedded import REPO, airflow_env

from tests.lineage.openlineage_events import MATCHES, QUALITY, REGISTRY, load_events


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def marquez() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """A small OpenLineage HTTP endpoint on a free port (what Marquez offers at /api/v1/lineage)."""
    received: list[tuple[str, dict[str, Any]]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def _emit(env: dict[str, str], task_id: str) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "lineage" / "emit_via_provider.py"), task_id],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str | None) -> dict[str, str]:
    monkeypatch.delenv("AIRFLOW__OPENLINEAGE__TRANSPORT", raising=False)
    if url:
        monkeypatch.setenv("VAXPASS_OPENLINEAGE_URL", url)
    else:
        monkeypatch.delenv("VAXPASS_OPENLINEAGE_URL", raising=False)
    return airflow_env(airflow_home=tmp_path / "airflow", vaxpass_home=tmp_path / "vaxpass", users={})


def test_events_go_to_a_marquez_endpoint_when_configured(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, marquez: tuple[str, list[tuple[str, dict[str, Any]]]]) -> None:
    url, received = marquez
    env = _env(tmp_path, monkeypatch, url)
    assert json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"])["type"] == "http"
    _emit(env, "match")
    assert [path for path, _ in received] == ["/api/v1/lineage"]
    event = received[0][1]
    assert event["eventType"] == "START" and event["job"] == {**event["job"], "namespace": "vaxpass",
                                                               "name": "vaxpass_issuance.match"}
    assert {d["name"] for d in event["inputs"]} == {QUALITY, REGISTRY}
    assert {d["name"] for d in event["outputs"]} == {MATCHES}
    assert not (tmp_path / "vaxpass" / "openlineage").exists() or not list(
        (tmp_path / "vaxpass" / "openlineage").iterdir())


def test_events_are_files_under_vaxpass_home_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _env(tmp_path, monkeypatch, None)
    assert json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"])["type"] == "file"
    _emit(env, "issue_clean")
    events = load_events(tmp_path / "vaxpass" / "openlineage")
    assert [e["job"]["name"] for e in events] == ["vaxpass_issuance.issue_clean"]
    assert {d["name"] for d in events[0]["outputs"]} == {"/vaxpass/ops/certificates"}
