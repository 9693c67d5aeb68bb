"""Per-shard statistics that merge without rereading rows.

`ShardStats` holds counters and KLL quantile sketches (Apache DataSketches),
built per batch, merged per shard and then over the dataset. Sketches are
stored serialized in summary/shards.parquet so later tools can merge shard
summaries of different runs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasketches import kll_floats_sketch

SKETCHED = ("instruction_chars", "response_chars", "response_words", "n_turns")
MEANS = ("response_non_alpha_frac", "response_dup_line_frac", "response_top_2gram_frac", "response_dup_5gram_frac")
QUANTILES = (0.1, 0.5, 0.9, 0.99)
_KLL_K = 200


def _counter(values: pa.Array) -> Counter:
    if len(values) == 0:
        return Counter()
    vc = pc.value_counts(values)
    return Counter({v.as_py(): c.as_py() for v, c in zip(vc.field("values"), vc.field("counts"))})


@dataclass
class ShardStats:
    shard: str
    shard_index: int
    rows_read: int = 0
    rows_scored: int = 0
    rows_rejected: int = 0
    rows_flagged: int = 0
    flag_counts: Counter = field(default_factory=Counter)
    severity_counts: Counter = field(default_factory=Counter)
    reject_reasons: Counter = field(default_factory=Counter)
    formats: Counter = field(default_factory=Counter)
    langs: Counter = field(default_factory=Counter)
    sums: Counter = field(default_factory=Counter)
    sketches: dict[str, kll_floats_sketch] = field(default_factory=dict)

    def __getstate__(self) -> dict[str, Any]:
        # Sketches are C++ objects: they travel between workers serialized.
        state = dict(self.__dict__)
        state["sketches"] = {k: v.serialize() for k, v in self.sketches.items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["sketches"] = {k: kll_floats_sketch.deserialize(v) for k, v in state["sketches"].items()}
        self.__dict__.update(state)

    def add_batch(self, scored: pa.RecordBatch | None, rejected: list[dict[str, Any]], rows_read: int) -> None:
        """Fold one batch in: `rows_read` rows were read, giving `scored` and `rejected`."""
        self.rows_read += rows_read
        self.rows_rejected += len(rejected)
        self.reject_reasons.update(r["reason"].split(":", 1)[0] for r in rejected)
        if scored is None or scored.num_rows == 0:
            return
        self.rows_scored += scored.num_rows
        severity = scored.column("severity")
        self.rows_flagged += int(pc.sum(pc.is_in(severity, value_set=pa.array(["warn", "drop"]))).as_py() or 0)
        self.severity_counts.update(_counter(severity))
        self.flag_counts.update(_counter(pc.list_flatten(scored.column("flags"))))
        self.formats.update(_counter(scored.column("format")))
        if "lang" in scored.schema.names:
            self.langs.update(_counter(scored.column("lang")))
        for name in MEANS:
            if name in scored.schema.names:
                self.sums[name] += float(pc.sum(scored.column(name)).as_py() or 0.0)
        for name in SKETCHED:
            values = scored.column(name).to_numpy(zero_copy_only=False).astype(np.float32)
            self._sketch(name).update(values)

    def _sketch(self, name: str) -> kll_floats_sketch:
        if name not in self.sketches:
            self.sketches[name] = kll_floats_sketch(_KLL_K)
        return self.sketches[name]

    def merge(self, other: "ShardStats") -> "ShardStats":
        self.rows_read += other.rows_read
        self.rows_scored += other.rows_scored
        self.rows_rejected += other.rows_rejected
        self.rows_flagged += other.rows_flagged
        for name in ("flag_counts", "severity_counts", "reject_reasons", "formats", "langs", "sums"):
            getattr(self, name).update(getattr(other, name))
        for name, sketch in other.sketches.items():
            self._sketch(name).merge(sketch)
        return self

    def quantiles(self, name: str) -> list[float | None]:
        if name not in self.sketches or self.sketches[name].is_empty():
            return [None] * len(QUANTILES)
        return [float(q) for q in self.sketches[name].get_quantiles(list(QUANTILES))]

    def as_row(self) -> dict[str, Any]:
        """One row of summary/shards.parquet."""
        scored = max(self.rows_scored, 1)
        row: dict[str, Any] = {
            "shard": self.shard,
            "shard_index": self.shard_index,
            "rows_read": self.rows_read,
            "rows_scored": self.rows_scored,
            "rows_rejected": self.rows_rejected,
            "rows_flagged": self.rows_flagged,
            "error_rate": self.rows_flagged / scored if self.rows_scored else 0.0,
            "drop_rate": self.severity_counts.get("drop", 0) / scored if self.rows_scored else 0.0,
            "flag_counts": sorted(self.flag_counts.items()),
            "reject_reasons": sorted(self.reject_reasons.items()),
            "formats": sorted(self.formats.items()),
            "lang_counts": sorted(self.langs.items()),
        }
        for name in MEANS:
            row[f"mean_{name}"] = self.sums[name] / scored if name in self.sums else None
        for name in SKETCHED:
            for q, v in zip(QUANTILES, self.quantiles(name)):
                row[f"{name}_p{int(q * 100)}"] = v
            row[f"sketch_{name}"] = self.sketches[name].serialize() if name in self.sketches else None
        return row

    def as_json(self, severities: dict[str, str], explanations: dict[str, str]) -> dict[str, Any]:
        """The dataset-level view written to summary/dataset.json."""
        row = self.as_row()
        scored = max(self.rows_scored, 1)
        return {
            "rows_read": self.rows_read,
            "rows_scored": self.rows_scored,
            "rows_rejected": self.rows_rejected,
            "rows_flagged": self.rows_flagged,
            "error_rate": row["error_rate"],
            "drop_rate": row["drop_rate"],
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
            "means": {name: row[f"mean_{name}"] for name in MEANS if row[f"mean_{name}"] is not None},
            "quantiles": {
                name: {f"p{int(q * 100)}": v for q, v in zip(QUANTILES, self.quantiles(name))} for name in SKETCHED
            },
        }


def _map_type() -> pa.DataType:
    return pa.list_(pa.struct([("key", pa.string()), ("count", pa.int64())]))


def shards_table(stats: list[ShardStats]) -> pa.Table:
    """summary/shards.parquet: one row per input file, sorted by shard index."""
    rows = [s.as_row() for s in sorted(stats, key=lambda s: s.shard_index)]
    for row in rows:
        for key in ("flag_counts", "reject_reasons", "formats", "lang_counts"):
            row[key] = [{"key": k, "count": c} for k, c in row[key]]
    fields = []
    for name, value in rows[0].items():
        if name in ("flag_counts", "reject_reasons", "formats", "lang_counts"):
            fields.append(pa.field(name, _map_type()))
        elif name.startswith("sketch_"):
            fields.append(pa.field(name, pa.binary()))
        elif name in ("shard",):
            fields.append(pa.field(name, pa.string()))
        elif isinstance(value, int) and not name.endswith(("_p10", "_p50", "_p90", "_p99")):
            fields.append(pa.field(name, pa.int64()))
        else:
            fields.append(pa.field(name, pa.float64()))
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))


def merge_all(stats: list[ShardStats]) -> ShardStats:
    total = ShardStats(shard="*", shard_index=-1)
    for s in stats:
        total.merge(s)
    return total
