"""A person's dose history: the evidence for the rules no single row can answer (lịch sử tiêm của một người).

Matching to the population registry comes after validation, so the person is not known yet. The history is keyed
on what the record itself says: the national ID (CCCD or CMND, as typed), else nationality + passport number —
the same identity key as `duplicate_in_batch`. It holds the batch itself plus, when the caller gives them, the
records already in the ops store: *accepted* ones (passed validation: valid, held, matched, flagged, in review)
and *pending* ones (extracted at another site, not validated yet). See data_quality/README.md for the limits.

Three pieces of evidence come out, one per rule, each missing where the rule does not apply:

* `history_duplicate` — `repeat` when the same (person, dose number, vaccination date) is already recorded: an
  accepted record, or a pending one of a site that sorts first (site code order, so two parallel site tasks reach
  the same verdict); else `first`;
* `dose_order` — `out_of_order` for a record that must be left out for the person's doses, ordered by date, to
  have strictly increasing dose numbers; else `ok`. Accepted records are kept whenever possible; among equally
  long orders the one whose dose numbers best equal their position wins (dose 1 first, dose 2 second …), then
  the one keeping earlier records;
* `days_since_previous_dose` / `min_days_since_previous_dose` — for dose n whose kept predecessor is dose n − 1:
  the days between them and the product's minimum interval (`dose_intervals.json`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaxpass.errors import ConfigError
from vaxpass.vaccines import all_vaccines

INTERVALS_FILE = "dose_intervals.json"
FIRST_DOSE_YMD = 20210308  # Vietnam's first COVID-19 dose
# The columns a caller's history frame has (one row per stored dose record)
HISTORY_COLUMNS = ("site_code", "national_id", "nationality", "passport_no", "person_national_id", "dose_number",
                   "vaccination_date", "vaccine_mp", "accepted")
_FIXED, _BATCH, _PENDING = 0, 1, 2  # event sources, in the order a repeated event is kept


@dataclass(frozen=True)
class DoseIntervals:
    """Minimum days between dose n − 1 and dose n: per product within its primary series, else for a booster."""

    primary_min_days: tuple[tuple[str, int], ...]  # (EU product code, days), sorted: hashable for caching
    booster_min_days: int
    unknown_product_min_days: int

    def as_dict(self) -> dict[str, Any]:
        return {"primary_min_days": dict(self.primary_min_days),
                "booster_min_days": self.booster_min_days,
                "unknown_product_min_days": self.unknown_product_min_days}


def load_intervals(suite_dir: Path) -> DoseIntervals:
    """Read `dose_intervals.json`; unknown keys, unknown product codes and negative days are rejected."""
    path = Path(suite_dir) / INTERVALS_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"dose intervals {path}: {exc}") from exc
    keys = {"primary_min_days", "booster_min_days", "unknown_product_min_days", "notes"}
    problems = [f"unknown key {k}" for k in sorted(set(raw) - keys)]
    problems += [f"missing key {k}" for k in sorted(keys - {"notes"} - set(raw))]
    known = {v.mp for v in all_vaccines()}
    primary = raw.get("primary_min_days", {})
    problems += [f"unknown product {mp}" for mp in sorted(set(primary) - known)]
    days = [*primary.values(), raw.get("booster_min_days", 0), raw.get("unknown_product_min_days", 0)]
    if any(not isinstance(d, int) or d < 0 for d in days):
        problems.append("days must be whole numbers ≥ 0")
    if problems:
        raise ConfigError(f"dose intervals {path}: " + "; ".join(problems))
    return DoseIntervals(primary_min_days=tuple(sorted(primary.items())), booster_min_days=raw["booster_min_days"],
                         unknown_product_min_days=raw["unknown_product_min_days"])


def identity_key(national_id: pd.Series, nationality: pd.Series, passport: pd.Series) -> pd.Series:
    """The person as the record names them: `N` + national ID, else `P` + nationality + `:` + passport (upper)."""
    return ("N" + national_id).fillna("P" + nationality.fillna("") + ":" + passport.str.upper().str.replace(" ", ""))


def _days(ymd: pd.Series) -> np.ndarray:
    """Float YYYYMMDD → days since 1970-01-01 (NaN stays NaN)."""
    parsed = pd.to_datetime(ymd.astype("Int64").astype("string"), format="%Y%m%d", errors="coerce")
    return ((parsed - pd.Timestamp("1970-01-01")).dt.days).to_numpy(dtype="float64", na_value=np.nan)


def _min_days(intervals: DoseIntervals, mp: pd.Series, n: pd.Series) -> np.ndarray:
    series = {v.mp: v.series_doses for v in all_vaccines()}
    primary = mp.map(dict(intervals.primary_min_days)).astype("float64")
    length = mp.map(series).astype("float64")
    in_series = (n < length).to_numpy(dtype=bool)
    out = np.where(in_series, primary.to_numpy(), float(intervals.booster_min_days))
    return np.where(mp.isna().to_numpy() | ~mp.isin(list(series)).to_numpy(), float(intervals.unknown_product_min_days),
                    out)


def _in_range(n: pd.Series, ymd: pd.Series, run_ymd: int | None) -> pd.Series:
    ok = n.between(1, 6) & (ymd >= FIRST_DOSE_YMD)
    return ok & (ymd <= run_ymd) if run_ymd is not None else ok


def _stored_events(history: pd.DataFrame, run_ymd: int | None) -> pd.DataFrame:
    """The stored records as events, once under their own key and once under their person's CCCD if matched."""
    from vaxpass.quality.prepare import text, ymd_of

    nat = text(history, "nationality")
    own = identity_key(text(history, "national_id"), nat, text(history, "passport_no"))
    alt = ("N" + text(history, "person_national_id"))
    n = pd.to_numeric(history["dose_number"], errors="coerce").astype("float64") \
        if "dose_number" in history.columns else pd.Series(np.nan, index=history.index)
    ymd = ymd_of(text(history, "vaccination_date"))
    base = pd.DataFrame({"n": n, "ymd": ymd, "mp": text(history, "vaccine_mp"),
                         "src": np.where(history["accepted"].astype(bool).to_numpy(), _FIXED, _PENDING),
                         "site": text(history, "site_code").fillna(""), "row": -1})
    events = pd.concat([base.assign(key=own), base.assign(key=alt)[alt.notna() & (alt != own)]], ignore_index=True)
    return events[events["key"].notna() & _in_range(events["n"], events["ymd"], run_ymd)]


def _blamed(n: list[float], src: list[int]) -> list[int]:
    """Positions to leave out so that dose numbers strictly increase (events in date order); see module doc."""
    k = len(n)
    score = [(1000 if s == _FIXED else 10) + (1 if n[i] == i + 1 else 0) for i, s in enumerate(src)]
    best, prev = score[:], [-1] * k
    for i in range(k):
        for j in range(i):
            if n[j] < n[i] and best[j] + score[i] > best[i]:
                best[i], prev[i] = best[j] + score[i], j
    end = max(range(k), key=lambda i: (best[i], -i))
    kept = set()
    while end >= 0:
        kept.add(end)
        end = prev[end]
    return [i for i in range(k) if i not in kept]


def history_evidence(person: pd.Series, n: pd.Series, ymd: pd.Series, mp: pd.Series, site: pd.Series,
                     first_in_batch: pd.Series, *, run_ymd: int | None, history: pd.DataFrame | None,
                     intervals: DoseIntervals) -> dict[str, pd.Series]:
    """The four evidence columns for the batch rows (index of `person`). See the module docstring."""
    idx = person.index
    eligible = (person.notna() & _in_range(n, ymd, run_ymd) & first_in_batch).to_numpy(dtype=bool)
    batch = pd.DataFrame({"key": person, "n": n, "ymd": ymd, "mp": mp, "src": _BATCH, "site": site.fillna(""),
                          "row": np.arange(len(idx))}, index=idx)[eligible].reset_index(drop=True)
    stored = _stored_events(history, run_ymd) if history is not None and len(history) else batch.iloc[:0]

    # 1. already recorded: an accepted record, or a pending one of a site that sorts before this row's site
    repeat = np.zeros(len(batch), dtype=bool)
    if len(stored):
        first = stored.sort_values(["src", "site"]).drop_duplicates(["key", "n", "ymd"])
        first = first.rename(columns={"src": "stored_src", "site": "stored_site"})
        hit = batch[["key", "n", "ymd", "site"]].merge(first[["key", "n", "ymd", "stored_src", "stored_site"]],
                                                       on=["key", "n", "ymd"], how="left")
        repeat = ((hit["stored_src"] == _FIXED)
                  | ((hit["stored_src"] == _PENDING) & (hit["stored_site"] < hit["site"]))).to_numpy(dtype=bool)

    # 2. the timeline: every distinct (person, dose number, date), accepted records first
    events = pd.concat([stored, batch[~repeat]], ignore_index=True)
    events = events.sort_values(["key", "n", "ymd", "src", "site", "row"], kind="stable")
    events = events.drop_duplicates(["key", "n", "ymd"]).sort_values(["key", "ymd", "n", "src", "site", "row"],
                                                                     kind="stable").reset_index(drop=True)
    key, num = events["key"].to_numpy(dtype=object), events["n"].to_numpy()
    step_back = np.zeros(len(events), dtype=bool)  # not above the previous dose number of the same person
    step_back[1:] = (key[1:] == key[:-1]) & (num[1:] <= num[:-1])
    bad_keys = set(key[step_back].tolist())
    drop = np.zeros(len(events), dtype=bool)
    if bad_keys:
        bad = np.flatnonzero(events["key"].isin(bad_keys).to_numpy())
        for _, positions in events.iloc[bad].groupby("key", sort=False).indices.items():
            at = bad[positions]
            for p in _blamed(events["n"].to_numpy()[at].tolist(), events["src"].to_numpy()[at].tolist()):
                drop[at[p]] = True

    # 3. intervals between kept consecutive doses n − 1 → n
    kept = events[~drop]
    prev_same = kept["key"].eq(kept["key"].shift())
    prev_n, prev_ymd, prev_mp = kept["n"].shift(), kept["ymd"].shift(), kept["mp"].shift()
    applies = (prev_same & (prev_n == kept["n"] - 1)).to_numpy(dtype=bool)
    days = np.where(applies, _days(kept["ymd"]) - _days(prev_ymd), np.nan)
    min_days = np.where(applies, _min_days(intervals, prev_mp, prev_n), np.nan)

    out_duplicate = np.full(len(idx), -1)
    out_duplicate[batch["row"].to_numpy()] = repeat.astype(int)
    out_order = np.full(len(idx), -1)
    rows_of = events["row"].to_numpy()
    in_batch = events["src"].to_numpy() == _BATCH
    out_order[rows_of[in_batch]] = drop[in_batch].astype(int)
    since = np.full(len(idx), np.nan)
    least = np.full(len(idx), np.nan)
    kb = (kept["src"] == _BATCH).to_numpy()
    kept_rows = kept["row"].to_numpy()[kb]
    since[kept_rows], least[kept_rows] = days[kb], min_days[kb]
    return {
        "history_duplicate": pd.Series(pd.Categorical.from_codes(out_duplicate, ["first", "repeat"]), index=idx),
        "dose_order": pd.Series(pd.Categorical.from_codes(out_order, ["ok", "out_of_order"]), index=idx),
        "days_since_previous_dose": pd.Series(since, index=idx),
        "min_days_since_previous_dose": pd.Series(least, index=idx),
    }


def run_ymd_of(run_date: date | None) -> int | None:
    return None if run_date is None else run_date.year * 10000 + run_date.month * 100 + run_date.day
