"""The EU DCC value sets shipped in `spec/valuesets/`, the only source of codes a payload may carry."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

VALUE_SETS = (
    "disease-agent-targeted",
    "vaccine-prophylaxis",
    "vaccine-medicinal-product",
    "vaccine-mah-manf",
    "country-2-codes",
)


def spec_text(relative: str) -> str:
    """A file of the bundled spec (package data, so it works from a wheel as well as from the repo)."""
    return resources.files("vaxpass.signing").joinpath("spec", relative).read_text(encoding="utf-8")


@cache
def value_set(name: str) -> dict[str, dict[str, Any]]:
    """Code -> entry (`display`, `active`, ...) of one bundled value set, e.g. `vaccine-medicinal-product`."""
    if name not in VALUE_SETS:
        raise KeyError(name)
    values: dict[str, dict[str, Any]] = json.loads(spec_text(f"valuesets/{name}.json"))["valueSetValues"]
    return values


def is_known(name: str, code: str, *, active_only: bool = False) -> bool:
    """Whether `code` is in the value set (and, with `active_only`, not deprecated)."""
    entry = value_set(name).get(code)
    return entry is not None and (bool(entry.get("active")) or not active_only)
