"""Kept and dropped rows per shard, per drop reason, and the kept/ files that hold them.

Counted by the stage that decides (transforms.curate), one tally per input
part, merged per shard in part order and folded into the shard summaries.
The kept/ files are listed with the rows and bytes read back from storage
after writing, which the accounting at the end of the run checks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.keep_policy import reason_group
from winnow.transforms.summary.clusters import ClusterTally
from winnow.transforms.summary.column_histograms import ColumnHistograms
from winnow.transforms.summary.examples import Examples


@dataclass
class KeptFile:
    """One kept/ file: its path relative to the run directory, and what was read back from it."""

    path: str
    rows: int
    bytes: int

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "rows": self.rows, "bytes": self.bytes}


@dataclass
class KeepTally:
    rows_kept: int = 0
    rows_dropped: int = 0
    reasons: Counter = field(default_factory=Counter)  # rows per reason group (a row counts once in each of its groups)
    files: list[KeptFile] = field(default_factory=list)
    # For the report (summary.column_histograms, summary.examples, summary.clusters): bounded, mergeable.
    histograms: ColumnHistograms = field(default_factory=ColumnHistograms)
    examples: Examples = field(default_factory=Examples)
    clusters: ClusterTally = field(default_factory=ClusterTally)

    def add_decided(self, decided: pa.RecordBatch, duplicates: pa.Table | None = None, min_columns: tuple[str, ...] = ()) -> None:
        """Fold in one records/ batch: counts, histograms, example rows and (with duplicates/ rows) clusters."""
        self.add(decided.column("keep"), decided.column("drop_reasons"))
        self.histograms.add(decided, min_columns)
        self.examples.add_decided(decided)
        self.clusters.add(decided, duplicates)

    def add(self, keep: pa.Array, drop_reasons: pa.Array) -> None:
        """Fold in one batch's decisions (keep_policy.decide)."""
        kept = int(pc.sum(keep).as_py() or 0)
        self.rows_kept += kept
        self.rows_dropped += len(keep) - kept
        flat = pc.list_flatten(drop_reasons)
        if len(flat):
            vc = pc.value_counts(flat)
            for reason, n in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()):
                self.reasons[reason_group(reason)] += n

    def merge(self, other: KeepTally) -> KeepTally:
        self.rows_kept += other.rows_kept
        self.rows_dropped += other.rows_dropped
        self.reasons.update(other.reasons)
        self.files = sorted([*self.files, *other.files], key=lambda f: f.path)
        self.histograms.merge(other.histograms)
        self.examples.merge(other.examples)
        self.clusters.merge(other.clusters)
        return self

    @property
    def rows_in_files(self) -> int:
        return sum(f.rows for f in self.files)


def merge_parts(tallies: dict[int, KeepTally]) -> KeepTally:
    """One shard's tally from its parts', merged in part order."""
    out = KeepTally()
    for part in sorted(tallies):
        out.merge(tallies[part])
    return out
