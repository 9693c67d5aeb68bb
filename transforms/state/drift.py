"""summary/drift.json: tonight against the last complete night, per statistic and source.

The comparison is the report's (transforms.report.drift: rates with a
two-proportion z, means and quantiles in units of last night's spread,
Jensen-Shannon and Wasserstein distances of the histograms), with the
thresholds of the config's `drift:` section, plus the language mix and the
share of tonight's new rows that repeat an earlier night's row. Sources whose
every statistic is the same both nights are listed once, in
`unchanged_sources`, instead of move by move.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from winnow.transforms.report import drift
from winnow.transforms.report.data import read_shards
from winnow.transforms.report.sources import choose_depth

if TYPE_CHECKING:
    from winnow.transforms.config import Config

DRIFT_FILE = "drift.json"


def thresholds(config: Config) -> drift.Thresholds:
    d = config.drift
    return drift.Thresholds(d.rate_points, d.rate_z, d.shift_spread, d.js, d.w1)


def _move(m: drift.Move) -> dict[str, Any]:
    return {
        "source": m.source,
        "kind": m.kind,
        "stat": m.stat,
        "before": m.before,
        "after": m.after,
        "size": m.size,
        "moved": m.moved,
    }


def unchanged_sources(moves: list[drift.Move]) -> set[str]:
    """Sources (not "all") whose every statistic is the same both nights: most sources of a night reuse their
    shards, and listing their zero moves made drift.json megabytes of zeros."""
    changed = {m.source for m in moves if m.size != 0 or m.before != m.after}
    return {m.source for m in moves if m.source != "all"} - changed


def night_drift(
    tonight_dir: str, last_dir: str | None, config: Config, new_rows: int, new_duplicates: int, last_night: str | None = None
) -> dict[str, Any]:
    """drift.json's content. `last_dir`: a directory holding last night's summary/ (None on the first night);
    `new_rows` / `new_duplicates`: tonight's new rows (not there last night with the same id and content: a new
    shard's, and a changed shard's new or edited rows), and those dropped as copies of an earlier night's row."""
    t = thresholds(config)
    share = new_duplicates / new_rows if new_rows else None
    out: dict[str, Any] = {
        "previous": last_night,
        "thresholds": {k: getattr(config.drift, k) for k in type(config.drift).model_fields},
        "new_rows": new_rows,
        "new_rows_duplicating_earlier_nights": new_duplicates,
        "new_duplicate_share": share,
        "new_duplicate_share_breached": share is not None and share >= config.drift.new_duplicate_share and new_duplicates > 0,
        "moves": [],
        "moved": 0,
    }
    if last_dir is not None:
        after_shards, before_shards = read_shards(tonight_dir), read_shards(last_dir)
        depth = choose_depth([s["shard"] for s in after_shards])
        before, after = drift.by_source(before_shards, depth), drift.by_source(after_shards, depth)
        same = {n for n in set(before) & set(after) if n != "all" and drift.same_statistics(before[n], after[n])}
        before = {n: s for n, s in before.items() if n not in same}
        after = {n: s for n, s in after.items() if n not in same}
        moves = drift.compare(before, after, t) + drift.language_moves(before, after, t)
        moves.sort(key=lambda m: (not m.moved, m.source != "all", m.source, m.kind, m.stat))
        unchanged = same | unchanged_sources(moves)
        out["unchanged_sources"] = sorted(unchanged)
        out["moves"] = [_move(m) for m in moves if m.source not in unchanged]
        out["moved"] = sum(m.moved for m in moves)
    out["breached"] = bool(out["moved"]) or bool(out["new_duplicate_share_breached"])
    return out
