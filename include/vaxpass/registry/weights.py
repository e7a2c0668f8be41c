"""The shipped Fellegi–Sunter weights: log2(m / u) per field level.

Fitted by `python -m bench.matching --fit --records 100000 --registry 500000 --seed 101` on a synthetic training
set with its own seed (the benchmark uses seed 7, the tests other seeds and hand-made registries): m from the
true pairs among the blocked candidates, u from 2 M random record–registry pairs, clipped to [-20, 25]; `missing`
is 0 by definition. `name.surname_variant` is set by hand (8.0, just under `reordered`): the generator does not
inject regional surname spellings (Hoàng/Huỳnh, Vũ/Võ), so the training set has no m for it.
Regenerate after changing the comparison levels.
"""

from __future__ import annotations

SHIPPED_WEIGHTS: dict[str, dict[str, float]] = {
    "id": {"cccd_exact": 19.05, "cmnd_exact": 16.9, "one_digit": 15.28, "missing": 0.0, "disagree": -17.51},
    "name": {"exact": 11.59, "folded": 9.49, "surname_variant": 8.0, "reordered": 8.06, "middle_dropped": 3.64,
             "one_edit": 4.49, "two_edits": -6.5, "given_agrees": -6.74, "disagree": -12.25, "missing": 0.0},
    "dob": {"exact": 14.45, "day_month_swapped": 9.42, "year_off_by_one": 5.73, "one_part_differs": -9.73,
            "disagree": -14.39, "missing": 0.0},
    "sex": {"exact": 0.99, "disagree": -7.49, "missing": 0.0},
}
