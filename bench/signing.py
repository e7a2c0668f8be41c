"""Signing throughput, each against a baseline measured in the same run, on one core.

    python -m bench.signing --certificates 5000 --pdfs 200

Passports (baseline: a raw loop of `cryptography` ECDSA P-256 signatures over the same payloads' COSE
Sig_structures — the ceiling; run between the stages; every row, the baseline included, is its best of
`--repeats` rounds, the figure least disturbed by the other work on a shared machine; the ratios are given in
wall time and in CPU seconds of the benchmark process, which leave out the time it waited for its core):
  pack        payload → schema check → CBOR → COSE_Sign1 (ES256) → zlib → Base45 (`encode_hc1`)
  pack+check  the same plus the pre-issuance check (decode, verify against the trust list, schema again)
  issuance    `issue_certificates` end to end on a SQLite ops store prepared with N matched, confirmed dose
              records: reads, payload, signing, the check, certificate rows and lineage written, committed
  check alone `check_before_publishing` over the N issued certificates (decode, ECDSA verify, schema, compare)
  issuance without the check  issuance minus the check alone: payload, CBOR, COSE, zlib, Base45, store write
              (the issue's list), derived from the two timed rows above
  memory      peak Python memory (tracemalloc) of issuance at N and at `--memory-scale` x N certificates:
              issuance works in chunks of persons, so the peak should not grow with N
PDF certificates (goal ≥ 60 per second per core; baseline: pyHanko out of the box — `SimpleSigner.load_pkcs12`
per document and no `bytes_reserved`, so a trial signature sizes the placeholder — timed over a third as many
documents; the four stages run in three interleaved rounds and each row is its median round):
  pdf-sign    PAdES B-B signature of an already rendered certificate (pyHanko, key parsed once,
              `bytes_reserved` set so no trial signature, the CMS SignedData from a per-signer DER template)
  pdf-render  the certificate page from its template (`pdfpage`: fonts, labels, page tree written once per
              process; per certificate the field values, the QR by zxing-cpp as a raw 1-bit image, the attachment)
  pdf-full    what `certificates export --format pdf` does per certificate: decode the HC1, render, sign
Writes `bench/results/signing.md` (table) and `.json`.
"""

from __future__ import annotations

import argparse
import functools
import gc
import io
import json
import os
import platform
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import insert, select

from vaxpass.issuance import issue_certificates
from vaxpass.issuance.check import Signed, check_before_publishing
from vaxpass.issuance.issue import CHUNK_PERSONS
from vaxpass.signing import cose
from vaxpass.signing.dcc import build_vaccination_payload
from vaxpass.signing.hcert import decode_hc1, encode_hc1, verify_hc1
from vaxpass.signing.keystore import Signer, load_signer
from vaxpass.signing.pades import PadesSigner
from vaxpass.signing.pdfcert import CertificateFields, PdfCertificateSigner, render_certificate
from vaxpass.signing.pki import create_root_ca, ensure_pdf_signer, issue_document_signer
from vaxpass.signing.trustlist import TrustList
from vaxpass.signing.uvci import make_uvci
from vaxpass.store import migrate, session_scope
from vaxpass.store.models import (
    Certificate,
    ConfirmationItem,
    Cycle,
    DoseRecord,
    ExtractionRun,
    FacilityConfirmation,
    LandedFile,
    Person,
    RawRecord,
    Site,
)
from vaxpass.vaccines import all_vaccines

RESULTS = Path(__file__).parent / "results"
NOW = datetime.now(UTC)
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"]
GIVEN = ["Văn An", "Thị Đào", "Minh Tâm", "Thu Thủy", "Hoàng Hòa", "Đức Thắng", "Ngọc Ánh", "Quốc Bảo"]


def _persons(n: int) -> list[dict[str, Any]]:
    vaccines = [v for v in all_vaccines() if v.series_doses <= 3]
    return [{"full_name": f"{FAMILY[i % len(FAMILY)]} {GIVEN[(i // 7) % len(GIVEN)]}",
             "dob": f"{1950 + i % 55}-{1 + i % 12:02d}-{1 + i % 28:02d}", "vaccine": vaccines[i % len(vaccines)],
             "dose": 1 + i % 2, "date": f"2021-{1 + i % 12:02d}-{1 + i % 28:02d}", "uvci": make_uvci(str(i).encode())}
            for i in range(n)]


def _payload(p: dict[str, Any]) -> dict[str, Any]:
    return build_vaccination_payload(full_name=p["full_name"], dob=p["dob"], vaccine=p["vaccine"],
                                     dose_number=p["dose"], total_doses=max(p["vaccine"].series_doses, p["dose"]),
                                     vaccination_date=p["date"], uvci=p["uvci"])


def _rate(fn: Callable[[], int]) -> tuple[int, float]:
    start = time.perf_counter()
    n = fn()
    return n, time.perf_counter() - start


def bench_passports(n: int, dsc: Signer, work: Path,
                    repeats: int) -> tuple[dict[str, tuple[int, float]], dict[str, tuple[int, float]]]:
    """Every stage `repeats` times, interleaved with the raw loop; each row keeps its best (fastest) round: on
    this shared, loaded machine the best of several rounds is the figure least disturbed by other work."""
    persons = _persons(n)
    exp = NOW + timedelta(days=365)
    key = dsc.key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    protected = cbor2.dumps({1: cose.ES256, 4: dsc.kid})
    structures = [cose.sig_structure(protected, cbor2.dumps({1: "VN", 6: int(NOW.timestamp()),
                                                              4: int(exp.timestamp()), -260: {1: _payload(p)}}))
                  for p in persons]
    trust = TrustList.from_certificates([dsc.certificate])
    rounds: dict[str, list[tuple[int, float]]] = {}
    cpu_rounds: dict[str, list[tuple[int, float]]] = {}

    def raw() -> int:
        for data in structures:
            key.sign(data, ec.ECDSA(hashes.SHA256()))
        return len(structures)

    def pack() -> int:
        for p in persons:
            encode_hc1(_payload(p), dsc, issued_at=NOW, expires_at=exp)
        return len(persons)

    def pack_check() -> int:
        for p in persons:
            payload = _payload(p)
            decoded = verify_hc1(encode_hc1(payload, dsc, issued_at=NOW, expires_at=exp), trust, now=NOW)
            assert decoded.payload == payload
        return len(persons)

    def timed(name: str, fn: Callable[[], int]) -> None:
        cpu = time.process_time()
        rounds.setdefault(name, []).append(_rate(fn))
        cpu_rounds.setdefault(name, []).append((rounds[name][-1][0], time.process_time() - cpu))

    for r in range(repeats):
        url = _prepared_store(work / f"round{r}", persons)  # a fresh store per round: issuance starts from zero
        summary: list[Any] = []

        def issuance(url: str = url, summary: list[Any] = summary) -> int:
            summary.append(issue_certificates(url, dsc, cycle_id="bench", issued_at=NOW, uvci_key=b"k" * 32,
                                              dag_id="bench", task_id="issue", store_ref="dsc.p12"))
            return int(summary[0].issued)

        timed(RAW, raw)
        timed("pack", pack)
        timed(RAW, raw)
        timed("pack+check", pack_check)
        timed(RAW, raw)
        timed(ISSUANCE, issuance)
        assert summary[0].issued == n, summary
        with session_scope(url) as session:
            stored = [Signed(uvci=uvci, payload=decode_hc1(hc1).payload, kid=dsc.kid, hc1=hc1)
                      for uvci, hc1 in session.execute(select(Certificate.uvci, Certificate.hc1))]
        timed(CHECK, functools.partial(check_before_publishing, stored, trust, at=NOW))
    def best_of(by_name: dict[str, list[tuple[int, float]]]) -> dict[str, tuple[int, float]]:
        best = {name: min(runs, key=lambda run: run[1]) for name, runs in by_name.items()}
        out = {RAW: best.pop(RAW), **best}
        out["issuance without the check (derived)"] = (n, best[ISSUANCE][1] - best[CHECK][1])
        return out

    return best_of(rounds), best_of(cpu_rounds)


RAW = "raw ECDSA P-256 (baseline)"
ISSUANCE = "issuance (store, lineage, check)"
CHECK = "pre-issuance check alone"


def issuance_memory(n: int, dsc: Signer, work: Path) -> float:
    """Peak Python memory (tracemalloc, MiB) of `issue_certificates` over a fresh store of n persons."""
    url = _prepared_store(work / f"memory{n}", _persons(n))
    gc.collect()
    tracemalloc.start()
    issue_certificates(url, dsc, cycle_id="bench", issued_at=NOW, uvci_key=b"k" * 32, dag_id="bench",
                       task_id="issue", store_ref="dsc.p12")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def _prepared_store(work: Path, persons: list[dict[str, Any]]) -> str:
    """An ops store holding N persons, each with one matched dose record already in a signed confirmation."""
    url = f"sqlite:///{work / 'ops.sqlite'}"
    work.mkdir(parents=True, exist_ok=True)
    migrate(url)
    n = len(persons)
    with session_scope(url) as session:
        session.add(Cycle(id="bench", run_date=date.today(), run_after=NOW, dag_id="bench", status="running",
                          stats={}))
        session.add(Site(code="S", name="Trạm Y tế", district_code="001", district_name="Ba Đình",
                         head_of_facility="x", source_kind="csv", source_path="x", config_hash="x"))
        session.flush()
        session.add(ExtractionRun(id=1, cycle_id="bench", site_code="S", status="ok"))
        session.flush()
        session.add(LandedFile(id=1, site_code="S", source_name="d.csv", sha256="0" * 64, size=1, landed_path="x",
                               extraction_run_id=1, status="ok"))
        session.add(FacilityConfirmation(id=1, cycle_id="bench", site_code="S", sequence=1, records=n,
                                         status="signed", merkle_root="0" * 64))
        session.flush()
        session.execute(insert(RawRecord), [{"id": i + 1, "landed_file_id": 1, "site_code": "S", "source_row": i,
                                             "source_key": str(i), "content_hash": "0" * 64, "raw": {}}
                                            for i in range(n)])
        session.execute(insert(Person), [{"id": f"p{i:08d}", "kind": "citizen", "full_name": p["full_name"],
                                          "dob": p["dob"], "nationality": "VN"} for i, p in enumerate(persons)])
        session.execute(insert(DoseRecord), [{
            "id": i + 1, "raw_record_id": i + 1, "cycle_id": "bench", "site_code": "S", "source_key": str(i),
            "version": 1, "vaccine_mp": p["vaccine"].mp, "dose_number": p["dose"],
            "vaccination_date": date.fromisoformat(p["date"]), "status": "matched", "person_id": f"p{i:08d}"}
            for i, p in enumerate(persons)])
        session.execute(insert(ConfirmationItem), [{"confirmation_id": 1, "dose_record_id": i + 1, "leaf_index": i,
                                                    "leaf_hash": "0" * 64, "proof": []} for i in range(n)])
    return url


def bench_pdfs(n: int, pdf_signer: Signer, dsc: Signer, p12: Path, passphrase: bytes) -> dict[str, tuple[int, float]]:
    persons = _persons(n)
    exp = NOW + timedelta(days=365)
    hc1s = [encode_hc1(_payload(p), dsc, issued_at=NOW, expires_at=exp) for p in persons]
    fields = [CertificateFields.from_payload(decode_hc1(h).payload, issued_at=NOW, expires_at=exp) for h in hc1s]
    pades = PadesSigner(pdf_signer)
    rendered = [render_certificate(f, h) for f, h in zip(fields[:20], hc1s[:20], strict=True)]
    maker = PdfCertificateSigner(pades)
    n_baseline = max(20, n // 3)  # the baseline is ~10x slower: a third as many documents per round

    def sign_only() -> int:
        for i in range(n):
            pades.sign(rendered[i % len(rendered)])
        return n

    def pyhanko_defaults() -> int:
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
        from pyhanko.sign import signers
        from pyhanko.sign.fields import SigSeedSubFilter

        for i in range(n_baseline):
            signer = signers.SimpleSigner.load_pkcs12(str(p12), passphrase=passphrase)
            assert signer is not None
            meta = signers.PdfSignatureMetadata(field_name="Signature1", subfilter=SigSeedSubFilter.PADES)
            signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(rendered[i % len(rendered)])), meta, signer=signer)
        return n_baseline

    def render_only() -> int:
        for f, h in zip(fields, hc1s, strict=True):
            render_certificate(f, h)
        return n

    def full() -> int:
        for h in hc1s:
            decoded = decode_hc1(h)
            maker.make(decoded.payload, h, issued_at=decoded.issued_at, expires_at=decoded.expires_at)
        return n

    stages = {"pdf-sign pyHanko defaults (baseline)": pyhanko_defaults, "pdf-sign (PAdES B-B)": sign_only,
              "pdf-render (page template)": render_only, "pdf-full (decode + render + sign)": full}
    rounds: dict[str, list[tuple[int, float]]] = {name: [] for name in stages}
    for _ in range(3):  # interleaved rounds, the median of three: the load on this shared machine moves a lot
        for name, stage in stages.items():
            rounds[name].append(_rate(stage))
    return {name: sorted(times, key=lambda r: r[1] / r[0])[1] for name, times in rounds.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--certificates", type=int, default=5000)
    parser.add_argument("--pdfs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the passport stages (best kept)")
    parser.add_argument("--memory-scale", type=int, default=4,
                        help="also trace issuance's peak memory at N and this many times N (0: skip)")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core: rates are per core
    work = Path(tempfile.mkdtemp(prefix="vaxpass-bench-signing-"))
    create_root_ca(work, b"bench-passphrase", now=NOW - timedelta(days=1))
    dsc = load_signer(issue_document_signer(work, b"bench-passphrase", work / "dsc.p12", now=NOW - timedelta(hours=1)),
                      b"bench-passphrase")
    pdf_signer = load_signer(ensure_pdf_signer(work, b"bench-passphrase", work / "pdf.p12", now=NOW - timedelta(hours=1)),
                             b"bench-passphrase")
    passports, passports_cpu = bench_passports(args.certificates, dsc, work, args.repeats)
    memory = {n: issuance_memory(n, dsc, work) for n in (args.certificates, args.certificates * args.memory_scale)
              } if args.memory_scale else {}
    pdfs = bench_pdfs(args.pdfs, pdf_signer, dsc, work / "pdf.p12", b"bench-passphrase")
    baseline = passports["raw ECDSA P-256 (baseline)"]
    pdf_base = pdfs["pdf-sign pyHanko defaults (baseline)"]
    rows = []
    for name, (n, seconds) in {**passports, **pdfs}.items():
        rate = n / seconds
        ratio = rate / (baseline[0] / baseline[1]) if name in passports else rate / (pdf_base[0] / pdf_base[1])
        cpu_ratio = None
        if name in passports_cpu:  # the same ratio in CPU seconds of this process (time waiting for the core left out)
            (raw_n, raw_cpu), (stage_n, stage_cpu) = passports_cpu[RAW], passports_cpu[name]
            cpu_ratio = round((stage_n / stage_cpu) / (raw_n / raw_cpu), 3)
        rows.append({"stage": name, "items": n, "seconds": round(seconds, 3), "per_second": round(rate, 1),
                     "ratio": round(ratio, 3), "cpu_ratio": cpu_ratio,
                     "of_goal": round(rate / 60, 3) if name in pdfs else None})
    load = os.getloadavg()[0]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "signing.json").write_text(json.dumps({"rows": rows, "load_1min": load,
                                                         "issuance_peak_mib": memory}, indent=2) + "\n")
    lines = [f"# Signing benchmark ({datetime.now(UTC):%Y-%m-%d}, one core of {platform.processor() or 'x86_64'}, "
             f"load average {load:.1f} at the end)", "",
             f"`python -m bench.signing --certificates {args.certificates} --pdfs {args.pdfs}`", "",
             "| stage | items | seconds | per second | ratio to its baseline | ratio, CPU time | share of 60/s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        base = "of raw ECDSA" if r["stage"] in passports else "of pyHanko defaults"
        goal = f"{r['of_goal']:.2f}" if r["of_goal"] is not None else ""
        cpu = f"{r['cpu_ratio']:.2f}" if r["cpu_ratio"] is not None else ""
        lines.append(f"| {r['stage']} | {r['items']} | {r['seconds']} | {r['per_second']} | {r['ratio']:.2f} {base} "
                     f"| {cpu} | {goal} |")
    raw_rate = baseline[0] / baseline[1]
    per = {name: 1e6 * seconds / n for name, (n, seconds) in passports.items()}
    sign_us = per["raw ECDSA P-256 (baseline)"]
    lines += ["", f"Per certificate: raw ECDSA {sign_us:.0f} µs (best of {3 * args.repeats} raw loops interleaved "
              f"with the stages; every passport row is its best of {args.repeats} rounds); pack {per['pack']:.0f} µs; the pre-issuance check alone "
              f"{per['pre-issuance check alone']:.0f} µs ({per['pre-issuance check alone'] / sign_us:.1f}x a "
              f"signature: it verifies each ECDSA signature, decodes and re-validates); issuance without the check "
              f"{per['issuance without the check (derived)']:.0f} µs. Half the raw rate leaves {sign_us:.0f} µs "
              "per certificate beside the signature for everything else."]
    if memory:
        lines += ["", "Issuance peak Python memory (tracemalloc, chunks of "
                  f"{CHUNK_PERSONS:,} persons per transaction): " + "; ".join(
                      f"{n:,} certificates {mib:.1f} MiB" for n, mib in memory.items()) + "."]
    lines += ["", f"Raw ECDSA P-256 ran at {raw_rate:,.0f}/s here (best round), {raw_rate / 32_100:.2f}x the "
              "32,100/s of a quiet core of this machine kind (shared-notes figure): absolute rates move with the "
              "load; the ratios compare like with like."]
    (RESULTS / "signing.md").write_text("\n".join(lines) + "\n")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
