"""RFC 9162 Merkle trees: the recursive definition, inclusion proofs, and what a proof must reject."""

from __future__ import annotations

import json

import pytest

from vaxpass.signing.merkle import MerkleTree, leaf_hash, node_hash, verify_inclusion


def mth(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 §2.1.1, as the reference."""
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def data(n: int) -> list[bytes]:
    return [f"record-{i}".encode() for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 31, 100])
def test_root_matches_the_rfc_definition(n: int) -> None:
    assert MerkleTree.build(data(n)).root == mth(data(n))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 11, 64, 97])
def test_every_leaf_proves_its_inclusion(n: int) -> None:
    leaves = data(n)
    tree = MerkleTree.build(leaves)
    for i, leaf in enumerate(leaves):
        assert verify_inclusion(leaf, i, n, tree.proof(i), tree.root)


def test_proofs_reject_wrong_data_index_size_and_root() -> None:
    leaves = data(11)
    tree = MerkleTree.build(leaves)
    proof = tree.proof(6)
    assert not verify_inclusion(b"record-x", 6, 11, proof, tree.root)
    assert not verify_inclusion(leaves[6], 5, 11, proof, tree.root)
    assert not verify_inclusion(leaves[6], 6, 7, proof, tree.root)  # a tree size of another shape
    assert not verify_inclusion(leaves[6], 6, 11, proof, MerkleTree.build(data(12)).root)
    assert not verify_inclusion(leaves[6], 6, 11, proof[:-1], tree.root)


def test_known_vector() -> None:
    # Empty-prefix conventions are easy to get wrong: pin the two-leaf root by hand.
    import hashlib

    a, b = hashlib.sha256(b"\x00a").digest(), hashlib.sha256(b"\x00b").digest()
    assert MerkleTree.build([b"a", b"b"]).root == hashlib.sha256(b"\x01" + a + b).digest()
    assert len(MerkleTree.build(data(100_000)).proof(12345)) == 17


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 11, 64, 97])
def test_all_proofs_in_one_pass_equal_each_proof_and_verify(n: int) -> None:
    tree = MerkleTree.build(data(n))
    proofs = tree.proofs()
    assert proofs == [tree.proof(i) for i in range(n)]
    assert tree.hex_proofs() == [[h.hex() for h in p] for p in proofs]
    assert all(verify_inclusion(d, i, n, proofs[i], tree.root) for i, d in enumerate(data(n)))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 64, 97, 1000])
def test_json_proofs_are_the_json_of_each_hex_proof(n: int) -> None:
    tree = MerkleTree.build(data(n))
    assert list(tree.json_proofs()) == [json.dumps(p) for p in tree.hex_proofs()]
