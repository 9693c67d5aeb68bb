"""Shingles for near-duplicate detection, hashed vectorized over a batch.

Text is case-folded and every run of characters that is not a letter,
number or mark becomes one space. Rows are then cut into tokens: words, or
single characters for rows written mostly in scripts without spaces
(Han, Hiragana, Katakana, Hangul, Thai), and a shingle is n consecutive
tokens of one row. Rows shorter than n tokens give one shingle of all
their tokens.

Every token is hashed on its UTF-8 bytes with numpy (no Python per token),
and a shingle hash is a 32-bit mix of its token hashes. `shingle_hash32`
computes the same value from a shingle's bytes (tokens joined by single
spaces), so it can be given to `datasketch.MinHash(hashfunc=...)` and
`reference_shingles` produces the shingles of one text in pure Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.arrow_bytes import mix64, utf8_buffer

_NOT_WORD = r"[^\pL\pN\pM]+"
_SPACELESS = r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Thai}]"
_POW_BITS = 6  # byte weights cycle every 64 bytes: P**(k mod 64)
_P = np.uint64(0x100000001B3)  # FNV-1 64-bit prime
_POW = np.array([pow(int(_P), k, 1 << 64) for k in range(1 << _POW_BITS)], dtype=np.uint64)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_U64 = (1 << 64) - 1


@dataclass(frozen=True)
class ShingleSpec:
    """How rows become shingles (config `dedup`)."""

    mode: str = "auto"  # word | char | auto
    word_n: int = 3
    char_n: int = 5
    spaceless_share: float = 0.3  # auto: char mode when this share of characters is spaceless script


def normalize(texts: pa.Array) -> pa.Array:
    """Case-fold and turn every non-word run into one space (RE2, vectorized)."""
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(pc.utf8_lower(pc.fill_null(texts, "")), _NOT_WORD, " "))


def char_mode_rows(normalized: pa.Array, spec: ShingleSpec) -> np.ndarray:
    """Which rows are cut into characters instead of words."""
    n = len(normalized)
    if spec.mode == "word":
        return np.zeros(n, dtype=bool)
    if spec.mode == "char":
        return np.ones(n, dtype=bool)
    spaceless = pc.count_substring_regex(normalized, _SPACELESS).to_numpy(zero_copy_only=False)
    chars = pc.utf8_length(normalized).to_numpy(zero_copy_only=False)
    return spaceless > spec.spaceless_share * np.maximum(chars, 1)


def _token_bounds(buf: np.ndarray, offsets: np.ndarray, char_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, end (byte offsets) and row of every token, in text order."""
    n = len(offsets) - 1
    if len(buf) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    byte_row = np.repeat(np.arange(n), np.diff(offsets))
    space = buf == 0x20
    starts_char = (buf < 0x80) | (buf >= 0xC0)
    in_char_row = char_rows[byte_row]
    # Word tokens: a non-space byte after a space or at a row start.
    prev_space = np.empty_like(space)
    prev_space[0] = True
    prev_space[1:] = space[:-1]
    row_start = offsets[:-1][offsets[:-1] < len(buf)]
    prev_space[row_start] = True
    next_space = np.empty_like(space)
    next_space[-1] = True
    next_space[:-1] = space[1:]
    row_end = offsets[1:][(offsets[1:] > 0)] - 1
    next_space[row_end] = True
    word_start = ~space & prev_space & ~in_char_row
    word_end = ~space & next_space & ~in_char_row
    # Char tokens: every character that is not a space.
    char_start = ~space & starts_char & in_char_row
    starts = np.flatnonzero(word_start | char_start)
    # A char token ends where the next character (or the row) begins.
    is_boundary = starts_char.copy()
    is_boundary[row_start] = True
    boundary_pos = np.flatnonzero(is_boundary)
    ends = np.empty(len(starts), dtype=np.int64)
    word_tok = word_start[starts]
    word_ends = np.flatnonzero(word_end) + 1
    ends[word_tok] = word_ends
    char_idx = np.searchsorted(boundary_pos, starts[~word_tok], side="right")
    nxt = np.where(char_idx < len(boundary_pos), boundary_pos[np.minimum(char_idx, len(boundary_pos) - 1)], len(buf))
    ends[~word_tok] = np.minimum(nxt, offsets[1:][byte_row[starts[~word_tok]]])
    return starts.astype(np.int64), ends, byte_row[starts].astype(np.int64)


def token_hashes(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Polynomial hash of each token's bytes, mixed: sum(b_i * P**((end-1-i) mod 64))."""
    if len(starts) == 0:
        return np.zeros(0, dtype=np.uint64)
    lengths = ends - starts
    pos = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    idx = np.repeat(starts, lengths) + pos
    exponent = (np.repeat(lengths, lengths) - 1 - pos) & ((1 << _POW_BITS) - 1)
    contrib = buf[idx].astype(np.uint64) * _POW[exponent]
    seg = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    sums = np.add.reduceat(contrib, seg)
    return mix64(sums ^ lengths.astype(np.uint64))


def _combine(token_hashes: np.ndarray, starts: np.ndarray, count: np.ndarray) -> np.ndarray:
    """32-bit hash of `count[k]` tokens beginning at token `starts[k]`."""
    h = mix64(count.astype(np.uint64) * _GOLDEN)
    for j in range(int(count.max()) if len(count) else 0):
        active = j < count
        nxt = token_hashes[np.minimum(starts + j, len(token_hashes) - 1)]
        h = np.where(active, mix64(h ^ nxt), h)
    return (h >> np.uint64(32)).astype(np.uint32)


def _tokens(texts: pa.Array, spec: ShingleSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """64-bit hash of every token in text order, each token's row, and each row's shingle size."""
    normalized = normalize(texts)
    char_rows = char_mode_rows(normalized, spec)
    buf, offsets = utf8_buffer(normalized)
    starts, ends, rows = _token_bounds(buf, offsets, char_rows)
    return token_hashes(buf, starts, ends), rows, np.where(char_rows, spec.char_n, spec.word_n)


def _shingles_of(tok: np.ndarray, rows: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(size)
    tokens_per_row = np.bincount(rows, minlength=n)
    first_token = np.concatenate(([0], np.cumsum(tokens_per_row)[:-1]))
    shingles_per_row = np.where(tokens_per_row == 0, 0, np.maximum(tokens_per_row - size + 1, 1))
    row_of_shingle = np.repeat(np.arange(n), shingles_per_row)
    k = np.arange(shingles_per_row.sum()) - np.repeat(np.cumsum(shingles_per_row) - shingles_per_row, shingles_per_row)
    shingle_start = first_token[row_of_shingle] + k
    count = np.minimum(size[row_of_shingle], tokens_per_row[row_of_shingle])
    hashes = _combine(tok, shingle_start, count)
    row_offsets = np.concatenate(([0], np.cumsum(shingles_per_row)))
    return hashes, row_offsets


def shingle_hashes(texts: pa.Array, spec: ShingleSpec) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes (uint32) of every row and the row offsets into them.

    Row i's shingles are hashes[offsets[i]:offsets[i+1]]; a row with no
    token has none.
    """
    return _shingles_of(*_tokens(texts, spec))


def shingles_and_tokens(
    texts: pa.Array, spec: ShingleSpec, max_tokens: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(shingle hashes, row offsets) as shingle_hashes gives them, and (token hashes, row offsets):
    each row's first `max_tokens` tokens in text order, as uint32 (the word order of a row)."""
    tok, rows, size = _tokens(texts, spec)
    n = len(size)
    tokens_per_row = np.bincount(rows, minlength=n)
    first_token = np.concatenate(([0], np.cumsum(tokens_per_row)[:-1]))
    keep = (np.arange(len(rows)) - first_token[rows]) < max_tokens
    kept_per_row = np.minimum(tokens_per_row, max_tokens)
    order = ((tok[keep] >> np.uint64(32)).astype(np.uint32), np.concatenate(([0], np.cumsum(kept_per_row))))
    return _shingles_of(tok, rows, size), order


# ---- Pure-Python reference, for datasketch and for tests ---------------------


def _mix64_int(h: int) -> int:
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & _U64
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & _U64
    return h ^ (h >> 31)


def _token_hash_int(token: bytes) -> int:
    s = 0
    n = len(token)
    for i, b in enumerate(token):
        s = (s + b * int(_POW[(n - 1 - i) & ((1 << _POW_BITS) - 1)])) & _U64
    return _mix64_int(s ^ n)


def shingle_hash32(shingle: bytes) -> int:
    """The 32-bit hash winnow gives a shingle (tokens joined by single spaces).

    Pass it as `hashfunc` to `datasketch.MinHash` to reproduce winnow's
    signatures from `reference_shingles`.
    """
    tokens = shingle.split(b" ")
    h = _mix64_int((len(tokens) * int(_GOLDEN)) & _U64)
    for t in tokens:
        h = _mix64_int(h ^ _token_hash_int(t))
    return h >> 32


def reference_shingles(text: str, spec: ShingleSpec) -> list[bytes]:
    """The shingles of one text as bytes (tokens joined by single spaces).

    Normalization and the word/char decision are the same pyarrow calls as
    the batch path; tokenization and n-grams are plain Python.
    """
    normalized = normalize(pa.array([text], pa.string()))
    char_mode = bool(char_mode_rows(normalized, spec)[0])
    norm = normalized[0].as_py()
    tokens = [c for c in norm if c != " "] if char_mode else [t for t in norm.split(" ") if t]
    n = spec.char_n if char_mode else spec.word_n
    if not tokens:
        return []
    if len(tokens) < n:
        return [" ".join(tokens).encode()]
    return [" ".join(tokens[i : i + n]).encode() for i in range(len(tokens) - n + 1)]
