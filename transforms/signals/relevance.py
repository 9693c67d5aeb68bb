"""How much each answer addresses the question it answers: IDF-weighted content-word overlap.

For every (prompt, answer) pair of a row (textviews.answer_pairs: each
assistant turn with the user and tool turns it answers), relevance is the
share of the prompt's informative weight that the answer mentions:

    relevance = sum of w(t) over distinct prompt terms t found in the answer
                / sum of w(t) over distinct prompt terms t

A term is a lower-cased word matched on its first 6 characters (a cheap
stem: "healthy" meets "health"; a word of 8+ characters also through its
last 6, so "houseplants" meets "plants"), a number, or one Han/Kana character. Its
weight w = max(0, 6.5 - Zipf) comes from wordfreq's frequency lists (an IDF
proxy: "the" weighs 0, "adjectives" 3.3, a word no list knows 6.5), the same
word lists the gibberish signal loads; numbers weigh 3.

A pair is judged only where overlap is evidence: the prompt carries at least
MIN_PROMPT_WEIGHT (about two content words) and the answer has at least
MIN_ANSWER_TERMS terms; a one-word answer ("Mars") to a question shares no
word with it and is still right. Translation and other cross-lingual rows
(a translation request, or prompt and answer confidently in different
languages) are not judged, with one exception: an answer written in
another script than its question (a Chinese question answered in Latin
letters, an English one in Han characters), when the question asks for no
translation or language and the answer holds no code, has relevance 0.
Someone who asks in Chinese expects a Chinese answer; an answer in the
wrong script is a mismatch (or an answer to another question) that word
overlap cannot see. A one-word answer from a closed set of labels
("Yes", "Positive", "increase") is judged too, though it is short: it
answers a question that offers that label (or its counterpart:
"positive or negative?"), asks to classify ("What is the sentiment
...?"), or, for yes/no and true/false, asks a yes/no question; a label given to any other question ("Are you made by X?" /
"Positive", a story request / "No") has relevance 0. Per row: the least relevant answer
(`answer_relevance`) and the mean (`answer_relevance_mean`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.arrow_bytes import utf8_buffer
from winnow.transforms.signals.base import Context, Signal
from winnow.transforms.signals.gibberish import SCRIPTS, SPECIAL_TOKENS, Lexicons, shared_lexicons, wordfreq_lang
from winnow.transforms.textviews import answer_pairs, per_row_worst_and_mean

MIN_PROMPT_WEIGHT = 4.0
MIN_ANSWER_TERMS = 8
STEM_CHARS = 6
COMPOUND_MIN_CHARS = 8
NUMBER_WEIGHT = 3.0
UNKNOWN_ZIPF_WEIGHT = 6.5
# Characters read per text: overlap shows early, and a 50-page context should not cost 50 pages.
MAX_PROMPT_CHARS = 4000
MAX_ANSWER_CHARS = 8000
TRANSLATION = r"(?i)translat|traduc|übersetz|翻译|翻譯|翻訳|переве|번역"
# A question that names a language (or asks for one) may be answered in it.
LANGUAGE_REQUEST = (
    r"(?i)\b(english|chinese|mandarin|cantonese|japanese|korean|spanish|french|german|italian|portuguese|russian|"
    r"arabic|hindi|hebrew|greek|turkish|dutch|polish|swedish|thai|vietnamese|indonesian|latin|pinyin|romaji|"
    r"language|languages|alphabet|transliterat\w*)\b|英语|英文|中文|汉语|漢語|普通话|粤语|日语|日文|日本語|韩语|韩文|"
    r"法语|德语|西班牙语|俄语|拼音|语言|言語|영어|한국어|английск|язык"
)
# A text's script (gibberish.SCRIPTS) is the one holding SCRIPT_SHARE of its letters.
# Closed sets of answer labels: an answer that is one of them needs a question offering the set.
LABEL_SETS = (
    ("yes", "no"),
    ("true", "false"),
    ("positive", "negative", "neutral", "mixed"),
    ("correct", "incorrect"),
    ("agree", "disagree"),
    ("increase", "decrease"),
    ("flattering", "unflattering"),
    ("satisfied", "dissatisfied"),
    ("valid", "invalid"),
    ("entailment", "contradiction", "neutral"),
    ("relevant", "irrelevant"),
    ("acceptable", "unacceptable"),
    ("grammatical", "ungrammatical"),
    ("formal", "informal"),
    ("fact", "opinion"),
)
YES_NO_LABELS = frozenset({"yes", "no", "true", "false", "correct", "incorrect"})
# A yes/no question: an auxiliary opening a question, "whether", "tell me if", or the choice spelled out.
YES_NO_QUESTION = (
    r"(?is)((^|[.!?\n:,]\s*)(is|are|am|was|were|do|does|did|can|could|will|would|should|shall|has|have|had|may|"
    r"might|must|isn't|aren't|doesn't|don't|didn't|won't|can't)\b[^?]*\?)|\bwhether\b|\b(tell me|determine|decide|"
    r"check|say|answer) if\b|yes or no|yes/no|true or false|true/false|是否|吗\s*[？?]|是不是|有没有|对不对"
)
# A question that asks to classify may be answered with any label.
CLASSIFY = (
    r"(?i)\b(classif\w*|label\w*|categor\w*|sentiment|tone|polarity|stance|attitude|emotion|opinion|choose|select|"
    r"pick|options?|which one)\b|分类|情感|情绪|类别|标签|选择"
)
SCRIPT_SHARE = 0.8
MIN_SCRIPT_LETTERS = 5
SCRIPT_CHARS = 2000
CODE = r"```|\b(def|function|return|import|class|SELECT|print|var|const)\b.*[(){};=]"
_CJK = r"([\p{Han}\p{Hiragana}\p{Katakana}])"

COLUMNS = ("answer_relevance", "answer_relevance_mean")


def terms(texts: pa.Array, max_chars: int) -> tuple[np.ndarray, pa.Array, pa.Array]:
    """(parent index, word, stem) of every term of every text; the stem is the word's first 6 characters."""
    lowered = pc.utf8_lower(pc.utf8_slice_codeunits(pc.fill_null(texts, ""), 0, max_chars))
    spaced = pc.replace_substring_regex(pc.replace_substring_regex(lowered, _CJK, r" \1 "), r"[^\p{L}\p{M}\p{N}]+", " ")
    lists = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(spaced))
    parents = pc.list_parent_indices(lists).to_numpy().astype(np.int64)
    words = lists.flatten()
    return parents, words, pc.utf8_slice_codeunits(words, 0, STEM_CHARS)


def term_weights(words: list[str], langs: list[str], lexicons: Lexicons) -> np.ndarray:
    """w = max(0, 6.5 - Zipf) per word, Zipf the highest over English and the batch's languages."""
    tables = [t for lang in dict.fromkeys(["en", *langs]) if (t := lexicons.get(wordfreq_lang(lang))) is not None]
    han: dict[str, float] | None = None  # Chinese and Japanese lists: read only when a batch has Han or Kana
    out = np.empty(len(words), dtype=np.float64)
    for i, word in enumerate(words):
        if word.isdigit():
            out[i] = NUMBER_WEIGHT
            continue
        zipf = max((t.get(word, 0.0) for t in tables), default=0.0)
        if len(word) == 1 and not word.isascii():
            han = lexicons.han_chars() if han is None else han
            zipf = max(zipf, han.get(word, 0.0))
        out[i] = UNKNOWN_ZIPF_WEIGHT if zipf == 0.0 else max(0.0, UNKNOWN_ZIPF_WEIGHT - zipf)
    return out


def compound_heads(words: pa.Array) -> pa.Array:
    """The last 6 characters of words of 8+ characters (null for shorter ones): a compound's head,
    so "houseplants" meets "plants" and "Hausaufgaben" meets "Aufgaben"-words through their stems."""
    long = pc.greater_equal(pc.utf8_length(words), COMPOUND_MIN_CHARS)
    return pc.if_else(long, pc.utf8_slice_codeunits(words, -STEM_CHARS), pa.scalar(None, pa.string()))


def _tail_keys(rows: np.ndarray, tail_ids: np.ndarray, tails: pa.Array, vocab: int) -> np.ndarray:
    """row x vocab + head id per token, -1 where the word has no head (it matches nothing)."""
    valid = pc.is_valid(tails).to_numpy(zero_copy_only=False)
    return np.where(valid, rows * vocab + tail_ids, -1)


def _distinct_terms(rows: np.ndarray, stem_ids: np.ndarray, vocab: int) -> tuple[np.ndarray, np.ndarray]:
    """(key = row x vocab + stem, index of its first token) of every distinct (row, stem)."""
    return np.unique(rows * vocab + stem_ids, return_index=True)


def pair_relevance(prompt: pa.Array, answer: pa.Array, langs: list[str], lexicons: Lexicons) -> np.ndarray:
    """Relevance of each (prompt, answer) pair; NaN where it is not judged.

    The larger of two shares: of the question's weight that the answer
    mentions (an essay on the asked topic), and of the answer's weight that
    the question holds (a summary of a long passage mentions a small share
    of the passage, but its own words come from it). Terms match by stem;
    a term weighs what its first word in that text weighs.
    """
    n = len(prompt)
    if n == 0:
        return np.zeros(0)
    p_rows, p_words, p_stems = terms(prompt, MAX_PROMPT_CHARS)
    a_rows, a_words, a_stems = terms(answer, MAX_ANSWER_CHARS)
    p_tails, a_tails = compound_heads(p_words), compound_heads(a_words)
    stems = pc.dictionary_encode(pa.chunked_array([p_stems, a_stems, p_tails, a_tails], pa.string())).combine_chunks()
    ids = pc.fill_null(stems.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)  # null: a word without a head
    vocab = len(stems.dictionary) + 1
    np_, na = len(p_stems), len(a_stems)
    p_keys, p_first = _distinct_terms(p_rows, ids[:np_], vocab)
    a_keys, a_first = _distinct_terms(a_rows, ids[np_ : np_ + na], vocab)
    p_tail_keys = _tail_keys(p_rows, ids[np_ + na : 2 * np_ + na], p_tails, vocab)[p_first]
    a_tail_keys = _tail_keys(a_rows, ids[2 * np_ + na :], a_tails, vocab)[a_first]
    # Weights of the first word of each distinct term, each distinct word looked up once.
    firsts = pa.chunked_array([p_words.take(pa.array(p_first)), a_words.take(pa.array(a_first))], pa.string())
    words = pc.dictionary_encode(firsts).combine_chunks()
    weights = term_weights(words.dictionary.to_pylist(), langs, lexicons)[words.indices.to_numpy(zero_copy_only=False)]
    p_w, a_w = weights[: len(p_first)], weights[len(p_first) :]
    p_r, a_r = p_rows[p_first], a_rows[a_first]
    p_found = np.isin(p_keys, a_keys) | np.isin(p_tail_keys, a_keys)
    a_found = np.isin(a_keys, p_keys) | np.isin(a_tail_keys, p_keys)
    p_total = np.bincount(p_r, weights=p_w, minlength=n)[:n]
    a_total = np.bincount(a_r, weights=a_w, minlength=n)[:n]
    p_hit = np.bincount(p_r, weights=p_w * p_found, minlength=n)[:n]
    a_hit = np.bincount(a_r, weights=a_w * a_found, minlength=n)[:n]
    answer_terms = np.bincount(a_rows, minlength=n)[:n]
    judged = (p_total >= MIN_PROMPT_WEIGHT) & (answer_terms >= MIN_ANSWER_TERMS)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.maximum(p_hit / np.maximum(p_total, 1e-12), a_hit / np.maximum(a_total, 1e-12))
    return np.where(judged, share, np.nan)


def cross_lingual(cols: dict[str, Any], n: int) -> np.ndarray:
    """Rows whose prompt and answer are confidently in different languages (False without language ID)."""
    needed = ("lang_instruction", "lang_response", "lang_instruction_score", "lang_response_score")
    if not all(c in cols for c in needed):
        return np.zeros(n, dtype=bool)
    differ = pc.fill_null(pc.not_equal(cols["lang_instruction"], cols["lang_response"]), False)
    sure = pc.and_(
        pc.fill_null(pc.greater_equal(cols["lang_instruction_score"], 0.6), False),
        pc.fill_null(pc.greater_equal(cols["lang_response_score"], 0.6), False),
    )
    return pc.and_(differ, sure).to_numpy(zero_copy_only=False)


def latin_letters(texts: pa.Array) -> np.ndarray:
    """Latin letters per text, counted on the UTF-8 bytes: A-Z, a-z, and the two-byte letters
    U+00C0-U+027F (lead bytes C3-C9). A regex count of \\p{Latin} costs a match per letter."""
    buf, offsets = utf8_buffer(texts)
    folded = buf | 0x20
    letter = ((folded >= ord("a")) & (folded <= ord("z"))) | ((buf >= 0xC3) & (buf <= 0xC9))
    running = np.concatenate(([0], np.cumsum(letter.view(np.uint8), dtype=np.int64)))  # bool cumsum is 8x slower
    return running[offsets[1:]] - running[offsets[:-1]]


def main_script(texts: pa.Array) -> np.ndarray:
    """Index into SCRIPTS of the script holding SCRIPT_SHARE of each text's letters (its first
    SCRIPT_CHARS characters), -1 for mixed text or fewer than MIN_SCRIPT_LETTERS letters."""
    head = pc.utf8_slice_codeunits(pc.fill_null(texts, ""), 0, SCRIPT_CHARS)
    other = [pc.count_substring_regex(head, p).to_numpy(zero_copy_only=False) for p in SCRIPTS[1:]]
    counts = np.stack([latin_letters(head), *other], axis=1)
    total = counts.sum(axis=1)
    best = counts.argmax(axis=1)
    clear = (total >= MIN_SCRIPT_LETTERS) & (counts[np.arange(len(best)), best] >= SCRIPT_SHARE * np.maximum(total, 1))
    return np.where(clear, best, -1)


def script_switch(prompt: pa.Array, answer: pa.Array) -> np.ndarray:
    """Pairs whose answer is written in another script than its question, which asks for no language and
    gets no code (see the module doc)."""
    sp, sa = main_script(prompt), main_script(answer)

    def matches(arr: pa.Array, pattern: str) -> np.ndarray:
        return pc.match_substring_regex(pc.fill_null(arr, ""), pattern).to_numpy(zero_copy_only=False)

    asks = matches(prompt, TRANSLATION) | matches(prompt, LANGUAGE_REQUEST)
    return (sp >= 0) & (sa >= 0) & (sp != sa) & ~asks & ~matches(answer, CODE)


def unasked_label(prompt: pa.Array, answer: pa.Array) -> np.ndarray:
    """Pairs whose answer is a label of LABEL_SETS that the question neither offers nor, for yes/no, asks for."""
    bare = pc.utf8_lower(pc.utf8_trim(pc.replace_substring_regex(pc.fill_null(answer, ""), SPECIAL_TOKENS, ""), " \t\n.!\"'"))
    labels = sorted({w for group in LABEL_SETS for w in group})
    is_label = pc.is_in(bare, value_set=pa.array(labels)).to_numpy(zero_copy_only=False)
    out = np.zeros(len(answer), dtype=bool)
    rows = np.flatnonzero(is_label)
    if not len(rows):
        return out
    asked = pc.utf8_lower(pc.fill_null(prompt, "")).take(pa.array(rows))
    said = bare.take(pa.array(rows))

    def among(words: Iterable[str]) -> np.ndarray:
        return pc.is_in(said, value_set=pa.array(sorted(words))).to_numpy(zero_copy_only=False)

    offered = np.zeros(len(rows), dtype=bool)
    for group in LABEL_SETS:
        mine = among(group)
        if mine.any():
            hit = pc.match_substring_regex(asked, r"\b(" + "|".join(group) + r")\b").to_numpy(zero_copy_only=False)
            offered |= mine & hit
    yes_no = among(YES_NO_LABELS) & pc.match_substring_regex(asked, YES_NO_QUESTION).to_numpy(zero_copy_only=False)
    classify = pc.match_substring_regex(asked, CLASSIFY).to_numpy(zero_copy_only=False)
    out[rows] = ~offered & ~yes_no & ~classify
    return out


def relevance_signals(ctx: Context) -> dict[str, Any]:
    batch = ctx.batch
    n = batch.num_rows
    pairs = answer_pairs(batch)
    langs = [x for x in pc.unique(pc.fill_null(ctx.cols["lang"], "en")).to_pylist() if x] if "lang" in ctx.cols else []
    values = pair_relevance(pairs.prompt, pairs.answer, langs, ctx.resource)
    exempt = cross_lingual(ctx.cols, n)[pairs.rows] | pc.match_substring_regex(pairs.prompt, TRANSLATION).to_numpy(
        zero_copy_only=False
    )
    values = np.where(exempt, np.nan, values)
    values = np.where(script_switch(pairs.prompt, pairs.answer) | unasked_label(pairs.prompt, pairs.answer), 0.0, values)
    worst, mean = per_row_worst_and_mean(pairs.rows, values, n, "min")
    return {
        "answer_relevance": pa.array(worst, pa.float32(), from_pandas=True),
        "answer_relevance_mean": pa.array(mean, pa.float32(), from_pandas=True),
    }


ANSWER_RELEVANCE = Signal(
    name="answer_relevance",
    label="answer relevance",
    cost="moderate",
    switch="signals.answer_relevance",
    enabled=lambda config: config.signal_options("answer_relevance") is not False,
    columns=lambda config: [pa.field(name, pa.float32()) for name in COLUMNS],
    compute=relevance_signals,
    means=COLUMNS,
    load=lambda config: shared_lexicons(),
    options=bool,
    summary="IDF-weighted share of each question's content words that its answer mentions (worst and mean per row)",
)
