"""The facility confirmation stage: a site's head signs the list of the site's doses about to be issued.

Per site and cycle, the matched dose records of the site not yet in any signed list become one "Danh sách xác
nhận tiêm chủng": a PDF with one Merkle leaf per record and the RFC 9162 root, PAdES-signed with the head of
facility's certificate. The confirmation keeps the signed PDF and the root; every record keeps its leaf index
and inclusion proof. A record is confirmed once (unique in `confirmation_items`), so a rerun signs nothing new.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import islice, repeat
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlalchemy import Table, exists, func, select
from sqlalchemy.orm import Session

from vaxpass.confirmation.document import (
    ConfirmationHeader,
    ConfirmedDose,
    DoseColumns,
    render_confirmation,
    root_of,
)
from vaxpass.errors import SigningError
from vaxpass.signing.keys import register_signer
from vaxpass.signing.keystore import Signer, utc
from vaxpass.signing.merkle import MerkleTree, verify_inclusion
from vaxpass.signing.pades import PadesSigner, validate_pdf
from vaxpass.store import session_scope
from vaxpass.store.bulk import insert_rows
from vaxpass.store.models import ConfirmationItem, Cycle, DoseRecord, FacilityConfirmation, RawRecord, Site

_REASON = "Xác nhận tiêm chủng / Vaccination confirmation"
_CHUNK = 5_000  # confirmation_items rows per INSERT executemany
_ITEMS: Table = ConfirmationItem.__table__  # type: ignore[assignment]
# the proof column is JSON: each row's list of hex strings goes in as the JSON text the column's serializer
# (json.dumps) would write (`MerkleTree.json_proofs`), without that serializer's per-row call
_ITEM_COLUMNS = ("confirmation_id", "dose_record_id", "leaf_index", "leaf_hash", "proof")


@dataclass(frozen=True)
class ConfirmationSummary:
    """What one confirm step did for one site (no personal data): the new list's id, sequence and size."""

    site_code: str
    confirmation_id: int | None
    sequence: int | None
    records: int
    merkle_root: str | None
    signer_kid: str | None


def confirmed_dose(record: DoseRecord, content_hash: str) -> ConfirmedDose:
    """What a record's Merkle leaf commits to; a later change to any of these fields breaks its proof."""
    return _doses([(record.id, record.source_key, record.full_name, record.dob, record.national_id,
                    record.passport_no, record.vaccine_mp, record.vaccine_raw, record.dose_number,
                    record.vaccination_date, record.lot, content_hash)])[0]


def _doses(rows: Sequence[Sequence[Any]], to_date: Callable[[Any], date | None] | None = None) -> DoseColumns:
    """Dose records (id, source key, name, birth date, national ID, passport, vaccine MP and raw, dose number,
    date, lot, content hash) as their leaves commit to them, a column at a time: a passport stands in for a
    missing national ID, the raw vaccine name for an unmapped one, a missing value is empty (0 for the dose).
    `to_date`: the dates are as the driver gave them, and this reads them as SQLAlchemy would."""
    if not rows:
        return DoseColumns.of([])
    ids, keys, names, dobs, national_ids, passports, products, raw_vaccines, numbers, dates, lots, hashes = (
        zip(*rows, strict=True))
    return DoseColumns(
        record_id=ids, source_key=keys, full_name=_or_empty(names), dob=_iso_dates(dobs, to_date),
        national_id=[a or b or "" for a, b in zip(national_ids, passports, strict=True)],
        vaccine=[a or b or "" for a, b in zip(products, raw_vaccines, strict=True)],
        dose_number=[n or 0 for n in numbers], vaccination_date=_iso_dates(dates, to_date), lot=_or_empty(lots),
        content_hash=hashes)


def _or_empty(values: Sequence[str | None]) -> list[str]:
    return [v or "" for v in values]


def _iso_dates(values: Sequence[Any], to_date: Callable[[Any], date | None] | None) -> list[str]:
    """Dates as ISO text ("" for none), each distinct value read and formatted once (birth and vaccination
    dates repeat down a list)."""
    distinct = dict.fromkeys(values, "")
    for value in distinct:
        day = value if to_date is None else to_date(value)
        distinct[value] = day.isoformat() if day else ""
    return list(map(distinct.__getitem__, values))


def _require_site_key(signer: Signer, site_code: str) -> None:
    """The list must be signed by this site's head: the certificate's OU names the site."""
    units = signer.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    if not units or units[0].value != site_code:
        raise SigningError(f"site {site_code}: the signing certificate is not this site's head-of-facility "
                           "certificate")


def confirm_site(db_url: str, signer: Signer, *, cycle_id: str, site_code: str, signed_at: datetime,
                 store_ref: str) -> ConfirmationSummary:
    """Sign the site's list of matched, not yet confirmed dose records (nothing when there are none)."""
    _require_site_key(signer, site_code)
    at = utc(signed_at)
    cert = signer.certificate
    if not cert.not_valid_before_utc <= at < cert.not_valid_after_utc:
        raise SigningError(f"site {site_code}: the head-of-facility certificate is not valid at {at.isoformat()}")
    with session_scope(db_url) as session:
        doses = _unconfirmed(session, site_code)
        if not doses:
            return ConfirmationSummary(site_code, None, None, 0, None, None)
        site, cycle = session.get(Site, site_code), session.get(Cycle, cycle_id)
        if site is None or cycle is None:
            raise SigningError(f"site {site_code} or cycle {cycle_id} is not in the ops store")
        tree = MerkleTree.build(doses.leaves())
        header = ConfirmationHeader(site_code=site.code, site_name=site.name, district_name=site.district_name,
                                    head_of_facility=site.head_of_facility, cycle_id=cycle_id,
                                    run_date=cycle.run_date)
        leaves = tree.levels[0]
        signed = PadesSigner(signer).sign(render_confirmation(header, doses, tree.root, leaves), reason=_REASON,
                                          location=f"{site.district_name}, Hà Nội")
        kid = register_signer(session, signer, purpose="facility", store_ref=store_ref)
        sequence = (session.scalar(select(func.max(FacilityConfirmation.sequence)).filter_by(
            cycle_id=cycle_id, site_code=site_code)) or 0) + 1
        confirmation = FacilityConfirmation(
            cycle_id=cycle_id, site_code=site_code, sequence=sequence, signer_kid=kid,
            document_sha256=hashlib.sha256(signed).hexdigest(), merkle_root=tree.root.hex(), records=len(doses),
            status="signed", signed_at=at, document=signed)
        session.add(confirmation)
        session.flush()
        # rows as tuples, on SQLite straight to the driver: no parameter dict per record
        items = zip(repeat(confirmation.id), doses.record_id, range(len(doses)), map(bytes.hex, leaves),
                    tree.json_proofs())
        while chunk := list(islice(items, _CHUNK)):
            insert_rows(session.connection(), _ITEMS, _ITEM_COLUMNS, chunk)
        return ConfirmationSummary(site_code, confirmation.id, sequence, len(doses), tree.root.hex(), kid)


def _unconfirmed(session: Session, site_code: str) -> DoseColumns:
    """The site's matched records in no signed list, in id order, as their leaves will commit to them: one
    Core query joined with the raw record's content hash (no ORM object per record). NOT EXISTS rather than
    NOT IN: PostgreSQL plans it as an anti-join on the items' unique index, where NOT IN hashes every
    confirmation item of every site (or, past work_mem, scans them once per record)."""
    d, items = DoseRecord.__table__.c, _ITEMS.c
    query = (
        select(d.id, d.source_key, d.full_name, d.dob, d.national_id, d.passport_no, d.vaccine_mp,
               d.vaccine_raw, d.dose_number, d.vaccination_date, d.lot, RawRecord.__table__.c.content_hash)
        .join_from(DoseRecord.__table__, RawRecord.__table__, d.raw_record_id == RawRecord.__table__.c.id)
        .where(d.site_code == site_code, d.status == "matched",
               ~exists().where(items.dose_record_id == d.id))
        .order_by(d.id))
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return _doses(session.execute(query).all())
    # SQLite: the driver's own tuples, without a SQLAlchemy row and date per record (a third of the read);
    # the dates, ISO text in SQLite, are read by the Date type's own processor, once per distinct value
    compiled = query.compile(dialect=conn.dialect)
    params = compiled.construct_params()
    cursor = conn.connection.cursor()
    try:
        cursor.execute(compiled.string, [params[name] for name in compiled.positiontup or ()])
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return _doses(rows, d.dob.type.dialect_impl(conn.dialect).result_processor(conn.dialect, None))


@dataclass(frozen=True)
class InclusionCheck:
    """Whether a dose record, as it is now, is in the list its site head signed."""

    dose_record_id: int
    confirmation_id: int
    signature_ok: bool
    included: bool

    @property
    def ok(self) -> bool:
        return self.signature_ok and self.included


def check_inclusion(db_url: str, dose_record_id: int, trust_roots: Sequence[x509.Certificate]) -> InclusionCheck:
    """Validate the confirmation PDF's PAdES signature against `trust_roots`, read the
    root the signed PDF states, and check the record's stored proof against it with the record's current
    content: a record changed after signing no longer verifies."""
    with session_scope(db_url) as session:
        item = session.scalar(select(ConfirmationItem).filter_by(dose_record_id=dose_record_id))
        if item is None:
            raise SigningError(f"dose record {dose_record_id} is in no signed confirmation")
        confirmation = session.get(FacilityConfirmation, item.confirmation_id)
        record = session.get(DoseRecord, dose_record_id)
        assert confirmation is not None and record is not None and confirmation.document is not None
        raw = session.get(RawRecord, record.raw_record_id)
        assert raw is not None
        leaf = confirmed_dose(record, raw.content_hash).leaf()
        pdf, proof, index = confirmation.document, [bytes.fromhex(h) for h in item.proof], item.leaf_index
        confirmation_id = confirmation.id
    statuses = validate_pdf(pdf, trust_roots)
    root, size = root_of(pdf)
    return InclusionCheck(dose_record_id, confirmation_id, signature_ok=bool(statuses) and all(
        s.ok for s in statuses), included=verify_inclusion(leaf, index, size, proof, root))
