"""LSH band entries and candidate pairs, as numpy arrays keyed by partition.

A batch of signatures becomes, per partition, one (m, 3) uint64 array of
band entries [band key, row key, exact flag]. The partition of an entry is
its band key modulo the partition count, so all rows sharing a band value
meet in one partition, where a sort finds them: no element per (row, band)
ever crosses Beam, only one array per (batch, partition).
"""

from __future__ import annotations

import numpy as np

from transforms.minhash import EMPTY, _mix64, band_keys

ALL_PAIRS_MAX = 16  # buckets up to this size give every pair; bigger ones a chain and a star


def content_keys(content_hashes: list[str]) -> np.ndarray:
    """64-bit exact-duplicate keys from the 128-bit hex content hashes."""
    return np.array([int(h[:16], 16) for h in content_hashes], dtype=np.uint64)


def band_entries(
    row_keys: np.ndarray, sigs: np.ndarray, exact_keys: np.ndarray, bands: int, rows: int, partitions: int, parts: int = 1
) -> dict[int, np.ndarray]:
    """Band entries of a batch grouped by partition.

    Every row gets one exact entry (its content hash); each signature part
    (prompt, answer) with shingles gets `bands` MinHash entries. A part
    without shingles (empty text) gets none, so empty fields never form one
    giant bucket.
    """
    width = sigs.shape[1] // parts
    key_parts, owner_parts = [], []
    for k in range(parts):
        part = sigs[:, k * width : (k + 1) * width]
        has = ~(part == EMPTY).all(axis=1)
        key_parts.append(band_keys(part[has], bands, rows, first_band=k * bands).ravel())
        owner_parts.append(np.repeat(row_keys[has].astype(np.uint64), bands))
    keys = np.concatenate(key_parts)
    owners = np.concatenate(owner_parts)
    exact = _mix64(exact_keys ^ np.uint64(0xA5A5A5A5A5A5A5A5))
    all_keys = np.concatenate([keys, exact])
    all_rows = np.concatenate([owners, row_keys.astype(np.uint64)])
    flags = np.concatenate([np.zeros(len(keys), np.uint64), np.ones(len(exact), np.uint64)])
    part = (all_keys % np.uint64(partitions)).astype(np.int64)
    order = np.argsort(part, kind="stable")
    entries = np.stack([all_keys, all_rows, flags], axis=1)[order]
    part = part[order]
    bounds = np.flatnonzero(np.diff(part)) + 1
    out = {}
    for chunk in np.split(np.arange(len(part)), bounds):
        if len(chunk):
            out[int(part[chunk[0]])] = entries[chunk]
    return out


def candidate_pairs(entries: np.ndarray) -> np.ndarray:
    """Pairs of rows that share a band key: an (m, 3) int64 array [a, b, exact] with a < b.

    Small buckets give all pairs; a large bucket (many copies of one
    template) gives a chain over its sorted members plus a star to its
    smallest member, linear in its size but enough for verification to
    find every similar member.
    """
    if len(entries) == 0:
        return np.zeros((0, 3), dtype=np.int64)
    order = np.lexsort((entries[:, 1], entries[:, 0]))
    e = entries[order].astype(np.int64)  # row keys < 2**63; band keys only compared for equality
    starts = np.concatenate(([0], np.flatnonzero(e[1:, 0] != e[:-1, 0]) + 1))
    sizes = np.diff(np.append(starts, len(e)))
    pairs = []
    # Buckets of equal size at once: a (buckets x size) matrix of members, then pair indices.
    for size in np.unique(sizes[(sizes >= 2) & (sizes <= ALL_PAIRS_MAX)]):
        first = starts[sizes == size]
        members = e[first[:, None] + np.arange(size)[None, :], 1]
        i, j = np.triu_indices(int(size), 1)
        exact = np.repeat(e[first, 2], len(i))
        pairs.append(np.stack([members[:, i].ravel(), members[:, j].ravel(), exact], axis=1))
    for start, size in zip(starts[sizes > ALL_PAIRS_MAX], sizes[sizes > ALL_PAIRS_MAX]):
        members = e[start : start + size, 1]
        a = np.concatenate([members[:-1], np.repeat(members[0], size - 2)])
        b = np.concatenate([members[1:], members[2:]])
        pairs.append(np.stack([a, b, np.full(len(a), e[start, 2])], axis=1))
    if not pairs:
        return np.zeros((0, 3), dtype=np.int64)
    return dedupe_pairs(np.concatenate(pairs))


def dedupe_pairs(pairs: np.ndarray) -> np.ndarray:
    """Unique (a, b) pairs; a pair is exact if any of its copies is."""
    if len(pairs) == 0:
        return pairs
    order = np.lexsort((-pairs[:, 2], pairs[:, 1], pairs[:, 0]))
    p = pairs[order]
    first = np.concatenate(([True], (p[1:, 0] != p[:-1, 0]) | (p[1:, 1] != p[:-1, 1])))
    return p[first]
