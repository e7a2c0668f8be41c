"""The landing zone: an immutable, content-addressed copy of everything a site delivered — files as they are,
query chunks and FHIR pages as the documents received — named `<landing>/<site>/<sha256><suffix>`, read-only."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _target(landing_dir: Path, site_code: str, sha256: str, suffix: str) -> Path:
    return landing_dir / site_code / f"{sha256}{suffix.lower()}"


def _seal(tmp: Path, target: Path) -> Path:
    os.chmod(tmp, 0o444)
    os.replace(tmp, target)
    return target


def land_file(source: Path, landing_dir: Path, site_code: str, sha256: str) -> Path:
    """Copy `source` into the landing zone; an existing copy is kept as it is."""
    target = _target(landing_dir, site_code, sha256, source.suffix)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    shutil.copyfile(source, tmp)
    return _seal(tmp, target)


def land_bytes(data: bytes, suffix: str, landing_dir: Path, site_code: str, sha256: str) -> Path:
    """Write a received document into the landing zone; an existing copy is kept as it is."""
    target = _target(landing_dir, site_code, sha256, suffix)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    tmp.write_bytes(data)
    return _seal(tmp, target)
