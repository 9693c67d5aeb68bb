"""Taxonomy topics, relevance and coverage (winnow.transforms.signals.taxonomy)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

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
