"""Checks on the OpenLineage events a real cycle wrote (file transport): one START and one terminal event per
task run, the datasets each task reads and writes, and no personal data anywhere in them.

Called by the end-to-end cycle test (tests/e2e), which has run the DAG with the embedded mode's transport.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

DAG_ID = "vaxpass_issuance"
SITES, LANDING, REGISTRY = "/vaxpass/sites", "/vaxpass/landing", "/vaxpass/registry/persons"
QUALITY, MATCHES = "/vaxpass/ops/quality_results", "/vaxpass/ops/match_decisions"
REVIEWS, CERTIFICATES, REPORTS = "/vaxpass/ops/review_items", "/vaxpass/ops/certificates", "/vaxpass/reports"
CONFIRMATIONS = "/vaxpass/ops/confirmations"

# task → (input datasets, output datasets), as the DAG's Asset inlets/outlets declare them
EXPECTED: dict[str, tuple[set[str], set[str]]] = {
    "start_cycle": ({SITES}, set()),
    "extract": ({SITES}, {LANDING}),
    "validate": ({LANDING}, {QUALITY}),
    "match": ({QUALITY, REGISTRY}, {MATCHES}),
    "confirm_clean": ({MATCHES}, {CONFIRMATIONS}),
    "issue_clean": ({CONFIRMATIONS}, {CERTIFICATES}),
    "open_review": ({MATCHES}, {REVIEWS}),
    "district_review": (set(), {REVIEWS}),
    "confirm_reviewed": ({MATCHES}, {CONFIRMATIONS}),
    "issue_reviewed": ({REVIEWS, CONFIRMATIONS}, {CERTIFICATES}),
    "finish_cycle": ({CERTIFICATES}, {REPORTS}),
}


def load_events(events_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted(events_dir.glob("event-*.json"))
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def check_openlineage_events(events_dir: Path, *, run_id: str, personal: Iterable[str]) -> None:
    """Assert the events of DAG run `run_id` cover every task with the declared datasets, and that no event
    file contains any of the `personal` values."""
    events = [e for e in load_events(events_dir) if _run_id(e) == run_id]
    assert events, f"no OpenLineage event for run {run_id} in {events_dir}"
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        assert event["job"]["namespace"] == "vaxpass", event["job"]
        by_task[event["job"]["name"].removeprefix(f"{DAG_ID}.")].append(event)
    assert set(EXPECTED) <= set(by_task), f"tasks without events: {sorted(set(EXPECTED) - set(by_task))}"
    assert any(e["eventType"] == "COMPLETE" for e in by_task[DAG_ID]), "the DAG run's COMPLETE event"
    for task, (inputs, outputs) in EXPECTED.items():
        types = {e["eventType"] for e in by_task[task]}
        assert {"START", "COMPLETE"} <= types, (task, types)
        for event in by_task[task]:
            assert _names(event["inputs"]) == inputs, (task, event["eventType"], event["inputs"])
            assert _names(event["outputs"]) == outputs, (task, event["eventType"], event["outputs"])
    # every mapped site task ran: one COMPLETE per site
    sites = {_facet(e, "taskInstance", "rendered_map_index") for e in by_task["extract"] if e["eventType"] == "COMPLETE"}
    assert len(sites) >= 2 and None not in sites, sites
    needles = {n for n in personal if n}
    assert len(needles) > 100
    for path in events_dir.glob("event-*.json"):
        text = path.read_text(encoding="utf-8")
        # the events are JSON: non-ASCII may be escaped, so check the decoded text too
        decoded = json.dumps([json.loads(line) for line in text.splitlines() if line.strip()], ensure_ascii=False)
        leaked = [n for n in needles if n in text or n in decoded]
        assert not leaked, f"personal data in OpenLineage event {path.name}: {len(leaked)} value(s)"


def _names(datasets: list[dict[str, Any]]) -> set[str]:
    assert all(d["namespace"] == "file" for d in datasets), datasets
    return {d["name"] for d in datasets}


def _facet(event: dict[str, Any], *path: str) -> Any:
    value: Any = event["run"]["facets"].get("airflow", {})
    for key in path:
        value = (value or {}).get(key)
    return value


def _run_id(event: dict[str, Any]) -> str | None:
    facets = event["run"]["facets"]
    for name in ("airflow", "airflowDagRun"):
        if run_id := (facets.get(name, {}).get("dagRun") or {}).get("run_id"):
            return str(run_id)
    return None
