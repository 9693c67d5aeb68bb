"""One composite quality score per row, and D_quality for the dataset, with their reasons.

Per row, each available component is a number in [0, 1]:

  quality     the quality classifier's probability (`quality`)
  relevance   the share of the row's topics that are target topics (`relevance`)
  clarity     1 - ambiguity, the quality model's label entropy (`quality_entropy`,
              at most 1 bit for a two-label model)
  originality 1 - the strongest repetition signal of the response
              (max of response_dup_line_frac, response_top_2gram_frac, response_dup_5gram_frac)

  composite = (sum of weight x component over available components) / (sum of their weights)
              x severity factor (drop: 0, warn: composite.warn_factor, else 1)

Components that are not computed (no quality model, no taxonomy match) are
left out rather than counted as zero. `composite_explain` spells out each
term and the factor, so a user sees what moved a score.

For the dataset, D_quality = f(diversity, relevance, ambiguity) is the
weighted mean of: diversity = unique_ratio x normalized instruction-type
entropy, the mean relevance, and 1 - the mean ambiguity, plus the mean
quality when a model ran.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.signals.base import Context, Signal

if TYPE_CHECKING:
    pass
COMPONENTS = ("quality", "relevance", "clarity", "originality")


def _component(cols: dict[str, pa.Array], name: str) -> np.ndarray | None:
    """The component as float64 with NaN where unknown; None when its signal is off."""

    def get(col: str) -> np.ndarray | None:
        if col not in cols:
            return None
        return pc.cast(cols[col], pa.float64()).to_numpy(zero_copy_only=False)

    if name == "quality":
        return get("quality")
    if name == "relevance":
        return get("relevance")
    if name == "clarity":
        ent = get("quality_entropy")
        return None if ent is None else 1.0 - np.minimum(ent, 1.0)
    reps = [
        r for c in ("response_dup_line_frac", "response_top_2gram_frac", "response_dup_5gram_frac") if (r := get(c)) is not None
    ]
    return None if not reps else 1.0 - np.maximum.reduce(reps)


def composite(cols: dict[str, pa.Array], weights: Mapping[str, float], warn_factor: float) -> tuple[pa.Array, pa.Array]:
    """(composite score, explanation) per row."""
    n = len(cols["severity"])
    num = np.zeros(n)
    den = np.zeros(n)
    parts: list[pa.Array] = []
    for name in COMPONENTS:
        w = float(weights.get(name, 0.0))
        values = _component(cols, name)
        if not w or values is None:
            continue
        known = ~np.isnan(values)
        num += np.where(known, w * np.nan_to_num(values), 0.0)
        den += np.where(known, w, 0.0)
        text = pc.binary_join_element_wise(
            pa.array([f"{name} "] * n), pc.cast(pc.round(pa.array(values), 2), pa.string()), f" x{w:g}", ""
        )
        parts.append(pc.if_else(pa.array(known), text, pa.nulls(n, pa.string())))
    severity = cols["severity"].to_numpy(zero_copy_only=False)
    factor = np.where(severity == "drop", 0.0, np.where(severity == "warn", warn_factor, 1.0))
    score = np.where(den > 0, num / np.maximum(den, 1e-12), np.nan) * factor
    factor_text = pa.array(
        np.where(severity == "drop", "x0 (drop rule)", np.where(severity == "warn", f"x{warn_factor:g} (warn rule)", ""))
    )
    if parts:
        joined = pc.binary_join_element_wise(*parts, "; ", null_handling="skip")
    else:
        joined = pa.array([""] * n)
    explain = pc.binary_join_element_wise(joined, factor_text, "; ", null_handling="skip")
    explain = pc.replace_substring_regex(pc.utf8_trim(explain, "; "), r"^$", "no components")
    return pa.array(score, pa.float32(), mask=np.isnan(score)), explain


def dataset_quality(dataset: dict[str, Any], weights: Mapping[str, float]) -> dict[str, Any]:
    """D_quality = f(diversity, relevance, ambiguity) from the merged summary, with its terms."""
    if dataset.get("rows_scored") == 0:
        return {"d_quality": None, "terms": {}, "weights": {}}  # nothing scored: nothing to rate
    div = dataset.get("diversity", {})
    types = div.get("instruction_types") or 0
    type_norm = div.get("instruction_type_entropy", 0.0) / math.log2(types) if types > 1 else 0.0
    means = dataset.get("means", {})
    terms = {
        "diversity": div.get("unique_ratio", 1.0) * min(type_norm, 1.0) if div else None,
        "relevance": means.get("relevance"),
        "clarity": (1.0 - min(means["quality_entropy"], 1.0)) if means.get("quality_entropy") is not None else None,
        "quality": means.get("quality"),
    }
    used = {k: v for k, v in terms.items() if v is not None and weights.get(k)}
    total = sum(weights[k] for k in used)
    value = sum(weights[k] * v for k, v in used.items()) / total if total else None
    return {"d_quality": value, "terms": {k: round(v, 4) for k, v in used.items()}, "weights": {k: weights[k] for k in used}}


# ---- registration -----------------------------------------------------------------------


def _composite(ctx: Context) -> dict[str, Any]:
    comp = ctx.config.composite
    score, explain = composite(ctx.cols, comp.weights, comp.warn_factor)
    return {"composite": score, "composite_explain": explain}


COMPOSITE = Signal(
    name="composite",
    label="composite score",
    cost="cheap",
    switch="composite.enabled",
    enabled=lambda config: config.composite.enabled,
    columns=lambda config: [pa.field("composite", pa.float32()), pa.field("composite_explain", pa.string())],
    compute=_composite,
    means=("composite",),
    phase="after_rules",
    summary="one score per row from quality, relevance, clarity and originality, with its terms",
    extra_reserved=("composite", "composite_explain"),
)
