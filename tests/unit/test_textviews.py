"""Prompt/answer pairing per assistant turn (textviews.answer_pairs) and the per-row aggregate."""

from __future__ import annotations

import math

import numpy as np
from conftest import alpaca, canonical_batch, text_row

from winnow.transforms.textviews import answer_pairs, per_row_worst_and_mean, text_parts, texts_of


def _conversation(*turns: tuple[str, str]) -> dict:
    return {"messages": [{"role": r, "content": c} for r, c in turns]}


def test_each_assistant_turn_is_paired_with_the_turns_it_answers():
    rows = [
        alpaca("a", "Name a colour.", "Blue."),
        _conversation(
            ("system", "Be brief."),
            ("user", "How do I crop in Photoshop?"),
            ("assistant", "Use the crop tool."),
            ("user", "And what is AR?"),
            ("assistant", "Augmented reality."),
        ),
        text_row("t", "Just some text."),
        _conversation(
            ("user", "Weather in Paris?"),
            ("tool_call", '{"name": "weather", "arguments": {"city": "Paris"}}'),
            ("tool", '{"temp": 21}'),
            ("assistant", "It is 21 degrees."),
        ),
    ]
    pairs = answer_pairs(canonical_batch(rows))
    assert pairs.rows.tolist() == [0, 1, 1, 3]
    assert pairs.prompt.to_pylist() == [
        "Name a colour.",
        "How do I crop in Photoshop?",
        "And what is AR?",
        'Weather in Paris?\n{"temp": 21}',
    ]
    assert pairs.answer.to_pylist() == ["Blue.", "Use the crop tool.", "Augmented reality.", "It is 21 degrees."]


def test_an_answer_without_a_question_before_it_makes_no_pair():
    rows = [_conversation(("assistant", "Hello, how can I help?"), ("user", "Hi"), ("assistant", "Hi there."))]
    pairs = answer_pairs(canonical_batch(rows))
    assert pairs.rows.tolist() == [0]
    assert pairs.prompt.to_pylist() == ["Hi"]


def test_worst_and_mean_per_row_ignore_unjudged_pairs():
    rows = np.array([0, 0, 0, 2])
    values = np.array([0.2, 0.8, np.nan, np.nan])
    low, mean = per_row_worst_and_mean(rows, values, 4, "min")
    assert low[0] == 0.2 and math.isclose(mean[0], 0.5)
    assert all(math.isnan(x) for x in (low[1], low[2], low[3], mean[2]))
    high, _ = per_row_worst_and_mean(rows, values, 4, "max")
    assert high[0] == 0.8


def test_input_answer_is_the_rows_input_and_its_answer_or_its_prompt_without_input():
    dolly = {"instruction": "Summarize the passage.", "context": "Otters hold hands asleep.", "response": "They hold hands."}
    rows = [
        alpaca("a", "Translate this sentence into French.", "Le chat dort.", input="The cat is sleeping."),
        dolly,
        alpaca("c", "Name a primary colour.", "Red.", input="   "),
        _conversation(("system", "Answer briefly."), ("user", "Capital of Peru?"), ("assistant", "Lima.")),
    ]
    batch = canonical_batch(rows)
    fills, answers = texts_of(batch, "input_answer")
    # Without an input, the prompt (system prompt included), as prompt_answer has it.
    assert fills.to_pylist() == [
        "The cat is sleeping.",
        "Otters hold hands asleep.",
        "Name a primary colour.",
        "Answer briefly.\nCapital of Peru?",
    ]
    assert answers.to_pylist() == ["Le chat dort.", "They hold hands.", "Red.", "Lima."]
    assert answers.to_pylist() == texts_of(batch, "prompt_answer")[1].to_pylist()
    parts = {t: text_parts(t) for t in ("prompt_answer", "input_answer", "conversation", "instruction", "response")}
    assert parts == {"prompt_answer": 2, "input_answer": 2, "conversation": 1, "instruction": 1, "response": 1}
