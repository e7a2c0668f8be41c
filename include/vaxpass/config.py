"""Runtime settings of vaxpass, built by the caller (a DAG file, the CLI, a test) and passed down explicitly.

vaxpass itself never reads the environment: whoever builds `Settings` decides where values come from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from vaxpass.errors import ConfigError


@dataclass(frozen=True)
class TokenConfig:
    """A PKCS#11 token holding the document signer key (production mode): module, token label, key label, and
    the user PIN (a secret, never defaulted)."""

    library: Path
    token_label: str
    pin: str = field(repr=False)
    key_label: str = "vaxpass-dsc"

    def __post_init__(self) -> None:
        if not self.pin:
            raise ConfigError("a PKCS#11 user PIN is required")
        if not self.token_label:
            raise ConfigError("a PKCS#11 token label is required")


@dataclass(frozen=True)
class Settings:
    """Where the ops store, data, landing zone and keys are, and the two secrets of the embedded mode."""

    db_url: str
    data_dir: Path
    landing_dir: Path
    pki_dir: Path
    key_passphrase: bytes = field(repr=False)
    pseudonym_key: bytes = field(repr=False)
    registry_url: str = ""
    suite_dir: Path | None = None
    pkcs11: TokenConfig | None = None  # sign passports with a token's key instead of `dsc.p12`

    def __post_init__(self) -> None:
        if not self.key_passphrase:
            raise ConfigError("the signing-key passphrase is empty")
        if len(self.pseudonym_key) < 16:
            raise ConfigError("the pseudonym key must be at least 16 bytes")
        if not self.registry_url:
            object.__setattr__(self, "registry_url", f"sqlite:///{self.data_dir / 'registry.sqlite'}")

    @property
    def sites_file(self) -> Path:
        return self.data_dir / "sites.json"

    @property
    def dsc_path(self) -> Path:
        return self.pki_dir / "dsc.p12"


def _secrets_file(home: Path) -> dict[str, str]:
    path = home / "secrets.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {str(k): str(v) for k, v in data.items()}


def settings_from_mapping(values: dict[str, str]) -> Settings:
    """Settings from a mapping of `VAXPASS_*` names (the caller passes its environment or Airflow Variables).

    Secrets come from `VAXPASS_KEY_PASSPHRASE` and `VAXPASS_PSEUDONYM_KEY`, or — in the embedded mode — from
    `$VAXPASS_HOME/secrets.json` that `vaxpass init` writes; a missing secret is an error, never "".
    """
    if not values.get("VAXPASS_HOME"):
        raise ConfigError("VAXPASS_HOME is not set")
    home = Path(values["VAXPASS_HOME"]).resolve()
    secrets = _secrets_file(home)
    passphrase = values.get("VAXPASS_KEY_PASSPHRASE") or secrets.get("VAXPASS_KEY_PASSPHRASE")
    pseudonym_key = values.get("VAXPASS_PSEUDONYM_KEY") or secrets.get("VAXPASS_PSEUDONYM_KEY")
    if not passphrase or not pseudonym_key:
        raise ConfigError("VAXPASS_KEY_PASSPHRASE and VAXPASS_PSEUDONYM_KEY must be set "
                          "(or run `vaxpass init` to create the embedded mode's secrets file)")
    token = None
    if values.get("VAXPASS_PKCS11_LIB"):
        if not values.get("VAXPASS_PKCS11_TOKEN") or not values.get("VAXPASS_PKCS11_PIN"):
            raise ConfigError("VAXPASS_PKCS11_LIB is set: VAXPASS_PKCS11_TOKEN and VAXPASS_PKCS11_PIN must be too")
        token = TokenConfig(library=Path(values["VAXPASS_PKCS11_LIB"]), token_label=values["VAXPASS_PKCS11_TOKEN"],
                            pin=values["VAXPASS_PKCS11_PIN"],
                            key_label=values.get("VAXPASS_PKCS11_KEY") or "vaxpass-dsc")
    data_dir = Path(values.get("VAXPASS_DATA_DIR") or home / "data")
    suite = values.get("VAXPASS_SUITE_DIR")
    return Settings(
        db_url=values.get("VAXPASS_DB_URL") or f"sqlite:///{home / 'ops.sqlite'}",
        data_dir=data_dir,
        landing_dir=Path(values.get("VAXPASS_LANDING_DIR") or home / "landing"),
        pki_dir=Path(values.get("VAXPASS_PKI_DIR") or home / "pki"),
        key_passphrase=passphrase.encode(),
        pseudonym_key=pseudonym_key.encode(),
        registry_url=values.get("VAXPASS_REGISTRY_URL") or "",
        suite_dir=Path(suite) if suite else None,
        pkcs11=token,
    )
