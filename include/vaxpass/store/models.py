"""The ops store: SQLAlchemy 2 models for every entity of the flow (DESIGN.md §3–4).

Personal data lives here (and in the landing zone) only. Keys of the flow are stable and natural where one exists
(site code, UVCI, (person, version)), so every stage can write with an upsert and a rerun changes nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite keeps no offset: store naive UTC, return aware)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Site(Base):
    """A vaccination site (điểm tiêm chủng) and its source, as configured for the current cycle."""

    __tablename__ = "sites"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    district_code: Mapped[str] = mapped_column(String(8), index=True)
    district_name: Mapped[str] = mapped_column(String(100))
    head_of_facility: Mapped[str] = mapped_column(String(200))
    source_kind: Mapped[str] = mapped_column(String(16))
    source_path: Mapped[str] = mapped_column(String(500))
    config_hash: Mapped[str] = mapped_column(String(64))


class Reviewer(Base):
    """A district reviewer (cán bộ UBND quận/huyện): the Airflow user allowed to answer that district's gate."""

    __tablename__ = "reviewers"
    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    district_code: Mapped[str] = mapped_column(String(8), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))


class Cycle(Base):
    """One issuance cycle = one DAG run. `run_after` is the run's logical time (`run_date` its date): the rules
    judge against it, so the logic never reads a clock."""

    __tablename__ = "cycles"
    id: Mapped[str] = mapped_column(String(250), primary_key=True)
    run_date: Mapped[date] = mapped_column(Date)
    run_after: Mapped[datetime] = mapped_column(UtcDateTime())
    dag_id: Mapped[str] = mapped_column(String(250))
    status: Mapped[str] = mapped_column(String(16), default="running")
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    data_docs_path: Mapped[str | None] = mapped_column(String(500))  # index.html of the cycle's Data Docs


class StageRun(Base):
    """When a stage of a cycle (per site for extract/validate) last ran, for the run history's durations.

    Observed times, never inputs to any decision; a rerun of the stage overwrites them and counts an attempt.
    """

    __tablename__ = "stage_runs"
    __table_args__ = (UniqueConstraint("cycle_id", "stage", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.id"))
    stage: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(64), default="")  # site code, issuing task, or "" for the cycle
    status: Mapped[str] = mapped_column(String(16))  # success | failed
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=1)


class ExtractionRun(Base):
    """One site's extraction within a cycle; a failed one names its reason and is retried next cycle."""

    __tablename__ = "extraction_runs"
    __table_args__ = (UniqueConstraint("cycle_id", "site_code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.id"))
    site_code: Mapped[str] = mapped_column(ForeignKey("sites.code"))
    status: Mapped[str] = mapped_column(String(16))
    files_seen: Mapped[int] = mapped_column(default=0)
    files_new: Mapped[int] = mapped_column(default=0)
    rows_new: Mapped[int] = mapped_column(default=0)
    rows_quarantined: Mapped[int] = mapped_column(default=0)
    error_reason: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(Text)


class LandedFile(Base):
    """An immutable raw copy of a file a site delivered, named by its SHA-256 in the landing zone."""

    __tablename__ = "landed_files"
    __table_args__ = (UniqueConstraint("site_code", "sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_code: Mapped[str] = mapped_column(ForeignKey("sites.code"))
    source_name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    landed_path: Mapped[str] = mapped_column(String(500))
    extraction_run_id: Mapped[int] = mapped_column(ForeignKey("extraction_runs.id"))
    status: Mapped[str] = mapped_column(String(16))
    rows: Mapped[int] = mapped_column(default=0)
    error_reason: Mapped[str | None] = mapped_column(String(64))
    # file (an inbox file as delivered) | query (a SQL result chunk as NDJSON) | page (a FHIR Bundle page)
    delivery_kind: Mapped[str] = mapped_column(String(16), default="file", server_default="file")
    error_row: Mapped[int | None] = mapped_column(Integer)


class LandedAlias(Base):
    """Another name under which a site delivered content already landed (the same file sent twice)."""

    __tablename__ = "landed_aliases"
    __table_args__ = (UniqueConstraint("landed_file_id", "source_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    landed_file_id: Mapped[int] = mapped_column(ForeignKey("landed_files.id"), index=True)
    source_name: Mapped[str] = mapped_column(String(500))
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.id"))


class SourceWatermark(Base):
    """How far a site's source has been read: the last (watermark, key) of a SQL query, the last
    `meta.lastUpdated` of a FHIR feed, the last file name of an inbox. Written in the transaction of the rows."""

    __tablename__ = "source_watermarks"
    site_code: Mapped[str] = mapped_column(ForeignKey("sites.code"), primary_key=True)
    source_kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[dict[str, Any]] = mapped_column()
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.id"))


class SiteConfigVersion(Base):
    """Each version of a site's configuration (no secrets: connections are referenced by id), first cycle."""

    __tablename__ = "site_config_versions"
    __table_args__ = (UniqueConstraint("site_code", "config_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_code: Mapped[str] = mapped_column(ForeignKey("sites.code"), index=True)
    config_hash: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column()
    first_cycle_id: Mapped[str] = mapped_column(String(250))


class RawRecord(Base):
    """One source row exactly as received (header → text), with its position and content hash."""

    __tablename__ = "raw_records"
    __table_args__ = (UniqueConstraint("site_code", "source_key", "content_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # no index: raw records are reached by id (from their dose records), never by landed file
    landed_file_id: Mapped[int] = mapped_column(ForeignKey("landed_files.id"))
    site_code: Mapped[str] = mapped_column(String(32))
    source_row: Mapped[int] = mapped_column(Integer)
    source_key: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    raw: Mapped[dict[str, Any]] = mapped_column()


class DoseRecord(Base):
    """A normalised dose record (bản ghi mũi tiêm), one version of one source row.

    `status` walks: new → quarantined | valid | held → matched | flagged → in_review → matched | rejected;
    `held` (the site's whole batch failed too often, see `QualityRun.held`) → valid when a data engineer
    releases it; a later version of the same source row marks this one superseded.
    """

    __tablename__ = "dose_records"
    __table_args__ = (
        UniqueConstraint("site_code", "source_key", "version"),
        Index("ix_dose_records_status_site", "status", "site_code"),  # a site's new / matched records
        # Partial: a record is written without a person (matching sets it) and mostly without a passport
        # number, so bulk extraction pays nothing for these two; `x = …` and `x IN (…)` lookups still use them.
        Index("ix_dose_records_person", "person_id", sqlite_where=text("person_id IS NOT NULL"),
              postgresql_where=text("person_id IS NOT NULL")),
        Index("ix_dose_records_national_id", "national_id"),  # the dose-history rules look persons up by ID
        Index("ix_dose_records_passport_no", "passport_no", sqlite_where=text("passport_no IS NOT NULL"),
              postgresql_where=text("passport_no IS NOT NULL")),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    raw_record_id: Mapped[int] = mapped_column(ForeignKey("raw_records.id"))
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.id"))  # no index: nothing looks records up by it
    site_code: Mapped[str] = mapped_column(ForeignKey("sites.code"))
    source_key: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    full_name: Mapped[str | None] = mapped_column(String(200))
    dob: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(1))
    national_id: Mapped[str | None] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(32))
    vaccine_raw: Mapped[str | None] = mapped_column(String(100))
    vaccine_mp: Mapped[str | None] = mapped_column(String(64))
    dose_number: Mapped[int | None] = mapped_column(Integer)
    vaccination_date: Mapped[date | None] = mapped_column(Date)
    lot: Mapped[str | None] = mapped_column(String(64))
    nationality: Mapped[str] = mapped_column(String(2), default="VN")
    passport_no: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="new")
    status_reason: Mapped[str | None] = mapped_column(String(64))
    quality_run_id: Mapped[int | None] = mapped_column(ForeignKey("quality_runs.id"))
    person_id: Mapped[str | None] = mapped_column(ForeignKey("persons.id"))


class QualityRun(Base):
    """One Great Expectations validation of one site's batch in one cycle.

    `held`: more than `hold_threshold` of the batch was blocked, so the whole batch waits (its passing records
    have status `held`) until a data engineer releases it (`released_by`, `released_at`). `docs_result` is GE's
    result without row references or values, rendered into the cycle's Data Docs.
    """

    __tablename__ = "quality_runs"
    __table_args__ = (UniqueConstraint("cycle_id", "site_code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.id"))
    site_code: Mapped[str] = mapped_column(ForeignKey("sites.code"))
    suite_name: Mapped[str] = mapped_column(String(100))
    suite_version: Mapped[str] = mapped_column(String(64))
    evaluated: Mapped[int] = mapped_column(Integer)
    blocked: Mapped[int] = mapped_column(Integer)
    ge_success: Mapped[bool] = mapped_column()
    rule_stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    held: Mapped[bool] = mapped_column(default=False, server_default=false())
    blocked_share: Mapped[float | None] = mapped_column(Float)
    hold_threshold: Mapped[float | None] = mapped_column(Float)
    released_by: Mapped[str | None] = mapped_column(String(100))
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    docs_result: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class QualityResult(Base):
    """One rule a record failed, with a reason in Vietnamese and English."""

    __tablename__ = "quality_results"
    __table_args__ = (UniqueConstraint("dose_record_id", "quality_run_id", "rule"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    quality_run_id: Mapped[int] = mapped_column(ForeignKey("quality_runs.id"), index=True)
    dose_record_id: Mapped[int] = mapped_column(ForeignKey("dose_records.id"), index=True)
    rule: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(8))
    reason_en: Mapped[str] = mapped_column(String(300))
    reason_vi: Mapped[str] = mapped_column(String(300))


class Person(Base):
    """A person certificates are issued to. `id` is the pseudonymous id used everywhere outside this store."""

    __tablename__ = "persons"
    __table_args__ = (Index("ix_persons_national_id", "national_id"),)  # the dose-history look-ups
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # citizen | foreign
    registry_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    dob: Mapped[str] = mapped_column(String(10))  # YYYY, YYYY-MM or YYYY-MM-DD, as the DCC allows
    sex: Mapped[str | None] = mapped_column(String(1))
    national_id: Mapped[str | None] = mapped_column(String(32))
    nationality: Mapped[str] = mapped_column(String(2))
    passport_no: Mapped[str | None] = mapped_column(String(32))


class MatchDecision(Base):
    """How one dose record was tied (or not) to a person, with the evidence a reviewer can read."""

    __tablename__ = "match_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dose_record_id: Mapped[int] = mapped_column(ForeignKey("dose_records.id"), index=True)
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.id"))
    outcome: Mapped[str] = mapped_column(String(16))  # MATCHED | REVIEW | NO_MATCH | FOREIGN
    method: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    candidate_registry_ids: Mapped[list[Any]] = mapped_column(default=list)
    person_id: Mapped[str | None] = mapped_column(ForeignKey("persons.id"))


class ReviewBatch(Base):
    """One district's flagged records in one cycle: the unit a district gate approves or rejects."""

    __tablename__ = "review_batches"
    __table_args__ = (UniqueConstraint("cycle_id", "district_code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.id"))
    district_code: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | approved | rejected | expired
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ReviewItem(Base):
    """One flagged record inside a batch, and what the review decided for it (before → after)."""

    __tablename__ = "review_items"
    __table_args__ = (UniqueConstraint("batch_id", "dose_record_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("review_batches.id"), index=True)
    dose_record_id: Mapped[int] = mapped_column(ForeignKey("dose_records.id"), index=True)
    match_decision_id: Mapped[int] = mapped_column(ForeignKey("match_decisions.id"))
    reason: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str | None] = mapped_column(String(16))  # accept | correct | reject | unresolved | expired
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    before: Mapped[dict[str, Any]] = mapped_column(default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ReviewAction(Base):
    """A reviewer's decision on one record of an open batch, kept as an audit row (who, when, before, after).

    `action`: accept (a registry candidate), correct (fields, validated when made), reject (a reason code and a
    note). The latest `pending` action of an item is what the batch decision applies (then `applied`, with the
    `outcome`); an earlier one becomes `replaced`; a rejected or expired batch leaves it `held` or `expired`.
    A correction applied becomes a new version of the dose record (`new_dose_record_id`).
    """

    __tablename__ = "review_actions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id"), index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("review_batches.id"), index=True)
    dose_record_id: Mapped[int] = mapped_column(ForeignKey("dose_records.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # accept | correct | reject
    registry_id: Mapped[int | None] = mapped_column(Integer)
    reason_code: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)  # correct: field → new value (as text)
    before: Mapped[dict[str, Any]] = mapped_column(default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor: Mapped[str] = mapped_column(String(100))
    acted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    channel: Mapped[str] = mapped_column(String(8))  # web | xlsx | api
    status: Mapped[str] = mapped_column(String(16), default="pending")
    outcome: Mapped[str | None] = mapped_column(String(64))
    new_dose_record_id: Mapped[int | None] = mapped_column(ForeignKey("dose_records.id"), index=True)


class SigningKey(Base):
    """A signing certificate vaxpass uses (document signer or facility head); the key stays in its store."""

    __tablename__ = "signing_keys"
    kid: Mapped[str] = mapped_column(String(16), primary_key=True)  # hex of the 8-byte DCC kid
    purpose: Mapped[str] = mapped_column(String(16))  # dsc | facility
    subject: Mapped[str] = mapped_column(String(300))
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime())
    not_after: Mapped[datetime] = mapped_column(UtcDateTime())
    store_kind: Mapped[str] = mapped_column(String(16))  # pkcs12 | pkcs11
    store_ref: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | retired | revoked
    status_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class FacilityConfirmation(Base):
    """A site head's signed confirmation (Danh sách xác nhận tiêm chủng) of doses the site gave: the PAdES-signed
    PDF list and the RFC 9162 Merkle root of its records. A site may sign more than one list in a cycle (the
    clean records before `issue_clean`, the reviewed ones before `issue_reviewed`): `sequence` numbers them."""

    __tablename__ = "confirmations"
    __table_args__ = (UniqueConstraint("cycle_id", "site_code", "sequence"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.id"))
    site_code: Mapped[str] = mapped_column(ForeignKey("sites.code"))
    sequence: Mapped[int] = mapped_column(Integer, default=1)
    signer_kid: Mapped[str | None] = mapped_column(ForeignKey("signing_keys.kid"))
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    merkle_root: Mapped[str | None] = mapped_column(String(64))
    records: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # signed
    signed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    document: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)  # the signed PDF


class ConfirmationItem(Base):
    """One dose record inside a signed confirmation: its leaf and its RFC 9162 inclusion proof (hex hashes, leaf
    sibling first). A record is confirmed once: a rerun never signs a second list for it."""

    __tablename__ = "confirmation_items"
    __table_args__ = (UniqueConstraint("confirmation_id", "leaf_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # looked up by the unique (confirmation_id, leaf_index) index, its leftmost column
    confirmation_id: Mapped[int] = mapped_column(ForeignKey("confirmations.id"))
    dose_record_id: Mapped[int] = mapped_column(ForeignKey("dose_records.id"), unique=True)
    leaf_index: Mapped[int] = mapped_column(Integer)
    leaf_hash: Mapped[str] = mapped_column(String(64))
    proof: Mapped[list[Any]] = mapped_column(default=list)


class Certificate(Base):
    """A passport version: one current per person; (person, version) is the issuance key, UVCIs never reused."""

    __tablename__ = "certificates"
    __table_args__ = (UniqueConstraint("person_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"))
    version: Mapped[int] = mapped_column(Integer)
    uvci: Mapped[str] = mapped_column(String(80), unique=True)
    content_key: Mapped[str] = mapped_column(String(64))
    dose_record_id: Mapped[int] = mapped_column(ForeignKey("dose_records.id"))
    hc1: Mapped[str] = mapped_column(Text)
    kid: Mapped[str] = mapped_column(ForeignKey("signing_keys.kid"))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="current")  # current | superseded | revoked
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revocation_reason: Mapped[str | None] = mapped_column(String(32))  # corrected | key-revoked | …


class LineageChain(Base):
    """A certificate's lineage chain: source row, extraction, validation, match, review, confirmation,
    signature, run. One row per certificate, its links as one JSON list of `{"kind", "ref", "detail"}` in the
    order they were written: a chain is written once, at issuance, and always read whole (the explorer, the
    completeness check), so ten link rows, each with its index entries and foreign-key check, bought nothing.
    """

    __tablename__ = "lineage_chains"
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), primary_key=True,
                                                autoincrement=False)
    links: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
