"""A certificate's chain as layers of a graph, in flow order: source row → extraction → validation → match →
review → confirmation → signature → certificate → DAG run (what the lineage explorer draws).

Ids, hashes, codes and agreement levels only: the match evidence's candidates are summarised by their field
agreement levels, never by the registry's row ids or values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vaxpass.lineage.chain import ORDER

LABELS = {
    "source_row": "Dòng nguồn / Source row", "extraction": "Trích xuất / Extraction",
    "validation": "Kiểm tra chất lượng / Validation", "match": "Đối chiếu / Registry match",
    "review": "Duyệt / District review", "confirmation": "Xác nhận cơ sở / Facility confirmation",
    "signature": "Chữ ký / Signature", "certificate": "Chứng nhận / Certificate", "dag_run": "DAG run",
}
# Keys never shown: candidate registry rows are internal keys of the population registry.
HIDDEN = {"registry_id", "candidates", "thresholds"}


@dataclass
class Node:
    ref: str
    lines: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Layer:
    kind: str
    label: str
    nodes: list[Node]


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text[:16] + "…" if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else text


def _lines(kind: str, detail: dict[str, Any]) -> list[tuple[str, str]]:
    """A link's details as (name, value) lines: scalars as they are, dicts summarised (review before/after,
    the match evidence's best candidate by field agreement levels, never by the registry's values)."""
    lines: list[tuple[str, str]] = []
    for key, value in detail.items():
        if key == "ref" or key in HIDDEN or value is None:
            continue
        if kind == "match" and key == "evidence" and isinstance(value, dict):
            candidates = value.get("candidates") or []
            lines.append(("candidates", str(len(candidates))))
            if candidates:
                best = candidates[0]
                lines.append(("best weight", _short(best.get("weight"))))
                levels = ", ".join(f"{name}={f.get('level')}" for name, f in (best.get("fields") or {}).items())
                if levels:
                    lines.append(("agreement", levels))
            continue
        if isinstance(value, dict):
            lines.append((key, ", ".join(f"{k}={_short(v)}" for k, v in value.items()
                                         if k not in HIDDEN and not isinstance(v, dict | list))))
        elif not isinstance(value, list):
            lines.append((key, _short(value)))
    return lines


def graph(chain: dict[str, Any]) -> list[Layer]:
    """The chain's layers in flow order; the certificate sits between its signature and the DAG run. Link
    kinds this page does not know yet are shown too, before the signature."""
    links: dict[str, list[dict[str, Any]]] = chain["links"]
    cert = chain["certificate"]
    known = [k for k in ORDER if k in links]
    extra = [k for k in links if k not in ORDER]
    at = known.index("signature") if "signature" in known else len(known)
    kinds = known[:at] + extra + known[at:]
    layers = [Layer(kind, LABELS.get(kind, kind), [Node(item["ref"], _lines(kind, item)) for item in links[kind]])
              for kind in kinds]
    certificate = Layer("certificate", LABELS["certificate"], [Node(cert["uvci"], [
        ("id", str(cert["id"])), ("version", str(cert["version"])), ("status", cert["status"]),
        ("person", cert["person"]), ("kid", cert["kid"]), ("issued", cert["issued_at"]),
        ("expires", cert["expires_at"])])])
    position = next((i for i, layer in enumerate(layers) if layer.kind == "dag_run"), len(layers))
    layers.insert(position, certificate)
    return layers
