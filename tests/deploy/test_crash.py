"""Crash safety: a Celery worker killed (SIGKILL, its whole process group) during extraction, matching, a
district gate and signing of one cycle; Airflow finds the tasks without heartbeat, retries them on a worker, and
the cycle ends with no duplicate certificate, no lost record, and counts equal to an uncrashed reference run of
the same data.

Each stage's kill lands after its work is committed and before the task reports success (a test-only pause,
dags/common/faults.py): the retry then redoes a stage whose work is already in the store, the moment a
duplicate would come from. The gate's kill lands after the district's answer reached it and before it is
applied, the moment an answer would be lost: its retry must apply the answer Airflow holds without asking the
district again (each gate is answered exactly once). Zombie detection is made quick with
`[scheduler] task_instance_heartbeat_timeout`. A task a killed worker had taken from the queue but not started
yet is neither running nor heartbeating: it stays queued until `[scheduler] task_queued_timeout` (600 s by
default) requeues it, shortened here to `QUEUED_TIMEOUT` (on a loaded machine a kill during issuance once left
one such task queued for 11 minutes).
"""

from __future__ import annotations

import secrets
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.deploy.checks import check_certificates, reconcile, save_report, store_counts
from tests.deploy.topology import CeleryTopology

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "dags"))

# ~7 min alone on the 2-core machine; the margin is for a shared, loaded machine
pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(2400)]

PAUSE = 15  # seconds each paused task waits (its work committed, or the gate its answer unapplied) for the kill
HEARTBEAT_TIMEOUT = 20
QUEUED_TIMEOUT = 180  # also the lifetime of a queued task's Execution API token: not too short
STAGES = ("extract", "match", "issue_clean")
GATE = "district_review"


def _progress(topology: CeleryTopology, task_id: str) -> int:
    """How much of the stage's work is committed in the ops store."""
    from vaxpass.store import session_scope
    from vaxpass.store.models import Certificate, ExtractionRun, MatchDecision

    model: Any = {"extract": ExtractionRun, "match": MatchDecision, "issue_clean": Certificate}[task_id]
    with session_scope(topology.ops_url) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _open_batches(topology: CeleryTopology) -> set[str]:
    """The districts whose review batch still waits for its answer to be applied."""
    from vaxpass.store import session_scope
    from vaxpass.store.models import ReviewBatch

    with session_scope(topology.ops_url) as session:
        return set(session.scalars(select(ReviewBatch.district_code).where(ReviewBatch.status == "open")))


def _due(topology: CeleryTopology, run_id: str, target: str, tis: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first tries of `target` running at their kill moment: a stage's with its work committed; a gate's
    paused between the district's answer and applying it (its log says so)."""
    from common.faults import PAUSED_BEFORE_APPLYING

    running = [t for t in tis if t["task_id"] == target and t["state"] == "running" and t["try_number"] == 1
               and t["hostname"]]
    if target == GATE:
        return [t for t in running
                if PAUSED_BEFORE_APPLYING in topology.task_log(run_id, GATE, t["map_index"], attempt=1)]
    return running if running and _progress(topology, target) > 0 else []


def _kill_each(topology: CeleryTopology, run_id: str, answers: list[dict[str, Any]],
               timeout: float = 600) -> list[dict[str, Any]]:
    """Kill a worker at each target's moment (`_due`), answering the gates as they open (into `answers`): SIGKILL
    the process group of a worker running the target, and start a fresh worker under the same name. Whatever
    else ran on it is killed too (and retried as well)."""
    pending = [*STAGES, GATE]
    kills: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        answers += topology.answer_gates(run_id)
        tis = topology.task_instances(run_id)
        for target in pending:
            due = _due(topology, run_id, target, tis)
            if not due:
                continue
            victim = due[0]["hostname"].split("@")[0]
            on_victim = [t for t in tis if t["state"] == "running" and t["hostname"].startswith(victim + "@")]
            open_batches = _open_batches(topology)
            topology.processes[victim].kill_group()  # SIGKILL: no warm shutdown, no goodbye to the broker
            topology.processes[victim].stop(grace=0)  # reaps it and closes its log
            topology.start_worker(victim)
            kills.append({"stage": target, "worker": victim,
                          "tasks": [(t["task_id"], t["map_index"]) for t in on_victim],
                          "targets": [(t["task_id"], t["map_index"], t["rendered_map_index"])
                                      for t in due if t["hostname"].startswith(victim + "@")],
                          "committed_before_kill": None if target == GATE else _progress(topology, target),
                          "open_batches_at_kill": sorted(open_batches)})
            pending.remove(target)
            break
        state = topology.run_state(run_id)
        assert state not in ("success", "failed"), f"the run ended ({state}) before {pending} could be killed"
        time.sleep(0.5)
    assert not pending, f"{pending} never reached their kill moment within {timeout}s"
    return kills


def _reference(data: Path, tmp: Path) -> dict[str, int]:
    """The same data through the same stages in one process, uncrashed (SQLite), every gate approved."""
    from vaxpass.config import Settings
    from vaxpass.domain import load_sites
    from vaxpass.pipeline import stages
    from vaxpass.signing.admin import init_pki
    from vaxpass.store import session_scope
    from vaxpass.store.models import Certificate, DoseRecord, Reviewer

    now = datetime.now(UTC)
    s = Settings(db_url=f"sqlite:///{tmp / 'ref.sqlite'}", data_dir=data, landing_dir=tmp / "landing",
                 pki_dir=tmp / "pki", key_passphrase=secrets.token_urlsafe(12).encode(),
                 pseudonym_key=secrets.token_bytes(32))
    init_pki(s, now=now)
    cycle = "reference"
    sites = stages.start_cycle(s, cycle_id=cycle, dag_id="reference", run_after=now)
    with session_scope(s.db_url) as session:
        for district in sorted({site.district_code for site in load_sites(s.sites_file)}):
            session.add(Reviewer(username=f"rv_{district}", district_code=district, display_name=district))
    for code in sites:
        stages.extract(s, cycle_id=cycle, site_code=code)
        stages.validate(s, cycle_id=cycle, site_code=code, run_date=now.date())
    stages.match(s, cycle_id=cycle)
    for code in sites:
        stages.confirm(s, cycle_id=cycle, site_code=code, signed_at=now)
    stages.issue(s, cycle_id=cycle, dag_id="reference", task_id="issue_clean", issued_at=now)
    for batch in stages.open_review(s, cycle_id=cycle):
        stages.decide_review(s, batch_id=batch["batch_id"], approved=True, decided_by="reference", decided_at=now)
    for code in sites:
        stages.confirm(s, cycle_id=cycle, site_code=code, signed_at=now)
    stages.issue(s, cycle_id=cycle, dag_id="reference", task_id="issue_reviewed", issued_at=now)

    with session_scope(s.db_url) as session:
        by_status = dict(session.execute(select(DoseRecord.status, func.count()).group_by(DoseRecord.status))
                         .tuples().all())
        current = session.scalar(select(func.count()).select_from(Certificate).where(Certificate.status == "current"))
    return {"records_by_status": by_status, "current": current}


def test_killed_workers_lose_nothing_and_duplicate_nothing(celery_topology: Callable[..., CeleryTopology]) -> None:
    topology = celery_topology(persons=300, sites=4, extra_env={
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": str(QUEUED_TIMEOUT),
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "10",
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
        **{f"VAXPASS_TEST_PAUSE_{stage.upper()}": str(PAUSE) for stage in STAGES},
        f"VAXPASS_TEST_PAUSE_BEFORE_{GATE.upper()}": str(PAUSE),
    })
    reference_data = topology.tmp / "reference-data"
    shutil.copytree(topology.data_dir, reference_data)
    run_id = topology.trigger()
    answers: list[dict[str, Any]] = []
    kills = _kill_each(topology, run_id, answers)
    state, more_answers = topology.wait_for_run(run_id, timeout=900)
    answers += more_answers
    tis = topology.task_instances(run_id)
    save_report(topology.tmp / "report.json", {"state": state, "kills": kills, "gates": answers, "tis": tis})
    assert state == "success", tis

    # every killed task was found without heartbeat and retried to success
    by_key = {(t["task_id"], t["map_index"]): t for t in tis}
    for kill in kills:
        assert kill["targets"], kill
        for key in kill["tasks"]:
            assert by_key[tuple(key)]["state"] == "success" and by_key[tuple(key)]["try_number"] >= 2, by_key[key]
        if kill["stage"] != GATE:
            assert kill["committed_before_kill"] > 0
    # the killed gate's answer was not applied yet, and its retry applied it without asking again: every gate
    # was answered once, by its reviewer, and every batch is approved
    gate_kill = next(kill for kill in kills if kill["stage"] == GATE)
    assert {district for _, _, district in gate_kill["targets"]} <= set(gate_kill["open_batches_at_kill"])
    assert all(answer["status"] == 200 for answer in answers), answers
    asked = Counter(answer["map_index"] for answer in answers)
    gates = [t for t in tis if t["task_id"] == GATE]
    assert gates and asked == Counter({t["map_index"]: 1 for t in gates}), (asked, gates)
    assert not _open_batches(topology)

    counts = check_certificates(topology)  # one certificate per person, unique UVCIs, all verify
    tally = reconcile(topology)  # every source row once, every person issued, waiting or quarantined
    from vaxpass.store import session_scope
    from vaxpass.store.models import MatchDecision, ReviewBatch

    with session_scope(topology.ops_url) as session:
        per_record = Counter(session.scalars(select(MatchDecision.dose_record_id)))
        decided = Counter(session.scalars(select(ReviewBatch.status)))
    assert per_record and max(per_record.values()) == 1, "a record was matched twice"
    assert decided == Counter({"approved": len(gates)}), decided

    reference = _reference(reference_data, topology.tmp / "reference")
    assert counts["current"] == reference["current"] == tally["issued"]
    assert store_counts(topology)["records_by_status"] == reference["records_by_status"]
