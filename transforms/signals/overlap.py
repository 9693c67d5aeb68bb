"""Overlap and repetition signals over whole Arrow arrays.

- `rouge_l`: ROUGE-L F-measure of row pairs, equal to the `rouge-score`
  package (default tokenizer, no stemming), with a bit-parallel LCS run
  over all rows at once instead of an O(m*n) Python table per row.
- `bleu`: sacrebleu's sentence BLEU (13a tokenizer, effective order, exp
  smoothing) of row pairs: the tokenizer's rules run over the whole column
  (numpy and RE2) and n-grams are matched by hash with numpy.
- `token_entropy`, `normalized_token_entropy`: Shannon entropy of each row's
  word distribution; low values mean repetition.
- `ContaminationIndex`: hashed word 13-grams of benchmark texts, and per row
  how many of the row's 13-grams are among them (the overlap test of Brown
  et al. 2020, "Language Models are Few-Shot Learners", appendix C).

Nulls count as empty strings everywhere. No per-row Python except reading
benchmark files.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.arrow_bytes import as_numpy, hex_u64, mix64, unique_sorted, utf8_buffer
from winnow.transforms.dedup.shingles import _token_bounds, normalize, token_hashes
from winnow.transforms.signals.base import Context, Signal
from winnow.transforms.textviews import answer_pairs, collect_strings, per_row_worst_and_mean

if TYPE_CHECKING:
    from winnow.transforms.config import Config

ROUGE_MAX_TOKENS = 512
_ROWS_PER_CHUNK = 4096  # rows per call of the batch code, so its arrays stay bounded
_ROUGE_ROWS_PER_CHUNK = 2048  # LCS masks: at most rows * max_tokens * max_tokens / 8 bytes (64 MB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _chunked(func, size: int, *arrays: pa.Array) -> np.ndarray:
    """Apply `func` to slices of at most `size` rows so memory stays bounded."""
    n = len(arrays[0])
    if n <= size:
        return func(*arrays)
    return np.concatenate([func(*(a.slice(i, size) for a in arrays)) for i in range(0, n, size)])


def _as_string_array(texts: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> pa.Array:
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    elif not isinstance(texts, pa.Array):
        texts = pa.array(texts, pa.string())
    return texts


def _list_offsets(lists: pa.Array) -> np.ndarray:
    """Offsets of each row into lists.flatten(), from 0 (whatever the array's own offset)."""
    lens = as_numpy(pc.fill_null(pc.list_value_length(lists), 0)).astype(np.int64)
    return np.concatenate(([0], np.cumsum(lens)))


def _check_pair(a: pa.Array, b: pa.Array) -> tuple[pa.Array, pa.Array]:
    a, b = _as_string_array(a), _as_string_array(b)
    if len(a) != len(b):
        raise ValueError(f"arrays differ in length: {len(a)} vs {len(b)}")
    return a, b


# ---- ROUGE-L -----------------------------------------------------------------


def _rouge_byte_table() -> np.ndarray:
    """Byte -> lowercase ASCII letter/digit, or 0 for a separator."""
    table = np.zeros(256, dtype=np.uint8)
    for c in b"abcdefghijklmnopqrstuvwxyz0123456789":
        table[c] = c
    for c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        table[c] = c + 32
    return table


_ROUGE_TABLE = _rouge_byte_table()


def rouge_tokens(texts: pa.Array, max_tokens: int = ROUGE_MAX_TOKENS) -> pa.ListArray:
    """rouge-score's default tokens of each row (the first `max_tokens`).

    rouge_score.tokenize lowercases with str.lower, turns every run outside
    [a-z0-9] into a space and splits, so tokens are runs of ASCII letters and
    digits. Done here on the UTF-8 bytes: every non-ASCII byte separates,
    except the two characters whose Python lowercase holds an ASCII letter:
    U+0130 (-> "i" + combining dot, a separator) and U+212A KELVIN SIGN (-> "k").
    """
    texts = _as_string_array(texts)
    buf, offsets = utf8_buffer(texts)
    val = _ROUGE_TABLE[buf]
    drop = np.zeros(len(buf), dtype=bool)
    if len(buf) >= 2:
        dot_i = np.flatnonzero((buf[:-1] == 0xC4) & (buf[1:] == 0xB0))
        val[dot_i] = ord("i")
        kelvin = np.flatnonzero((buf[:-2] == 0xE2) & (buf[1:-1] == 0x84) & (buf[2:] == 0xAA))
        val[kelvin] = ord("k")
        drop[kelvin + 1] = True
        drop[kelvin + 2] = True
    if drop.any():  # dropped bytes are transparent: "aKb" is one token, as in Python
        keep = ~drop
        cs = np.concatenate(([0], np.cumsum(keep)))
        val, offsets = val[keep], cs[offsets]
    return _split_bytes(val, offsets, val != 0, max_tokens)


def _split_bytes(data: np.ndarray, offsets: np.ndarray, in_word: np.ndarray, max_tokens: int | None = None) -> pa.LargeListArray:
    """Words of each row: maximal runs of bytes with `in_word` set, never across rows.

    The word bytes are packed together so the words are an Arrow string
    array over one buffer (no Python per word); the caller must make sure
    that cutting at the other bytes leaves valid UTF-8. With `max_tokens`,
    only each row's first words.
    """
    n = len(offsets) - 1
    prev = np.empty_like(in_word)
    if len(in_word):
        prev[0] = False
        prev[1:] = in_word[:-1]
        prev[offsets[:-1][offsets[:-1] < len(in_word)]] = False
    start_pos = np.flatnonzero(in_word & ~prev)
    tok_row = np.searchsorted(offsets, start_pos, side="right") - 1
    per_row = np.bincount(tok_row, minlength=n)
    word_idx = np.cumsum(in_word) - 1  # index of each word byte among word bytes
    tok_first = word_idx[start_pos]
    packed = data[in_word]
    tok_offsets = np.append(tok_first, len(packed)).astype(np.int64)
    if max_tokens is not None and len(start_pos) and per_row.max() > max_tokens:
        first = np.concatenate(([0], np.cumsum(per_row)[:-1]))
        kept = (np.arange(len(start_pos)) - first[tok_row]) < max_tokens
        tok_len = np.diff(tok_offsets)
        packed = packed[np.repeat(kept, tok_len)]
        tok_offsets = np.concatenate(([0], np.cumsum(tok_len[kept]))).astype(np.int64)
        per_row = np.minimum(per_row, max_tokens)
    tokens = pa.LargeStringArray.from_buffers(len(tok_offsets) - 1, pa.py_buffer(tok_offsets), pa.py_buffer(packed.tobytes()))
    list_offsets = np.concatenate(([0], np.cumsum(per_row))).astype(np.int64)
    return pa.LargeListArray.from_arrays(pa.array(list_offsets), tokens)


def _lcs_bitparallel(s_ids: np.ndarray, s_off: np.ndarray, l_ids: np.ndarray, l_off: np.ndarray) -> np.ndarray:
    """LCS length of each row's two integer sequences, all rows at once.

    Bit-parallel LCS (Allison & Dix 1986, Hyyrö 2004): the shorter side is a
    bitset V of up to ROUGE_MAX_TOKENS bits (uint64 words), and each token y
    of the longer side updates V = (V + (V & M[y])) | (V & ~M[y]), where M[y]
    marks the shorter side's positions holding y. LCS = zeros in V. Rows are
    ordered by the longer side's length, so step j touches a prefix of them.
    """
    n = len(s_off) - 1
    s_len, l_len = np.diff(s_off), np.diff(l_off)
    out = np.zeros(n, dtype=np.int64)
    if n == 0 or not s_len.any() or not l_len.any():
        return out
    words = int((s_len.max() + 63) // 64)
    vocab = int(max(s_ids.max(initial=0), l_ids.max(initial=0))) + 1
    # Match masks: one per distinct (row, token) of the shorter side.
    s_row = np.repeat(np.arange(n), s_len)
    s_pos = np.arange(len(s_ids)) - s_off[s_row]
    s_key = s_row.astype(np.int64) * vocab + s_ids
    keys, group = np.unique(s_key, return_inverse=True)
    masks = np.zeros((len(keys) + 1, words), dtype=np.uint64)  # last row: no match
    np.add.at(masks, (group, s_pos // 64), np.left_shift(np.uint64(1), (s_pos % 64).astype(np.uint64)))
    l_row = np.repeat(np.arange(n), l_len)
    l_key = l_row.astype(np.int64) * vocab + l_ids
    at = np.minimum(np.searchsorted(keys, l_key), len(keys) - 1)
    l_group = np.where(keys[at] == l_key, at, len(keys))
    # Rows by decreasing longer-side length; tokens by (position, row rank).
    order = np.argsort(-l_len, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    l_pos = np.arange(len(l_ids)) - l_off[l_row]
    tok_order = np.lexsort((rank[l_row], l_pos))
    l_group = l_group[tok_order]
    active = np.bincount(l_pos, minlength=int(l_len.max()))  # rows with a token at position j
    bounds = np.concatenate(([0], np.cumsum(active)))
    v = np.full((n, words), np.uint64(0xFFFFFFFFFFFFFFFF))
    for j in range(len(active)):
        c = int(active[j])
        m = np.take(masks, l_group[bounds[j] : bounds[j + 1]], axis=0)
        vp = v[:c]
        u = vp & m
        s = vp + u
        if words > 1:  # carry between words; a ripple past one word is rare
            cin = (s < vp)[:, :-1]
            k = 1
            while cin.any():
                tgt = s[:, k:]
                tgt += cin
                cin = (cin & (tgt == 0))[:, :-1]
                k += 1
        np.bitwise_or(s, vp ^ u, out=vp)  # (V + U) | (V & ~M), as V & ~M = V ^ U
    lcs_sorted = words * 64 - np.bitwise_count(v).sum(axis=1, dtype=np.int64)
    out[order] = lcs_sorted
    out[(s_len == 0) | (l_len == 0)] = 0
    return out


def _rouge_l_chunk(a: pa.Array, b: pa.Array, max_tokens: int) -> np.ndarray:
    ta, tb = rouge_tokens(a, max_tokens), rouge_tokens(b, max_tokens)
    ids = as_numpy(pc.dictionary_encode(pa.concat_arrays([ta.values, tb.values])).indices).astype(np.int64)
    ids_a, ids_b = ids[: len(ta.values)], ids[len(ta.values) :]
    off_a, off_b = as_numpy(ta.offsets).astype(np.int64), as_numpy(tb.offsets).astype(np.int64)
    return rouge_l_sequences(ids_a, off_a, ids_b, off_b)


def rouge_l_sequences(ids_a: np.ndarray, off_a: np.ndarray, ids_b: np.ndarray, off_b: np.ndarray) -> np.ndarray:
    """ROUGE-L F-measure of row i's token sequences ids_a[off_a[i]:off_a[i+1]] and ids_b[...].

    Tokens are integers (small ids, or hashes as kept in dedup side files);
    the F-measure is computed exactly as rouge_score does from the LCS.
    """
    if len(ids_a) and len(ids_b):
        _, compact = np.unique(np.concatenate((ids_a, ids_b)), return_inverse=True)
        ids_a, ids_b = compact[: len(ids_a)].astype(np.int64), compact[len(ids_a) :].astype(np.int64)
    la, lb = np.diff(off_a), np.diff(off_b)
    # The shorter side of each row is the bitset (LCS is symmetric).
    a_short = la <= lb
    row_a = np.repeat(np.arange(len(la)), la)
    row_b = np.repeat(np.arange(len(lb)), lb)
    s_sel_a, s_sel_b = a_short[row_a], ~a_short[row_b]
    # Stable sort by row keeps each row's tokens in order.
    s_rows = np.concatenate((row_a[s_sel_a], row_b[s_sel_b]))
    s_ids = np.concatenate((ids_a[s_sel_a], ids_b[s_sel_b]))[np.argsort(s_rows, kind="stable")]
    l_rows = np.concatenate((row_a[~s_sel_a], row_b[~s_sel_b]))
    l_ids = np.concatenate((ids_a[~s_sel_a], ids_b[~s_sel_b]))[np.argsort(l_rows, kind="stable")]
    s_len, l_len = np.where(a_short, la, lb), np.where(a_short, lb, la)
    s_off = np.concatenate(([0], np.cumsum(s_len)))
    l_off = np.concatenate(([0], np.cumsum(l_len)))
    lcs = _lcs_bitparallel(s_ids, s_off, l_ids, l_off).astype(np.float64)
    # Same float operations as rouge_score._score_lcs: target b, prediction a.
    precision = np.divide(lcs, la, out=np.zeros(len(la)), where=la > 0)
    recall = np.divide(lcs, lb, out=np.zeros(len(lb)), where=lb > 0)
    denom = precision + recall
    return np.divide(2 * precision * recall, denom, out=np.zeros(len(la)), where=denom > 0)


def rouge_token_ids(texts: pa.Array, max_tokens: int = ROUGE_MAX_TOKENS) -> tuple[np.ndarray, np.ndarray]:
    """rouge-score's tokens of each row as 32-bit hashes, and row offsets into them.

    Hashes rather than ids from one batch's dictionary, so sequences stored
    by different workers (dedup side files) compare with each other.
    """

    tokens = rouge_tokens(texts, max_tokens)
    words = tokens.values
    buf = np.frombuffer(words.buffers()[2], dtype=np.uint8) if len(words) else np.zeros(0, np.uint8)
    offsets = np.frombuffer(words.buffers()[1], dtype=np.int64)[: len(words) + 1] if len(words) else np.zeros(1, np.int64)
    hashes = (token_hashes(buf, offsets[:-1], offsets[1:]) >> np.uint64(32)).astype(np.uint32)
    return hashes, as_numpy(tokens.offsets).astype(np.int64)


def rouge_l(a: pa.Array, b: pa.Array, max_tokens: int = ROUGE_MAX_TOKENS) -> np.ndarray:
    """ROUGE-L F-measure of each pair (a_i, b_i), in [0, 1].

    Equal to rouge_score.rouge_scorer.RougeScorer(["rougeL"]).score(b_i, a_i)
    ["rougeL"].fmeasure (the F-measure is symmetric, so the order only swaps
    precision and recall) when both sides have at most `max_tokens` tokens;
    longer sides are cut to their first `max_tokens` tokens, which bounds
    the cost at max_tokens^2 / 64 word operations per row. Row pairs with an
    empty side score 0.
    """
    a, b = _check_pair(a, b)
    return _chunked(lambda x, y: _rouge_l_chunk(x, y, max_tokens), min(_ROUGE_ROWS_PER_CHUNK, _ROWS_PER_CHUNK), a, b)


# ---- BLEU ----------------------------------------------------------------------

# sacrebleu's TokenizerRegexp (used by 13a). Its first rule, a space on each
# side of ASCII punctuation, is done on the bytes (_BLEU_PUNCT); the other
# three are RE2 patterns with the same leftmost, non-overlapping matches.
_BLEU_REGEXES = (
    (r"([^0-9])([.,])", r"\1 \2 "),
    (r"([.,])([^0-9])", r" \1 \2"),
    (r"([0-9])(-)", r"\1 \2 "),
)
_BLEU_ORDER = 4


def _byte_set(ranges: Sequence[tuple[int, int]]) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    for lo, hi in ranges:
        table[lo : hi + 1] = True
    return table


# sacrebleu's class [\{-\~\[-\` -\&\(-\+\:-\@\/] without the space itself:
# spacing a space only adds spaces, which the final split drops.
_BLEU_PUNCT = _byte_set([(0x21, 0x26), (0x28, 0x2B), (0x2F, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)])


def _space_out(texts: pa.Array, table: np.ndarray) -> pa.Array:
    """Put a space before and after every (ASCII) byte in `table`, like re.sub(r"([...])", r" \1 ")."""
    buf, offsets = utf8_buffer(texts)
    hit = table[buf].astype(np.int64)
    end = np.cumsum(1 + 2 * hit)
    out = np.full(int(end[-1]) if len(end) else 0, 0x20, dtype=np.uint8)
    out[end - 1 - hit] = buf
    new_offsets = np.concatenate(([0], end))[offsets]
    return pa.LargeStringArray.from_buffers(len(texts), pa.py_buffer(new_offsets.astype(np.int64)), pa.py_buffer(out.tobytes()))


def split_words(texts: pa.Array) -> pa.LargeListArray:
    """Python's str.split() of each row, vectorized (Arrow's utf8 whitespace is the same set).

    Trimmed first (see textstats.repetition_stats on utf8_split_whitespace),
    and an empty row gives [] rather than Arrow's [""].
    """
    texts = pc.fill_null(_as_string_array(texts), "")
    lists = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(texts))
    flat = lists.flatten()
    keep = as_numpy(pc.not_equal(flat, "")).astype(bool)
    parents = as_numpy(pc.list_parent_indices(lists)).astype(np.int64)[keep]
    offsets = np.concatenate(([0], np.cumsum(np.bincount(parents, minlength=len(texts))))).astype(np.int64)
    return pa.LargeListArray.from_arrays(pa.array(offsets), flat.filter(pa.array(keep)))


def bleu_tokens(texts: pa.Array) -> pa.LargeListArray:
    """sacrebleu's 13a tokens of each row (BLEU's default `_preprocess_segment`)."""
    t = pc.utf8_rtrim_whitespace(pc.fill_null(_as_string_array(texts), ""))  # str.rstrip()'s whitespace set
    t = pc.replace_substring(t, "<skipped>", "")
    t = pc.replace_substring(t, "-\n", "")
    t = pc.replace_substring(t, "\n", " ")
    for entity, char in (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">")):
        t = pc.replace_substring(t, entity, char)
    t = _space_out(pc.binary_join_element_wise(" ", t, " ", ""), _BLEU_PUNCT)
    for pattern, repl in _BLEU_REGEXES:
        t = pc.replace_substring_regex(t, pattern, repl)
    return split_words(t)


def _gram_keys(ids: np.ndarray, off: np.ndarray, slot_bits: int) -> np.ndarray:
    """Sorted keys of every word 1..4-gram inside a row.

    A key is a 64-bit hash of the row and the n-gram's words with its low
    `slot_bits` replaced by the slot row * 4 + order - 1, so equal n-grams of
    one row and order get equal keys and a key's slot is read back without a
    sort permutation. The k-gram hash at s extends the (k-1)-gram hash at s.
    """
    rows = np.repeat(np.arange(len(off) - 1, dtype=np.uint64), np.diff(off))
    tok = mix64(ids.astype(np.uint64) + _GOLDEN)
    h = mix64(rows * _GOLDEN + _GOLDEN)
    low = np.uint64((1 << slot_bits) - 1)
    keys = [np.zeros(0, dtype=np.uint64)]
    for k in range(1, _BLEU_ORDER + 1):
        m = len(ids) - k + 1
        if m <= 0:
            break
        h = mix64(h[:m] ^ tok[k - 1 :])
        inside = rows[:m] == rows[k - 1 :]
        keys.append(((h & ~low) | (rows[:m] * np.uint64(_BLEU_ORDER) + np.uint64(k - 1)))[inside])
    key = np.concatenate(keys)
    key.sort()
    return key


def _runs_sorted(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and their counts."""
    if len(keys) == 0:
        return keys, np.zeros(0, dtype=np.int64)
    starts = np.concatenate(([0], np.flatnonzero(keys[1:] != keys[:-1]) + 1))
    return keys[starts], np.diff(np.append(starts, len(keys)))


def _bleu_chunk(hyp: pa.Array, ref: pa.Array) -> np.ndarray:
    n = len(hyp)
    th, tr = bleu_tokens(hyp), bleu_tokens(ref)
    fh, fr = th.flatten(), tr.flatten()
    ids = as_numpy(pc.dictionary_encode(pa.concat_arrays([fh, fr])).indices).astype(np.int64)
    ids_h, ids_r = ids[: len(fh)], ids[len(fh) :]
    off_h, off_r = _list_offsets(th), _list_offsets(tr)
    sys_len, ref_len = np.diff(off_h), np.diff(off_r)
    slot_bits = max(int(n * _BLEU_ORDER - 1).bit_length(), 1)
    # Clipped matches: sum over distinct hypothesis n-grams of min(count_hyp, count_ref).
    uh, ch = _runs_sorted(_gram_keys(ids_h, off_h, slot_bits))
    ur, cr = _runs_sorted(_gram_keys(ids_r, off_r, slot_bits))
    clipped = np.zeros(len(uh))
    if len(ur):
        at = np.minimum(np.searchsorted(ur, uh), len(ur) - 1)
        clipped = np.where(ur[at] == uh, np.minimum(ch, cr[at]), 0).astype(np.float64)
    slots = (uh & np.uint64((1 << slot_bits) - 1)).astype(np.int64)
    correct = np.bincount(slots, weights=clipped, minlength=n * _BLEU_ORDER).reshape(n, _BLEU_ORDER)
    orders = np.arange(1, _BLEU_ORDER + 1)
    total = np.maximum(sys_len[:, None] - orders[None, :] + 1, 0).astype(np.float64)
    return _bleu_from_stats(correct, total, sys_len.astype(np.float64), ref_len.astype(np.float64))


def _bleu_from_stats(correct: np.ndarray, total: np.ndarray, sys_len: np.ndarray, ref_len: np.ndarray) -> np.ndarray:
    """sacrebleu BLEU.compute_bleu (smooth 'exp', effective order) on arrays of statistics."""
    n = len(sys_len)
    bp = np.ones(n)
    short = sys_len < ref_len
    np.exp(1 - np.divide(ref_len, sys_len, out=np.ones(n), where=sys_len > 0), out=bp, where=short & (sys_len > 0))
    bp[short & (sys_len == 0)] = 0.0
    smooth = np.ones(n)
    alive = np.ones(n, dtype=bool)
    eff_order = np.zeros(n)
    log_sum = np.zeros(n)
    for k in range(_BLEU_ORDER):
        tot, cor = total[:, k], correct[:, k]
        alive &= tot > 0
        eff_order[alive] = k + 1
        zero = alive & (cor == 0)
        smooth = np.where(zero, smooth * 2, smooth)
        safe_tot = np.where(alive, tot, 1.0)
        prec = np.where(zero, 100.0 / (smooth * safe_tot), 100.0 * cor / safe_tot)
        log_sum = log_sum + np.where(alive, np.log(np.where(alive, prec, 1.0)), 0.0)
    score = bp * np.exp(log_sum / np.maximum(eff_order, 1))
    return np.where(correct.sum(axis=1) > 0, score, 0.0)


def bleu(hyp: pa.Array, ref: pa.Array) -> np.ndarray:
    """sacrebleu sentence BLEU (0..100) of each hypothesis against its one reference.

    Equal to sacrebleu.metrics.BLEU(effective_order=True).sentence_score(h, [r])
    .score (13a tokenizer, case-sensitive, 'exp' smoothing): tokenized with
    pyarrow, n-grams matched by 64-bit hash with numpy, so about one Python
    call per batch instead of a tokenizer call and a Counter per row. A pair
    with an empty (or null) side scores 0.
    """
    hyp, ref = _check_pair(hyp, ref)
    return _chunked(_bleu_chunk, _ROWS_PER_CHUNK, hyp, ref)


# ---- Token entropy ------------------------------------------------------------


def _entropy_and_count(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    texts = pc.fill_null(_as_string_array(texts), "")
    n = len(texts)
    words = split_words(pc.utf8_lower(texts))
    flat = words.flatten()
    parents = np.repeat(np.arange(n), np.diff(as_numpy(words.offsets)))
    ids = as_numpy(pc.dictionary_encode(flat).indices).astype(np.int64)
    totals = np.bincount(parents, minlength=n)
    if len(ids) == 0:
        return np.zeros(n), totals
    vocab = int(ids.max()) + 1
    keys = np.sort(parents * vocab + ids)  # (row, word), grouped by row
    starts = np.concatenate(([0], np.flatnonzero(keys[1:] != keys[:-1]) + 1))
    counts = np.diff(np.append(starts, len(keys))).astype(np.float64)
    rows = keys[starts] // vocab
    p = counts / totals[rows]
    h = np.bincount(rows, weights=-p * np.log2(p), minlength=n)
    return np.maximum(h, 0.0), totals


def token_entropy(texts: pa.Array) -> np.ndarray:
    """Shannon entropy in bits of each row's word distribution.

    Words are runs of non-whitespace after pyarrow's utf8_lower (Unicode
    whitespace, the set Python's str.split uses). log2(words) when no word
    repeats, 0 for rows with fewer than two distinct words; low values
    relative to length mean a repetitive row.
    """
    return _entropy_and_count(texts)[0]


def normalized_token_entropy(texts: pa.Array) -> np.ndarray:
    """token_entropy / log2(number of words), in [0, 1]: 1 = no word repeats.

    Comparable across lengths, unlike the raw entropy. 0 for rows with fewer
    than two words.
    """
    h, totals = _entropy_and_count(texts)
    denom = np.log2(np.maximum(totals, 1).astype(np.float64))
    out = np.divide(h, denom, out=np.zeros(len(h)), where=totals >= 2)
    return np.clip(out, 0.0, 1.0)


# ---- Benchmark contamination -------------------------------------------------------


def _ngram_hashes64(texts: pa.Array, n: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of each row's word n-grams and the row of each.

    Words as in winnow.transforms.dedup.shingles (case-folded, every run of characters that
    is not a letter, number or mark is a separator). A row with fewer than n
    words but at least n // 2 gives one hash of all its words; shorter rows
    give none.
    """
    normalized = normalize(_as_string_array(texts))
    buf, offsets = utf8_buffer(normalized)
    rows_n = len(normalized)
    starts, ends, rows = _token_bounds(buf, offsets, np.zeros(rows_n, dtype=bool))
    tok = token_hashes(buf, starts, ends)
    per_row = np.bincount(rows, minlength=rows_n)
    first = np.concatenate(([0], np.cumsum(per_row)[:-1]))
    hashes, gram_rows = [np.zeros(0, dtype=np.uint64)], [np.zeros(0, dtype=np.int64)]
    m = len(tok) - n + 1
    if m > 0:  # every window of n words, as contiguous slices; kept when inside one row
        h = np.full(m, _chain_seed(np.array([n]))[0])
        for j in range(n):
            h = (h ^ tok[j : j + m]) * _GOLDEN
        inside = rows[:m] == rows[n - 1 :]
        hashes.append(mix64(h[inside]))
        gram_rows.append(rows[:m][inside])
    short = np.flatnonzero((per_row < n) & (per_row >= max(n // 2, 1)))
    if len(short):  # whole rows of n // 2 to n - 1 words
        count, start = per_row[short], first[short]
        h = _chain_seed(count)
        for j in range(int(count.max())):
            h = np.where(j < count, (h ^ tok[np.minimum(start + j, len(tok) - 1)]) * _GOLDEN, h)
        hashes.append(mix64(h))
        gram_rows.append(short)
    return np.concatenate(hashes), np.concatenate(gram_rows)


def _chain_seed(length: np.ndarray) -> np.ndarray:
    """Start of the n-gram hash chain, by number of words (so lengths never collide)."""
    return mix64(length.astype(np.uint64) * _GOLDEN + np.uint64(1))


def _collect_fields(obj: Any, fields: Sequence[str], out: list[str]) -> None:
    """Strings under `fields` of every object in the JSON tree (records may be nested)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in fields:
                collect_strings(v, out)
            else:
                _collect_fields(v, fields, out)
    elif isinstance(obj, list):
        for v in obj:
            _collect_fields(v, fields, out)


def _read_json_values(path: str) -> Iterable[Any]:
    """A JSON document (array or object) or JSON lines, optionally gzipped."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        text = f.read()
    try:
        yield json.loads(text)
    except json.JSONDecodeError:
        for line in text.splitlines():
            if line.strip():
                yield json.loads(line)


class ContaminationIndex:
    """Hashed word n-grams of benchmark texts, to count overlap with training rows.

    A training row sharing a 13-gram with a benchmark text is likely to hold
    benchmark content (GPT-3's contamination test). The index is a sorted
    numpy array of 64-bit hashes (8 bytes per distinct n-gram: a million
    benchmark n-grams take 8 MB), so it pickles cheaply to Beam workers.
    Benchmark texts with fewer than n words are indexed whole if they have at
    least n // 2 words and then only match rows whose whole text is the same
    after normalization; a short question inside a longer row is not found.
    Hash collisions make a false match about 1 in 2^64 / index size per n-gram.
    """

    def __init__(self, texts: Iterable[str | None] | pa.Array, n: int = 13):
        if n < 1:
            raise ValueError("n must be at least 1")
        self.n = n
        if isinstance(texts, (pa.Array, pa.ChunkedArray)):
            arr = pc.drop_null(_as_string_array(texts))
        else:
            arr = pa.array([t for t in texts if t is not None], pa.string())
        hashes = [np.zeros(0, dtype=np.uint64)]
        for i in range(0, len(arr), _ROWS_PER_CHUNK):
            hashes.append(_ngram_hashes64(arr.slice(i, _ROWS_PER_CHUNK), n)[0])
        self.hashes = unique_sorted(np.concatenate(hashes))
        self.n_texts = len(arr)
        # A bitmap of the hashes' top bits (16 bits per n-gram, at most 16 MB)
        # answers most misses without a binary search.
        bits = int(np.clip(math.ceil(math.log2(max(len(self.hashes), 1) * 16)), 10, 27))
        self._shift = np.uint64(64 - bits)
        self._bitmap = np.zeros(1 << (bits - 3), dtype=np.uint8)
        top = self.hashes >> self._shift
        np.bitwise_or.at(self._bitmap, top >> np.uint64(3), np.left_shift(np.uint8(1), (top & np.uint64(7)).astype(np.uint8)))

    def __len__(self) -> int:
        return len(self.hashes)

    @classmethod
    def from_files(cls, paths: Iterable[str], text_fields: Sequence[str] | None = None, n: int = 13) -> ContaminationIndex:
        """Index benchmark files: JSON lines or one JSON document, optionally .gz (local paths).

        With `text_fields` (e.g. ["question", "answer"]), each string found
        under those keys anywhere in the document is one benchmark text (lists
        of strings, like multiple-choice options, give one text each);
        without, every string value is.
        """
        if isinstance(text_fields, str):
            text_fields = [text_fields]
        texts: list[str] = []
        for path in paths:
            for value in _read_json_values(str(path)):
                if text_fields is None:
                    collect_strings(value, texts)
                else:
                    _collect_fields(value, tuple(text_fields), texts)
        return cls(texts, n)

    def matches(self, texts: pa.Array) -> np.ndarray:
        """Per row, how many of its word n-grams (counted by position) are in the index.

        A row of n // 2 to n - 1 words counts 1 when it equals an indexed
        short benchmark text; rows under n // 2 words count 0.
        """
        texts = _as_string_array(texts)
        out = np.zeros(len(texts), dtype=np.int64)
        if len(self.hashes) == 0:
            return out
        for i in range(0, len(texts), _ROWS_PER_CHUNK):
            h, rows = _ngram_hashes64(texts.slice(i, _ROWS_PER_CHUNK), self.n)
            top = h >> self._shift
            maybe = ((self._bitmap[top >> np.uint64(3)] >> (top & np.uint64(7)).astype(np.uint8)) & 1).astype(bool)
            h, rows = h[maybe], rows[maybe]
            at = np.minimum(np.searchsorted(self.hashes, h), len(self.hashes) - 1)
            hit = self.hashes[at] == h
            part = np.bincount(rows[hit], minlength=min(_ROWS_PER_CHUNK, len(texts) - i))
            out[i : i + len(part)] = part
        return out


# ---- registration -----------------------------------------------------------------------


def _overlap_columns(config: Config) -> list[pa.Field]:
    names = [
        "rouge_l_instruction",
        "rouge_l_instruction_mean",
        "bleu_instruction",
        "response_token_entropy",
        "response_token_entropy_norm",
    ]
    if config.overlap.reference_field:
        names += ["rouge_l_reference", "bleu_reference"]
    return [pa.field(n, pa.float32()) for n in names]


def meta_strings(meta: pa.Array, field: str) -> pa.Array:
    """A string field of each row's meta JSON (null when absent or not a string)."""
    out = []
    for m in meta.to_pylist():
        value = orjson.loads(m).get(field) if m else None
        out.append(value if isinstance(value, str) else None)
    return pa.array(out, pa.string())


def overlap_signals(ctx: Context) -> dict[str, Any]:
    """ROUGE-L (all rows) and BLEU (a stable sample) of each answer against the question it answers,
    and of the last answer against a reference answer when configured; token entropy of the answer.

    Per row, `rouge_l_instruction` and `bleu_instruction` are the highest over
    the row's (question, answer) pairs (textviews.answer_pairs): the most
    parroted answer; `rouge_l_instruction_mean` is their mean.
    """
    ov = ctx.config.overlap
    batch = ctx.batch
    n = batch.num_rows
    response = ctx.cols["response"]
    pairs = answer_pairs(batch)
    has_prompt = pc.not_equal(pc.utf8_trim_whitespace(pc.fill_null(pairs.prompt, "")), "").to_numpy(zero_copy_only=False)
    rouge = np.where(has_prompt, rouge_l(pairs.answer, pairs.prompt), np.nan)
    worst, mean = per_row_worst_and_mean(pairs.rows, rouge, n, "max")
    out: dict[str, Any] = {
        "rouge_l_instruction": pa.array(worst, pa.float32(), from_pandas=True),
        "rouge_l_instruction_mean": pa.array(mean, pa.float32(), from_pandas=True),
    }
    buckets = (hex_u64(batch.column("content_hash")) >> np.uint64(32)) % np.uint64(10_000)
    sampled = (buckets < ov.bleu_sample * 10_000)[pairs.rows] & has_prompt
    bl = np.full(len(pairs.rows), np.nan)
    if sampled.any():
        idx = pa.array(np.flatnonzero(sampled))
        bl[sampled] = bleu(pairs.answer.take(idx), pairs.prompt.take(idx))
    out["bleu_instruction"] = pa.array(per_row_worst_and_mean(pairs.rows, bl, n, "max")[0], pa.float32(), from_pandas=True)
    out["response_token_entropy"] = pa.array(token_entropy(response), pa.float32())
    out["response_token_entropy_norm"] = pa.array(normalized_token_entropy(response), pa.float32())
    if ov.reference_field:
        refs = meta_strings(batch.column("meta"), ov.reference_field)
        known = pc.is_valid(refs).to_numpy(zero_copy_only=False)
        filled = pc.fill_null(refs, "")
        out["rouge_l_reference"] = pa.array(rouge_l(response, filled), pa.float32(), mask=~known)
        out["bleu_reference"] = pa.array(bleu(response, filled), pa.float32(), mask=~known)
    return out


OVERLAP = Signal(
    name="overlap",
    label="overlap (ROUGE-L, BLEU) and token entropy",
    cost="moderate",
    switch="overlap.enabled",
    enabled=lambda config: config.overlap.enabled,
    columns=_overlap_columns,
    compute=overlap_signals,
    means=(
        "rouge_l_instruction",
        "rouge_l_instruction_mean",
        "bleu_instruction",
        "response_token_entropy_norm",
        "rouge_l_reference",
        "bleu_reference",
    ),
    summary="ROUGE-L and BLEU of each answer against its question (and the last answer against a reference), token entropy",
)

CONTAMINATION = Signal(
    name="contamination",
    label="benchmark contamination",
    cost="moderate",
    switch="contamination.benchmarks",
    enabled=lambda config: bool(config.contamination.benchmarks),
    columns=lambda config: [pa.field("contamination_ngrams", pa.int32())],
    compute=lambda ctx: {"contamination_ngrams": ctx.resource.matches(ctx.cols["conversation"])},
    load=lambda config: ContaminationIndex.from_files(
        config.contamination.benchmarks, config.contamination.fields or None, config.contamination.ngram
    ),
    summary="word n-grams shared with benchmark files",
)
