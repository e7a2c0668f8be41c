"""The linker: candidate pairs by blocking, field comparison levels, Fellegi–Sunter weights, top candidates.

Blocking (a pair is compared when any rule holds). Never on the family name alone (Nguyễn is 38 % of people), nor
on the date of birth alone (about 250 of Hanoi's 8.5 M persons share each one) or the CCCD prefix and given name
(tens of thousands share a prefix): those made the pairs per record grow with the registry.
- the same CCCD, or the record's old CMND linked to the registry person;
- an ID one digit off: the same date of birth and one half of the serial (the last six digits; the other half or
  the prefix holds the wrong digit), the same prefix, half the serial and given name, or the same serial, given
  name and a variant of the date of birth;
- for a record without a CCCD (none, or an old CMND): the date of birth — as typed, with day and month swapped, or
  the year off by one — and the same given name (also the given name of a Western-order name); the date of birth
  and the same words in any order; the date of birth and a given name one edit away (a typo);
- a record without a usable name: the date of birth.
A record with a CCCD needs no rule on its date of birth and name: a pair it would add has an ID that is neither
equal nor one digit off, and weighs too little to be kept. Every pair the old wide rules found that can reach the
keep floor of the shipped weights and thresholds agrees on one of these keys (measured in
`bench/results/blocking-scale.md`); a configuration whose floor is low enough gets the wide rule back
(`wide_rules`). Not covered: a one-edit name difference that turns a space into a letter (or back) without an ID.
The registry is read chunk by chunk; each chunk's pairs are scored at once with numpy and rapidfuzz and only the
pairs that can matter for a decision are kept, so memory stays bounded at any registry size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA

from vaxpass.registry.adapter import RegistryRows
from vaxpass.registry.config import LEVELS, MatchConfig
from vaxpass.registry.prepare import ID_CCCD, ID_CMND, ID_NONE, Side, Vocab, prepare_registry

FIELDS = ("id", "name", "dob", "sex")
_LV = {f: {lv: i for i, lv in enumerate(levels)} for f, levels in LEVELS.items()}
_PAIR_BATCH = 4_000_000


@dataclass
class Candidates:
    """The kept pairs, best first per record: record position, registry id, weight and the level per field."""

    record: np.ndarray
    registry_id: np.ndarray
    weight: np.ndarray
    levels: dict[str, np.ndarray]
    best_weight: np.ndarray  # per record: the best weight of any compared pair (-inf when none was compared)
    compared: int  # pairs compared in all


def _spans(lo: np.ndarray, count: np.ndarray) -> np.ndarray:
    """lo[k], lo[k] + 1, …, lo[k] + count[k] - 1 for every k, concatenated."""
    return np.repeat(lo - np.cumsum(count) + count, count) + np.arange(int(count.sum()))


def _slot(keys: np.ndarray, bits: int) -> np.ndarray:
    """A well-mixed slot in [0, 2**bits) of each key (Fibonacci hashing), for the filter in `_join`."""
    return (keys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits)


def _join(left: np.ndarray, right: np.ndarray, at: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Positions (at[i], j) with left[i] == right[j] (`at`: the record of each left key, default its index), keys
    < 0 ignored. The records' side (left) is sorted and the registry's keys are looked up in it: no hash table of
    the far larger registry side; keys of several rules against one registry key are joined at once."""
    lpos = np.flatnonzero(left >= 0)
    if not len(lpos) or not len(right):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = lpos[np.argsort(left[lpos], kind="stable")]
    keys = left[order]
    bits = min(26, max(16, (8 * len(keys)).bit_length()))  # at most 1 slot in 8 taken (64 MB at most)
    seen = np.zeros(1 << bits, bool)  # a one-hash Bloom filter: most registry keys need no lookup
    seen[_slot(keys, bits)] = True
    maybe = np.flatnonzero(seen[_slot(right, bits)])
    lo = np.searchsorted(keys, right[maybe])
    found = keys[np.minimum(lo, len(keys) - 1)] == right[maybe]
    hit, lo = maybe[found], lo[found]
    count = np.searchsorted(keys, right[hit], "right") - lo
    i = order[_spans(lo, count)]
    return i if at is None else at[i], np.repeat(hit, count)


def _pair_key(key: np.ndarray, code: np.ndarray) -> np.ndarray:
    """One join key of two: `key` (< 2**31: a date, an ID part) and `code` (0 < code < 2**32), -1 if either lacks."""
    return np.where((key >= 0) & (code > 0), key * (1 << 32) + code, -1)


def _given_words(side: Side) -> tuple[np.ndarray, list[str]]:
    """The distinct given-name codes of a side and the given name each stands for (the last word of the canonical
    name: a one-word name's canonical form may be a surname class, so a longer name represents a code)."""
    codes = side.names["given"]
    order = np.lexsort((side.words <= 1, codes))
    first = order[np.r_[True, codes[order][1:] != codes[order][:-1]]] if len(codes) else order
    first = first[codes[first] > 0]
    return codes[first], [str(c).rsplit(" ", 1)[-1] for c in side.canon[first]]


class GivenNeighbours:
    """(record given code, registry given code) pairs of given names exactly one edit apart (OSA).

    Computed once per distinct registry given name: the registry's codes recur in every chunk."""

    _ROWS = 2000  # record names per distance matrix, to bound its memory

    def __init__(self, rec: Side) -> None:
        self._codes, self._words = _given_words(rec)
        self._seen = np.zeros(0, np.int64)
        self._rec: list[np.ndarray] = [np.zeros(0, np.int64)]
        self._reg: list[np.ndarray] = [np.zeros(0, np.int64)]

    def __call__(self, reg: Side) -> tuple[np.ndarray, np.ndarray]:
        codes, words = _given_words(reg)
        fresh = np.flatnonzero(~np.isin(codes, self._seen))
        if len(fresh) and len(self._codes):
            targets = [words[k] for k in fresh.tolist()]
            for lo in range(0, len(self._words), self._ROWS):
                dist = process.cdist(self._words[lo:lo + self._ROWS], targets, scorer=OSA.distance, score_cutoff=1,
                                     dtype=np.int8, workers=-1)
                a, b = np.nonzero(dist == 1)
                self._rec.append(self._codes[lo + a])
                self._reg.append(codes[fresh[b]])
            self._seen = np.union1d(self._seen, codes[fresh])
            self._rec, self._reg = [np.concatenate(self._rec)], [np.concatenate(self._reg)]
        return self._rec[0], self._reg[0]


def _near_given(rec: Side, given_pairs: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(record position, registry given code) for every record and each registry given name near its own."""
    rec_code, reg_code = given_pairs
    order = np.argsort(rec.names["given"], kind="stable")
    sorted_given = rec.names["given"][order]
    lo = np.searchsorted(sorted_given, rec_code, "left")
    count = np.searchsorted(sorted_given, rec_code, "right") - lo
    return order[_spans(lo, count)], np.repeat(reg_code, count)


def _serial_half(id_int: np.ndarray, half: int) -> np.ndarray:
    """The last three digits of an ID (half 0) or the three before them (half 1); -1 where there is no ID."""
    return np.where(id_int >= 0, id_int // 1000 ** half % 1000, -1)


def _prefix_half(cccd: np.ndarray, half: int) -> np.ndarray:
    """The first six digits of a CCCD and one half of its serial as one number; -1 where there is no CCCD."""
    return np.where(cccd >= 0, cccd // 1_000_000 * 1000 + _serial_half(cccd, half), -1)


# The levels of the pairs that only the wide rules of old find, and that the narrow rules leave out: on the date of
# birth alone (the given name two edits or more away, the ID not within one digit), on the CCCD prefix and given
# name (the serial more than one digit off, the date of birth neither as typed nor a variant), and a CCCD record's
# pairs on the date of birth and name (its ID neither equal nor one digit off). With the shipped weights and
# thresholds none can reach the keep floor; a configuration whose floor they can reach gets the rule back.
WIDE_RULES: dict[str, dict[str, tuple[str, ...]]] = {
    "dob_alone": {"id": ("missing", "disagree"), "name": ("two_edits", "given_agrees", "disagree"), "dob": ("exact",),
                  "sex": LEVELS["sex"]},
    "prefix_given": {"id": ("disagree",), "name": LEVELS["name"][:-2], "dob": ("one_part_differs", "disagree", "missing"),
                     "sex": LEVELS["sex"]},
    "cccd_by_name": {"id": ("disagree",), "name": LEVELS["name"][:-1], "dob": LEVELS["dob"][:3], "sex": LEVELS["sex"]},
}


def wide_rules(config: MatchConfig) -> frozenset[str]:
    """The wide rules `config` needs: those whose pairs could reach its keep floor."""
    floor = min(config.lower, config.upper - config.margin)
    return frozenset(rule for rule, levels in WIDE_RULES.items()
                     if config.prior + sum(max(config.weights[f][lv] for lv in lvs) for f, lvs in levels.items()) >= floor)


def _variants(rec: Side) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The record's date of birth with day and month swapped, a year earlier, a year later (-1: none)."""
    swapped = np.where((rec.d <= 12) & (rec.d != rec.m) & (rec.y > 0), rec.y * 10000 + rec.d * 100 + rec.m, -1)
    return swapped, np.where(rec.y > 0, rec.dob_key - 10000, -1), np.where(rec.y > 0, rec.dob_key + 10000, -1)


def _block(rec: Side, reg: Side, neighbours: GivenNeighbours | None = None,
           wide: frozenset[str] = frozenset()) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs (record position, registry position), each once (the rules: the module's docstring)."""
    cccd = np.where(rec.id_kind == ID_CCCD, rec.id_int, -1)
    by_name = (cccd < 0) | ("cccd_by_name" in wide)
    dob = np.where(by_name, rec.dob_key, -1)
    given_reg = reg.names["given"]
    reg_dob_given = _pair_key(reg.dob_key, given_reg)
    parts = [_join(cccd, reg.id_int), _join(np.where(rec.id_kind == ID_CMND, rec.id_int, -1), reg.cmnd_int),
             _join(rec.dob_key if "dob_alone" in wide else np.where(rec.names["folded"] > 0, -1, rec.dob_key),
                   reg.dob_key)]  # a record without a usable name has nothing else to block on
    near, code = _near_given(rec, (neighbours or GivenNeighbours(rec))(reg))
    keys = [_pair_key(np.where(by_name, variant, -1), given)
            for given in (rec.names["given"], rec.names["given_alt"]) for variant in (dob, *_variants(rec))]
    everyone = np.arange(rec.n)
    parts.append(_join(np.concatenate([*keys, _pair_key(dob[near], code)]), reg_dob_given,
                       np.concatenate([*[everyone] * len(keys), near])))
    parts.append(_join(_pair_key(dob, rec.names["tokens"]), _pair_key(reg.dob_key, reg.names["tokens"])))
    parts += _one_digit_off(rec, reg, cccd, wide)
    i = np.concatenate([p[0] for p in parts])
    j = np.concatenate([p[1] for p in parts])
    pair = np.sort(i * (1 << 32) + j)  # a sort beats numpy's hash-based unique by far on these keys
    pair = pair[np.r_[True, pair[1:] != pair[:-1]]] if len(pair) else pair
    return pair >> 32, pair & ((1 << 32) - 1)


def _one_digit_off(rec: Side, reg: Side, cccd: np.ndarray, wide: frozenset[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pairs whose IDs may be one digit apart (one of the two halves of the serial agrees, or the whole serial when
    the digit is in the prefix): with the same date of birth; with the CCCD prefix and the given name; with the
    serial, the given name and a variant of the date of birth."""
    parts = []
    for kind, reg_id in ((ID_CCCD, reg.id_int), (ID_CMND, reg.cmnd_int)):
        mine = np.where(rec.id_kind == kind, rec.id_int, -1)
        for half in (0, 1):
            parts.append(_join(_pair_key(rec.dob_key, _serial_half(mine, half) + 1),
                               _pair_key(reg.dob_key, _serial_half(reg_id, half) + 1)))
    given_reg = reg.names["given"]
    reg_prefix_given = [_pair_key(_prefix_half(reg.id_int, half), given_reg) for half in (0, 1)]
    reg_serial_given = _pair_key(np.where(reg.id_int >= 0, reg.id_int % 1_000_000, -1), given_reg)
    serial = np.where(cccd >= 0, cccd % 1_000_000, -1)
    givens = (rec.names["given"], rec.names["given_alt"])
    twice = np.tile(np.arange(rec.n), 2)
    for half in (0, 1):
        parts.append(_join(np.concatenate([_pair_key(_prefix_half(cccd, half), g) for g in givens]),
                           reg_prefix_given[half], twice))
    i, j = _join(np.concatenate([_pair_key(serial, g) for g in givens]), reg_serial_given, twice)
    varied = np.zeros(len(i), bool)
    for variant in _variants(rec):
        varied |= (variant[i] >= 0) & (variant[i] == reg.dob_key[j])
    parts.append((i[varied], j[varied]))
    if "prefix_given" in wide:
        parts.append(_join(np.concatenate([_pair_key(rec.prefix, g) for g in givens]),
                           _pair_key(reg.prefix, given_reg), twice))
    return parts


def _id_level(rec: Side, reg: Side, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Exact, missing, or -1 (to be refined by digits: one digit off or disagree)."""
    L = _LV["id"]
    kind = rec.id_kind[i]
    rid = rec.id_int[i]
    has = reg.has_cmnd[j]
    return np.select(
        [(kind == ID_CCCD) & (rid == reg.id_int[j]), (kind == ID_CMND) & has & (rid == reg.cmnd_int[j]),
         (kind == ID_NONE) | ((kind == ID_CMND) & ~has)],
        [L["cccd_exact"], L["cmnd_exact"], L["missing"]], -1).astype(np.int8)


def _id_refine(rec: Side, reg: Side, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    L = _LV["id"]
    rd = rec.digits[i]
    cccd = rec.id_kind[i] == ID_CCCD
    diff = np.where(cccd, (rd != reg.digits[j]).sum(axis=1), (rd[:, :9] != reg.cmnd[j]).sum(axis=1))
    return np.where(diff == 1, L["one_digit"], L["disagree"]).astype(np.int8)


def _dob_level(rec: Side, reg: Side, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    L = _LV["dob"]
    ry, rm, rd = rec.y[i], rec.m[i], rec.d[i]
    gy, gm, gd = reg.y[j], reg.m[j], reg.d[j]
    ey, em, ed = ry == gy, rm == gm, rd == gd
    return np.select(
        [ry == 0, ey & em & ed, ey & (rm == gd) & (rd == gm), em & ed & (np.abs(ry - gy) == 1),
         (ey.astype(np.int8) + em + ed) == 2],
        [L["missing"], L["exact"], L["day_month_swapped"], L["year_off_by_one"], L["one_part_differs"]],
        L["disagree"]).astype(np.int8)


def _sex_level(rec: Side, reg: Side, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    L = _LV["sex"]
    rs, gs = rec.sex[i], reg.sex[j]
    return np.select([rs < 0, rs == gs], [L["missing"], L["exact"]], L["disagree"]).astype(np.int8)


def _name_level(rec: Side, reg: Side, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """The levels decided by equal keys, or -1 (to be refined by edit distance)."""
    L = _LV["name"]
    rn, gn = rec.names, reg.names

    def eq(key: str) -> np.ndarray:
        return rn[key][i] == gn[key][j]

    return np.select(
        [rn["folded"][i] == 0, eq("exact"), eq("folded"), eq("canon"), eq("tokens"),
         eq("family_given") & (rec.words[i] != reg.words[j])],
        [L["missing"], L["exact"], L["folded"], L["surname_variant"], L["reordered"], L["middle_dropped"]],
        -1).astype(np.int8)


def _name_refine(rec: Side, reg: Side, i: np.ndarray, j: np.ndarray, *, distance: bool) -> np.ndarray:
    """One or two edits apart (only computed when `distance`), else whether the given names agree."""
    L = _LV["name"]
    rn, gn = rec.names, reg.names
    given = (rn["given"][i] == gn["given"][j]) | ((rn["given_alt"][i] > 0) & (rn["given_alt"][i] == gn["given"][j]))
    if not distance or not len(i):
        return np.where(given, L["given_agrees"], L["disagree"]).astype(np.int8)
    dist = process.cpdist(rec.canon[i], reg.canon[j], scorer=OSA.distance, score_cutoff=2, workers=-1)
    return np.select([dist == 1, dist == 2, given], [L["one_edit"], L["two_edits"], L["given_agrees"]],
                     L["disagree"]).astype(np.int8)


def compare_pairs(rec: Side, reg: Side, i: np.ndarray, j: np.ndarray) -> dict[str, np.ndarray]:
    """The comparison level (index into `LEVELS[field]`) of each pair (rec[i], reg[j]), per field."""
    levels = {"id": _id_level(rec, reg, i, j), "name": _name_level(rec, reg, i, j),
              "dob": _dob_level(rec, reg, i, j), "sex": _sex_level(rec, reg, i, j)}
    for f, refine in (("id", _id_refine), ("name", partial(_name_refine, distance=True))):
        todo = np.flatnonzero(levels[f] < 0)
        levels[f][todo] = refine(rec, reg, i[todo], j[todo])
    return levels


def _score(rec: Side, reg: Side, i: np.ndarray, j: np.ndarray, tables: dict[str, np.ndarray], prior: float,
           floor: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Levels and weights; the costly comparisons (digits, edit distance) only where the pair could still reach
    `floor` — elsewhere the pair is dropped anyway and the cheaper level stands."""
    levels = {"id": _id_level(rec, reg, i, j), "name": _name_level(rec, reg, i, j),
              "dob": _dob_level(rec, reg, i, j), "sex": _sex_level(rec, reg, i, j)}
    base = prior + tables["dob"][levels["dob"]] + tables["sex"][levels["sex"]]
    L_id, L_name = _LV["id"], _LV["name"]
    best_id = max(tables["id"][L_id["one_digit"]], tables["id"][L_id["disagree"]])
    best_name = max(tables["name"][L_name[lv]] for lv in ("one_edit", "two_edits", "given_agrees", "disagree"))
    name_w = np.where(levels["name"] >= 0, tables["name"][levels["name"]], best_name)
    todo = levels["id"] < 0
    hopeful = todo & (base + best_id + name_w >= floor)
    levels["id"][hopeful] = _id_refine(rec, reg, i[hopeful], j[hopeful])
    levels["id"][todo & ~hopeful] = L_id["disagree"]
    base = base + tables["id"][levels["id"]]
    todo = levels["name"] < 0
    hopeful = np.flatnonzero(todo & (base + best_name >= floor))
    levels["name"][hopeful] = _name_refine(rec, reg, i[hopeful], j[hopeful], distance=True)
    rest = np.flatnonzero(levels["name"] < 0)
    levels["name"][rest] = _name_refine(rec, reg, i[rest], j[rest], distance=False)
    return base + tables["name"][levels["name"]], levels


def prepared_chunks(registry: Iterable[RegistryRows], vocab: Vocab) -> Iterator[tuple[np.ndarray, Side]]:
    """(registry ids, prepared side) of each registry chunk, prepared as it is read."""
    for rows in registry:
        if rows.registry_id:
            yield np.asarray(rows.registry_id, dtype=np.int64), prepare_registry(
                vocab, cccd=rows.cccd, cmnd=rows.cmnd, full_name=rows.full_name, dob=rows.dob, sex=rows.sex)


def link(rec: Side, registry: Iterable[tuple[np.ndarray, Side]], config: MatchConfig) -> Candidates:
    """Compare the records with every prepared registry chunk (encoded with the records' vocabulary) and keep,
    per record, the pairs that can matter."""
    tables = {f: np.array(config.table(f)) for f in FIELDS}
    keep_floor = min(config.lower, config.upper - config.margin)
    best = np.full(rec.n, -np.inf)
    kept: list[dict[str, np.ndarray]] = []
    compared = 0
    neighbours = GivenNeighbours(rec)
    wide = wide_rules(config)
    for ids, reg in registry:
        ii, jj = _block(rec, reg, neighbours, wide)
        compared += len(ii)
        for lo in range(0, len(ii), _PAIR_BATCH):
            i, j = ii[lo:lo + _PAIR_BATCH], jj[lo:lo + _PAIR_BATCH]
            weight, levels = _score(rec, reg, i, j, tables, config.prior, keep_floor)
            np.maximum.at(best, i, weight)
            keep = weight >= keep_floor
            kept.append({"record": i[keep], "registry_id": ids[j[keep]], "weight": weight[keep],
                         **{f: lv[keep] for f, lv in levels.items()}})
        kept = [_top(kept, config.max_candidates + 1)] if kept else []
    top = _top(kept, config.max_candidates + 1) if kept else _empty()
    return Candidates(record=top["record"], registry_id=top["registry_id"], weight=top["weight"],
                      levels={f: top[f] for f in FIELDS}, best_weight=best, compared=compared)


def _empty() -> dict[str, np.ndarray]:
    return {"record": np.zeros(0, np.int64), "registry_id": np.zeros(0, np.int64), "weight": np.zeros(0),
            **{f: np.zeros(0, np.int8) for f in FIELDS}}


def _top(parts: list[dict[str, np.ndarray]], k: int) -> dict[str, np.ndarray]:
    """At most k pairs per record, best weight first (ties: lower registry id first)."""
    cat = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    order = np.lexsort((cat["registry_id"], -cat["weight"], cat["record"]))
    rec = cat["record"][order]
    start = np.r_[0, np.flatnonzero(rec[1:] != rec[:-1]) + 1] if len(rec) else np.zeros(0, np.int64)
    rank = np.arange(len(rec)) - np.repeat(start, np.diff(np.r_[start, len(rec)]))
    sel = order[rank < k]
    return {key: v[sel] for key, v in cat.items()}
