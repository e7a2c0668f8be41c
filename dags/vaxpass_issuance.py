"""
### vaxpass issuance cycle

One run is one issuance cycle of the city (DESIGN.md §3):

1. **start_cycle** — migrate the ops store, load the site registry, open the cycle;
2. **extract** (one task per site) — land each site's new files, immutable and hashed;
3. **validate** (one task per site) — the Great Expectations suite in `data_quality/`; failing rows are
   quarantined with their reasons; a site whose batch fails more than its threshold is held as a whole and
   the data engineers are notified (`vaxpass quality release` lets it go on);
4. **match** — against the population registry; clean records go on, the rest are flagged;
5. **issue_clean** — passports (EU-DCC `HC1:`) for matched records, without waiting for any review;
6. **district_review** (one gate per district with flagged records) — only that district's reviewers may
   answer, under *Browse → Required Actions*; the gate links the review page (`/vaxpass/review/<district>`)
   where they accept, correct or reject each record; approving applies those decisions (corrections are
   validated and matched again) and the proposed registry matches for the rest;
7. **issue_reviewed** — passports for the records the districts approved;
8. **finish_cycle** — the lineage completeness check (fails the cycle if a chain is broken) and the counts;
9. **watcher** — fails the run when any task of it failed (it is skipped otherwise).

A district gate left unanswered for 20 hours expires: its records go back to the queue, never auto-approved,
and are batched again by the next cycle.

Every task is idempotent: rerun any of them, or the whole cycle, and no certificate is issued twice.
XComs carry counts and ids only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, dag, task
from airflow.sdk.exceptions import AirflowFailException

from common.connections import resolve_connection
from common.gates import DistrictReviewGate, gate_kwargs
from common.notifiers import QualityHoldNotifier
from common.settings import settings

LANDING = Asset(name="vaxpass_landing_zone", uri="file:///vaxpass/landing")
QUALITY = Asset(name="vaxpass_quality_results", uri="file:///vaxpass/ops/quality_results")
MATCHES = Asset(name="vaxpass_match_decisions", uri="file:///vaxpass/ops/match_decisions")
REVIEWS = Asset(name="vaxpass_review_decisions", uri="file:///vaxpass/ops/review_items")
CERTIFICATES = Asset(name="vaxpass_certificates", uri="file:///vaxpass/ops/certificates")
REGISTRY = Asset(name="vaxpass_population_registry", uri="file:///vaxpass/registry/persons")

# Shorter than the schedule's interval: an unanswered gate expires before the next cycle starts, its records
# go back to the queue and are batched again (max_active_runs=1 keeps cycles from overlapping).
GATE_WINDOW = timedelta(hours=20)


@dag(
    dag_id="vaxpass_issuance",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Ho_Chi_Minh"),
    catchup=False,
    max_active_runs=1,
    tags=["vaxpass", "issuance"],
    doc_md=__doc__,
    default_args={"owner": "vaxpass-data", "retries": 2, "retry_delay": timedelta(seconds=20)},
)
def vaxpass_issuance() -> None:
    @task
    def start_cycle(**context: Any) -> list[str]:
        from vaxpass.pipeline import stages

        run = context["dag_run"]
        return stages.start_cycle(settings(), cycle_id=run.run_id, dag_id=run.dag_id, run_after=run.run_after)

    @task(outlets=[LANDING], map_index_template="{{ site_code }}")
    def extract(site_code: str, **context: Any) -> dict[str, Any]:
        from vaxpass.pipeline import stages

        return stages.extract(settings(), cycle_id=context["dag_run"].run_id, site_code=site_code,
                              connections=resolve_connection)

    # A site whose batch fails more than its threshold (data_quality/site_holds.json) is held, not failed: the
    # rest of the city goes on, and the notifier tells the data engineers.
    @task(inlets=[LANDING], outlets=[QUALITY], on_success_callback=[QualityHoldNotifier()])
    def validate(extracted: dict[str, Any], **context: Any) -> dict[str, Any]:
        from vaxpass.pipeline import stages

        run = context["dag_run"]
        return stages.validate(settings(), cycle_id=run.run_id, site_code=extracted["site_code"],
                               run_date=run.run_after.date())

    @task(trigger_rule="all_done", inlets=[QUALITY, REGISTRY], outlets=[MATCHES])
    def match(validated: list[dict[str, Any]], **context: Any) -> dict[str, Any]:
        from vaxpass.pipeline import stages

        return stages.match(settings(), cycle_id=context["dag_run"].run_id)

    @task(inlets=[MATCHES], outlets=[CERTIFICATES])
    def issue_clean(**context: Any) -> dict[str, Any]:
        from vaxpass.pipeline import stages

        run = context["dag_run"]
        return stages.issue(settings(), cycle_id=run.run_id, dag_id=run.dag_id, task_id="issue_clean",
                            issued_at=context["ti"].start_date)

    @task
    def open_review(**context: Any) -> list[dict[str, Any]]:
        from vaxpass.pipeline import stages

        return [gate_kwargs(b) for b in stages.open_review(settings(), cycle_id=context["dag_run"].run_id)]

    @task(trigger_rule="all_done", inlets=[REVIEWS], outlets=[CERTIFICATES])
    def issue_reviewed(**context: Any) -> dict[str, Any]:
        from vaxpass.pipeline import stages

        run = context["dag_run"]
        return stages.issue(settings(), cycle_id=run.run_id, dag_id=run.dag_id, task_id="issue_reviewed",
                            issued_at=context["ti"].start_date)

    @task(trigger_rule="all_done", inlets=[CERTIFICATES])
    def finish_cycle(**context: Any) -> dict[str, Any]:
        from vaxpass.pipeline import stages

        return stages.finish_cycle(settings(), cycle_id=context["dag_run"].run_id)

    @task(trigger_rule="one_failed", retries=0)
    def watcher() -> None:
        raise AirflowFailException("a task of this cycle failed: see the failed task's log")

    sites = start_cycle()
    matched = match(validate.expand(extracted=extract.expand(site_code=sites)))
    batches = open_review()
    clean = issue_clean()
    matched >> [clean, batches]
    gates = DistrictReviewGate.partial(
        task_id="district_review", response_timeout=GATE_WINDOW, outlets=[REVIEWS], retries=0,
        map_index_template="{{ task.district_code }}",
    ).expand_kwargs(batches)
    finished = finish_cycle()
    [clean, gates] >> issue_reviewed() >> finished
    # finish_cycle runs whatever happened upstream; the watcher makes the run fail when any task failed.
    [sites, matched, batches, clean, gates, finished] >> watcher()


vaxpass_issuance()
