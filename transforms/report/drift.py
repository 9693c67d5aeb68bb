"""Drift between two runs, from their summaries: which statistics moved, by how much, per source.

Everything is computed from the mergeable summaries (counts, means and the
fixed-bucket histograms of summary.histograms), so comparing two runs of any
size reads no row. Distances per numeric signal:

- Jensen-Shannon distance (base 2, in [0, 1]; the square root of the
  divergence) over 32 bins cut at the pooled quantiles of both runs, so the
  bins hold the data wherever it lies;
- Wasserstein-1 (earth mover's) distance between the two histograms, divided
  by the previous run's spread (p90 - p10; the full range when that is 0),
  so it reads "the distribution moved by this share of its usual spread".

A statistic counts as moved (the thresholds are shown in the report):
- a rate (rule firing, kept, dropped, near-duplicate, rejected): by at least
  RATE_POINTS and with a two-proportion z of at least RATE_Z (so a change
  on a handful of rows does not count);
- a mean or quantile: by at least SHIFT_SPREAD of the previous spread;
- a distribution: JS distance >= JS_MOVED or Wasserstein / spread >= W1_MOVED.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from winnow.transforms.report.sources import Source, source_of, total_of
from winnow.transforms.summary.histograms import Histogram

RATE_POINTS = 0.01  # one percentage point
RATE_Z = 3.0
SHIFT_SPREAD = 0.1
JS_MOVED = 0.1
W1_MOVED = 0.1
JS_BINS = 32
QUANTILES = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class Thresholds:
    """When a statistic counts as moved; the defaults are the constants above (config `drift:` sets them)."""

    rate_points: float = RATE_POINTS
    rate_z: float = RATE_Z
    shift_spread: float = SHIFT_SPREAD
    js: float = JS_MOVED
    w1: float = W1_MOVED


DEFAULT = Thresholds()


@dataclass(frozen=True)
class Move:
    """One statistic of one source in both runs."""

    source: str
    kind: str  # rate | mean | quantile | distance
    stat: str
    before: float | None
    after: float | None
    size: float  # the change in the units the threshold uses (points, spreads, JS distance)
    moved: bool


def _value_mass(h: Histogram) -> tuple[np.ndarray, np.ndarray]:
    return h.values(), h.counts.astype(np.float64)


def spread(h: Histogram) -> float:
    """p90 - p10, or the range when that is 0, or 1 for a constant column."""
    q = h.quantiles([0.1, 0.9, 0.0, 1.0])
    if q is None:
        return 1.0
    for s in (q[1] - q[0], q[3] - q[2]):
        if s > 0:
            return s
    return 1.0


def js_distance(a: Histogram, b: Histogram, bins: int = JS_BINS) -> float | None:
    """Jensen-Shannon distance (base 2) of two histograms over bins cut at their pooled quantiles."""
    if a.n == 0 or b.n == 0:
        return None
    pooled = a.merge(b)
    qs = pooled.quantiles([i / bins for i in range(1, bins)]) or []
    edges = np.unique(np.asarray(qs, dtype=np.float64))
    pa_, pb_ = (
        np.bincount(np.searchsorted(edges, v, side="right"), weights=w, minlength=len(edges) + 1)
        for v, w in map(_value_mass, (a, b))
    )
    p, q = pa_ / pa_.sum(), pb_ / pb_.sum()
    m = (p + q) / 2

    def kl(x: np.ndarray) -> float:
        nz = x > 0
        return float((x[nz] * np.log2(x[nz] / m[nz])).sum())

    return math.sqrt(max(0.0, (kl(p) + kl(q)) / 2))


def wasserstein(a: Histogram, b: Histogram) -> float | None:
    """Earth mover's distance between two histograms (bucket values as the support)."""
    if a.n == 0 or b.n == 0:
        return None
    va, wa = _value_mass(a)
    vb, wb = _value_mass(b)
    support = np.unique(np.concatenate([va, vb]))
    ca = np.cumsum(np.bincount(np.searchsorted(support, va), weights=wa / wa.sum(), minlength=len(support)))
    cb = np.cumsum(np.bincount(np.searchsorted(support, vb), weights=wb / wb.sum(), minlength=len(support)))
    return float((np.abs(ca - cb)[:-1] * np.diff(support)).sum())


def identical(a: Histogram, b: Histogram) -> bool:
    """The same counts in the same buckets (then JS and Wasserstein are exactly 0)."""
    return a.integer == b.integer and a.nulls == b.nulls and np.array_equal(a.keys, b.keys) and np.array_equal(a.counts, b.counts)


def same_statistics(a: Source, b: Source) -> bool:
    """Every count, map, mean and histogram the comparison reads is the same: each move would be 0."""
    return (
        a.counts == b.counts
        and a.maps == b.maps
        and a.mean_sums == b.mean_sums
        and a.mean_counts == b.mean_counts
        and a.hist.keys() == b.hist.keys()
        and all(identical(h, b.hist[c]) for c, h in a.hist.items())
    )


def rate_move(source: str, stat: str, k0: int, n0: int, k1: int, n1: int, t: Thresholds = DEFAULT) -> Move | None:
    """A rate k/n before and after; None when either run has no rows for it."""
    if not n0 or not n1:
        return None
    p0, p1 = k0 / n0, k1 / n1
    pooled = (k0 + k1) / (n0 + n1)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n0 + 1 / n1))
    z = abs(p1 - p0) / se if se > 0 else 0.0
    return Move(source, "rate", stat, p0, p1, p1 - p0, abs(p1 - p0) >= t.rate_points and z >= t.rate_z)


def compare_sources(before: Source, after: Source, t: Thresholds = DEFAULT) -> list[Move]:
    """Every statistic of one source in both runs."""
    name = after.name
    moves: list[Move | None] = []
    n0, n1 = before.counts["rows_scored"], after.counts["rows_scored"]
    r0, r1 = before.counts["rows_read"], after.counts["rows_read"]
    moves.append(rate_move(name, "rejected", before.counts["rows_rejected"], r0, after.counts["rows_rejected"], r1, t))
    for stat in ("rows_kept", "rows_dropped", "duplicates_removed"):
        moves.append(rate_move(name, stat.removeprefix("rows_"), before.counts[stat], n0, after.counts[stat], n1, t))
    f0: Counter = before.maps.get("flag_counts") or Counter()
    f1: Counter = after.maps.get("flag_counts") or Counter()
    for rule in sorted(set(f0) | set(f1)):
        moves.append(rate_move(name, f"rule {rule}", f0.get(rule, 0), n0, f1.get(rule, 0), n1, t))
    for col in sorted(set(before.hist) & set(after.hist)):
        h0, h1 = before.hist[col], after.hist[col]
        if h0.n == 0 or h1.n == 0:
            continue
        s = spread(h0)
        m0, m1 = before.mean(col), after.mean(col)
        if m0 is None or m1 is None:
            m0, m1 = h0.mean(), h1.mean()
        if m0 is not None and m1 is not None:
            moves.append(Move(name, "mean", col, m0, m1, (m1 - m0) / s, abs(m1 - m0) / s >= t.shift_spread))
        same = identical(h0, h1)  # a night's reused sources: their distances are exactly 0, skip computing them
        q0 = h0.quantiles(list(QUANTILES)) or []
        q1 = q0 if same else h1.quantiles(list(QUANTILES)) or []
        for q, a, b in zip(QUANTILES, q0, q1):
            moves.append(Move(name, "quantile", f"{col} p{int(q * 100)}", a, b, (b - a) / s, abs(b - a) / s >= t.shift_spread))
        js = 0.0 if same else js_distance(h0, h1)
        if js is not None:
            moves.append(Move(name, "distance", f"{col} JS", None, None, js, js >= t.js))
        w1 = 0.0 if same else wasserstein(h0, h1)
        if w1 is not None:
            moves.append(Move(name, "distance", f"{col} W1/spread", None, None, w1 / s, w1 / s >= t.w1))
    return [m for m in moves if m is not None]


def _weight(m: Move, t: Thresholds = DEFAULT) -> float:
    """How far past its threshold a move is (for ordering: the movers first, the largest first)."""
    unit = {"rate": t.rate_points, "mean": t.shift_spread, "quantile": t.shift_spread}.get(m.kind)
    if unit is None:
        unit = t.js if m.stat.endswith("JS") else t.w1
    return abs(m.size) / unit


def compare(before: dict[str, Source], after: dict[str, Source], t: Thresholds = DEFAULT) -> list[Move]:
    """Moves of every source present in both runs ("all" first), the movers first, each group by size."""
    moves: list[Move] = []
    for name in sorted(set(before) & set(after), key=lambda n: (n != "all", n)):
        moves.extend(compare_sources(before[name], after[name], t))
    return sorted(moves, key=lambda m: (not m.moved, -_weight(m, t), m.source, m.stat))


def by_source(shards: list[dict[str, Any]], depth: int | None) -> dict[str, Source]:
    """The dataset ("all") and one Source per source (shards grouped at `depth`, as the report groups them)."""
    out: dict[str, Source] = {"all": total_of(shards)}
    for s in shards:
        name = source_of(s["shard"], depth)
        out.setdefault(name, Source(name)).add(s)
    return out


def language_moves(before: dict[str, Source], after: dict[str, Source], t: Thresholds = DEFAULT) -> list[Move]:
    """The language mix: each language's share of the scored rows, per source in both runs."""
    moves: list[Move] = []
    for name in sorted(set(before) & set(after), key=lambda n: (n != "all", n)):
        b, a = before[name], after[name]
        l0: Counter = b.maps.get("lang_counts") or Counter()
        l1: Counter = a.maps.get("lang_counts") or Counter()
        n0, n1 = b.counts["rows_scored"], a.counts["rows_scored"]
        for lang in sorted(set(l0) | set(l1)):
            m = rate_move(name, f"language {lang}", l0.get(lang, 0), n0, l1.get(lang, 0), n1, t)
            if m is not None:
                moves.append(m)
    return sorted(moves, key=lambda m: (not m.moved, -_weight(m, t), m.source, m.stat))
