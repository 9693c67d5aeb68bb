"""Per-shard statistics that merge without rereading rows.

`ShardStats` holds counters and quantile sketches (summary.quantiles: exact
integer counts over fixed buckets, so the same rows give the same sketch and
the same bytes on every run), built per batch, merged per shard and then over
the dataset. Sketches are stored serialized in summary/shards.parquet so later
tools can merge shard summaries of different runs.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.arrow_bytes import hex_u64
from winnow.transforms.signals.registry import mean_columns
from winnow.transforms.signals.safety import skew
from winnow.transforms.summary import diversity
from winnow.transforms.summary.clusters import ClusterTally
from winnow.transforms.summary.column_histograms import HIST_PREFIX, WHATIF_PREFIX, ColumnHistograms
from winnow.transforms.summary.examples import Examples
from winnow.transforms.summary.histograms import merge_map_list
from winnow.transforms.summary.keep_counts import KeepTally, KeptFile
from winnow.transforms.summary.quantiles import QuantileSketch

SKETCHED = ("instruction_chars", "response_chars", "response_words", "n_turns")
QUANTILES = (0.1, 0.5, 0.9, 0.99)
UNDETERMINED = "und"  # ISO 639-2 "undetermined": rows whose language was not detected


def _counter(values: pa.Array) -> Counter:
    if len(values) == 0:
        return Counter()
    vc = pc.value_counts(values)
    return Counter({v.as_py(): c.as_py() for v, c in zip(vc.field("values"), vc.field("counts"))})


def flag_pairs(flags: pa.Array) -> Counter:
    """Rows per pair of rules that fired together ("a|b", names in order): the report's co-occurrence."""
    flags = pc.fill_null(flags, pa.scalar([], flags.type)) if flags.null_count else flags
    multi = pc.greater_equal(pc.list_value_length(flags), 2)
    pairs: Counter = Counter()
    for names in flags.filter(multi).to_pylist():
        unique = sorted(set(names))
        pairs.update(f"{a}|{b}" for i, a in enumerate(unique) for b in unique[i + 1 :])
    return pairs


def _languages(lang: pa.Array) -> Counter:
    """Rows per language, a row with no detected language ("" or null) under `und`, not a blank label."""
    unknown = pc.fill_null(pc.equal(lang, ""), True)
    return _counter(pc.if_else(unknown, UNDETERMINED, lang))


@dataclass
class ShardStats:
    shard: str
    shard_index: int
    rows_read: int = 0
    rows_scored: int = 0
    rows_rejected: int = 0
    rows_flagged: int = 0
    flag_counts: Counter = field(default_factory=Counter)
    flag_pairs: Counter = field(default_factory=Counter)  # rows where two rules fired together
    severity_counts: Counter = field(default_factory=Counter)
    reject_reasons: Counter = field(default_factory=Counter)
    formats: Counter = field(default_factory=Counter)
    langs: Counter = field(default_factory=Counter)
    topics: Counter = field(default_factory=Counter)
    demographics: Counter = field(default_factory=Counter)
    sums: dict[str, float] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)  # non-null values behind each sum
    sketches: dict[str, QuantileSketch] = field(default_factory=dict)
    # Diversity: distinct shingles, leading words, a bottom-k sample of responses.
    ngrams: diversity.HyperLogLog | None = None
    instruction_types: Counter = field(default_factory=Counter)
    sample: diversity.BottomK | None = None
    types_max: int = 5000
    bleu_per_shard: int = 32
    # Near-duplicates, filled in after clustering: rows in clusters, removed, exact removed.
    dup_rows: int = 0
    dup_removed: int = 0
    dup_exact_removed: int = 0
    # The keep policy's verdicts, filled in after the records are final (summary.keep_counts).
    rows_kept: int = 0
    rows_dropped: int = 0
    drop_reasons: Counter = field(default_factory=Counter)
    kept_files: list[KeptFile] = field(default_factory=list)
    # For the report: histograms and example rows from the keep stage, dead-letter examples from scoring.
    histograms: ColumnHistograms = field(default_factory=ColumnHistograms)
    examples: Examples = field(default_factory=Examples)
    clusters: ClusterTally = field(default_factory=ClusterTally)
    # Self-BLEU of the last sample it was computed on: (digest of the texts, value). A night's reused shard
    # keeps its sample, so its summary row does not pay for the metric again.
    self_bleu_memo: tuple[bytes, float | None] | None = None

    def add_diversity(self, batch: pa.RecordBatch, shingle_hashes: np.ndarray, sample_size: int) -> None:
        """Distinct shingles, instruction types and the response sample of one canonical batch."""
        if self.ngrams is None:
            self.ngrams = diversity.HyperLogLog()
        self.ngrams.update(shingle_hashes)
        self.instruction_types = diversity.cap_counter(
            self.instruction_types + diversity.instruction_types(batch.column("instruction")), self.types_max
        )
        if sample_size:
            if self.sample is None:
                self.sample = diversity.BottomK(sample_size)
            keys = hex_u64(batch.column("content_hash"), 16)
            # Only the batch's k smallest keys can enter the bottom-k: fetch just their texts.
            take = np.argpartition(keys, sample_size)[:sample_size] if len(keys) > sample_size else np.arange(len(keys))
            responses = [t[:500] for t in batch.column("response").take(pa.array(take)).to_pylist()]
            self.sample.update(keys[take].tolist(), responses)

    def add_batch(self, scored: pa.RecordBatch | None, rejected: list[dict[str, Any]], rows_read: int) -> None:
        """Fold one batch in: `rows_read` rows were read, giving `scored` and `rejected`."""
        self.rows_read += rows_read
        self.rows_rejected += len(rejected)
        self.reject_reasons.update(r["reason"].split(":", 1)[0] for r in rejected)
        if rejected:
            self.examples.add_rejected(rejected, self.shard_index)
        if scored is None or scored.num_rows == 0:
            return
        self.rows_scored += scored.num_rows
        severity = scored.column("severity")
        self.rows_flagged += int(pc.sum(pc.is_in(severity, value_set=pa.array(["warn", "drop"]))).as_py() or 0)
        self.severity_counts.update(_counter(severity))
        self.flag_counts.update(_counter(pc.list_flatten(scored.column("flags"))))
        self.flag_pairs.update(flag_pairs(scored.column("flags")))
        self.formats.update(_counter(scored.column("format")))
        if "lang" in scored.schema.names:
            self.langs.update(_languages(scored.column("lang")))
        for name in scored.schema.names:
            if name.startswith(("demographic_", "pii_", "lexicon_")):
                self.demographics[name] += int(pc.sum(scored.column(name)).as_py() or 0)
        if "topics" in scored.schema.names:
            self.topics.update(_counter(pc.list_flatten(scored.column("topics"))))
        for name in mean_columns():
            if name in scored.schema.names:
                col = scored.column(name)
                self.sums[name] = self.sums.get(name, 0.0) + float(pc.sum(col).as_py() or 0.0)
                self.counts[name] += len(col) - col.null_count
        for name in SKETCHED:
            self._add_sketch(name, QuantileSketch.of(pc.drop_null(scored.column(name)).to_numpy()))

    def _add_sketch(self, name: str, sketch: QuantileSketch) -> None:
        mine = self.sketches.get(name)
        self.sketches[name] = sketch if mine is None else mine.merge(sketch)

    def merge(self, other: ShardStats, histograms: bool = True) -> ShardStats:
        self.rows_read += other.rows_read
        self.rows_scored += other.rows_scored
        self.rows_rejected += other.rows_rejected
        self.rows_flagged += other.rows_flagged
        for name in (
            "flag_counts",
            "flag_pairs",
            "severity_counts",
            "reject_reasons",
            "formats",
            "langs",
            "topics",
            "demographics",
            "counts",
        ):
            getattr(self, name).update(getattr(other, name))
        for name, total in other.sums.items():
            self.sums[name] = self.sums.get(name, 0.0) + total
        for name, sketch in other.sketches.items():
            self._add_sketch(name, sketch)
        # A total owns its sketches: merged into in place, they are never a shard's own (a night keeps those).
        if other.ngrams is not None:
            self.ngrams = other.ngrams.copy() if self.ngrams is None else self.ngrams.merge(other.ngrams)
        self.instruction_types = diversity.cap_counter(self.instruction_types + other.instruction_types, self.types_max)
        if other.sample is not None:
            self.sample = other.sample.copy() if self.sample is None else self.sample.merge(other.sample)
        self.dup_rows += other.dup_rows
        self.dup_removed += other.dup_removed
        self.dup_exact_removed += other.dup_exact_removed
        self.rows_kept += other.rows_kept
        self.rows_dropped += other.rows_dropped
        self.drop_reasons.update(other.drop_reasons)
        self.kept_files = sorted([*self.kept_files, *other.kept_files], key=lambda f: f.path)
        if histograms:
            self.histograms.merge(other.histograms)
        self.examples.merge(other.examples)
        self.clusters.merge(other.clusters)
        return self

    def safety_totals(self) -> dict[str, Any]:
        """Mentions of PII kinds, lexicons and demographic groups, and the demographic skew."""

        groups = {k[len("demographic_") :]: v for k, v in self.demographics.items() if k.startswith("demographic_")}
        return {
            "pii": {k[4:]: v for k, v in self.demographics.items() if k.startswith("pii_")},
            "lexicons": {k[8:]: v for k, v in self.demographics.items() if k.startswith("lexicon_")},
            "demographics": groups,
            "demographic_skew": skew(groups) if groups else None,
        }

    def set_keep(self, tally: KeepTally) -> None:
        """The keep policy's counts for this shard, and its kept/ files."""
        self.rows_kept, self.rows_dropped = tally.rows_kept, tally.rows_dropped
        self.drop_reasons = Counter(tally.reasons)
        self.kept_files = list(tally.files)
        self.histograms, self.clusters = tally.histograms, tally.clusters
        self.examples = Examples(self.examples.k, dict(self.examples.groups)).merge(tally.examples)

    def set_duplicates(self, counts: Any) -> None:
        """Counts from clustering: rows in clusters, rows removed, exact copies removed."""
        self.dup_rows, self.dup_removed, self.dup_exact_removed = (int(c) for c in counts)

    def diversity_row(self, self_bleu_sample: int | None = None) -> dict[str, Any]:
        scored = self.rows_scored
        texts = self.sample.texts() if self.sample else []
        if self_bleu_sample is not None:
            texts = texts[:self_bleu_sample]
        return {
            "duplicate_rows": self.dup_rows,
            "duplicates_removed": self.dup_removed,
            "exact_duplicates_removed": self.dup_exact_removed,
            "duplicate_rate": self.dup_removed / scored if scored else 0.0,
            "unique_ratio": (scored - self.dup_removed) / scored if scored else 0.0,
            "distinct_ngrams": round(self.ngrams.estimate()) if self.ngrams is not None else None,
            "instruction_type_entropy": diversity.entropy(self.instruction_types),
            "instruction_types": len(self.instruction_types),
            "self_bleu": self._self_bleu(texts),
            "self_bleu_sample": len(texts),
        }

    def _self_bleu(self, texts: list[str]) -> float | None:
        digest = hashlib.blake2b("\x00".join(texts).encode("utf-8", "surrogatepass"), digest_size=16).digest()
        memo = getattr(self, "self_bleu_memo", None)
        if memo is None or memo[0] != digest:
            memo = (digest, diversity.self_bleu(texts))
            self.self_bleu_memo = memo
        return memo[1]

    def quantiles(self, name: str) -> list[float | None]:
        values = self.sketches[name].quantiles(QUANTILES) if name in self.sketches else None
        return [None] * len(QUANTILES) if values is None else [float(v) for v in values]

    def as_row(self) -> dict[str, Any]:
        """One row of summary/shards.parquet."""
        row: dict[str, Any] = {
            "shard": self.shard,
            "shard_index": self.shard_index,
            "rows_read": self.rows_read,
            "rows_scored": self.rows_scored,
            "rows_rejected": self.rows_rejected,
            "rows_flagged": self.rows_flagged,
            **self._rates(),
            "flag_counts": sorted(self.flag_counts.items()),
            "flag_pairs": sorted(self.flag_pairs.items()),
            "reject_reasons": sorted(self.reject_reasons.items()),
            "formats": sorted(self.formats.items()),
            "lang_counts": sorted(self.langs.items()),
            "topic_counts": sorted(self.topics.items()),
            "rows_kept": self.rows_kept,
            "rows_dropped": self.rows_dropped,
            "drop_reasons": sorted(self.drop_reasons.items()),
        }
        row.update({f"mean_{name}": mean for name, mean in self._means().items()})
        for name in SKETCHED:
            for q, v in zip(QUANTILES, self.quantiles(name)):
                row[f"{name}_p{int(q * 100)}"] = v
            row[f"sketch_{name}"] = self.sketches[name].to_bytes() if name in self.sketches else None
        row.update(self.diversity_row(self.bleu_per_shard))
        row["sketch_ngrams_hll"] = self.ngrams.to_bytes() if self.ngrams is not None else None
        row["cluster_sizes"] = self.clusters.sizes.to_bytes()
        row.update(self.histograms.as_row())
        return row

    def _rates(self) -> dict[str, float]:
        scored = max(self.rows_scored, 1)
        return {
            "error_rate": self.rows_flagged / scored if self.rows_scored else 0.0,
            "drop_rate": self.severity_counts.get("drop", 0) / scored if self.rows_scored else 0.0,
        }

    def _means(self) -> dict[str, float | None]:
        return {name: self.sums.get(name, 0.0) / n if (n := self.counts.get(name, 0)) else None for name in mean_columns()}

    def as_json(self, severities: dict[str, str], explanations: dict[str, str]) -> dict[str, Any]:
        """The dataset-level view written to summary/dataset.json (not built from as_row: the dataset's
        summary row would compute a Self-BLEU of the per-shard sample size that nothing reads)."""
        rates, means = self._rates(), self._means()
        scored = max(self.rows_scored, 1)
        return {
            "rows_read": self.rows_read,
            "rows_scored": self.rows_scored,
            "rows_rejected": self.rows_rejected,
            "rows_flagged": self.rows_flagged,
            "rows_kept": self.rows_kept,
            "rows_dropped": self.rows_dropped,
            "drop_reasons": dict(sorted(self.drop_reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
            "error_rate": rates["error_rate"],
            "drop_rate": rates["drop_rate"],
            "rules": [
                {
                    "name": name,
                    "severity": severities.get(name, ""),
                    "explain": explanations.get(name, ""),
                    "rows": self.flag_counts.get(name, 0),
                    "rate": self.flag_counts.get(name, 0) / scored if self.rows_scored else 0.0,
                }
                for name in sorted(severities, key=lambda n: (-self.flag_counts.get(n, 0), n))
            ],
            "reject_reasons": dict(self.reject_reasons.most_common()),
            "formats": dict(self.formats.most_common()),
            "languages": dict(self.langs.most_common()),
            "means": {name: mean for name, mean in means.items() if mean is not None},
            "quantiles": {name: {f"p{int(q * 100)}": v for q, v in zip(QUANTILES, self.quantiles(name))} for name in SKETCHED},
            "diversity": self.diversity_row(),
            "safety": self.safety_totals(),
            "top_instruction_types": dict(self.instruction_types.most_common(20)),
        }


MAP_COLUMNS = ("flag_counts", "flag_pairs", "reject_reasons", "formats", "lang_counts", "topic_counts", "drop_reasons")


def _map_type() -> pa.DataType:
    return pa.list_(pa.struct([("key", pa.string()), ("count", pa.int64())]))


def shards_table(stats: list[ShardStats]) -> pa.Table:
    """summary/shards.parquet: one row per input file, sorted by shard index."""
    rows = [s.as_row() for s in sorted(stats, key=lambda s: s.shard_index)]
    for row in rows:
        for key in MAP_COLUMNS:
            row[key] = [{"key": k, "count": c} for k, c in row[key]]
    # A shard with no scored row has no histogram columns: the columns are every shard's, in first-seen order.
    names = dict.fromkeys(name for row in rows for name in row)
    first = {name: next(row[name] for row in rows if name in row) for name in names}
    fields = []
    for name, value in first.items():
        if name in MAP_COLUMNS:
            fields.append(pa.field(name, _map_type()))
        elif name.startswith(("sketch_", HIST_PREFIX, WHATIF_PREFIX)) or name == "cluster_sizes":
            fields.append(pa.field(name, pa.binary()))
        elif name in (
            "duplicate_rows",
            "duplicates_removed",
            "exact_duplicates_removed",
            "distinct_ngrams",
            "instruction_types",
            "self_bleu_sample",
        ):
            fields.append(pa.field(name, pa.int64()))
        elif name in ("shard",):
            fields.append(pa.field(name, pa.string()))
        elif isinstance(value, int) and not name.endswith(("_p10", "_p50", "_p90", "_p99")):
            fields.append(pa.field(name, pa.int64()))
        else:
            fields.append(pa.field(name, pa.float64()))
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))


def merge_all(stats: list[ShardStats]) -> ShardStats:
    """The dataset's statistics, merged in shard order.

    Runners hand the shards over in any order; merged in another order, float
    sums and the entropy differ in their last digits and ties among the top
    instruction types break differently, so the order is fixed here.
    """
    total = ShardStats(shard="*", shard_index=-1)
    ordered = sorted(stats, key=lambda s: s.shard_index)
    for s in ordered:
        total.merge(s, histograms=False)
    # Each column's histogram in one sort over every shard, not one merge per shard (the same counts).
    total.histograms = ColumnHistograms(
        merge_map_list([s.histograms.hist for s in ordered]), merge_map_list([s.histograms.whatif for s in ordered])
    )
    return total
