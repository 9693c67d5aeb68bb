"""The duplicate test for candidate pairs: exact template-aware Jaccard, estimated Jaccard, or ROUGE-L.

In two-part modes (prompt_answer, input_answer) the content is the answer
and the context the prompt: both must be similar, so a shared template or
a stock answer alone never makes two rows duplicates. The exact test
(dedup.templates) also drops the shingles of templates before it compares,
asks the whole row to reach row_threshold, and asks short rows to match
exactly.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.arrow_bytes import one_array
from winnow.transforms.dedup import lsh, minhash
from winnow.transforms.dedup.params import DedupParams
from winnow.transforms.dedup.sidefiles import signatures_at
from winnow.transforms.dedup.templates import PairSimilarity, PartShingles, pair_similarity
from winnow.transforms.signals.overlap import rouge_l_sequences


def similarity(a: np.ndarray, b: np.ndarray, params: DedupParams) -> tuple[np.ndarray, np.ndarray]:
    """(similarity of the content, similarity of its context), estimated Jaccard row by row.

    prompt_answer: the content is the answer and the context the prompt, so
    rows that share a template prompt but answer differently score low, and
    a stock answer ("Yes") to different prompts is caught by the context.
    Other modes: one text, returned twice.
    """
    if params.parts == 1:
        sim = minhash.estimated_jaccard(a, b)
        return sim, sim
    n = params.num_perm
    return minhash.estimated_jaccard(a[:, n:], b[:, n:]), minhash.estimated_jaccard(a[:, :n], b[:, :n])


def is_similar(content: np.ndarray, context: np.ndarray, params: DedupParams) -> np.ndarray:
    """The duplicate test: content reaches verify_threshold and context part_threshold."""
    return (content >= params.verify_threshold) & (context >= params.part_threshold)


def is_duplicate(sim: PairSimilarity, p: DedupParams) -> np.ndarray:
    """The exact test: every part similar enough; short rows identical part by part; in two-part
    modes also the whole row similar enough and short answers identical."""
    content, context = sim.parts[-1], sim.parts[0]
    if p.parts > 1:
        short_prompt = (sim.context_shingles < p.short_prompt_shingles) & (content >= SHORT_PROMPT_ANSWER)
        context = np.where(short_prompt, 1.0, context)
    ok = is_similar(content, context, p)
    identical = np.logical_and.reduce([s >= 1.0 for s in sim.parts])
    ok &= (sim.shingles >= p.short_shingles) | identical
    if p.parts > 1:
        ok &= sim.row >= p.row_threshold
        ok &= (sim.content_shingles >= p.short_answer_shingles) | (content >= 1.0)
    return ok


def part_shingles(lists: pa.Array, parts: int) -> list[PartShingles]:
    """Each part's shingles of the rows of a list<list<uint32>> column (row i becomes pair i)."""
    lists = one_array(lists)
    out = []
    for k in range(parts):
        part_lists = pc.list_element(lists, k)
        lengths = pc.fill_null(pc.list_value_length(part_lists), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        values = pc.list_flatten(part_lists).to_numpy(zero_copy_only=False).astype(np.uint32)
        out.append(PartShingles(np.repeat(np.arange(len(lists), dtype=np.int64), lengths), values))
    return out


def _gather(
    first_keys: np.ndarray, side_keys: np.ndarray, sides: np.ndarray, slots: range
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first rows' spilled [key words, slot, value] rows in `slots`, one sort for all of them: (slot and value
    of each, slot after slot in text order per pair; offsets per pair). Each first row is spilled once per destination."""
    sel = (sides[:, 2] >= slots.start) & (sides[:, 2] < slots.stop)
    keys, slot, values = side_keys[sel], sides[sel, 2], sides[sel, 3]
    order = np.lexsort((np.arange(len(keys)), slot, keys))  # by row, then slot; text order kept
    keys, slot, values = keys[order], slot[order], values[order]
    lo = np.searchsorted(keys, first_keys, side="left")
    hi = np.searchsorted(keys, first_keys, side="right")
    offsets = np.concatenate(([0], np.cumsum(hi - lo)))
    at = np.repeat(lo - offsets[:-1], hi - lo) + np.arange(offsets[-1])
    return slot[at], values[at], offsets


def _spilled_sequences(
    first_keys: np.ndarray, side_keys: np.ndarray, sides: np.ndarray, slots: range
) -> tuple[np.ndarray, np.ndarray]:
    """The first rows' values in `slots`, slot after slot in text order: (values, offsets per pair)."""
    _, values, offsets = _gather(first_keys, side_keys, sides, slots)
    return values, offsets


def row_sequences(lists: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Each row's values of a list<list<uint32>> column, its parts one after the other: (values, row offsets)."""
    lists = one_array(lists)
    inner = pc.list_flatten(lists)  # one list per (row, part)
    parent = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    inner_lengths = pc.fill_null(pc.list_value_length(inner), 0).to_numpy(zero_copy_only=False)
    lengths = np.bincount(parent, weights=inner_lengths, minlength=len(lists)).astype(np.int64)
    values = pc.list_flatten(pc.list_flatten(lists)).to_numpy(zero_copy_only=False).astype(np.uint32)
    return values, np.concatenate(([0], np.cumsum(lengths)))


def in_order(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], threshold: float) -> np.ndarray:
    """Whether each pair's two token sequences (values, offsets) reach `threshold` ROUGE-L F.

    Shingle sets ignore where the shared shingles are: rows stitched from
    the same sentences in another order, or sharing scattered stock phrases,
    have similar sets but not the same text. Two empty rows are in order.
    """
    (va, oa), (vb, ob) = a, b
    empty = (np.diff(oa) == 0) & (np.diff(ob) == 0)
    return empty | (rouge_l_sequences(va.astype(np.int64), oa, vb.astype(np.int64), ob) >= threshold)


def _spilled_shingles(first_keys: np.ndarray, side_keys: np.ndarray, sides: np.ndarray, parts: int) -> list[PartShingles]:
    """Each part's shingles of the first rows of pairs, from spilled [key words, part, hash] rows (one gather)."""
    slot, values, offsets = _gather(first_keys, side_keys, sides, range(parts))
    pair = np.repeat(np.arange(len(first_keys), dtype=np.int64), np.diff(offsets))
    values = values.astype(np.uint32)
    return [PartShingles(pair[slot == k], values[slot == k]) for k in range(parts)]


# Below the exact test's thresholds by this much, a pair's MinHash estimate
# rules it out before its shingle sets are compared (about 2.5 standard
# deviations of a 128-permutation estimate near 0.3).
PLAUSIBLE_MARGIN = 0.1
# A prompt of fewer than short_prompt_shingles shingles loses them all to one
# edited word; its similarity is waived when the answer reaches this.
SHORT_PROMPT_ANSWER = 0.5


def _keys_of(spilled: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(spilled[:, :2]).view(np.uint64).ravel().astype(np.int64)


def _rows_of(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Positions of `wanted` keys among spilled rows (a row spilled more than once: any copy)."""
    order = np.argsort(keys, kind="stable")
    return order[np.searchsorted(keys, wanted, sorter=order)]


def plausible(a: np.ndarray, b: np.ndarray, p: DedupParams) -> np.ndarray:
    """Pairs whose MinHash estimates leave room for the exact test to pass (signatures side by side)."""
    n = p.num_perm
    content = minhash.estimated_jaccard(a[:, -n:], b[:, -n:])  # the answer (or the one text)
    ok = content >= p.verify_threshold - PLAUSIBLE_MARGIN
    if p.parts > 1:
        whole_a, whole_b = np.minimum(a[:, :n], a[:, n:]), np.minimum(b[:, :n], b[:, n:])
        ok &= minhash.estimated_jaccard(whole_a, whole_b) >= p.row_threshold - PLAUSIBLE_MARGIN
    return ok


def verify_pairs(
    pairs: np.ndarray,
    sides: np.ndarray,
    table: pa.Table,
    idx: np.ndarray,
    p: DedupParams,
    template: np.ndarray | None = None,
    first_sigs: np.ndarray | None = None,
) -> np.ndarray:
    """Which candidate pairs [first key, second key, evidence] are duplicates.

    `sides` holds the first rows' spilled data ([key words, signature] or
    [key words, part, token] rows), `table`/`idx` the second rows' side rows,
    `template` the dataset's template shingles (sorted; exact only) and
    `first_sigs` the first rows' [key words, signature] rows (exact only: a
    pair whose estimates are far below the thresholds is not compared).
    Exact copies (same content hash) always pass.
    """
    side_keys = _keys_of(sides)
    if p.verify == "exact":
        ok = np.zeros(len(pairs), dtype=bool)
        look = np.ones(len(pairs), dtype=bool)
        if first_sigs is not None and len(first_sigs):
            a = first_sigs[_rows_of(_keys_of(first_sigs), pairs[:, 0]), 2:]
            look = plausible(a, signatures_at(table, idx, p.width), p)
        sel = np.flatnonzero(look)
        first = _spilled_shingles(pairs[sel, 0], side_keys, sides, p.parts)
        second = part_shingles(table.column("shingles").take(pa.array(idx[sel])), p.parts)
        empty = np.zeros(0, np.uint32)
        ok[sel] = is_duplicate(pair_similarity(first, second, empty if template is None else template, len(sel)), p)
        if p.order_threshold > 0:
            check = sel[ok[sel]]
            first_words = _spilled_sequences(pairs[check, 0], side_keys, sides, range(p.parts, 2 * p.parts))
            second_words = row_sequences(table.column("tokens").take(pa.array(idx[check])))
            ok[check] = in_order(first_words, second_words, p.order_threshold)
    elif p.verify == "rouge_l":
        content, context = _rouge_l_from_rows(pairs[:, 0], side_keys, sides, table.column("tokens").take(pa.array(idx)), p.parts)
        ok = is_similar(content, context, p)
    elif p.verify == "estimate":
        # A first row is spilled once per destination, possibly by several writers: any copy will do.
        pos = _rows_of(side_keys, pairs[:, 0])
        ok = is_similar(*similarity(sides[pos, 2:], signatures_at(table, idx, p.width), p), p)
    else:
        ok = np.ones(len(pairs), dtype=bool)
    return ok | ((pairs[:, 2] & lsh.EXACT) != 0)


def _rouge_l_from_rows(pair_ids, side_ids, sides, second: pa.Array, parts: int) -> tuple[np.ndarray, np.ndarray]:
    """ROUGE-L F (content, context) from the first rows' spilled token sequences
    [key, part, hash] (in text order) and the second rows' token lists."""
    second = one_array(second)
    out = []
    for k in (parts - 1, 0):  # content is the last part (the answer), context the first
        a_seq, a_off = _spilled_sequences(pair_ids, side_ids, sides, range(k, k + 1))
        b_lists = pc.list_element(second, k)
        b_off = np.asarray(b_lists.offsets, dtype=np.int64)
        b_seq = np.asarray(b_lists.values, dtype=np.int64)[b_off[0] : b_off[-1]]
        out.append(rouge_l_sequences(a_seq.astype(np.int64), a_off, b_seq, b_off - b_off[0]).astype(np.float32))
    return out[0], out[1]
