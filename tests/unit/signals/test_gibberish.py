"""Tests for the gibberish signals (winnow.transforms.signals.gibberish) and their rules."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from conftest import canonical_batch

from winnow.transforms.config import load_config
from winnow.transforms.signals.gibberish import Lexicons, mixed_script_words, strip_noise, symbol_soup_frac, word_stats
from winnow.transforms.signals.rules import load_rules
from winnow.transforms.signals.scorer import Scorer

CONFIG = load_config()
RULES = load_rules(CONFIG.rules, CONFIG.disable_rules)
LEXICONS = Lexicons()

SOUP = "})] ;; => <| x0r ¤¤ }}{{ ]]; ->> ;; ))( qzxv plkt mrrgh vwxq ]]> <%= ~~> @@ ^^ zzkt gblx frrp }); /* */ =>> qqxr"
MIXED = "Ηеllο wоrld, thіs іs а tеst оf раураl ассоunt sеcurіty"  # Cyrillic and Greek homoglyphs
CODE = (
    "Here is a function that squares each value:\n\n```python\ndef squares(xs):\n"
    "    return {k: v ** 2 for k, v in xs.items()}  # })]);\n```\n\nCall it with a dict of numbers."
)
TABLE = "| Name | Age | City |\n|------|----:|:----:|\n| Anna | 31 | Berlin |\n| Ben | 27 | Paris |\n| Carla | 45 | Rome |"
MATH = (
    "Jan had 72 necklaces and sold 40, so 72 - 40 = 32 candy necklaces remain. "
    "Each costs $2, so 32 * 2 = <<32*2=64>>64 dollars.\n#### 64"
)
GERMAN = (
    "Der Hund ist seit Jahrtausenden ein treuer Begleiter des Menschen. Er hütet Schafe, bewacht Häuser "
    "und führt blinde Menschen sicher über die Straße."
)
CHINESE = "狗是人类最忠实的伙伴之一。几千年来，它们帮助人们放羊、看家，还可以用Python编写的程序训练导盲犬。"
URLS = "The documentation lives at https://docs.python.org/3/library/re.html?highlight=sub#re.sub and www.example.org/a_b."
LABEL = "positive"


def score(*answers: str) -> list[dict[str, Any]]:
    rows = [{"instruction": "Answer the question.", "output": a} for a in answers]
    return Scorer(CONFIG, RULES).score(canonical_batch(rows, "fixtures.jsonl", config=CONFIG)).to_pylist()


def texts(*values: str | None) -> pa.Array:
    return strip_noise(pa.array(list(values), pa.string()))


def test_strip_noise_removes_code_inline_code_and_urls() -> None:
    out = texts("a ```x = {}``` b `y[0]` c https://x.org/?q=1 d", "open ```never closed", None).to_pylist()
    assert out[0].split() == ["a", "b", "c", "d"]
    assert out[1].split() == ["open"]
    assert out[2] == ""


def test_a_code_fence_does_not_hide_script_soup() -> None:
    """Fragments of Hebrew, Japanese, Greek and Arabic in a fence are not code: the fence stays, so the soup is
    judged; code with a Chinese comment (one non-Latin script) is still code."""
    soup = "```\nשל 処理 <div> μπ ون self.הו 」 σμα ment 的 @@ ων\n```"
    code = "```python\n# 计算两个数的和\ndef add(a, b):\n    return a + b\n```"
    kept, stripped = texts(soup, code).to_pylist()
    assert "処理" in kept and "σμα" in kept
    assert stripped.split() == []


def test_known_words_and_zipf() -> None:
    langs = pa.array(["en", "en", "de", "zh", "xx", "en"])
    stats = word_stats(texts("the cat sat on the mat", "qzxv plkt the", GERMAN, CHINESE, "bla", "12 34 !!"), langs, LEXICONS)
    frac, zipf = stats["known_word_frac"], stats["mean_zipf"]
    assert frac[0] == 1.0 and zipf[0] > 5
    assert frac[1] == pytest.approx(1 / 3)
    assert frac[2] == 1.0  # Straße -> strasse, as wordfreq folds it
    assert all(v != v for v in (frac[3], frac[4], frac[5], zipf[3]))  # NaN: no-space script, no list, no words


def test_known_words_ignore_other_scripts() -> None:
    stats = word_stats(texts("the dog and собака"), pa.array(["en"]), LEXICONS)
    assert stats["known_word_frac"][0] == 1.0


def test_symbol_soup() -> None:
    out = symbol_soup_frac(texts(SOUP, TABLE, MATH, 'Wait... really?! Yes -- (e.g., "this"). **Bold** text', ""))
    assert out[0] >= 0.3
    assert list(out[1:]) == [0.0, 0.0, 0.0, 0.0]


def test_mixed_script_words() -> None:
    out = mixed_script_words(texts(MIXED, "Δx = 3 μm; Python을 使用Python编写", "русский English", "αβc"))
    assert out[0] >= 3
    assert list(out[1:]) == [0, 0, 1]


def test_columns_and_rules_on_fixtures() -> None:
    soup, mixed, *clean = score(SOUP, MIXED + " " + MIXED, CODE, TABLE, MATH, GERMAN, CHINESE, URLS, LABEL)
    assert "gibberish_response" in soup["flags"] and soup["severity"] == "drop"
    assert mixed["response_mixed_script_words"] >= 3 and "mixed_script_words" in mixed["flags"]
    for row in clean:
        assert not {"gibberish_response", "mixed_script_words"} & set(row["flags"]), row
        assert row["response_symbol_soup_frac"] == 0.0
        assert row["response_mixed_script_words"] == 0
    code, _table, _math, german, chinese, urls, label = clean
    assert chinese["response_known_word_frac"] is None and chinese["response_mean_zipf"] is None
    assert german["lang"] == "de" and german["response_known_word_frac"] == 1.0
    assert code["response_known_word_frac"] == 1.0 and urls["response_known_word_frac"] == 1.0
    assert label["response_known_word_frac"] == 1.0


def test_switch_off() -> None:
    off = load_config(overrides={"signals": {"gibberish": False}})
    fields = Scorer(off, []).score(canonical_batch([{"instruction": "a", "output": "b"}], config=off)).schema.names
    assert "response_known_word_frac" not in fields
