"""A small real FHIR server for tests: `ThreadingHTTPServer` on 127.0.0.1 serving paged Immunization searches
(`_lastUpdated=gt…` compared as instants with their time zones, `_count`, `_include=Immunization:patient`) from an
in-memory list."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vaxpass.extract.fhir_source import fhir_instant
from vaxpass.synth.fhir import bundle


class FhirStore:
    def __init__(self) -> None:
        self.items: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (patient, immunization)
        self.requests: list[str] = []
        self.fail_with: int | None = None

    def put(self, patient: dict[str, Any], imm: dict[str, Any]) -> None:
        self.items = [it for it in self.items if it[1]["id"] != imm["id"]] + [(patient, imm)]


def _instant(text: str) -> datetime:
    value = fhir_instant(text)
    assert value is not None, f"not a FHIR instant: {text!r}"
    return value


def _handler(store: FhirStore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            store.requests.append(self.path)
            url = urllib.parse.urlsplit(self.path)
            q = dict(urllib.parse.parse_qsl(url.query))
            if store.fail_with or url.path != "/fhir/Immunization":
                self.send_response(store.fail_with or 404)
                self.end_headers()
                return
            since = q.get("_lastUpdated", "gt")[2:]
            floor = fhir_instant(since) if since else datetime.min.replace(tzinfo=UTC)
            if floor is None or (since and not q["_lastUpdated"].startswith("gt")):
                self.send_response(400)  # only `gt` with an instant is implemented here
                self.end_headers()
                return
            items = sorted((it for it in store.items if _instant(it[1]["meta"]["lastUpdated"]) > floor),
                           key=lambda it: (_instant(it[1]["meta"]["lastUpdated"]), it[1]["id"]))
            count, offset = int(q.get("_count", "50")), int(q.get("_offset", "0"))
            base = f"http://{self.headers['Host']}/fhir/Immunization"
            nxt = None
            if offset + count < len(items):
                nxt = base + "?" + urllib.parse.urlencode({**q, "_offset": str(offset + count)})
            body = json.dumps(bundle(items[offset:offset + count], self_url=base + "?" + url.query,
                                     next_url=nxt), ensure_ascii=False).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def fhir_server(store: FhirStore) -> Iterator[str]:
    """The server's base URL (loopback, an ephemeral port), shut down on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(store))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/fhir"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
