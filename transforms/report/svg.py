"""Hand-built inline SVG charts for the report: a few hundred bytes each, no plotting library.

Why hand-built: the charts are bars, rectangles and ticks; a plotting
library's output for the same chart is 10-50x larger (matplotlib's SVG
embeds glyph paths) or needs a JavaScript bundle (plotly.js is 4.8 MB, the
whole budget). Every label is escaped (markupsafe), every number written
with fixed decimals, so the same data gives the same bytes. Colours come
from CSS classes (report.css), not style attributes, which the page's
Content-Security-Policy would refuse.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

PALETTE = 10  # CSS classes c0..c9


def _n(x: float) -> str:
    """A coordinate with one decimal, no trailing zeros: fixed text for a fixed value."""
    s = f"{x:.1f}"
    return s[:-2] if s.endswith(".0") else s


def fmt(x: float | None, digits: int = 3) -> str:
    """A value as the charts label it: integers plainly, others with `digits` significant digits."""
    if x is None:
        return "n/a"
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:.{digits}g}"


def inline_bar(value: float | None, top: float, width: int = 60, cls: str = "c0") -> Markup:
    """A small bar for a table cell: value / top of the width."""
    w = 0.0 if not value or top <= 0 else max(0.0, min(1.0, value / top)) * width
    return Markup(
        f'<svg class="ib" width="{width}" height="8" viewBox="0 0 {width} 8" aria-hidden="true">'
        f'<rect class="bg" width="{width}" height="8"/><rect class="{cls}" width="{_n(w)}" height="8"/></svg>'
    )


def histogram(
    bins: Sequence[tuple[float, float, int]],
    thresholds: Sequence[tuple[float, str]] = (),
    width: int = 360,
    height: int = 110,
    label: str = "",
) -> Markup:
    """Vertical bars (lo, hi, count) on a linear or binned axis, with threshold lines marked and labelled."""
    if not bins:
        return Markup("")
    pad_l, pad_b, pad_t = 4, 16, 14
    inner_w, inner_h = width - 2 * pad_l, height - pad_b - pad_t
    top = max(c for _, _, c in bins) or 1
    lo, hi = bins[0][0], bins[-1][1]
    span = (hi - lo) or 1.0
    bw = inner_w / len(bins)
    parts = [
        f'<svg class="chart hist" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}">'
    ]
    for i, (a, b, c) in enumerate(bins):
        h = inner_h * c / top
        parts.append(
            f'<rect class="c0" x="{_n(pad_l + i * bw)}" y="{_n(pad_t + inner_h - h)}" width="{_n(max(bw - 1, 0.5))}" '
            f'height="{_n(h)}"><title>{escape(fmt(a))} to {escape(fmt(b))}: {c:,}</title></rect>'
        )
    parts.append(f'<line class="axis" x1="{pad_l}" y1="{pad_t + inner_h}" x2="{width - pad_l}" y2="{pad_t + inner_h}"/>')
    parts.append(f'<text class="tick" x="{pad_l}" y="{height - 3}">{escape(fmt(lo))}</text>')
    parts.append(f'<text class="tick" x="{width - pad_l}" y="{height - 3}" text-anchor="end">{escape(fmt(hi))}</text>')
    for value, name in thresholds:
        x = pad_l + inner_w * (min(max(value, lo), hi) - lo) / span
        parts.append(f'<line class="thr" x1="{_n(x)}" y1="{pad_t - 4}" x2="{_n(x)}" y2="{pad_t + inner_h}"/>')
        anchor = "end" if x > width / 2 else "start"
        parts.append(f'<text class="thr-label" x="{_n(x)}" y="{pad_t - 5}" text-anchor="{anchor}">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def hbars(items: Sequence[tuple[str, float, str]], width: int = 520, label_w: int = 200, row_h: int = 16) -> Markup:
    """Horizontal bars: (label, value, text shown after the bar)."""
    if not items:
        return Markup("")
    top = max(v for _, v, _ in items) or 1
    bar_w = width - label_w - 90
    height = row_h * len(items) + 4
    parts = [f'<svg class="chart hbars" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">']
    for i, (name, value, text) in enumerate(items):
        y = 2 + i * row_h
        w = bar_w * value / top
        parts.append(
            f'<text class="lab" x="{label_w - 4}" y="{y + row_h - 5}" text-anchor="end">{escape(name[:40])}</text>'
            f'<rect class="c0" x="{label_w}" y="{y + 2}" width="{_n(max(w, 0.5))}" height="{row_h - 4}">'
            f"<title>{escape(name)}: {escape(text)}</title></rect>"
            f'<text class="val" x="{_n(label_w + w + 4)}" y="{y + row_h - 5}">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def heatmap(
    rows: Sequence[str],
    cols: Sequence[str],
    cells: Sequence[Sequence[float | None]],
    titles: Sequence[Sequence[str]],
    cell: int = 14,
    label_w: int = 180,
    label_h: int = 130,
) -> Markup:
    """A grid of shaded cells (values in [0, 1], None blank), row labels left, column labels rotated on top."""
    if not rows or not cols:
        return Markup("")
    width = label_w + cell * len(cols) + 4
    height = label_h + cell * len(rows) + 4
    parts = [f'<svg class="chart heat" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">']
    for j, c in enumerate(cols):
        x = label_w + j * cell + cell / 2
        parts.append(f'<text class="lab" transform="translate({_n(x + 4)},{label_h - 4}) rotate(-60)">{escape(c[:28])}</text>')
    for i, r in enumerate(rows):
        y = label_h + i * cell
        parts.append(f'<text class="lab" x="{label_w - 4}" y="{y + cell - 3}" text-anchor="end">{escape(r[:30])}</text>')
        for j, v in enumerate(cells[i]):
            if v is None:
                continue
            level = 0 if v <= 0 else min(9, 1 + int(v * 9))
            parts.append(
                f'<rect class="h{level}" x="{label_w + j * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}">'
                f"<title>{escape(titles[i][j])}</title></rect>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked(
    rows: Sequence[tuple[str, Sequence[tuple[str, float]]]], keys: Sequence[str], width: int = 560, label_w: int = 180
) -> Markup:
    """One 100 % bar per row, split by key (shares summing to 1), a legend below."""
    if not rows:
        return Markup("")
    row_h = 16
    bar_w = width - label_w - 8
    legend_h = 18 * ((len(keys) + 5) // 6)
    height = row_h * len(rows) + legend_h + 6
    color = {k: i % PALETTE for i, k in enumerate(keys)}
    parts = [f'<svg class="chart stacked" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">']
    for i, (name, shares) in enumerate(rows):
        y = 2 + i * row_h
        parts.append(f'<text class="lab" x="{label_w - 4}" y="{y + row_h - 5}" text-anchor="end">{escape(name[:30])}</text>')
        x = float(label_w)
        for key, share in shares:
            w = bar_w * share
            if w <= 0:
                continue
            parts.append(
                f'<rect class="c{color.get(key, 0)}" x="{_n(x)}" y="{y + 2}" width="{_n(w)}" height="{row_h - 4}">'
                f"<title>{escape(name)}: {escape(key)} {share:.1%}</title></rect>"
            )
            x += w
    y0 = row_h * len(rows) + 8
    for i, key in enumerate(keys):
        x, y = 8 + (i % 6) * ((width - 8) / 6), y0 + 18 * (i // 6)
        parts.append(
            f'<rect class="c{color[key]}" x="{_n(x)}" y="{y}" width="10" height="10"/>'
            f'<text class="lab" x="{_n(x + 14)}" y="{y + 9}">{escape(key[:16])}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def box_strip(
    rows: Sequence[tuple[str, float, float, float]], lo: float, hi: float, width: int = 360, label_w: int = 0
) -> Markup:
    """Per-source p10-p90 boxes with the median tick, on the histogram's axis [lo, hi] (label in the title)."""
    if not rows:
        return Markup("")
    row_h = 9
    pad = 4
    inner = width - 2 * pad
    span = (hi - lo) or 1.0
    height = row_h * len(rows) + 2

    def x(v: float) -> float:
        return pad + inner * (min(max(v, lo), hi) - lo) / span

    parts = [f'<svg class="chart strip" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">']
    for i, (name, p10, p50, p90) in enumerate(rows):
        y = 1 + i * row_h
        parts.append(
            f"<g><title>{escape(name)}: p10 {escape(fmt(p10))}, p50 {escape(fmt(p50))}, p90 {escape(fmt(p90))}</title>"
            f'<rect class="box" x="{_n(x(p10))}" y="{y + 1}" width="{_n(max(x(p90) - x(p10), 1))}" height="{row_h - 3}"/>'
            f'<line class="med" x1="{_n(x(p50))}" y1="{y}" x2="{_n(x(p50))}" y2="{y + row_h - 1}"/></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
