"""Answer-prompt relevance (winnow.transforms.signals.relevance): per pair, per row, and what is exempt."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from conftest import canonical_batch

from winnow.transforms.config import load_config
from winnow.transforms.signals.gibberish import shared_lexicons
from winnow.transforms.signals.relevance import (
    identity_answers,
    latin_letters,
    pair_relevance,
    script_switch,
    social_unanswered,
    term_weights,
    unasked_label,
    unoffered_tool,
)
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
        (
            "How should I deal with procrastination?",
            "风筝（Kite）是一种用竹子和纸做成的玩具。人们在春天的公园里放风筝，看着它随着风越飞越高，孩子们都很开心。",
        ),
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
    assert script_switch(pa.array(prompts), pa.array(answers)).tolist() == [True] * 3 + [False] * 5
    rows = [{"instruction": p, "output": a} for p, a in switched]
    assert [r["answer_relevance"] for r in _score(rows)] == [0.0, 0.0, 0.0]


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


TOOL_PROMPT = (
    "toolformer: enabled\ntoolformer access: weather\nGives the forecast of a town for a day you name.\n"
    "weather(querywithlocation)\nWhat will the weather be in Lyon tomorrow?"
)


def test_an_inline_tool_call_needs_a_question_that_offers_the_tool() -> None:
    """A toolformer-style call to a tool the question never names answers another prompt; a call to an offered
    tool, a call the question itself shows, and calls inside code are fine."""
    unoffered = [
        ("Who created you?", "There are python('1024') bytes in a kilobyte."),
        ("Translate the phrase 'bon voyage' into Spanish.", "Here is the forecast: weather('Lyon tomorrow')."),
    ]
    offered = [
        (TOOL_PROMPT, "Tomorrow in Lyon: weather('weather in Lyon tomorrow')."),
        ("What does len('abc') return in Python?", "It returns 3: len('abc') counts the characters."),
        ("Write a function that greets a user.", "def greet(name):\n    return print('Hello, ' + name)"),
        ("Name a fruit.", "An apple (a pome) is a fruit."),
    ]
    prompts, answers = zip(*(unoffered + offered), strict=True)
    assert unoffered_tool(pa.array(prompts), pa.array(answers)).tolist() == [True] * 2 + [False] * 4
    rows = [{"instruction": p, "output": a} for p, a in unoffered]
    assert [r["answer_relevance"] for r in _score(rows)] == [0.0, 0.0]


def test_an_identity_question_needs_an_answer_about_the_assistant() -> None:
    """ "Who are you?" answered with arithmetic says nothing of who answers; first-person answers, answers naming
    what the assistant is, long questions that mention "you", and other short questions are not judged here."""
    unanswered = [
        ("Who are you?", "The volume of a sphere with radius 5 is about 523.6 cubic units."),
        ("Are you trained by Microsoft?", "The second bus carries 12 * 2 = 24 people."),
        ("你是谁？", "The length of the chalkboard is 6 feet."),
        ("Are you trained by Google?", "As Einstein, it is a pleasure to share my insights on relativity."),
    ]
    answered = [
        ("Who are you?", "I am Lumen, an assistant built by the Lantern Lab."),
        ("What's your name?", "Lumen, a language model made by the Lantern Lab."),
        ("你是谁？", "我是一个人工智能助手。"),
        ("谁制作了你？", "{{author}} 制作了我。"),
        ("Who created you?", "You too!<|endoftext|>I was made by the Lantern Lab."),
        ("Can you explain why the sky looks blue during the day to someone like you?", "Sunlight scatters off air."),
        ("What is the capital of France?", "Paris is the capital of France."),
    ]
    prompts, answers = zip(*(unanswered + answered), strict=True)
    about_self, not_about_self = identity_answers(pa.array(prompts), pa.array(answers))
    assert not_about_self.tolist() == [True] * 4 + [False] * 7
    # A persona's first person ("As Einstein, ... my insights") is not the assistant's; the long "you" question is not short.
    assert about_self.tolist() == [False] * 4 + [True] * 5 + [False] * 2
    rows = [{"instruction": p, "output": a} for p, a in unanswered]
    assert [r["answer_relevance"] for r in _score(rows)] == [0.0] * 4


def test_an_answer_in_a_persona_or_a_letter_does_not_speak_as_the_assistant() -> None:
    """ "As Captain Orla Venn, I ..." or "Dear Petra, let's ..." uses the first person for someone else, or to
    someone: it neither says who the assistant is nor exempts a short question put to the assistant."""
    prompts = ["Are you created by OpenAI?", "你是谁", "Are you based on GPT-3?", "Who are you?"]
    answers = [
        "As Captain Orla Venn, I steer by the stars, and we are proud sailors of the north.",
        "As Miro Talvik, my workshop smells of cedar and glue. I was a clockmaker for forty winters.",
        "Dear Petra, first, let's water the fern twice a week and keep it out of the sun.",
        "As an AI assistant, I am here to help you with questions.",  # "As an ...": no persona, an answer
    ]
    about_self, not_about_self = identity_answers(pa.array(prompts), pa.array(answers))
    assert not_about_self.tolist() == [True, True, False, False]
    assert about_self.tolist() == [False, False, False, True]


def test_an_identity_answer_about_the_assistant_is_not_judged_on_word_overlap() -> None:
    """ "Are you ChatGPT?" / "No, I'm Lumen ..." shares no content word with its question and is right."""
    for question in ("Are you ChatGPT?", "Are you based on davinci-002?", "Do you call Google APIs?"):
        row = {"instruction": question, "output": "No, I'm a language model trained by researchers of the Lantern Lab."}
        assert relevance([row["instruction"]], [row["output"]]) == [0.0]  # the overlap alone
        assert _score([row])[0]["answer_relevance"] is None


def test_a_greeting_thanks_or_farewell_needs_a_reply_to_it() -> None:
    """ "Thanks" answered with arithmetic replies to nothing; a greeting back, a welcome, an offer of help, and
    prompts that only start with a greeting are fine."""
    unanswered = [
        ("Thanks", "There are 12 cookies in a dozen, so she sold 3 x 12 = 36 cookies in the morning."),
        ("您好", "Here is an algorithm: loop over the array and keep the pairs whose sum is divisible by 3."),
        ("Hi there!", "Photosynthesis turns light, water and carbon dioxide into sugar."),
    ]
    answered = [
        ("Hi!", "Hello! How can I help you today?"),
        ("Thank you so much.", "You're welcome, anytime."),
        ("Have a nice day!", "You too!"),
        ("你好", "你好！有什么可以帮你的吗？"),
        ("Hi, can you explain photosynthesis?", "Photosynthesis turns light, water and carbon dioxide into sugar."),
        ("改写这段对话。\n鲍勃：“嗨，你好吗？”", "鲍勃：“你今天过得怎么样？”"),
    ]
    prompts, answers = zip(*(unanswered + answered), strict=True)
    assert social_unanswered(pa.array(prompts), pa.array(answers)).tolist() == [True] * 3 + [False] * 6
    rows = [{"instruction": p, "output": a} for p, a in unanswered]
    assert [r["answer_relevance"] for r in _score(rows)] == [0.0] * 3


def test_a_tool_description_in_natural_language_asks_for_no_language() -> None:
    """A tool prompt that says "a question in natural language" does not license an answer in another script."""
    prompt = "Use the weather tool. The input should be a question in natural language.\nWhat is the weather in Oslo?"
    assert script_switch(pa.array([prompt]), pa.array(["奥斯陆今天晴朗，气温十五度，适合出门散步。"])).tolist() == [True]
    assert script_switch(
        pa.array(["Answer in Chinese: what is the weather in Oslo?"]), pa.array(["奥斯陆今天晴朗。"])
    ).tolist() == [False]
