"""Band entries, candidate pairs and pair partitions (winnow.transforms.dedup.lsh)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from conftest import union_find

from winnow.transforms.dedup import lsh, minhash
from winnow.transforms.dedup.params import REFERENCE_BASE
from winnow.transforms.schema import ROW_BITS


def test_band_entries_skip_empty_rows_and_carry_exact_keys():
    rng = np.random.RandomState(2)
    sigs = rng.randint(0, 2**32, size=(5, 8), dtype=np.uint64).astype(np.uint32)
    answers = rng.randint(0, 2**32, size=(5, 8), dtype=np.uint64).astype(np.uint32)
    sigs[2, :] = minhash.EMPTY  # row 2: no shingles at all
    sigs[3], answers[3] = sigs[0], answers[0]  # row 3: a copy of row 0
    sigs[4] = sigs[0]  # row 4: the same whole text MinHash, another answer
    keys = np.array([10, 11, 12, 13, 14], dtype=np.int64) + (1 << 40)
    exact = np.array([5, 6, 7, 5, 8], dtype=np.uint64)
    entries = lsh.band_entries(keys, sigs, exact, 4, 2, 3, answers)
    allv = np.concatenate(list(entries.values()))
    assert allv.dtype == np.uint64 and allv.shape[1] == 4
    is_exact = allv[:, 2] == np.uint64(lsh.EXACT)
    assert ((allv[:, 2] == np.uint64(lsh.MINHASH)) | is_exact).all()
    assert Counter(allv[~is_exact, 1].tolist()) == {int(k): 4 for k in keys[[0, 1, 3, 4]]}
    assert sorted(allv[is_exact, 1].tolist()) == sorted(keys.tolist())
    assert (allv[is_exact, 3] == 0).all()
    for row in (0, 1, 3, 4):
        mine = allv[~is_exact & (allv[:, 1] == keys[row])]
        assert sorted(mine[:, 0].tolist()) == sorted(minhash.band_keys(sigs[row : row + 1], 4, 2)[0].tolist())
        assert sorted(mine[:, 3].tolist()) == sorted(minhash.band_keys(answers[row : row + 1], 4, 2, first_band=4)[0].tolist())
    for part, arr in entries.items():
        assert (arr[:, 0] % np.uint64(3) == part).all()
    pairs = lsh.merge_pairs(np.concatenate([lsh.candidate_pairs(arr) for arr in entries.values()]))
    bits = {(int(a), int(b)): int(f) for a, b, f in pairs.tolist()}
    # Rows 0 and 3: same content (exact) and same bands; rows 0/3 and 4: same bands only.
    k0, k3, k4 = int(keys[0]), int(keys[3]), int(keys[4])
    assert bits == {(k0, k3): lsh.MINHASH | lsh.EXACT, (k0, k4): lsh.MINHASH, (k3, k4): lsh.MINHASH}
    # Without other signatures the fourth column is 0.
    single = np.concatenate(list(lsh.band_entries(keys, sigs, exact, 4, 2, 3).values()))
    assert (single[:, 3] == 0).all() and len(single) == len(allv)


M, X = lsh.MINHASH, lsh.EXACT


def _entries(buckets: list[tuple[int, list[int], int]], others: dict[int, int] | None = None) -> np.ndarray:
    """Band entries [band key, row, kind, answer's key of the band] for hand-made buckets."""
    others = others or {}
    rows = [[key, row, kind, others.get(row, 0)] for key, members, kind in buckets for row in members]
    return np.array(rows, dtype=np.uint64).reshape(-1, 4)


def _pairs_set(pairs: np.ndarray) -> set[tuple[int, int, int]]:
    return {tuple(int(x) for x in p) for p in pairs}


def test_candidate_pairs_small_buckets_give_all_pairs():
    base = 3 << 40
    assert _pairs_set(lsh.candidate_pairs(_entries([(0xDEADBEEF, [base + 9, base + 4], M)]))) == {(base + 4, base + 9, M)}
    for size in range(3, lsh.ALL_PAIRS_MAX + 1):
        members = [base + 1000 - 7 * i for i in range(size)]
        # Distinct answer keys do not matter in a small bucket.
        pairs = lsh.candidate_pairs(_entries([(2**63 + size, members, M)], {m: 1000 + m for m in members}))
        s = sorted(members)
        assert _pairs_set(pairs) == {(s[i], s[j], M) for i in range(size) for j in range(i + 1, size)}
        assert len(pairs) == size * (size - 1) // 2
        assert pairs.dtype == np.int64 and (pairs[:, 0] < pairs[:, 1]).all()
    # Singletons and empty input give nothing.
    assert lsh.candidate_pairs(_entries([(1, [5], M), (2, [6], X)])).shape == (0, 3)
    assert lsh.candidate_pairs(np.zeros((0, 4), np.uint64)).shape == (0, 3)


@pytest.mark.parametrize("size", [17, 18, 40, 500])
@pytest.mark.parametrize("kind", [M, X])
def test_candidate_pairs_large_buckets_give_chain_and_star(size, kind):
    rng = np.random.default_rng(size)
    members = sorted(rng.choice(1 << 50, size=size, replace=False).tolist())
    shuffled = [int(m) for m in rng.permutation(members)]
    # No answer keys (one-part signatures), or the same answer key everywhere: one bucket.
    for others in (None, {m: 77 for m in members}):
        pairs = lsh.candidate_pairs(_entries([(2**64 - 5, shuffled, kind)], others))
        chain = {(members[i], members[i + 1], kind) for i in range(size - 1)}
        star = {(members[0], members[i], kind) for i in range(2, size)}
        assert _pairs_set(pairs) == chain | star
        assert len(pairs) == 2 * size - 3  # linear in the bucket size
        assert union_find(pairs[:, :2]) == {m: members[0] for m in members}


def test_large_template_bucket_is_split_by_the_answer():
    # 30 rows share a band (a template); their answers: 10 agree (key 1), 10 agree (key 2), 10 all differ.
    members = list(range(100, 130))
    others = {m: 1 if m < 110 else 2 if m < 120 else 5000 + m for m in members}
    pairs = lsh.candidate_pairs(_entries([(999, members, M)], others))
    first, second = range(100, 110), range(110, 120)
    expected = {(a, b, M) for g in (first, second) for a in g for b in g if a < b}
    assert _pairs_set(pairs) == expected
    # Exact entries are never split, whatever their size.
    exact = lsh.candidate_pairs(_entries([(999, members, X)], others))
    assert len(exact) == 2 * 30 - 3 and set(exact[:, 2].tolist()) == {X}
    # A split sub-bucket that is itself large gives a chain and a star.
    big = list(range(1000, 1040))
    pairs = lsh.candidate_pairs(_entries([(7, [*big, 5000, 5001], M)], {**{m: 3 for m in big}, 5000: 8, 5001: 9}))
    assert len(pairs) == 2 * 40 - 3 and union_find(pairs[:, :2]) == {m: 1000 for m in big}
    # A bucket of exactly ALL_PAIRS_MAX members is not split.
    small = list(range(200, 200 + lsh.ALL_PAIRS_MAX))
    pairs = lsh.candidate_pairs(_entries([(8, small, M)], {m: m for m in small}))
    assert len(pairs) == lsh.ALL_PAIRS_MAX * (lsh.ALL_PAIRS_MAX - 1) // 2


def test_candidate_pairs_mixed_buckets_kind_bits_and_order_invariance():
    buckets = [
        (11, [1, 2], X),  # exact bucket
        (12, [1, 2, 3], M),  # the same pair in a MinHash band
        (14, [7, 8, 9, 10], M),
        (15, [3], M),
        (16, list(range(100, 120)), M),
        (17, [100, 101], X),
    ]
    e = _entries(buckets)
    pairs = lsh.candidate_pairs(e)
    got = {(a, b): f for a, b, f in _pairs_set(pairs)}
    assert len(got) == len(pairs)  # no pair twice
    assert got[(1, 2)] == X | M  # the exact bit is kept when pairs merge
    assert got[(1, 3)] == got[(2, 3)] == M
    assert all(got[(a, b)] == M for a in range(7, 11) for b in range(a + 1, 11))
    assert got[(100, 101)] == X | M and got[(100, 102)] == M and got[(101, 102)] == M
    assert len(got) == 1 + 2 + 6 + (2 * 20 - 3)
    # Sorted by (a, b); the same whatever the order of the entries.
    assert pairs[:, :2].tolist() == sorted(pairs[:, :2].tolist())
    rng = np.random.default_rng(0)
    for _ in range(5):
        assert np.array_equal(lsh.candidate_pairs(e[rng.permutation(len(e))]), pairs)


def test_merge_pairs_unions_kind_bits_and_pair_partitions():
    pairs = np.array([[5, 9, M], [1, 2, M], [5, 9, M], [1, 2, X], [3, 4, X], [5, 9, M]], dtype=np.int64)
    assert lsh.merge_pairs(pairs).tolist() == [[1, 2, M | X], [3, 4, X], [5, 9, M]]
    assert lsh.merge_pairs(np.zeros((0, 3), np.int64)).shape == (0, 3)
    # Pair partitions: in range, the same for copies of a pair, spread over partitions.
    many = np.stack([np.arange(1000), np.arange(1000) + 5, np.zeros(1000, np.int64)], axis=1)
    part = lsh.pair_partition(many, 7)
    assert part.min() >= 0 and part.max() < 7 and len(set(part.tolist())) == 7
    assert np.array_equal(lsh.pair_partition(many[::-1], 7), part[::-1])
    many[:, 2] = M
    assert np.array_equal(lsh.pair_partition(many, 7), part)  # the kind bits do not move a pair


def _not_inside_reference(pairs: np.ndarray) -> set[tuple[int, int, int]]:
    ref = np.int64(REFERENCE_BASE) << ROW_BITS
    return _pairs_set(pairs[pairs[:, 0] < ref])


def test_entries_touching_new_rows_give_the_same_pairs_with_new_rows():
    ref = [((REFERENCE_BASE + 3) << ROW_BITS) + i for i in range(40)]
    new = [(2 << ROW_BITS) + i for i in range(5)]
    buckets = [
        (21, ref[:3], M),  # reference rows only: pairs the reference's own run settled
        (22, [*ref[3:6], new[0]], M),  # a new row among reference rows
        (23, [*ref[6:30], new[1]], M),  # a large bucket (a template) holding a new row: split by the answer
        (24, ref[30:], X),  # a large all-reference bucket
        (25, new[2:4], X),  # new rows only
        (26, [new[4]], M),
    ]
    others = {r: 1 + (r & 1) for r in ref} | {new[1]: 2}
    e = _entries(buckets, others)
    kept = lsh.touching_new_rows(e, REFERENCE_BASE)
    assert set(kept[:, 0].tolist()) == {22, 23, 25, 26}
    assert _not_inside_reference(lsh.candidate_pairs(kept)) == _not_inside_reference(lsh.candidate_pairs(e))
    # The template bucket's new row still meets the reference rows whose answers agree with its own.
    assert {b for a, b, _ in _pairs_set(lsh.candidate_pairs(kept)) if a == new[1]} & set(ref[6:30:2] + ref[7:30:2])
    # A night's settled rows count as the reference's: buckets of them and reference rows only go too.
    settled = np.isin(e[:, 1], np.array(new[2:4], np.uint64))
    kept = lsh.touching_new_rows(e, REFERENCE_BASE, settled)
    assert set(kept[:, 0].tolist()) == {22, 23, 26}
    # Without reference rows nothing is dropped (a plain run).
    plain = _entries([(1, new[:2], M), (2, [new[3]], X)])
    assert lsh.touching_new_rows(plain, REFERENCE_BASE) is plain
    # A night spills only the reference entries under the new rows' band keys (NewBandKeysFn): the same kept
    # entries, so the same pairs and the same split of the large bucket.
    is_ref = e[:, 1] >= np.uint64(REFERENCE_BASE << ROW_BITS)
    for marks in (None, settled):
        keys = lsh.new_band_keys(e[~is_ref], REFERENCE_BASE, None if marks is None else marks[~is_ref])
        assert keys.tolist() == sorted(set(lsh.touching_new_rows(e, REFERENCE_BASE, marks)[:, 0].tolist()) - {21, 24})
        reference = e[is_ref][lsh.member_of(e[is_ref][:, 0], keys)]
        assert 0 < len(reference) < int(is_ref.sum())
        spilled = np.concatenate([e[~is_ref], reference])
        narrowed = None if marks is None else np.concatenate([marks[~is_ref], np.zeros(len(reference), bool)])
        assert _pairs_set(lsh.candidate_pairs(lsh.touching_new_rows(spilled, REFERENCE_BASE, narrowed))) == _pairs_set(
            lsh.candidate_pairs(lsh.touching_new_rows(e, REFERENCE_BASE, marks))
        )


def test_member_of_equals_isin_on_hash_keys_and_empty_sets() -> None:
    rng = np.random.default_rng(11)
    values = rng.integers(0, 2**63, 5000, dtype=np.int64).astype(np.uint64)
    values[-1] = np.uint64(2**64 - 1)  # above every key of the set
    wanted = np.unique(np.concatenate([rng.choice(values, 300), rng.integers(0, 2**63, 50, dtype=np.int64).astype(np.uint64)]))
    assert np.array_equal(lsh.member_of(values, wanted), np.isin(values, wanted))
    assert not lsh.member_of(values, np.zeros(0, np.uint64)).any()
