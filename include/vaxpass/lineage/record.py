"""Writing certificates' lineage chains (DESIGN.md §4) into the ops store at issuance.

Everything a chain needs is read in a few queries for the whole batch of certificates (`LineageContext`), so
issuing N certificates costs O(1) round trips, not O(N). A chain is one `lineage_chains` row, its links one JSON
list; it is written as the JSON text `json.dumps` makes of that list (what the JSON column stores), built
directly: the match evidence and the inclusion proof are read as JSON text and put in as they are, and the
details every certificate of a run repeats (extraction, validation, run) are encoded once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from json.encoder import encode_basestring_ascii
from typing import Any, Protocol

from sqlalchemy import Connection, Text, bindparam, cast, func, insert, select, update
from sqlalchemy.orm import Session

from vaxpass.store.bulk import EncodedJSON, copies, copy_rows, executemany_on_driver, insert_sql
from vaxpass.store.listed import named_rows, value_lists
from vaxpass.store.models import (
    ConfirmationItem,
    FacilityConfirmation,
    LandedFile,
    LineageChain,
    MatchDecision,
    QualityRun,
    RawRecord,
    ReviewAction,
    ReviewBatch,
    ReviewItem,
)

# Fields of a correction whose values identify the person: lineage names them, the audit row keeps the values.
PERSONAL_FIELDS = frozenset({"national_id", "full_name", "dob", "sex"})

# Links every certificate must have; `review` is required too when a record went through a district gate.
REQUIRED_KINDS = ("source_row", "extraction", "validation", "match", "confirmation", "signature", "dag_run")


class DoseRef(Protocol):
    """The columns of a dose record a chain needs (an ORM `DoseRecord` or a Core row of those columns)."""

    @property
    def id(self) -> int: ...
    @property
    def raw_record_id(self) -> int: ...
    @property
    def quality_run_id(self) -> int | None: ...
    @property
    def site_code(self) -> str: ...
    @property
    def source_key(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def cycle_id(self) -> str: ...


_CHAINS = LineageChain.metadata.tables[LineageChain.__tablename__]
_INSERT_CHAINS = insert(_CHAINS).values(certificate_id=bindparam("certificate_id"),
                                        links=bindparam("links", type_=EncodedJSON()))

# A chain as `save_chains` takes it: (certificate_id, its links as the JSON text of a list).
ChainRow = tuple[int, str]
_CHAIN_COLUMNS = ("certificate_id", "links")
_INSERT_CHAINS_QMARK = insert_sql(_CHAINS, _CHAIN_COLUMNS)


def _scalar(value: Any) -> str:
    """`json.dumps` of a scalar (the text it writes for that value inside a map), with the two kinds a link
    mostly holds, text and integers, encoded without `json.dumps`' per-call set-up."""
    kind = type(value)
    if kind is str:
        return encode_basestring_ascii(value)
    if kind is int:
        return int.__repr__(value)
    return json.dumps(value)


def _dumps_with(detail: dict[str, Any], raw: str, depth: int = 1) -> str:
    """`json.dumps` of `detail` whose last value (`depth` maps down, each map's last value) is the JSON text
    `raw`: `detail` holds None in its place, and the text is put where `null` was written."""
    text = json.dumps(detail)
    return text[:-4 - depth] + raw + "}" * depth


def _connection(db: Session | Connection) -> Connection:
    return db.connection() if isinstance(db, Session) else db


class LineageContext:
    """The source rows, files, quality runs, match decisions and review items of a set of dose records.

    Read with Core selects of the columns the links carry (not ORM objects: a source row's raw JSON is never
    loaded), so issuing in chunks keeps the memory of one chunk.
    """

    def __init__(self, db: Session | Connection, records: Iterable[DoseRef],
                 confirmations: dict[int, Any] | None = None) -> None:
        """`confirmations`: `read_confirmations` of (at least) the certified doses among `records`, whose
        confirmation the chains name, when the caller has read them already (else read for all of `records`)."""
        conn = _connection(db)
        recs = list(records)
        ids = [r.id for r in recs]
        raws, files = RawRecord.__table__.c, LandedFile.__table__.c
        decisions = MatchDecision.__table__.c
        items, actions_t, batches = ReviewItem.__table__.c, ReviewAction.__table__.c, ReviewBatch.__table__.c
        self.raw: dict[int, Any] = {}
        self.decision: dict[int, Any] = {}
        self.reviews: dict[int, list[Any]] = {}
        self.confirmation = read_confirmations(conn, ids) if confirmations is None else confirmations
        self.actions: dict[int, list[Any]] = {}
        # review items and actions (few: only records that went through a district gate), each with its batch's
        # district, id and approver
        batch_columns = (batches.district_code, batches.id.label("batch_id"), batches.decided_by.label("approved_by"))
        reviews_q = select(items.id, items.dose_record_id, items.decided_by, items.decision, items.decided_at,
                           items.before, items.after, *batch_columns).join_from(
            ReviewItem.__table__, ReviewBatch.__table__, batches.id == items.batch_id).where(
            items.decision.is_not(None))
        actions_q = select(actions_t.id, actions_t.dose_record_id, actions_t.new_dose_record_id, actions_t.action,
                           actions_t.registry_id, actions_t.reason_code, actions_t.fields, actions_t.before,
                           actions_t.after, actions_t.actor, actions_t.acted_at, actions_t.channel,
                           actions_t.outcome, *batch_columns).join_from(
            ReviewAction.__table__, ReviewBatch.__table__, batches.id == actions_t.batch_id).where(
            actions_t.status == "applied")
        for listed in value_lists(conn, [r.raw_record_id for r in recs]):
            for row in named_rows(conn.execute(select(
                    raws.id, raws.source_row, raws.content_hash, files.source_name, files.sha256,
                    files.extraction_run_id).join_from(
                    RawRecord.__table__, LandedFile.__table__, files.id == raws.landed_file_id).where(
                    listed.has(raws.id)))):
                self.raw[row.id] = row
        for listed in value_lists(conn, ids):
            latest = (select(func.max(decisions.id)).where(listed.has(decisions.dose_record_id))
                      .group_by(decisions.dose_record_id))
            for decision in named_rows(conn.execute(select(
                    decisions.id, decisions.dose_record_id, decisions.outcome, decisions.method, decisions.reason,
                    decisions.score, cast(decisions.evidence, Text).label("evidence")).where(
                    decisions.id.in_(latest)))):
                self.decision[decision.dose_record_id] = decision
            for item in conn.execute(reviews_q.where(listed.has(items.dose_record_id))):
                self.reviews.setdefault(item.dose_record_id, []).append(item)
            # a reviewer's applied action: on the record itself, or the correction this record's version came from
            for action in conn.execute(actions_q.where(listed.has(actions_t.dose_record_id)
                                                       | listed.has(actions_t.new_dose_record_id))):
                record_id = action.new_dose_record_id or action.dose_record_id
                self.actions.setdefault(record_id, []).append(action)
        corrected_from = [a.dose_record_id for acts in self.actions.values() for a in acts
                          if a.new_dose_record_id is not None]
        for listed in value_lists(conn, corrected_from):
            for item in conn.execute(reviews_q.where(listed.has(items.dose_record_id))):
                self.reviews.setdefault(item.dose_record_id, []).append(item)
        run_ids = sorted({r.quality_run_id for r in recs if r.quality_run_id is not None})
        runs = QualityRun.__table__.c
        self.quality = {q.id: q for q in named_rows(conn.execute(select(runs.id, runs.suite_name, runs.suite_version)
                                                               .where(runs.id.in_(run_ids))))}
        self._encoded: dict[tuple[str, Any], str] = {}  # details the chains of a batch share, as JSON text

    def _shared(self, kind: str, key: Any, detail: dict[str, Any]) -> str:
        text = self._encoded.get((kind, key))
        if text is None:
            text = self._encoded[(kind, key)] = json.dumps(detail)
        return text

    def _extraction(self, rec: DoseRef) -> str:
        key = ("extraction", (rec.site_code, rec.cycle_id))
        text = self._encoded.get(key)
        if text is None:
            text = self._encoded[key] = json.dumps({"site": rec.site_code, "cycle": rec.cycle_id})
        return text

    def _validation(self, qrun: Any) -> str:
        key = ("validation", qrun.id)
        text = self._encoded.get(key)
        if text is None:
            text = self._encoded[key] = json.dumps({
                "suite": qrun.suite_name, "suite_version": qrun.suite_version, "result": "passed"})
        return text

    def _match(self, decision: Any) -> str:
        """`_dumps_with` of the decision's detail; the part before the evidence is shared by every decision of
        the same outcome, method, reason and score (by type too: 1 and 1.0 encode differently)."""
        score = decision.score
        key = ("match", (decision.outcome, decision.method, decision.reason, type(score), score))
        head = self._encoded.get(key)
        if head is None:
            head = self._encoded[key] = _dumps_with({
                "outcome": decision.outcome, "method": decision.method, "reason": decision.reason,
                "score": score, "evidence": None}, "")[:-1]
        return f"{head}{decision.evidence}}}"

    def _confirmation(self, conf: Any, certified_dose_id: int) -> str:
        """`_dumps_with` of the confirmation's detail, its per-confirmation part encoded once."""
        key = ("confirmation", conf.id)
        head = self._encoded.get(key)
        if head is None:
            head = self._encoded[key] = json.dumps({
                "site": conf.site_code, "cycle": conf.cycle_id, "sequence": conf.sequence,
                "signer_kid": conf.signer_kid, "document_sha256": conf.document_sha256,
                "merkle_root": conf.merkle_root, "records": conf.records})[:-1]
        return (f"{head}, \"dose_record_id\": {_scalar(certified_dose_id)}, \"leaf_index\": "
                f"{_scalar(conf.leaf_index)}, \"inclusion\": {{\"leaf_hash\": {_scalar(conf.leaf_hash)}, "
                f"\"tree_size\": {_scalar(conf.records)}, \"proof\": {conf.proof}}}}}")

    def chain(self, *, certificate_id: int, certified_dose_id: int, kid: str, uvci: str, version: int,
              cycle_id: str, records: Iterable[DoseRef], dag_id: str, task_id: str,
              alg: str) -> ChainRow:
        """The chain of one certificate, as a row for `lineage_chains` (its links as the JSON text `json.dumps`
        makes of the list of `{"kind", "ref", "detail"}`, for `save_chains`). Ids, hashes and codes only: no
        personal data."""
        # the columns read here are NOT NULL, text or integers: encoded as `_scalar` would, without its type test
        text, number = encode_basestring_ascii, int.__repr__
        raws, quality, decisions, reviews, actions = self.raw, self.quality, self.decision, self.reviews, self.actions
        links: dict[tuple[str, str], str] = {}
        for rec in records:
            raw, rec_id = raws[rec.raw_record_id], rec.id
            links[("source_row", f"raw_record:{raw.id}")] = (
                f"{{\"site\": {text(rec.site_code)}, \"file\": {text(raw.source_name)}, "
                f"\"file_sha256\": {text(raw.sha256)}, \"row\": {number(raw.source_row)}, "
                f"\"source_key\": {text(rec.source_key)}, \"content_hash\": {text(raw.content_hash)}, "
                f"\"dose_record_id\": {number(rec_id)}, \"version\": {number(rec.version)}, "
                f"\"certified_dose\": {'true' if rec_id == certified_dose_id else 'false'}}}")
            links[("extraction", f"extraction_run:{raw.extraction_run_id}")] = self._extraction(rec)
            if (qrun := quality.get(rec.quality_run_id or -1)) is not None:
                links[("validation", f"quality_run:{qrun.id}")] = self._validation(qrun)
            if (decision := decisions.get(rec_id)) is not None:
                links[("match", f"match_decision:{decision.id}")] = self._match(decision)
            if rec_id in reviews:
                for item in reviews[rec_id]:
                    links[("review", f"review_item:{item.id}")] = json.dumps(_item_detail(item))
            if rec_id in actions:
                for action in actions[rec_id]:
                    links[("review", f"review_action:{action.id}")] = json.dumps(_action_detail(action))
                    if action.new_dose_record_id is not None:
                        for item in reviews.get(action.dose_record_id, ()):
                            links[("review", f"review_item:{item.id}")] = json.dumps(_item_detail(item))
        if (conf := self.confirmation.get(certified_dose_id)) is not None:
            links[("confirmation", f"confirmation:{conf.id}")] = self._confirmation(conf, certified_dose_id)
        links[("signature", f"kid:{kid}")] = (
            f"{{\"alg\": {_scalar(alg)}, \"uvci\": {_scalar(uvci)}, \"version\": {_scalar(version)}}}")
        links[("dag_run", f"cycle:{cycle_id}")] = self._shared("dag_run", (dag_id, cycle_id, task_id), {
            "dag_id": dag_id, "run_id": cycle_id, "task_id": task_id})
        # kinds are constants of this module (plain ASCII); refs carry a site's or run's code
        return certificate_id, "[" + ", ".join(
            f"{{\"kind\": \"{kind}\", \"ref\": {text(ref)}, \"detail\": {detail}}}"
            for (kind, ref), detail in links.items()) + "]"


def read_confirmations(db: Session | Connection, dose_ids: list[int]) -> dict[int, Any]:
    """The confirmation items of those of `dose_ids` a site head has signed, by dose record id, each with its
    facility confirmation's columns (what a chain's confirmation link carries; the proof as JSON text)."""
    conn = _connection(db)
    citems, confs = ConfirmationItem.__table__.c, FacilityConfirmation.__table__.c
    query = select(citems.dose_record_id, citems.leaf_index, citems.leaf_hash, cast(citems.proof, Text).label("proof"),
                   confs.id, confs.site_code, confs.cycle_id, confs.sequence, confs.signer_kid, confs.document_sha256,
                   confs.merkle_root, confs.records).join_from(
        ConfirmationItem.__table__, FacilityConfirmation.__table__, confs.id == citems.confirmation_id)
    out: dict[int, Any] = {}
    for listed in value_lists(conn, dose_ids):
        for confirmed in named_rows(conn.execute(query.where(listed.has(citems.dose_record_id)))):
            out[confirmed.dose_record_id] = confirmed
    return out


def _item_detail(item: Any) -> dict[str, Any]:
    """A review item's link (`item`: a row of `reviews_q`, the item with its batch's columns)."""
    return {"district": item.district_code, "batch": item.batch_id, "reviewer": item.decided_by,
            "decision": item.decision, "decided_at": item.decided_at.isoformat() if item.decided_at else None,
            "approved_by": item.approved_by, "before": item.before, "after": item.after}


def _action_detail(action: Any) -> dict[str, Any]:
    """A reviewer's action on the record: who, when, what; a correction names its fields, with before and
    after values only for those that do not identify the person (the audit row `review_action:<id>` in the
    ops store keeps them all)."""
    detail: dict[str, Any] = {"district": action.district_code, "batch": action.batch_id, "reviewer": action.actor,
                              "action": action.action, "decided_at": action.acted_at.isoformat(),
                              "channel": action.channel, "approved_by": action.approved_by,
                              "outcome": action.outcome}
    if action.action == "accept":
        detail["registry_candidate"] = action.registry_id
    elif action.action == "reject":
        detail["reason"] = action.reason_code
    else:
        detail |= {"fields": ",".join(sorted(action.fields)), "corrected_record": action.dose_record_id,
                   "new_record": action.new_dose_record_id,
                   "before": {k: v for k, v in action.before.items() if k not in PERSONAL_FIELDS},
                   "after": {k: v for k, v in action.after.items() if k not in PERSONAL_FIELDS}}
    return detail


def save_chains(db: Session | Connection, rows: list[ChainRow]) -> None:
    """Insert the chains (`links` as the JSON text `LineageContext.chain` makes). On SQLite one executemany of
    the tuples on the driver's cursor, the same statement SQLAlchemy would run without its per-row parameter
    processing (the values need none: integers and text); on PostgreSQL through psycopg 3 by COPY; elsewhere
    one Core executemany (batched into multi-row INSERTs)."""
    if not rows:
        return
    conn = _connection(db)
    if copies(conn):
        copy_rows(conn, _CHAINS, _CHAIN_COLUMNS, rows)
        return
    if conn.dialect.name != "sqlite":
        conn.execute(_INSERT_CHAINS, [dict(zip(_CHAIN_COLUMNS, row, strict=True)) for row in rows])
        return
    executemany_on_driver(conn, _INSERT_CHAINS_QMARK, rows)


def add_links(db: Session | Connection, certificate_id: int, links: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Append links of a later stage (`(kind, ref, detail)`; a revocation, say) to a certificate's chain, after
    those it has; a link the chain holds already (same kind and ref) is not added twice, so a rerun adds
    nothing. Ids, hashes and codes only, as at issuance."""
    conn = _connection(db)
    chain = conn.execute(select(_CHAINS.c.links).where(_CHAINS.c.certificate_id == certificate_id)
                         .with_for_update()).scalar_one()
    held = {(link["kind"], link["ref"]) for link in chain}
    added = [{"kind": kind, "ref": ref, "detail": detail} for kind, ref, detail in links if (kind, ref) not in held]
    if added:
        conn.execute(update(_CHAINS).where(_CHAINS.c.certificate_id == certificate_id).values(
            links=[*chain, *added]))
