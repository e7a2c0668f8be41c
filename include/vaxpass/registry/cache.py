"""The prepared registry, cached: the whole registry in the linker's form, one columnar file per registry version.

Every match task of a large batch compares its records with the whole registry; reading and preparing it (name
keys, date parts, ID digits) costs about 12 µs per registry person: 100 CPU-s per task for Hanoi's 8.5 M people.
The first task of a registry version prepares it once and writes an Arrow IPC file; every later task (the other
buckets, the next cycles) maps that file and only slices it. The file is named after the registry's fingerprint
and the version of the code that prepares it, so a changed registry or a changed name folding is prepared again.

The file holds registry data (CCCD and CMND numbers, name keys, dates of birth): it lives in the data folder, in
a folder only the owner may enter (0700), written to a private temporary file (0600) and renamed into place, so
a concurrent task never sees half a file; cold tasks wait on a lock while the first one prepares it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vaxpass import text
from vaxpass.registry import compare, prepare
from vaxpass.registry.prepare import ID_CCCD, NAME_KEYS, Side, Vocab, prepare_registry

if TYPE_CHECKING:
    from vaxpass.registry.adapter import RegistryRows

FORMAT = 1
# The registry's name keys the linker compares; its `given_alt` never is (only a record's, with `given`).
NAME_COLUMNS = ("exact", "folded", "canon", "tokens", "family_given", "given")
_ENCODED_AS = {"given_alt": "given"}
_NUMBER_COLUMNS = {"registry_id": pa.int64(), "id_int": pa.int64(), "cmnd_int": pa.int64(),
                   "dob_key": pa.int32(), "sex": pa.int8(), "words": pa.int16()}
_DIGIT_COLUMNS = {"cccd_digits": 12, "cmnd_digits": 9}  # ASCII digits, zero bytes when none


def code_version() -> str:
    """A digest of the code that decides the prepared form: a new name folding must not read an old file."""
    digest = hashlib.sha256(str(FORMAT).encode())
    for module in (text, compare, prepare):
        digest.update(Path(str(module.__file__)).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


class _KeyedVocab(Vocab):
    """One vocabulary per name key, so each key's dictionary holds only its own strings."""

    def __init__(self) -> None:
        super().__init__()
        self.by_key = {k: Vocab() for k in NAME_KEYS}

    def encode(self, values: Sequence[str], key: str = "") -> np.ndarray:
        return self.by_key[key].encode(values)


class RegistryVocab(Vocab):
    """Codes for records' name keys in the registry's code space: a string the registry holds gets the registry's
    code, any other a fresh code above them ("" stays 0)."""

    def __init__(self, dictionaries: dict[str, pa.Array]) -> None:
        super().__init__()
        self._dictionaries = dictionaries
        self._fresh: dict[str, dict[str, int]] = {k: {} for k in dictionaries}

    def encode(self, values: Sequence[str], key: str = "") -> np.ndarray:
        group = _ENCODED_AS.get(key, key)
        dictionary = self._dictionaries[group]
        found = pc.index_in(pa.array(values, pa.string()), value_set=dictionary)
        codes = found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64) + 1
        fresh, base = self._fresh[group], len(dictionary) + 1
        for pos in np.flatnonzero(codes == 0).tolist():
            if values[pos]:
                codes[pos] = fresh.setdefault(values[pos], base + len(fresh))
        return codes


def _digit_column(digits: np.ndarray) -> pa.Array:
    """(n, width) uint8 digits as one fixed-size binary column."""
    n, width = digits.shape
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(digits.tobytes())])


def _digit_view(column: pa.ChunkedArray, width: int) -> np.ndarray:
    """The (n, width) uint8 digits of a fixed-size binary column, without copying."""
    arr = column.combine_chunks()
    raw = np.frombuffer(arr.buffers()[1], dtype=np.uint8)
    return raw[arr.offset * width:(arr.offset + len(arr)) * width].reshape(len(arr), width)


class PreparedRegistry:
    """The prepared registry of one version, read from its file (memory-mapped: tasks share the pages)."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table
        self.size = table.num_rows
        columns = {k: table.column(k).combine_chunks() for k in NAME_COLUMNS}
        self._dictionaries: dict[str, pa.Array] = {k: col.dictionary for k, col in columns.items()}
        self._canon = np.array(["", *self._dictionaries["canon"].to_pylist()], dtype=object)

    @classmethod
    def read(cls, path: Path) -> PreparedRegistry:
        return cls(pa.ipc.open_file(pa.memory_map(str(path))).read_all())  # the table keeps the mapping open

    def vocab(self) -> RegistryVocab:
        """The vocabulary records must be encoded with to be compared with this registry."""
        return RegistryVocab(self._dictionaries)

    def sides(self, chunk_size: int) -> Iterator[tuple[np.ndarray, Side]]:
        """(registry ids, prepared side) per chunk, in registry id order."""
        for lo in range(0, self.size, chunk_size):
            part = self._table.slice(lo, chunk_size)
            number = {k: part.column(k).to_numpy().astype(np.int64) for k in _NUMBER_COLUMNS}
            names = {k: part.column(k).combine_chunks().indices.fill_null(-1).to_numpy().astype(np.int64) + 1
                     for k in NAME_COLUMNS}
            n = len(number["registry_id"])
            names["given_alt"] = np.zeros(n, np.int64)
            id_int, cmnd_int, dob_key = number["id_int"], number["cmnd_int"], number["dob_key"]
            known = dob_key >= 0
            yield number["registry_id"], Side(
                n=n, digits=_digit_view(part.column("cccd_digits"), 12), id_int=id_int, cmnd_int=cmnd_int,
                id_kind=np.full(n, ID_CCCD, dtype=np.int8), cmnd=_digit_view(part.column("cmnd_digits"), 9),
                has_cmnd=cmnd_int >= 0,
                y=np.where(known, dob_key // 10000, 0), m=np.where(known, dob_key // 100 % 100, 0),
                d=np.where(known, dob_key % 100, 0), dob_key=dob_key,
                prefix=np.where(id_int >= 0, id_int // 1_000_000, -1), sex=number["sex"].astype(np.int8),
                names=names, words=number["words"], canon=self._canon[names["canon"]])


def build(chunks: Iterable[RegistryRows]) -> pa.Table:
    """Prepare every registry chunk (the same `prepare_registry` as the uncached path) into one table."""
    vocab = _KeyedVocab()
    parts: dict[str, list[np.ndarray]] = {k: [] for k in (*_NUMBER_COLUMNS, *NAME_COLUMNS, *_DIGIT_COLUMNS)}
    for rows in chunks:
        if not rows.registry_id:
            continue
        side = prepare_registry(vocab, cccd=rows.cccd, cmnd=rows.cmnd, full_name=rows.full_name, dob=rows.dob,
                                sex=rows.sex)
        values = {"registry_id": np.asarray(rows.registry_id, dtype=np.int64), "id_int": side.id_int,
                  "cmnd_int": side.cmnd_int, "dob_key": side.dob_key, "sex": side.sex, "words": side.words,
                  "cccd_digits": side.digits, "cmnd_digits": side.cmnd,
                  **{k: side.names[k] for k in NAME_COLUMNS}}
        for k, v in values.items():
            parts[k].append(v)
    columns: dict[str, pa.Array] = {}
    for k, kind in _NUMBER_COLUMNS.items():
        columns[k] = pa.array(np.concatenate(parts[k]) if parts[k] else np.zeros(0, np.int64)).cast(kind)
    for k, width in _DIGIT_COLUMNS.items():
        columns[k] = _digit_column(np.concatenate(parts[k]) if parts[k] else np.zeros((0, width), np.uint8))
    for k in NAME_COLUMNS:
        codes = np.concatenate(parts[k]) if parts[k] else np.zeros(0, np.int64)
        indices = pa.array((codes - 1).astype(np.int32), mask=codes == 0)
        columns[k] = pa.DictionaryArray.from_arrays(indices, pa.array(vocab.by_key[k].strings()[1:], pa.string()))
    return pa.table(columns)


def _write(table: pa.Table, path: Path) -> None:
    """Write to a private temporary file in the same folder, then rename it into place (atomic)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".registry-", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh, pa.ipc.new_file(fh, table.schema) as writer:
            writer.write_table(table)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached(cache_dir: Path, fingerprint: str, chunks: Iterable[RegistryRows]) -> PreparedRegistry:
    """The prepared registry of this fingerprint: read from the cache, or prepared from `chunks` and written
    there (older versions' files are then removed)."""
    cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(cache_dir, 0o700)
    name = f"registry-{hashlib.sha256(f'{fingerprint}:{code_version()}'.encode()).hexdigest()[:32]}.arrow"
    path = cache_dir / name
    try:
        return PreparedRegistry.read(path)
    except (FileNotFoundError, pa.ArrowInvalid):  # not prepared yet (or unreadable): prepare it again
        pass
    with _exclusive(path.with_suffix(".lock")):  # the buckets of a cycle start together: one prepares
        try:
            return PreparedRegistry.read(path)  # prepared by the task that held the lock before us
        except (FileNotFoundError, pa.ArrowInvalid):
            pass
        table = build(chunks)
        _write(table, path)
    for old in cache_dir.glob("registry-*"):
        if old.stem != path.stem:
            old.unlink(missing_ok=True)  # a task still reading an old file keeps its open mapping
    return PreparedRegistry(table)


@contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock` (flock: released when the holder exits, even if it crashes)."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
