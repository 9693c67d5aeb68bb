"""A deterministic, mergeable quantile sketch of non-negative integers.

Why not KLL: DataSketches' KLL sketch compacts with random bits from a
generator seeded from the clock, so two runs over the same rows reported
different p90/p99 (issue 10). This sketch has no randomness: it is a
histogram over fixed buckets with exact integer counts, so a sketch depends
only on the multiset of values it saw, never on batch boundaries, merge order
or worker count, and its bytes are equal whenever its contents are.

Buckets (log-linear, as in HdrHistogram; DDSketch's idea with integer maths,
so no floating-point log can put a value in different buckets on different
machines): a value below 2**PRECISION = 128 is its own bucket; a larger value
keeps its top PRECISION bits, so a bucket [lo, lo + 2**s - 1] has
lo >= 2**(PRECISION - 1 + s).

Quantile: the q-quantile of n values is the value of rank k = ceil(q * n)
(at least 1) in ascending order, the lower value, as numpy's
method="inverted_cdf"; q * n is computed exactly from q's decimal form.
The sketch reports the middle (rounded down) of the bucket holding rank k.

Error bound: the reported value r and the true value v satisfy
|r - v| <= v / 2**PRECISION, a relative error of at most 1/128 (0.78 %);
r = v exactly when v < 128 (so n_turns and short texts are exact).

Size: at most 2**PRECISION + 2**(PRECISION - 1) * (bit_length(max) - PRECISION)
buckets (768 for values below 2**17), serialized as a 7-byte header and
2 + w bytes per occupied bucket, w in {1, 2, 4, 8} the bytes of the largest count.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

PRECISION = 7
_VERSION = 1
_HEADER = struct.Struct("<BBBI")  # version, precision, bytes per count, occupied buckets
_POWERS = np.left_shift(np.uint64(1), np.arange(63, dtype=np.uint64))


def bucket_of(values: np.ndarray) -> np.ndarray:
    """The bucket key of each value (int64, ascending with the value)."""
    v = np.asarray(values)
    if v.size and (v.dtype.kind not in "iu" or v.min() < 0):
        raise ValueError(f"the sketch takes non-negative integers, got {v.dtype} with minimum {v.min()}")
    u = v.astype(np.uint64)
    shift = np.maximum(np.searchsorted(_POWERS, u, side="right") - PRECISION, 0).astype(np.uint64)
    return ((shift << np.uint64(PRECISION - 1)) + (u >> shift)).astype(np.int64)


def bucket_value(keys: np.ndarray) -> np.ndarray:
    """The value reported for each bucket: its middle, rounded down."""
    k = np.asarray(keys, dtype=np.int64)
    shift = np.maximum((k >> (PRECISION - 1)) - 1, 0)
    lo = (k - (shift << (PRECISION - 1))) << shift
    return lo + (((1 << shift) - 1) >> 1)


@functools.lru_cache(maxsize=1024)
def _exact(q: float) -> tuple[int, int]:
    """q as the decimal it is written as (0.1 is 1/10, not the float nearest it): (numerator, denominator)."""
    if not 0 <= q <= 1:
        raise ValueError(f"a quantile is between 0 and 1, got {q}")
    f = Fraction(str(q))
    return f.numerator, f.denominator


def rank(q: float, n: int) -> int:
    """The 1-based rank of the q-quantile among n values: ceil(q * n), at least 1."""
    num, den = _exact(q)
    return max(1, -(-num * n // den))


@dataclass(frozen=True, eq=False)
class QuantileSketch:
    """Counts per occupied bucket: `keys` ascending and distinct, `counts` > 0 (both int64)."""

    keys: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray) -> QuantileSketch:
        keys, counts = np.unique(bucket_of(values), return_counts=True)
        return cls(keys.astype(np.int64), counts.astype(np.int64))

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def merge(self, other: QuantileSketch) -> QuantileSketch:
        """The sketch of both inputs' values: counts add, so any merge order gives the same sketch."""
        keys, where = np.unique(np.concatenate([self.keys, other.keys]), return_inverse=True)
        counts = np.zeros(len(keys), dtype=np.int64)
        np.add.at(counts, where, np.concatenate([self.counts, other.counts]))
        return QuantileSketch(keys, counts)

    def quantiles(self, qs: Sequence[float]) -> list[int] | None:
        """The value at each quantile (see the module docstring); None when the sketch is empty."""
        n = self.n
        if n == 0:
            return None
        at = np.searchsorted(np.cumsum(self.counts), [rank(q, n) for q in qs])
        return [int(v) for v in bucket_value(self.keys[at])]

    def to_bytes(self) -> bytes:
        top = int(self.counts.max()) if len(self.counts) else 0
        width = next(w for w in (1, 2, 4, 8) if top < 1 << (8 * w))
        return (
            _HEADER.pack(_VERSION, PRECISION, width, len(self.keys))
            + self.keys.astype("<u2").tobytes()
            + self.counts.astype(f"<u{width}").tobytes()
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> QuantileSketch:
        version, precision, width, buckets = _HEADER.unpack_from(data)
        if (version, precision) != (_VERSION, PRECISION):
            raise ValueError(f"sketch version {version} precision {precision}; this reader has {_VERSION} and {PRECISION}")
        if len(data) != _HEADER.size + buckets * (2 + width):
            raise ValueError(f"a sketch of {buckets} buckets of {2 + width} bytes is not {len(data) - _HEADER.size} bytes")
        keys = np.frombuffer(data, "<u2", buckets, _HEADER.size).astype(np.int64)
        counts = np.frombuffer(data, f"<u{width}", buckets, _HEADER.size + 2 * buckets).astype(np.int64)
        return cls(keys, counts)
