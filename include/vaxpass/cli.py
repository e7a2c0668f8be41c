"""The `vaxpass` command line: set up the embedded mode, generate data, run the PKI, export and verify.

Like the DAG files, this is an outer layer: it reads `VAXPASS_*` settings from the environment and passes
them down; the package below never reads the environment itself.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path

from vaxpass.config import Settings, settings_from_mapping
from vaxpass.errors import VaxpassError
from vaxpass.synth import add_arguments as add_synth_arguments


def _home(args: argparse.Namespace) -> Path:
    return Path(args.home or os.environ.get("VAXPASS_HOME") or ".vaxpass").resolve()


def _settings(args: argparse.Namespace) -> Settings:
    values = {k: v for k, v in os.environ.items() if k.startswith("VAXPASS_")}
    values["VAXPASS_HOME"] = str(_home(args))
    return settings_from_mapping(values)


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def cmd_init(args: argparse.Namespace) -> int:
    """Create the embedded mode's home: secrets file, ops store, root CA and document signer."""
    home = _home(args)
    home.mkdir(parents=True, exist_ok=True)
    secrets_file = home / "secrets.json"
    if not secrets_file.exists():
        secrets_file.touch(mode=0o600)
        secrets_file.write_text(json.dumps({"VAXPASS_KEY_PASSPHRASE": secrets.token_urlsafe(24),
                                            "VAXPASS_PSEUDONYM_KEY": secrets.token_urlsafe(32)}))
    _pki_init(_settings(args))
    _out(f"vaxpass home ready at {home}")
    return 0


def _pki_init(s: Settings) -> None:
    """Root CA, document signer, PDF signer and one head-of-facility key per site of `sites.json` (idempotent);
    every certificate goes into the ops store, so the trust list and `pki list` have it."""
    from vaxpass.signing.admin import init_pki

    init_pki(s, now=datetime.now(UTC))


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from vaxpass.store import migrate

    migrate(_settings_or_url(args))
    _out("ops store schema is up to date")
    return 0


def _settings_or_url(args: argparse.Namespace) -> str:
    """The ops-store URL: `VAXPASS_DB_URL`, else the embedded home's SQLite file (no secrets needed)."""
    return os.environ.get("VAXPASS_DB_URL") or f"sqlite:///{_home(args) / 'ops.sqlite'}"


def cmd_pki_init(args: argparse.Namespace) -> int:
    s = _settings(args)
    _pki_init(s)
    _out(f"root CA and document signer in {s.pki_dir}")
    return 0


def cmd_pki_issue_facility(args: argparse.Namespace) -> int:
    from vaxpass.signing.admin import find_site, issue_facility

    s = _settings(args)
    path, issued = issue_facility(s, find_site(s, args.site), now=datetime.now(UTC))
    _out(f"head-of-facility key for site {args.site} {'issued' if issued else 'already valid'}: {path}")
    return 0


def cmd_pki_list(args: argparse.Namespace) -> int:
    from vaxpass.signing.admin import keys

    now = datetime.now(UTC)
    rows = [{"role": k.purpose, "kid": k.kid, "subject": k.subject, "not_before": k.not_before.isoformat(),
             "not_after": k.not_after.isoformat(), "status": k.state_at(now), "store": k.store_kind}
            for k in keys(_settings(args))]
    if args.json:
        _out(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    _out(f"{'role':<9} {'kid':<16} {'status':<13} {'valid from':<10} {'until':<10} subject")
    for r in rows:
        _out(f"{r['role']:<9} {r['kid']:<16} {r['status']:<13} {r['not_before'][:10]:<10} {r['not_after'][:10]:<10} "
             f"{r['subject']}")
    return 0


def cmd_pki_revoke(args: argparse.Namespace) -> int:
    from vaxpass.signing.admin import revoke_key

    role = revoke_key(_settings(args), args.kid, now=datetime.now(UTC))
    _out(f"{role} key {args.kid} revoked: it leaves the trust list and signs nothing more")
    return 0


def cmd_pki_rotate(args: argparse.Namespace) -> int:
    from vaxpass.signing.admin import rotate

    old, new = rotate(_settings(args), now=datetime.now(UTC))
    _out(f"document signer rotated: {old} retired (stays in the trust list), {new} active")
    return 0


def cmd_revocation_export(args: argparse.Namespace) -> int:
    from vaxpass.signing.admin import revocation_list

    hashes = revocation_list(_settings_or_url(args))
    Path(args.out).write_text(json.dumps({"kind": "uvci-sha256", "hashes": hashes}, indent=2) + "\n")
    _out(f"{len(hashes)} revoked certificate(s) written to {args.out}")
    return 0


def cmd_pki_token_generate(args: argparse.Namespace) -> int:
    from vaxpass.signing.admin import token_generate

    kid = token_generate(_settings(args), now=datetime.now(UTC))
    _out(f"document signer {kid} generated on the PKCS#11 token and certified; issuance signs there")
    return 0


def cmd_pki_token_put(args: argparse.Namespace) -> int:
    from vaxpass.signing.admin import token_put

    kid = token_put(_settings(args))
    _out(f"document signer {kid} imported into the PKCS#11 token")
    return 0


def cmd_pki_export_root(args: argparse.Namespace) -> int:
    s = _settings(args)
    Path(args.out).write_bytes((s.pki_dir / "root.pem").read_bytes())
    _out(f"root CA certificate written to {args.out}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from vaxpass.synth import run_from_args

    _out(json.dumps(asdict(run_from_args(args)), default=str))
    return 0


def cmd_reviewer_add(args: argparse.Namespace) -> int:
    from vaxpass.store import migrate, session_scope
    from vaxpass.store.models import Reviewer

    s = _settings(args)
    migrate(s.db_url)
    with session_scope(s.db_url) as session:
        if session.get(Reviewer, (args.user, args.district)) is None:
            session.add(Reviewer(username=args.user, district_code=args.district,
                                 display_name=args.name or args.user))
    _out(f"reviewer {args.user} assigned to district {args.district}")
    return 0


def cmd_certificates_export(args: argparse.Namespace) -> int:
    from vaxpass.exports import export_certificates

    s = _settings(args)
    if args.format == "pdf":
        from vaxpass.exports import export_pdf_certificates
        from vaxpass.signing.admin import pdf_signer_path
        from vaxpass.signing.keystore import load_signer

        signer = load_signer(pdf_signer_path(s), s.key_passphrase)
        n = export_pdf_certificates(s.db_url, Path(args.out), signer, limit=args.limit)
    else:
        n = export_certificates(s.db_url, Path(args.out), fmt=args.format, limit=args.limit)
    _out(f"{n} certificate(s) written to {args.out}")
    return 0


def cmd_trustlist_export(args: argparse.Namespace) -> int:
    from vaxpass.exports import export_trustlist

    s = _settings(args)
    n = export_trustlist(s.db_url, Path(args.out), at=datetime.now(UTC))
    _out(f"{n} document signer certificate(s) written to {args.out}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """VALID (exit 0) or INVALID with the reason (exit 1); unusable options (exit 2, from main)."""
    from cryptography import x509

    from vaxpass.errors import ConfigError
    from vaxpass.signing.trustlist import TrustList
    from vaxpass.signing.verify import load_revocations, trust_of_certificate, verify_input

    if bool(args.trustlist) == bool(args.trust_cert):
        raise ConfigError("give exactly one of --trustlist FILE and --trust-cert CERT")
    trust = TrustList.load(Path(args.trustlist)) if args.trustlist else trust_of_certificate(Path(args.trust_cert))
    at = datetime.fromisoformat(args.at.replace("Z", "+00:00")) if args.at else datetime.now(UTC)
    if at.tzinfo is None:
        raise ConfigError("--at needs a time zone, e.g. 2027-01-01T00:00:00Z")
    revoked = load_revocations(Path(args.revocations)) if args.revocations else set()
    roots = [x509.load_pem_x509_certificate(Path(args.root).read_bytes())] if args.root else []
    verdict = verify_input(args.input, trust, at=at, revoked=revoked, pdf_roots=roots)
    if verdict.payload is not None:
        _out(json.dumps(verdict.payload, ensure_ascii=False, indent=2))
    for note in verdict.notes:
        _out(note)
    if not verdict.valid:
        _out(f"INVALID: {verdict.reason}" + (f" ({verdict.detail})" if verdict.detail else ""))
        return 1
    decoded = verdict.decoded
    assert decoded is not None
    _out(f"VALID: {verdict.form}, kid {decoded.kid.hex()}, issued {decoded.issued_at:%Y-%m-%d}, "
         f"expires {decoded.expires_at:%Y-%m-%d}")
    return 0


def cmd_quality_release(args: argparse.Namespace) -> int:
    """Let a site's batch held by the quality threshold go on: its held records are matched next cycle."""
    from vaxpass.pipeline.validate import release_site_batch

    by = args.by or os.environ.get("USER") or "unknown"
    n = release_site_batch(_settings_or_url(args), cycle_id=args.cycle, site_code=args.site, released_by=by,
                           released_at=datetime.now(UTC))
    _out(f"site {args.site}, cycle {args.cycle}: {n} held record(s) released")
    return 0


def cmd_quality_holds(args: argparse.Namespace) -> int:
    from vaxpass.pipeline.validate import held_batches

    _out(json.dumps(held_batches(_settings_or_url(args)), indent=2))
    return 0


def cmd_lineage(args: argparse.Namespace) -> int:
    from vaxpass.lineage.chain import lineage_chain, render_tree

    chain = lineage_chain(_settings_or_url(args), args.ident)
    if chain is None:
        sys.stderr.write(f"vaxpass: no certificate {args.ident}\n")
        return 1
    _out(json.dumps(chain, ensure_ascii=False, indent=2) if args.json else render_tree(chain))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vaxpass", description=__doc__)
    parser.add_argument("--home", help="vaxpass home folder (default $VAXPASS_HOME or ./.vaxpass)")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("init", help="create secrets, ops store and PKI of the embedded mode").set_defaults(func=cmd_init)

    db = sub.add_parser("db", help="the ops store").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="migrate the ops store to the newest schema").set_defaults(func=cmd_db_upgrade)

    synth = sub.add_parser("synth", help="generate a synthetic Hanoi data set with ground truth")
    add_synth_arguments(synth)
    synth.set_defaults(func=cmd_synth)

    pki = sub.add_parser("pki", help="the project's own CA").add_subparsers(dest="pki_command", required=True)
    pki.add_parser("init", help="create the root CA, document and PDF signers, site heads' keys (idempotent)").set_defaults(
        func=cmd_pki_init)
    facility = pki.add_parser("issue-facility", help="issue (or renew) a site head's signing certificate")
    facility.add_argument("--site", required=True, help="site code from sites.json")
    facility.set_defaults(func=cmd_pki_issue_facility)
    plist = pki.add_parser("list", help="every signing certificate: role, kid, validity, status")
    plist.add_argument("--json", action="store_true")
    plist.set_defaults(func=cmd_pki_list)
    revoke = pki.add_parser("revoke", help="revoke a signing key by kid (hex)")
    revoke.add_argument("kid")
    revoke.set_defaults(func=cmd_pki_revoke)
    pki.add_parser("rotate", help="a new document signer; the old one is retired").set_defaults(func=cmd_pki_rotate)
    pki.add_parser("token-generate", help="a new DSC key generated on the PKCS#11 token (VAXPASS_PKCS11_*)"
                   ).set_defaults(func=cmd_pki_token_generate)
    pki.add_parser("token-put", help="import dsc.p12 into the PKCS#11 token (VAXPASS_PKCS11_*)").set_defaults(
        func=cmd_pki_token_put)
    export_root = pki.add_parser("export-root", help="write the root CA certificate (PEM)")
    export_root.add_argument("--out", required=True)
    export_root.set_defaults(func=cmd_pki_export_root)

    reviewer = sub.add_parser("reviewer", help="district reviewers").add_subparsers(dest="rv", required=True)
    add = reviewer.add_parser("add", help="assign an Airflow user to a district")
    add.add_argument("--user", required=True)
    add.add_argument("--district", required=True)
    add.add_argument("--name")
    add.set_defaults(func=cmd_reviewer_add)

    certs = sub.add_parser("certificates", help="issued certificates").add_subparsers(dest="cc", required=True)
    export = certs.add_parser("export", help="write every current certificate")
    export.add_argument("--format", choices=["hc1", "png", "pdf"], default="hc1",
                        help="HC1 text, QR image, or the signed bilingual PDF certificate")
    export.add_argument("--out", required=True)
    export.add_argument("--limit", type=int, default=None, help="only the first N certificates")
    export.set_defaults(func=cmd_certificates_export)

    trust = sub.add_parser("trustlist", help="document signer trust list").add_subparsers(dest="tc", required=True)
    texport = trust.add_parser("export", help="write the trust list JSON")
    texport.add_argument("--out", required=True)
    texport.set_defaults(func=cmd_trustlist_export)

    revocation = sub.add_parser("revocation", help="revoked certificates").add_subparsers(dest="rc", required=True)
    rexport = revocation.add_parser("export", help="write the SHA-256 hashes of revoked UVCIs as JSON")
    rexport.add_argument("--out", required=True)
    rexport.set_defaults(func=cmd_revocation_export)

    quality = sub.add_parser("quality", help="data quality: site batches held by the threshold").add_subparsers(
        dest="qc", required=True)
    release = quality.add_parser("release", help="release a site's held batch of a cycle (matched next cycle)")
    release.add_argument("--site", required=True)
    release.add_argument("--cycle", required=True, help="the cycle (DAG run id) that held the batch")
    release.add_argument("--by", help="who releases it (default $USER)")
    release.set_defaults(func=cmd_quality_release)
    quality.add_parser("holds", help="list held site batches as JSON").set_defaults(func=cmd_quality_holds)

    lineage = sub.add_parser("lineage", help="a certificate's chain, from source row to signature")
    lineage.add_argument("ident", help="a UVCI or a certificate id")
    lineage.add_argument("--json", action="store_true", help="machine-readable output")
    lineage.set_defaults(func=cmd_lineage)

    verify = sub.add_parser("verify", help="verify a certificate: HC1 text, a file holding it, a QR image or a PDF")
    verify.add_argument("input", help="HC1:… text, or a .txt, .png/.jpg (QR) or .pdf file")
    verify.add_argument("--trustlist", help="trust list JSON (`vaxpass trustlist export`)")
    verify.add_argument("--trust-cert", help="a single document signer certificate (DER or PEM) instead")
    verify.add_argument("--at", help="validation time, ISO 8601 with zone (default: now)")
    verify.add_argument("--revocations", help="revocation list JSON (`vaxpass revocation export`)")
    verify.add_argument("--root", help="root CA (PEM) a PDF's signature must chain to (`vaxpass pki export-root`)")
    verify.set_defaults(func=cmd_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except VaxpassError as exc:
        sys.stderr.write(f"vaxpass: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
