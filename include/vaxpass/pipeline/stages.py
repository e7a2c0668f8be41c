"""The stages of one issuance cycle, as the DAG calls them: small arguments in, small summaries out.

Every function takes `Settings` and ids, does its work through the ops store, and returns counts and ids
that are safe for an XCom (no personal data). Each is idempotent for the same cycle.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from vaxpass.config import Settings
from vaxpass.confirmation.confirm import confirm_site
from vaxpass.domain import SiteConfig, load_sites
from vaxpass.errors import ConfigError
from vaxpass.extract import ConnectionResolver, extract_site
from vaxpass.history import timed
from vaxpass.issuance import issue_certificates
from vaxpass.lineage import check_lineage
from vaxpass.pipeline.validate import build_cycle_data_docs, validate_site
from vaxpass.registry import MatchConfig, SqlRegistry, match_valid_records
from vaxpass.reports import write_run_report
from vaxpass.review import apply_batch_decision, batch_is_open, open_batches, release_batch
from vaxpass.signing.keys import register_signer
from vaxpass.signing.keystore import Signer, load_signer
from vaxpass.signing.pki import facility_key_path
from vaxpass.store import migrate, session_scope
from vaxpass.store.models import (
    Certificate,
    ConfirmationItem,
    Cycle,
    DoseRecord,
    ExtractionRun,
    MatchDecision,
    Person,
    QualityRun,
    RawRecord,
    ReviewAction,
    ReviewItem,
    Site,
    SiteConfigVersion,
)
from vaxpass.store.partition import Partition
from vaxpass.store.statistics import refresh_statistics

# The tables each stage reads by key, analysed first where the stages before rewrote them (store.statistics)
_VALIDATE_READS = (DoseRecord.__tablename__, Person.__tablename__)
_MATCH_READS = (DoseRecord.__tablename__, Person.__tablename__, MatchDecision.__tablename__)
_CONFIRM_READS = (DoseRecord.__tablename__, ConfirmationItem.__tablename__)
_ISSUE_READS = (DoseRecord.__tablename__, Person.__tablename__, Certificate.__tablename__,
                MatchDecision.__tablename__, RawRecord.__tablename__, ConfirmationItem.__tablename__,
                ReviewItem.__tablename__, ReviewAction.__tablename__)


@timed()
def start_cycle(s: Settings, *, cycle_id: str, dag_id: str, run_after: datetime) -> list[str]:
    """Bring the store up to date, load the site registry and open the cycle; returns the site codes."""
    migrate(s.db_url)
    sites = load_sites(s.sites_file)
    with session_scope(s.db_url) as session:
        for site in sites:
            _upsert_site(session, site, cycle_id)
        if session.get(Cycle, cycle_id) is None:
            session.add(Cycle(id=cycle_id, run_date=run_after.date(), run_after=run_after, dag_id=dag_id,
                              status="running", stats={}))
    return [site.code for site in sites]


def _upsert_site(session: Any, site: SiteConfig, cycle_id: str) -> None:
    """The site as configured now; each configuration version is kept once (no secrets: connection ids only)."""
    digest = site.config_hash
    row = session.get(Site, site.code)
    if row is None:
        row = Site(code=site.code)
        session.add(row)
    row.name, row.district_code, row.district_name = site.name, site.district_code, site.district_name
    row.head_of_facility, row.source_kind = site.head_of_facility, site.source.kind
    row.source_path = site.source.path or site.source.conn_id or ""
    row.config_hash = digest
    session.flush()
    if session.scalar(select(SiteConfigVersion.id).filter_by(site_code=site.code, config_hash=digest)) is None:
        session.add(SiteConfigVersion(site_code=site.code, config_hash=digest, config=site.to_dict(),
                                      first_cycle_id=cycle_id))


def _site(s: Settings, code: str) -> SiteConfig:
    for site in load_sites(s.sites_file):
        if site.code == code:
            return site
    raise ConfigError(f"site {code} is not in {s.sites_file}")


@timed(key="site_code")
def extract(s: Settings, *, cycle_id: str, site_code: str,
            connections: ConnectionResolver | None = None) -> dict[str, Any]:
    """Extract one site; `connections` resolves a site's `conn_id` to a URL (the DAG passes one reading Airflow
    Connections; sites with a path only — inbox folders, SQLite files, FHIR page folders — need none)."""
    summary = extract_site(s.db_url, cycle_id=cycle_id, site=_site(s, site_code), data_dir=s.data_dir,
                           landing_dir=s.landing_dir, connections=connections)
    return summary.as_dict()


@timed(key="site_code")
def validate(s: Settings, *, cycle_id: str, site_code: str, run_date: date) -> dict[str, Any]:
    """Validate the site's new records; the summary says whether the site's batch is held (`held`), with the
    blocked share, the threshold and the blocked records per rule (codes and counts only)."""
    refresh_statistics(s.db_url, _VALIDATE_READS)
    return validate_site(s.db_url, cycle_id=cycle_id, site_code=site_code, run_date=run_date,
                         suite_dir=s.suite_dir).as_dict()


@timed(key="partition")
def match(s: Settings, *, cycle_id: str, config: MatchConfig | None = None,
          partition: Partition | None = None) -> dict[str, Any]:
    """Match the valid records (of one `partition` when given) against the population registry (the linker
    with `config`, default thresholds and the shipped weights when None); returns outcome and reason counts."""
    refresh_statistics(s.db_url, _MATCH_READS)
    registry = SqlRegistry(s.registry_url, cache_dir=s.data_dir / "registry-cache")
    summary = match_valid_records(s.db_url, registry, cycle_id=cycle_id, key=s.pseudonym_key,
                                  config=config, partition=partition)
    return asdict(summary)


@timed()
def open_review(s: Settings, *, cycle_id: str) -> list[dict[str, Any]]:
    """Open this cycle's district batches; a district with no reviewer gets no gate and its records stay
    flagged (reported, and batched again next cycle)."""
    gated = []
    for batch in open_batches(s.db_url, cycle_id=cycle_id):
        if batch.reviewers:
            gated.append(asdict(batch))
        else:
            release_batch(s.db_url, batch_id=batch.batch_id)
    return gated


@timed(key="site_code")
def confirm(s: Settings, *, cycle_id: str, site_code: str, signed_at: datetime) -> dict[str, Any]:
    """The site head signs the list of the site's matched doses not yet confirmed (facility confirmation); a
    rerun finds them confirmed and signs nothing. Returns the list's id, size and Merkle root (no personal
    data). A site without its head's key store fails alone, naming the site."""
    path = facility_key_path(s.pki_dir, site_code)
    if not path.exists():
        raise ConfigError(f"site {site_code}: no head-of-facility key store at {path}: run "
                          f"`vaxpass pki issue-facility --site {site_code}`")
    refresh_statistics(s.db_url, _CONFIRM_READS)
    summary = confirm_site(s.db_url, load_signer(path, s.key_passphrase), cycle_id=cycle_id, site_code=site_code,
                           signed_at=signed_at, store_ref=str(path))
    return asdict(summary)


def _register_once(db_url: str, signer: Signer, *, store_ref: str, store_kind: str) -> None:
    """Parallel partitions register the signer once: the loser of the race finds it there."""
    try:
        with session_scope(db_url) as session:
            register_signer(session, signer, purpose="dsc", store_ref=store_ref, store_kind=store_kind)
    except IntegrityError:
        pass


@timed(stage_arg="task_id", key="partition")
def issue(s: Settings, *, cycle_id: str, dag_id: str, task_id: str, issued_at: datetime,
          partition: Partition | None = None) -> dict[str, Any]:
    """Issue the certificates due (to the persons of one `partition` when given); `issued_at` is the signing
    time the caller read at the task's start (the CWT `iat`), which must lie within the document signer's
    validity."""
    refresh_statistics(s.db_url, _ISSUE_READS)
    if s.pkcs11 is not None:  # production: the key stays on the token, signing happens there
        from vaxpass.signing.pkcs11 import open_session, token_signer

        with open_session(s.pkcs11) as session:
            token = token_signer(session, s.pkcs11.key_label)
            ref = f"{s.pkcs11.token_label}/{s.pkcs11.key_label}"
            _register_once(s.db_url, token, store_ref=ref, store_kind="pkcs11")
            summary = issue_certificates(s.db_url, token, cycle_id=cycle_id, issued_at=issued_at,
                                         uvci_key=s.pseudonym_key, dag_id=dag_id, task_id=task_id,
                                         store_ref=ref, store_kind="pkcs11", partition=partition)
        return asdict(summary)
    if not s.dsc_path.exists():
        raise ConfigError(f"no document signer at {s.dsc_path}: run `vaxpass pki init`")
    signer = load_signer(s.dsc_path, s.key_passphrase)
    _register_once(s.db_url, signer, store_ref=str(s.dsc_path), store_kind="pkcs12")
    summary = issue_certificates(s.db_url, signer, cycle_id=cycle_id, issued_at=issued_at,
                                 uvci_key=s.pseudonym_key, dag_id=dag_id, task_id=task_id,
                                 store_ref=str(s.dsc_path), partition=partition)
    return asdict(summary)


def decide_review(s: Settings, *, batch_id: int, approved: bool, decided_by: str,
                  decided_at: datetime) -> dict[str, int]:
    """Apply a district's answer: approve applies the reviewers' per-record decisions (corrections are validated
    and matched again here, so `issue_reviewed` signs them); reject holds the batch."""
    return apply_batch_decision(s.db_url, SqlRegistry(s.registry_url), batch_id=batch_id, approved=approved,
                                decided_by=decided_by, decided_at=decided_at, key=s.pseudonym_key,
                                suite_dir=s.suite_dir)


def expire_review(s: Settings, *, batch_id: int) -> int:
    return release_batch(s.db_url, batch_id=batch_id)


def review_open(s: Settings, *, batch_id: int) -> bool:
    return batch_is_open(s.db_url, batch_id=batch_id)


def data_docs_root(s: Settings) -> Path:
    """Where each cycle's Data Docs go: `data_docs/` beside the landing zone (`$VAXPASS_HOME/data_docs`)."""
    return s.landing_dir.parent / "data_docs"


@timed()
def finish_cycle(s: Settings, *, cycle_id: str, web_url: str | None = None) -> dict[str, Any]:
    """Build the cycle's Data Docs, check every certificate's lineage, then store and return the cycle's counts
    (`data_docs`: the Data Docs index page, for the run report; `web_url`: Airflow's, for the report's links
    to the cycle's dashboard)."""
    docs = build_cycle_data_docs(s.db_url, cycle_id=cycle_id, docs_root=data_docs_root(s))
    checked = check_lineage(s.db_url, cycle_id=cycle_id)
    stats = cycle_stats(s, cycle_id=cycle_id)
    stats["lineage_checked"] = checked
    stats["data_docs"] = str(docs) if docs else None
    stats["report"] = str(write_run_report(s.db_url, cycle_id=cycle_id, stats=stats,
                                           out_dir=data_docs_root(s).parent / "reports", web_url=web_url))
    with session_scope(s.db_url) as session:
        cycle = session.get(Cycle, cycle_id)
        assert cycle is not None
        cycle.stats, cycle.status = stats, "finished"
    return stats


def cycle_stats(s: Settings, *, cycle_id: str) -> dict[str, Any]:
    """Counts for the run report: records by status (all time), this cycle's certificates and failed sites."""
    with session_scope(s.db_url) as session:
        by_status = dict(session.execute(select(DoseRecord.status, func.count()).group_by(DoseRecord.status))
                         .tuples().all())
        certs = Counter(session.scalars(select(Certificate.status).where(Certificate.cycle_id == cycle_id)))
        current = session.scalar(select(func.count()).select_from(Certificate).where(Certificate.status == "current"))
        failed = list(session.scalars(select(ExtractionRun.site_code).filter_by(cycle_id=cycle_id, status="failed")))
        held = list(session.scalars(select(QualityRun.site_code).filter_by(cycle_id=cycle_id, held=True)
                                    .order_by(QualityRun.site_code)))
    return {"records_by_status": by_status, "certificates_this_cycle": sum(certs.values()),
            "certificates_current": current or 0, "failed_sites": failed, "held_sites": held}
