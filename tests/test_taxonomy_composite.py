"""Taxonomy coverage, the composite score and D_quality, and PII redaction in records/."""

from __future__ import annotations

import json
import os
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from winnow.pipelines.cli import main
from winnow.transforms.signals.composite import composite, dataset_quality
from winnow.transforms.config import ConfigError
from winnow.transforms.signals.taxonomy import coverage, load_taxonomy, match_topics


def test_shipped_taxonomy_matches_topics_and_relevance():
    tax = load_taxonomy("general")
    texts = pa.array(["Write a Python function to sort a list.", "Translate 'hello' into French.", "zzz qqq", None])
    topics, relevance = match_topics(texts, tax)
    assert "coding" in topics[0].as_py() and "writing" in topics[0].as_py()
    assert "translation" in topics[1].as_py()
    assert topics[2].as_py() == [] and topics[3].as_py() == []
    assert relevance[0].as_py() == 1.0 and relevance[2].as_py() is None


def test_custom_taxonomy_targets_relevance_and_coverage(tmp_path):
    path = tmp_path / "tax.yaml"
    path.write_text(
        "name: mine\ntargets: [cooking, travel]\ntopics:\n"
        "  - {name: cooking, patterns: ['\\brecipe\\b', '\\bbake\\b']}\n"
        "  - {name: travel, patterns: ['\\bflight\\b']}\n"
        "  - {name: sports, patterns: ['\\bfootball\\b']}\n"
    )
    tax = load_taxonomy(str(path))
    topics, relevance = match_topics(pa.array(["A recipe for bread and football", "Book a FLIGHT", "nothing"]), tax)
    assert topics.to_pylist() == [["cooking", "sports"], ["travel"], []]
    assert relevance.to_pylist() == [0.5, 1.0, None]
    cov = coverage(Counter({"cooking": 3, "sports": 1}), tax)
    assert cov["coverage"] == 0.5 and cov["missing"] == ["travel"] and cov["covered"] == ["cooking"]
    assert cov["topic_entropy"] == pytest.approx(-(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25)))
    assert coverage(Counter({"cooking": 1}), tax, min_rows=2)["coverage"] == 0.0


@pytest.mark.parametrize(
    "text, message",
    [
        ("topics: []\n", "non-empty list"),
        ("topics:\n  - {name: a, patterns: ['(unclosed']}\n", "RE2"),
        ("targets: [b]\ntopics:\n  - {name: a, patterns: ['x']}\n", "not topics"),
    ],
)
def test_bad_taxonomy_fails_with_the_reason(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_taxonomy(str(path))


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


@pytest.mark.slow
def test_score_writes_coverage_composite_and_redacts_pii(tmp_path):
    src = tmp_path / "in.jsonl"
    rows = [
        {"instruction": "Write a Python function that reverses a string.", "output": "def rev(s):\n    return s[::-1]"},
        {"instruction": "Who should I contact about my order?", "output": "Write to support@example.com or call +1 415 555 0100."},
    ]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("safety: {redact: true}\ndedup: {enabled: false}\n")
    out = tmp_path / "out"
    assert main(["score", str(src), "--output", str(out), "--config", str(cfg), "--direct_num_workers=1"]) == 0
    recs = {r["row"]: r for r in ds.dataset(os.path.join(out, "records")).to_table().to_pylist()}
    assert "personal_data" in recs[1]["flags"] and recs[1]["pii_email"] == 1 and recs[1]["pii_phone"] == 1
    assert "[EMAIL]" in recs[1]["response"] and "example.com" not in recs[1]["response"]
    assert "[EMAIL]" in recs[1]["turns"][-1]["content"]
    assert "coding" in recs[0]["topics"] and recs[0]["composite"] is not None and recs[0]["composite_explain"]
    dataset = json.loads((out / "summary" / "dataset.json").read_text())
    assert dataset["coverage"]["taxonomy"] == "general" and 0 < dataset["coverage"]["coverage"] < 1
    assert dataset["safety"]["pii"]["email"] == 1
    assert dataset["d_quality"]["d_quality"] is not None
