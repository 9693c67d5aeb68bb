"""The review sample design (transforms.review.sampling): strata that partition the rows, allocations that
add up to the size, exact inclusion probabilities, and Horvitz-Thompson estimates that are unbiased."""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from winnow.transforms.review.sampling import (
    COMPOSITE_MISSING,
    NEAR_DUPLICATE,
    REST,
    Population,
    SampleSizes,
    SamplingError,
    allocate,
    apportion,
    assign_strata,
    deciles,
    draw,
    systematic_positions,
)


def population(
    flags: list[list[str]],
    *,
    lang: list[str | None] | None = None,
    composite: list[float | None] | None = None,
    shard: list[str] | None = None,
    representative: list[bool] | None = None,
    scores: dict[str, list[float | None]] | None = None,
) -> Population:
    """A Population from plain lists, through the same Arrow path as records/ columns."""
    n = len(flags)
    columns: dict[str, pa.Array] = {
        "shard": pa.array(shard or ["a.jsonl"] * n, pa.string()),
        "flags": pa.array(flags, pa.list_(pa.string())),
    }
    if lang is not None:
        columns["lang"] = pa.array(lang, pa.string())
    if composite is not None:
        columns["composite"] = pa.array(composite, pa.float32())
    for name, values in (scores or {}).items():
        columns[name] = pa.array(values, pa.float32())
    return Population.from_table(
        pa.table(columns),
        language="lang" if lang is not None else None,
        composite="composite" if composite is not None else None,
        scores=list(scores or {}),
        representative=None if representative is None else np.array(representative),
    )


def strata_of(pop: Population, sizes: SampleSizes | None = None) -> list[str]:
    names, stratum = assign_strata(pop, sizes or SampleSizes())
    assert (stratum >= 0).all() and (stratum < len(names)).all()  # every row in exactly one stratum
    assert sorted(set(stratum.tolist())) == list(range(len(names)))  # no empty stratum
    return [names[i] for i in stratum]


# ---- strata -------------------------------------------------------------------------------------


def test_priority_near_duplicates_then_rarest_rule_then_language_then_composite():
    n = 60
    flags: list[list[str]] = [[] for _ in range(n)]
    for i in range(0, 20):
        flags[i].append("common")  # 20 rows
    for i in range(10, 18):
        flags[i].append("rare")  # 8 rows, all also `common`
    flags[40] = ["tiny"]  # below min_stratum_rows
    lang = ["en"] * n
    for i in range(30, 38):
        lang[i] = "de"  # 8 rows: a language stratum
    lang[38] = "fr"  # 1 row: too few
    rep = [False] * n
    rep[0] = rep[50] = True
    composite = [i / n for i in range(n)]
    got = strata_of(population(flags, lang=lang, composite=composite, representative=rep))
    assert got[0] == NEAR_DUPLICATE and got[50] == NEAR_DUPLICATE  # before its rule, before composite
    assert all(got[i] == "rule:rare" for i in range(10, 18))  # both fired: the rarer rule wins
    assert all(got[i] == "rule:common" for i in [*range(1, 10), *range(18, 20)])
    assert all(got[i] == "language:de" for i in range(30, 38))
    assert got[38].startswith("composite:d") and got[40].startswith("composite:d")  # too few: composite deciles
    assert "language:en" not in got  # the most common language has no stratum
    rest = [g for g in got if g.startswith("composite:d")]
    assert len(set(rest)) == 10 and max(Counter(rest).values()) - min(Counter(rest).values()) <= 1


def test_a_rule_left_below_the_minimum_by_rarer_rules_is_given_up():
    flags: list[list[str]] = [[] for _ in range(40)]
    for i in range(0, 5):
        flags[i].append("b")  # 5 rows: rarest
    for i in range(2, 8):
        flags[i].append("c")  # 6 rows, 3 of them taken by b -> 3 left, below 5
    got = strata_of(population(flags, composite=[0.5] * 40))
    assert got[:5] == ["rule:b"] * 5
    assert "rule:c" not in got
    assert all(g.startswith("composite:") for g in got[5:])


def test_rest_without_composite_and_missing_composite():
    assert set(strata_of(population([[]] * 12))) == {REST}
    got = strata_of(population([[]] * 12, composite=[None, *[0.1 * i for i in range(11)]]))
    assert got[0] == COMPOSITE_MISSING and COMPOSITE_MISSING not in got[1:]


def test_zero_size_switches_a_kind_of_stratum_off():
    flags = [["r"]] * 10 + [[]] * 10
    got = strata_of(population(flags, composite=[0.3] * 20), SampleSizes(rule_rows=0))
    assert not any(g.startswith("rule:") for g in got)


def test_deciles_keep_ties_together():
    values = np.array([0.0] * 50 + list(np.linspace(0.1, 1, 50)) + [np.nan])
    d = deciles(values)
    assert set(d[:50].tolist()) == {0} and d[-1] == -1
    assert (np.diff(d[:100]) >= 0).all()


# ---- allocation ---------------------------------------------------------------------------------


def test_fixed_sizes_first_then_the_composite_deciles_in_proportion():
    names = ["near_duplicate:kept", "rule:a", "language:de", "composite:d0", "composite:d1"]
    alloc = allocate(names, [100, 100, 100, 300, 100], 90, SampleSizes())
    assert alloc[:3] == [20, 20, 10]
    assert alloc[3:] == [30, 10]  # 40 over 300:100


def test_strata_override_and_caps():
    names = ["rule:a", "rule:b", "composite:d0"]
    alloc = allocate(names, [3, 100, 100], 50, SampleSizes(strata={"rule:b": 7}))
    assert alloc == [3, 7, 40]  # rule:a has only 3 rows


def test_fixed_sizes_that_do_not_fit_are_scaled_down_with_at_least_one_each():
    names = ["rule:a", "rule:b", "rule:c", "composite:d0"]
    alloc = allocate(names, [100, 100, 100, 1000], 31, SampleSizes(rule_rows=40))
    assert sum(alloc) == 31 and alloc[3] == 1 and alloc[:3] == [10, 10, 10]
    alloc = allocate(names, [100, 100, 2, 1000], 12, SampleSizes(rule_rows=40))
    assert sum(alloc) == 12 and min(alloc) >= 1 and alloc[2] <= 2


def test_fewer_rows_than_strata_go_to_the_largest_strata():
    alloc = allocate(["rule:a", "rule:b", "composite:d0"], [5, 50, 20], 2, SampleSizes())
    assert alloc == [0, 1, 1]


def test_full_strata_hand_their_rows_to_the_others():
    # The composite stratum has 5 rows; the fixed ones take what it cannot.
    alloc = allocate(["rule:a", "rule:b", "composite:d0"], [40, 40, 5], 60, SampleSizes(rule_rows=10))
    assert sum(alloc) == 60 and alloc[2] == 5 and alloc[0] + alloc[1] == 55


@settings(max_examples=300, deadline=None)
@given(
    pops=st.lists(st.integers(1, 500), min_size=1, max_size=12),
    kinds=st.lists(st.sampled_from(["rule:", "language:", "composite:d", "near_duplicate:kept"]), min_size=12, max_size=12),
    size=st.integers(1, 3000),
    rule_rows=st.integers(1, 60),
)
def test_allocation_adds_up_and_respects_the_rows(pops, kinds, size, rule_rows):
    names = [f"{kinds[i]}{i}" if kinds[i] != "near_duplicate:kept" or i else "near_duplicate:kept" for i in range(len(pops))]
    alloc = allocate(names, pops, size, SampleSizes(rule_rows=rule_rows))
    assert sum(alloc) == min(size, sum(pops))
    assert all(0 <= a <= p for a, p in zip(alloc, pops))
    if size >= len(pops):
        assert min(alloc) >= 1


@settings(max_examples=200, deadline=None)
@given(total=st.integers(0, 10**12), weights=st.lists(st.integers(0, 10**9), min_size=1, max_size=8))
def test_apportion_is_exact_at_any_size(total, weights):
    caps = [w + 3 for w in weights]
    alloc = apportion(total, weights, caps)
    assert sum(alloc) == min(total, sum(caps)) and all(0 <= a <= c for a, c in zip(alloc, caps))


# ---- drawing and probabilities --------------------------------------------------------------------


@pytest.mark.parametrize(("big_n", "small_n"), [(10, 3), (7, 7), (13, 1), (100, 37), (5, 4)])
def test_systematic_draw_gives_every_position_probability_n_over_big_n(big_n, small_n):
    counts = Counter()
    for start in range(big_n):
        positions = systematic_positions(big_n, small_n, start).tolist()
        assert len(set(positions)) == small_n and min(positions) >= 0 and max(positions) < big_n
        counts.update(positions)
    assert counts == Counter(dict.fromkeys(range(big_n), small_n))  # exactly n of the N starts draw each position


def synthetic(n: int = 3000, seed: int = 1) -> tuple[Population, np.ndarray]:
    """Rows with rules, languages, shards, composite and a classifier, and a 0/1 `bad` that depends on all of them."""
    rng = np.random.default_rng(seed)
    composite = rng.uniform(0, 1, n)
    flags: list[list[str]] = []
    lang: list[str | None] = []
    bad = np.zeros(n, dtype=np.int64)
    for i in range(n):
        f = []
        if rng.uniform() < 0.04:
            f.append("empty_response")
        if rng.uniform() < 0.08:
            f.append("too_short")
        flags.append(f)
        lang.append("en" if rng.uniform() < 0.85 else ("de" if rng.uniform() < 0.7 else "fr"))
        p_bad = 0.05 + 0.5 * (1 - composite[i]) ** 2 + (0.6 if "empty_response" in f else 0) + (0.2 if "too_short" in f else 0)
        bad[i] = rng.uniform() < min(p_bad, 0.98)
    shard = [f"s{i % 4}.jsonl" for i in range(n)]
    quality = np.clip(composite + rng.normal(0, 0.1, n), 0, 1)
    rep = rng.uniform(0, 1, n) < 0.03
    pop = population(
        flags,
        lang=lang,
        composite=composite.tolist(),
        shard=shard,
        representative=rep.tolist(),
        scores={"quality": quality.tolist()},
    )
    return pop, bad


def test_probabilities_sum_to_the_size_and_weights_to_the_population():
    pop, _ = synthetic()
    for size in (1, 7, 150, 400, 2999, 3000, 5000):
        sample = draw(pop, size, SampleSizes(), seed=3)
        every = sample.inclusion_probability(np.arange(pop.rows))
        assert sample.size == min(size, pop.rows) == len(set(sample.rows.tolist()))
        assert sum(Fraction(s.sample, s.population) * s.population for s in sample.strata) == sample.size
        assert math.isclose(every.sum(), sample.size, rel_tol=1e-12)
        if size >= len(sample.strata):  # every row could be drawn: the weights add up to the rows
            assert sum(1 / s.exact_probability for s in sample.strata for _ in range(s.sample)) == pop.rows
        strata_of_sample = Counter(sample.stratum_names())
        assert all(strata_of_sample[s.name] == s.sample for s in sample.strata)
    assert all(p == 1 for p in draw(pop, 5000, SampleSizes(), seed=3).inclusion_probability())


def test_the_same_seed_gives_the_same_sample():
    pop, _ = synthetic()
    a, b, c = (draw(pop, 200, SampleSizes(), seed=s) for s in (5, 5, 6))
    assert a.rows.tolist() == b.rows.tolist()
    assert a.rows.tolist() != c.rows.tolist()
    assert [s.sample for s in a.strata] == [s.sample for s in c.strata]  # the seed moves rows, not sizes


def test_implicit_stratification_spreads_the_draw_over_shards():
    n = 400
    pop = population([[]] * n, shard=[f"s{i % 4}" for i in range(n)])
    for seed in range(20):
        sample = draw(pop, 40, SampleSizes(), seed=seed)
        assert Counter(pop.shard[sample.rows].tolist()) == {0: 10, 1: 10, 2: 10, 3: 10}


def test_bad_sizes_and_empty_runs_are_clear_errors():
    pop, _ = synthetic(50)
    with pytest.raises(SamplingError, match="--size must be 1 or more"):
        draw(pop, 0, SampleSizes())
    with pytest.raises(SamplingError, match="no scored rows"):
        draw(population([]), 10, SampleSizes())


def test_horvitz_thompson_estimate_is_unbiased_and_its_interval_covers():
    """The weighted share of bad rows over 200 seeds: mean within 2 standard errors of the truth, and
    the stratified 95% interval (each stratum as simple random sampling) covering it in most draws."""
    pop, bad = synthetic()
    truth = bad.mean()
    estimates, covered = [], 0
    for seed in range(200):
        sample = draw(pop, 200, SampleSizes(), seed=seed)
        y, pi = bad[sample.rows], sample.inclusion_probability()
        estimate = float((y / pi).sum() / pop.rows)
        estimates.append(estimate)
        var = 0.0
        names = np.array(sample.stratum_names())
        for s in sample.strata:
            if s.sample < s.population:
                ys = y[names == s.name]
                var += (s.population / pop.rows) ** 2 * (1 - s.sample / s.population) * ys.var(ddof=1) / s.sample
        covered += abs(estimate - truth) <= 1.96 * math.sqrt(var)
    mean, se = np.mean(estimates), np.std(estimates, ddof=1) / math.sqrt(len(estimates))
    assert abs(mean - truth) <= 2 * se, (mean, truth, se)
    assert covered >= 0.85 * len(estimates), covered
    # The sample over-represents the flagged rows (mostly bad): the unweighted share would be biased.
    unweighted = np.mean([bad[draw(pop, 200, SampleSizes(), seed=s).rows].mean() for s in range(20)])
    assert unweighted > truth + 0.03
