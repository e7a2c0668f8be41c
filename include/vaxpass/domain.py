"""Shared vocabulary of the flow: site configuration and the canonical fields of a dose record.

Sites deliver files with Vietnamese headers; `SOURCE_HEADERS` maps the canonical field names used inside
vaxpass to the headers the synthetic sites (and the default column mapping) use.
"""

from __future__ import annotations

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

# Values of "Giới tính" and their canonical form.
SEX_VALUES: dict[str, str] = {"nam": "M", "nữ": "F", "nu": "F", "m": "M", "f": "F", "male": "M", "female": "F"}


@dataclass(frozen=True)
class SourceConfig:
    """Where a site's data comes from. `kind` is `csv` for now; `path` is relative to the data root."""

    kind: str
    path: str
    options: dict[str, Any] = field(default_factory=dict)


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
        known = {"code", "name", "district_code", "district_name", "head_of_facility", "source"}
        unknown = set(raw) - known
        missing = known - set(raw)
        if unknown or missing:
            raise ConfigError(f"site config {raw.get('code', '?')}: unknown keys {sorted(unknown)}, "
                              f"missing keys {sorted(missing)}")
        src = raw["source"]
        if set(src) - {"kind", "path", "options"}:
            raise ConfigError(f"site {raw['code']}: unknown source keys {sorted(set(src) - {'kind', 'path', 'options'})}")
        return cls(
            code=raw["code"], name=raw["name"], district_code=raw["district_code"],
            district_name=raw["district_name"], head_of_facility=raw["head_of_facility"],
            source=SourceConfig(kind=src["kind"], path=src["path"], options=dict(src.get("options", {}))),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code, "name": self.name, "district_code": self.district_code,
            "district_name": self.district_name, "head_of_facility": self.head_of_facility,
            "source": {"kind": self.source.kind, "path": self.source.path, "options": self.source.options},
        }


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
