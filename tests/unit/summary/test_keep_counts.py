"""Kept and dropped rows per reason group, merged over parts, folded into the shard summary."""

from __future__ import annotations

import pyarrow as pa

from winnow.transforms.summary.keep_counts import KeepTally, KeptFile, merge_parts
from winnow.transforms.summary.shard_stats import ShardStats, shards_table


def _tally(keep: list[bool], reasons: list[list[str]], files: list[KeptFile] | None = None) -> KeepTally:
    t = KeepTally(files=files or [])
    t.add(pa.array(keep), pa.array(reasons, pa.list_(pa.string())))
    return t


def test_reasons_are_counted_by_group_a_row_once_in_each_of_its_groups():
    t = _tally(
        [True, False, False, False],
        [[], ["near_duplicate_of:a", "rule:x"], ["near_duplicate_of:b"], ["below_min:composite<0.5", "rule:x"]],
    )
    assert (t.rows_kept, t.rows_dropped) == (1, 3)
    assert t.reasons == {"near_duplicate": 2, "rule:x": 2, "below_min:composite": 1}


def test_parts_merge_in_part_order_with_their_files():
    a = _tally([True], [[]], [KeptFile("kept/a.part-00001.jsonl", 1, 10)])
    b = _tally([False], [["rule:x"]], [KeptFile("kept/a.part-00000.jsonl", 0, 0)])
    merged = merge_parts({1: a, 0: b})
    assert (merged.rows_kept, merged.rows_dropped, merged.rows_in_files) == (1, 1, 1)
    assert [f.path for f in merged.files] == ["kept/a.part-00000.jsonl", "kept/a.part-00001.jsonl"]


def test_the_shard_summary_carries_kept_dropped_and_reasons():
    s = ShardStats("a.jsonl", 0)
    s.set_keep(_tally([True, False], [[], ["rule:x"]], [KeptFile("kept/a.jsonl", 1, 5)]))
    other = ShardStats("b.jsonl", 1)
    other.set_keep(_tally([False], [["near_duplicate_of:z"]]))
    row = shards_table([s, other]).to_pylist()
    assert [(r["rows_kept"], r["rows_dropped"], r["drop_reasons"]) for r in row] == [
        (1, 1, [{"key": "rule:x", "count": 1}]),
        (0, 1, [{"key": "near_duplicate", "count": 1}]),
    ]
    total = ShardStats("*", -1).merge(s).merge(other)
    view = total.as_json({}, {})
    assert (view["rows_kept"], view["rows_dropped"], view["drop_reasons"]) == (1, 2, {"near_duplicate": 1, "rule:x": 1})
    assert [f.path for f in total.kept_files] == ["kept/a.jsonl"]
