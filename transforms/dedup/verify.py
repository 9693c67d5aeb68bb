"""The duplicate test for candidate pairs: estimated or exact Jaccard, or ROUGE-L.

In prompt_answer mode the content is the answer and the context the
prompt: both must be similar, so a shared template or a stock answer alone
never makes two rows duplicates.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.dedup import lsh, minhash
from winnow.transforms.dedup.params import DedupParams
from winnow.transforms.dedup.sidefiles import signatures_at
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


def _jaccard(x: set, y: set) -> float:
    return len(x & y) / len(x | y) if (x or y) else 1.0


def verify_pairs(pairs: np.ndarray, sides: np.ndarray, table: pa.Table, idx: np.ndarray, p: DedupParams) -> np.ndarray:
    """Which candidate pairs [first key, second key, evidence] are duplicates.

    `sides` holds the first rows' spilled data ([key words, signature] or
    [key words, part, token] rows), `table`/`idx` the second rows' side rows.
    Exact copies (same content hash) always pass.
    """
    side_keys = np.ascontiguousarray(sides[:, :2]).view(np.uint64).ravel().astype(np.int64)
    if p.verify == "exact":
        content, context = _exact_from_rows(pairs[:, 0], side_keys, sides, table.column("shingles").take(pa.array(idx)), p.parts)
        ok = is_similar(content, context, p)
    elif p.verify == "rouge_l":
        content, context = _rouge_l_from_rows(pairs[:, 0], side_keys, sides, table.column("tokens").take(pa.array(idx)), p.parts)
        ok = is_similar(content, context, p)
    elif p.verify == "estimate":
        # A first row is spilled once per destination, possibly by several writers: any copy will do.
        order = np.argsort(side_keys, kind="stable")
        pos = order[np.searchsorted(side_keys, pairs[:, 0], sorter=order)]
        ok = is_similar(*similarity(sides[pos, 2:], signatures_at(table, idx, p.width), p), p)
    else:
        ok = np.ones(len(pairs), dtype=bool)
    return ok | ((pairs[:, 2] & lsh.EXACT) != 0)


def _exact_from_rows(pair_ids, side_ids, sides, second: pa.Array, parts: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact Jaccard (content, context) from the first rows' spilled shingles
    [key, part, hash] and the second rows' shingle lists."""
    first: dict[int, list[set]] = {}
    for pid, k, h in zip(side_ids.tolist(), sides[:, 2].tolist(), sides[:, 3].tolist()):
        first.setdefault(pid, [set() for _ in range(parts)])[k].add(h)
    content = np.zeros(len(pair_ids), dtype=np.float32)
    context = np.zeros(len(pair_ids), dtype=np.float32)
    for i, (pid, lists) in enumerate(zip(pair_ids.tolist(), second.to_pylist())):
        a_sets = first.get(pid, [set() for _ in range(parts)])
        b_sets = [set(x or ()) for x in lists]
        content[i] = _jaccard(a_sets[-1], b_sets[-1])
        context[i] = _jaccard(a_sets[0], b_sets[0])
    return content, context


def _rouge_l_from_rows(pair_ids, side_ids, sides, second: pa.Array, parts: int) -> tuple[np.ndarray, np.ndarray]:
    """ROUGE-L F (content, context) from the first rows' spilled token sequences
    [key, part, hash] (in text order) and the second rows' token lists."""
    order = np.lexsort((np.arange(len(sides)), sides[:, 2], side_ids))  # by pair, then part; text order kept
    ids, part, tok = side_ids[order], sides[order, 2].astype(np.int64), sides[order, 3].astype(np.int64)
    second = second.combine_chunks() if isinstance(second, pa.ChunkedArray) else second
    out = []
    for k in (parts - 1, 0):  # content is the last part (the answer), context the first
        sel = part == k
        a_ids, a_tok = ids[sel], tok[sel]
        lo = np.searchsorted(a_ids, pair_ids, side="left")
        hi = np.searchsorted(a_ids, pair_ids, side="right")
        a_off = np.concatenate(([0], np.cumsum(hi - lo)))
        a_seq = a_tok[np.repeat(lo - a_off[:-1], hi - lo) + np.arange(a_off[-1])]
        b_lists = pc.list_element(second, k)
        b_off = np.asarray(b_lists.offsets, dtype=np.int64)
        b_seq = np.asarray(b_lists.values, dtype=np.int64)[b_off[0] : b_off[-1]]
        out.append(rouge_l_sequences(a_seq, a_off, b_seq, b_off - b_off[0]).astype(np.float32))
    return out[0], out[1]
