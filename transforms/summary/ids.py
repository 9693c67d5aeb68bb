"""Ids that occur more than once in a run, counted without one element per row.

A scored batch's ids become 128-bit hashes, kept with each row's key in
(m, 3) uint64 arrays [hash high, hash low, row key]; the rows of a part of a
shard are cut by hash partition into one chunk per partition. All rows with
one id land in one partition, where a sort finds the repeats. 128 bits, not
64: among 1e9 distinct ids a 64-bit hash has a ~3 % chance of one false
repeat (n^2 / 2^65), a 128-bit one ~1e-21.

A chunk also carries each row's id text where the id is the row's own (null
where it is `<shard>:<row>`, which the key rebuilds), so the report can name
a few repeated ids without a second pass over the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.arrow_bytes import blake2b_128, partition_rows
from winnow.transforms.schema import ROW_BITS

EXAMPLES = 5  # repeated ids named in the summary
PLACES = 3  # rows named per repeated id
FLUSH_ROWS = 1 << 20  # rows of ids buffered per part of a shard before they are handed on
BYTES_PER_PARTITION = 4 << 30  # input bytes per hash partition (about 4M rows, ~100 MB of entries)
MIN_PARTITIONS, MAX_PARTITIONS = 64, 1024


def id_partitions(input_bytes: int) -> int:
    """Hash partitions for a corpus of this size: each holds a few million rows at most, and a
    part of a shard (tens of thousands of rows) still hands on chunks of dozens of rows, not one."""
    return int(min(MAX_PARTITIONS, max(MIN_PARTITIONS, input_bytes // BYTES_PER_PARTITION)))


def id_hashes(ids: pa.Array) -> np.ndarray:
    """(n, 2) uint64: the 128-bit BLAKE2b of each id's UTF-8 text."""
    return blake2b_128(ids)


def own_ids(batch: pa.RecordBatch) -> pa.Array:
    """The id column with nulls where the id is the row's place, `<shard>:<row>`."""
    ids = batch.column("id")
    place = pc.binary_join_element_wise(batch.column("shard"), pc.cast(batch.column("row"), pa.string()), ":")
    return pc.if_else(pc.equal(ids, place), pa.scalar(None, pa.string()), ids)


@dataclass(frozen=True)
class IdChunk:
    """Rows whose id hashes fall in one partition: [hash high, hash low, key] and the own id text."""

    entries: np.ndarray  # (m, 3) uint64
    own: pa.Array  # string, null where the id is `<shard>:<row>`


def split_by_partition(entries: np.ndarray, own: pa.Array, partitions: int) -> dict[int, IdChunk]:
    part = (entries[:, 0] % np.uint64(partitions)).astype(np.int64)
    return {p: IdChunk(entries[idx], own.take(pa.array(idx))) for p, idx in partition_rows(part).items()}


@dataclass
class RepeatedId:
    """One id found on several rows: its text, on how many rows, and the first few (shard, row)."""

    id: str
    rows: int
    places: list[tuple[str, int]]
    first_key: int  # orders examples: the repeat met first in shard and row order

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "rows": self.rows, "at": [{"shard": s, "row": r} for s, r in self.places]}


@dataclass
class IdTally:
    """Mergeable id statistics: per part of a shard (own and replaced ids) or per partition (repeats)."""

    rows_with_own_id: int = 0
    replaced: dict[str, int] = field(default_factory=dict)
    repeated_ids: int = 0
    rows_with_repeated_id: int = 0
    examples: list[RepeatedId] = field(default_factory=list)

    def merge(self, other: IdTally) -> IdTally:
        reasons = sorted(set(self.replaced) | set(other.replaced))
        return IdTally(
            self.rows_with_own_id + other.rows_with_own_id,
            {r: self.replaced.get(r, 0) + other.replaced.get(r, 0) for r in reasons},
            self.repeated_ids + other.repeated_ids,
            self.rows_with_repeated_id + other.rows_with_repeated_id,
            sorted(self.examples + other.examples, key=lambda e: e.first_key)[:EXAMPLES],
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "repeated_ids": self.repeated_ids,
            "rows_with_repeated_id": self.rows_with_repeated_id,
            "examples": [e.as_json() for e in self.examples],
            "rows_with_own_id": self.rows_with_own_id,
            "replaced": dict(sorted(self.replaced.items())),
        }


class IdCollector:
    """The ids of one part of a shard: buffered, then handed on as one chunk per hash partition."""

    def __init__(self, partitions: int, flush_rows: int = FLUSH_ROWS):
        self.partitions = partitions
        self.flush_rows = flush_rows
        self.tally = IdTally()
        self._entries: list[np.ndarray] = []
        self._own: list[pa.Array] = []
        self._rows = 0

    def add(self, batch: pa.RecordBatch, replaced: dict[str, int]) -> dict[int, IdChunk]:
        """Buffer a batch's ids; returns chunks when FLUSH_ROWS are buffered, else {}."""
        for reason, n in replaced.items():
            self.tally.replaced[reason] = self.tally.replaced.get(reason, 0) + n
        if batch.num_rows == 0:
            return {}
        own = own_ids(batch)
        hashes = id_hashes(batch.column("id"))
        keys = batch.column("key").to_numpy().astype(np.uint64)
        self._entries.append(np.column_stack([hashes, keys]))
        self._own.append(own)
        self._rows += batch.num_rows
        self.tally.rows_with_own_id += batch.num_rows - own.null_count
        return self.flush() if self._rows >= self.flush_rows else {}

    def flush(self) -> dict[int, IdChunk]:
        """Every buffered id, by partition."""
        if not self._rows:
            return {}
        entries, own = np.concatenate(self._entries), pa.concat_arrays(self._own)
        self._entries, self._own, self._rows = [], [], 0
        return split_by_partition(entries, own, self.partitions)


def count_repeats(chunks: list[IdChunk], shard_names: dict[int, str]) -> IdTally:
    """Repeated ids among the rows of one partition, with the first EXAMPLES of them named."""
    if not chunks:
        return IdTally()
    entries = np.concatenate([c.entries for c in chunks])
    own = pa.concat_arrays([c.own for c in chunks])
    order = np.lexsort((entries[:, 2], entries[:, 1], entries[:, 0]))
    e = entries[order]
    new = np.ones(len(e), dtype=bool)
    new[1:] = (e[1:, 0] != e[:-1, 0]) | (e[1:, 1] != e[:-1, 1])
    starts = np.flatnonzero(new)
    sizes = np.diff(np.append(starts, len(e)))
    starts, sizes = starts[sizes > 1], sizes[sizes > 1]
    examples = []
    for g in np.argsort(e[starts, 2], kind="stable")[:EXAMPLES]:
        first, size = int(starts[g]), int(sizes[g])
        places = [_place(int(k), shard_names) for k in e[first : first + min(size, PLACES), 2]]
        text = own[int(order[first])].as_py()
        examples.append(
            RepeatedId(text if text is not None else f"{places[0][0]}:{places[0][1]}", size, places, int(e[first, 2]))
        )
    return IdTally(repeated_ids=len(starts), rows_with_repeated_id=int(sizes.sum()), examples=examples)


def _place(key: int, shard_names: dict[int, str]) -> tuple[str, int]:
    return shard_names[key >> ROW_BITS], key & ((1 << ROW_BITS) - 1)


def report_lines(ids: dict[str, Any] | None) -> list[str]:
    """The end-of-run table's lines about ids: repeats (ids are not unique), and replaced ids."""
    if not ids:
        return []
    lines = []
    if ids["repeated_ids"]:
        n, rows = ids["repeated_ids"], ids["rows_with_repeated_id"]
        first = ids["examples"][0]
        places = [f"{p['shard']}:{p['row']}" for p in first["at"]]
        where = ", ".join(places[:-1]) + " and " + places[-1]
        if first["rows"] > len(places):
            where = ", ".join(places) + f" and {first['rows'] - len(places)} more"
        lines.append(
            f"warning: {n:,} id{'s appear' if n > 1 else ' appears'} more than once, on {rows:,} rows "
            f"(e.g. {_quoted(first['id'])} in {where}); ids are not unique"
        )
    if ids["replaced"]:
        total = sum(ids["replaced"].values())
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in ids["replaced"].items())
        lines.append(f"ids replaced by <shard>:<row>: {total:,} ({kinds}); the original values are in meta")
    return lines


def _quoted(text: str, limit: int = 60) -> str:
    return '"' + (text if len(text) <= limit else text[:limit] + "…") + '"'
