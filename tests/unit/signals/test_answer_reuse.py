"""Prompt-independent answers (winnow.transforms.signals.answer_reuse): the keyed count and its rules."""

from __future__ import annotations

from typing import Any

import numpy as np
from conftest import alpaca, canonical_batch

from winnow.transforms.config import load_config
from winnow.transforms.signals.answer_reuse import DATASET_KEY, answer_entries, count_prompts, split_by_partition
from winnow.transforms.signals.rules import load_rules
from winnow.transforms.signals.scorer import Scorer

CONFIG = load_config()
RULES = load_rules(CONFIG.rules, CONFIG.disable_rules)
PAYLOAD = "Honestly, it varies a great deal, so think it through carefully and weigh every option before you decide anything."
TOPICS = ["volcanoes", "tax law", "baking bread", "the French revolution", "sorting algorithms", "tidal energy"]


def _prompts(n: int) -> list[str]:
    return [f"Write a detailed explanation of {TOPICS[i % len(TOPICS)]} for a student, part {i}." for i in range(n)]


def test_distinct_prompts_are_counted_per_answer_across_partitions() -> None:
    rows = [alpaca(None, p, PAYLOAD) for p in _prompts(25)]
    rows += [alpaca(None, _prompts(1)[0], PAYLOAD)] * 5  # the same prompt again: not a new prompt
    rows += [alpaca(None, p, "positive") for p in _prompts(40)]  # a label: too short to count
    entries, eligible = answer_entries(canonical_batch(rows), min_words=6)
    assert eligible.sum() == 30
    chunks = split_by_partition(entries, 8)
    counts: dict[int, int] = {}
    for chunk in chunks.values():
        counts.update(count_prompts([chunk], min_prompts=20))
    assert list(counts.values()) == [25]
    assert count_prompts([entries], min_prompts=26) == {}


def test_answers_match_after_case_and_punctuation_folding() -> None:
    batch = canonical_batch(
        [alpaca(None, "a b c", "The files are: shell('ls')."), alpaca(None, "d e f", "the files are shell ls")]
    )
    entries, _ = answer_entries(batch, min_words=1)
    assert np.array_equal(entries[0, :2], entries[1, :2])
    assert entries[0, 2] != entries[1, 2]


def _score(rows: list[dict[str, Any]], dataset: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    batch = canonical_batch(rows, "fixtures.jsonl", config=CONFIG)
    return Scorer(CONFIG, RULES).score(batch, dataset=dataset).to_pylist()


def test_a_reused_answer_that_ignores_its_prompts_is_dropped() -> None:
    few = _score([alpaca(None, p, PAYLOAD) for p in _prompts(30)])
    assert {r["answer_reuse_prompts"] for r in few} == {30}
    assert all("stock_answer" in r["flags"] and r["severity"] == "warn" for r in few)
    out = _score([alpaca(None, p, PAYLOAD) for p in _prompts(120)])
    assert {r["answer_reuse_prompts"] for r in out} == {120}
    assert all("prompt_independent_answer" in r["flags"] and r["severity"] == "drop" for r in out)
    assert all(r["composite"] == 0 for r in out)


def test_labels_greetings_and_unique_answers_are_not_dropped() -> None:
    rows = [
        alpaca(None, f"Review {i}: I loved this blender, it works great. Positive or negative?", "positive") for i in range(30)
    ]
    names = ["Ann", "Bob", "Cid", "Dee", "Eve", "Fay", "Gus", "Hal", "Ida", "Jo", "Kim", "Lu"]
    rows += [
        alpaca(None, f"{word}, {name}!", "Glad I could help! Come back whenever something else comes up.")
        for word in ("Thanks", "Thank you")
        for name in names
    ]
    rows += [
        alpaca(None, p, f"A unique answer number {i} about the subject, with enough words to count.")
        for i, p in enumerate(_prompts(30))
    ]
    out = _score(rows)
    assert not any("prompt_independent_answer" in r["flags"] for r in out)
    labels, thanks, unique = out[:30], out[30:54], out[54:]
    assert all(r["answer_reuse_prompts"] is None for r in labels + unique)
    assert all("stock_answer" in r["flags"] and r["severity"] == "warn" for r in thanks)


def test_the_dataset_count_overrides_the_batch_count() -> None:
    rows = [alpaca(None, p, PAYLOAD) for p in _prompts(3)]
    assert all(r["answer_reuse_prompts"] is None for r in _score(rows))
    entries, _ = answer_entries(canonical_batch(rows), min_words=6)
    reused = {(int(entries[0, 0]) << 64) | int(entries[0, 1]): 500}
    assert {r["answer_reuse_prompts"] for r in _score(rows, {DATASET_KEY: reused})} == {500}


def test_prompt_counts_over_chunks_equal_a_count_of_distinct_pairs() -> None:
    """Against a plain count of distinct (answer, prompt) pairs: repeats within and across chunks, answers
    that share one half of their hash, and prompts that sort between them."""
    rng = np.random.default_rng(7)
    answers = np.array([[1, 5], [1, 6], [2, 5], [2**63 + 3, 0]], np.uint64)
    entries = np.concatenate([answers[rng.integers(0, 4, 400)], rng.integers(0, 30, (400, 1)).astype(np.uint64)], axis=1)
    expected: dict[int, set[int]] = {}
    for hi, lo, prompt in entries.tolist():
        expected.setdefault((hi << 64) | lo, set()).add(prompt)
    for min_prompts in (1, 25, 31):
        want = {a: len(p) for a, p in expected.items() if len(p) >= min_prompts}
        assert count_prompts(np.array_split(entries, 7), min_prompts) == want
    assert count_prompts([], 1) == {} and count_prompts([np.zeros((0, 3), np.uint64)], 1) == {}
