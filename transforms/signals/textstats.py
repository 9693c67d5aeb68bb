"""Vectorized text statistics over a column of strings.

Everything here works on whole Arrow arrays (pyarrow.compute + numpy), never
row by row: counts, non-letter share, and Gopher-style repetition (Rae et
al. 2021, "Scaling Language Models", table A1): the share of characters in
duplicated lines, in the most frequent word 2-gram, and in word 5-grams
that occur more than once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.arrow_bytes import as_numpy, utf8_buffer
from winnow.transforms.signals.base import Context, Signal

if TYPE_CHECKING:
    from winnow.transforms.config import Config

_M1 = np.uint64(0x9E3779B97F4A7C15)
_ROW_SHIFT = np.uint64(44)  # keys: row (20 bits) | payload (44 bits)
_MASK44 = np.uint64((1 << 44) - 1)
MAX_ROWS_PER_CALL = 1 << 20


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.zeros_like(a)
    np.divide(a, b, out=out, where=b > 0)
    return out


def _byte_classes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-byte lookup tables: starts a character, is whitespace, is a non-letter."""
    b = np.arange(256)
    starts_char = (b < 0x80) | (b >= 0xC0)
    space = np.isin(b, [9, 10, 11, 12, 13, 32])
    ascii_letter = ((b >= 0x41) & (b <= 0x5A)) | ((b >= 0x61) & (b <= 0x7A))
    # Non-letters: ASCII digits, punctuation and controls, and the lead bytes of
    # U+0080-00BF (Latin-1 symbols), U+2000-2FFF (punctuation, symbols, arrows)
    # and U+10000+ (emoji). Other non-ASCII characters count as letters.
    other = ((b < 0x80) & ~ascii_letter & ~space) | (b == 0xC2) | (b == 0xE2) | ((b >= 0xF0) & (b <= 0xF4))
    return starts_char, space, other


_STARTS_CHAR, _SPACE, _OTHER = _byte_classes()


def _row_sums(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    cs = np.zeros(len(mask) + 1, dtype=np.int64)
    np.cumsum(mask, out=cs[1:])
    return cs[offsets[1:]] - cs[offsets[:-1]]


def basic_stats(texts: pa.Array) -> dict[str, np.ndarray]:
    """Characters, words and the share of non-letter, non-space characters.

    Computed on the UTF-8 bytes with lookup tables (a few numpy passes), not
    with regexes: ASCII classes are exact; among non-ASCII characters only
    Latin-1 symbols, U+2000-2FFF punctuation and emoji count as non-letters.
    """
    buf, offsets = utf8_buffer(texts)
    space = _SPACE[buf]
    chars = _row_sums(_STARTS_CHAR[buf], offsets)
    spaces = _row_sums(space, offsets)
    other = _row_sums(_OTHER[buf], offsets)
    prev_space = np.empty_like(space)
    if len(space):
        prev_space[0] = True
        prev_space[1:] = space[:-1]
        row_starts = offsets[:-1][offsets[:-1] < len(buf)]
        prev_space[row_starts] = True
    words = _row_sums(~space & prev_space & _STARTS_CHAR[buf], offsets)
    return {"chars": chars, "words": words, "non_alpha_frac": _safe_div(other, chars - spaces)}


def _runs(rows: np.ndarray, payload: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort (row, payload) keys and return each distinct key's row, payload and count.

    Sorting keeps the work in numpy's vectorized sort, much faster than a
    hash table for tens of millions of keys, and groups runs by row.
    """
    keys = (rows.astype(np.uint64) << _ROW_SHIFT) | (payload & _MASK44)
    keys.sort()
    if len(keys) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.astype(np.uint64), empty
    starts = np.concatenate(([0], np.flatnonzero(keys[1:] != keys[:-1]) + 1))
    counts = np.diff(np.append(starts, len(keys)))
    first = keys[starts]
    return (first >> _ROW_SHIFT).astype(np.int64), first & _MASK44, counts


def _per_row(func: np.ufunc, rows: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Reduce `values` per row; `rows` must be sorted (as `_runs` returns them)."""
    out = np.zeros(n, dtype=np.float64)
    if len(rows):
        seg = np.concatenate(([0], np.flatnonzero(rows[1:] != rows[:-1]) + 1))
        out[rows[seg]] = func.reduceat(values.astype(np.float64), seg)
    return out


def _ngram_hashes(ids: np.ndarray, parents: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the word n-grams that lie inside one row, and their start positions."""
    m = len(ids) - n + 1
    if m <= 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(parents[:m] == parents[n - 1 :])
    h = np.zeros(len(starts), dtype=np.uint64)
    for j in range(n):
        h = (h ^ ids[starts + j].astype(np.uint64)) * _M1
    return h >> np.uint64(20), starts


def repetition_stats(texts: pa.Array) -> dict[str, np.ndarray]:
    """Gopher-style repetition per row, each in [0, 1].

    - dup_line_frac: characters in lines (with a letter or digit) that occur
      more than once, over the row's characters;
    - top_2gram_frac: characters covered by the top repeated word 2-gram (the
      one whose count times length is largest) over the row's word characters;
    - dup_5gram_frac: share of word 5-grams that occur more than once.
    """
    n = len(texts)
    if n > MAX_ROWS_PER_CALL:
        parts = [repetition_stats(texts.slice(i, MAX_ROWS_PER_CALL)) for i in range(0, n, MAX_ROWS_PER_CALL)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    texts = pc.fill_null(texts, "")

    lines = pc.split_pattern(texts, "\n")
    flat_lines = pc.utf8_trim_whitespace(lines.flatten())
    line_rows = as_numpy(pc.list_parent_indices(lines))
    # Lines without a letter or digit (blank, ``` fences, separators) do not count.
    counted = as_numpy(pc.match_substring_regex(flat_lines, r"[\pL\pN]")).astype(bool)
    line_len = np.minimum(as_numpy(pc.utf8_length(flat_lines)), 4095).astype(np.uint64)
    line_ids = as_numpy(pc.dictionary_encode(flat_lines).indices).astype(np.uint64)
    rows, payload, counts = _runs(line_rows[counted], (line_len[counted] << np.uint64(32)) | line_ids[counted])
    dup_chars = np.where(counts > 1, counts * (payload >> np.uint64(32)).astype(np.float64), 0.0)
    dup_line_frac = np.minimum(_safe_div(_per_row(np.add, rows, dup_chars, n), as_numpy(pc.utf8_length(texts))), 1.0)

    # Right-trim first: utf8_split_whitespace reads one character past the end
    # of a string that ends in whitespace, and on the last row of a buffer that
    # can leave a whitespace "word" behind (depends on the bytes after it).
    words = pc.utf8_split_whitespace(pc.utf8_rtrim_whitespace(pc.utf8_lower(texts)))
    flat_words = words.flatten()
    parents = as_numpy(pc.list_parent_indices(words))
    keep = as_numpy(pc.not_equal(flat_words, "")).astype(bool)
    flat_words, parents = flat_words.filter(pa.array(keep)), parents[keep]
    wlen = as_numpy(pc.utf8_length(flat_words)).astype(np.int64)
    ids = as_numpy(pc.dictionary_encode(flat_words).indices)
    word_chars = np.bincount(parents, weights=wlen, minlength=n)

    h2, s2 = _ngram_hashes(ids, parents, 2)
    glen = np.minimum(wlen[s2] + wlen[s2 + 1], 255).astype(np.uint64)
    rows, payload, counts = _runs(parents[s2], (glen << np.uint64(36)) | (h2 & np.uint64((1 << 36) - 1)))
    chars = (payload >> np.uint64(36)).astype(np.float64)
    top = _per_row(np.maximum, rows, np.where(counts > 1, counts * chars, 0.0), n)
    top_2gram_frac = np.minimum(_safe_div(top, word_chars), 1.0)

    h5, s5 = _ngram_hashes(ids, parents, 5)
    rows, _, counts = _runs(parents[s5], h5)
    dup5 = _per_row(np.add, rows, np.where(counts > 1, counts, 0), n)
    dup_5gram_frac = _safe_div(dup5, np.bincount(parents[s5], minlength=n))
    return {"dup_line_frac": dup_line_frac, "top_2gram_frac": top_2gram_frac, "dup_5gram_frac": dup_5gram_frac}


# ---- registration -----------------------------------------------------------------------


def _text_stats_columns(config: Config) -> list[pa.Field]:
    fields = [pa.field("n_media", pa.int32())]
    for role in ("instruction", "response"):
        fields += [
            pa.field(f"{role}_chars", pa.int64()),
            pa.field(f"{role}_words", pa.int64()),
            pa.field(f"{role}_non_alpha_frac", pa.float32()),
        ]
    return fields


def _text_stats(ctx: Context) -> dict[str, object]:
    out: dict[str, object] = {"n_media": pc.list_value_length(ctx.batch.column("media")).cast(pa.int32())}
    for role in ("instruction", "response"):
        stats = basic_stats(ctx.batch.column(role))
        out[f"{role}_chars"] = stats["chars"]
        out[f"{role}_words"] = stats["words"]
        out[f"{role}_non_alpha_frac"] = stats["non_alpha_frac"]
    return out


TEXT_STATS = Signal(
    name="text_stats",
    label="text stats",
    cost="cheap",
    switch="always on",
    enabled=lambda config: True,
    columns=_text_stats_columns,
    compute=_text_stats,
    means=("response_non_alpha_frac",),
    summary="size of each role and the share of non-letter characters",
)

REPETITION_COLUMNS = ("response_dup_line_frac", "response_top_2gram_frac", "response_dup_5gram_frac")

REPETITION = Signal(
    name="repetition",
    label="repetition",
    cost="cheap",
    switch="signals.repetition",
    enabled=lambda config: config.signals.repetition,
    columns=lambda config: [pa.field(name, pa.float32()) for name in REPETITION_COLUMNS],
    compute=lambda ctx: {f"response_{k}": v for k, v in repetition_stats(ctx.batch.column("response")).items()},
    means=REPETITION_COLUMNS,
    summary="repeated lines, top 2-gram and repeated 5-grams of the response (Gopher)",
)
