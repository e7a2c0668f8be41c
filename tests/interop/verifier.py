"""Running the independent JavaScript EU-DCC verifier (verify_hc1.mjs) from Python tests."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IN_CI

HERE = Path(__file__).parent


def verify_independently(trust_list: Path, files: list[Path]) -> list[dict]:
    """One result per file: valid, reason, kid, iss, exp and the decoded payload."""
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules" / "cborg").is_dir():
        if IN_CI:
            pytest.fail("node and tests/interop/node_modules are required in CI (make venv installs them)")
        pytest.skip("node or the interop verifier's packages are missing")
    results = []
    for i in range(0, len(files), 200):
        proc = subprocess.run([node, str(HERE / "verify_hc1.mjs"), str(trust_list), *map(str, files[i:i + 200])],
                              capture_output=True, text=True, timeout=120, check=True)
        results.extend(json.loads(line) for line in proc.stdout.splitlines() if line.strip())
    return results
