"""Cluster splitting, the keep order and the choice of the kept row (winnow.transforms.dedup.keep)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from conftest import dedup_params

from winnow.transforms.dedup import minhash
from winnow.transforms.dedup.keep import choose_keep, keep_order, split_clusters
from winnow.transforms.dedup.params import DUPLICATES


def test_split_clusters_breaks_chains():
    params = dedup_params(10, text="response", verify_threshold=0.5)
    a = np.arange(10, dtype=np.uint32)
    b = a.copy()
    b[6:] = [106, 107, 108, 109]  # b ~ a: 6 of 10 equal
    c = b.copy()
    c[:4] = [200, 201, 202, 203]  # c ~ b: 6 of 10; c ~ a: only positions 4, 5
    assert minhash.estimated_jaccard(a[None], c[None])[0] == pytest.approx(0.2)
    sig = np.stack([a, b, c])
    comp = np.zeros(3, np.int64)
    kept_of, is_kept = split_clusters(comp, sig, params)
    assert kept_of.tolist() == [0, 0, 2] and is_kept.tolist() == [True, False, True]
    # With b first (e.g. b has the longest answer), b is kept and takes both.
    kept_of, is_kept = split_clusters(comp, sig[[1, 0, 2]], params)
    assert kept_of.tolist() == [0, 0, 0] and is_kept.tolist() == [True, False, False]
    # With verify: none nothing is split.
    kept_of, _ = split_clusters(comp, sig, dedup_params(10, text="response", verify="none"))
    assert kept_of.tolist() == [0, 0, 0]
    # prompt_answer: the answer must reach verify_threshold, the prompt part_threshold.
    two = dedup_params(10, verify_threshold=0.5, part_threshold=0.3)
    same_prompt = np.concatenate([np.stack([a, a, a]), sig], axis=1)
    assert split_clusters(comp, same_prompt, two)[0].tolist() == [0, 0, 2]
    other_prompts = np.concatenate([np.stack([a, c, a + 50]), np.stack([a, a, a])], axis=1)  # prompts: 0.2 and 0
    assert split_clusters(comp, other_prompts, two)[0].tolist() == [0, 1, 2]
    assert split_clusters(comp, other_prompts, dedup_params(10, verify_threshold=0.5, part_threshold=0.2))[0].tolist() == [
        0,
        0,
        2,
    ]


@pytest.mark.parametrize("seed", range(5))
def test_split_clusters_invariants_on_random_components(seed):
    rng = np.random.default_rng(seed)
    n, width = 300, 20
    params = dedup_params(width // 2)  # prompt | answer
    comp = np.sort(rng.integers(0, 40, size=n))
    base = rng.integers(0, 2**32, size=(40, width), dtype=np.uint64).astype(np.uint32)
    sig = base[comp].copy()
    noise = rng.random((n, width)) < rng.random((n, 1)) * 0.8
    sig[noise] = rng.integers(0, 2**32, size=int(noise.sum()), dtype=np.uint64).astype(np.uint32)
    kept_of, is_kept = split_clusters(comp, sig, params)
    again = split_clusters(comp, sig.copy(), params)
    assert np.array_equal(kept_of, again[0]) and np.array_equal(is_kept, again[1])
    assert np.array_equal(is_kept, kept_of == np.arange(n))
    assert (comp[kept_of] == comp).all()  # never across components
    assert (kept_of <= np.arange(n)).all()  # the kept row comes first in the keep order
    content = minhash.estimated_jaccard(sig[:, 10:], sig[kept_of, 10:])
    context = minhash.estimated_jaccard(sig[:, :10], sig[kept_of, :10])
    # No member below the thresholds with its kept row.
    assert (content >= params.verify_threshold).all() and (context >= params.part_threshold).all()
    assert 0 < is_kept.sum() < n - 40  # the test data does split some components and keep others whole
    # The first row of every component is kept.
    firsts = np.concatenate(([0], np.flatnonzero(np.diff(comp)) + 1))
    assert is_kept[firsts].all()
    # A row not taken by an earlier kept row is itself kept.
    for i in np.flatnonzero(~is_kept):
        assert is_kept[kept_of[i]]


def test_keep_order_and_its_sort():
    assert keep_order(("-quality", "-response_chars", "id")) == [
        ("component", "ascending", "at_end"),
        ("is_reference", "descending", "at_end"),  # an earlier corpus's row is always kept
        ("quality", "descending", "at_end"),
        ("response_chars", "descending", "at_end"),
        ("id", "ascending", "at_end"),
        ("key", "ascending", "at_end"),
    ]
    assert keep_order(("+n_turns",))[2] == ("n_turns", "ascending", "at_end")
    table = pa.table(
        {
            "component": [1, 1, 1, 1, 0],
            "is_reference": [False] * 5,
            "quality": [*pa.array([None, 0.5, 0.9, None], pa.float64()).to_pylist(), None],
            "response_chars": [10, 30, 30, 30, 1],
            "id": ["d", "c", "b", "a", "z"],
            "key": [4, 3, 2, 1, 0],
        }
    )
    ids = table.sort_by(keep_order(("-quality", "-response_chars", "id"))).column("id").to_pylist()
    assert ids == ["z", "b", "c", "a", "d"]  # nulls last even when descending
    ids = table.sort_by(keep_order(("-response_chars", "id"))).column("id").to_pylist()
    assert ids == ["z", "a", "b", "c", "d"]
    ids = table.sort_by(keep_order(("id",))).column("id").to_pylist()
    assert ids == ["z", "a", "b", "c", "d"]
    ids = table.sort_by(keep_order(("response_chars",))).column("id").to_pylist()
    assert ids == ["z", "d", "a", "b", "c"]  # ties end on the smallest key


def _members(rows: list[dict], width: int) -> pa.RecordBatch:
    """What AttachMembersFn sends to ChooseKeepFn."""
    cols = {
        "component": pa.array([r["component"] for r in rows], pa.int64()),
        "key": pa.array([r["key"] for r in rows], pa.int64()),
        "id": pa.array([r["id"] for r in rows], pa.string()),
        "shard": pa.array([r["shard"] for r in rows], pa.string()),
        "row": pa.array([r["key"] & 0xFFFF for r in rows], pa.int64()),
        "content_hash": pa.array([r["content_hash"] for r in rows], pa.string()),
        "quality": pa.nulls(len(rows), pa.float64()),
        "response_chars": pa.array([r["response_chars"] for r in rows], pa.int64()),
        "instruction_chars": pa.array([10] * len(rows), pa.int64()),
        "n_turns": pa.array([2] * len(rows), pa.int64()),
        "signature": pa.array([np.asarray(r["sig"], dtype="<u4").tobytes() for r in rows], pa.binary(4 * width)),
        "is_reference": pa.array([False] * len(rows)),
    }
    return pa.RecordBatch.from_pydict(cols)


def _choose(batches, params):
    """What ChooseKeepFn yields for one partition: the duplicates/ batch, totals and counts per shard."""
    out, totals, per_shard = choose_keep(pa.Table.from_batches(batches), params)
    assert out.schema.equals(DUPLICATES)
    return {r["id"]: r for r in out.to_pylist()}, totals, {shard: counts.tolist() for shard, counts in per_shard.items()}


def test_choose_keep_fn_splits_chains_and_keeps_by_rule():
    params = dedup_params(8, keep=["-response_chars", "id"], verify_threshold=0.35, part_threshold=0.1)
    prompt = list(range(100, 108))
    a, b, c = list(range(8)), [0, 1, 2, 3, 14, 15, 16, 17], [20, 21, 22, 23, 14, 15, 16, 17]
    rows = [
        # A chain a ~ b ~ c, a !~ c; a has the longest answer.
        dict(component=10, key=30, id="a", shard="s1", content_hash="h-a", response_chars=300, sig=prompt + a),
        dict(component=10, key=10, id="b", shard="s1", content_hash="h-b", response_chars=200, sig=prompt + b),
        dict(component=10, key=11, id="c", shard="s2", content_hash="h-c", response_chars=100, sig=prompt + c),
        # Exact copies.
        dict(component=40, key=40, id="e", shard="s2", content_hash="h-d", response_chars=50, sig=prompt + a),
        dict(component=40, key=41, id="d", shard="s2", content_hash="h-d", response_chars=50, sig=prompt + a),
        # Linked (say by an exact-Jaccard check) but below the threshold by estimate: both split off.
        dict(component=50, key=50, id="f", shard="s1", content_hash="h-f", response_chars=5, sig=prompt + a),
        dict(
            component=50,
            key=51,
            id="g",
            shard="s1",
            content_hash="h-g",
            response_chars=5,
            sig=[*prompt, 0, 1, *list(range(60, 66))],
        ),
    ]
    batches = [_members(rows[::2], params.width), _members(rows[1::2], params.width)]
    dups, totals, per_shard = _choose(batches, params)
    assert set(dups) == {"a", "b", "d", "e"}
    assert dups["a"]["keep"] and not dups["b"]["keep"] and dups["b"]["kept_id"] == "a"
    assert dups["a"]["cluster_id"] == dups["b"]["cluster_id"] == 10  # the smallest key, not the kept row's
    assert dups["b"]["similarity"] == pytest.approx(0.5) and not dups["b"]["exact"]
    assert dups["d"]["keep"] and dups["e"]["kept_id"] == "d"  # equal lengths: the smaller id
    assert dups["e"]["exact"] and dups["e"]["similarity"] == 1.0 and dups["d"]["exact"]
    assert {r["cluster_size"] for r in dups.values()} == {2}
    assert totals == {"clusters": 2, "split_off_rows": 3, "matched_reference": 0}
    assert per_shard == {"s1": [2, 1, 0], "s2": [2, 1, 1]}
    # A partition whose components all fall apart yields an empty batch (no crash on zero rows).
    dups, totals, per_shard = _choose([_members(rows[5:], params.width)], params)
    assert dups == {} and totals == {"clusters": 0, "split_off_rows": 2, "matched_reference": 0} and per_shard == {}
    # By id alone, b (not the longest) would win the chain and take a and c.
    by_id = dedup_params(8, keep=["id"], verify_threshold=0.35, part_threshold=0.1)
    rows[1]["id"] = "0b"
    dups, totals, _ = _choose([_members(rows[:3], by_id.width)], by_id)
    assert set(dups) == {"a", "0b", "c"} and dups["0b"]["keep"] and dups["c"]["kept_id"] == "0b"


def test_a_settled_row_never_joins_an_earlier_row_but_new_rows_join_either():
    params = dedup_params(10, text="response", verify_threshold=0.5)
    a = np.arange(10, dtype=np.uint32)
    sig = np.stack([a, a, a, a])  # all alike: reference, settled, new, settled-copy-of-nothing (new)
    comp = np.zeros(4, np.int64)
    reference = np.array([True, False, False, False])
    settled = np.array([False, True, False, False])
    kept_of, is_kept = split_clusters(comp, sig, params, None, settled, reference | settled)
    # The settled row stays its own kept row; the new rows join the first row (the reference).
    assert kept_of.tolist() == [0, 1, 0, 0] and is_kept.tolist() == [True, True, False, False]
    # Two settled rows: neither joins the other.
    both = np.array([False, True, True, False])
    assert split_clusters(comp, sig, params, None, both, reference | both)[0].tolist() == [0, 1, 2, 0]
    # Without settled rows (a plain run) everything joins the first row, as before.
    assert split_clusters(comp, sig, params)[0].tolist() == [0, 0, 0, 0]
