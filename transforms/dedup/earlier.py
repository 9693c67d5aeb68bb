"""Rows of this run that an earlier run already settled: a night's unchanged rows in re-scored shards.

A night re-scores some unchanged shards only because a cluster they share
with a changed row may now pick another kept row (transforms.state). Their
rows that were no copy last night are *earlier rows*, as the reference
rows are: a pair of two earlier rows was settled by the night that found
it (or did not), so it is not verified again, and in a cluster they are
kept before new rows. Without this, re-clustering them against a reference
that holds no copies pairs rows that last night's buckets never paired (a
large bucket's chain runs through other members), an earlier kept row
comes out a copy, and its copies in reused shards need re-scoring in turn.

Of last night's copies in those shards, only the ones in a cluster that
may choose another kept row are clustered again. The others are *frozen*:
they stay copies of the same kept row, as a reused shard's copies do, so
they have no band entries and no pairs, and the keep stage takes their
duplicates/ rows from last night (transforms.curate.carried_path).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from winnow.transforms.dedup.lsh import member_of
from winnow.transforms.dedup.params import REFERENCE_BASE
from winnow.transforms.schema import ROW_BITS


@dataclass(frozen=True)
class EarlierRows:
    """Shards (this run's indices) whose rows are earlier rows, except `copies` (row keys: last night's copies),
    of which `frozen` are left out of the clustering; and `rows`, more earlier rows by key (a changed shard's
    rows that did not change)."""

    shards: tuple[int, ...] = ()
    copies: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # ascending, distinct
    frozen: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # ascending, distinct, within copies
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # ascending, distinct, in no listed shard

    def without_frozen(self, entries: np.ndarray) -> np.ndarray:
        """Band entries [.., key, ..] (key in column 1) less those of frozen rows."""
        if not len(self.frozen) or not len(entries):
            return entries
        return entries[~member_of(entries[:, 1].astype(np.int64), self.frozen)]

    def settled(self, keys: np.ndarray) -> np.ndarray:
        """Per row key of this run: an unchanged row that was no copy last night."""
        keys = np.asarray(keys, dtype=np.int64)
        out = member_of(keys, self.rows)
        if self.shards:
            in_shard = np.isin(keys >> ROW_BITS, np.asarray(self.shards, dtype=np.int64))
            out |= in_shard & ~member_of(keys, self.copies)
        return out

    @property
    def any(self) -> bool:
        return bool(self.shards) or bool(len(self.rows))

    def earlier(self, keys: np.ndarray) -> np.ndarray:
        """Per row key: a reference row or a settled row."""
        keys = np.asarray(keys, dtype=np.int64)
        return (keys >= (np.int64(REFERENCE_BASE) << ROW_BITS)) | self.settled(keys)

    def drop_settled_pairs(self, pairs: np.ndarray) -> np.ndarray:
        """Candidate pairs [a, b, ...] (a < b) less those between two earlier rows."""
        if not len(pairs):
            return pairs
        return pairs[~(self.earlier(pairs[:, 0]) & self.earlier(pairs[:, 1]))]
