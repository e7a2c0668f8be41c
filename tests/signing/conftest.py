"""A generated test PKI at a frozen clock: one root and one document signer, shared by the signing tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from vaxpass.signing.keystore import Signer, load_signer
from vaxpass.signing.pki import create_root_ca, issue_document_signer
from vaxpass.signing.trustlist import TrustList

NOW = datetime(2022, 5, 10, 9, 30, tzinfo=UTC)
PASSPHRASE = b"test-passphrase-not-secret"


@pytest.fixture(scope="session")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("ca")
    create_root_ca(directory, PASSPHRASE, now=NOW)
    return directory


@pytest.fixture(scope="session")
def dsc_path(ca_dir: Path) -> Path:
    return issue_document_signer(ca_dir, PASSPHRASE, ca_dir / "dsc.p12", now=NOW, days=730)


@pytest.fixture(scope="session")
def signer(dsc_path: Path) -> Signer:
    return load_signer(dsc_path, PASSPHRASE)


@pytest.fixture()
def trust_list(signer: Signer) -> TrustList:
    return TrustList.from_certificates([signer.certificate], country="VN")


@pytest.fixture()
def now() -> datetime:
    """The frozen clock every signing test runs at."""
    return NOW


@pytest.fixture()
def passphrase() -> bytes:
    return PASSPHRASE
