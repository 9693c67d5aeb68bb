"""LSH band entries and candidate pairs, as numpy arrays keyed by partition.

A batch of signatures becomes, per partition, one (m, 4) uint64 array of
band entries [band key, row key, kind, other part's band key]. The
partition of an entry is its band key modulo the partition count, so all
rows sharing a band value meet in one partition, where a sort finds them:
no element per (row, band) is ever made, only one array per (batch,
partition), spilled to files (transforms/spill.py).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from winnow.transforms.arrow_bytes import hex_u64, mix64, partition_order
from winnow.transforms.dedup.minhash import EMPTY, band_keys
from winnow.transforms.schema import ROW_BITS

ALL_PAIRS_MAX = 16  # buckets up to this size give every pair; bigger ones a chain and a star


def content_keys(content_hashes: pa.Array) -> np.ndarray:
    """64-bit exact-duplicate keys from the 128-bit hex content hashes."""
    return hex_u64(content_hashes)


# Kinds of evidence for a candidate pair (bits, merged with OR across bands).
MINHASH, EXACT = 1, 4


def band_entries(
    row_keys: np.ndarray,
    sigs: np.ndarray,
    exact_keys: np.ndarray,
    bands: int,
    rows: int,
    partitions: int,
    other_sigs: np.ndarray | None = None,
) -> dict[int, np.ndarray]:
    """Band entries of a batch grouped by partition: (m, 4) uint64 arrays of
    [band key, row key, kind, key of the same band of `other_sigs`].

    Every row gets one EXACT entry (its content hash) and, when it has
    shingles, `bands` MINHASH entries. `other_sigs` (the answer part, when
    `sigs` is the whole conversation) lets `candidate_pairs` split a large
    bucket, a shared template, by the part that differs.
    """
    has = ~(sigs == EMPTY).all(axis=1)
    keys = band_keys(sigs[has], bands, rows).ravel()
    owners = np.repeat(row_keys[has].astype(np.uint64), bands)
    if other_sigs is not None:
        others = band_keys(other_sigs[has], bands, rows, first_band=bands).ravel()
    else:
        others = np.zeros(len(keys), np.uint64)
    exact = mix64(exact_keys ^ np.uint64(0xA5A5A5A5A5A5A5A5))
    all_keys = np.concatenate([keys, exact])
    entries = np.stack(
        [
            all_keys,
            np.concatenate([owners, row_keys.astype(np.uint64)]),
            np.concatenate([np.full(len(keys), MINHASH, np.uint64), np.full(len(exact), EXACT, np.uint64)]),
            np.concatenate([others, np.zeros(len(exact), np.uint64)]),
        ],
        axis=1,
    )
    return split_sorted_entries(entries[partition_order(partition_of_entries(entries, partitions))], partitions)


def partition_of_entries(entries: np.ndarray, partitions: int) -> np.ndarray:
    """The partition of each band entry: of its band key, so one band's entries meet."""
    return (entries[:, 0] % np.uint64(partitions)).astype(np.int64)


def split_sorted_entries(entries: np.ndarray, partitions: int) -> dict[int, np.ndarray]:
    """{partition: its entries} of entries already in partition order."""
    part = partition_of_entries(entries, partitions)
    bounds = np.flatnonzero(np.diff(part)) + 1
    return {int(p[0]): chunk for p, chunk in zip(np.split(part, bounds), np.split(entries, bounds), strict=True) if len(chunk)}


def by_partition(entries: np.ndarray, partitions: int) -> dict[int, np.ndarray]:
    """{partition: its entries} of entries in any order (the order within a partition is kept)."""
    return split_sorted_entries(entries[partition_order(partition_of_entries(entries, partitions))], partitions)


def under_keys(entries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The entries, sorted by band key, whose band key is in `keys` (ascending, distinct): two binary searches
    per key, so a reference's millions of entries are not each looked up among a night's few keys."""
    column = entries[:, 0]
    lo, hi = np.searchsorted(column, keys, "left"), np.searchsorted(column, keys, "right")
    n = hi - lo
    starts = lo[n > 0]
    n = n[n > 0]
    if not len(n):
        return entries[:0]
    # Every index in [lo, hi) of each key: a run per key, from one arange.
    idx = np.arange(int(n.sum())) + np.repeat(starts - (np.cumsum(n) - n), n)
    return entries[idx]


def candidate_pairs(entries: np.ndarray) -> np.ndarray:
    """Pairs of rows that share a band key: an (m, 3) int64 array [a, b, kind bits], a < b.

    A MinHash bucket larger than ALL_PAIRS_MAX usually holds rows sharing a
    template (a long system prompt, a tool preamble); it is split by the
    answer's key of the same band, so only members that also agree there
    pair up. Small buckets give all pairs; a large (sub-)bucket gives a
    chain over its sorted members plus a star to its smallest member:
    linear in its size, yet every similar member is reached through
    verified edges.
    """
    if len(entries) == 0:
        return np.zeros((0, 3), dtype=np.int64)
    entries = entries.copy()
    order = np.argsort(entries[:, 0], kind="stable")
    sorted_keys = entries[order, 0]
    starts = np.concatenate(([0], np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1))
    sizes = np.diff(np.append(starts, len(sorted_keys)))
    big = np.zeros(len(entries), dtype=bool)
    big[order] = np.repeat(sizes > ALL_PAIRS_MAX, sizes)
    split = big & ((entries[:, 2] & np.uint64(EXACT)) == 0) & (entries[:, 3] != 0)
    entries[split, 0] = mix64(entries[split, 0] ^ mix64(entries[split, 3]))
    order = np.lexsort((entries[:, 1], entries[:, 0]))
    e = entries[order, :3].astype(np.int64)  # row keys < 2**63; band keys only compared for equality
    starts = np.concatenate(([0], np.flatnonzero(e[1:, 0] != e[:-1, 0]) + 1))
    sizes = np.diff(np.append(starts, len(e)))
    pairs = []
    # Buckets of equal size at once: a (buckets x size) matrix of members, then pair indices.
    for size in np.unique(sizes[(sizes >= 2) & (sizes <= ALL_PAIRS_MAX)]):
        first = starts[sizes == size]
        idx = first[:, None] + np.arange(size)[None, :]
        i, j = np.triu_indices(int(size), 1)
        pairs.append(_pairs(e, idx[:, i].ravel(), idx[:, j].ravel()))
    for start, size in zip(starts[sizes > ALL_PAIRS_MAX], sizes[sizes > ALL_PAIRS_MAX]):
        idx = np.arange(start, start + size)
        a = np.concatenate([idx[:-1], np.repeat(idx[0], size - 2)])
        b = np.concatenate([idx[1:], idx[2:]])
        pairs.append(_pairs(e, a, b))
    if not pairs:
        return np.zeros((0, 3), dtype=np.int64)
    return merge_pairs(np.concatenate(pairs))


def new_band_keys(entries: np.ndarray, reference_base: int, settled: np.ndarray | None = None) -> np.ndarray:
    """Band keys (ascending, distinct) that a new row of this run holds: a row of no reference (shard index
    >= `reference_base`) and not settled (`settled`, per entry: dedup.earlier)."""
    old = _old_rows(entries, reference_base, settled)
    return np.unique(entries[~old, 0])


def touching_new_rows(entries: np.ndarray, reference_base: int, settled: np.ndarray | None = None) -> np.ndarray:
    """The entries of band keys that at least one new row of this run holds.

    Rows of a reference (shard index >= `reference_base`) were paired among
    themselves by the run that made it, and those pairs are dropped; a band
    key only they hold gives nothing else. So are a night's settled rows
    (`settled`, per entry: dedup.earlier), whose pairs with each other and
    with the reference were settled by the night that scored them. Whole
    buckets are kept, so the pairs with new rows, and how a large bucket is
    split, are the same.
    """
    if not _old_rows(entries, reference_base, settled).any():
        return entries
    return entries[member_of(entries[:, 0], new_band_keys(entries, reference_base, settled))]


def _old_rows(entries: np.ndarray, reference_base: int, settled: np.ndarray | None) -> np.ndarray:
    old = entries[:, 1] >= np.uint64(reference_base << ROW_BITS)
    return old | settled if settled is not None else old


def member_of(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """values in sorted_set (ascending, distinct), by binary search: np.isin sorts both sides, and the
    reference's millions of band entries against one shard's keys would be sorted every night."""
    if len(sorted_set) == 0:
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[at] == values


def _pairs(e: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """[a, b, kind] for pairs of entry indices (both entries of a bucket have the same kind)."""
    a, b = e[i, 1], e[j, 1]
    return np.stack([np.minimum(a, b), np.maximum(a, b), e[i, 2]], axis=1)


def merge_pairs(pairs: np.ndarray) -> np.ndarray:
    """Unique (a, b) pairs with the union of their match bits."""
    if len(pairs) == 0:
        return pairs
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    p = pairs[order]
    first = np.concatenate(([True], (p[1:, 0] != p[:-1, 0]) | (p[1:, 1] != p[:-1, 1])))
    starts = np.flatnonzero(first)
    out = p[starts].copy()
    out[:, 2] = np.bitwise_or.reduceat(p[:, 2], starts)
    return out


def pair_partition(pairs: np.ndarray, partitions: int) -> np.ndarray:
    h = mix64(pairs[:, 0].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ pairs[:, 1].astype(np.uint64))
    return (h % np.uint64(partitions)).astype(np.int64)
