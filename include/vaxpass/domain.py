"""Shared vocabulary of the flow: site configuration and the canonical fields of a dose record.

Sites deliver files with Vietnamese headers; `SOURCE_HEADERS` maps the canonical field names used inside
vaxpass to the headers the synthetic sites (and the default column mapping of file sources) use. A site's
`column_map` overrides any of them (canonical field → its own column, SQL column or FHIR path).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaxpass.errors import ConfigError

# canonical field -> the default Vietnamese column header of a site export (tiêu đề cột)
SOURCE_HEADERS: dict[str, str] = {
    "source_key": "Mã mũi tiêm",  # the site's own id of the dose row
    "full_name": "Họ và tên",
    "dob": "Ngày sinh",
    "sex": "Giới tính",
    "national_id": "Số CCCD/CMND",
    "phone": "Số điện thoại",
    "vaccine": "Tên vắc xin",
    "dose_number": "Mũi tiêm",
    "vaccination_date": "Ngày tiêm",
    "lot": "Số lô",
    "nationality": "Quốc tịch",
    "passport_no": "Số hộ chiếu",
}
# Fields every source must map; the rest may be absent (their values are then empty).
REQUIRED_FIELDS = ("source_key", "full_name", "dob", "vaccine", "dose_number", "vaccination_date")

# Values of "Giới tính" and their canonical form.
SEX_VALUES: dict[str, str] = {"nam": "M", "nữ": "F", "nu": "F", "m": "M", "f": "F", "male": "M", "female": "F"}

# csv, xlsx and inbox all read a per-site inbox folder of .csv/.txt/.tsv/.xlsx files; `sql` reads a site
# database by query with a watermark; `fhir` reads FHIR R4 Immunization bundles (HTTP or a folder of pages).
SOURCE_KINDS = ("csv", "xlsx", "inbox", "sql", "fhir")
_SOURCE_KEYS = {"kind", "path", "conn_id", "column_map", "options"}
_SITE_KEYS = {"code", "name", "district_code", "district_name", "head_of_facility", "source"}


@dataclass(frozen=True)
class SourceConfig:
    """Where a site's data comes from.

    `path` is relative to the data root: an inbox folder, a SQLite file (`sql`) or a folder of Bundle pages
    (`fhir`). `conn_id` names a connection (an Airflow Connection in the DAG) resolved by the caller to a URL:
    a database URL for `sql`, the FHIR base URL for `fhir`; secrets never sit in this configuration.
    """

    kind: str
    path: str = ""
    conn_id: str | None = None
    column_map: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def problems(self) -> list[str]:
        out = []
        if self.kind not in SOURCE_KINDS:
            out.append(f"unknown source kind {self.kind!r} (one of {', '.join(SOURCE_KINDS)})")
        if unknown := set(self.column_map) - set(SOURCE_HEADERS):
            out.append(f"column_map has unknown fields {sorted(unknown)}")
        if not all(isinstance(v, str) and v for v in self.column_map.values()):
            out.append("column_map values must be non-empty strings")
        if self.kind in ("sql", "fhir") and not (self.path or self.conn_id):
            out.append(f"a {self.kind} source needs a path or a conn_id")
        if self.kind in ("csv", "xlsx", "inbox") and not self.path:
            out.append("an inbox source needs a path")
        if self.kind == "sql" and not (self.options.get("table") or self.options.get("query")):
            out.append("a sql source needs options.table or options.query")
        return out


@dataclass(frozen=True)
class SiteConfig:
    """A vaccination site (điểm tiêm): its code, district and head of facility (thủ trưởng cơ sở)."""

    code: str
    name: str
    district_code: str
    district_name: str
    head_of_facility: str
    source: SourceConfig

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SiteConfig:
        unknown = set(raw) - _SITE_KEYS
        missing = _SITE_KEYS - set(raw)
        if unknown or missing:
            raise ConfigError(f"site config {raw.get('code', '?')}: unknown keys {sorted(unknown)}, "
                              f"missing keys {sorted(missing)}")
        src = raw["source"]
        if not isinstance(src, dict) or set(src) - _SOURCE_KEYS or "kind" not in src:
            keys = sorted(set(src) - _SOURCE_KEYS) if isinstance(src, dict) else src
            raise ConfigError(f"site {raw['code']}: source needs a kind; unknown source keys {keys}")
        source = SourceConfig(kind=src["kind"], path=src.get("path", ""), conn_id=src.get("conn_id"),
                              column_map=dict(src.get("column_map", {})), options=dict(src.get("options", {})))
        if problems := source.problems():
            raise ConfigError(f"site {raw['code']}: " + "; ".join(problems))
        return cls(code=raw["code"], name=raw["name"], district_code=raw["district_code"],
                   district_name=raw["district_name"], head_of_facility=raw["head_of_facility"], source=source)

    def to_dict(self) -> dict[str, Any]:
        src: dict[str, Any] = {"kind": self.source.kind, "path": self.source.path, "options": self.source.options}
        if self.source.conn_id:
            src["conn_id"] = self.source.conn_id
        if self.source.column_map:
            src["column_map"] = self.source.column_map
        return {
            "code": self.code, "name": self.name, "district_code": self.district_code,
            "district_name": self.district_name, "head_of_facility": self.head_of_facility, "source": src,
        }

    @property
    def config_hash(self) -> str:
        """The version of this site's configuration (no secrets in it: connections are referenced by id)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def load_sites(path: Path) -> list[SiteConfig]:
    """Read `sites.json` (a JSON list of site objects)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read site registry {path}: {exc}") from exc
    if not isinstance(raw, list):
        raise ConfigError(f"site registry {path} must be a JSON list")
    sites = [SiteConfig.from_dict(s) for s in raw]
    codes = [s.code for s in sites]
    if len(codes) != len(set(codes)):
        raise ConfigError(f"site registry {path} has duplicate site codes")
    return sites


def save_sites(path: Path, sites: list[SiteConfig]) -> None:
    path.write_text(json.dumps([s.to_dict() for s in sites], ensure_ascii=False, indent=2), encoding="utf-8")
