"""The prepared-registry cache: the same decisions as preparing the registry per task, prepared once per registry
version, private files, and a changed registry prepared again."""

from __future__ import annotations

import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import pytest
from bench.matching import _OneCsv, load_records

from tests.factories import make_registry
from tests.registry.test_robustness import MATCHED_CASES, PEOPLE, REVIEW_CASES
from vaxpass.registry import MatchConfig, RecordIdentity, SqlRegistry, match_identities
from vaxpass.registry import cache as cache_module
from vaxpass.registry.adapter import RegistryRows
from vaxpass.registry.decide import Decision
from vaxpass.synth import dataset

RECORDS = [RecordIdentity(*case[:4]) for cases in (MATCHED_CASES, REVIEW_CASES) for case in cases.values()] + [
    RecordIdentity("Lê Văn Tám", *MATCHED_CASES["exact"][1:3], None),  # a name the registry does not hold
    RecordIdentity(None, None, None, None),
]


def _scanning(registry: SqlRegistry) -> SqlRegistry:
    registry.SCAN_ABOVE = 0  # every batch scans the whole registry (the cache is only for those)
    return registry


def _decided(decisions: list[Decision]) -> list[dict[str, object]]:
    return [asdict(d) for d in decisions]


def _files(cache: Path) -> list[Path]:
    return sorted(cache.glob("registry-*.arrow"))


def test_cached_registry_decides_exactly_like_the_uncached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = make_registry(tmp_path / "registry.sqlite", PEOPLE)
    cache = tmp_path / "data" / "cache"
    config = MatchConfig(scan_chunk=1000)
    plain = _decided(match_identities(RECORDS, _scanning(SqlRegistry(url)), config))
    cold = _decided(match_identities(RECORDS, _scanning(SqlRegistry(url, cache_dir=cache)), config))
    assert cold == plain
    assert len(_files(cache)) == 1

    def no_read(*_: object) -> Iterator[RegistryRows]:
        raise AssertionError("a warm cache must not read the registry")
        yield  # a generator, like the real scan

    monkeypatch.setattr(SqlRegistry, "_scan", no_read)
    warm = _decided(match_identities(RECORDS, _scanning(SqlRegistry(url, cache_dir=cache)), config))
    assert warm == plain


def test_cache_files_are_private(tmp_path: Path) -> None:
    url = make_registry(tmp_path / "registry.sqlite", PEOPLE)
    cache = tmp_path / "data" / "cache"
    match_identities(RECORDS, _scanning(SqlRegistry(url, cache_dir=cache)))
    [path] = _files(cache)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.with_suffix(".lock").stat().st_mode) == 0o600
    assert not list(cache.glob(".registry-*"))  # no temporary file left behind


def test_concurrent_cold_tasks_prepare_the_registry_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = make_registry(tmp_path / "registry.sqlite", PEOPLE)
    cache = tmp_path / "cache"
    builds = []
    real_build = cache_module.build

    def counting_build(chunks: Iterator[RegistryRows]) -> object:
        builds.append(1)
        time.sleep(0.3)  # the other tasks arrive while this one prepares
        return real_build(chunks)

    monkeypatch.setattr(cache_module, "build", counting_build)
    plain = _decided(match_identities(RECORDS, _scanning(SqlRegistry(url))))
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda _: _decided(match_identities(RECORDS, _scanning(SqlRegistry(
            url, cache_dir=cache)))), range(4)))
    assert runs == [plain] * 4
    assert len(builds) == 1


def test_small_batches_and_no_cache_read_the_registry_directly(tmp_path: Path) -> None:
    url = make_registry(tmp_path / "registry.sqlite", PEOPLE)
    cache = tmp_path / "cache"
    match_identities(RECORDS[:1], SqlRegistry(url, cache_dir=cache))  # a filtered query, not a scan
    assert not cache.exists()


def test_a_changed_registry_is_prepared_again(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    url = make_registry(path, PEOPLE)
    cache = tmp_path / "cache"
    hoa = RecordIdentity("Nguyễn Văn Hòa", *MATCHED_CASES["exact"][1:4])
    before = match_identities([hoa], _scanning(SqlRegistry(url, cache_dir=cache)))[0]
    assert before.outcome == "MATCHED" and before.candidate_registry_ids[0] == 1
    [old] = _files(cache)
    con = sqlite3.connect(path)
    con.execute("UPDATE persons SET full_name = 'Phạm Thị Mai', sex = 'F' WHERE registry_id = 1")
    con.commit()
    con.close()
    after = match_identities([hoa], _scanning(SqlRegistry(url, cache_dir=cache)))[0]
    assert after == match_identities([hoa], _scanning(SqlRegistry(url)))[0]
    assert after.outcome != "MATCHED"
    [new] = _files(cache)
    assert new != old  # the old version's file is gone


def test_a_postgresql_registry_is_fingerprinted_by_a_checksum_in_the_database(
        tmp_path: Path, pg_databases: Callable[[], str]) -> None:
    from sqlalchemy import create_engine, text

    url = pg_databases()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE persons (registry_id INTEGER PRIMARY KEY, cccd VARCHAR(12) NOT NULL, "
                          "cmnd VARCHAR(9), full_name VARCHAR(100) NOT NULL, dob DATE NOT NULL, sex VARCHAR(1) "
                          "NOT NULL, district_code VARCHAR(3) NOT NULL)"))
        conn.execute(text("INSERT INTO persons VALUES (:i, :c, :m, :n, :d, :s, '001')"),
                     [{"i": p.registry_id, "c": p.cccd, "m": p.cmnd, "n": p.full_name, "d": p.dob, "s": p.sex}
                      for p in PEOPLE])
    registry = _scanning(SqlRegistry(url, cache_dir=tmp_path / "cache"))
    first = registry.fingerprint()
    assert first is not None and first == registry.fingerprint()
    plain = _decided(match_identities(RECORDS, _scanning(SqlRegistry(url))))
    assert _decided(match_identities(RECORDS, registry)) == plain
    with engine.begin() as conn:
        conn.execute(text("UPDATE persons SET full_name = 'Phạm Thị Mai' WHERE registry_id = 1"))
    engine.dispose()
    assert registry.fingerprint() != first
    assert _decided(match_identities(RECORDS, registry)) == _decided(
        match_identities(RECORDS, _scanning(SqlRegistry(url))))


def test_synthetic_set_decides_the_same_with_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dataset, "SiteFiles", _OneCsv)
    dataset.generate(tmp_path, persons=3000, seed=29, progress=False)
    cols = load_records(tmp_path)
    recs = [RecordIdentity(cols["full_name"][i], cols["dob"][i], cols["sex"][i], cols["national_id"][i])
            for i, nat in enumerate(cols["nationality"]) if nat == "VN"]
    url = f"sqlite:///{tmp_path / 'registry.sqlite'}"
    config = MatchConfig(scan_chunk=1000)  # several chunks
    plain = _decided(match_identities(recs, _scanning(SqlRegistry(url)), config))
    registry = _scanning(SqlRegistry(url, cache_dir=tmp_path / "cache"))
    assert _decided(match_identities(recs, registry, config)) == plain
    assert _decided(match_identities(recs, registry, config)) == plain


def test_empty_registry_chunks_are_skipped() -> None:
    from vaxpass.registry.cache import build

    empty = RegistryRows([], [], [], [], [], [])
    assert build([empty]).num_rows == 0
