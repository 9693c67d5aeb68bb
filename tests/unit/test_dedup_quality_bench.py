"""The bench's near-duplicate merge precision (scripts/dedup_quality.py): exact Jaccards, pairs, false-merge kinds."""

from __future__ import annotations

import io
import sys

import pytest
from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))  # scripts/ is not a package: import its modules by path
import dedup_quality as dq

LONG = "the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat all day long"
OTHER = "a completely different sentence about rivers mountains and the weather in spring and autumn time"


def test_jaccard_is_exact_over_word_5_grams_lower_cased_split_on_whitespace():
    assert dq.jaccard(LONG, LONG.upper().replace(" ", "\n  ")) == 1.0
    a = "w1 w2 w3 w4 w5 w6"  # 5-grams: (1..5), (2..6)
    b = "w1 w2 w3 w4 w5 x6"  # 5-grams: (1..5), (2..5 x6)
    assert dq.jaccard(a, b) == pytest.approx(1 / 3)
    # punctuation stays part of a word: "w5." is not "w5"
    assert dq.jaccard("w1 w2 w3 w4 w5", "w1 w2 w3 w4 w5.") == 0.0
    # word order matters for 5-grams, not for word sets
    assert dq.jaccard(LONG, " ".join(reversed(LONG.split()))) == 0.0
    assert dq.jaccard(LONG, OTHER) == 0.0


def test_jaccard_below_5_words_compares_word_sets():
    assert dq.jaccard("Yes", "yes") == 1.0
    assert dq.jaccard("yes it is", "no it is") == pytest.approx(2 / 4)
    # one side short: word sets of both
    assert dq.jaccard("fox dog", "the fox and the dog ran") == pytest.approx(2 / 5)
    assert dq.jaccard("", "") == 1.0
    assert dq.jaccard("", "yes") == 0.0


def test_kept_pairs_pair_each_dropped_member_with_its_clusters_kept_row():
    members = [("a", 1, False), ("b", 1, True), ("c", 1, False), ("d", 2, True), ("e", 2, False)]
    assert dq.kept_pairs(members) == [("a", "b", 1), ("c", "b", 1), ("e", "d", 2)]
    with pytest.raises(ValueError, match="0 kept rows"):
        dq.kept_pairs([("a", 1, False), ("b", 1, False)])
    with pytest.raises(ValueError, match="2 kept rows"):
        dq.kept_pairs([("a", 1, True), ("b", 1, True)])


def test_same_source_covers_copy_and_source_and_two_copies():
    truth = {"c1": ("b7", 0.3), "c2": ("b7", 0.2), "c3": ("b8", 0.0)}
    assert dq.same_source("c1", "b7", truth) and dq.same_source("b7", "c1", truth)
    assert dq.same_source("c1", "c2", truth)
    assert not dq.same_source("c1", "c3", truth)
    assert not dq.same_source("c1", "b8", truth)
    assert not dq.same_source("b7", "b8", truth)


def test_judge_true_by_truth_or_by_whole_row_jaccard_and_precision():
    texts = {
        "src": ("Explain foxes.", LONG),
        "copy": ("Explain cats.", OTHER),  # injected copy: true whatever its text
        "near": ("Explain foxes.", LONG + " extra"),  # whole-row J >= 0.5
        "far": ("Explain foxes.", OTHER),  # same prompt, other answer: false
    }
    truth = {"copy": ("src", 0.3)}
    q = dq.judge([("copy", "src", 0), ("near", "src", 0), ("far", "src", 0)], texts, truth)
    assert [p.true for p in q.pairs] == [True, True, False]
    assert [p.injected for p in q.pairs] == [True, False, False]
    assert q.pairs[1].row_j >= 0.5 and q.pairs[2].row_j < 0.5
    assert q.precision == pytest.approx(2 / 3)
    assert q.pairs[2].kind == "same prompt template, different answer"
    # without the truth, the copy is judged by its text only
    assert dq.judge([("copy", "src", 0)], texts).precision == 0.0


def test_whole_row_threshold_is_inclusive():
    a = "a b c d e f g h"  # grams: abcde bcdef cdefg defgh
    b = "a b c d e f x y"  # grams: abcde bcdef cdefx defxy -> 2 shared, 6 in union = 1/3
    assert dq.jaccard(a, b) == pytest.approx(1 / 3)
    c = "a b c d e f g z"  # abcde bcdef cdefg defgz -> 3 shared / 5 = 0.6
    assert dq.jaccard(a, c) == pytest.approx(0.6)
    # whole rows "a b c d e f" and "a b c d e": 1 shared 5-gram of 2 = 0.5 exactly, a true merge
    texts = {"x": ("a b c", "d e f"), "y": ("a b c", "d e"), "z": ("a b c", "d x")}
    q = dq.judge([("x", "y", 0), ("z", "y", 0)], texts)
    assert [p.row_j for p in q.pairs] == [0.5, 0.0]
    assert [p.true for p in q.pairs] == [True, False]
    assert q.pairs[0].answer_j == pytest.approx(2 / 3) and q.pairs[0].prompt_j == 1.0


@pytest.mark.parametrize(
    ("prompt_j", "answer_j", "answers", "kind"),
    [
        (0.5, 0.29, ("long answer one", "other answer two"), "same prompt template, different answer"),
        (0.9, 0.0, ("Yes", "No"), "same prompt template, different answer"),
        (0.49, 1.0, ("Yes.", "  yes. "), "a stock short answer to different prompts"),
        (0.0, 1.0, ("I do not know", "i do not know"), "a stock short answer to different prompts"),
        # six words: not a stock short answer, so similar answer
        (0.2, 1.0, ("one two three four five six", "one two three four five six"), "similar answer, different prompt"),
        (0.49, 0.5, ("x", "y"), "similar answer, different prompt"),
        (0.3, 0.3, ("x", "y"), "both sides only partly alike"),
        (0.49, 0.49, ("x", "y"), "both sides only partly alike"),
        (0.29, 0.29, ("x", "y"), "both sides below 0.3"),
        (0.0, 0.0, ("x", "y"), "both sides below 0.3"),
        # equal short answers but the same prompt: not "different prompts"
        (0.6, 1.0, ("Yes", "Yes"), "other"),
        (0.1, 0.4, ("x", "y"), "other"),
        (0.4, 0.1, ("x", "y"), "other"),
        (0.6, 0.4, ("x", "y"), "other"),
    ],
)
def test_classify(prompt_j, answer_j, answers, kind):
    assert dq.classify(prompt_j, answer_j, *answers) == kind


def test_every_false_pair_gets_exactly_one_kind_in_the_documented_order():
    grid = [i / 20 for i in range(21)]
    for pj in grid:
        for aj in grid:
            for answers in (("x", "y"), ("Yes", "yes"), ("a b c d e f", "a b c d e f")):
                kinds = [
                    k
                    for k, hit in zip(
                        dq.KINDS,
                        (
                            aj < 0.3 and pj >= 0.5,
                            answers[0].lower() == answers[1].lower() and len(answers[0].split()) <= 5 and pj < 0.5,
                            aj >= 0.5 and pj < 0.5,
                            0.3 <= aj < 0.5 and 0.3 <= pj < 0.5,
                            aj < 0.3 and pj < 0.3,
                            True,
                        ),
                    )
                    if hit
                ]
                assert dq.classify(pj, aj, *answers) == kinds[0]


def test_print_quality_table_shares_and_escaped_examples():
    texts = {
        "k": ("Rate this review:\x1b[31m great", "positive"),
        "t1": ("Rate this review:\x1b[31m great", OTHER),
        "s1": ("What is 2+2?", "Yes"),
        "s2": ("Is the sky blue?", "yes"),
        "s3": ("Do fish swim?", "Yes"),
    }
    pairs = [("t1", "k", 1), ("s1", "s2", 2), ("s3", "s2", 2)]
    q = dq.judge(pairs, texts)
    buf = io.StringIO()
    dq.print_quality(q, texts, file=buf)
    out = buf.getvalue()
    assert "0.000 = 0 / 3" in out
    table = {line[:44].strip(): line[44:].split() for line in out.splitlines() if line[:44].strip() in dq.KINDS}
    assert table["a stock short answer to different prompts"] == ["2", "66.7%"]
    assert table["same prompt template, different answer"] == ["1", "33.3%"]
    assert table["other"] == ["0", "0.0%"]
    assert "\x1b" not in out and "\\x1b" in out
    # the table lists every kind, largest first
    rows = [line for line in out.splitlines() if any(line.startswith(k) for k in dq.KINDS)]
    assert len(rows) == len(dq.KINDS) and rows[0].startswith("a stock short answer")
    buf = io.StringIO()
    dq.print_false_clusters(q, texts, file=buf)
    lines = buf.getvalue().splitlines()
    assert lines[3].split() == ["2", "3", "2", "a", "stock", "short", "answer", "to", "different", "prompts"]
    assert lines[7].split()[:3] == ["1", "2", "1"]
