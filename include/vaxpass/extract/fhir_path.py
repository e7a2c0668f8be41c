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
