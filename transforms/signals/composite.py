"""One composite quality score per row, and D_quality for the dataset, with their reasons.

    composite = merit x gates x severity factor

merit is how good an answer is, the weighted mean of the merit terms a row has:

  quality      the quality classifier's probability (`quality`)
  clarity      1 - ambiguity, the quality model's label entropy (`quality_entropy`, <= 1 bit)
  originality  1 - the strongest repetition of the response
               (max of response_dup_line_frac, response_top_2gram_frac, response_dup_5gram_frac)
  relevance    the share of the row's topics that are target topics (`relevance`)

The two model terms count for weight x validation_weight(model card), so a
model whose cross-validated ROC-AUC was 0.62 counts for 0.3 of its weight and
one without a card for half (classifiers.validation_weight). A row with no
merit term has merit 1: the gates alone then rank it.

gates ask whether it is an answer at all; each is a factor in [floor, 1],
and 1 where its signal is off or could not judge the row:

  fluency           (response_known_word_frac - 0.5) / 0.35, and at most
                    1 - (response_symbol_soup_frac - 0.1) / 0.2, both clipped to [0, 1], on
                    answers of 5+ words
  answer_relevance  min(1, answer_relevance / 0.25): the least relevant answer of the row
                    against the question it answers
  completeness      0 when the response stops mid-sentence (response_ends_mid_sentence);
                    with an endings model (signals.endings), also 1 - the model's
                    P(cut) ramped from judged_from (0.8: 1) to cut_at (0.99: 0), the lower of the two
  uniqueness        sqrt(min_prompts / answer_reuse_prompts): an answer given to 500
                    distinct questions, against 20 (signals.answer_reuse.min_prompts)

  gate = floor + (1 - floor) x value, floors in composite.gates (1 switches a gate off)

severity factor: 0 with a drop rule, composite.warn_factor with a warn rule, else 1.
A product, not a mean: a fluent, well-rated answer to another question, or
token soup that a weak model happens to like, cannot average its way up;
and the rules for gibberish, prompt injection and prompt-independent
answers are `drop`, so those rows score 0. `composite_explain` spells out
each term, gate and factor.

For the dataset, D_quality = f(diversity, relevance, ambiguity) is the
weighted mean of: diversity = unique_ratio x normalized instruction-type
entropy, the mean relevance, and 1 - the mean ambiguity, plus the mean
quality when a model ran.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.signals import answer_reuse, endings
from winnow.transforms.signals.base import Context, Signal
from winnow.transforms.signals.classifiers import model_card, specs_from_config, validation_weight

MERIT = ("quality", "clarity", "originality", "relevance")
GATES = ("fluency", "answer_relevance", "completeness", "uniqueness")
MODEL_TERMS = ("quality", "clarity")
RELEVANCE_FULL = 0.25  # answer_relevance at which the gate is fully open
FLUENCY_ZERO, FLUENCY_FULL = 0.5, 0.85  # known-word share at which the fluency gate is shut and fully open
FLUENCY_MIN_WORDS = 5
SOUP_ZERO, SOUP_FULL = 0.3, 0.1  # symbol-soup share at which the fluency gate is shut and fully open


def _floats(cols: dict[str, pa.Array], col: str) -> np.ndarray | None:
    if col not in cols:
        return None
    return pc.cast(cols[col], pa.float64()).to_numpy(zero_copy_only=False)


def merit_term(cols: dict[str, pa.Array], name: str) -> np.ndarray | None:
    """A merit term as float64 with NaN where unknown; None when its signal is off."""
    if name in ("quality", "relevance"):
        return _floats(cols, name)
    if name == "clarity":
        ent = _floats(cols, "quality_entropy")
        return None if ent is None else 1.0 - np.minimum(ent, 1.0)
    reps = [
        r
        for c in ("response_dup_line_frac", "response_top_2gram_frac", "response_dup_5gram_frac")
        if (r := _floats(cols, c)) is not None
    ]
    return None if not reps else 1.0 - np.maximum.reduce(reps)


def gate_value(
    cols: dict[str, pa.Array], name: str, min_prompts: int, cut_ramp: tuple[float, float] = (0.8, 0.99)
) -> np.ndarray | None:
    """A gate's value in [0, 1] (before its floor), NaN where it cannot judge; None when its signal is off.
    `cut_ramp`: the P(cut) of the endings model from which an answer counts as cut, and wholly cut."""
    if name == "fluency":
        known, soup, words = (
            _floats(cols, c) for c in ("response_known_word_frac", "response_symbol_soup_frac", "response_words")
        )
        if known is None:
            return None
        short = np.zeros(len(known), dtype=bool) if words is None else words < FLUENCY_MIN_WORDS
        # A label ("positive", "B") or a bare tool call ("shell('free -m')") is too short to call fluent or not:
        # one bracketed token of two would be half symbol soup.
        known = np.where(short, np.nan, known)
        value = np.clip((known - FLUENCY_ZERO) / (FLUENCY_FULL - FLUENCY_ZERO), 0.0, 1.0)
        if soup is not None:
            soup_ok = np.where(short, np.nan, np.clip((SOUP_ZERO - soup) / (SOUP_ZERO - SOUP_FULL), 0.0, 1.0))
            value = np.where(np.isnan(value), soup_ok, np.where(np.isnan(soup_ok), value, np.minimum(value, soup_ok)))
        return value
    if name == "answer_relevance":
        rel = _floats(cols, "answer_relevance")
        return None if rel is None else np.minimum(rel / RELEVANCE_FULL, 1.0)
    if name == "completeness":
        cut, model = _floats(cols, "response_ends_mid_sentence"), _floats(cols, "response_cut_score")
        if model is not None:
            lo, hi = cut_ramp
            model = np.clip((model - lo) / max(hi - lo, 1e-9), 0.0, 1.0)  # NaN (not judged) stays NaN
            cut = model if cut is None else np.fmax(cut, model)
        return None if cut is None else 1.0 - cut
    reuse = _floats(cols, "answer_reuse_prompts")
    return None if reuse is None else np.sqrt(np.minimum(min_prompts / reuse, 1.0))


def _term_text(name: str, values: np.ndarray, suffix: str, known: np.ndarray) -> pa.Array:
    n = len(values)
    text = pc.binary_join_element_wise(
        pa.array([f"{name} "] * n), pc.cast(pc.round(pa.array(values), 2), pa.string()), suffix, ""
    )
    return pc.if_else(pa.array(known), text, pa.nulls(n, pa.string()))


def composite(
    cols: dict[str, pa.Array],
    weights: Mapping[str, float],
    warn_factor: float,
    model_factor: float = 1.0,
    floors: Mapping[str, float] | None = None,
    min_prompts: int = 20,
    cut_ramp: tuple[float, float] = (0.8, 0.99),
) -> tuple[pa.Array, pa.Array]:
    """(composite score, explanation) per row; `model_factor` scales the model terms' weights."""
    floors = {} if floors is None else floors
    n = len(cols["severity"])
    num = np.zeros(n)
    den = np.zeros(n)
    parts: list[pa.Array] = []
    for name in MERIT:
        w = float(weights.get(name, 0.0)) * (model_factor if name in MODEL_TERMS else 1.0)
        values = merit_term(cols, name)
        if not w or values is None:
            continue
        known = ~np.isnan(values)
        num += np.where(known, w * np.nan_to_num(values), 0.0)
        den += np.where(known, w, 0.0)
        parts.append(_term_text(name, values, f" x{w:g}", known))
    gates = np.ones(n)
    for name in GATES:
        floor = float(floors.get(name, 1.0))
        values = gate_value(cols, name, min_prompts, cut_ramp)
        if floor >= 1.0 or values is None:
            continue
        judged = ~np.isnan(values)
        factor = np.where(judged, floor + (1.0 - floor) * np.nan_to_num(values), 1.0)
        gates *= factor
        parts.append(_term_text(f"gate {name}", factor, "", judged & (factor < 1.0)))
    severity = cols["severity"].to_numpy(zero_copy_only=False)
    factor = np.where(severity == "drop", 0.0, np.where(severity == "warn", warn_factor, 1.0))
    merit = np.where(den > 0, num / np.maximum(den, 1e-12), 1.0)
    score = merit * gates * factor
    factor_text = pa.array(
        np.where(severity == "drop", "x0 (drop rule)", np.where(severity == "warn", f"x{warn_factor:g} (warn rule)", ""))
    )
    # (binary_join_element_wise of a single array drops its nulls instead of keeping one row each.)
    joined = pc.binary_join_element_wise(pa.array([""] * n), *parts, "; ", null_handling="skip")
    explain = pc.binary_join_element_wise(joined, factor_text, "; ", null_handling="skip")
    explain = pc.replace_substring_regex(pc.utf8_trim(explain, "; "), r"^$", "no terms")
    return pa.array(score, pa.float32()), explain


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


def quality_model_factor(config: Any) -> float:
    """How much the quality model's terms count: its card's validation (1.0 when no model is configured)."""
    for spec in specs_from_config(config):
        if spec.column == "quality":
            return validation_weight(model_card(spec.model))
    return 1.0


def _composite(ctx: Context) -> dict[str, Any]:
    comp = ctx.config.composite
    min_prompts = answer_reuse.options(ctx.config).min_prompts
    ramp = endings.options(ctx.config)
    score, explain = composite(
        ctx.cols, comp.weights, comp.warn_factor, ctx.resource, comp.gates, min_prompts, (ramp.judged_from, ramp.cut_at)
    )
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
    load=quality_model_factor,
    summary="one score per row: merit (quality model, originality, topic relevance) x gates (fluency, answer relevance, completeness, uniqueness) x rules",
    extra_reserved=("composite", "composite_explain"),
)
