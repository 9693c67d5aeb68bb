"""The report's sections as plain data (numbers, escaped-at-render strings, SVG Markup), from a run's summaries.

Every list is cut to a bound (`Limits`), so the page's size depends on the
number of rules, columns and sources shown, never on the rows. Values are
formatted here with fixed precision, so one run gives one page.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from winnow.transforms.report import drift, svg
from winnow.transforms.report.data import RunData
from winnow.transforms.report.sources import OTHER, Source, group_sources, total_of
from winnow.transforms.summary.histograms import Histogram, bucket_edges


@dataclass(frozen=True)
class Limits:
    """Upper bounds on what one page shows; render_report halves them if a page would exceed the size budget."""

    sources: int = 40  # rows of the per-source table and heatmap
    source_details: int = 12  # sources in per-signal strips, what-if tables and language bars
    files: int = 300  # rows of the per-file table
    rules: int = 60  # heatmap columns and rules with examples
    pair_rules: int = 30  # co-occurrence matrix size
    columns: int = 80  # numeric signals with a histogram
    languages: int = 12
    examples: int = 3  # per rule, drop reason and rejection reason
    text_chars: int = 600
    whatif_steps: int = 128
    movers: int = 200
    clusters: int = 10
    bins: int = 40

    def halved(self) -> Limits:
        return Limits(**{k: max(1, v // 2) for k, v in self.__dict__.items()})


def pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}%}"


def num(x: float | None, digits: int = 3) -> str:
    return svg.fmt(x, digits)


def share(k: int, n: int) -> float | None:
    return k / n if n else None


def cell(value: float | None, text: str | None = None) -> dict[str, Any]:
    """A sortable table cell: its sort value and its text."""
    return {"v": "" if value is None else f"{value:.6g}", "t": text if text is not None else num(value)}


# ---- overview ---------------------------------------------------------------------------------------


def overview(run: RunData) -> dict[str, Any]:
    ds = run.dataset
    scored = ds.get("rows_scored", 0)
    drops = list((ds.get("drop_reasons") or {}).items())
    rejects = list((ds.get("reject_reasons") or {}).items())
    versions = run.run.get("versions") or {}
    inputs = run.run.get("inputs") or []
    return {
        "cards": [
            ("rows read", f"{ds.get('rows_read', 0):,}"),
            ("scored", f"{scored:,}"),
            ("rejected", f"{ds.get('rows_rejected', 0):,}"),
            ("kept", f"{ds.get('rows_kept', 0):,} ({pct(share(ds.get('rows_kept', 0), scored))})"),
            ("dropped", f"{ds.get('rows_dropped', 0):,} ({pct(share(ds.get('rows_dropped', 0), scored))})"),
            ("flagged (warn or drop)", f"{ds.get('rows_flagged', 0):,} ({pct(ds.get('error_rate') if scored else None)})"),
            ("mean composite", num((ds.get("means") or {}).get("composite"))),
        ],
        "drops": svg.hbars([(r, n, f"{n:,} ({pct(share(n, scored))})") for r, n in drops[:30]]),
        "rejects": svg.hbars([(r, n, f"{n:,}") for r, n in rejects[:30]]),
        "run": [
            ("started", str(run.run.get("started", ""))),
            ("finished", str(run.run.get("finished", ""))),
            ("runner", str(run.run.get("runner", ""))),
            ("config hash", str(run.run.get("config_hash", ""))),
            ("winnow", str(versions.get("winnow", ""))),
            ("input files", f"{len(inputs):,}"),
        ],
    }


# ---- per source ---------------------------------------------------------------------------------------


def _top_rule(src: Source) -> tuple[str, float | None]:
    flags = src.maps.get("flag_counts") or Counter()
    if not flags:
        return "", None
    name, n = min(flags.items(), key=lambda kv: (-kv[1], kv[0]))
    return name, share(n, src.counts["rows_scored"])


def source_row(src: Source) -> dict[str, Any]:
    c = src.counts
    scored = c["rows_scored"]
    rule, rate = _top_rule(src)
    return {
        "name": src.name,
        "cells": [
            cell(src.files, f"{src.files:,}"),
            cell(c["rows_read"], f"{c['rows_read']:,}"),
            cell(scored, f"{scored:,}"),
            cell(share(c["rows_rejected"], c["rows_read"]), pct(share(c["rows_rejected"], c["rows_read"]))),
            cell(share(c["rows_kept"], scored), pct(share(c["rows_kept"], scored))),
            cell(share(c["rows_dropped"], scored), pct(share(c["rows_dropped"], scored))),
            cell(share(c["rows_flagged"], scored), pct(share(c["rows_flagged"], scored))),
            cell(share(c["duplicates_removed"], scored), pct(share(c["duplicates_removed"], scored))),
            cell(src.mean("composite")),
        ],
        "bars": {
            3: svg.inline_bar(share(c["rows_rejected"], c["rows_read"]), 1.0, cls="c3"),
            4: svg.inline_bar(share(c["rows_kept"], scored), 1.0, cls="c2"),
            5: svg.inline_bar(share(c["rows_dropped"], scored), 1.0, cls="c3"),
            6: svg.inline_bar(share(c["rows_flagged"], scored), 1.0, cls="c1"),
            7: svg.inline_bar(share(c["duplicates_removed"], scored), 1.0, cls="c4"),
            8: svg.inline_bar(src.mean("composite"), 1.0),
        },
        "top_rule": f"{rule} {pct(rate)}" if rule else "",
    }


SOURCE_HEADERS = ("files", "rows read", "scored", "rejected", "kept", "dropped", "flagged", "near-dup removed", "mean composite")


def per_source(sources: list[Source], files: list[Source], depth: int | None, limits: Limits) -> dict[str, Any]:
    return {
        "level": "file" if depth is None else f"directory (level {depth} of the shard names)",
        "headers": SOURCE_HEADERS,
        "rows": [source_row(s) for s in sources[: limits.sources]],
        "files": [source_row(f) for f in files[: limits.files]] if depth is not None else [],
        "files_total": len(files),
    }


# ---- numeric signals ------------------------------------------------------------------------------------


def display_bins(h: Histogram, bins: int) -> tuple[list[tuple[float, float, int]], bool]:
    """(lo, hi, count) bars of a histogram on a linear axis; True when the last bar also holds a long tail."""
    lo_e, hi_e = bucket_edges(h.keys)
    values = h.values()
    lo, top = float(lo_e[0]), float(max(values[-1], hi_e[-1] if values[-1] != 1.0 or h.integer else 1.0))
    q = h.quantiles([0.995]) or [top]
    tail = top > lo and q[0] < lo + (top - lo) / 4  # the top 0.5 % spans most of the axis
    hi = float(hi_e[np.searchsorted(values, q[0], side="right") - 1]) if tail else top
    if h.integer and hi - lo <= bins:
        edges = np.arange(math.floor(lo), math.floor(hi) + 2, dtype=np.float64)
    else:
        edges = np.linspace(lo, hi, bins + 1)
    idx = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    counts = np.bincount(idx, weights=h.counts, minlength=len(edges) - 1).astype(np.int64)
    out = [(float(edges[i]), float(edges[i + 1]), int(counts[i])) for i in range(len(edges) - 1)]
    return out, tail


def thresholds_of(run: RunData, column: str) -> list[tuple[float, str]]:
    """keep.min thresholds on a column: the run's, and each source entry's."""
    config = run.config
    out = []
    top = ((config.get("keep") or {}).get("min") or {}).get(column)
    if top is not None:
        out.append((float(top), f"keep.min {top:g}"))
    for i, s in enumerate(config.get("sources") or []):
        t = ((s.get("keep") or {}).get("min") or {}).get(column)
        if t is not None:
            out.append((float(t), f"{s.get('name') or f'sources[{i}]'} {t:g}"))
    return out


def signals(run: RunData, total: Source, sources: list[Source], limits: Limits) -> dict[str, Any]:
    charts, constant, empty = [], [], []
    floats = [c for c, h in total.hist.items() if not h.integer]
    ints = [c for c, h in total.hist.items() if h.integer]
    for column in (floats + ints)[: limits.columns]:
        h = total.hist[column]
        if h.n == 0:
            empty.append(column)
            continue
        if len(h.keys) == 1:
            constant.append(f"{column} = {num(float(h.values()[0]))}")
            continue
        bars, tail = display_bins(h, limits.bins)
        lo, hi = bars[0][0], bars[-1][1]
        thr = thresholds_of(run, column)
        found = h.quantiles([0.1, 0.5, 0.9, 0.99])
        q: list[float | None] = list(found) if found else [None] * 4
        strip = []
        for s in sources[: limits.source_details]:
            sh = s.hist.get(column)
            sq = sh.quantiles([0.1, 0.5, 0.9]) if sh is not None else None
            if sq:
                strip.append((s.name, sq[0], sq[1], sq[2]))
        mean = (run.dataset.get("means") or {}).get(column)
        charts.append(
            {
                "column": column,
                "svg": svg.histogram(bars, thr, label=column),
                "strip": svg.box_strip(strip, lo, hi),
                "strip_names": [r[0] for r in strip],
                "stats": f"n {h.n:,}; null {h.nulls:,}; mean {num(mean if mean is not None else h.mean())}; "
                f"p10 {num(q[0])}, p50 {num(q[1])}, p90 {num(q[2])}, p99 {num(q[3])}"
                + ("; the last bar holds the top 0.5 %, up to " + num((h.quantiles([1.0]) or [0.0])[0]) if tail else ""),
                "thresholds": ", ".join(name for _, name in thr),
            }
        )
    return {"charts": charts, "constant": constant, "empty": empty}


# ---- threshold what-if -----------------------------------------------------------------------------------


def whatif_steps(h: Histogram, steps: int) -> list[float]:
    """Thresholds the slider stops at: bucket edges, so every count shown is exact."""
    lo, hi = bucket_edges(h.keys)
    if len(lo) == 0:
        return []
    if (
        not h.integer and lo[0] >= 0 and float(h.values()[-1]) <= 1.0
    ):  # a score in [0, 1] (1.0 itself sits in the bucket [1, 1 + 1/64))
        return [i / steps for i in range(steps + 1)]  # 1/128 is a multiple of the 1/256 buckets
    cum = np.cumsum(h.counts)
    picks = np.searchsorted(cum, np.linspace(0, cum[-1], steps + 1)[1:-1], side="left")
    return sorted({float(lo[0]), *(float(lo[i]) for i in picks), float(hi[-1])})


def whatif(run: RunData, total: Source, sources: list[Source], limits: Limits) -> dict[str, Any]:
    keep_cfg = run.config.get("keep") or {}
    on_missing_keep = keep_cfg.get("on_missing") == "keep"
    current_min = keep_cfg.get("min") or {}
    data: dict[str, Any] = {}
    order = []
    first = [c for c in ("composite", "quality") if c in total.whatif]
    for column in first + [c for c in total.whatif if c not in first]:
        h = total.whatif[column]
        if h.n == 0 or len(h.keys) < 2:
            continue
        steps = whatif_steps(h, limits.whatif_steps)
        groups = [total, *sources[: limits.source_details]]
        rows = []
        for g in groups:
            gh = g.whatif.get(column) or Histogram.empty()
            rows.append(
                {
                    "name": "all rows" if g is total else g.name,
                    "scored": g.counts["rows_scored"],
                    "kept": g.counts["rows_kept"],
                    "off": gh.n + gh.nulls,
                    "nulls": gh.nulls,
                    "at": [int(x) for x in gh.at_least(np.asarray(steps))],
                }
            )
        now = current_min.get(column)
        current = 0 if now is None else 1 + int(np.searchsorted(np.asarray(steps), float(now), side="left"))
        data[column] = {"steps": [float(f"{s:.6g}") for s in steps], "current": min(current, len(steps)), "rows": rows}
        order.append(column)
    return {"columns": order, "data": data, "on_missing_keep": on_missing_keep}


# ---- rules -------------------------------------------------------------------------------------------------


def rules(run: RunData, total: Source, sources: list[Source], limits: Limits) -> dict[str, Any]:
    fired = [r for r in run.dataset.get("rules") or [] if r.get("rows")]
    names = [r["name"] for r in fired[: limits.rules]]
    rates = [
        [share((s.maps.get("flag_counts") or {}).get(n, 0), s.counts["rows_scored"]) for n in names]
        for s in sources[: limits.sources]
    ]
    top = max((v for row in rates for v in row if v), default=0.0) or 1.0
    heat = svg.heatmap(
        [s.name for s in sources[: limits.sources]],
        names,
        [[None if v is None else (v / top) ** 0.5 for v in row] for row in rates],
        [[f"{s.name} - {n}: {pct(v, 2)}" for n, v in zip(names, row)] for s, row in zip(sources, rates)],
    )
    pair_names = names[: limits.pair_rules]
    flags: Counter = total.maps.get("flag_counts") or Counter()
    pairs: Counter = total.maps.get("flag_pairs") or Counter()
    cells: list[list[float | None]] = []
    titles: list[list[str]] = []
    for a in pair_names:
        row_c: list[float | None] = []
        row_t: list[str] = []
        for b in pair_names:
            if a == b:
                row_c.append(None)
                row_t.append("")
                continue
            both = pairs.get(f"{min(a, b)}|{max(a, b)}", 0)
            rarer = min(flags.get(a, 0), flags.get(b, 0))
            v = both / rarer if rarer else 0.0
            row_c.append(v)
            row_t.append(f"{a} & {b}: {both:,} rows ({pct(v)} of the rarer rule's rows)")
        cells.append(row_c)
        titles.append(row_t)
    return {
        "heatmap": heat,
        "cooccurrence": svg.heatmap(pair_names, pair_names, cells, titles),
        "fired": len(fired),
        "shown": len(names),
        "max_rate": pct(top, 2),
    }


def rule_examples(run: RunData, sources: list[Source], limits: Limits) -> list[dict[str, Any]]:
    by_group = _examples(run, "rule", limits)
    out = []
    for r in [r for r in run.dataset.get("rules") or [] if r.get("rows")][: limits.rules]:
        per_source = sorted(
            (
                (share((s.maps.get("flag_counts") or {}).get(r["name"], 0), s.counts["rows_scored"]) or 0.0, s.name)
                for s in sources
            ),
            key=lambda x: (-x[0], x[1]),
        )
        out.append(
            {
                "name": r["name"],
                "severity": r.get("severity", ""),
                "explain": r.get("explain", ""),
                "rows": f"{r['rows']:,}",
                "rate": pct(r.get("rate"), 2),
                "sources": [f"{name} {pct(v, 1)}" for v, name in per_source[:5] if v > 0],
                "examples": by_group.get(r["name"], []),
            }
        )
    return out


def _examples(run: RunData, kind: str, limits: Limits) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in sorted((e for e in run.examples if e.get("kind") == kind), key=lambda e: (e["group"], e.get("rank") or 0)):
        group = out.setdefault(e["group"], [])
        if len(group) < limits.examples:
            group.append(_example_view(e, limits))
    return out


def _example_view(e: dict[str, Any], limits: Limits) -> dict[str, Any]:
    def cut(s: Any) -> str:
        s = "" if s is None else str(s)
        return s if len(s) <= limits.text_chars else s[: limits.text_chars] + "…"

    where = f"{e.get('shard') or ''}:{e.get('row')}"
    return {
        "where": where,
        "id": "" if (e.get("id") or where) == where else "id " + cut(e.get("id")),
        "instruction": cut(e.get("instruction")),
        "response": cut(e.get("response")),
        "raw": cut(e.get("raw")),
        "flags": ", ".join(e.get("flags") or []),
        "drop_reasons": ", ".join(cut(x) for x in e.get("drop_reasons") or []),
        "composite": num(e.get("composite")) if e.get("composite") is not None else "",
        "similarity": num(e.get("similarity")) if e.get("similarity") is not None else "",
    }


# ---- languages ------------------------------------------------------------------------------------------------


def languages(total: Source, sources: list[Source], limits: Limits) -> dict[str, Any]:
    langs = total.maps.get("lang_counts") or Counter()
    scored = total.counts["rows_scored"]
    top = [k for k, _ in sorted(langs.items(), key=lambda kv: (-kv[1], kv[0]))[: limits.languages]]
    keys = [*top, "other"] if len(langs) > len(top) else top
    rows = []
    for s in sources[: limits.source_details]:
        counts = s.maps.get("lang_counts") or Counter()
        n = sum(counts.values())
        if not n:
            continue
        shares = [(k, counts.get(k, 0) / n) for k in top]
        if "other" in keys:
            shares.append(("other", (n - sum(counts.get(k, 0) for k in top)) / n))
        rows.append((s.name, shares))
    return {
        "bars": svg.hbars([(k, langs[k], f"{langs[k]:,} ({pct(share(langs[k], scored))})") for k in top]),
        "stacked": svg.stacked(rows, keys),
        "count": len(langs),
    }


# ---- near-duplicates and diversity ----------------------------------------------------------------------------


SIZE_BINS = ((2, 2), (3, 3), (4, 4), (5, 8), (9, 16), (17, 32), (33, 64), (65, 128), (129, 1024), (1025, None))


def duplicates(run: RunData, total: Source, sources: list[Source], limits: Limits) -> dict[str, Any]:
    dv = run.dataset.get("diversity") or {}
    dd = run.dataset.get("dedup")
    sizes = total.cluster_sizes
    values, counts = sizes.values(), sizes.counts
    items = []
    for lo, hi in SIZE_BINS:
        mask = (values >= lo) & (values <= (hi if hi is not None else np.inf))
        clusters = int(counts[mask].sum())
        rows = int((values[mask] * counts[mask]).sum())
        if clusters:
            label = str(lo) if lo == hi else (f"{lo}-{hi}" if hi else f"{lo}+")
            items.append((f"size {label}", clusters, f"{clusters:,} clusters, ~{rows:,} rows"))
    pairs: dict[str, dict[str, Any]] = {}
    for e in sorted(
        (e for e in run.examples if e.get("kind") == "cluster"), key=lambda e: (-(e.get("cluster_size") or 0), e["group"])
    ):
        entry = pairs.setdefault(e["group"], {"size": e.get("cluster_size") or 0, "kept": None, "member": None})
        entry[e.get("role") or "member"] = _example_view(e, limits)
    largest = sorted(pairs.values(), key=lambda p: -p["size"])[: limits.clusters]
    table = []
    for s in sources[: limits.sources]:
        c = s.counts
        table.append(
            {
                "name": s.name,
                "cells": [
                    cell(c["duplicate_rows"], f"{c['duplicate_rows']:,}"),
                    cell(share(c["duplicates_removed"], c["rows_scored"]), pct(share(c["duplicates_removed"], c["rows_scored"]))),
                    cell(c["exact_duplicates_removed"], f"{c['exact_duplicates_removed']:,}"),
                ],
            }
        )
    return {
        "enabled": dd is not None,
        "facts": [
            ("clusters", f"{(dd or {}).get('clusters', 0):,}"),
            ("rows in clusters", f"{dv.get('duplicate_rows', 0):,}"),
            ("rows to drop", f"{dv.get('duplicates_removed', 0):,} ({pct(dv.get('duplicate_rate'))})"),
            ("exact copies dropped", f"{dv.get('exact_duplicates_removed', 0):,}"),
        ],
        "sizes": svg.hbars(items),
        "largest": largest,
        "table": table,
    }


def diversity(run: RunData, sources: list[Source], limits: Limits) -> dict[str, Any]:
    ds = run.dataset
    dv = ds.get("diversity") or {}
    cov = ds.get("coverage") or {}
    targets = sorted(set(cov.get("covered") or []) | set(cov.get("missing") or []))
    min_rows = int(((run.config.get("taxonomy") or {}).get("min_rows")) or 1)
    topic_rows = cov.get("topic_rows") or {}
    rows = []
    for s in sources[: limits.sources]:
        topics = s.maps.get("topic_counts") or Counter()
        covered = [t for t in targets if topics.get(t, 0) >= min_rows]
        single = s.files == 1 and s.diversity
        d = s.diversity[0] if single else {}
        scored = s.counts["rows_scored"]
        rows.append(
            {
                "name": s.name,
                "cells": [
                    cell(
                        share(scored - s.counts["duplicates_removed"], scored),
                        pct(share(scored - s.counts["duplicates_removed"], scored)),
                    ),
                    cell(d.get("distinct_ngrams"), f"~{d['distinct_ngrams']:,}" if d.get("distinct_ngrams") is not None else "-"),
                    cell(d.get("instruction_type_entropy"), num(d.get("instruction_type_entropy")) if single else "-"),
                    cell(d.get("self_bleu"), num(d.get("self_bleu")) if single else "-"),
                    cell(share(len(covered), len(targets)), pct(share(len(covered), len(targets)), 0) if targets else "-"),
                ],
                "missing": ", ".join(t for t in targets if t not in covered),
            }
        )
    dq = (ds.get("d_quality") or {}).get("d_quality")
    return {
        "facts": [
            ("distinct word n-grams", f"~{dv['distinct_ngrams']:,}" if dv.get("distinct_ngrams") is not None else "n/a"),
            (
                "instruction-type entropy",
                f"{num(dv.get('instruction_type_entropy'))} bits over {dv.get('instruction_types', 0):,} types",
            ),
            ("Self-BLEU", f"{num(dv.get('self_bleu'))} (sample of {dv.get('self_bleu_sample', 0):,})"),
            ("unique ratio", pct(dv.get("unique_ratio"))),
            ("D_quality", num(dq)),
        ],
        "coverage": pct(cov.get("coverage"), 0) if cov else None,
        "taxonomy": cov.get("taxonomy", ""),
        "covered": cov.get("covered") or [],
        "missing": cov.get("missing") or [],
        "topics": svg.hbars([(t, n, f"{n:,}") for t, n in sorted(topic_rows.items(), key=lambda kv: (-kv[1], kv[0]))[:40]]),
        "types": ", ".join(f"{k} {v:,}" for k, v in list((ds.get("top_instruction_types") or {}).items())[:20]),
        "rows": rows,
    }


# ---- rejected rows ------------------------------------------------------------------------------------------------


def rejected(run: RunData, sources: list[Source], limits: Limits) -> dict[str, Any]:
    examples = _examples(run, "rejected", limits)
    reasons = list((run.dataset.get("reject_reasons") or {}).items())
    out = []
    for reason, n in reasons[:40]:
        per_source = sorted(
            ((((s.maps.get("reject_reasons") or {}).get(reason, 0)), s.name) for s in sources),
            key=lambda x: (-x[0], x[1]),
        )
        out.append(
            {
                "reason": reason,
                "rows": f"{n:,}",
                "sources": [f"{name} {k:,}" for k, name in per_source[:5] if k],
                "examples": examples.get(reason, []),
            }
        )
    drops = _examples(run, "drop_reason", limits)
    dropped = [
        {"reason": r, "rows": f"{n:,}", "examples": drops.get(r, [])}
        for r, n in list((run.dataset.get("drop_reasons") or {}).items())[:40]
    ]
    return {"reasons": out, "dropped": dropped}


# ---- drift -------------------------------------------------------------------------------------------------------


def drift_section(run: RunData, previous: RunData | None, depth: int | None, limits: Limits) -> dict[str, Any] | None:
    """Against `previous` (--compare) with the run's config thresholds; else a nightly run's summary/drift.json."""
    t = drift.Thresholds(
        **{k: v for k, v in (run.config.get("drift") or {}).items() if k in drift.Thresholds.__dataclass_fields__}
    )
    if previous is not None:
        before, after = drift.by_source(previous.shards, depth), drift.by_source(run.shards, depth)
        moves = drift.compare(before, after, t)
        against, started = previous.path, str(previous.run.get("started", ""))
    elif run.drift and run.drift.get("moves"):
        before = after = {}
        moves = [drift.Move(**{k: m[k] for k in drift.Move.__dataclass_fields__}) for m in run.drift["moves"]]
        against = f"the last night ({run.drift.get('previous') or 'its state'}; summary/drift.json)"
        share = run.drift.get("new_duplicate_share")
        if share is not None:
            against += f"; {share:.1%} of tonight's {run.drift['new_rows']:,} new rows repeat an earlier night's row"
        started = "earlier"
    else:
        return None
    moved = [m for m in moves if m.moved]

    def view(m: drift.Move) -> dict[str, Any]:
        unit = "points" if m.kind == "rate" else ("spreads" if m.kind in ("mean", "quantile") else "")
        before_t = pct(m.before, 2) if m.kind == "rate" else num(m.before)
        after_t = pct(m.after, 2) if m.kind == "rate" else num(m.after)
        size = f"{m.size * 100:+.2f} points" if m.kind == "rate" else f"{m.size:+.3f} {unit}".strip()
        return {
            "source": m.source,
            "kind": m.kind,
            "stat": m.stat,
            "before": before_t,
            "after": after_t,
            "size": size,
            "moved": m.moved,
        }

    distances = [m for m in moves if m.source == "all" and m.kind == "distance"]
    return {
        "previous": against,
        "previous_started": started,
        "moved": len(moved),
        "total": len(moves),
        "rows": [view(m) for m in moves[: limits.movers]],
        "distances": [view(m) for m in sorted(distances, key=lambda m: m.stat)][: limits.columns * 2],
        "only_before": sorted(set(before) - set(after))[:50],
        "only_after": sorted(set(after) - set(before))[:50],
        "thresholds": (
            f"a rate moved: by >= {t.rate_points * 100:g} point(s) with a two-proportion z >= {t.rate_z:g}; "
            f"a mean or quantile: by >= {t.shift_spread:g} of the previous run's p90-p10 spread; "
            f"a distribution: Jensen-Shannon distance >= {t.js:g} ({drift.JS_BINS} bins at pooled quantiles) "
            f"or Wasserstein-1 / spread >= {t.w1:g}"
        ),
    }


def all_sections(run: RunData, previous: RunData | None, limits: Limits) -> dict[str, Any]:
    """Every section's data, in page order."""
    sources, depth = group_sources(run.shards, limits.sources)
    files = []
    for s in run.shards:
        f = Source(s["shard"])
        f.add(s)
        files.append(f)
    files.sort(key=lambda f: (-f.counts["rows_read"], f.name))
    total = total_of(run.shards)
    shown = [s for s in sources if s.name != OTHER] + [s for s in sources if s.name == OTHER]
    return {
        "overview": overview(run),
        "sources": per_source(shown, files, depth, limits),
        "signals": signals(run, total, shown, limits),
        "whatif": whatif(run, total, shown, limits),
        "rules": rules(run, total, shown, limits),
        "languages": languages(total, shown, limits),
        "duplicates": duplicates(run, total, shown, limits),
        "diversity": diversity(run, shown, limits),
        "examples": rule_examples(run, shown, limits),
        "rejected": rejected(run, shown, limits),
        "drift": drift_section(run, previous, depth, limits),
        "has_histograms": run.has_histograms(),
        "has_examples": bool(run.examples),
    }
