"""What `vaxpass pki …` and `vaxpass revocation …` do: the CA's operations on the embedded mode's key files and
the ops store's register of signing keys. The CLI is a thin layer over these.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from vaxpass.config import Settings, TokenConfig
from vaxpass.domain import SiteConfig, load_sites
from vaxpass.errors import ConfigError
from vaxpass.signing.keys import RETIRED, REVOKED, KeyInfo, list_keys, register_signer, set_status
from vaxpass.signing.keystore import load_signer
from vaxpass.signing.pki import (
    ensure_document_signer,
    ensure_facility_head,
    ensure_pdf_signer,
    ensure_root_ca,
    facility_key_path,
    rotate_document_signer,
)
from vaxpass.store import migrate, session_scope
from vaxpass.store.models import Certificate, SigningKey

PDF_SIGNER = "pdf-signer.p12"


def pdf_signer_path(s: Settings) -> Path:
    return s.pki_dir / PDF_SIGNER


def init_pki(s: Settings, *, now: datetime) -> list[str]:
    """Root CA, document signer, PDF signer and — when `sites.json` exists — a head-of-facility key per site
    (all idempotent); every certificate is registered in the ops store. Returns the site codes given keys."""
    ensure_root_ca(s.pki_dir, s.key_passphrase, now=now)
    ensure_document_signer(s.pki_dir, s.key_passphrase, s.dsc_path, now=now)
    ensure_pdf_signer(s.pki_dir, s.key_passphrase, pdf_signer_path(s), now=now)
    migrate(s.db_url)
    with session_scope(s.db_url) as session:
        register_signer(session, load_signer(s.dsc_path, s.key_passphrase), purpose="dsc",
                        store_ref=str(s.dsc_path))
        register_signer(session, load_signer(pdf_signer_path(s), s.key_passphrase), purpose="pdf",
                        store_ref=str(pdf_signer_path(s)))
    sites = load_sites(s.sites_file) if s.sites_file.exists() else []
    for site in sites:
        issue_facility(s, site, now=now)
    return [site.code for site in sites]


def find_site(s: Settings, code: str) -> SiteConfig:
    for site in load_sites(s.sites_file):
        if site.code == code:
            return site
    raise ConfigError(f"site {code} is not in {s.sites_file}")


def issue_facility(s: Settings, site: SiteConfig, *, now: datetime) -> tuple[Path, bool]:
    """The site head's key store (issued when missing, expired, or the head changed), registered."""
    path = facility_key_path(s.pki_dir, site.code)
    path, issued = ensure_facility_head(s.pki_dir, s.key_passphrase, path, now=now,
                                        person_name=site.head_of_facility, site_code=site.code,
                                        site_name=site.name, district_name=site.district_name)
    migrate(s.db_url)
    with session_scope(s.db_url) as session:
        register_signer(session, load_signer(path, s.key_passphrase), purpose="facility", store_ref=str(path))
    return path, issued


def rotate(s: Settings, *, now: datetime) -> tuple[str, str]:
    """A new DSC; the old one is retired (no longer signs, stays in the trust list). Returns (old, new) kids."""
    old, new = rotate_document_signer(s.pki_dir, s.key_passphrase, s.dsc_path, now=now)
    migrate(s.db_url)
    with session_scope(s.db_url) as session:
        register_signer(session, old, purpose="dsc", store_ref=str(s.dsc_path))
        set_status(session, old.kid.hex(), RETIRED, at=now)
        register_signer(session, new, purpose="dsc", store_ref=str(s.dsc_path))
        row = session.get(SigningKey, old.kid.hex())
        if row is not None:
            row.store_ref = str(s.dsc_path.with_name(f"{s.dsc_path.stem}.{old.kid.hex()}.retired.p12"))
    return old.kid.hex(), new.kid.hex()


def revoke_key(s: Settings, kid: str, *, now: datetime) -> str:
    """Revoke a signing key: it leaves the trust list (certificates it signed stop verifying) and nothing is
    signed with it again. Returns its purpose."""
    with session_scope(s.db_url) as session:
        row = set_status(session, kid, REVOKED, at=now)
        return row.purpose


def keys(s: Settings) -> list[KeyInfo]:
    migrate(s.db_url)
    with session_scope(s.db_url) as session:
        return list_keys(session)


def uvci_hash(uvci: str) -> str:
    """The revocation list's entry for a UVCI: SHA-256 of the UVCI text (as the EU DCC revocation lists hash the
    UCI), hex — so the list names no certificate in clear."""
    return hashlib.sha256(uvci.encode("ascii")).hexdigest()


def revocation_list(db_url: str) -> list[str]:
    """The hashes of every revoked certificate's UVCI, sorted."""
    with session_scope(db_url) as session:
        uvcis = session.scalars(select(Certificate.uvci).where(Certificate.status == "revoked")).all()
    return sorted(uvci_hash(u) for u in uvcis)



def _token(s: Settings) -> TokenConfig:
    if s.pkcs11 is None:
        raise ConfigError("no PKCS#11 token configured: set VAXPASS_PKCS11_LIB, VAXPASS_PKCS11_TOKEN, "
                          "VAXPASS_PKCS11_PIN (and VAXPASS_PKCS11_KEY, the key label)")
    return s.pkcs11


def token_generate(s: Settings, *, now: datetime) -> str:
    """A new DSC whose key is generated on the token (never leaves it), certified by the CA; the certificate
    is stored on the token and registered (store kind pkcs11). Returns its kid."""
    from vaxpass.signing.pkcs11 import generate_key, open_session, store_certificate, token_signer
    from vaxpass.signing.pki import document_signer_certificate

    token = _token(s)
    with open_session(token, rw=True) as session:
        public = generate_key(session, token.key_label)
        cert, _root = document_signer_certificate(s.pki_dir, s.key_passphrase, public, now=now)
        store_certificate(session, token.key_label, cert)
        signer = token_signer(session, token.key_label)
    migrate(s.db_url)
    with session_scope(s.db_url) as db:
        return register_signer(db, signer, purpose="dsc", store_ref=f"{token.token_label}/{token.key_label}",
                               store_kind="pkcs11")


def token_put(s: Settings) -> str:
    """Import the PKCS#12 DSC (`dsc.p12`) into the token under the configured key label. Returns its kid."""
    from vaxpass.signing.pkcs11 import open_session, put_signer

    token = _token(s)
    signer = load_signer(s.dsc_path, s.key_passphrase)
    with open_session(token, rw=True) as session:
        put_signer(session, token.key_label, signer)
    return signer.kid.hex()
