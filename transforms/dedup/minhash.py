"""MinHash signatures and LSH band keys, vectorized over a batch.

Signatures equal `datasketch.MinHash(num_perm, seed, hashfunc=shingle_hash32)`
(datasketch >= 2.0, default scheme "affine32") fed the same shingles: the
same permutation parameters from `numpy.random.RandomState(seed)`, the same
MurmurHash3 finalizer before the permutations, the same uint32 arithmetic.
"""

from __future__ import annotations

import functools

import numpy as np

from winnow.transforms.arrow_bytes import mix64

EMPTY = np.uint32(0xFFFFFFFF)  # datasketch's initial (empty) hash value


@functools.lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of the affine permutations h -> a*h + b mod 2**32, as datasketch draws them."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (wrapping uint32 arithmetic)."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def signatures(hashes: np.ndarray, row_offsets: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """A rows x num_perm uint32 matrix of MinHash values (EMPTY for rows without shingles).

    One pass per permutation over the batch's shingles, then a segmented
    minimum per row: 1-D reductions, an order of magnitude faster than a
    2-D (shingles x permutations) block.
    """
    n = len(row_offsets) - 1
    out = np.full((num_perm, n), EMPTY, dtype=np.uint32)
    rows = np.flatnonzero(np.diff(row_offsets) > 0)
    if len(rows):
        a, b = permutations(num_perm, seed)
        hv = fmix32(hashes.astype(np.uint32))
        seg = row_offsets[rows]
        tmp = np.empty_like(hv)
        for j in range(num_perm):
            np.multiply(hv, a[j], out=tmp)
            np.add(tmp, b[j], out=tmp)
            out[j, rows] = np.minimum.reduceat(tmp, seg)
    return np.ascontiguousarray(out.T)


def _trapezoid(f, lo: float, hi: float, steps: int = 2000) -> float:
    x = np.linspace(lo, hi, steps + 1)
    y = f(x)
    return float((y[:-1] + y[1:]).sum() * (hi - lo) / (2 * steps))


@functools.lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimizing weighted false positive + negative areas (datasketch's search)."""
    best, opt = float("inf"), (0, 0)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = _trapezoid(lambda s, b=b, r=r: 1 - (1 - s**r) ** b, 0.0, threshold)
            fn = _trapezoid(lambda s, b=b, r=r: 1 - (1 - (1 - s**r) ** b), threshold, 1.0)
            err = fp * fp_weight + fn * fn_weight
            if err < best:
                best, opt = err, (b, r)
    return opt


def band_keys(sigs: np.ndarray, bands: int, rows: int, first_band: int = 0) -> np.ndarray:
    """A rows x bands uint64 matrix: a 64-bit key of each band's values (band index mixed in).

    `first_band` numbers the bands of a second signature part apart from the first.
    """
    n = sigs.shape[0]
    out = np.empty((n, bands), dtype=np.uint64)
    for i in range(bands):
        h = np.full(n, mix64(np.array([first_band + i + 1], dtype=np.uint64))[0], dtype=np.uint64)
        for v in sigs[:, i * rows : (i + 1) * rows].T:
            h = mix64(h ^ v.astype(np.uint64))
        out[:, i] = h
    return out


def estimated_jaccard(a: np.ndarray, b: np.ndarray, parts: int = 1) -> np.ndarray:
    """Share of equal MinHash values, row by row; with several signature parts
    (prompt | answer), the smallest part's share: every part must match."""
    eq = (a == b).reshape(a.shape[0], parts, a.shape[1] // parts)
    return eq.mean(axis=2).min(axis=1)
