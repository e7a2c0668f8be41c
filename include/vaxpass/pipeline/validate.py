"""The validation stage: one site's new records through the Great Expectations suite, failures quarantined.

The dose-history rules compare the batch with the stored records of the same persons (by national ID or
passport): *accepted* ones (they passed validation) and *pending* ones (new at another site, not validated
yet). Site tasks run in parallel, each reading what is committed; the verdict on a pair of records does not
depend on which task runs first, because a pending record counts like an accepted one and a tie between two
sites goes to the site code that sorts first (data_quality/README.md, "Dose history").

A site whose batch fails more than its threshold is held as a whole (`QualityRun.held`, records `held`) until
`release_site_batch`.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import msgspec
import pandas as pd
from msgspec.structs import astuple
from sqlalchemy import ColumnElement, Row, Text, and_, cast, insert, not_, or_, select, update
from sqlalchemy.orm import Session

from vaxpass.domain import SOURCE_HEADERS
from vaxpass.errors import VaxpassError
from vaxpass.quality import QualityReport, default_suite_dir, empty_report, load_suite, validate_dose_records
from vaxpass.quality.holds import load_hold_policy
from vaxpass.store import session_scope
from vaxpass.store.listed import value_lists
from vaxpass.store.models import DoseRecord, LandedFile, Person, QualityResult, QualityRun, RawRecord

_RAW = {"full_name_raw": "full_name", "dob_raw": "dob", "sex_raw": "sex", "dose_number_raw": "dose_number",
        "vaccination_date_raw": "vaccination_date"}
# Records that passed validation (or wait on a decision after it): the history new records are compared with.
ACCEPTED = ("valid", "held", "matched", "flagged", "in_review")
HELD_REASON = "site_batch_held"
_DIGITS = re.compile(r"(\d+)")
_DIGITS_AS_ZERO = str.maketrans("0123456789", "0000000000")


class QualityHoldError(VaxpassError):
    """A hold cannot be released: `reason` is `no_quality_run` or `not_held`."""

    def __init__(self, cycle_id: str, site_code: str, reason: str) -> None:
        self.cycle_id, self.site_code, self.reason = cycle_id, site_code, reason
        super().__init__(f"site {site_code}, cycle {cycle_id}: {reason}")


# What validation reads of a record: the normalised fields, the raw row as its JSON text (for the `*_raw`
# columns; `dose_frame` decodes only the cells it needs), its file.
_BATCH_COLUMNS = (DoseRecord.id, DoseRecord.site_code, DoseRecord.source_key, DoseRecord.full_name, DoseRecord.dob,
                  DoseRecord.sex, DoseRecord.national_id, DoseRecord.phone, DoseRecord.vaccine_raw,
                  DoseRecord.vaccine_mp, DoseRecord.dose_number, DoseRecord.vaccination_date, DoseRecord.lot,
                  DoseRecord.nationality, DoseRecord.passport_no, RawRecord.source_row,
                  cast(RawRecord.raw, Text).label("raw_json"), LandedFile.source_name)


def batch_rows(session: Session, *where: ColumnElement[bool]) -> Sequence[Row[Any]]:
    """The records `where` selects, as plain rows of `_BATCH_COLUMNS` (no ORM objects: a site's batch can be
    large and validation only reads it), in entry order (`entry_order` of the source key, then id)."""
    session.flush()  # read through the session's connection, past the ORM's row loading: flush as autoflush would
    rows: Sequence[Any] = session.connection().execute(
        select(*_BATCH_COLUMNS)
        .join(RawRecord, RawRecord.id == DoseRecord.raw_record_id)
        .join(LandedFile, LandedFile.id == RawRecord.landed_file_id)
        .where(*where).order_by(DoseRecord.id)).all()
    return in_entry_order(rows)


def in_entry_order(rows: Sequence[Any]) -> list[Any]:
    """The rows sorted by `entry_order` of their `source_key`, ties left in their order.

    When every key has the same shape (the same characters, digit runs of the same lengths, as a site's row ids
    usually are: "HN-268-03-0001028"), the keys differ only in digits and their natural order is their text
    order: a plain sort of the text gives the same order at a tenth of the cost of building `entry_order`'s
    keys."""
    keys = [r.source_key for r in rows]
    if len({key.translate(_DIGITS_AS_ZERO) for key in keys}) <= 1 and all(key.isascii() for key in keys):
        return [row for _, row in sorted(zip(keys, rows, strict=True), key=itemgetter(0))]
    return sorted(rows, key=lambda r: entry_order(r.source_key))


_FRAME_COLUMNS = ("record_id", "site_code", "source_file", "source_row", "full_name", "full_name_raw", "dob",
                  "dob_raw", "sex", "sex_raw", "national_id", "phone", "vaccine_raw", "vaccine_mp", "dose_number",
                  "dose_number_raw", "vaccination_date", "vaccination_date_raw", "lot", "nationality", "passport_no")


def _raw_text(value: Any) -> str | None:
    return None if value is None else (str(value).strip() or None)


# The raw cells validation reads, decoded by msgspec straight into a struct (the row's other cells are skipped
# unread): about 4x cheaper than json.loads of the whole row. Any value decodes as json.loads would decode it.
_RawCells = msgspec.defstruct("_RawCells", [(field, Any, None) for field in _RAW],
                              rename={field: SOURCE_HEADERS[name] for field, name in _RAW.items()})
_decode_cells = msgspec.json.Decoder(_RawCells).decode


def _raw_cells(raw_json: str) -> Any:
    """The `_RAW` cells of a raw row's JSON text, as attributes (None where the row lacks one)."""
    try:
        return _decode_cells(raw_json)
    except msgspec.MsgspecError:  # beyond msgspec's range (a 20-digit number) or not an object: as json reads it
        raw = json.loads(raw_json)
        return _RawCells(**{field: raw.get(SOURCE_HEADERS[name]) for field, name in _RAW.items()})


def dose_frame(rows: Sequence[Row[Any]]) -> pd.DataFrame:
    """The frame the quality suite judges, from `batch_rows`: one row per record, in the rows' order.
    Built column by column: the rows and the decoded raw cells are turned into columns at once (`zip`), and only
    the values that need it are touched one by one (dates to text, raw cells other than text)."""
    names = [c.key for c in _BATCH_COLUMNS]
    field: dict[str, Sequence[Any]] = dict(zip(names, zip(*rows, strict=True) if rows else [()] * len(names),
                                               strict=True))
    decoded = [astuple(_raw_cells(raw_json)) for raw_json in field["raw_json"]]
    cells = zip(*decoded, strict=True) if decoded else [()] * len(_RAW)
    data: dict[str, list[Any]] = {
        "record_id": list(map(str, field["id"])), "site_code": list(field["site_code"]),
        "source_file": list(field["source_name"]), "source_row": list(field["source_row"]),
        "full_name": list(field["full_name"]), "dob": [d.isoformat() if d else None for d in field["dob"]],
        "sex": list(field["sex"]), "national_id": list(field["national_id"]), "phone": list(field["phone"]),
        "vaccine_raw": list(field["vaccine_raw"]), "vaccine_mp": list(field["vaccine_mp"]),
        "dose_number": list(field["dose_number"]),
        "vaccination_date": [d.isoformat() if d else None for d in field["vaccination_date"]],
        "lot": list(field["lot"]), "nationality": list(field["nationality"]),
        "passport_no": list(field["passport_no"]),
    }
    for column, values in zip(_RAW, cells, strict=True):
        # text as `_raw_text` reads it, without the call for each cell (most raw cells are text)
        data[column] = [(v.strip() or None) if type(v) is str else _raw_text(v) for v in values]
    frame = pd.DataFrame({c: data[c] for c in _FRAME_COLUMNS}, columns=list(_FRAME_COLUMNS))
    frame["dose_number"] = frame["dose_number"].astype("Int64")
    return frame


def entry_order(source_key: str) -> tuple[Any, ...]:
    """The order a site entered its rows: its own row id (Mã mũi tiêm) in natural order ("r9" < "r10").
    A site's export may split rows over several files, so file and row position do not tell which copy of a
    duplicate came later; the row id does."""
    return tuple([(0, int(part), "") if part.isdigit() else (1, 0, part) for part in _DIGITS.split(source_key) if part])


def load_history(session: Session, site_code: str, batch: pd.DataFrame) -> pd.DataFrame:
    """The stored records of the batch's persons (by national ID, a matched person's CCCD, or passport):
    accepted ones and other sites' pending ones — never the batch itself (this site's `new` records).

    The keys go in as `store.listed.value_lists`: on SQLite the whole batch's list as one JSON parameter (an `IN`
    of hundreds of bound parameters cost SQLAlchemy more to build and render than SQLite took to answer it)."""
    ids = sorted({str(v) for v in batch["national_id"].dropna()})
    passports = sorted({str(v) for v in batch["passport_no"].dropna()} | {str(v).upper() for v in
                                                                          batch["passport_no"].dropna()})
    columns = (DoseRecord.id, DoseRecord.site_code, DoseRecord.national_id, DoseRecord.nationality,
               DoseRecord.passport_no, Person.national_id.label("person_national_id"), DoseRecord.dose_number,
               DoseRecord.vaccination_date, DoseRecord.vaccine_mp, DoseRecord.status)
    in_scope = {*ACCEPTED, "new"}
    found: dict[int, Any] = {}
    # The look-ups go through the session's connection, past the ORM's row loading (≈ 15 % of this function's
    # CPU); pending changes are flushed first, as the session's autoflush would.
    session.flush()
    connection = session.connection()

    # the batch itself, left out in SQL: a negation no index serves, so the planner keeps the key's index
    not_batch = not_(and_(DoseRecord.site_code == site_code, DoseRecord.status == "new"))

    def fetch(*condition: ColumnElement[bool]) -> None:
        """Records by one key; the status scope is applied here rather than in SQL, where SQLite would take the
        status index (and walk every stored record) instead of the key's."""
        query = select(*columns).outerjoin(Person, Person.id == DoseRecord.person_id).where(*condition, not_batch)
        found.update((row.id, row) for row in connection.execute(query) if row.status in in_scope)

    # One indexed look-up per key kind (an OR across the two tables would scan every stored record per list):
    # the record's own ID, the ID of the person it was matched to, the passport.
    for listed in value_lists(connection, ids):
        fetch(listed.has(DoseRecord.national_id))
        # the persons' ids first: with a sub-select the planner may walk every stored record instead
        person_ids = list(connection.scalars(select(Person.id).where(listed.has(Person.national_id))))
        for persons in value_lists(connection, person_ids):
            # their records that the first look-up did not already read (most of them: their own ID)
            fetch(persons.has(DoseRecord.person_id),
                  or_(DoseRecord.national_id.is_(None), listed.lacks(DoseRecord.national_id)))
    for listed in value_lists(connection, passports):
        fetch(listed.has(DoseRecord.passport_no))
    rows = [found[k] for k in sorted(found)]  # in id order, whichever look-up found a record first
    return pd.DataFrame({
        "site_code": [r.site_code for r in rows], "national_id": [r.national_id for r in rows],
        "nationality": [r.nationality for r in rows], "passport_no": [r.passport_no for r in rows],
        "person_national_id": [r.person_national_id for r in rows],
        "dose_number": pd.array([r.dose_number for r in rows], dtype="Int64"),
        "vaccination_date": [r.vaccination_date.isoformat() if r.vaccination_date else None for r in rows],
        "vaccine_mp": [r.vaccine_mp for r in rows], "accepted": [r.status != "new" for r in rows],
    })


@dataclass(frozen=True)
class SiteValidation:
    """What one site's validation did; small and free of personal data (an XCom)."""

    site_code: str
    evaluated: int
    quarantined: int
    valid: int
    held: bool
    held_records: int
    blocked_share: float
    hold_threshold: float
    blocked_by_rule: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def validate_site(db_url: str, *, cycle_id: str, site_code: str, run_date: date,
                  suite_dir: Path | None = None) -> SiteValidation:
    """Validate the site's records awaiting validation; a rerun of the same cycle reuses its quality run."""
    policy = load_hold_policy(suite_dir if suite_dir is not None else default_suite_dir())
    with session_scope(db_url) as session:
        rows = batch_rows(session, DoseRecord.site_code == site_code, DoseRecord.status == "new")
        if rows:
            batch = dose_frame(rows)
            report = validate_dose_records(batch, run_date=run_date, suite_dir=suite_dir,
                                           history=load_history(session, site_code, batch))
        else:  # nothing new at the site: no GE run (nor GE import), and no Data Docs page for it this cycle
            report = empty_report(load_suite(suite_dir if suite_dir is not None else default_suite_dir()))
        qrun = session.scalar(select(QualityRun).filter_by(cycle_id=cycle_id, site_code=site_code))
        if qrun is None:
            qrun = QualityRun(cycle_id=cycle_id, site_code=site_code, suite_name=report.suite_name,
                              suite_version=report.suite_version, evaluated=0, blocked=0, ge_success=True,
                              held=False)
            session.add(qrun)
            session.flush()
        blocked = report.blocked_ids
        qrun.evaluated += report.evaluated
        qrun.blocked += len(blocked)
        qrun.ge_success = qrun.ge_success and report.ge_success
        if report.evaluated or not qrun.rule_stats:
            qrun.rule_stats = report.rule_stats
            qrun.docs_result = report.docs_result
        threshold = policy.threshold(site_code)
        share = qrun.blocked / qrun.evaluated if qrun.evaluated else 0.0
        qrun.blocked_share, qrun.hold_threshold = share, threshold
        qrun.held = bool(qrun.held) or policy.holds(site_code, evaluated=qrun.evaluated, blocked=qrun.blocked)
        _store_failures(session, qrun.id, report)
        first_error = {int(f.record_id): f.rule for f in reversed(report.failures) if f.severity == "error"}
        ids = [rec.id for rec in rows]
        rest = [i for i in ids if i not in first_error]
        held = len(rest) if qrun.held else 0
        by_status: dict[tuple[str, str | None], list[int]] = defaultdict(list)
        for rec_id, rule in first_error.items():
            by_status[("quarantined", rule)].append(rec_id)
        # a valid record keeps its status_reason (none, for a new record); a held one is marked
        by_status[("held", HELD_REASON) if qrun.held else ("valid", None)] = rest
        _set_status(session, qrun.id, by_status)
        by_rule: dict[str, int] = {}
        for f in report.failures:
            if f.severity == "error":
                by_rule[f.rule] = by_rule.get(f.rule, 0) + 1
        return SiteValidation(site_code=site_code, evaluated=report.evaluated, quarantined=len(blocked),
                              valid=report.evaluated - len(blocked) - held, held=bool(qrun.held), held_records=held,
                              blocked_share=round(share, 4), hold_threshold=threshold,
                              blocked_by_rule=dict(sorted(by_rule.items())))


def _set_status(session: Session, quality_run_id: int, by_status: dict[tuple[str, str | None], list[int]]) -> None:
    """The verdicts as a few set-wise UPDATEs (one per status and reason, its ids as `value_lists`: one JSON
    list on SQLite, lists of 900 elsewhere) rather than one per record: the records were read as plain rows,
    nothing else in the session holds them."""
    session.flush()
    connection = session.connection()
    for (status, reason), rec_ids in sorted(by_status.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        values: dict[str, Any] = {"status": status, "quality_run_id": quality_run_id}
        if status != "valid":
            values["status_reason"] = reason
        for listed in value_lists(connection, sorted(rec_ids)):
            connection.execute(update(DoseRecord).where(listed.has(DoseRecord.id)).values(**values))


def _store_failures(session: Session, quality_run_id: int, report: QualityReport) -> None:
    if report.failures:
        session.execute(insert(QualityResult), [
            {"quality_run_id": quality_run_id, "dose_record_id": int(f.record_id), "rule": f.rule,
             "severity": f.severity, "reason_en": f.reason_en, "reason_vi": f.reason_vi}
            for f in report.failures])


def release_site_batch(db_url: str, *, cycle_id: str, site_code: str, released_by: str,
                       released_at: datetime) -> int:
    """Let a held batch go on: its held records become `valid` (matched by the next cycle). Returns how many;
    0 when it was released before. Raises `QualityHoldError` when the site's batch of that cycle was not held."""
    with session_scope(db_url) as session:
        qrun = session.scalar(select(QualityRun).filter_by(cycle_id=cycle_id, site_code=site_code))
        if qrun is None:
            raise QualityHoldError(cycle_id, site_code, "no_quality_run")
        if not qrun.held:
            raise QualityHoldError(cycle_id, site_code, "not_held")
        if qrun.released_at is None:
            qrun.released_by, qrun.released_at = released_by, released_at
        result = session.execute(update(DoseRecord).where(DoseRecord.quality_run_id == qrun.id,
                                                          DoseRecord.status == "held")
                                 .values(status="valid", status_reason=None))
        return int(getattr(result, "rowcount", 0) or 0)


def held_batches(db_url: str) -> list[dict[str, Any]]:
    """Every held site batch, released or not: cycle, site, shares and the records still held."""
    with session_scope(db_url) as session:
        runs = session.scalars(select(QualityRun).where(QualityRun.held.is_(True))
                               .order_by(QualityRun.cycle_id, QualityRun.site_code)).all()
        out = []
        for run in runs:
            waiting = session.query(DoseRecord).filter_by(quality_run_id=run.id, status="held").count()
            out.append({"cycle_id": run.cycle_id, "site_code": run.site_code, "evaluated": run.evaluated,
                        "blocked": run.blocked, "blocked_share": run.blocked_share,
                        "hold_threshold": run.hold_threshold, "held_records": waiting,
                        "released_by": run.released_by,
                        "released_at": run.released_at.isoformat() if run.released_at else None})
        return out


def build_cycle_data_docs(db_url: str, *, cycle_id: str, docs_root: Path) -> Path | None:
    """Build the cycle's Data Docs from its site validations into `docs_root/<cycle>/` and record the index
    page on the cycle (`Cycle.data_docs_path`); None when the cycle validated nothing."""
    from vaxpass.quality.docs import build_data_docs, docs_folder
    from vaxpass.store.models import Cycle

    with session_scope(db_url) as session:
        cycle = session.get(Cycle, cycle_id)
        runs = session.scalars(select(QualityRun).where(QualityRun.cycle_id == cycle_id,
                                                        QualityRun.docs_result.is_not(None))
                               .order_by(QualityRun.site_code)).all()
        if cycle is None or not runs:
            return None
        index = build_data_docs(docs_folder(docs_root, cycle_id), cycle_id=cycle_id, run_time=cycle.run_after,
                                suite_name=runs[0].suite_name,
                                results=[(r.site_code, r.docs_result) for r in runs if r.docs_result])
        cycle.data_docs_path = str(index)
        return index
