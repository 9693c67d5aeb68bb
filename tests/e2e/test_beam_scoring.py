"""The scoring DoFns on Beam (TestPipeline): records, dead letters and per-shard statistics."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from conftest import write_jsonl

from winnow.transforms.beam.scoring import REJECTED_TAG, STATS_TAG, MergeStatsFn, ReadableParts, ScoreShardFn
from winnow.transforms.config import load_config
from winnow.transforms.io.inputs import match_inputs
from winnow.transforms.signals.rules import load_rules

pytestmark = pytest.mark.slow

CONFIG = load_config()
RULES = load_rules(CONFIG.rules)


@pytest.mark.parametrize("split_bytes", [0, 20])
def test_score_shard_fn_outputs_records_dead_letters_and_stats(tmp_path, split_bytes):
    """The same rows, row numbers and per-shard counts whether a file is read whole or in parts."""
    good = {"instruction": "Say hello politely to a new colleague.", "input": "", "output": "Hello, welcome to the team!"}
    empty = {"instruction": "Say hello.", "input": "", "output": ""}
    write_jsonl(tmp_path / "a.jsonl", [good, "{broken", empty])
    write_jsonl(tmp_path / "b.jsonl", [good])
    shards, _ = match_inputs([str(tmp_path)])
    with TestPipeline() as p:
        out = (
            p
            | ReadableParts(shards, split_bytes)
            | beam.ParDo(ScoreShardFn(CONFIG, RULES, str(tmp_path / "out"))).with_outputs(REJECTED_TAG, STATS_TAG, main="records")
        )
        rows = out.records | beam.FlatMap(lambda b: b.to_pylist()) | beam.Map(lambda r: (r["id"], r["flags"]))
        assert_that(rows, equal_to([("a.jsonl:0", []), ("a.jsonl:2", ["empty_response"]), ("b.jsonl:0", [])]), label="records")
        dead = (
            out[REJECTED_TAG]
            | "dl" >> beam.FlatMap(lambda b: b.to_pylist())
            | beam.Map(lambda r: (r["shard"], r["row"], r["reason"].split(":")[0]))
        )
        assert_that(dead, equal_to([("a.jsonl", 1, "invalid_json")]), label="rejected")
        counts = (
            out[STATS_TAG]
            | beam.CombinePerKey(MergeStatsFn())
            | beam.Map(lambda kv: (kv[0], kv[1].rows_read, kv[1].rows_scored, kv[1].rows_rejected))
        )
        assert_that(counts, equal_to([("a.jsonl", 3, 2, 1), ("b.jsonl", 1, 1, 0)]), label="stats")
