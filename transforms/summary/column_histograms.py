"""Per-shard histograms of the numeric columns of records/, for the report's charts and threshold what-if.

Counted by the keep stage (transforms.curate), where each row's verdict is
known, one tally per input part, merged per shard and stored in
summary/shards.parquet (`hist_<column>`, `whatif_<column>`).

- `hist_<column>`: every scored row's value (integer and float columns; the
  row key and number aside).
- `whatif_<column>` (float columns, the length columns and any `keep.min`
  column): the values of the rows that nothing but this column's own
  threshold drops, i.e. rows whose drop reasons are all `below_min:<column>`
  or `missing:<column>`. The rows a threshold t would keep are exactly those
  of them with a value >= t (plus the nulls, with `keep.on_missing: keep`),
  so moving a threshold needs no reread of the rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.arrow_bytes import one_array
from winnow.transforms.keep_policy import BELOW_MIN, MISSING, NOT_THRESHOLDS
from winnow.transforms.summary.histograms import Histogram, merge_maps

LENGTH_COLUMNS = ("instruction_chars", "instruction_words", "response_chars", "response_words", "n_turns")
HIST_PREFIX, WHATIF_PREFIX = "hist_", "whatif_"


def histogram_columns(schema: pa.Schema) -> list[str]:
    """Numeric columns of records/ worth a histogram: integers and floats, the row key and number aside."""
    return [
        f.name for f in schema if (pa.types.is_integer(f.type) or pa.types.is_floating(f.type)) and f.name not in NOT_THRESHOLDS
    ]


def whatif_columns(schema: pa.Schema, min_columns: Iterable[str] = ()) -> list[str]:
    """Columns a threshold what-if is kept for: the float columns, the lengths and the configured thresholds."""
    wanted = set(LENGTH_COLUMNS) | set(min_columns)
    return [c for c in histogram_columns(schema) if pa.types.is_floating(schema.field(c).type) or c in wanted]


def threshold_column(reason: str) -> str | None:
    """The column a `below_min:<column><<t>` or `missing:<column>` reason is about; None for other reasons."""
    if reason.startswith(BELOW_MIN):
        return reason[len(BELOW_MIN) :].split("<", 1)[0]
    if reason.startswith(MISSING):
        return reason[len(MISSING) :]
    return None


def otherwise_kept(keep: pa.Array, drop_reasons: pa.Array, column: str) -> np.ndarray:
    """Rows that nothing but `column`'s own threshold drops (kept rows included)."""
    reasons = one_array(drop_reasons)
    n_reasons = pc.fill_null(pc.list_value_length(reasons), 0).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(reasons)
    parent = pc.list_parent_indices(reasons).to_numpy(zero_copy_only=False)
    about = pc.or_(pc.starts_with(flat, f"{BELOW_MIN}{column}<"), pc.equal(flat, f"{MISSING}{column}")).to_numpy(
        zero_copy_only=False
    )
    own = np.bincount(parent[about], minlength=len(keep))
    return (n_reasons - own) == 0


@dataclass
class ColumnHistograms:
    """`hist`: every scored row's values per column; `whatif`: the values of the rows only that column's threshold drops."""

    hist: dict[str, Histogram] = field(default_factory=dict)
    whatif: dict[str, Histogram] = field(default_factory=dict)

    def add(self, decided: pa.RecordBatch, min_columns: Iterable[str] = ()) -> None:
        """Fold in one records/ batch (scored columns with keep and drop_reasons)."""
        if decided.num_rows == 0:
            return
        columns = histogram_columns(decided.schema)
        self.hist = merge_maps(self.hist, {c: Histogram.of(decided.column(c)) for c in columns})
        keep = one_array(decided.column("keep"))
        reasons = one_array(decided.column("drop_reasons"))
        flat = pc.list_flatten(reasons)
        mentioned = {threshold_column(r) for r in pc.unique(flat).to_pylist()} if len(flat) else set()
        keep_mask = pc.fill_null(keep, False).to_numpy(zero_copy_only=False)
        part: dict[str, Histogram] = {}
        for c in whatif_columns(decided.schema, min_columns):
            mask = otherwise_kept(keep, reasons, c) if c in mentioned else keep_mask
            part[c] = Histogram.of(one_array(decided.column(c)).filter(pa.array(mask)))
        self.whatif = merge_maps(self.whatif, part)

    def merge(self, other: ColumnHistograms) -> ColumnHistograms:
        self.hist = merge_maps(self.hist, other.hist)
        self.whatif = merge_maps(self.whatif, other.whatif)
        return self

    def as_row(self) -> dict[str, bytes]:
        """The summary/shards.parquet columns: hist_<column> and whatif_<column>, serialized."""
        row = {HIST_PREFIX + c: h.to_bytes() for c, h in self.hist.items()}
        row.update({WHATIF_PREFIX + c: h.to_bytes() for c, h in self.whatif.items()})
        return row
