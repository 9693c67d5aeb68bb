"""The run's summary files: summary/shards.parquet, summary/dataset.json and summary/examples.parquet.

Built once, from the merged per-shard statistics and the near-duplicate
totals, on one worker at the end of the scoring job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from winnow.transforms.config import Config
from winnow.transforms.dedup.params import DedupParams
from winnow.transforms.io import files
from winnow.transforms.signals.composite import dataset_quality
from winnow.transforms.signals.rules import Rule
from winnow.transforms.signals.taxonomy import coverage, load_taxonomy
from winnow.transforms.summary import shard_stats
from winnow.transforms.summary.examples import examples_table
from winnow.transforms.summary.keep_counts import KeepTally


@dataclass
class DatasetSelfBleu:
    """The dataset's Self-BLEU memo, (digest of its sample's texts, value), handed to write_summary and back.

    A night keeps it in the state: a night whose dataset sample is last night's (the sample is the same when
    its rows are) reads the value instead of computing the summary's costliest metric again."""

    memo: tuple[bytes, float | None] | None = None

    def as_json(self) -> dict[str, Any] | None:
        return None if self.memo is None else {"digest": self.memo[0].hex(), "self_bleu": self.memo[1]}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> DatasetSelfBleu:
        return cls(None if not data else (bytes.fromhex(data["digest"]), data["self_bleu"]))


def write_summary(
    stats: list[shard_stats.ShardStats],
    output: str,
    rule_list: list[Rule],
    config: Config,
    dup_counts: dict[str, Any] | None = None,
    dedup_totals: dict[str, int] | None = None,
    ids: dict[str, Any] | None = None,
    keep_counts: dict[str, KeepTally] | None = None,
    dataset_self_bleu: bool = True,
    self_bleu_memo: DatasetSelfBleu | None = None,
) -> dict[str, Any]:
    """summary/shards.parquet and summary/dataset.json (written once, on one worker).

    `ids`: repeated and replaced ids over the run (summary.ids.IdTally.as_json).
    `keep_counts`: the keep stage's counts and kept/ files per shard (summary.keep_counts).
    `dataset_self_bleu`: off for a night's job over part of the corpus, whose dataset.json only gives the
    night its counters (state.night summarizes the whole corpus); the metric is the summary's costliest.
    `self_bleu_memo`: the dataset's Self-BLEU of a sample known from an earlier run (used when tonight's sample
    has the same digest), set to this run's on return.
    """
    stats = [s for s in stats if s is not None]
    for s in stats:
        if dup_counts and s.shard in dup_counts:
            s.set_duplicates(dup_counts[s.shard])
        if keep_counts and s.shard in keep_counts:
            s.set_keep(keep_counts[s.shard])
    table = shard_stats.shards_table(stats)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    files.write_atomically(files.join(output, "summary", "shards.parquet"), sink.getvalue().to_pybytes())
    total = shard_stats.merge_all(stats)
    if not dataset_self_bleu:
        total.sample = None
    if self_bleu_memo is not None:
        total.self_bleu_memo = self_bleu_memo.memo
    dataset = total.as_json({r.name: r.severity for r in rule_list}, {r.name: r.explain for r in rule_list})
    if self_bleu_memo is not None:
        self_bleu_memo.memo = total.self_bleu_memo
    if config.dedup.enabled:
        params = DedupParams.from_config(config)
        dataset["dedup"] = {
            "text": params.text,
            "shingle": params.spec.mode,
            "ngram": params.spec.word_n,
            "num_perm": params.num_perm,
            "bands": params.bands,
            "rows": params.rows,
            "threshold": params.threshold,
            "verify": params.verify,
            "verify_threshold": params.verify_threshold,
            "part_threshold": params.part_threshold,
            "row_threshold": params.row_threshold,
            "short_shingles": params.short_shingles,
            "short_answer_shingles": params.short_answer_shingles,
            "short_prompt_shingles": params.short_prompt_shingles,
            "template_share": params.template_share,
            "template_min_rows": params.template_min_rows,
            "max_rounds": params.max_rounds,
            **{
                k: 0
                for k in (
                    "candidate_pairs",
                    "accepted_pairs",
                    "verified_pairs",
                    "rejected_pairs",
                    "clusters",
                    "split_off_rows",
                    "unconverged_nodes",
                    "reference_rows",
                    "matched_reference",
                )
            },
            **{k: int(v) for k, v in sorted((dedup_totals or {}).items())},
        }
    if config.taxonomy.enabled:
        tax = load_taxonomy(config.taxonomy.path)
        dataset["coverage"] = coverage(total.topics, tax, config.taxonomy.min_rows)
        dataset["coverage"]["per_shard"] = {
            s.shard: coverage(s.topics, tax, config.taxonomy.min_rows)["coverage"]
            for s in sorted(stats, key=lambda s: s.shard_index)
        }
    if config.composite.enabled:
        dataset["d_quality"] = dataset_quality(dataset, config.composite.dataset_weights)
    if ids is not None:
        dataset["ids"] = ids
    dataset["shards"] = [
        {
            "shard": s.shard,
            "rows_read": s.rows_read,
            "rows_scored": s.rows_scored,
            "rows_rejected": s.rows_rejected,
            "rows_kept": s.rows_kept,
            "rows_dropped": s.rows_dropped,
            "kept_files": [f.as_json() for f in s.kept_files],
        }
        for s in sorted(stats, key=lambda s: s.shard_index)
    ]
    # The report's bounded sample of rows: per rule, drop reason and rejection reason, and the largest clusters.
    sink = pa.BufferOutputStream()
    pq.write_table(examples_table(total.examples.rows() + total.clusters.rows()), sink)
    files.write_atomically(files.join(output, "summary", "examples.parquet"), sink.getvalue().to_pybytes())
    files.write_atomically(
        files.join(output, "summary", "dataset.json"), json.dumps(dataset, indent=2, ensure_ascii=False).encode()
    )
    return dataset
