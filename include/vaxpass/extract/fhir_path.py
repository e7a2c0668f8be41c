"""A tiny path language for picking values out of FHIR resources in a site's column map.

`a.b[0].c` walks objects and list indexes; `identifier[system=urn:vn:cccd].value` picks the first list item
whose `system` equals the value; a path starting with `patient.` is read on the Patient resource the
Immunization refers to. A list where a single value is expected gives its first item.
"""

from __future__ import annotations

from functools import cache
from typing import Any

Step = tuple[str, str | None]  # (key, bracket) — bracket is an index, `k=v`, or None


@cache
def parse(path: str) -> tuple[Step, ...]:
    steps: list[Step] = []
    key, bracket, depth = "", "", 0
    for ch in path + ".":
        if depth:
            if ch == "]":
                depth = 0
                steps.append((key, bracket))
                key, bracket = "", ""
            else:
                bracket += ch
        elif ch == "[":
            depth = 1
        elif ch == ".":
            if key:
                steps.append((key, None))
            key = ""
        else:
            key += ch
    return tuple(steps)


def _pick(items: Any, bracket: str) -> Any:
    if not isinstance(items, list):
        items = [items]
    if bracket.isdigit():
        i = int(bracket)
        return items[i] if i < len(items) else None
    name, _, want = bracket.partition("=")
    return next((it for it in items if isinstance(it, dict) and str(it.get(name)) == want), None)


def evaluate(resource: Any, path: str) -> Any:
    value = resource
    for key, bracket in parse(path):
        if isinstance(value, list):
            value = value[0] if value else None
        if not isinstance(value, dict):
            return None
        value = value.get(key)
        if bracket is not None:
            value = _pick(value, bracket)
    if isinstance(value, list):
        value = value[0] if value else None
    return value


def text_of(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def column_texts(resources: list[Any], path: str) -> list[str]:
    """`text_of(evaluate(r, path))` for every resource (None: no resource), a step at a time over the whole
    column: one list comprehension per step instead of a walk per cell. A value that is not an object at some
    step stays None through the later ones, as `evaluate` returns None there."""
    values = resources
    for key, bracket in parse(path):
        values = [v.get(key) if isinstance(v, dict) else _first_get(v, key) for v in values]
        if bracket is None:
            continue
        if bracket.isdigit():
            i = int(bracket)
            values = [(v[i] if i < len(v) else None) if isinstance(v, list) else _pick(v, bracket) for v in values]
        else:
            values = [_pick(v, bracket) for v in values]
    values = [(v[0] if v else None) if isinstance(v, list) else v for v in values]
    return [v if type(v) is str else text_of(v) for v in values]


def _first_get(value: Any, key: str) -> Any:
    """A step on a value that is not an object: a list's first item stands for it."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0].get(key)
    return None
