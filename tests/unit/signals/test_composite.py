"""The composite score and D_quality (winnow.transforms.signals.composite)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from winnow.transforms.signals.composite import composite, dataset_quality


def test_composite_weights_components_and_explains():
    cols = {
        "severity": pa.array(["", "warn", "drop", ""]),
        "quality": pa.array([1.0, 0.5, 0.9, None], pa.float32()),
        "quality_entropy": pa.array([0.0, 1.0, 0.2, None], pa.float32()),
        "relevance": pa.array([1.0, None, 1.0, None], pa.float32()),
        "response_dup_line_frac": pa.array([0.0, 0.5, 0.0, 0.0], pa.float32()),
        "response_top_2gram_frac": pa.array([0.0, 0.0, 0.0, 0.2], pa.float32()),
        "response_dup_5gram_frac": pa.array([0.0, 0.0, 0.0, 0.0], pa.float32()),
    }
    weights = {"quality": 0.4, "relevance": 0.2, "clarity": 0.2, "originality": 0.2}
    score, explain = composite(cols, weights, 0.8)
    s = score.to_pylist()
    assert s[0] == pytest.approx(1.0)
    # Row 1: quality .5 x.4, clarity 0 x.2, originality .5 x.2 (no relevance) -> .3/.8, then x0.8 for warn.
    assert s[1] == pytest.approx((0.5 * 0.4 + 0.0 * 0.2 + 0.5 * 0.2) / 0.8 * 0.8)
    assert s[2] == 0.0
    assert s[3] == pytest.approx(0.8)  # only originality is known
    ex = explain.to_pylist()
    assert ex[1].startswith("quality 0.5 x0.4") and "relevance" not in ex[1] and ex[1].endswith("x0.8 (warn rule)")
    assert ex[2].endswith("x0 (drop rule)") and ex[3] == "originality 0.8 x0.2"


def test_dataset_quality_uses_the_terms_it_has():
    dataset = {
        "diversity": {"unique_ratio": 0.8, "instruction_type_entropy": 2.0, "instruction_types": 4},
        "means": {"relevance": 0.5, "quality": 0.9, "quality_entropy": 0.4},
    }
    dq = dataset_quality(dataset, {"diversity": 0.3, "relevance": 0.3, "clarity": 0.2, "quality": 0.2})
    assert dq["terms"] == {"diversity": 0.8, "relevance": 0.5, "clarity": 0.6, "quality": 0.9}
    assert dq["d_quality"] == pytest.approx(0.3 * 0.8 + 0.3 * 0.5 + 0.2 * 0.6 + 0.2 * 0.9)
    no_model = dataset_quality({**dataset, "means": {"relevance": 0.5}}, {"diversity": 0.5, "relevance": 0.5, "quality": 1})
    assert set(no_model["terms"]) == {"diversity", "relevance"}


def _gated(**columns) -> dict:
    n = len(next(iter(columns.values())))
    return {"severity": pa.array([""] * n), **{k: pa.array(v, pa.float32()) for k, v in columns.items()}}


def test_gates_multiply_so_strong_merit_cannot_pay_for_a_failed_gate():
    cols = _gated(
        quality=[0.99, 0.99, 0.99, 0.99, 0.60],
        response_known_word_frac=[0.95, 0.30, 0.95, 0.95, 0.95],
        response_words=[80, 80, 80, 80, 80],
        answer_relevance=[0.5, 0.5, 0.0, None, 0.4],
        response_ends_mid_sentence=[0, 0, 0, 1, 0],
    )
    floors = {"fluency": 0.0, "answer_relevance": 0.2, "completeness": 0.25}
    score, explain = composite(cols, {"quality": 1.0}, 0.8, floors=floors)
    clean, soup, swapped, cut, modest = score.to_pylist()
    assert clean == pytest.approx(0.99)
    assert soup == 0.0  # fluency gate shut
    assert swapped == pytest.approx(0.99 * 0.2)
    assert cut == pytest.approx(0.99 * 0.25)
    assert max(soup, swapped, cut) < modest  # a plain, relevant answer beats every failed gate
    ex = explain.to_pylist()
    assert "gate fluency 0" in ex[1] and "gate answer_relevance 0.2" in ex[2] and "gate completeness 0.25" in ex[3]
    assert "gate" not in ex[0]


def test_unjudged_gates_stay_open_and_labels_are_not_judged_for_fluency():
    cols = _gated(
        response_known_word_frac=[0.0, None],
        response_words=[1, 40],
        answer_relevance=[None, None],
        response_symbol_soup_frac=[0.0, 0.0],
    )
    score, _ = composite(cols, {}, 0.8, floors={"fluency": 0.0, "answer_relevance": 0.2})
    assert score.to_pylist() == [1.0, 1.0]


def test_symbol_soup_is_not_judged_on_answers_too_short_to_call_fluent():
    """ "shell('free -m')" is two tokens, one of them bracketed: half "soup", and a complete answer."""
    cols = _gated(
        response_known_word_frac=[1.0, 1.0, None],
        response_words=[2, 40, 40],
        response_symbol_soup_frac=[0.5, 0.5, 0.5],
    )
    score, explain = composite(cols, {}, 0.8, floors={"fluency": 0.0})
    assert score.to_pylist() == [1.0, 0.0, 0.0]
    assert "gate fluency" not in explain.to_pylist()[0]


def test_uniqueness_gate_falls_with_the_square_root_of_reuse():
    cols = _gated(answer_reuse_prompts=[None, 20, 80, 500])
    score, _ = composite(cols, {}, 0.8, floors={"uniqueness": 0.0}, min_prompts=20)
    assert score.to_pylist() == pytest.approx([1.0, 1.0, 0.5, 0.2])


def test_a_weakly_validated_model_counts_for_less():
    cols = _gated(quality=[0.1], response_dup_line_frac=[0.0], response_top_2gram_frac=[0.0], response_dup_5gram_frac=[0.0])
    weights = {"quality": 0.5, "originality": 0.5}
    full, _ = composite(cols, weights, 0.8, model_factor=1.0)
    weak, explain = composite(cols, weights, 0.8, model_factor=0.3)
    assert full.to_pylist()[0] == pytest.approx(0.55)
    assert weak.to_pylist()[0] == pytest.approx((0.15 * 0.1 + 0.5) / 0.65)
    assert explain.to_pylist()[0].startswith("quality 0.1 x0.15")
