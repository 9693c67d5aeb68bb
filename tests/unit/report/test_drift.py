"""Drift distances: hand-computed values, and the shortcut for identical histograms giving the full computation's moves."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from winnow.transforms.report import drift
from winnow.transforms.report.sources import Source
from winnow.transforms.summary.histograms import Histogram


def _hist(values: list[float]) -> Histogram:
    return Histogram.of(pa.array(values, pa.float64()))


def _source(name: str, cols: dict[str, list[float]], rows: int, flagged: int) -> Source:
    s = Source(name)
    s.counts = Counter(rows_read=rows, rows_scored=rows, rows_rejected=0, rows_kept=rows - flagged, rows_dropped=flagged)
    s.maps = {"flag_counts": Counter(short=flagged)}
    s.hist = {c: _hist(v) for c, v in cols.items()}
    return s


def test_js_distance_of_disjoint_histograms_is_one_and_of_equal_ones_zero() -> None:
    a, b = _hist([0.0] * 50), _hist([1.0] * 50)
    assert drift.js_distance(a, b) == pytest.approx(1.0)
    assert drift.js_distance(a, _hist([0.0] * 50)) == 0.0


def test_wasserstein_moves_by_the_distance_between_point_masses() -> None:
    # Bucket values: 0 reports 0 and 1 reports 1 (scores pile up there), so the mass moves by exactly 1.
    assert drift.wasserstein(_hist([0.0] * 10), _hist([1.0] * 10)) == pytest.approx(1.0)
    half = drift.wasserstein(_hist([0.0] * 10), _hist([0.0] * 5 + [1.0] * 5))
    assert half == pytest.approx(0.5)


def test_identical_needs_same_buckets_counts_nulls_and_kind() -> None:
    base = _hist([0.1, 0.2, 0.2, 0.9])
    assert drift.identical(base, _hist([0.1, 0.2, 0.2, 0.9]))
    assert not drift.identical(base, _hist([0.1, 0.2, 0.9, 0.9]))
    assert not drift.identical(base, Histogram(base.keys, base.counts, nulls=1))
    assert not drift.identical(base, Histogram(base.keys, base.counts, integer=True))


def test_identical_histograms_give_the_moves_of_the_full_computation(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    cols = {"composite": rng.random(500).tolist(), "response_chars": rng.integers(1, 4000, 500).astype(float).tolist()}
    before = _source("a.jsonl", cols, 500, 40)
    after = _source("a.jsonl", cols, 500, 90)  # the same histograms, a rule rate that moved
    fast = drift.compare_sources(before, after)
    monkeypatch.setattr(drift, "identical", lambda a, b: False)
    full = drift.compare_sources(before, after)
    assert fast == full
    assert sorted(m.stat for m in fast if m.moved) == ["dropped", "kept", "rule short"]
    assert all(m.size == 0.0 for m in fast if m.kind in ("distance", "quantile"))


def test_a_shifted_distribution_is_a_move() -> None:
    rng = np.random.default_rng(4)
    before = _source("a", {"composite": (rng.random(400) * 0.5).tolist()}, 400, 0)
    after = _source("a", {"composite": (0.5 + rng.random(400) * 0.5).tolist()}, 400, 0)
    moved = {m.stat for m in drift.compare_sources(before, after) if m.moved}
    assert {"composite JS", "composite W1/spread", "composite p50"} <= moved
    js = next(m.size for m in drift.compare_sources(before, after) if m.stat == "composite JS")
    assert 0.9 < js <= 1.0 + 1e-12 and not math.isnan(js)


def test_sources_with_every_statistic_equal_are_listed_as_unchanged() -> None:
    from winnow.transforms.state.drift import unchanged_sources

    moves = [
        drift.Move("all", "rate", "kept", 0.5, 0.6, 0.1, True),
        drift.Move("a", "rate", "kept", 0.5, 0.5, 0.0, False),
        drift.Move("a", "distance", "composite JS", None, None, 0.0, False),
        drift.Move("b", "rate", "kept", 0.5, 0.5, 0.0, False),
        drift.Move("b", "quantile", "composite p50", 0.4, 0.41, 0.0, False),  # a value moved, too little to count
        drift.Move("c", "distance", "composite JS", None, None, 0.02, False),
    ]
    assert unchanged_sources(moves) == {"a"}


def test_sources_with_the_same_statistics_are_recognised_before_comparing() -> None:
    rng = np.random.default_rng(5)
    cols = {"composite": rng.random(300).tolist()}
    a, b = _source("a", cols, 300, 10), _source("a", cols, 300, 10)
    assert drift.same_statistics(a, b)
    assert all(m.size == 0 and m.before == m.after for m in drift.compare_sources(a, b))
    assert not drift.same_statistics(a, _source("a", cols, 300, 11))  # a rule rate differs
    assert not drift.same_statistics(a, _source("a", {"composite": [*cols["composite"][:-1], 0.999]}, 300, 10))
    assert not drift.same_statistics(a, _source("a", {**cols, "response_chars": [1.0] * 300}, 300, 10))
