"""A 100 MB CSV export end to end through extraction, in bounded memory.

The extraction runs in a fresh interpreter so its peak resident set size (`ru_maxrss`) is its own: measured
after a warm-up extraction (every module loaded, the store migrated), the peak may grow by far less than the
file's size (a third of its bytes, a sixth of its decoded text) — the file is streamed and written a chunk
(at most 5,000 rows or a million characters) at a time, never held whole.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SIZE = 100 * 1024 * 1024
SCRIPT = r"""
import csv, json, resource, sys, time
from pathlib import Path
from tests.factories import HEADERS, dose_row, make_store, site
from tests.extract.conftest import with_source
from vaxpass.extract import extract_site

tmp, size = Path(sys.argv[1]), int(sys.argv[2])
big = with_source(site("HN-001-01"), kind="csv", path="inbox/big", options={"max_file_mb": 200})
warm = with_source(site("HN-001-02"), kind="csv", path="inbox/warm")
url = make_store(tmp, [big, warm])
note = "Ghi chú: tiêm tại điểm lưu động, theo dõi 30 phút sau tiêm, không phản ứng. " * 12
rows = 0
for folder, limit in (("warm", 1), ("big", size)):
    path = tmp / "data/inbox" / folder / "doses.csv"
    path.parent.mkdir(parents=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow([*HEADERS, "Ghi chú"])
        i = 0
        while i % 500 or fh.tell() < limit:
            i += 1
            row = dose_row(f"K{i}", "Nguyễn Thị Ánh Tuyết", f"{1 + i % 28:02d}/{1 + i % 12:02d}/19{50 + i % 50}",
                           "Nữ", f"0011{50 + i % 50:02d}{i:06d}")
            w.writerow([*row.values(), note])
    rows = i
    summary = extract_site(url, cycle_id="cycle-1", site=warm if folder == "warm" else big, data_dir=tmp / "data",
                           landing_dir=tmp / "landing")
    if folder == "warm":
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        start = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"rows": rows, "rows_new": summary.rows_new, "status": summary.status,
                  "quarantined": summary.rows_quarantined, "seconds": time.perf_counter() - start,
                  "bytes": path.stat().st_size, "growth": peak - base, "store": url,
                  "decoded": sys.getsizeof(path.read_text(encoding="utf-8"))}))
"""


@pytest.mark.slow
def test_a_100_mb_csv_is_extracted_in_bounded_memory(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "include"), str(root),
                                                        os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), str(SIZE)], capture_output=True, text=True,
                          env=env, cwd=root, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["bytes"] >= SIZE and result["decoded"] > 1.5 * SIZE
    assert (result["status"], result["rows_new"], result["quarantined"]) == ("ok", result["rows"], 0)
    # the file decoded is ~2x its bytes (Vietnamese text is stored 2 bytes a character); the peak grew by far less
    assert result["growth"] < SIZE // 3, f"peak RSS grew {result['growth'] / 2**20:.0f} MB for a 100 MB file: {result}"
    from sqlalchemy import func, select

    from vaxpass.store import session_scope
    from vaxpass.store.models import LandedFile, RawRecord

    with session_scope(result["store"]) as session:
        landed = session.scalars(select(LandedFile).filter_by(site_code="HN-001-01")).one()
        raws = session.scalar(select(func.count()).select_from(RawRecord).filter_by(landed_file_id=landed.id))
        last = session.scalars(select(RawRecord).filter_by(landed_file_id=landed.id)
                               .order_by(RawRecord.source_row.desc()).limit(1)).one()
    assert (landed.status, landed.rows, landed.size, raws) == ("landed", result["rows"], result["bytes"],
                                                               result["rows"])
    assert Path(landed.landed_path).stat().st_size == result["bytes"]
    assert last.source_row == result["rows"] + 1 and last.raw["Ghi chú"].startswith("Ghi chú: tiêm")
