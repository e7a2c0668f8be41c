"""Merkle trees as RFC 9162 (Certificate Transparency 2.0) defines them, for facility confirmations.

A site head signs one confirmation per cycle carrying the Merkle root of the dose records it confirms; each
record keeps its inclusion proof, so anyone holding the record and the signed root can check it was included
without seeing the other records. Leaf hash = SHA-256(0x00 ‖ data), node hash = SHA-256(0x01 ‖ left ‖ right);
the tree over n leaves splits at the largest power of two below n (§2.1.1), which the bottom-up build with the
odd last node promoted unchanged reproduces.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


@dataclass(frozen=True)
class MerkleTree:
    """All levels of a tree, leaves first; `root` is MTH(D[n]) and `proof(i)` the inclusion path of leaf i."""

    levels: tuple[tuple[bytes, ...], ...]

    @classmethod
    def build(cls, leaves: Sequence[bytes]) -> MerkleTree:
        """Build from the leaf *data* (each is hashed with the 0x00 prefix)."""
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        level = [leaf_hash(d) for d in leaves]
        levels = [tuple(level)]
        while len(level) > 1:
            nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])  # promoted, not rehashed: matches the RFC's split at powers of two
            level = nxt
            levels.append(tuple(level))
        return cls(tuple(levels))

    @property
    def size(self) -> int:
        return len(self.levels[0])

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def proof(self, index: int) -> list[bytes]:
        """The audit path of leaf `index`, from the leaf's sibling up to the root's child (RFC 9162 §2.1.3.1)."""
        if not 0 <= index < self.size:
            raise IndexError(index)
        path: list[bytes] = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index //= 2
        return path

    def proofs(self) -> list[list[bytes]]:
        """Every leaf's audit path (as `proof(i)` for each i), in one pass over the levels."""
        return _paths(self.levels)

    def hex_proofs(self) -> list[list[str]]:
        """`proofs()` in hex; each node is converted once, not once for every leaf whose path it is on."""
        return _paths([[h.hex() for h in level] for level in self.levels])


    def json_proofs(self) -> Iterator[str]:
        """Every leaf's audit path as the JSON text of its hex list (`json.dumps(hex_proofs()[i])`), in leaf
        order: the form the ops store keeps. The two leaves under a node share the path above it, so the path
        above each node of the second level is written once, top down, and each leaf adds its sibling."""
        hexes = [[h.hex() for h in level] for level in self.levels]
        above = [""]  # the root's: nothing
        for level in reversed(hexes[1:-1]):
            count = len(level)
            above = [(f', "{level[node ^ 1]}"' if node ^ 1 < count else "") + above[node >> 1]
                     for node in range(count)]
        leaves = hexes[0]
        count = len(leaves)
        for leaf in range(count):
            rest = above[leaf >> 1]
            if leaf ^ 1 < count:
                yield f'["{leaves[leaf ^ 1]}"{rest}]'
            else:
                yield f"[{rest[2:]}]"


def _paths(levels: Sequence[Sequence[T]]) -> list[list[T]]:
    size = len(levels[0])
    paths: list[list[T]] = [[] for _ in range(size)]
    span = 1  # leaves under one node of the current level
    for level in levels[:-1]:
        count = len(level)
        for node in range(count):
            sibling = node ^ 1
            if sibling < count:
                hashed = level[sibling]
                for leaf in range(node * span, min((node + 1) * span, size)):
                    paths[leaf].append(hashed)
        span *= 2
    return paths


def verify_inclusion(data: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does `data` sit at `index` of the tree of `tree_size` leaves with this `root`?"""
    if not 0 <= index < tree_size:
        return False
    fn, sn = index, tree_size - 1
    r = leaf_hash(data)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
