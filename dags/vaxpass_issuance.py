"""
### vaxpass issuance cycle

One run is one issuance cycle of the city (DESIGN.md §3):

1. **start_cycle** — migrate the ops store, load the site registry, open the cycle;
2. **extract** (one task per site) — land each site's new files, immutable and hashed;
3. **validate** (one task per site) — the Great Expectations suite in `data_quality/`; failing rows are
   quarantined with their reasons; a site whose batch fails more than its threshold is held as a whole and
   the data engineers are notified (`vaxpass quality release` lets it go on);
4. **match** (one task per bucket of dose records) — against the population registry; clean records go on,
   the rest are flagged;
5. **confirm_clean** (one task per site) — the site head signs the list of the site's matched doses
   ("Danh sách xác nhận tiêm chủng", PAdES, Merkle root; each record keeps its inclusion proof);
6. **issue_clean** (one task per bucket of persons) — passports (EU-DCC `HC1:`) for the confirmed records,
   without waiting for any review; each is verified against the trust list before it is published;
7. **district_review** (one gate per district with flagged records) — only that district's reviewers may
   answer, under *Browse → Required Actions*; the gate links the review page (`/vaxpass/review/<district>`)
   where they accept, correct or reject each record; approving applies those decisions (corrections are
   validated and matched again) and the proposed registry matches for the rest;
8. **confirm_reviewed** (one task per site) — the site heads sign the lists of the records approved;
9. **issue_reviewed** (one task per bucket of persons) — passports for the records the districts approved;
10. **finish_cycle** — the lineage completeness check (fails the cycle if a chain is broken) and the counts;
11. **watcher** — fails the run when any task of it failed (it is skipped otherwise).

A site whose confirmation fails (e.g. its head has no key) fails alone: the other sites' records are issued,
its own wait (counted `unconfirmed`) and the watcher fails the run.

A district gate left unanswered for 20 hours expires: its records go back to the queue, never auto-approved,
and are batched again by the next cycle. A gate is retried like every task, and a retry applies the district's
answer Airflow already holds instead of asking again (`common/gates.py`).

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
from common.faults import pause_for_crash_test
from common.gates import DistrictReviewGate, gate_kwargs
from common.notifiers import QualityHoldNotifier
from common.settings import settings

# The datasets of the flow, as OpenLineage sees them (file:// URIs become namespace "file", name the path).
SITE_SOURCES = Asset(name="vaxpass_site_sources", uri="file:///vaxpass/sites")
LANDING = Asset(name="vaxpass_landing_zone", uri="file:///vaxpass/landing")
QUALITY = Asset(name="vaxpass_quality_results", uri="file:///vaxpass/ops/quality_results")
MATCHES = Asset(name="vaxpass_match_decisions", uri="file:///vaxpass/ops/match_decisions")
REVIEWS = Asset(name="vaxpass_review_decisions", uri="file:///vaxpass/ops/review_items")
CONFIRMATIONS = Asset(name="vaxpass_facility_confirmations", uri="file:///vaxpass/ops/confirmations")
CERTIFICATES = Asset(name="vaxpass_certificates", uri="file:///vaxpass/ops/certificates")
REGISTRY = Asset(name="vaxpass_population_registry", uri="file:///vaxpass/registry/persons")
RUN_REPORTS = Asset(name="vaxpass_run_reports", uri="file:///vaxpass/reports")

# Shorter than the schedule's interval: an unanswered gate expires before the next cycle starts, its records
# go back to the queue and are batched again (max_active_runs=1 keeps cycles from overlapping).
GATE_WINDOW = timedelta(hours=20)

# Matching and issuance are split into buckets (dose records by id, persons by pseudonymous id) so that the
# Celery workers share a cycle; every record and every person falls in exactly one bucket (1, 2, 4, 8 or 16).
BUCKETS = 4


@dag(
    dag_id="vaxpass_issuance",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Ho_Chi_Minh"),
    catchup=False,
    max_active_runs=1,
    tags=["vaxpass", "issuance"],
    doc_md=__doc__,
    default_args={"owner": "vaxpass-data", "retries": 2, "retry_delay": timedelta(seconds=20),
                  "post_execute": pause_for_crash_test},
)
def vaxpass_issuance() -> None:
    @task(inlets=[SITE_SOURCES])
    def start_cycle(**context: Any) -> list[str]:
        from vaxpass.pipeline import stages

        run = context["dag_run"]
        return stages.start_cycle(settings(), cycle_id=run.run_id, dag_id=run.dag_id, run_after=run.run_after)

    @task(inlets=[SITE_SOURCES], outlets=[LANDING], map_index_template="{{ site_code }}")
    def extract(site_code: str, **context: Any) -> dict[str, Any]:
        from vaxpass.pipeline import stages

        return stages.extract(settings(), cycle_id=context["dag_run"].run_id, site_code=site_code,
                              connections=resolve_connection)

    # A site whose batch fails more than its threshold (data_quality/site_holds.json) is held, not failed: the
    # rest of the city goes on, and the notifier tells the data engineers.
    @task(inlets=[LANDING], outlets=[QUALITY], on_success_callback=[QualityHoldNotifier()])
    def validate(extracted: dict[str, Any], **context: Any) -> dict[str, Any]:
        import logging
        import sys

        # the worker imports Great Expectations once before forking task processes (vaxpass.preload); without
        # it this task pays GE's import itself (7-10 CPU-s). tests/deploy checks this line.
        preloaded = "great_expectations" in sys.modules
        logging.getLogger(__name__).info("great_expectations preloaded by the worker: %s", preloaded)
        from vaxpass.pipeline import stages

        run = context["dag_run"]
        return stages.validate(settings(), cycle_id=run.run_id, site_code=extracted["site_code"],
                               run_date=run.run_after.date())

    @task(trigger_rule="all_done", inlets=[QUALITY, REGISTRY], outlets=[MATCHES])
    def match(bucket: int, **context: Any) -> dict[str, Any]:
        from vaxpass.pipeline import stages
        from vaxpass.store.partition import Partition

        return stages.match(settings(), cycle_id=context["dag_run"].run_id, partition=Partition(bucket, BUCKETS))

    @task(inlets=[MATCHES], outlets=[CONFIRMATIONS], map_index_template="{{ site_code }}")
    def confirm(site_code: str, **context: Any) -> dict[str, Any]:
        from vaxpass.pipeline import stages

        return stages.confirm(settings(), cycle_id=context["dag_run"].run_id, site_code=site_code,
                              signed_at=context["ti"].start_date)

    # all_done: one site's failed confirmation holds back only that site's records
    @task(trigger_rule="all_done", inlets=[CONFIRMATIONS], outlets=[CERTIFICATES])
    def issue_clean(bucket: int, **context: Any) -> dict[str, Any]:
        from vaxpass.pipeline import stages
        from vaxpass.store.partition import Partition

        run = context["dag_run"]
        return stages.issue(settings(), cycle_id=run.run_id, dag_id=run.dag_id, task_id="issue_clean",
                            issued_at=context["ti"].start_date, partition=Partition(bucket, BUCKETS))

    @task(inlets=[MATCHES], outlets=[REVIEWS])
    def open_review(**context: Any) -> list[dict[str, Any]]:
        from vaxpass.pipeline import stages

        return [gate_kwargs(b) for b in stages.open_review(settings(), cycle_id=context["dag_run"].run_id)]

    @task(trigger_rule="all_done", inlets=[REVIEWS, CONFIRMATIONS], outlets=[CERTIFICATES])
    def issue_reviewed(bucket: int, **context: Any) -> dict[str, Any]:
        from vaxpass.pipeline import stages
        from vaxpass.store.partition import Partition

        run = context["dag_run"]
        return stages.issue(settings(), cycle_id=run.run_id, dag_id=run.dag_id, task_id="issue_reviewed",
                            issued_at=context["ti"].start_date, partition=Partition(bucket, BUCKETS))

    @task(trigger_rule="all_done", inlets=[CERTIFICATES], outlets=[RUN_REPORTS])
    def finish_cycle(**context: Any) -> dict[str, Any]:
        from airflow.sdk import conf

        from vaxpass.pipeline import stages

        return stages.finish_cycle(settings(), cycle_id=context["dag_run"].run_id,
                                   web_url=conf.get("api", "base_url", fallback=None))

    @task(trigger_rule="one_failed", retries=0)
    def watcher() -> None:
        raise AirflowFailException("a task of this cycle failed: see the failed task's log")

    sites = start_cycle()
    buckets = list(range(BUCKETS))
    matched = match.expand(bucket=buckets)
    validate.expand(extracted=extract.expand(site_code=sites)) >> matched
    batches = open_review()
    confirmed_clean = confirm.override(task_id="confirm_clean").expand(site_code=sites)
    clean = issue_clean.expand(bucket=buckets)
    matched >> [confirmed_clean, batches]
    confirmed_clean >> clean
    gates = DistrictReviewGate.partial(
        task_id="district_review", response_timeout=GATE_WINDOW, outlets=[REVIEWS],
        map_index_template="{{ task.district_code }}",
    ).expand_kwargs(batches)
    finished = finish_cycle()
    confirmed_reviewed = confirm.override(task_id="confirm_reviewed", trigger_rule="all_done").expand(
        site_code=sites)
    reviewed = issue_reviewed.expand(bucket=buckets)
    [clean, gates] >> confirmed_reviewed >> reviewed >> finished
    # finish_cycle runs whatever happened upstream; the watcher makes the run fail when any task failed.
    [sites, matched, batches, confirmed_clean, clean, gates, confirmed_reviewed, reviewed, finished] >> watcher()


vaxpass_issuance()
