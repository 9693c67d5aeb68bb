"""Beam-level tests of the scoring transforms (TestPipeline) and of shard statistics."""

from __future__ import annotations

import json
import pickle

import apache_beam as beam
import pytest
import pyarrow as pa
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from winnow.transforms.config import load_config
from winnow.transforms.io.formats import FieldMap
from winnow.transforms.io.canonical import normalize_rows
from winnow.transforms.signals.rules import load_rules
from winnow.transforms.signals.scorer import Scorer
from winnow.transforms.io.inputs import Shard, match_inputs
from winnow.transforms.io.readers import RawRow
from winnow.transforms.beam.scoring import REJECTED_TAG, STATS_TAG, MergeStatsFn, ReadableParts, ScoreShardFn
from winnow.transforms.summary.shard_stats import ShardStats, merge_all, shards_table

CONFIG = load_config()
RULES = load_rules(CONFIG["rules"])


def _write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")


@pytest.mark.parametrize("split_bytes", [0, 20])
def test_score_shard_fn_outputs_records_dead_letters_and_stats(tmp_path, split_bytes):
    """The same rows, row numbers and per-shard counts whether a file is read whole or in parts."""
    good = {"instruction": "Say hello politely to a new colleague.", "input": "", "output": "Hello, welcome to the team!"}
    empty = {"instruction": "Say hello.", "input": "", "output": ""}
    _write_jsonl(tmp_path / "a.jsonl", [good, "{broken", empty])
    _write_jsonl(tmp_path / "b.jsonl", [good])
    shards, _ = match_inputs([str(tmp_path)])
    with TestPipeline() as p:
        out = (
            p
            | ReadableParts(shards, split_bytes)
            | beam.ParDo(ScoreShardFn(CONFIG, RULES, str(tmp_path / "out"))).with_outputs(REJECTED_TAG, STATS_TAG, main="records")
        )
        rows = out.records | beam.FlatMap(lambda b: b.to_pylist()) | beam.Map(lambda r: (r["id"], r["flags"]))
        assert_that(rows, equal_to([("a.jsonl:0", []), ("a.jsonl:2", ["empty_response"]), ("b.jsonl:0", [])]), label="records")
        dead = out[REJECTED_TAG] | "dl" >> beam.FlatMap(lambda b: b.to_pylist()) | beam.Map(lambda r: (r["shard"], r["row"], r["reason"].split(":")[0]))
        assert_that(dead, equal_to([("a.jsonl", 1, "invalid_json")]), label="rejected")
        counts = (
            out[STATS_TAG]
            | beam.CombinePerKey(MergeStatsFn())
            | beam.Map(lambda kv: (kv[0], kv[1].rows_read, kv[1].rows_scored, kv[1].rows_rejected))
        )
        assert_that(counts, equal_to([("a.jsonl", 3, 2, 1), ("b.jsonl", 1, 1, 0)]), label="stats")


def _scored_batch(rows, name="s.jsonl", index=0):
    shard = Shard(index, name, name, 0)
    raw = [RawRow(i, r, None, "") for i, r in enumerate(rows)]
    batch, rejected = normalize_rows(raw, shard, FieldMap.from_config(CONFIG))
    return Scorer(CONFIG, RULES).score(batch), rejected


def test_shard_stats_merge_equals_one_pass_and_survives_pickling():
    rows = [{"instruction": f"Question number {i}?", "output": "Answer " * (i % 7 + 1)} for i in range(300)]
    whole, _ = _scored_batch(rows)
    one = ShardStats("s", 0)
    one.add_batch(whole, [], whole.num_rows)
    parts = [ShardStats("s", 0) for _ in range(3)]
    for k, part in enumerate(parts):
        sl = whole.slice(k * 100, 100)
        part.add_batch(sl, [], sl.num_rows)
    merged = pickle.loads(pickle.dumps(parts[0])).merge(pickle.loads(pickle.dumps(parts[1]))).merge(parts[2])
    assert merged.rows_scored == one.rows_scored == 300
    assert merged.flag_counts == one.flag_counts
    assert merged.langs == one.langs
    assert merged.quantiles("response_words") == one.quantiles("response_words")
    assert one.quantiles("response_words")[1] == 4.0  # median of 1..7 words


def test_shards_table_and_dataset_merge():
    a_batch, _ = _scored_batch([{"instruction": "Hi there, how are you?", "output": ""}], "a", 0)
    b_batch, _ = _scored_batch([{"instruction": "Name a fruit please.", "output": "An apple is a fruit."}], "b", 1)
    a, b = ShardStats("a", 0), ShardStats("b", 1)
    a.add_batch(a_batch, [{"reason": "invalid_json: x"}], 2)
    b.add_batch(b_batch, [], 1)
    table = shards_table([b, a])
    assert table.column("shard").to_pylist() == ["a", "b"]
    assert table.column("rows_read").to_pylist() == [2, 1]
    assert table.schema.field("sketch_response_chars").type == pa.binary()
    total = merge_all([a, b]).as_json({r.name: r.severity for r in RULES}, {r.name: r.explain for r in RULES})
    assert (total["rows_read"], total["rows_scored"], total["rows_rejected"]) == (3, 2, 1)
    assert total["reject_reasons"] == {"invalid_json": 1}
    empty_rule = next(r for r in total["rules"] if r["name"] == "empty_response")
    assert empty_rule["rows"] == 1 and empty_rule["severity"] == "drop" and empty_rule["rate"] == 0.5
    assert total["error_rate"] == 0.5
