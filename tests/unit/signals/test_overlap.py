"""Tests for winnow.transforms.signals.overlap: ROUGE-L and BLEU against rouge-score and
sacrebleu row by row, token entropy on known distributions and against a
Counter reference, and benchmark contamination positives and negatives.
"""

from __future__ import annotations

import gzip
import json
import math
import random
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from winnow.transforms.signals import overlap
from winnow.transforms.signals.overlap import (
    ContaminationIndex,
    bleu,
    bleu_tokens,
    normalized_token_entropy,
    rouge_l,
    rouge_tokens,
    token_entropy,
)

rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
rouge_tokenize = pytest.importorskip("rouge_score.tokenize")
sacrebleu_bleu = pytest.importorskip("sacrebleu.metrics")

# ---- fixtures -------------------------------------------------------------------

REAL_PAIRS = [
    ("Give three tips for staying healthy.", "1. Eat a balanced diet. 2. Exercise regularly. 3. Get enough sleep."),
    ("The capital of France is Paris.", "Paris is the capital of France."),
    ("A quick red fox leaps over the sleepy hound.", "A quick red fox leapt over the sleepy hounds!"),
    (
        "Photosynthesis is the process by which green plants use sunlight, water and carbon dioxide to make glucose and oxygen.",
        "In photosynthesis, plants convert light energy, water, and CO2 into glucose; oxygen is released as a by-product.",
    ),
    ("def add(a, b):\n    return a + b", "def add(x, y):\n    return x + y  # sum"),
    ("It costs $1,000.50 (approx.) -- or 3.14e-2 of the budget.", "Costs: $1000.50, approx; 3.14e-2 of budget"),
    ("I can't believe it's not butter!", "I cannot believe it is not butter."),
    ("Tom &amp; Jerry &lt;3 &quot;cartoons&quot;", 'Tom & Jerry <3 "cartoons"'),
    ("well-known state-of-the-art models-\nare 2-3x faster", "well known state of the art models are 2 - 3x faster"),
    ("<skipped> The answer is 42.", "The answer is 42 ."),
    ("Café au lait, s'il vous plaît.", "cafe au lait s il vous plait"),
    ("İstanbul is big; the KELVIN sign K is odd: 5K", "istanbul is big the kelvin sign k is odd 5k"),
    ("水循环是指水在地球上不断运动和变化的过程。", "水循环 是 指 水 在 地球 上 不断 运动"),
    ("emoji 🙂 are fine 🚀 too", "emoji are fine too 🙂"),
    ("same", "same"),
    ("a", "b"),
    ("", "something"),
    ("something", ""),
    ("", ""),
    ("   \n\t ", "..."),
    ("Trailing spaces and newline  \n", "Trailing spaces and newline"),
    ("tabs\tand\x1cfile\x1dseparators\u3000ideographic\x85next-line", "tabs and file separators"),
    ("1.5, 2,5 and .5 and 5. ,x x, x.y 3-4 a-b 3-", "1.5 2,5 and .5 and 5 . x x , x . y 3 - 4 a-b 3 -"),
    ("Mr. Smith went to Washington D.C. on Jan. 5th, 2021.", "Mr Smith went to Washington DC on Jan 5th 2021"),
    ("the the the the the the the", "the the the"),
]

_WORDS = (  # noqa: SIM905 - prose reads better than a list of words
    "the a of and to in is you that it he was for on are as with his they I at be this have from "
    "or one had by word but not what all were we when your can said there use an each which she do "
    "how their if will up other about out many then them these so some her would make like him into "
    "Time HAS Look two More write Go see Number no way could people my than first water been call who"
).split()
_PUNCT = [
    ".",
    ",",
    "!",
    "?",
    ";",
    ":",
    "-",
    "--",
    "(",
    ")",
    '"',
    "'",
    "...",
    "&",
    "&amp;",
    "&lt;",
    "<",
    ">",
    "/",
    "\\",
    "`",
    "@",
    "#",
    "$",
    "%",
    "^",
    "*",
    "+",
    "=",
    "[",
    "]",
    "{",
    "}",
    "|",
    "~",
    "_",
]
_ODD = [
    "3.14",
    "1,000",
    "2-3",
    "e.g.",
    "U.S.",
    "x-ray",
    "-\n",
    "\n",
    "\t",
    "  ",
    "café",
    "İ",
    "K",
    "ß",
    "Ω",
    "中文",
    "🙂",
    "\u3000",
    "\x85",
    "\xa0",
    "\x1c",
    "<skipped>",
    "5.",
    ".5",
    ",5",
    "5,",
]


def _random_text(rng: random.Random, n_words: int) -> str:
    parts = []
    for _ in range(n_words):
        r = rng.random()
        if r < 0.75:
            parts.append(rng.choice(_WORDS))
        elif r < 0.9:
            parts.append(rng.choice(_PUNCT))
        else:
            parts.append(rng.choice(_ODD))
        parts.append(rng.choice([" ", " ", " ", "", "\n"]))
    return "".join(parts)


def _edit(rng: random.Random, text: str) -> str:
    """A noisy copy: drop, insert and swap words so pairs share long subsequences."""
    words = text.split(" ")
    out = []
    for w in words:
        r = rng.random()
        if r < 0.1:
            continue
        if r < 0.2:
            out.append(rng.choice(_WORDS))
        out.append(w)
    if len(out) > 3 and rng.random() < 0.5:
        i = rng.randrange(len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    return " ".join(out)


def _random_pairs(seed: int, count: int, max_words: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    a, b = [], []
    for _ in range(count):
        x = _random_text(rng, rng.randint(0, max_words))
        y = _edit(rng, x) if rng.random() < 0.7 else _random_text(rng, rng.randint(0, max_words))
        a.append(x)
        b.append(y)
    return a, b


# ---- ROUGE-L ----------------------------------------------------------------------

_SCORER = rouge_scorer.RougeScorer(["rougeL"])


def _ref_rouge(a: str | None, b: str | None) -> float:
    return _SCORER.score(b or "", a or "")["rougeL"].fmeasure


def test_rouge_tokens_match_rouge_score():
    a, b = _random_pairs(1, 300, 60)
    texts = a + b + [x for p in REAL_PAIRS for x in p]
    got = rouge_tokens(pa.array(texts, pa.string()), max_tokens=10_000).to_pylist()
    assert got == [rouge_tokenize.tokenize(t, None) for t in texts]


def test_python_lowercase_specials_are_the_two_handled():
    """rouge_tokens special-cases exactly the non-ASCII characters whose str.lower() holds an ASCII letter or digit."""
    specials = []
    for cp in range(0x80, 0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        low = chr(cp).lower()
        if low != chr(cp) and any(c.isascii() and c.isalnum() for c in low):
            specials.append(cp)
    assert specials == [0x130, 0x212A]
    texts = ["\u0130stanbul", "a\u212ab", "\u212a", "x\u0130", "\u0130\u0130"]
    assert rouge_tokens(pa.array(texts)).to_pylist() == [rouge_tokenize.tokenize(t, None) for t in texts]


def test_rouge_l_real_pairs():
    a, b = zip(*REAL_PAIRS, strict=True)
    got = rouge_l(pa.array(a), pa.array(b))
    want = [_ref_rouge(x, y) for x, y in REAL_PAIRS]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert got[REAL_PAIRS.index(("same", "same"))] == 1.0


@pytest.mark.parametrize("seed,max_words", [(2, 20), (3, 150), (4, 700)])
def test_rouge_l_random_pairs_match_rouge_score(seed, max_words):
    a, b = _random_pairs(seed, 150, max_words)
    # Under the cap only (long rows are tested against truncation below).
    n_tok = lambda t: len(rouge_tokenize.tokenize(t, None))  # noqa: E731
    keep = [i for i in range(len(a)) if n_tok(a[i]) <= 512 and n_tok(b[i]) <= 512]
    a, b = [a[i] for i in keep], [b[i] for i in keep]
    got = rouge_l(pa.array(a), pa.array(b))
    np.testing.assert_allclose(got, [_ref_rouge(x, y) for x, y in zip(a, b, strict=True)], rtol=0, atol=1e-9)


def test_rouge_l_multiword_bitsets_and_repeats():
    """Long repetitive rows stress the carry between 64-bit words."""
    rng = random.Random(5)
    a, b = [], []
    for _ in range(40):
        alphabet = rng.sample(_WORDS, rng.randint(1, 4))
        a.append(" ".join(rng.choice(alphabet) for _ in range(rng.randint(60, 500))))
        b.append(" ".join(rng.choice(alphabet) for _ in range(rng.randint(60, 500))))
    a += ["x " * 500, "x " * 64, "x " * 65, "x y " * 100]
    b += ["x " * 130, "x " * 64, "x " * 63, "y x " * 120]
    got = rouge_l(pa.array(a), pa.array(b))
    np.testing.assert_allclose(got, [_ref_rouge(x, y) for x, y in zip(a, b, strict=True)], rtol=0, atol=1e-9)


def test_rouge_l_cap_truncates_to_first_tokens():
    rng = random.Random(6)
    a = [_random_text(rng, 900) for _ in range(5)]
    b = [_edit(rng, x) for x in a]
    got = rouge_l(pa.array(a), pa.array(b), max_tokens=100)
    cut = lambda t: " ".join(rouge_tokenize.tokenize(t, None)[:100])  # noqa: E731
    np.testing.assert_allclose(got, [_ref_rouge(cut(x), cut(y)) for x, y in zip(a, b, strict=True)], rtol=0, atol=1e-9)


def test_rouge_l_nulls_empty_sliced_chunked(monkeypatch):
    a = pa.array([None, "", "the cat", "the cat sat", "x y z", None, "a b c"])
    b = pa.array(["the cat", "the cat", None, "", "x y z", None, "c b a"])
    got = rouge_l(a, b)
    np.testing.assert_array_equal(got[:4], 0.0)
    assert got[4] == 1.0 and got[5] == 0.0
    assert got[6] == pytest.approx(_ref_rouge("a b c", "c b a"))
    np.testing.assert_array_equal(rouge_l(a.slice(2, 5), b.slice(2, 5)), got[2:7])
    np.testing.assert_array_equal(rouge_l(pa.chunked_array([a.slice(0, 3), a.slice(3)]), b), got)
    monkeypatch.setattr(overlap, "_ROWS_PER_CHUNK", 2)
    np.testing.assert_array_equal(rouge_l(a, b), got)
    assert rouge_l(pa.array([], pa.string()), pa.array([], pa.string())).shape == (0,)
    with pytest.raises(ValueError):
        rouge_l(pa.array(["a"]), pa.array(["a", "b"]))


# ---- BLEU ---------------------------------------------------------------------------

_BLEU = sacrebleu_bleu.BLEU(effective_order=True)


def _ref_bleu(h: str | None, r: str | None) -> float:
    return _BLEU.sentence_score(h or "", [r or ""]).score


def test_bleu_tokens_match_sacrebleu_13a():
    a, b = _random_pairs(7, 300, 60)
    texts = a + b + [x for p in REAL_PAIRS for x in p]
    got = bleu_tokens(pa.array(texts)).to_pylist()
    assert got == [_BLEU._preprocess_segment(t).split() for t in texts]


def test_bleu_real_pairs():
    h, r = zip(*REAL_PAIRS, strict=True)
    got = bleu(pa.array(h), pa.array(r))
    np.testing.assert_allclose(got, [_ref_bleu(x, y) for x, y in REAL_PAIRS], rtol=1e-12, atol=1e-9)
    assert got[REAL_PAIRS.index(("same", "same"))] == pytest.approx(100.0)


@pytest.mark.parametrize("seed,max_words", [(8, 8), (9, 60), (10, 400)])
def test_bleu_random_pairs_match_sacrebleu(seed, max_words):
    h, r = _random_pairs(seed, 200, max_words)
    got = bleu(pa.array(h), pa.array(r))
    np.testing.assert_allclose(got, [_ref_bleu(x, y) for x, y in zip(h, r, strict=True)], rtol=1e-12, atol=1e-9)


def test_bleu_short_and_brevity_cases():
    pairs = [
        ("a", "a"),
        ("a b", "a b c d e f"),
        ("a b c d e f", "a b"),
        ("x", "y"),
        ("a b c", "a b d"),
        ("a b c d", "a b c d"),
        ("a a a a a", "a"),
        ("b a", "a b"),
        ("", "a"),
        ("a", ""),
    ]
    h, r = zip(*pairs, strict=True)
    np.testing.assert_allclose(bleu(pa.array(h), pa.array(r)), [_ref_bleu(x, y) for x, y in pairs], rtol=1e-12, atol=1e-9)


def test_bleu_nulls_sliced_chunked(monkeypatch):
    h = pa.array([None, "the cat sat on the mat", "", "a b c d e", "the cat sat on the mat today"])
    r = pa.array(["x", None, "", "a b c d e", "the cat sat on a mat"])
    got = bleu(h, r)
    np.testing.assert_array_equal(got[:3], 0.0)
    assert got[3] == pytest.approx(100.0)
    assert got[4] == pytest.approx(_ref_bleu("the cat sat on the mat today", "the cat sat on a mat"), abs=1e-9)
    np.testing.assert_array_equal(bleu(h.slice(1), r.slice(1)), got[1:])
    monkeypatch.setattr(overlap, "_ROWS_PER_CHUNK", 2)
    np.testing.assert_allclose(bleu(h, r), got, rtol=0, atol=1e-12)


# ---- entropy -----------------------------------------------------------------------------


def _ref_entropy(text: str | None) -> tuple[float, float]:
    # pyarrow's utf8_lower, not str.lower: they differ on U+0130 ("i" vs "i" + dot) and final sigma.
    words = pc.utf8_lower(pa.array([text or ""]))[0].as_py().split()
    counts = Counter(words)
    n = len(words)
    h = -sum(c / n * math.log2(c / n) for c in counts.values()) if n else 0.0
    return h, (h / math.log2(n) if n >= 2 else 0.0)


def test_entropy_known_distributions():
    texts = ["a a b b", "a b c d", "x x x x", "a a a b", "One", "", None, "  ", "A a A a", "a b c d e f g h", "a b\nc\td"]
    h = token_entropy(pa.array(texts))
    want = [1.0, 2.0, 0.0, -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25)), 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 2.0]
    np.testing.assert_allclose(h, want, atol=1e-12)
    norm = normalized_token_entropy(pa.array(texts))
    np.testing.assert_allclose(norm, [0.5, 1.0, 0.0, want[3] / 2, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0], atol=1e-12)


def test_entropy_random_against_counter():
    rng = random.Random(11)
    texts = [_random_text(rng, rng.randint(0, 200)) for _ in range(300)] + [None, ""]
    arr = pa.array(texts)
    ref = [_ref_entropy(t) for t in texts]
    np.testing.assert_allclose(token_entropy(arr), [x for x, _ in ref], atol=1e-9)
    norm = normalized_token_entropy(arr)
    np.testing.assert_allclose(norm, [y for _, y in ref], atol=1e-9)
    assert ((norm >= 0) & (norm <= 1)).all()
    np.testing.assert_allclose(token_entropy(arr.slice(50, 100)), [x for x, _ in ref[50:150]], atol=1e-9)


def test_entropy_trailing_whitespace_last_row():
    """A row ending in whitespace (last in its buffer) must not gain an empty word."""
    arr = pa.array(["a b", "a a \n"])
    np.testing.assert_allclose(token_entropy(arr), [1.0, 0.0])
    np.testing.assert_allclose(token_entropy(arr.slice(1)), [0.0])


# ---- contamination ------------------------------------------------------------------------

BENCH = [
    "Marisol baked 36 muffins for the school fair on Friday, and then she baked a third as many on Saturday. "
    "How many muffins did Marisol bake over both days?",
    "Which of the following is the body cavity that contains the pituitary gland? Cranial, Thoracic, Pleural, Abdominal",
    "Short question with nine words in it today",  # 8 words: >= 13 // 2, indexed whole
    "Too short",  # < 6 words: not indexed
]
MARISOL = BENCH[0].split()


def test_contamination_13_word_overlap_positive_12_negative():
    idx = ContaminationIndex(BENCH)
    thirteen = " ".join(MARISOL[3:16])
    twelve = " ".join(MARISOL[3:15])
    rows = [
        f"Here is a training example: {thirteen} and some other words after it.",
        f"Here is a training example: {twelve} and some other words after it.",
        "MARISOL BAKED 36 MUFFINS, for the school fair on Friday -- and then: she baked a third!! as many",
        " ".join(MARISOL[:7]),  # 7 words of a long benchmark text: different hash length, no match
        BENCH[0],
        "Completely unrelated text about cooking pasta with tomatoes and basil in a large pot of water.",
    ]
    got = idx.matches(pa.array(rows))
    assert got[0] == 1
    assert got[1] == 0
    assert got[2] == 6  # case and punctuation do not matter: the benchmark's first 18 words -> six 13-grams
    assert got[3] == 0
    assert got[4] == len(MARISOL) - 12
    assert got[5] == 0


def test_contamination_short_texts_and_across_rows():
    idx = ContaminationIndex(BENCH)
    split_a = " ".join(MARISOL[:7])
    split_b = " ".join(MARISOL[7:13])
    rows = [split_a, split_b, "short question with NINE words, in it today!", "Too short", "too short", None, "", "   "]
    got = idx.matches(pa.array(rows))
    # An n-gram split across two rows is not found in either.
    assert got[0] == 0 and got[1] == 0
    # 8-word benchmark text matches the same 8 words as a whole row.
    assert got[2] == 1
    # Texts under n // 2 words are never indexed or matched.
    assert got[3] == 0 and got[4] == 0
    np.testing.assert_array_equal(got[5:], 0)
    assert idx.n == 13 and len(idx) == (len(MARISOL) - 12) + (len(BENCH[1].split()) - 12) + 1


def test_contamination_short_text_threshold_is_half_n():
    six = "alpha beta gamma delta epsilon zeta"
    five = "one two three four five"
    idx = ContaminationIndex(pa.array([six, five, None]))
    assert idx.n_texts == 2 and len(idx) == 1
    assert idx.matches(pa.array([six.upper(), five, six + " eta", "x " + six])).tolist() == [1, 0, 0, 0]


def test_contamination_sliced_chunked_and_small_n(monkeypatch):
    idx = ContaminationIndex(BENCH, n=5)
    rows = pa.array([None, "xx " + " ".join(MARISOL[10:15]) + " yy", "nothing here at all today", " ".join(MARISOL[:6])])
    got = idx.matches(rows)
    np.testing.assert_array_equal(got, [0, 1, 0, 2])
    np.testing.assert_array_equal(idx.matches(rows.slice(1, 2)), [1, 0])
    monkeypatch.setattr(overlap, "_ROWS_PER_CHUNK", 1)
    np.testing.assert_array_equal(idx.matches(rows), got)
    np.testing.assert_array_equal(ContaminationIndex(BENCH, n=5).hashes, idx.hashes)
    assert ContaminationIndex([]).matches(rows).tolist() == [0, 0, 0, 0]


def test_contamination_against_python_reference():
    """Counts equal a pure-Python n-gram set built on the same normalization."""
    from winnow.transforms.dedup.shingles import normalize

    rng = random.Random(12)
    bench = [_random_text(rng, rng.randint(3, 80)) for _ in range(60)]
    rows = [_random_text(rng, rng.randint(0, 80)) for _ in range(100)]
    rows += [bench[i][: len(bench[i]) // 2] + " filler words go here " + bench[i + 1] for i in range(20)]
    n = 6

    def grams(text: str) -> list[tuple[str, ...]]:
        toks = [t for t in normalize(pa.array([text])).to_pylist()[0].split(" ") if t]
        if len(toks) >= n:
            return [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]
        return [tuple(toks)] if len(toks) >= n // 2 else []

    index = {g for t in bench for g in grams(t)}
    want = [sum(g in index for g in grams(t)) for t in rows]
    got = ContaminationIndex(bench, n=n).matches(pa.array(rows))
    np.testing.assert_array_equal(got, want)
    assert sum(want) > 20


def test_contamination_from_files(tmp_path):
    jsonl = tmp_path / "gsm8k.jsonl"
    jsonl.write_text(
        json.dumps({"question": BENCH[0], "answer": "She baked 36 / 3 = 12 muffins on Saturday. #### 48", "id": "x1"})
        + "\n\n"
        + json.dumps(
            {"question": "A second question that is long enough to have a few thirteen word n grams in it", "answer": "1"}
        )
        + "\n"
    )
    array_json = tmp_path / "mmlu.json"
    record = {
        "question": BENCH[1],
        "choices": ["Cranial cavity of the human body in anatomy class today", "b"],
        "meta": {"source": "ignored source string that is also fairly long for a test"},
    }
    array_json.write_text(json.dumps({"data": [record]}))
    gz = tmp_path / "more.jsonl.gz"
    with gzip.open(gz, "wt") as f:
        f.write(
            json.dumps({"prompt": "gzipped benchmark prompt with exactly enough words to make two thirteen grams here ok"}) + "\n"
        )

    by_field = ContaminationIndex.from_files([jsonl, array_json], text_fields=["question"])
    assert by_field.matches(pa.array([BENCH[0], BENCH[1], "She baked 36 / 3 = 12 muffins on Saturday. #### 48"])).tolist() == [
        len(MARISOL) - 12,
        len(BENCH[1].split()) - 12,
        0,  # answers not indexed when only "question" is asked for
    ]
    one_field = ContaminationIndex.from_files([jsonl], text_fields="question")  # a bare string is one field
    np.testing.assert_array_equal(one_field.hashes, ContaminationIndex.from_files([jsonl], text_fields=["question"]).hashes)
    with_choices = ContaminationIndex.from_files([array_json], text_fields=["question", "choices"])
    assert with_choices.matches(pa.array(["Cranial cavity of the human body in anatomy class today"])).tolist() == [1]
    everything = ContaminationIndex.from_files([jsonl, array_json, gz])
    probe = pa.array(
        [
            "ignored source string that is also fairly long for a test",
            "gzipped benchmark prompt with exactly enough words to make two thirteen grams here ok",
            "She baked 36 / 3 = 12 muffins on Saturday. #### 48",
        ]
    )
    assert everything.matches(probe).tolist() == [1, 2, 1]
    assert everything.n_texts == 10
