"""Repeated and replaced ids: hashing, partitioning, counting and the report, on arrays."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pyarrow as pa
from conftest import alpaca

from winnow.transforms.config import load_config
from winnow.transforms.io.canonical import normalize_batch, own_id
from winnow.transforms.io.formats import FieldMap
from winnow.transforms.io.inputs import Shard
from winnow.transforms.io.readers import RawRow
from winnow.transforms.schema import row_key
from winnow.transforms.summary.ids import (
    IdCollector,
    IdTally,
    count_repeats,
    id_hashes,
    id_partitions,
    own_ids,
    report_lines,
)

NAMES = {0: "a.jsonl", 1: "b.jsonl", 2: "sub/c.jsonl"}


def _batch(shard: int, ids: list[str], first_row: int = 0) -> pa.RecordBatch:
    rows = list(range(first_row, first_row + len(ids)))
    return pa.RecordBatch.from_pydict(
        {
            "key": pa.array([row_key(shard, r) for r in rows], pa.int64()),
            "id": pa.array(ids, pa.string()),
            "shard": pa.array([NAMES[shard]] * len(ids), pa.string()),
            "row": pa.array(rows, pa.int64()),
        }
    )


def _tally(batches: list[pa.RecordBatch], partitions: int, flush_rows: int = 1 << 20) -> IdTally:
    """The run's tally the way the pipeline builds it: chunks per part, grouped by partition, counted, merged."""
    grouped: dict[int, list] = {}
    total = IdTally()
    for batch in batches:
        collector = IdCollector(partitions, flush_rows)
        for chunks in (collector.add(batch, {}), collector.flush()):
            for part, chunk in chunks.items():
                grouped.setdefault(part, []).append(chunk)
        total = total.merge(collector.tally)
    for chunks in grouped.values():
        total = total.merge(count_repeats(chunks, NAMES))
    return total


def test_id_hashes_are_128_bit_blake2b():
    got = id_hashes(pa.array(["7", "7", "x", ""]))
    assert got.shape == (4, 2) and got.dtype == np.uint64
    want = int.from_bytes(hashlib.blake2b(b"7", digest_size=16).digest(), "big")
    assert (int(got[0, 0]) << 64) | int(got[0, 1]) == want
    assert (got[0] == got[1]).all() and not (got[0] == got[2]).all()


def test_own_ids_are_null_where_the_id_is_the_rows_place():
    assert own_ids(_batch(2, ["sub/c.jsonl:0", "7", "a.jsonl:2"])).to_pylist() == [None, "7", "a.jsonl:2"]


def test_repeats_are_counted_across_shards_and_partitions():
    # "7" on three rows of two files (an integer 7 and a string "7" both read as "7"), "q" twice, the rest once.
    batches = [_batch(0, ["7", "p", "q", "a.jsonl:3"]), _batch(1, ["q", "7", "7", "r"]), _batch(2, ["sub/c.jsonl:0", "s"])]
    for partitions in (1, 3, 64):
        tally = _tally(batches, partitions, flush_rows=2)
        assert (tally.repeated_ids, tally.rows_with_repeated_id, tally.rows_with_own_id) == (2, 5, 8), partitions
        assert [e.as_json() for e in tally.examples] == [
            {
                "id": "7",
                "rows": 3,
                "at": [{"shard": "a.jsonl", "row": 0}, {"shard": "b.jsonl", "row": 1}, {"shard": "b.jsonl", "row": 2}],
            },
            {"id": "q", "rows": 2, "at": [{"shard": "a.jsonl", "row": 2}, {"shard": "b.jsonl", "row": 0}]},
        ]


def test_a_place_id_repeated_by_an_own_id_is_named_from_the_key():
    # b.jsonl's row 0 calls itself "a.jsonl:0", which is a.jsonl's row 0's place id.
    tally = _tally([_batch(0, ["a.jsonl:0"]), _batch(1, ["a.jsonl:0"])], 4)
    assert [e.as_json() for e in tally.examples] == [
        {"id": "a.jsonl:0", "rows": 2, "at": [{"shard": "a.jsonl", "row": 0}, {"shard": "b.jsonl", "row": 0}]}
    ]


def test_examples_are_the_first_repeats_whatever_the_merge_order():
    ids = [f"id{i // 2}" for i in range(20)]  # ten ids, each twice
    collector = IdCollector(8)
    collector.add(_batch(0, ids), {})
    parts = [count_repeats(list(collector.flush().values()), NAMES)]
    parts += [IdTally(rows_with_own_id=3, replaced={"float": 1}), IdTally(replaced={"bool": 2, "float": 1})]
    merged = [parts[0].merge(parts[1]).merge(parts[2]), parts[2].merge(parts[1].merge(parts[0]))]
    assert merged[0].as_json() == merged[1].as_json()
    assert [e["id"] for e in merged[0].as_json()["examples"]] == ["id0", "id1", "id2", "id3", "id4"]
    assert merged[0].as_json()["replaced"] == {"bool": 2, "float": 2}


def test_replaced_ids_are_counted_by_type():
    values = [7, 2.5, True, {"a": 1}, [1], "", None, 7.0, "7"]
    raw = [RawRow(i, {**alpaca(None, f"Question {i}?", f"Answer {i}."), "id": v}, None, "") for i, v in enumerate(values)]
    out = normalize_batch(raw, Shard(0, "/x/a.jsonl", "a.jsonl", 0), FieldMap.from_config(load_config()))
    assert out.replaced_ids == {"float": 1, "bool": 1, "object": 1, "array": 1, "empty": 1}
    assert Counter(own_id({"id": v}, "id")[1] for v in values) == Counter(
        {None: 4, "float": 1, "bool": 1, "object": 1, "array": 1, "empty": 1}
    )


def test_report_lines():
    ids = {
        "repeated_ids": 3,
        "rows_with_repeated_id": 7,
        "examples": [{"id": "7", "rows": 2, "at": [{"shard": "a.jsonl", "row": 0}, {"shard": "b.jsonl", "row": 4}]}],
        "rows_with_own_id": 10,
        "replaced": {"float": 2, "object": 1},
    }
    assert report_lines(ids) == [
        'warning: 3 ids appear more than once, on 7 rows (e.g. "7" in a.jsonl:0 and b.jsonl:4); ids are not unique',
        "ids replaced by <shard>:<row>: 3 (float 2, object 1); the original values are in meta",
    ]
    one = {**ids, "repeated_ids": 1, "rows_with_repeated_id": 5, "replaced": {}}
    one["examples"] = [{"id": "q", "rows": 5, "at": [{"shard": "a.jsonl", "row": r} for r in range(3)]}]
    assert report_lines(one) == [
        'warning: 1 id appears more than once, on 5 rows (e.g. "q" in a.jsonl:0, a.jsonl:1, a.jsonl:2 and 2 more); ids are not unique'
    ]
    assert report_lines({**ids, "repeated_ids": 0, "replaced": {}}) == [] and report_lines(None) == []


def test_id_partitions_grow_with_the_input():
    assert id_partitions(0) == 64 and id_partitions(1 << 40) == 256 and id_partitions(1 << 50) == 1024
