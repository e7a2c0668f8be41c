"""The landing zone: an immutable, content-addressed copy of every file a site delivered."""

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


def land_file(source: Path, landing_dir: Path, site_code: str, sha256: str) -> Path:
    """Copy `source` to `<landing>/<site>/<sha256><suffix>`, read-only; an existing copy is kept as it is."""
    target = landing_dir / site_code / f"{sha256}{source.suffix.lower()}"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    shutil.copyfile(source, tmp)
    os.chmod(tmp, 0o444)
    os.replace(tmp, target)
    return target
