"""Gibberish in the response: unknown words, a low unigram likelihood, symbol soup, mixed-script words.

Word lists come from wordfreq (shipped inside the package, no download):
per language, a lexicon of every listed word and its Zipf frequency, built
once per worker on first use. Fenced code blocks, inline code, URLs and
numbers are removed first, so code answers, links and arithmetic do not
count against a response. Everything runs as a few Arrow passes over the
flattened words of a batch; the only per-row Python is none.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.arrow_bytes import one_array
from winnow.transforms.signals.base import Context, Signal

# fastText (lid.176) codes whose wordfreq list has another name.
_LANG_ALIASES = {"no": "nb", "nn": "nb", "sr": "sh", "hr": "sh", "bs": "sh", "tl": "fil", "zsm": "ms"}
# Scripts written without spaces between words: a whitespace token is not a word there.
_NO_SPACE_LANGS = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "wuu", "yue"})
# The script a language's words are written in; tokens in another script are not judged against its list.
_SCRIPT = {
    **dict.fromkeys(("ru", "uk", "bg", "mk"), "Cyrillic"),
    "el": "Greek",
    **dict.fromkeys(("ar", "fa", "ur"), "Arabic"),
    "he": "Hebrew",
    "hi": "Devanagari",
    "bn": "Bengali",
    "ta": "Tamil",
    "ko": "Hangul",
}
# Letters of scripts that mix with Latin inside one token as a matter of course ("Python을", "使用Python").
_EAST_ASIAN = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\p{Tibetan}"
# Alphabetic scripts: two of them inside one letter run is a homoglyph or junk marker.
_ALPHABETS = ("Latin", "Cyrillic", "Arabic", "Hebrew", "Devanagari", "Armenian", "Georgian", "Bengali", "Tamil")

_FENCED = r"(?s)```.*?(```|$)|~~~.*?(~~~|$)"
# Writing systems, Latin first: a text's script (signals.relevance) and script soup (strip_noise).
SCRIPTS = (
    r"\p{Latin}",
    r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]",
    r"\p{Cyrillic}",
    r"\p{Arabic}",
    r"\p{Greek}",
    r"\p{Hebrew}",
    r"\p{Devanagari}",
    r"\p{Thai}",
)
SOUP_SCRIPTS = 3
_INLINE_CODE = r"`[^`\n]*`"
URL = r"(?i)\b(https?://|www\.)\S+"
# Chat-template and tokenizer tokens are format debris (special_token_debris flags them), not words.
SPECIAL_TOKENS = r"<\|[a-z_]+\|>|\[/?INST\]|<</?SYS>>|</?s>"
_NUMERIC_TOKEN = r"^[^\p{L}]*\p{N}[^\p{L}]*$"
# Symbol-only tokens that prose and Markdown use: ellipses, dashes, emphasis and heading marks, table rules.
_BENIGN_SYMBOLS = r"^([.…]+[?!]*|[-–—=_*#>]+|\*\*[.,:;!?]?|[?!]+|\|?(\s*:?-+:?\s*\|)+\s*:?-*:?|\(\)|\[\]|\{\}|\*\*:|\.\)|[\"'“”‘’«»]+[.,:;!?]*|[.,:;!?]+[\"'“”‘’«»)\]]+[.,:;!?]*)$"

COLUMNS = (
    ("response_known_word_frac", pa.float32()),
    ("response_mean_zipf", pa.float32()),
    ("response_symbol_soup_frac", pa.float32()),
    ("response_mixed_script_words", pa.int32()),
)


class Lexicons:
    """wordfreq word lists as word -> Zipf dicts, loaded per language on first use.

    A batch looks up its distinct words only (dictionary-encoded), so the
    Python work is per distinct word, not per row; an Arrow `index_in` would
    rebuild a 300k-word hash table for every batch.
    """

    def __init__(self) -> None:
        self._cache: dict[str, dict[str, float] | None] = {}

    def get(self, lang: str) -> dict[str, float] | None:
        if lang not in self._cache:
            self._cache[lang] = _load_lexicon(lang)
        return self._cache[lang]

    def han_chars(self) -> dict[str, float]:
        """Zipf of single Han and Kana characters (wordfreq's Chinese and Japanese lists)."""
        if "han" not in self._cache:
            import wordfreq

            table: dict[str, float] = {}
            for lang in ("zh", "ja"):
                for i, words in enumerate(wordfreq.get_frequency_list(lang, "best")):
                    for word in words:
                        if len(word) == 1:
                            table.setdefault(word, max(9.0 - i / 100, 0.0))
            self._cache["han"] = table
        return self._cache["han"] or {}


@functools.cache
def shared_lexicons() -> Lexicons:
    """One Lexicons per worker process, shared by the signals that read word lists."""
    return Lexicons()


def _load_lexicon(lang: str) -> dict[str, float] | None:
    import wordfreq  # heavy word lists: imported when a worker first needs one

    if lang in _NO_SPACE_LANGS or lang not in wordfreq.available_languages("best"):
        return None
    # The list holds words by centibel bucket: bucket i has frequency 10**(-i/100), so Zipf
    # (log10 of the frequency per billion words) is 9 - i/100; read directly, no float per word.
    lexicon: dict[str, float] = {}
    for i, words in enumerate(wordfreq.get_frequency_list(lang, "best")):
        lexicon.update(dict.fromkeys(words, max(9.0 - i / 100, 0.0)))  # a bucket at C speed, not a word at a time
    return lexicon


def _lookup(words: pa.Array, lexicon: dict[str, float], fallback: dict[str, float] | None) -> np.ndarray:
    """Zipf of each word (0 for unknown words), looking up each distinct word once."""
    encoded = one_array(pc.dictionary_encode(words))
    distinct = encoded.dictionary.to_pylist()
    if fallback is None:
        scores = [lexicon.get(w, 0.0) for w in distinct]
    else:
        scores = [lexicon.get(w) or fallback.get(w, 0.0) for w in distinct]
    return np.asarray(scores, dtype=np.float64)[encoded.indices.to_numpy(zero_copy_only=False)]


def wordfreq_lang(lang: str) -> str:
    """The wordfreq list name for a language code (fastText's `lang`), e.g. `no` -> `nb`."""
    return _LANG_ALIASES.get(lang, lang)


def script_soup(texts: pa.Array) -> np.ndarray:
    """Texts holding SOUP_SCRIPTS or more non-Latin scripts (2+ letters each): no code, and almost no prose,
    is written so; token soup is, and wrapping it in a code fence must not hide it."""
    filled = pc.fill_null(texts, "")
    present = [pc.count_substring_regex(filled, p).to_numpy(zero_copy_only=False) >= 2 for p in SCRIPTS[1:]]
    return np.sum(present, axis=0) >= SOUP_SCRIPTS if present else np.zeros(len(texts), dtype=bool)


def strip_noise(texts: pa.Array, special_tokens: bool = True) -> pa.Array:
    """Texts without fenced code blocks, inline code, URLs and (unless asked not to) special tokens; nulls become empty.

    A fenced block is kept in a text of several non-Latin scripts (script_soup): that is not code.
    """
    out = pc.fill_null(texts, "")
    soup = script_soup(out)
    for pattern in (_FENCED, _INLINE_CODE, URL, *([SPECIAL_TOKENS] if special_tokens else [])):
        stripped = pc.replace_substring_regex(out, pattern, " ")
        out = pc.if_else(pa.array(soup), out, stripped) if pattern == _FENCED and soup.any() else stripped
    return out


def _per_row(parents: np.ndarray, weights: np.ndarray | None, n: int) -> np.ndarray:
    return np.bincount(parents, weights=weights, minlength=n)[:n]


def word_stats(cleaned: pa.Array, langs: pa.Array, lexicons: Lexicons) -> dict[str, np.ndarray]:
    """Known-word share and mean Zipf frequency of each text's words in its language (NaN: not judged).

    Words are letter runs (apostrophes inside kept), lower-cased, in the
    language's script; in a Latin-script language other than English, a word
    of the English list counts as known too (with its English Zipf). A row is not
    judged when its language has no wordfreq list or is written without
    spaces, or when none of its words is in its language's script.
    """
    n = len(cleaned)
    lowered = pc.replace_substring(pc.replace_substring(pc.utf8_lower(cleaned), "’", "'"), "ß", "ss")
    lists = pc.utf8_split_whitespace(pc.replace_substring_regex(lowered, r"[^\p{L}\p{M}']+", " "))
    parents = pc.list_parent_indices(lists).to_numpy()
    words = pc.utf8_trim(lists.flatten(), "'")
    counted = np.zeros(n, dtype=np.float64)
    known = np.zeros(n, dtype=np.float64)
    zipf_sum = np.zeros(n, dtype=np.float64)
    judged = np.zeros(n, dtype=bool)
    encoded = pc.dictionary_encode(pc.fill_null(langs, "en"))
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    word_codes = codes[parents] if len(parents) else np.zeros(0, dtype=codes.dtype)
    for code, lang in enumerate(encoded.dictionary.to_pylist()):
        lexicon = lexicons.get(wordfreq_lang(lang or "en"))
        if lexicon is None:
            continue
        judged |= codes == code
        script = _SCRIPT.get(wordfreq_lang(lang or "en"), "Latin")
        sel = word_codes == code
        if not sel.any():
            continue
        mine = words.filter(pa.array(sel))
        in_script = pc.match_substring_regex(mine, rf"^[\p{{{script}}}\p{{M}}']+$").to_numpy(zero_copy_only=False)
        rows = parents[sel][in_script]
        # English words in another Latin-script language (loanwords, terms, a misidentified row) are words too.
        english = lexicons.get("en") if script == "Latin" and wordfreq_lang(lang or "en") != "en" else None
        scores = _lookup(mine.filter(pa.array(in_script)), lexicon, english) if len(rows) else np.zeros(0)
        hit = scores > 0
        counted += _per_row(rows, None, n)
        known += _per_row(rows, hit.astype(np.float64), n)
        zipf_sum += _per_row(rows, scores, n)
    judged &= counted > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        known_frac = np.where(judged, known / np.maximum(counted, 1), np.nan)
        mean_zipf = np.where(judged, zipf_sum / np.maximum(counted, 1), np.nan)
    return {"known_word_frac": known_frac, "mean_zipf": mean_zipf}


def symbol_soup_frac(cleaned: pa.Array) -> np.ndarray:
    """Share of whitespace tokens (numbers left out) made of 2+ symbols and at most one letter or digit.

    Ellipses, dashes, Markdown emphasis/heading marks, table rules and quotes
    around punctuation are prose, not soup. A row without tokens has share 0.
    """
    n = len(cleaned)
    lists = pc.utf8_split_whitespace(cleaned)
    parents = pc.list_parent_indices(lists).to_numpy()
    tokens = lists.flatten()
    numeric = pc.match_substring_regex(tokens, _NUMERIC_TOKEN).to_numpy(zero_copy_only=False)
    length = pc.utf8_length(tokens).to_numpy(zero_copy_only=False)
    alnum = length - pc.utf8_length(pc.replace_substring_regex(tokens, r"[\p{L}\p{N}\p{M}]+", "")).to_numpy(zero_copy_only=False)
    benign = pc.match_substring_regex(tokens, _BENIGN_SYMBOLS).to_numpy(zero_copy_only=False)
    soup = (length - alnum >= 2) & (alnum <= 1) & ~benign & ~numeric
    total = _per_row(parents, (~numeric).astype(np.float64), n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, _per_row(parents, soup.astype(np.float64), n) / np.maximum(total, 1), 0.0)


def mixed_script_words(cleaned: pa.Array) -> np.ndarray:
    """Letter runs that mix two alphabetic scripts (Latin + Cyrillic, Latin + Arabic, Cyrillic + Greek ...).

    East Asian letters beside Latin ("使用Python", "Python을") are ordinary
    writing and do not count; neither does one Greek letter in a Latin word
    ("Δx", "μm"), which is notation. Han + Cyrillic and the like do.
    """
    n = len(cleaned)
    lists = pc.utf8_split_whitespace(pc.replace_substring_regex(cleaned, r"[^\p{L}\p{M}]+", " "))
    parents = pc.list_parent_indices(lists).to_numpy()
    words = lists.flatten()
    # Only words with letters from two scripts can mix: skip the pure-Latin majority cheaply.
    candidate = pc.match_substring_regex(words, r"^[\p{Latin}\p{M}]+$").to_numpy(zero_copy_only=False)
    sel = ~candidate
    words = words.filter(pa.array(sel))
    parents = parents[sel]

    def has(pattern: str) -> np.ndarray:
        return pc.match_substring_regex(words, pattern).to_numpy(zero_copy_only=False).astype(np.int32)

    scripts = sum(has(rf"\p{{{s}}}") for s in _ALPHABETS)
    east_asian = has(f"[{_EAST_ASIAN}]")
    greek = has(r"\p{Greek}")
    greek_letters = has(r"\p{Greek}[^\p{Greek}]*\p{Greek}")
    latin = has(r"\p{Latin}")
    cyrillic = has(r"\p{Cyrillic}")
    # Greek counts beside Latin only with 2+ Greek letters; beside any other script always.
    greek_counts = np.where(latin & (1 - cyrillic), greek_letters, greek)
    # East Asian letters count beside a non-Latin alphabet, not beside Latin.
    east_counts = east_asian * (scripts - latin > 0)
    mixed = (np.asarray(scripts) + greek_counts + east_counts) >= 2
    return _per_row(parents, mixed.astype(np.float64), n).astype(np.int32)


def gibberish_signals(ctx: Context) -> dict[str, Any]:
    cleaned = strip_noise(ctx.batch.column("response"))
    n = len(cleaned)
    langs = ctx.cols.get("lang")
    langs = pa.array(["en"] * n, pa.string()) if langs is None else pc.if_else(pc.equal(pc.fill_null(langs, ""), ""), "en", langs)
    stats = word_stats(cleaned, langs, ctx.resource)
    return {
        "response_known_word_frac": pa.array(stats["known_word_frac"], pa.float32(), from_pandas=True),
        "response_mean_zipf": pa.array(stats["mean_zipf"], pa.float32(), from_pandas=True),
        "response_symbol_soup_frac": pa.array(symbol_soup_frac(cleaned), pa.float32()),
        "response_mixed_script_words": pa.array(mixed_script_words(cleaned), pa.int32()),
    }


GIBBERISH = Signal(
    name="gibberish",
    label="gibberish",
    cost="expensive",
    switch="signals.gibberish",
    enabled=lambda config: config.signal_options("gibberish") is not False,
    columns=lambda config: [pa.field(name, type_) for name, type_ in COLUMNS],
    compute=gibberish_signals,
    means=("response_known_word_frac", "response_symbol_soup_frac"),
    load=lambda config: shared_lexicons(),
    options=bool,
    summary="known-word share and mean Zipf frequency (wordfreq), symbol soup and mixed-script words of the response",
)
