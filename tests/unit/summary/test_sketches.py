"""The quantile sketch: exact below 128, within 1/128 above, the same bytes whatever the merge order."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from winnow.transforms.summary.quantiles import PRECISION, QuantileSketch, bucket_of, bucket_value, rank

QS = (0.0, 0.01, 0.1, 0.25, 0.5, 0.7, 0.9, 0.99, 0.999, 1.0)
BOUND = 2.0**-PRECISION  # the relative error the module docstring states


def numpy_quantiles(values: np.ndarray, qs=QS) -> list[int]:
    """The definition the sketch states: the lower value at rank ceil(q * n)."""
    return [int(np.quantile(values, q, method="inverted_cdf")) for q in qs]


def lognormal_ints(rng: np.random.Generator, n: int, mean: float = 5.0, sigma: float = 2.0) -> np.ndarray:
    return np.minimum(rng.lognormal(mean, sigma, n), 2e12).astype(np.int64)


def test_every_value_is_reported_within_the_bound_and_small_values_exactly():
    powers = np.int64(1) << np.arange(20, 63)
    x = np.sort(np.concatenate([np.arange(1 << 20), powers - 1, powers, powers + 1, [np.iinfo(np.int64).max]]))
    keys = bucket_of(x)
    assert np.all(np.diff(keys) >= 0)  # buckets keep the order of values
    err = np.abs(bucket_value(keys).astype(np.float64) - x) / np.maximum(x, 1)
    assert err.max() <= BOUND
    assert np.array_equal(bucket_value(keys[:128]), x[:128])
    # Size: 2**P exact buckets plus 2**(P-1) per further bit.
    assert len(np.unique(bucket_of(np.arange(1 << 17)))) == 768


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 99, 100, 101, 200, 1001, 4096])
def test_quantiles_of_values_below_128_equal_numpy(n):
    values = np.random.default_rng(n).integers(0, 128, n)
    assert QuantileSketch.of(values).quantiles(QS) == numpy_quantiles(values)


@pytest.mark.parametrize("seed", range(5))
def test_quantiles_of_wide_values_are_within_the_relative_bound(seed):
    rng = np.random.default_rng(seed)
    values = lognormal_ints(rng, int(rng.integers(1000, 50_000)))
    got = QuantileSketch.of(values).quantiles(QS)
    assert got is not None
    for q, g, want in zip(QS, got, numpy_quantiles(values)):
        assert abs(g - want) <= want * BOUND, (q, g, want)


def test_rank_is_exact_for_decimal_quantiles():
    # 0.7 * 10 is 7.000000000000001 in floating point; the rank of p70 of 10 values is 7.
    assert rank(0.7, 10) == 7
    assert (rank(0.0, 5), rank(0.99, 100), rank(0.99, 101), rank(1.0, 3)) == (1, 99, 100, 3)
    with pytest.raises(ValueError):
        rank(1.5, 10)


def test_merge_in_any_order_and_any_split_gives_the_same_bytes():
    rng = np.random.default_rng(7)
    values = lognormal_ints(rng, 20_000)
    whole = QuantileSketch.of(values).to_bytes()
    cuts = np.sort(rng.choice(len(values), 5, replace=False))
    parts = [QuantileSketch.of(p) for p in np.split(values, cuts)]
    for order in itertools.permutations(range(len(parts))):
        merged = parts[order[0]]
        for i in order[1:]:
            merged = merged.merge(parts[i])
        assert merged.to_bytes() == whole
    # A tree of merges, as a combiner builds it.
    left = parts[0].merge(parts[1]).merge(parts[2])
    right = parts[5].merge(parts[3].merge(parts[4]))
    assert right.merge(left).to_bytes() == whole
    # Shuffled rows, one sketch per row.
    one_by_one = QuantileSketch.of(values[:0])
    for v in rng.permutation(values[:500]):
        one_by_one = one_by_one.merge(QuantileSketch.of(np.array([v])))
    assert one_by_one.to_bytes() == QuantileSketch.of(values[:500]).to_bytes()


def test_serialization_round_trips():
    rng = np.random.default_rng(3)
    for sketch in (
        QuantileSketch.of(np.zeros(0, dtype=np.int64)),
        QuantileSketch.of(np.array([0, 0, 5])),
        QuantileSketch.of(lognormal_ints(rng, 10_000)),
        QuantileSketch(np.array([3, 4000], dtype=np.int64), np.array([1, 1 << 40], dtype=np.int64)),  # 8-byte counts
    ):
        data = sketch.to_bytes()
        back = QuantileSketch.from_bytes(data)
        assert np.array_equal(back.keys, sketch.keys) and np.array_equal(back.counts, sketch.counts)
        assert back.to_bytes() == data
        assert back.quantiles(QS) == sketch.quantiles(QS)
    assert QuantileSketch.of(np.zeros(0, dtype=np.int64)).quantiles(QS) is None
    # Counts up to 255 take one byte each: 7-byte header, 3 bytes per occupied bucket.
    assert len(QuantileSketch.of(np.arange(1000)).to_bytes()) == 7 + 3 * len(np.unique(bucket_of(np.arange(1000))))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="non-negative integers"):
        QuantileSketch.of(np.array([3, -1]))
    with pytest.raises(ValueError, match="non-negative integers"):
        QuantileSketch.of(np.array([1.5]))
    data = QuantileSketch.of(np.arange(300)).to_bytes()
    with pytest.raises(ValueError, match="version"):
        QuantileSketch.from_bytes(b"\x09" + data[1:])
    with pytest.raises(ValueError, match="buckets"):
        QuantileSketch.from_bytes(data[:-1])
