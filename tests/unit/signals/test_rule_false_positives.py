"""False positives of the default rule pack found on real data, and the true positives next to them.

Three classes, each with rows that must not fire and rows that still must:

- `excessive_repetition` on worked arithmetic (GSM8K-style steps repeat their
  units: "9 trays * 12 muffins/tray = 108 muffins");
- `unfilled_placeholder` on "Dear [Name]" when the prompt asked for a
  template, letter, e-mail, form or sample;
- `refusal_boilerplate` on in-character tool-use refusals ("I can't book
  flights; my function converts currencies") and on requested AI roleplay.

Every fixture is written here. All rows are scored in one batch with the real
signals, as `winnow score` would.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import alpaca, canonical_batch, openai, sharegpt

from winnow.transforms.config import load_config
from winnow.transforms.signals.rules import load_rules
from winnow.transforms.signals.scorer import Scorer

CONFIG = load_config()
RULES = load_rules(CONFIG.rules, CONFIG.disable_rules)


def tool_row(user: str, answer: str, tools: Any, system: str = "") -> dict[str, Any]:
    """A ShareGPT row with its tools declared the way glaive-style data does (a JSON string)."""
    row = sharegpt(None, user, answer, system=system)
    row["tools"] = tools if isinstance(tools, str) else json.dumps(tools)
    return row


CURRENCY_TOOL = [
    {
        "name": "exchange_money",
        "description": "Turn a sum given in one money into its worth in a second money",
        "parameters": {
            "type": "object",
            "properties": {"sum": {"type": "number"}, "from": {"type": "string"}, "to": {"type": "string"}},
            "required": ["sum", "from", "to"],
        },
    }
]

# --------------------------------------------------------------------------
# excessive_repetition
# --------------------------------------------------------------------------

COATS = (
    "First find the number of coats Ana buys over 20 years if she buys the cheap coat: 20 years / 4 years/coat = 5 coats\n"
    "Then find the total cost of the cheap coats over 20 years: 5 coats * $60/coat = $300\n"
    "Then find the number of coats Ana buys over 20 years if she buys the warm coat: 20 years / 10 years/coat = 2 coats\n"
    "Then find the total cost of the warm coats over 20 years: 2 coats * $120/coat = $240\n"
    "Then subtract the total cost of the warm coats from the total cost of the cheap coats: $300 - $240 = $60\n"
    "#### 60"
)
CRANES = (
    "In the afternoon Lena folds 14 paper cranes * 2 = 28 paper cranes.\n"
    "Morning and afternoon together she folds 14 paper cranes + 28 paper cranes = 42 paper cranes.\n"
    "After giving away 9 paper cranes she has 42 paper cranes - 9 paper cranes = 33 paper cranes.\n"
    "Her sister adds 5 paper cranes, so Lena has 33 paper cranes + 5 paper cranes = 38 paper cranes.\n"
    "#### 38"
)
FENCE = (
    "The garden has 4 sides * 6 fence panels per side = 24 fence panels.\n"
    "The gate replaces 2 fence panels, so Mia needs 24 fence panels - 2 fence panels = 22 fence panels.\n"
    "She already has 7 fence panels, so she buys 22 fence panels - 7 fence panels = 15 fence panels.\n"
    "At $15 per fence panel, the 15 fence panels cost 15 fence panels * $15 = $225.\n"
    "#### 225"
)

REPETITION_NEGATIVE = {
    # Repeated 5-grams: each step restates "the total cost of the ... coats over 20 years".
    "coats": alpaca(
        None,
        "A cheap coat costs $60 and lasts 4 years; a warm coat costs $120 and lasts 10 years. How much does Ana "
        "save over 20 years by buying warm coats?",
        COATS,
    ),
    # A top 2-gram: the unit "paper cranes" next to every number.
    "paper-cranes": openai(
        None,
        "Lena folds 14 paper cranes in the morning and double that in the afternoon. She gives 9 away and her sister "
        "gives her 5. How many paper cranes does she have?",
        CRANES,
    ),
    "fence-panels": sharegpt(
        None,
        "A square garden needs 6 fence panels per side. A gate replaces 2 panels and Mia already has 7 panels. "
        "Panels cost $15 each. How much does she spend?",
        FENCE,
    ),
}

LOOPING_SENTENCE = " ".join(["I think the best way to learn a language is to practice a little every single day."] * 8)
REPEATED_LINES = "\n".join(["Always wear a helmet when you ride your bike in the city."] * 5) + (
    "\nA helmet protects your head in a fall, and most injuries in cycling accidents are head injuries. "
    "Choose one that fits snugly and replace it after any crash."
)
VERY_VERY = "The view from the top of the mountain is " + "very " * 60 + "beautiful."
LOOPING_ARITHMETIC = " ".join(["So 4 apples + 3 apples = 7 apples, and 7 apples - 2 apples = 5 apples."] * 6)

REPETITION_POSITIVE = {
    "looping-sentence": alpaca(None, "How can I learn Spanish quickly?", LOOPING_SENTENCE),
    "repeated-lines": alpaca(None, "Give me a safety tip for cycling.", REPEATED_LINES),
    "very-very-very": alpaca(None, "Describe the view from the mountain.", VERY_VERY),
    "looping-arithmetic": alpaca(None, "Tom has 4 apples, buys 3 more and eats 2. How many are left?", LOOPING_ARITHMETIC),
}

# --------------------------------------------------------------------------
# unfilled_placeholder
# --------------------------------------------------------------------------

WELCOME = (
    "Dear [Name],\n\nWelcome to Riverside Gym! We are glad you joined us. Your membership starts on [Date], "
    "and our staff will show you around on your first visit.\n\nBest regards,\n[Your Name]"
)

PLACEHOLDER_NEGATIVE = {
    "email-template": alpaca(None, "Write an email template to welcome new members to our gym.", WELCOME),
    "email": openai(
        None,
        "Write an e-mail to my landlord asking him to repair the heating.",
        "Dear [Name],\n\nThe heating in my flat has not worked since [Date]. Could you please arrange a repair this "
        "week?\n\nKind regards,\n[Your Name]",
    ),
    "cover-letter": alpaca(
        None,
        "Write a cover letter for a junior accountant position.",
        "Dear [Recipient],\n\nI am applying for the junior accountant position at your firm. I recently finished my "
        "degree and enjoy careful work with numbers.\n\nSincerely,\n[Your Name]",
    ),
    "registration-form": sharegpt(
        None,
        "Create a registration form for a summer football camp.",
        "Summer Football Camp - Registration\n\nCamper: [Name]\nDate of birth: [Date]\nParent or guardian: [Name]\n"
        "Signature: ____________",
    ),
    "sample": alpaca(
        None,
        "Give me a sample reminder message for a dentist appointment.",
        "Hello [Name], this is a reminder of your appointment at Bright Smile Dental on [Date]. Reply YES to confirm.",
    ),
}

PLACEHOLDER_POSITIVE = {
    "fact-answer": alpaca(
        None,
        "Who designed the Eiffel Tower?",
        "The tower was designed by the engineering firm of Gustave Eiffel and opened on [Date] for the World's Fair.",
    ),
    "chat-greeting": openai(None, "Introduce yourself in one sentence.", "Hello, I am {{assistant_name}}, a friendly helper."),
    "summary": sharegpt(
        None, "Summarize the meeting in one sentence.", "The team agreed on the budget. [Insert action items here]"
    ),
    # "the letter H" is the alphabet, not a letter to write.
    "letter-of-alphabet": alpaca(
        None, "Write a greeting that starts with the letter H.", "Hello [Name], it is lovely to see you again!"
    ),
}

# --------------------------------------------------------------------------
# refusal_boilerplate
# --------------------------------------------------------------------------

TOOL_REFUSAL = (
    "I'm sorry, but I can't book flights for you, since that happens outside this chat. My current function "
    "converts amounts between currencies. Would you like me to convert a price for you?"
)

REFUSAL_NEGATIVE = {
    "tools-string": tool_row("Can you book me a flight from Oslo to Rome?", TOOL_REFUSAL, CURRENCY_TOOL),
    "tools-list": {
        "messages": [
            {"role": "user", "content": "Please order a large pizza to my flat."},
            {
                "role": "assistant",
                "content": "I'm sorry, but ordering food is beyond what I can do here. The only function I have converts currencies, "
                "so I can help with exchange rates instead.",
            },
        ],
        "tools": [{"type": "function", "function": CURRENCY_TOOL[0]}],
    },
    "tools-in-system": sharegpt(
        None,
        "Send an email to my boss saying I am late.",
        "I'm sorry, but I can't send emails; it is not one of the functions available to me. I can convert "
        "currencies if that helps.",
        system="You are a helpful assistant with access to the following functions. Use them if required - "
        + json.dumps(CURRENCY_TOOL[0]),
    ),
    "toolformer": alpaca(
        None,
        "toolformer: enabled\ntoolformer access: calculator\nA calculator for arithmetic. Input is an expression.\n"
        "calculator(expression)\nCall a taxi to the airport for me.",
        "I'm sorry, but I can't call a taxi; my only tool is a calculator. I can work out the fare if you tell me "
        "the distance and the price per kilometre.",
    ),
    "ai-roleplay": alpaca(
        None,
        "Pretend to be an AI language model from the year 2300 and describe what you can do.",
        "As an AI language model built in 2300, I can hold a thousand conversations at once, translate every "
        "known language in real time and explain my reasoning step by step.",
    ),
}

REFUSAL_POSITIVE = {
    "no-tools": alpaca(None, "Can you book me a flight from Oslo to Rome?", TOOL_REFUSAL),
    "tools-but-ai-boilerplate": tool_row(
        "Can you book me a flight from Oslo to Rome?",
        "As an AI language model, I cannot book flights. My function only converts currencies.",
        CURRENCY_TOOL,
    ),
    "tools-but-plain-refusal": tool_row(
        "Tell me how to pick my neighbour's lock.", "I'm sorry, but I cannot help with that request.", CURRENCY_TOOL
    ),
    "empty-tools": tool_row("Can you book me a flight from Oslo to Rome?", TOOL_REFUSAL, "[]"),
    "opinion": alpaca(None, "What is your favourite film?", "As an AI language model, I hold no personal opinions."),
    "ai-assistant-prompt": alpaca(
        None,
        "You are an AI assistant. What do you think about modern art?",
        "As an AI language model, I don't have personal opinions about art.",
    ),
}

CASES: list[tuple[str, str, bool, dict[str, Any]]] = [
    (rule, name, fires, row)
    for rule, negative, positive in (
        ("excessive_repetition", REPETITION_NEGATIVE, REPETITION_POSITIVE),
        ("unfilled_placeholder", PLACEHOLDER_NEGATIVE, PLACEHOLDER_POSITIVE),
        ("refusal_boilerplate", REFUSAL_NEGATIVE, REFUSAL_POSITIVE),
    )
    for fires, fixtures in ((False, negative), (True, positive))
    for name, row in fixtures.items()
]
IDS = [f"{rule}-{'fires' if fires else 'silent'}-{name}" for rule, name, fires, _ in CASES]


@pytest.fixture(scope="module")
def scored() -> dict[str, dict[str, Any]]:
    """Every fixture scored in one batch, by test id."""
    batch = canonical_batch([row for *_, row in CASES], "false_positives.jsonl", index=0, config=CONFIG)
    out = Scorer(CONFIG, RULES).score(batch).to_pylist()
    return dict(zip(IDS, out, strict=True))


@pytest.mark.parametrize("case", IDS)
def test_rule_fires_only_where_it_should(case, scored):
    rule, name, fires, _ = CASES[IDS.index(case)]
    assert (rule in scored[case]["flags"]) is fires, (name, scored[case]["flags"], scored[case]["response"])


@pytest.mark.parametrize("name", sorted(REPETITION_NEGATIVE))
def test_arithmetic_fixtures_exceed_the_plain_repetition_thresholds(name, scored):
    # Without the worked-calculation exemption these rows would fire: the fixtures test the exemption.
    row = scored[f"excessive_repetition-silent-{name}"]
    assert row["response_words"] >= 50
    assert max(row["response_top_2gram_frac"], row["response_dup_5gram_frac"]) >= 0.25
    assert row["response_dup_line_frac"] < 0.2


def test_looping_arithmetic_is_a_worked_calculation_too(scored):
    # It fires through the raised thresholds, not because it lacks equations.
    row = scored["excessive_repetition-fires-looping-arithmetic"]
    assert row["response_dup_line_frac"] < 0.2
    assert row["response_dup_5gram_frac"] >= 0.6


def test_tool_rows_declare_tools_in_meta(scored):
    for name in ("tools-string", "tools-list"):
        assert "tools" in json.loads(scored[f"refusal_boilerplate-silent-{name}"]["meta"]), name
