"""The linker: candidate pairs by blocking, field comparison levels, Fellegi–Sunter weights, top candidates.

Blocking (a pair is compared when any rule holds; never on family name alone, Nguyễn is 38 % of people):
- the same CCCD, or the record's old CMND linked to the registry person;
- the same date of birth;
- the date of birth with day and month swapped, or the year off by one, and the same given name;
- the same first six CCCD digits (province, century+sex, birth year) and the same given name.
The registry is read chunk by chunk; each chunk's pairs are scored at once with numpy and rapidfuzz and only the
pairs that can matter for a decision are kept, so memory stays bounded at any registry size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
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


def _join(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (i, j) with left[i] == right[j], keys < 0 ignored."""
    lpos = np.flatnonzero(left >= 0)
    rpos = np.flatnonzero(right >= 0)
    if not len(lpos) or not len(rpos):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    merged = pd.DataFrame({"k": left[lpos], "i": lpos}).merge(pd.DataFrame({"k": right[rpos], "j": rpos}), on="k")
    return merged["i"].to_numpy(np.int64), merged["j"].to_numpy(np.int64)


def _with_given(key: np.ndarray, given: np.ndarray) -> np.ndarray:
    return np.where((key >= 0) & (given > 0), key * (1 << 32) + given, -1)  # codes < 2**32, dates < 2**31


def _block(rec: Side, reg: Side) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs (record position, registry position), each once."""
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    parts.append(_join(np.where(rec.id_kind == ID_CCCD, rec.id_int, -1), reg.id_int))
    parts.append(_join(np.where(rec.id_kind == ID_CMND, rec.id_int, -1), reg.cmnd_int))
    parts.append(_join(rec.dob_key, reg.dob_key))
    given_reg = reg.names["given"]
    swapped = np.where((rec.d <= 12) & (rec.d != rec.m) & (rec.y > 0), rec.y * 10000 + rec.d * 100 + rec.m, -1)
    prev_year = np.where(rec.y > 0, rec.dob_key - 10000, -1)
    next_year = np.where(rec.y > 0, rec.dob_key + 10000, -1)
    for given in (rec.names["given"], rec.names["given_alt"]):
        reg_dob_given = _with_given(reg.dob_key, given_reg)
        for variant in (swapped, prev_year, next_year):
            parts.append(_join(_with_given(variant, given), reg_dob_given))
        parts.append(_join(_with_given(rec.prefix, given), _with_given(reg.prefix, given_reg)))
    i = np.concatenate([p[0] for p in parts])
    j = np.concatenate([p[1] for p in parts])
    pair = np.sort(i * (1 << 32) + j)  # a sort beats numpy's hash-based unique by far on these keys
    pair = pair[np.r_[True, pair[1:] != pair[:-1]]] if len(pair) else pair
    return pair >> 32, pair & ((1 << 32) - 1)


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
    for ids, reg in registry:
        ii, jj = _block(rec, reg)
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
