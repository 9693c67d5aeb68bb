"""The pure parts of the bench's validity section (scripts/validity.py): junk generators and metrics."""

from __future__ import annotations

import random
import re
import sys
import unicodedata

import numpy as np
import pytest
from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))  # scripts/ is not a package: import its modules by path
import validity

ANSWER = (
    "Photosynthesis turns light into chemical energy in plants. The leaves take in carbon dioxide from the air, "
    "and the roots bring up water from the soil. Inside the chloroplasts, chlorophyll absorbs light and drives "
    "reactions that split water and release oxygen as a by-product. The energy captured this way is stored in "
    "sugars, which the plant uses to grow, to repair its tissues and to make seeds for the next season."
)


def _scripts(text: str) -> set[str]:
    found = set()
    for ch in text:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            for script, prefixes in {
                "latin": ("LATIN",),
                "cyrillic": ("CYRILLIC",),
                "greek": ("GREEK",),
                "cjk": ("CJK", "HIRAGANA", "KATAKANA", "HANGUL"),
                "arabic": ("ARABIC",),
                "hebrew": ("HEBREW",),
                "devanagari": ("DEVANAGARI",),
            }.items():
                if name.startswith(prefixes):
                    found.add(script)
    return found


def test_truncation_cuts_mid_sentence_between_30_and_70_percent_of_the_words():
    words = ANSWER.split()
    for seed in range(200):
        cut = validity.truncate_answer(ANSWER, random.Random(seed))
        assert cut is not None and ANSWER.startswith(cut) and len(cut) < len(ANSWER)
        kept = len(cut.split())
        assert 0.3 * len(words) <= kept <= 0.7 * len(words)
        assert cut.split()[-1] == words[kept - 1]  # cut after a whole word
        assert not re.search(r"[.!?]$", cut)  # never at the end of a sentence


def test_truncation_skips_short_answers_and_answers_without_a_cut():
    assert validity.truncate_answer("Too short to cut.", random.Random(0)) is None
    every_word_ends_a_sentence = " ".join(f"Word{i}." for i in range(40))
    assert validity.truncate_answer(every_word_ends_a_sentence, random.Random(0)) is None


def test_token_soup_mixes_several_scripts_and_varies():
    rng = random.Random(3)
    soups = [validity.token_soup(rng) for _ in range(50)]
    assert len(set(soups)) == 50
    for soup in soups:
        assert len(_scripts(soup)) >= 4, soup
        assert any(b in soup for b in "()[]{}<>")


def test_injection_keeps_the_answer_and_adds_an_injection():
    rng = random.Random(5)
    outs = [validity.injection_answer(ANSWER, rng) for _ in range(200)]
    assert len(set(outs)) > 100
    assert all("Photosynthesis turns light into chemical energy" in o for o in outs)
    assert any(o.startswith("Photosynthesis") for o in outs) and any(
        not o.startswith("Photosynthesis") for o in outs
    )  # after, before
    assert any(o.startswith("Photosynthesis") and o.split("\n\n")[-1] in ANSWER for o in outs)  # injected in between
    assert any("<|im_start|>" in o for o in outs) and any("### Response:" in o for o in outs)
    assert any(re.search(r"(?i)ignore (the above|all previous|the previous) instructions", o) for o in outs)
    # fluent variants: no header, no "ignore", still addressed to a grader
    assert any(not re.search(r"(?i)ignore|#|<\||\[INST\]|Human:", o) and re.search(r"(?i)review|grad|scor", o) for o in outs)


def _rows() -> list[validity.RealRow]:
    rows = []
    for family, source in (("a", "a1"), ("a", "a2"), ("b", "b1"), ("c", "c1")):
        for i in range(60):
            rows.append(validity.RealRow(source, family, i, f"Question {source} {i}?", f"{ANSWER} ({source} {i})"))
    return rows


def test_swapped_pairs_never_pair_a_row_with_itself_or_its_family():
    rows = _rows()
    rng = random.Random(0)
    prompts = validity.stratified_sample(range(len(rows)), rows, 40, rng)
    pairs = validity.swap_donors(prompts, rows, list(range(len(rows))), rng)
    assert len(pairs) == 40
    donors = [j for _, j in pairs]
    assert len(set(donors)) == len(donors) and not set(donors) & set(prompts)
    for i, j in pairs:
        assert i != j and rows[i].family != rows[j].family and rows[i].response != rows[j].response


def test_build_junk_holds_out_the_sources_of_answers_and_pairs_swapped_rows_with_kept_rows():
    rows = _rows()
    junk, held = validity.build_junk(rows, 20, seed=1, copies=50)
    counts = {c: sum(j.cls == c for j in junk) for c in validity.JUNK_CLASSES}
    assert counts == {"token_soup": 20, "injection": 20, "copied_answer": 50, "swapped": 20, "truncated": 20}
    kept = {r.id for i, r in enumerate(rows) if i not in held}
    copied = [j for j in junk if j.cls == "copied_answer"]
    assert len({j.instruction for j in copied}) == 50 and {j.response for j in copied} == {validity.COPIED_ANSWER}
    for j in junk:
        if j.cls == "swapped":
            assert j.pair in kept
        if j.pair is not None:
            assert j.pair in kept
    assert len({j.id for j in junk}) == len(junk)
    # answers of held-out rows appear only inside junk, never as a kept real row
    assert not any(rows[i].id in kept for i in held)


def test_bottom_share_on_a_hand_made_example():
    real = np.arange(1, 101, dtype=float)  # p10 = 10.9 (linear interpolation)
    junk = np.array([0.0, 5.0, 10.0, 10.9, 50.0, np.nan])
    share, threshold = validity.bottom_share(real, junk)
    assert threshold == pytest.approx(10.9)
    assert share == pytest.approx(3 / 6)  # 0, 5, 10 strictly below; 10.9 ties; NaN is not caught


def test_auc_and_pairs_follow_the_construction_labels():
    real = np.array([0.9, 0.8, 0.7, np.nan])
    junk = np.array([0.1, 0.7, 0.95])
    auc, n = validity.auc_real_vs(real, junk)
    assert n == 6 and auc == pytest.approx((2 + 2 + 1.5) / 9)  # 0.7 ties 0.7: half
    acc, low, high, pairs = validity.pairs_accuracy(
        {"r1": 0.9, "r2": 0.5, "j1": 0.1, "j2": 0.5}, [("r1", "j1"), ("r2", "j2"), ("r3", "j1")]
    )
    assert (acc, pairs) == (0.75, 2) and low <= acc <= high


def test_ids_say_how_the_row_was_built():
    assert validity.class_of("real:lima:12") == "real"
    assert validity.class_of("junk:swapped:7") == "swapped"
    assert validity.source_of("selfinstruct/t0_templates/x.jsonl") == ("t0_templates", "selfinstruct")
    assert validity.source_of("lima/lima.json") == ("lima", "lima")
    assert validity.orientation("response_injection_phrases") == -1 and validity.orientation("response_token_entropy") == 1
    assert validity.orientation("quality_entropy") == -1 and validity.orientation("composite") == 1


def test_conversations_are_written_whole_and_single_exchanges_as_alpaca_rows() -> None:
    """A multi-turn row flattened to its first question and last answer would be a mispaired real row."""
    turns = [
        {"role": "user", "content": "Who are you?"},
        {"role": "assistant", "content": "I am Lumen."},
        {"role": "user", "content": "Have a nice day!"},
        {"role": "assistant", "content": "You too!"},
    ]
    messages = validity.conversation("Be kind.", turns)
    assert messages is not None and messages[0] == ("system", "Be kind.") and messages[-1] == ("assistant", "You too!")
    row = validity.RealRow("chat", "fastchat", 0, "Who are you?", "You too!", messages).as_row()
    assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant", "user", "assistant"]
    single = validity.conversation("", turns[:2])
    assert single is None
    assert validity.RealRow("a", "alpaca", 3, "Q?", "A.", single).as_row() == {
        "id": "real:a:3",
        "instruction": "Q?",
        "input": "",
        "output": "A.",
    }
