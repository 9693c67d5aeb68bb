"""Sources: the input files of a run grouped by file or directory, with their statistics added up.

The report and the end-of-run table break every count down per source, so
that one family of files cannot hide in the totals (issue 14: one
boilerplate flag on 11 % of the rows, all of it in one family of files).
A source is a file while a run has at most MAX_SOURCES files; otherwise a
directory of the shard names (which are relative to the input root), the
deepest level that gives at most MAX_SOURCES groups, the smallest groups
folded into one "other" source when even the top level gives more.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from winnow.transforms.summary.histograms import Histogram, merge_map_list

MAX_SOURCES = 40
OTHER = "(other sources)"
COUNTS = (
    "rows_read",
    "rows_scored",
    "rows_rejected",
    "rows_flagged",
    "rows_kept",
    "rows_dropped",
    "duplicate_rows",
    "duplicates_removed",
    "exact_duplicates_removed",
)
MAPS = ("flag_counts", "flag_pairs", "drop_reasons", "reject_reasons", "lang_counts", "topic_counts", "formats")


def source_of(shard: str, depth: int | None) -> str:
    """The source a shard belongs to: itself (depth None), or its first `depth` directories."""
    parts = shard.split("/")
    if depth is None or len(parts) <= depth:
        return shard
    return "/".join(parts[:depth]) + "/"


def choose_depth(shards: Sequence[str], max_sources: int = MAX_SOURCES) -> int | None:
    """None (one source per file) for at most `max_sources` files, else the deepest directory level that fits."""
    if len(shards) <= max_sources:
        return None
    deepest = max((s.count("/") for s in shards), default=0)
    for depth in range(deepest, 0, -1):
        if len({source_of(s, depth) for s in shards}) <= max_sources:
            return depth
    return 1


T = TypeVar("T")


class _Merged(Generic[T]):
    """A Source attribute read as its parts (one per shard added) merged into one, merged when first read."""

    def __init__(self, parts: str, merge: Callable[[list[T]], T]):
        self.parts, self.merge = parts, merge

    def __get__(self, obj: Any, owner: Any = None) -> T:
        parts = getattr(obj, self.parts)
        if len(parts) != 1:
            parts[:] = [self.merge(parts)]
        return cast(T, parts[0])

    def __set__(self, obj: Any, value: T) -> None:
        setattr(obj, self.parts, [value])


@dataclass
class Source:
    """One source's statistics: counts, rows per key of each map column, merged histograms, means."""

    name: str
    files: int = 0
    counts: Counter = field(default_factory=Counter)
    maps: dict[str, Counter] = field(default_factory=dict)
    # Histograms of the shards added, merged when first read (each column in one sort, not one per shard).
    hist_parts: list[dict[str, Histogram]] = field(default_factory=list)
    whatif_parts: list[dict[str, Histogram]] = field(default_factory=list)
    cluster_parts: list[Histogram] = field(default_factory=lambda: [Histogram.empty(integer=True)])
    mean_sums: dict[str, float] = field(default_factory=dict)
    mean_counts: Counter = field(default_factory=Counter)
    coverage: list[tuple[float, int]] = field(default_factory=list)  # per file: (coverage, rows scored)
    diversity: list[dict[str, Any]] = field(default_factory=list)  # per file: the diversity columns

    def add(self, shard: dict[str, Any]) -> None:
        """Fold in one shard (a row of summary/shards.parquet, as data.read_run gives it)."""
        self.files += 1
        for c in COUNTS:
            self.counts[c] += int(shard.get(c) or 0)
        for m in MAPS:
            self.maps.setdefault(m, Counter()).update(shard.get(m) or {})
        self.hist_parts.append(shard.get("hist") or {})
        self.whatif_parts.append(shard.get("whatif") or {})
        if shard.get("cluster_sizes") is not None:
            self.cluster_parts.append(shard["cluster_sizes"])
        for name, value in (shard.get("means") or {}).items():
            if value is None:
                continue
            h = (shard.get("hist") or {}).get(name)
            n = h.n if h is not None else int(shard.get("rows_scored") or 0)  # exact: the histogram counts the non-null values
            self.mean_sums[name] = self.mean_sums.get(name, 0.0) + value * n
            self.mean_counts[name] += n
        if shard.get("coverage") is not None:
            self.coverage.append((shard["coverage"], int(shard.get("rows_scored") or 0)))
        self.diversity.append({k: shard.get(k) for k in ("instruction_type_entropy", "self_bleu", "distinct_ngrams")})

    # Not fields (no annotation): read as the parts above merged into one.
    hist = _Merged["dict[str, Histogram]"]("hist_parts", merge_map_list)  # column -> every shard's histogram
    whatif = _Merged["dict[str, Histogram]"]("whatif_parts", merge_map_list)  # column -> every shard's what-if
    cluster_sizes = _Merged[Histogram]("cluster_parts", Histogram.merge_all)

    def mean(self, name: str) -> float | None:
        n = self.mean_counts.get(name, 0)
        return self.mean_sums[name] / n if n else None

    def rate(self, count: int, of: str = "rows_scored") -> float | None:
        d = self.counts.get(of, 0)
        return count / d if d else None


def group_sources(shards: Iterable[dict[str, Any]], max_sources: int = MAX_SOURCES) -> tuple[list[Source], int | None]:
    """(sources largest first, the directory depth used or None for files); the rest folded into OTHER."""
    shards = list(shards)
    depth = choose_depth([s["shard"] for s in shards], max_sources)
    groups: dict[str, Source] = {}
    for s in shards:
        name = source_of(s["shard"], depth)
        groups.setdefault(name, Source(name)).add(s)
    ordered = sorted(groups.values(), key=lambda g: (-g.counts["rows_read"], g.name))
    if len(ordered) <= max_sources:
        return ordered, depth
    other = Source(OTHER)
    names = {g.name for g in ordered[max_sources - 1 :]}
    for s in shards:
        if source_of(s["shard"], depth) in names:
            other.add(s)
    return [*ordered[: max_sources - 1], other], depth


def total_of(shards: Iterable[dict[str, Any]]) -> Source:
    """Every shard in one Source (the dataset)."""
    total = Source("all")
    for s in shards:
        total.add(s)
    return total


def source_lines(shards: list[dict[str, Any]], limit: int = 12) -> list[str]:
    """The end-of-run table's per-source lines: rows, kept, dropped, near-duplicates, flagged, mean score, top rules."""
    if not shards:
        return []
    sources, depth = group_sources(shards)
    level = "file" if depth is None else f"directory, level {depth}"
    score = "composite" if any(s.mean("composite") is not None for s in sources) else "quality"
    width = min(max(len(s.name) for s in sources[:limit]), 40)
    lines = [
        f"per source ({level}):",
        f"  {'source':<{width}} {'scored':>9} {'kept':>7} {'dropped':>8} {'near-dup':>9} {'flagged':>8} {score[:9]:>9}  top rules",
    ]

    def pct(k: int, n: int) -> str:
        return f"{k / n:.1%}" if n else "n/a"

    for s in sources[:limit]:
        c, n = s.counts, s.counts["rows_scored"]
        flags = sorted((s.maps.get("flag_counts") or {}).items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        rules = ", ".join(f"{name} {pct(k, n)}" for name, k in flags)
        mean = s.mean(score)
        name = s.name if len(s.name) <= width else "…" + s.name[-(width - 1) :]
        lines.append(
            f"  {name:<{width}} {n:>9,} {pct(c['rows_kept'], n):>7} {pct(c['rows_dropped'], n):>8} "
            f"{pct(c['duplicates_removed'], n):>9} {pct(c['rows_flagged'], n):>8} {'n/a' if mean is None else f'{mean:.3f}':>9}  {rules}".rstrip()
        )
    if len(sources) > limit:
        lines.append(f"  ... {len(sources) - limit} more sources (report.html has them all)")
    return lines
