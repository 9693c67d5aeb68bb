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
