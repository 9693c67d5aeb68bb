"""Histograms of every numeric column of records/, mergeable and of bounded size.

Why not the quantile sketch (summary.quantiles): that one takes
non-negative integers; scores are floats in [0, 1], entropies and Zipf
frequencies are floats above 1. This histogram has fixed buckets for any
real value and exact integer counts, so (as with the sketch) the same rows
give the same bytes whatever the batch boundaries, merge order or worker
count, and a threshold at a bucket edge splits the rows exactly: the
report's threshold what-if reads counts, not estimates.

Buckets of a value v >= 0 (a negative value mirrors its absolute value):
- v < 1: 256 linear buckets of width 1/256, so a score's threshold moves in
  steps of 0.004;
- v >= 1: 64 log-linear buckets per power of two (v = 2**o * (1 + s/64)),
  a relative width of 1/64; integers below 128 each have their own bucket.
Null, NaN and infinite values are counted apart (`nulls`).

Size: at most 256 + 64 * (octaves spanned) occupied buckets per sign
(about 1,100 for lengths up to 2**13, 256 for a score), serialized as a
16-byte header and 4 + w bytes per occupied bucket (w: 1, 2, 4 or 8 bytes,
the width of the largest count).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.summary.quantiles import rank

LINEAR = 256  # buckets in [0, 1)
PER_OCTAVE = 64  # buckets per power of two above 1
_VERSION = 1
_HEADER = struct.Struct("<BBBQI")  # version, integer column, bytes per count, nulls, occupied buckets
_MAX_OCTAVE = 1023  # float64's largest exponent


def _keys_nonneg(a: np.ndarray) -> np.ndarray:
    """Bucket keys of finite values >= 0."""
    keys = np.empty(len(a), dtype=np.int64)
    small = a < 1.0
    keys[small] = np.floor(a[small] * LINEAR).astype(np.int64)  # a power-of-two scale: exact
    mant, exp = np.frexp(a[~small])  # a = mant * 2**exp, mant in [0.5, 1)
    octave = np.minimum(exp.astype(np.int64) - 1, _MAX_OCTAVE)
    sub = np.floor((mant * 2.0 - 1.0) * PER_OCTAVE).astype(np.int64)
    keys[~small] = LINEAR + octave * PER_OCTAVE + np.minimum(sub, PER_OCTAVE - 1)
    return keys


def bucket_of(values: np.ndarray) -> np.ndarray:
    """The bucket key of each finite value (int64, ascending with the value)."""
    v = np.asarray(values, dtype=np.float64)
    negative = v < 0
    keys = _keys_nonneg(np.abs(v))
    return np.where(negative, -1 - keys, keys)


def bucket_edges(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) value of each bucket: a value v of key k has lower <= v < upper (mirrored below 0)."""
    k = np.asarray(keys, dtype=np.int64)
    j = np.where(k < 0, -1 - k, k)
    lo = np.empty(len(j), dtype=np.float64)
    hi = np.empty(len(j), dtype=np.float64)
    small = j < LINEAR
    lo[small] = j[small] / LINEAR
    hi[small] = (j[small] + 1) / LINEAR
    octave, sub = np.divmod(j[~small] - LINEAR, PER_OCTAVE)
    scale = np.ldexp(1.0, octave.astype(np.int32))
    lo[~small] = scale * (1 + sub / PER_OCTAVE)
    hi[~small] = scale * (1 + (sub + 1) / PER_OCTAVE)
    neg = k < 0
    return np.where(neg, -hi, lo), np.where(neg, -lo, hi)


def finite_values(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, int]:
    """(the finite values as float64, how many were null, NaN or infinite)."""
    arr = pc.drop_null(values)
    nulls = len(values) - len(arr)
    if pa.types.is_boolean(arr.type):
        arr = pc.cast(arr, pa.int8())
    v = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
    finite = np.isfinite(v)
    return v[finite], nulls + int((~finite).sum())


@dataclass(frozen=True, eq=False)
class Histogram:
    """Counts per occupied bucket (`keys` ascending, distinct; `counts` > 0) and the values not counted."""

    keys: np.ndarray
    counts: np.ndarray
    nulls: int = 0
    integer: bool = False  # the column holds integers: reported values are whole numbers

    @classmethod
    def empty(cls, integer: bool = False) -> Histogram:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), 0, integer)

    @classmethod
    def of(cls, values: pa.Array | pa.ChunkedArray) -> Histogram:
        """The histogram of an Arrow column (integers, floats or booleans)."""
        finite, nulls = finite_values(values)
        keys, counts = np.unique(bucket_of(finite), return_counts=True)
        integer = not pa.types.is_floating(values.type)
        return cls(keys.astype(np.int64), counts.astype(np.int64), nulls, integer)

    @property
    def n(self) -> int:
        """Values counted in buckets (nulls aside)."""
        return int(self.counts.sum())

    def merge(self, other: Histogram) -> Histogram:
        """Both inputs' values: counts add, so any merge order gives the same histogram."""
        keys = np.union1d(self.keys, other.keys).astype(np.int64)
        counts = np.zeros(len(keys), dtype=np.int64)
        counts[np.searchsorted(keys, self.keys)] += self.counts  # keys are distinct within each side
        counts[np.searchsorted(keys, other.keys)] += other.counts
        return Histogram(keys, counts, self.nulls + other.nulls, self.integer and other.integer)

    @classmethod
    def merge_all(cls, hs: list[Histogram]) -> Histogram:
        """All inputs' values at once: the same histogram as merging them one by one, in one sort."""
        if len(hs) == 1:
            return hs[0]
        if not hs:
            return cls.empty()
        keys, where = np.unique(np.concatenate([h.keys for h in hs]), return_inverse=True)
        counts = np.zeros(len(keys), dtype=np.int64)
        np.add.at(counts, where, np.concatenate([h.counts for h in hs]))
        return cls(keys.astype(np.int64), counts, sum(h.nulls for h in hs), all(h.integer for h in hs))

    def values(self) -> np.ndarray:
        """A representative value per bucket: its middle, or its lower edge for an integer column.

        The buckets [0, 1/256) and [1, 1 + 1/64) report 0 and 1: scores pile up at exactly 0 and 1.
        """
        lo, hi = bucket_edges(self.keys)
        if self.integer:
            return np.ceil(lo)
        return np.where(np.isin(self.keys, (0, -1)), 0.0, np.where(self.keys == LINEAR, 1.0, (lo + hi) / 2))

    def quantiles(self, qs: list[float]) -> list[float] | None:
        """The bucket value at rank ceil(q * n) for each q (as summary.quantiles); None when empty."""
        n = self.n
        if n == 0:
            return None
        at = np.searchsorted(np.cumsum(self.counts), [rank(q, n) for q in qs])
        vals = self.values()
        return [float(vals[min(i, len(vals) - 1)]) for i in at]

    def mean(self) -> float | None:
        """The mean of the bucket values (within a bucket's width of the true mean)."""
        n = self.n
        return float((self.values() * self.counts).sum() / n) if n else None

    def at_least(self, thresholds: np.ndarray) -> np.ndarray:
        """Values >= each threshold, exact where a threshold is a bucket's lower edge."""
        lo, _ = bucket_edges(self.keys)
        tail = np.concatenate([np.cumsum(self.counts[::-1])[::-1], [0]])
        return tail[np.searchsorted(lo, np.asarray(thresholds, dtype=np.float64), side="left")]

    def to_bytes(self) -> bytes:
        top = int(self.counts.max()) if len(self.counts) else 0
        width = next(w for w in (1, 2, 4, 8) if top < 1 << (8 * w))
        return (
            _HEADER.pack(_VERSION, int(self.integer), width, self.nulls, len(self.keys))
            + self.keys.astype("<i4").tobytes()
            + self.counts.astype(f"<u{width}").tobytes()
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Histogram:
        version, integer, width, nulls, buckets = _HEADER.unpack_from(data)
        if version != _VERSION:
            raise ValueError(f"histogram version {version}; this reader has {_VERSION}")
        if len(data) != _HEADER.size + buckets * (4 + width):
            raise ValueError(f"a histogram of {buckets} buckets of {4 + width} bytes is not {len(data) - _HEADER.size} bytes")
        keys = np.frombuffer(data, "<i4", buckets, _HEADER.size).astype(np.int64)
        counts = np.frombuffer(data, f"<u{width}", buckets, _HEADER.size + 4 * buckets).astype(np.int64)
        return cls(keys, counts, int(nulls), bool(integer))


def merge_maps(a: dict[str, Histogram], b: dict[str, Histogram]) -> dict[str, Histogram]:
    """Column -> histogram of both, columns in a's order then b's new ones."""
    out = dict(a)
    for name, h in b.items():
        out[name] = out[name].merge(h) if name in out else h
    return out


def merge_map_list(maps: list[dict[str, Histogram]]) -> dict[str, Histogram]:
    """Column -> histogram of all the maps (as merge_maps folded over them, each column merged in one sort)."""
    parts: dict[str, list[Histogram]] = {}
    for m in maps:
        for name, h in m.items():
            parts.setdefault(name, []).append(h)
    return {name: Histogram.merge_all(hs) for name, hs in parts.items()}
