from __future__ import annotations

import numpy as np
import pytest

from vaxpass.geo import DISTRICTS, PROVINCE_CODES, PROVINCE_NAMES, district_by_code
from vaxpass.synth.geo import default_site_count, district_population, plan_sites


def test_hanoi_has_30_districts_of_three_kinds() -> None:
    assert len(DISTRICTS) == 30
    assert len({d.code for d in DISTRICTS}) == 30
    kinds = [d.kind for d in DISTRICTS]
    assert (kinds.count("urban"), kinds.count("rural"), kinds.count("town")) == (12, 17, 1)
    assert district_by_code("269").name == "Sơn Tây" and district_by_code("269").kind == "town"
    assert district_by_code("268").kind == "urban"  # Hà Đông is a quận
    assert district_by_code("006").title == "quận Đống Đa"


def test_unknown_district_code() -> None:
    with pytest.raises(KeyError):
        district_by_code("999")


def test_63_province_codes() -> None:
    assert len(PROVINCE_CODES) == 63 == len(set(PROVINCE_CODES))
    assert all(len(c) == 3 and c.isdigit() for c in PROVINCE_CODES)
    assert PROVINCE_NAMES["001"] == "Hà Nội" and PROVINCE_NAMES["079"] == "Hồ Chí Minh"


def test_every_district_has_population_and_wards() -> None:
    assert (district_population() > 100).all()


@pytest.mark.parametrize("persons, expected", [(1000, 3), (20_000, 10), (1_000_000, 500), (10_000_000, 600)])
def test_default_site_count(persons: int, expected: int) -> None:
    assert default_site_count(persons) == expected


@pytest.mark.parametrize("n_sites", [1, 3, 10, 20, 600])
def test_site_plan(n_sites: int) -> None:
    plan = plan_sites(n_sites, np.random.default_rng(5))
    districts = {s.district_code for s in plan.sites}
    assert len(plan.sites) == n_sites
    assert len({s.code for s in plan.sites}) == n_sites == len({s.name for s in plan.sites})
    if n_sites >= 2:
        assert len(districts) >= 2
    if n_sites <= 20:
        assert len(districts) <= 4
    if n_sites == 600:
        assert len(districts) == 30
    for s in plan.sites:
        assert s.code.startswith(f"HN-{s.district_code}-")
        assert s.source.path in (f"inbox/{s.code}", f"sites/{s.code}.sqlite", f"feeds/{s.code}")
        assert district_by_code(s.district_code).name == s.district_name
        assert not s.head_of_facility.startswith("BS")
    assert np.isclose(plan.district_p.sum(), 1.0)
