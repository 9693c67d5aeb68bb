"""Template-aware exact similarity of row pairs, from their shingle sets.

A shingle that occurs in a large share of the dataset's rows (a prompt
template, a tool description, a stock answer) says nothing about which
row it is in. Two rows filled into one template differ where their
filled-in parts differ, so the duplicate test compares each part's
non-template shingles: the template's are dropped first. When either
side has no non-template shingle left (a row that is all template, or a
copy whose only new shingles come from edits) the full sets are compared
instead, so an all-template row still matches its own copies.

Template shingles are found by counting, for every shingle, the rows that
contain it: each input part counts its own rows (`part_counts`) and keeps
only the shingles frequent enough to matter, the counts are summed over
the dataset (`merge_counts`), and `template_shingles` keeps those in at
least `template_rows` rows.

Short rows are held to more: one different word ("Are you trained by
Google?" / "... by IBM?") changes what a short row says, so rows with
fewer than `short_shingles` shingles must match exactly, part by part,
and so must short answers (fewer than `short_answer_shingles`): "The CEO
is: search(...)" and "The CEO is: wikipedia(...)" are different calls.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from winnow.transforms.arrow_bytes import unique_sorted

# A part reports a shingle when it is in at least this share of the part's
# rows over LOCAL_SHARE_DIVISOR of the template share (and 2 rows): a
# template at the threshold share is reported by every part whose rows it
# is spread over evenly, while a part's report stays small.
LOCAL_SHARE_DIVISOR = 8


class PartShingles(NamedTuple):
    """The shingles of one text part of many pairs' rows: pair index and hash, one entry per shingle."""

    pair: np.ndarray  # int64
    hashes: np.ndarray  # uint32


def rows_per_shingle(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(shingle hashes, rows containing each) over a batch, counting a row once per shingle.

    `parts`: each text part's (hashes, row offsets), as shingles.shingle_hashes returns them.
    """
    rows = [np.repeat(np.arange(len(o) - 1, dtype=np.uint64), np.diff(o)) for _, o in parts]
    keys = unique_sorted(np.concatenate([(r << np.uint64(32)) | h.astype(np.uint64) for r, (h, _) in zip(rows, parts)]))
    hashes, counts = np.unique((keys & np.uint64(0xFFFFFFFF)).astype(np.uint32), return_counts=True)
    return hashes, counts.astype(np.int64)


def merge_counts(counts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Sum (hashes, counts) pairs into one sorted (hashes, counts)."""
    counts = [c for c in counts if len(c[0])]
    if not counts:
        return np.zeros(0, np.uint32), np.zeros(0, np.int64)
    hashes = np.concatenate([h for h, _ in counts])
    values = np.concatenate([c for _, c in counts]).astype(np.int64)
    # A stable sort merges the already sorted runs (every report's hashes) instead of sorting from scratch:
    # a night's 100 shards' reports in a quarter of np.unique's time.
    order = np.argsort(hashes, kind="stable")
    hashes, values = hashes[order], values[order]
    starts = np.flatnonzero(np.concatenate(([True], hashes[1:] != hashes[:-1])))
    return hashes[starts], np.add.reduceat(values, starts)


def local_min_rows(rows: int, template_share: float) -> int:
    """How many of a part's `rows` a shingle must be in for the part to report it."""
    return max(2, int(template_share * rows / LOCAL_SHARE_DIVISOR))


def frequent(hashes: np.ndarray, counts: np.ndarray, min_rows: int) -> tuple[np.ndarray, np.ndarray]:
    keep = counts >= min_rows
    return hashes[keep], counts[keep]


def template_rows(total_rows: int, template_share: float, template_min_rows: int) -> int:
    """Rows a shingle must be in to be template: a share of the dataset, and never fewer than the floor."""
    return max(template_min_rows, int(np.ceil(template_share * total_rows)))


def template_shingles(hashes: np.ndarray, counts: np.ndarray, min_rows: int) -> np.ndarray:
    """The sorted hashes of shingles in at least `min_rows` rows."""
    return np.sort(hashes[counts >= min_rows]).astype(np.uint32)


def is_template(hashes: np.ndarray, template: np.ndarray) -> np.ndarray:
    if len(template) == 0 or len(hashes) == 0:
        return np.zeros(len(hashes), dtype=bool)
    pos = np.minimum(np.searchsorted(template, hashes), len(template) - 1)
    return template[pos] == hashes


def _set_keys(part: PartShingles) -> np.ndarray:
    """One exact 64-bit key per distinct (pair, hash), sorted: pair indices stay below 2**31."""
    return unique_sorted((part.pair.astype(np.uint64) << np.uint64(32)) | part.hashes.astype(np.uint64))


def _jaccard_keys(ka: np.ndarray, kb: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Jaccard per pair of two sorted, distinct (pair, hash) key arrays, and the sets' sizes."""
    size_a = np.bincount((ka >> np.uint64(32)).astype(np.int64), minlength=n)
    size_b = np.bincount((kb >> np.uint64(32)).astype(np.int64), minlength=n)
    if len(ka) and len(kb):
        pos = np.minimum(np.searchsorted(kb, ka), len(kb) - 1)
        shared = ka[kb[pos] == ka]
    else:
        shared = ka[:0]
    inter = np.bincount((shared >> np.uint64(32)).astype(np.int64), minlength=n)
    union = size_a + size_b - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0), size_a, size_b


def jaccard_by_pair(a: PartShingles, b: PartShingles, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact Jaccard of each pair's two shingle sets, and the sets' sizes.

    Two empty sets are identical (1.0).
    """
    return _jaccard_keys(_set_keys(a), _set_keys(b), n)


class PairSimilarity(NamedTuple):
    parts: list[np.ndarray]  # per text part: Jaccard of the non-template shingles (full sets where a side has none)
    row: np.ndarray  # the same over all parts together
    shingles: np.ndarray  # int64: the smaller side's shingle count, summed over parts (short rows)
    content_shingles: np.ndarray  # int64: the smaller side's shingle count of the last part (short answers)
    context_shingles: np.ndarray  # int64: the same of the first part (short prompts)


def _filled(keys: np.ndarray, template: np.ndarray) -> np.ndarray:
    """The keys whose shingle is not template (still sorted)."""
    return keys[~is_template((keys & np.uint64(0xFFFFFFFF)).astype(np.uint32), template)]


def _similarity(ka: np.ndarray, kb: np.ndarray, template: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    full, size_a, size_b = _jaccard_keys(ka, kb, n)
    filled, nt_a, nt_b = _jaccard_keys(_filled(ka, template), _filled(kb, template), n)
    return np.where((nt_a > 0) & (nt_b > 0), filled, full), np.minimum(size_a, size_b)


def pair_similarity(a: list[PartShingles], b: list[PartShingles], template: np.ndarray, n: int) -> PairSimilarity:
    """Template-aware Jaccard of n pairs, per text part and over the whole row.

    `a[k]`, `b[k]`: text part k's shingles of each pair's first and second row.
    """
    keys_a, keys_b = [_set_keys(p) for p in a], [_set_keys(p) for p in b]
    sims, sizes = zip(*(_similarity(ka, kb, template, n) for ka, kb in zip(keys_a, keys_b)))
    if len(a) > 1:
        row = _similarity(unique_sorted(np.concatenate(keys_a)), unique_sorted(np.concatenate(keys_b)), template, n)[0]
    else:
        row = sims[0]
    return PairSimilarity(list(sims), row, np.sum(sizes, axis=0), sizes[-1], sizes[0])


class ShingleRowCounter:
    """Rows per shingle over one input part, batch by batch; reports the part's frequent shingles."""

    def __init__(self, template_share: float):
        self.template_share = template_share
        self.rows = 0
        self._counts: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, parts: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.rows += len(parts[0][1]) - 1
        self._counts.append(rows_per_shingle(parts))
        if len(self._counts) >= 8:
            self._counts = [merge_counts(self._counts)]

    def report(self) -> tuple[int, np.ndarray, np.ndarray]:
        """(rows counted, hashes, rows per hash) for the shingles in enough of the part's rows."""
        hashes, counts = frequent(*merge_counts(self._counts), local_min_rows(self.rows, self.template_share))
        return self.rows, hashes, counts


def dataset_template(
    reports: list[tuple[int, np.ndarray, np.ndarray]], template_share: float, template_min_rows: int
) -> np.ndarray:
    """The template shingles of the dataset, from every part's report."""
    total = sum(r for r, _, _ in reports)
    hashes, counts = merge_counts([(h, c) for _, h, c in reports])
    return template_shingles(hashes, counts, template_rows(total, template_share, template_min_rows))
