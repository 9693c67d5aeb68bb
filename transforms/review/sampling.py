"""The review sample: a fixed-size stratified sample of a run, every row with an exact inclusion probability.

People label a few hundred rows; what they find must say something about the
whole corpus. So the sample is a probability sample whose strata partition
the scored rows, and every row knows the probability it had of being drawn:
a label's weight is 1 / that probability (Horvitz-Thompson), and weighted
estimates are unbiased for the corpus, not the sample.

Strata. Every row goes to exactly one stratum, the first of these that takes it:

1. `near_duplicate:kept`: the kept row of each near-duplicate cluster of two
   or more rows (when dedup ran);
2. `rule:<name>`: rows where that rule fired, for each rule that gets at
   least `min_stratum_rows` rows. A row where several rules fired goes to the
   rarest of them (fewest rows among the rows left after step 1, then name);
   a rule whose stratum would stay below `min_stratum_rows` that way is given
   up (the smallest first, then again), and its rows go to their next rarest
   rule or on to step 3;
3. `language:<code>`: for each language other than the run's most common one
   with at least `min_stratum_rows` of the rows left;
4. every other row: `composite:d0` ... `composite:d9` by deciles of the
   composite score over those rows (cut points at the 10th, ..., 90th
   percentiles: equal scores share a decile, so a decile may be missing
   where many rows tie), `composite:missing` for rows without a composite,
   or one stratum `rest` when the run has no composite column.

Allocation (sample size N). Strata of steps 1-3 get fixed sizes
(`near_duplicate_rows`, `rule_rows` each, `language_rows` each; `strata`
sets any stratum's size by name); the rest of N goes to the composite
deciles in proportion to their sizes (largest remainder). Every stratum gets
at least one row while N allows; when the fixed sizes do not fit, they are
scaled down proportionally (largest remainder, at least one each). A stratum
never gets more rows than it has, and rows a full stratum cannot take go to
the others in proportion to the rows they have left, so the sample has
exactly N rows; with N at or above the number of rows, every row is taken.
With N below the number of strata, the largest strata get one row each and
the others none: their rows have probability 0 and export.json says so.

Drawing. Inside stratum h (N_h rows, n_h drawn) the rows are sorted by
source shard, language, each classifier's decile, then the composite and
classifier scores, and a systematic sample with a random start is taken:
with r uniform on 0..N_h-1 (seeded by the seed and the stratum's name), the
rows at sorted positions floor((r + i N_h) / n_h), i = 0..n_h-1. Every row of
the stratum is drawn for exactly n_h of the N_h starts, so its inclusion
probability is n_h / N_h exactly, as under simple random sampling, and the
probabilities of all rows add up to N. Classifier deciles, shard and
language are covered by implicit stratification: the draw is spread evenly
along that order, so each shard, language and classifier decile gets close
to its share of every stratum without strata of its own. (Joint inclusion
probabilities differ from simple random sampling; a variance computed as if
each stratum were one is conservative when the sort order is informative.)

Pure functions over numpy arrays and Arrow tables; no Beam, no files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.io.inputs import InputError

if TYPE_CHECKING:
    from winnow.transforms.config import ReviewConfig

NEAR_DUPLICATE = "near_duplicate:kept"
RULE, LANGUAGE, COMPOSITE = "rule:", "language:", "composite:"
COMPOSITE_MISSING, REST = "composite:missing", "rest"
DECILES = 10


class SamplingError(InputError):
    """A sample that cannot be drawn (no rows, a size below 1); one clear line."""


@dataclass(frozen=True)
class SampleSizes:
    """How many rows the strata of steps 1-3 get (the `review:` config section)."""

    near_duplicate_rows: int = 20
    rule_rows: int = 20
    language_rows: int = 10
    min_stratum_rows: int = 5
    strata: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_config(cls, review: ReviewConfig) -> SampleSizes:
        return cls(
            review.near_duplicate_rows, review.rule_rows, review.language_rows, review.min_stratum_rows, dict(review.strata)
        )


@dataclass(frozen=True)
class Population:
    """The scored rows as the sample design sees them, one entry per row (in records/ order).

    `shard` and `language` are codes into `shards` and `languages` (-1: none);
    `representative`: kept row of a near-duplicate cluster of 2+ rows (None:
    dedup did not run); `composite` and `scores` (classifier columns) are
    floats with NaN for null; `flags`: a list<string> array of fired rules.
    """

    shard: np.ndarray
    shards: list[str]
    flags: pa.Array | None = None
    representative: np.ndarray | None = None
    language: np.ndarray | None = None
    languages: list[str] = field(default_factory=list)
    composite: np.ndarray | None = None
    scores: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.shard)

    @classmethod
    def from_table(
        cls,
        table: pa.Table,
        *,
        language: str | None = "lang",
        composite: str | None = "composite",
        scores: Sequence[str] = (),
        representative: np.ndarray | None = None,
    ) -> Population:
        """From records/ columns: `shard`, `flags` and the named ones when the table has them."""
        shard, shards = (
            _codes(table.column("shard")) if "shard" in table.column_names else (np.zeros(table.num_rows, np.int64), [""])
        )
        flags = _one_array(table.column("flags")) if "flags" in table.column_names else None
        lang, languages = _codes(table.column(language)) if language and language in table.column_names else (None, [])
        return cls(
            shard=shard,
            shards=shards,
            flags=flags,
            representative=None if representative is None else np.asarray(representative, dtype=bool),
            language=lang,
            languages=languages,
            composite=_floats(table.column(composite)) if composite and composite in table.column_names else None,
            scores={name: _floats(table.column(name)) for name in scores if name in table.column_names},
        )


@dataclass(frozen=True)
class Stratum:
    name: str
    population: int
    sample: int

    @property
    def probability(self) -> float:
        """n_h / N_h: the inclusion probability of each of its rows."""
        return self.sample / self.population

    @property
    def exact_probability(self) -> Fraction:
        return Fraction(self.sample, self.population)


@dataclass(frozen=True)
class Sample:
    """The drawn sample: `rows` (indices into the population), the stratum of every row of the population."""

    strata: tuple[Stratum, ...]
    stratum_of_row: np.ndarray  # population row -> index into strata
    rows: np.ndarray  # sampled population rows, by stratum, in the stratum's sort order
    seed: int

    @property
    def size(self) -> int:
        return len(self.rows)

    def stratum_names(self, rows: np.ndarray | None = None) -> list[str]:
        """The stratum name of each of `rows` (default: the sampled rows)."""
        idx = self.stratum_of_row[self.rows if rows is None else rows]
        return [self.strata[i].name for i in idx]

    def inclusion_probability(self, rows: np.ndarray | None = None) -> np.ndarray:
        """n_h / N_h of each of `rows` (default: the sampled rows); pass np.arange(rows) for every row."""
        p = np.array([s.probability for s in self.strata], dtype=np.float64)
        return p[self.stratum_of_row[self.rows if rows is None else rows]]


# ---- Arrow to numpy ---------------------------------------------------------------------------


def _one_array(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _codes(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, list[str]]:
    """Sorted distinct non-empty strings and each row's index into them (-1 for null or empty)."""
    arr = _one_array(column)
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    arr = arr.cast(pa.string())
    values = sorted(v for v in pc.unique(arr).to_pylist() if v)
    found = pc.index_in(arr, value_set=pa.array(values, pa.string()))
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64), values


def _floats(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    arr = _one_array(column).cast(pa.float64())
    return np.asarray(arr.fill_null(np.nan).to_numpy(zero_copy_only=False), dtype=np.float64)


# ---- strata -------------------------------------------------------------------------------------


def deciles(values: np.ndarray) -> np.ndarray:
    """0..9 by the 10th..90th percentiles of the non-NaN values (ties share a decile); NaN -> -1."""
    out = np.full(len(values), -1, dtype=np.int64)
    ok = ~np.isnan(values)
    if ok.any():
        cuts = np.quantile(values[ok], np.arange(1, DECILES) / DECILES, method="inverted_cdf")
        out[ok] = np.searchsorted(cuts, values[ok], side="left")
    return out


def _fired(flags: pa.Array) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(row, rule code) of every fired rule, and the rule names (codes index them); a rule listed twice counts once."""
    if pa.types.is_large_list(flags.type):
        flags = flags.cast(pa.list_(pa.string()))
    rows = np.asarray(pc.list_parent_indices(flags).to_numpy(zero_copy_only=False), dtype=np.int64)
    codes, names = _codes(pc.list_flatten(flags))
    ok = codes >= 0
    pairs = np.unique(np.stack([rows[ok], codes[ok]], axis=1), axis=0) if ok.any() else np.zeros((0, 2), np.int64)
    return pairs[:, 0], pairs[:, 1], names


def _rule_strata(pop: Population, free: np.ndarray, min_rows: int) -> tuple[np.ndarray, list[str]]:
    """Each free row's rule stratum (index into the returned names, -1: none), as the module docstring says."""
    n = pop.rows
    if pop.flags is None or n == 0:
        return np.full(n, -1, np.int64), []
    rows, codes, names = _fired(pop.flags)
    keep = free[rows]
    rows, codes = rows[keep], codes[keep]
    counts = np.bincount(codes, minlength=len(names))
    rarity = sorted(range(len(names)), key=lambda r: (int(counts[r]), names[r]))
    rank = np.empty(len(names), np.int64)
    rank[rarity] = np.arange(len(names))
    active = counts >= max(min_rows, 1)
    rule_at_rank = np.asarray([*rarity, -1], dtype=np.int64)  # rank -> rule; past the end: none
    while True:
        on = active[codes]
        best = np.full(n, len(names), np.int64)
        np.minimum.at(best, rows[on], rank[codes[on]])
        chosen = rule_at_rank[best]
        sizes = np.bincount(chosen[chosen >= 0], minlength=len(names))
        short = np.flatnonzero(active & (sizes < min_rows))
        if not len(short):
            break
        # Give up the smallest short stratum only: its rows may lift another one above the minimum.
        active[min(short, key=lambda r: (int(sizes[r]), int(rank[r])))] = False
    used = sorted({int(r) for r in chosen[chosen >= 0]}, key=lambda r: names[r])
    lookup = np.full(len(names) + 1, -1, np.int64)  # rule -> stratum; lookup[-1] (no rule) stays -1
    lookup[used] = np.arange(len(used))
    return lookup[chosen], [names[r] for r in used]


def assign_strata(pop: Population, sizes: SampleSizes) -> tuple[list[str], np.ndarray]:
    """(stratum names in priority order, each row's stratum index): a partition of the rows.

    A fixed size of 0 (near_duplicate_rows, rule_rows or language_rows) switches
    that kind of stratum off: its rows go on to the next step.
    """
    n = pop.rows
    stratum = np.full(n, -1, np.int64)
    names: list[str] = []

    def take(mask: np.ndarray, name: str) -> None:
        stratum[mask] = len(names)
        names.append(name)

    if pop.representative is not None and sizes.near_duplicate_rows > 0:
        mask = pop.representative & (stratum < 0)
        if mask.any():
            take(mask, NEAR_DUPLICATE)
    if sizes.rule_rows > 0:
        rule_of_row, rule_names = _rule_strata(pop, stratum < 0, sizes.min_stratum_rows)
        for i, name in enumerate(rule_names):
            take(rule_of_row == i, RULE + name)
    if pop.language is not None and sizes.language_rows > 0 and pop.languages:
        counts = np.bincount(pop.language[pop.language >= 0], minlength=len(pop.languages))
        main = int(np.argmax(counts))  # the most common language; ties: the first name
        left = np.bincount(pop.language[(stratum < 0) & (pop.language >= 0)], minlength=len(pop.languages))
        for code, lang in enumerate(pop.languages):
            if code != main and left[code] >= max(sizes.min_stratum_rows, 1):
                take((stratum < 0) & (pop.language == code), LANGUAGE + lang)
    rest = stratum < 0
    if pop.composite is None:
        if rest.any():
            take(rest, REST)
    else:
        idx = np.flatnonzero(rest)
        dec = deciles(pop.composite[idx])
        for d in range(DECILES):
            if (dec == d).any():
                mask = np.zeros(n, bool)
                mask[idx[dec == d]] = True
                take(mask, f"{COMPOSITE}d{d}")
        if (dec < 0).any():
            mask = np.zeros(n, bool)
            mask[idx[dec < 0]] = True
            take(mask, COMPOSITE_MISSING)
    return names, stratum


# ---- allocation ---------------------------------------------------------------------------------


def apportion(total: int, weights: Sequence[int], caps: Sequence[int]) -> list[int]:
    """`total` split in proportion to `weights` by largest remainder, none above its cap.

    What a capped entry cannot take is split again over the others; the result
    adds up to min(total, sum(caps)). Ties in the remainders go to the first.
    Integer arithmetic throughout, so it is exact at any size.
    """
    k = len(weights)
    alloc = [0] * k
    room = [max(int(c), 0) for c in caps]
    remaining = min(int(total), sum(room))
    while remaining > 0:
        active = [i for i in range(k) if alloc[i] < room[i]]
        w = [max(int(weights[i]), 0) for i in active]
        if sum(w) == 0:
            w = [1] * len(active)
        wsum = sum(w)
        quota = [remaining * x // wsum for x in w]
        rem = [remaining * x % wsum for x in w]
        for j in sorted(range(len(active)), key=lambda j: (-rem[j], j))[: remaining - sum(quota)]:
            quota[j] += 1
        for j, i in enumerate(active):
            alloc[i] += min(quota[j], room[i] - alloc[i])
        remaining = min(int(total), sum(room)) - sum(alloc)
    return alloc


def _apportion_at_least_one(total: int, weights: Sequence[int], caps: Sequence[int]) -> list[int]:
    """apportion() with one row per entry first (caps are >= 1 here and total >= len(weights))."""
    rest = apportion(total - len(weights), weights, [c - 1 for c in caps])
    return [1 + r for r in rest]


def _fixed_size(name: str, sizes: SampleSizes) -> int | None:
    """The fixed size of a stratum (None: it shares the rest of N)."""
    if name in sizes.strata:
        return int(sizes.strata[name])
    if name == NEAR_DUPLICATE:
        return sizes.near_duplicate_rows
    if name.startswith(RULE):
        return sizes.rule_rows
    if name.startswith(LANGUAGE):
        return sizes.language_rows
    return None


def allocate(names: Sequence[str], populations: Sequence[int], size: int, sizes: SampleSizes) -> list[int]:
    """n_h per stratum, adding up to min(size, rows), as the module docstring says."""
    pops = [int(p) for p in populations]
    k = len(pops)
    if size >= sum(pops):
        return list(pops)
    if size < k:  # fewer rows than strata: one row for each of the largest strata
        order = sorted(range(k), key=lambda h: (-pops[h], h))[:size]
        return [1 if h in order else 0 for h in range(k)]
    fixed = [_fixed_size(name, sizes) for name in names]
    fixed_h = [h for h in range(k) if fixed[h] is not None]
    flex_h = [h for h in range(k) if fixed[h] is None]
    want = {h: max(1, min(int(fixed[h] or 0), pops[h])) for h in fixed_h}
    alloc = [0] * k
    if sum(want.values()) + len(flex_h) > size:  # the fixed sizes do not fit: scale them down
        scaled = _apportion_at_least_one(size - len(flex_h), [want[h] for h in fixed_h], [want[h] for h in fixed_h])
        for h, n_h in zip(fixed_h, scaled):
            alloc[h] = n_h
        for h in flex_h:
            alloc[h] = 1
    else:
        for h in fixed_h:
            alloc[h] = want[h]
        if flex_h:
            spread = _apportion_at_least_one(size - sum(want.values()), [pops[h] for h in flex_h], [pops[h] for h in flex_h])
            for h, n_h in zip(flex_h, spread):
                alloc[h] = n_h
    left = size - sum(alloc)
    if left > 0:  # full strata left rows over: to the others, in proportion to the rows they have left
        room = [pops[h] - alloc[h] for h in range(k)]
        for h, extra in enumerate(apportion(left, room, room)):
            alloc[h] += extra
    return alloc


# ---- drawing ------------------------------------------------------------------------------------


def _stratum_rng(seed: int, name: str) -> np.random.Generator:
    """A generator per (seed, stratum name): adding a stratum does not move the others' draws."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return np.random.default_rng(np.random.SeedSequence([seed, int.from_bytes(digest, "little")]))


def systematic_positions(population: int, sample: int, start: int) -> np.ndarray:
    """Positions floor((start + i N) / n), i < n, of a stratum of N rows sorted in draw order.

    Over the N starts 0..N-1 every position is drawn for exactly n of them (the
    numbers start + i N, over all starts and i, are each integer once, and
    position j is drawn for the n of them in [j n, (j + 1) n)); so with a
    uniform start each row's inclusion probability is n / N.
    """
    if sample <= 0:
        return np.zeros(0, np.int64)
    return (start + np.arange(sample, dtype=np.int64) * population) // sample


def implicit_order(pop: Population, rows: np.ndarray, score_deciles: Sequence[np.ndarray]) -> np.ndarray:
    """`rows` sorted by shard, language, each classifier's decile, the scores, then row: the systematic draw's order."""
    big = np.iinfo(np.int64).max
    keys: list[np.ndarray] = [rows]  # np.lexsort: the last key sorts first
    for values in reversed([*pop.scores.values(), *([pop.composite] if pop.composite is not None else [])]):
        v = values[rows]
        keys.append(np.where(np.isnan(v), np.inf, v))
    for dec in reversed(list(score_deciles)):
        d = dec[rows]
        keys.append(np.where(d < 0, big, d))
    if pop.language is not None:
        lang = pop.language[rows]
        keys.append(np.where(lang < 0, big, lang))
    keys.append(pop.shard[rows])
    return rows[np.lexsort(keys)]


def draw(pop: Population, size: int, sizes: SampleSizes, seed: int = 0) -> Sample:
    """The stratified sample of `size` rows (all rows when there are fewer); deterministic for a seed."""
    if size < 1:
        raise SamplingError(f"--size must be 1 or more rows; got {size}")
    if seed < 0:
        raise SamplingError(f"--seed must be 0 or more; got {seed}")
    if pop.rows == 0:
        raise SamplingError("the run has no scored rows: there is nothing to sample")
    names, stratum_of_row = assign_strata(pop, sizes)
    pops = np.bincount(stratum_of_row, minlength=len(names))
    alloc = allocate(names, pops.tolist(), size, sizes)
    score_deciles = [deciles(v) for v in pop.scores.values()]
    members = np.argsort(stratum_of_row, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(pops)])
    drawn: list[np.ndarray] = []
    for h, name in enumerate(names):
        if alloc[h] == 0:
            continue
        ordered = implicit_order(pop, members[bounds[h] : bounds[h + 1]], score_deciles)
        start = int(_stratum_rng(seed, name).integers(0, len(ordered)))  # a whole stratum: every start takes all
        drawn.append(ordered[systematic_positions(len(ordered), alloc[h], start)])
    strata = tuple(Stratum(name, int(pops[h]), int(alloc[h])) for h, name in enumerate(names))
    rows = np.concatenate(drawn) if drawn else np.zeros(0, np.int64)
    return Sample(strata, stratum_of_row, rows.astype(np.int64), seed)


def strata_report(sample: Sample) -> dict[str, dict[str, Any]]:
    """Per stratum: population, sample and inclusion probability (export.json)."""
    return {
        s.name: {"population": s.population, "sample": s.sample, "inclusion_probability": s.probability} for s in sample.strata
    }
