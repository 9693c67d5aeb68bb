"""Shard statistics: merging equals one pass (and survives pickling), the same rows give the same
sketches, unknown languages count as `und`, the shards table and the dataset totals."""

from __future__ import annotations

import pickle
import random
from collections import Counter

import numpy as np
import pyarrow as pa
from conftest import normalize

from winnow.transforms.config import load_config
from winnow.transforms.signals.rules import load_rules
from winnow.transforms.signals.scorer import Scorer
from winnow.transforms.summary.shard_stats import QUANTILES, SKETCHED, ShardStats, merge_all, shards_table

CONFIG = load_config()
RULES = load_rules(CONFIG.rules)


def _scored_batch(rows, name="s.jsonl", index=0):
    batch, rejected = normalize(rows, name, index, config=CONFIG)
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


def test_same_rows_give_the_same_sketches_and_quantiles():
    """Issue 10: KLL sketches, seeded from the clock, gave other p10-p99 (and bytes) on every run past 200 rows."""
    rng = random.Random(5)
    rows = [
        {"instruction": "Tell me " + "more " * rng.randint(0, 300), "output": "word " * int(rng.lognormvariate(4, 1.2))}
        for _ in range(1000)
    ]
    whole, _ = _scored_batch(rows)

    def stats_in_batches(size: int) -> ShardStats:
        stats = ShardStats("s", 0)
        for start in range(0, whole.num_rows, size):
            part = whole.slice(start, size)
            stats.add_batch(part, [], part.num_rows)
        return stats

    runs = [stats_in_batches(100).as_row(), stats_in_batches(100).as_row(), stats_in_batches(333).as_row()]
    for name in SKETCHED:
        columns = [f"sketch_{name}"] + [f"{name}_p{int(q * 100)}" for q in QUANTILES]
        assert [[r[c] for c in columns] for r in runs[1:]] == [[runs[0][c] for c in columns]] * 2, name
        values = whole.column(name).to_numpy()
        for q in QUANTILES:
            want = float(np.quantile(values, q, method="inverted_cdf"))
            assert abs(runs[0][f"{name}_p{int(q * 100)}"] - want) <= want / 128, (name, q)
    assert max(whole.column("response_chars").to_pylist()) > 1000  # past the exact range (< 128)


def test_rows_without_a_language_count_as_und():
    rows = [
        {"instruction": "Name a fruit please.", "output": "An apple is a fruit."},
        {"instruction": "", "output": ""},
        {"instruction": " ", "output": " "},
    ]
    batch, _ = _scored_batch(rows)
    assert batch.column("lang").to_pylist() == ["en", "", ""]  # no text, no language
    stats = ShardStats("s", 0)
    stats.add_batch(batch, [], batch.num_rows)
    assert stats.langs == Counter({"und": 2, "en": 1})
    assert shards_table([stats]).column("lang_counts").to_pylist() == [[{"key": "en", "count": 1}, {"key": "und", "count": 2}]]
    assert stats.as_json({}, {})["languages"] == {"und": 2, "en": 1}


def _shards_with_samples(n: int) -> list[ShardStats]:
    """`n` shards of 40 scored rows each, with distinct shingle hashes and a response sample of 8."""
    stats = []
    for index in range(n):
        rows = [{"instruction": f"Question {index}-{i}?", "output": f"Answer {index} {i} about cedar " * 3} for i in range(40)]
        batch, _ = _scored_batch(rows, f"s{index}", index)
        s = ShardStats(f"s{index}", index)
        s.add_batch(batch, [], batch.num_rows)
        s.add_diversity(batch, np.arange(index * 100, index * 100 + 50, dtype=np.uint64), 8)
        stats.append(s)
    return stats


def test_the_dataset_total_leaves_every_shards_own_sketches_unchanged():
    """A night keeps each shard's statistics for later nights, so merging them into a total must not grow
    the first shard's distinct-n-gram sketch or response sample in place."""
    stats = _shards_with_samples(3)
    before = [pickle.dumps((s.ngrams.registers, s.sample.items)) for s in stats]
    total = merge_all(stats)
    assert [pickle.dumps((s.ngrams.registers, s.sample.items)) for s in stats] == before
    assert total.ngrams is not stats[0].ngrams and total.sample is not stats[0].sample
    assert total.ngrams.estimate() > stats[0].ngrams.estimate()


def test_a_summary_without_the_dataset_self_bleu_still_has_each_shards(tmp_path):
    """A night's job over part of the corpus skips the dataset's Self-BLEU (the night's own summary has it)."""
    import pyarrow.parquet as pq

    from winnow.transforms.summary.dataset import write_summary

    stats = _shards_with_samples(2)
    without = write_summary(stats, str(tmp_path / "a"), RULES, CONFIG, dataset_self_bleu=False)
    with_it = write_summary(stats, str(tmp_path / "b"), RULES, CONFIG)
    assert without["diversity"]["self_bleu"] is None and with_it["diversity"]["self_bleu"] is not None
    per_shard = [pq.read_table(tmp_path / d / "summary" / "shards.parquet").column("self_bleu").to_pylist() for d in "ab"]
    assert per_shard[0] == per_shard[1] and None not in per_shard[0]


def test_the_dataset_self_bleu_is_read_from_the_memo_only_for_the_same_sample(tmp_path):
    """A night hands write_summary last night's memo: used when the sample's digest is the same, else computed."""
    from winnow.transforms.summary.dataset import DatasetSelfBleu, write_summary

    stats = _shards_with_samples(2)
    memo = DatasetSelfBleu()
    first = write_summary(stats, str(tmp_path / "a"), RULES, CONFIG, self_bleu_memo=memo)
    assert memo.memo is not None and memo.memo[1] == first["diversity"]["self_bleu"]
    assert DatasetSelfBleu.from_json(memo.as_json()) == memo  # as the state keeps it
    planted = DatasetSelfBleu((memo.memo[0], 42.0))  # a value only the memo could give
    again = write_summary(_shards_with_samples(2), str(tmp_path / "b"), RULES, CONFIG, self_bleu_memo=planted)
    assert again["diversity"]["self_bleu"] == 42.0
    other = DatasetSelfBleu((b"\0" * 16, 42.0))  # another sample's
    fresh = write_summary(_shards_with_samples(2), str(tmp_path / "c"), RULES, CONFIG, self_bleu_memo=other)
    assert fresh["diversity"]["self_bleu"] == first["diversity"]["self_bleu"] != 42.0
    assert other.memo == memo.memo
