"""Histograms merged all at once equal the one-by-one fold (transforms.summary.histograms, report.sources)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from winnow.transforms.report.sources import Source
from winnow.transforms.summary.histograms import Histogram, merge_map_list, merge_maps


def _hist(values: list[float | None]) -> Histogram:
    return Histogram.of(pa.array(values, pa.float64()))


def test_merge_all_equals_the_pairwise_fold_in_any_order() -> None:
    rng = np.random.default_rng(3)
    hs = [_hist([*rng.normal(0, 5, 50).tolist(), None]) for _ in range(7)]
    folded = hs[0]
    for h in hs[1:]:
        folded = folded.merge(h)
    for order in (hs, hs[::-1]):
        merged = Histogram.merge_all(list(order))
        assert np.array_equal(merged.keys, folded.keys) and np.array_equal(merged.counts, folded.counts)
        assert merged.nulls == folded.nulls == 7 and merged.n == 350
    assert Histogram.merge_all([]).n == 0 and Histogram.merge_all([hs[0]]) is hs[0]


def test_a_source_reads_the_same_histograms_as_merging_shard_by_shard() -> None:
    shards = [
        {"shard": f"s{i}", "rows_read": 3, "hist": {"a": _hist([i, i + 0.5]), **({"b": _hist([i])} if i % 2 else {})}}
        for i in range(5)
    ]
    source = Source("all")
    for s in shards:
        source.add(s)
    by_fold: dict[str, Histogram] = {}
    for s in shards:
        by_fold = merge_maps(by_fold, s["hist"])
    assert list(source.hist) == list(by_fold) == ["a", "b"]
    for c, h in by_fold.items():
        assert np.array_equal(source.hist[c].keys, h.keys) and np.array_equal(source.hist[c].counts, h.counts)
    source.add({"shard": "s9", "hist": {"a": _hist([100.0])}})  # added after a read: still counted
    assert source.hist["a"].n == 11 and merge_map_list([]) == {}
