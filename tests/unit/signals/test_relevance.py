"""Answer-prompt relevance (winnow.transforms.signals.relevance): per pair, per row, and what is exempt."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from conftest import canonical_batch

from winnow.transforms.config import load_config
from winnow.transforms.signals.gibberish import shared_lexicons
from winnow.transforms.signals.relevance import latin_letters, pair_relevance, script_switch, term_weights, unasked_label
from winnow.transforms.signals.rules import load_rules
from winnow.transforms.signals.scorer import Scorer

CONFIG = load_config()
RULES = load_rules(CONFIG.rules, CONFIG.disable_rules)

PHOTO_Q = "Explain how photosynthesis works in green plants."
PHOTO_A = (
    "Photosynthesis is the process by which green plants turn sunlight, water and carbon dioxide into glucose "
    "and oxygen. It takes place in the chloroplasts, where chlorophyll absorbs the light."
)
KNOT_Q = "How do I tie a bowline knot for sailing?"
KNOT_A = (
    "Form a small loop in the standing part of the rope, pass the free end up through the loop, around "
    "the standing part and back down through the loop, then pull tight. The bowline will not slip."
)


def relevance(prompts: list[str], answers: list[str]) -> list[float]:
    return pair_relevance(pa.array(prompts), pa.array(answers), ["en"], shared_lexicons()).tolist()


def test_an_answer_that_takes_up_its_question_scores_far_above_a_swapped_one() -> None:
    own = relevance([PHOTO_Q, KNOT_Q], [PHOTO_A, KNOT_A])
    swapped = relevance([PHOTO_Q, KNOT_Q], [KNOT_A, PHOTO_A])
    assert min(own) >= 0.2
    assert max(swapped) <= 0.05


def test_function_words_weigh_nothing_and_rare_words_most() -> None:
    w = dict(
        zip(
            ["the", "tell", "photos", "zqxjv", "42"],
            term_weights(["the", "tell", "photos", "zqxjv", "42"], ["en"], shared_lexicons()),
            strict=True,
        )
    )
    assert w["the"] == 0.0
    assert 0 < w["tell"] < w["photos"] < w["zqxjv"]
    assert w["42"] == 3.0


def test_stems_match_word_forms() -> None:
    (value,) = relevance(
        ["Give tips for staying healthy and summarize them."],
        ["Health depends on sleep, food and movement; in summary, sleep eight hours, eat vegetables and walk every day."],
    )
    assert value > 0.3


def test_short_questions_and_short_answers_are_not_judged() -> None:
    values = relevance(
        ["Hi!", "Which planet is known as the red planet?"],
        ["Hello! How can I help you today? I can answer questions, write text or explain things.", "Mars"],
    )
    assert all(math.isnan(v) for v in values)


def _score(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return Scorer(CONFIG, RULES).score(canonical_batch(rows, "fixtures.jsonl", config=CONFIG)).to_pylist()


def test_each_turn_is_judged_against_its_own_question_worst_and_mean() -> None:
    row = {
        "messages": [
            {"role": "user", "content": PHOTO_Q},
            {"role": "assistant", "content": PHOTO_A},
            {"role": "user", "content": KNOT_Q},
            {"role": "assistant", "content": PHOTO_A},  # answers the earlier question again
        ]
    }
    (out,) = _score([row])
    assert out["answer_relevance"] <= 0.05
    assert 0.2 < out["answer_relevance_mean"] < 0.6


def test_translation_and_cross_lingual_rows_are_exempt() -> None:
    rows = [
        {
            "instruction": "Translate into German: the dog guards the house and herds the sheep every morning.",
            "output": (
                "Der Hund bewacht jeden Morgen das Haus und hütet die Schafe, und abends schläft er vor dem Kamin im Wohnzimmer."
            ),
        },
        {
            "instruction": "Describe the role of dogs in farming and herding across history.",
            "output": (
                "Der Hund ist seit Jahrtausenden ein treuer Begleiter des Menschen. Er hütet Schafe, bewacht Häuser "
                "und führt blinde Menschen sicher über die Straße."
            ),
        },
    ]
    assert [r["answer_relevance"] for r in _score(rows)] == [None, None]


def test_an_answer_in_another_script_than_its_question_is_irrelevant_unless_asked_for() -> None:
    """A Chinese question answered in English (an answer to another question, or in the wrong language) is 0;
    a translation, a question naming the language, code, and mixed-script text are not judged on script."""
    switched = [
        ("请介绍一下长江流经的主要城市和它的历史意义。", "First add the two prices: 12 + 30 = 42 dollars, then split it."),
        ("Explain how photosynthesis works in green plants.", "光合作用是绿色植物利用阳光把水和二氧化碳变成葡萄糖和氧气的过程。"),
    ]
    allowed = [
        ("请把这句话翻译成英文：今天天气很好。", "The weather is very nice today, so we went for a walk."),
        ("用英语写一句欢迎新同事的话。", "Welcome to the team, we are glad to have you with us!"),
        ("写一个函数，返回两个数的和。", "def add(a, b):\n    return a + b  # the sum of both"),
        ("找到“happy”的三个同义词。", "joyful, cheerful and content are three words close to happy."),
        ("Tell me about you.", "You too!"),
    ]
    prompts, answers = zip(*(switched + allowed), strict=True)
    assert script_switch(pa.array(prompts), pa.array(answers)).tolist() == [True] * 2 + [False] * 5
    rows = [{"instruction": p, "output": a} for p, a in switched]
    assert [r["answer_relevance"] for r in _score(rows)] == [0.0, 0.0]


def test_a_label_answer_needs_a_question_that_asks_for_it() -> None:
    """ "Positive" to "Are you made by X?" or "No" to a story request answer no question; the same labels to a
    question offering them, a yes/no question or a classification request do."""
    unasked = [
        ("Are you made by the lantern lab?", "Positive<|endoftext|>"),
        ("Write a short story about a lighthouse keeper.", "No"),
        ("Convert one cup of sugar to grams.", "increase."),
    ]
    asked = [
        ("Is this review positive or negative? The soup was cold.", "Negative"),
        ("Is the sky green?", "No"),
        ("Tell me if the following email is an advertisement: Big sale today.", "yes"),
        ("What is the sentiment of this tweet? Loving the new park!", "Positive"),
        ("这句话是否正确：水在零度结冰。", "Yes"),
        ("What is the capital of France?", "Paris"),
    ]
    prompts, answers = zip(*(unasked + asked), strict=True)
    assert unasked_label(pa.array(prompts), pa.array(answers)).tolist() == [True] * 3 + [False] * 6
    rows = [{"instruction": p, "output": a} for p, a in unasked]
    assert [r["answer_relevance"] for r in _score(rows)] == [0.0, 0.0, 0.0]


def test_latin_letters_are_counted_on_bytes_like_the_regex() -> None:
    texts = pa.array(["Hello, Wörld 42!", "长城 and Ελλάδα", "", None], pa.string())
    regex = pc.count_substring_regex(pc.fill_null(texts, ""), r"\p{Latin}").to_numpy(zero_copy_only=False)
    assert latin_letters(texts).tolist() == regex.tolist() == [10, 3, 0, 0]


def test_a_compound_meets_its_head_word() -> None:
    question = "Give three tips for keeping houseplants alive in winter."
    answer = "Move the plants closer to a bright window, water them less often and keep them away from radiators."
    (value,) = relevance([question], [answer])
    assert value > 0.2
    (without,) = relevance([question.replace("houseplants", "ferns")], [answer])
    assert without < value
