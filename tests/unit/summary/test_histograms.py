"""The report's summaries: histograms of every numeric column, the what-if rows, flag pairs, examples, clusters.

Each is mergeable: any split into parts and any merge order gives the same
result (the same bytes for histograms), and each is bounded.
"""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest

from winnow.transforms.summary.clusters import ClusterTally
from winnow.transforms.summary.column_histograms import ColumnHistograms, otherwise_kept, whatif_columns
from winnow.transforms.summary.examples import Examples
from winnow.transforms.summary.histograms import Histogram, bucket_edges, bucket_of
from winnow.transforms.summary.shard_stats import flag_pairs


def test_buckets_keep_value_order_and_hold_their_values():
    rng = np.random.default_rng(0)
    x = np.sort(np.concatenate([rng.random(2000), rng.lognormal(3, 2, 2000), -rng.random(200) * 50, [0.0, 1.0, 1e12]]))
    keys = bucket_of(x)
    assert np.all(np.diff(keys) >= 0)
    lo, hi = bucket_edges(keys)
    assert np.all((lo <= x) & (x < hi) | (x < 0) & (lo < x) & (x <= hi))
    # Scores: 1/256 wide below 1; above 1 within 1/64 of the value; integers below 128 exact.
    assert np.all((hi - lo)[(x >= 0) & (x < 1)] <= 1 / 256 + 1e-12)
    assert np.all(((hi - lo) / np.maximum(lo, 1))[x >= 1] <= 1 / 64 + 1e-12)
    h = Histogram.of(pa.array(np.arange(128), pa.int64()))
    assert h.values().tolist() == list(range(128))


def test_merge_order_and_batching_give_the_same_bytes():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.random(5000), rng.lognormal(2, 1, 5000)])
    whole = Histogram.of(pa.array(values)).to_bytes()
    parts = [Histogram.of(pa.array(p)) for p in np.array_split(values, 7)]
    for order in itertools.islice(itertools.permutations(parts), 20):
        merged = order[0]
        for p in order[1:]:
            merged = merged.merge(p)
        assert merged.to_bytes() == whole
    back = Histogram.from_bytes(whole)
    assert back.to_bytes() == whole and back.n == len(values)


def test_nulls_nan_and_infinities_are_counted_apart():
    h = Histogram.of(pa.array([0.5, None, float("nan"), float("inf"), 0.25]))
    assert (h.n, h.nulls) == (2, 3)


def test_counts_at_bucket_edges_are_exact():
    rng = np.random.default_rng(2)
    values = rng.random(10_000)
    h = Histogram.of(pa.array(values))
    thresholds = np.arange(129) / 128
    assert h.at_least(thresholds).tolist() == [int((values >= t).sum()) for t in thresholds]


def test_quantiles_within_a_bucket_and_zero_and_one_reported_exactly():
    values = np.array([0.0] * 50 + [1.0] * 50)
    assert Histogram.of(pa.array(values)).quantiles([0.1, 0.9]) == [0.0, 1.0]
    x = np.random.default_rng(3).lognormal(4, 1, 5000)
    q = Histogram.of(pa.array(x)).quantiles([0.5])[0]
    assert abs(q - np.quantile(x, 0.5, method="inverted_cdf")) / q <= 1 / 64


def test_otherwise_kept_rows_are_those_only_the_columns_threshold_drops():
    keep = pa.array([True, False, False, False, False])
    reasons = pa.array(
        [
            [],
            ["below_min:composite<0.5"],
            ["missing:composite"],
            ["rule:x", "below_min:composite<0.5"],
            ["below_min:quality<0.2"],
        ],
        pa.list_(pa.string()),
    )
    assert otherwise_kept(keep, reasons, "composite").tolist() == [True, True, True, False, False]
    assert otherwise_kept(keep, reasons, "quality").tolist() == [True, False, False, False, True]


def _decided() -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {
            "key": pa.array([1, 2, 3, 4], pa.int64()),
            "row": pa.array([1, 2, 3, 4], pa.int64()),
            "response_words": pa.array([3, 5, 8, 13], pa.int64()),
            "composite": pa.array([0.9, 0.2, None, 0.7], pa.float32()),
            "n_media": pa.array([0, 0, 0, 1], pa.int32()),
            "flags": pa.array([[], ["a", "b"], ["b"], ["a", "b", "c"]], pa.list_(pa.string())),
            "keep": [True, False, False, False],
            "drop_reasons": pa.array([[], ["below_min:composite<0.5"], ["missing:composite"], ["rule:a"]], pa.list_(pa.string())),
        }
    )


def test_column_histograms_count_every_row_and_the_whatif_rows():
    h = ColumnHistograms()
    h.add(_decided(), ("composite",))
    assert set(h.hist) == {"response_words", "composite", "n_media"}  # key and row are not signals
    assert h.hist["composite"].n == 3 and h.hist["composite"].nulls == 1
    assert set(h.whatif) == {"response_words", "composite"} == set(whatif_columns(_decided().schema, ("composite",)))
    # composite: kept row + the one below its threshold + the null one; the rule:a row is not.
    assert (h.whatif["composite"].n, h.whatif["composite"].nulls) == (2, 1)
    assert h.whatif["response_words"].n == 1  # only the kept row: nothing else is about response_words
    row = h.as_row()
    assert Histogram.from_bytes(row["hist_composite"]).to_bytes() == h.hist["composite"].to_bytes()


def test_flag_pairs_count_rows_with_both_rules():
    assert flag_pairs(_decided().column("flags")) == {"a|b": 2, "a|c": 1, "b|c": 1}


def test_examples_are_a_bottom_k_sample_that_merges():
    batch = _decided()
    whole = Examples(k=1)
    whole.add_decided(batch)
    parts = [Examples(k=1), Examples(k=1)]
    parts[0].add_decided(batch.slice(0, 2))
    parts[1].add_decided(batch.slice(2))
    assert parts[1].merge(parts[0]).groups == whole.groups
    assert {g for _, g in whole.groups} == {"a", "b", "c", "rule:a", "below_min:composite", "missing:composite"}


def test_examples_of_dead_letters_per_reason():
    e = Examples(k=2)
    e.add_rejected([{"shard": "s", "row": i, "reason": "invalid_json: at 3", "raw": "<script>" * 200} for i in range(5)], 0)
    rows = e.rows()
    assert [r["group"] for r in rows] == ["invalid_json"] * 2
    assert len(rows[0]["raw"]) <= 401


def _cluster_batch(keys: list[int]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({"key": pa.array(keys, pa.int64()), "id": [str(k) for k in keys], "row": keys})


@pytest.mark.parametrize("split", [1, 2, 3, 5])
def test_largest_clusters_merge_to_the_datasets_top_n(split):
    # 12 clusters of sizes 2..13: cluster c has keys c*100 .. c*100 + size - 1, kept row the first.
    keys, dup = [], {"key": [], "keep": [], "cluster_id": [], "cluster_size": [], "similarity": []}
    for c in range(12):
        size = 2 + c
        for j in range(size):
            keys.append(c * 100 + j)
            for name, v in zip(dup, (c * 100 + j, j == 0, c * 100, size, 1.0)):
                dup[name].append(v)
    duplicates = pa.table(dup)
    order = np.random.default_rng(split).permutation(len(keys))
    tallies = []
    for chunk in np.array_split(order, split):
        t = ClusterTally(n=3)
        t.add(_cluster_batch(sorted(keys[i] for i in chunk)), duplicates)
        tallies.append(t)
    total = tallies[0]
    for t in tallies[1:]:
        total.merge(t)
    assert list(total.largest) == [1100, 1000, 900]
    for c, entry in total.largest.items():
        assert entry["kept"]["key"] == c and entry["member"]["key"] == c + 1
    assert total.sizes.n == 12  # one per cluster, counted at its kept row


def test_cluster_sizes_and_largest_follow_the_whole_nights_clusters():
    # This shard's rows 0..5 as its job clustered them: kept 0 with copies 1, 2 (size 3); kept 3 with copy 4
    # (size 2); copy 5 of a kept row in another shard (size 2).
    dup = {
        "key": [0, 1, 2, 3, 4, 5],
        "keep": [True, False, False, True, False, False],
        "cluster_id": [0, 0, 0, 3, 3, 9],
        "cluster_size": [3, 3, 3, 2, 2, 2],
        "similarity": [1.0] * 6,
    }
    t = ClusterTally(n=3)
    t.add(_cluster_batch(list(range(6))), pa.table(dup))
    assert {c: e["size"] for c, e in t.largest.items()} == {0: 3, 3: 2, 9: 2}
    # The night's merge: cluster 0 gains two copies in reused shards (size 5, its id another shard's smaller
    # key); row 4 left cluster 3, which is gone (row 3 alone); row 5's cluster is 7 tonight.
    night = pa.table(
        {
            "row": pa.array([0, 1, 2, 5], pa.int64()),
            "cluster_id": pa.array([-8, -8, -8, 7], pa.int64()),
            "cluster_size": pa.array([5, 5, 5, 2], pa.int64()),
            "keep": [True, False, False, False],
        }
    )
    t.resize(night)
    assert t.sizes.values().tolist() == [5]  # one cluster counted at its kept row here
    assert {c: (e["size"], e["kept"] and e["kept"]["row"], e["member"] and e["member"]["row"]) for c, e in t.largest.items()} == {
        -8: (5, 0, 1),
        7: (2, None, 5),
    }
    # A kept example that is now a copy is left out; its member stays when it is still one.
    t.resize(night.set_column(3, "keep", pa.array([False, False, False, False])))
    assert {c: (e["kept"], e["member"] and e["member"]["row"]) for c, e in t.largest.items()} == {-8: (None, 1), 7: (None, 5)}
    assert t.sizes.n == 0
