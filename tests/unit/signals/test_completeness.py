"""Answers cut mid-sentence (winnow.transforms.signals.completeness)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from winnow.transforms.signals.completeness import ends_mid_sentence

CUT = {
    "prose": "Let the dough rest for an hour. This will help the gluten relax so that the crust bakes evenly and",
    "open-word": "Paris is the capital of France. It has been the seat of government since the tenth century and later became",
    "list-item": "1. Preheat the oven.\n2. Let the batter rest: if you can, leave it for an hour. This will help the",
    "operator": "A baker fills 7 trays with 15 rolls each, so she bakes 7 * 15 =",
    "dash": 'He quoted an old line about effort. "Small steps taken every day add up to something big," he said -',
    "closed-lines": "1. Plan the week ahead.\n\n2. Review the budget with the team.\n\n3. Delegation: a good lead hands off work and",
    "short-last-line": "The storm reached the coast at dawn.\nRoads were closed by noon.\nSchools",
    "open-call": "The distance between the two cities is: maps('distance between Lyon and",
    "open-bracket": "Sort the list in place.\nfor (int j = 0; j < length - i",
    "open-full-width": "我们先求一阶导数。然后再求二阶导数（根据幂函数的求导法则",
    "empty-item": "Three planets:\n1. Mercury\n2. Venus\n3.",
    "empty-bullet": "购物清单：\n- 香蕉\n- 苹果\n-",
    "table-row": "| City | Votes |\n|------|-------|\n| Oslo | 42 |\n| Rome",
}
WHOLE = {
    "sentence": "Paris is the capital of France. It has been the seat of government for centuries.",
    "number": "Each tray holds 15 rolls.\nShe fills 7 trays, so 15 * 7 = 105\n#### 105",
    "arithmetic-line": "First add the geese. 12 geese + 9 geese + 4 geese = 25 geese in total for the three ponds of the farm",
    "short-list": "Here are five adjectives:\nhappy\nsad\nangry\nexcited\ntired",
    "poem": "The rain falls soft upon the hill.\nThe river sings, the night is still\nAnd in the dark the owls call",
    "code": "Use this function.\n```python\ndef add(a, b):\n    return a + b\n```",
    "url": "The documentation is online. Read more about it at https://docs.python.org/3/library/re.html",
    "signature": "Thank you for your patience and understanding. Yours sincerely, Jane Doe, Head of Customer Care",
    "label": "positive",
    "one-line": "Blue whales are the largest animals that have ever lived on Earth",
    "chinese": "长城是中国古代修建的一道巨大的防御工程。它全长两万多公里。",
    "special-token": "The answer is yes, because the review praises the product.<|endoftext|>",
    "closing-phrase": "Water the plant once a week and keep it out of direct sun.\nHope this helps",
    "after-colon": "Sure, here is the output of the program:\n\nbeep beep boop beep",
    "full-width-paren": "使用相关的名字。\n例如：小明（如果他是一个作家）",
    "closed-call": "The weather in Lyon today is weather('Lyon today').",
    "url-in-call": "The page says: request('https://example.org/a_(b)')",
    "emoticon": "I missed the last bus home tonight :(",
    "ellipsis": "The star, whom friends call Kate (and the press...",
    "table": "| City | Votes |\n|------|-------|\n| Oslo | 42 |\n| Rome | 17 |",
}


@pytest.mark.parametrize("name", sorted(CUT))
def test_cut_answers_are_found(name: str) -> None:
    assert ends_mid_sentence(pa.array([CUT[name]])).tolist() == [True]


@pytest.mark.parametrize("name", sorted(WHOLE))
def test_whole_answers_are_not(name: str) -> None:
    assert ends_mid_sentence(pa.array([WHOLE[name]])).tolist() == [False]


def test_nulls_and_empty_answers_are_not_cut() -> None:
    assert ends_mid_sentence(pa.array([None, "", "   "], pa.string())).tolist() == [False, False, False]
