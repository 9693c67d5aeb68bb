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
"Positive", a story request / "No") has relevance 0.

Two more mismatches that word overlap cannot see have relevance 0. A tool
call written inline in a prose answer, toolformer-style (`The weather is
weather('Paris today').`), to a tool its question never names: tool-use
prompts list the tools they offer, so a call to another one answers
another prompt (code answers are left alone: their calls are code). And an
identity question ("Who are you?", "Who trained you?", "你是谁") answered
without saying who answers (no "I am", "my name", "call me", "I was
trained", "assistant", "model", "我是"): whatever else it says, it does not
say who answers (a first-person story, "it is a pleasure to share my
insights", does not either). So is a greeting, thanks or farewell ("Hi", "Thanks",
"您好") answered without greeting, thanking, welcoming or offering help. A
short question put to the assistant whose answer speaks in the first
person or of the assistant is not judged on overlap: "Are you based on GPT-3?" / "No, I'm Lumen,
made by the Lantern Lab." shares no content word and is right.
Per row: the least relevant answer
(`answer_relevance`) and the mean (`answer_relevance_mean`).
"""

from __future__ import annotations

import re
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
# A prompt that is only a greeting, thanks or farewell, and the words of a reply to one.
SOCIAL_PROMPT = (
    r"(?i)^[^\p{L}\p{N}]*(hi|hello|hey|hiya|yo|howdy|greetings|good (morning|afternoon|evening|night|day)|what'?s up|what is up|"
    r"sup|how are you( doing)?( today)?|how'?s it going|thanks?( you)?( so much| very much| a lot)?|thx|ty|cheers|bye|"
    r"good ?bye|see you( later| soon)?|have a (nice|good|great) (day|one|evening|night|weekend)|"
    r"你好|您好|嗨|哈喽|谢谢|多谢|再见|拜拜|早上好|晚上好|下午好)( there| again| friend| everyone| all|啊|呀|哦|吗)?[^\p{L}\p{N}]*$"
)
SOCIAL_REPLY = (
    r"(?i)\b(hi|hello|hey|welcome|glad|happy|pleasure|no problem|anytime|bye|goodbye|see you|take care|help|"
    r"assist|thank|thanks|you too|same to you|doing (well|great|fine)|i'm (fine|good|great|well)|good (morning|"
    r"afternoon|evening|night|day)|nice|great|cheers)\b|你好|您好|不客气|再见|帮|谢|欢迎|高兴|荣幸|拜拜|早上好|晚上好|你也|您也"
)
NOT_A_LANGUAGE_REQUEST = r"(?i)\b(natural|programming|query|markup|scripting|formal|plain|body|sign) languages?\b"
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
# A Han, Kana or Hangul character carries about what three Latin letters do (a syllable or a word, not a
# sound): counted as such, a Chinese answer naming "GPT (Generative Pretrained Transformer)" stays Chinese.
CJK_LETTER_WEIGHT = 3
MIN_SCRIPT_LETTERS = 5
SCRIPT_CHARS = 2000
CODE = r"```|\b(def|function|return|import|class|SELECT|print|var|const)\b.*[(){};=]"
_CJK = r"([\p{Han}\p{Hiragana}\p{Katakana}])"
# A tool called inline with a quoted argument: wolfram('2+2'), search("news").
INLINE_CALL = r"(^|[^\w.])([A-Za-z_]\w*)\(['\"]"
# A short question about the assistant itself: who it is, its name, who made it.
IDENTITY_QUESTION = (
    r"(?i)^[^\p{L}\p{N}]*(who|what)\s+(are|r)\s+(you|u)\b|\byour name\b|\bintroduce yourself\b|\btell me about yourself\b|"
    r"\b(who|which company|what company)\s+(made|created|trained|developed|built|designed|programmed|owns)\s+you\b|"
    r"\bare you\s+(made|created|trained|developed|built|designed|programmed|owned)\s+by\b|"
    r"^[^\p{L}\p{N}]*are you\s+(a |an |the )?[\w.-]+( [\w.-]+)?\s*\?\s*$|"
    r"你是谁|您是谁|你叫什么|你的名字|谁(开发|创造|创建|训练|制作|设计)了你|你是.{0,12}(开发|训练|制作|创造|设计)的"
)
IDENTITY_MAX_CHARS = 80
# A short question put to the assistant ("Are you based on GPT-3?", "Do you call Google APIs?").
ADDRESSED = r"(?i)\b(you|your|yourself)\b|你|您"
# How an answer speaks as the one answering: first person, or naming what it is.
SELF_REFERENCE = (
    r"(?i)\b(i|i'm|i've|i'd|i'll|im|me|my|mine|myself|we|our|us)\b|\b(assistant|chatbot|bot|model|ai|"
    r"language model|program)\b|我|咱|本人|助手|模型|人工智能"
)
# How an answer says who answers: "I am", "my name", "call me", "I was trained", or what it is (in Chinese,
# any first person).
SELF_DESCRIPTION = (
    r"(?i)\b(i am|i'm|im|i was|i have been|i've been|my name|call me|we are|i do not|i don't|i can|i cannot|i can't)\b|"
    r"\b(assistant|chatbot|bot|language model|ai|artificial intelligence|model)\b|我|本人|助手|模型|人工智能"
)

# An answer that opens in a persona ("As Albert Einstein, I ...") or as a letter ("Dear Samson, ...") speaks as
# someone else, or to someone: not as the assistant about itself.
PERSONA_OPENING = (
    r"^\s*((As|Als|Como|En tant que)\s+\p{Lu}[\p{L}.'-]*(\s+\p{Lu}[\p{L}.'-]*)*\s*,|(Dear|My dear)\s+\p{Lu}[^\n,]{0,40},)"
)

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


def main_script(texts: pa.Array, cjk_weight: int = 1) -> np.ndarray:
    """Index into SCRIPTS of the script holding SCRIPT_SHARE of each text's letters (its first
    SCRIPT_CHARS characters; a CJK character weighs `cjk_weight` letters), -1 for mixed text or fewer
    than MIN_SCRIPT_LETTERS letters."""
    head = pc.utf8_slice_codeunits(pc.fill_null(texts, ""), 0, SCRIPT_CHARS)
    other = [pc.count_substring_regex(head, p).to_numpy(zero_copy_only=False) for p in SCRIPTS[1:]]
    counts = np.stack([latin_letters(head), *other], axis=1)
    counts[:, 1] *= cjk_weight  # SCRIPTS[1]: Han, Kana, Hangul
    total = counts.sum(axis=1)
    best = counts.argmax(axis=1)
    clear = (total >= MIN_SCRIPT_LETTERS) & (counts[np.arange(len(best)), best] >= SCRIPT_SHARE * np.maximum(total, 1))
    return np.where(clear, best, -1)


def script_switch(prompt: pa.Array, answer: pa.Array) -> np.ndarray:
    """Pairs whose answer is written in another script than its question, which asks for no language and
    gets no code (see the module doc)."""
    # The answer's script is read fairly (CJK_LETTER_WEIGHT); the question's as letters, so that a Chinese
    # question quoting English words ("happy" 的同义词) stays mixed and is not judged.
    sp, sa = main_script(prompt), main_script(answer, CJK_LETTER_WEIGHT)

    def matches(arr: pa.Array, pattern: str) -> np.ndarray:
        return pc.match_substring_regex(pc.fill_null(arr, ""), pattern).to_numpy(zero_copy_only=False)

    # "a question in natural language", "a programming language" name no language to answer in.
    named = pc.replace_substring_regex(pc.fill_null(prompt, ""), NOT_A_LANGUAGE_REQUEST, "")
    asks = matches(prompt, TRANSLATION) | matches(named, LANGUAGE_REQUEST)
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


def unoffered_tool(prompt: pa.Array, answer: pa.Array) -> np.ndarray:
    """Pairs whose prose answer calls a tool inline (`wolfram('...')`) that its question never names."""
    answers = pc.fill_null(answer, "")
    calls = pc.match_substring_regex(answers, INLINE_CALL).to_numpy(zero_copy_only=False)
    calls &= ~pc.match_substring_regex(answers, CODE).to_numpy(zero_copy_only=False)
    out = np.zeros(len(answer), dtype=bool)
    rows = np.flatnonzero(calls)  # names compared in Python: ~130k rows/s where every row calls a tool
    for i, said, asked in zip(rows, answers.take(pa.array(rows)).to_pylist(), prompt.take(pa.array(rows)).to_pylist()):
        names = {m.group(2) for m in re.finditer(INLINE_CALL, said)}
        out[i] = not any(re.search(rf"\b{re.escape(name)}\b", asked or "") for name in names)
    return out


def identity_answers(prompt: pa.Array, answer: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(answered, unanswered) per pair: a short question put to the assistant ("Are you based on GPT-3?")
    whose answer speaks in the first person or of the assistant, and an identity question ("Who are
    you?") whose non-empty answer never says who answers ("I am", "my name", "assistant", "我"). An answer
    that opens in a persona or as a letter (PERSONA_OPENING) speaks as someone else, or to someone."""
    asked = pc.fill_null(prompt, "")
    short = pc.less_equal(pc.utf8_length(pc.utf8_trim_whitespace(asked)), IDENTITY_MAX_CHARS).to_numpy(zero_copy_only=False)
    addressed = short & pc.match_substring_regex(asked, ADDRESSED).to_numpy(zero_copy_only=False)
    identity = addressed & pc.match_substring_regex(asked, IDENTITY_QUESTION).to_numpy(zero_copy_only=False)
    said = pc.replace_substring_regex(pc.fill_null(answer, ""), SPECIAL_TOKENS, "")
    spoken = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(said)), 0).to_numpy(zero_copy_only=False)
    persona = pc.match_substring_regex(said, PERSONA_OPENING).to_numpy(zero_copy_only=False)
    speaks_as_self = pc.match_substring_regex(said, SELF_REFERENCE).to_numpy(zero_copy_only=False) & ~persona
    says_who = pc.match_substring_regex(said, SELF_DESCRIPTION).to_numpy(zero_copy_only=False) & ~persona
    return addressed & speaks_as_self, identity & spoken & ~says_who


def social_unanswered(prompt: pa.Array, answer: pa.Array) -> np.ndarray:
    """Pairs whose prompt is only a greeting, thanks or farewell and whose non-empty answer neither greets,
    thanks, welcomes nor offers help ("Thanks" / a worked arithmetic problem)."""
    social = pc.match_substring_regex(pc.fill_null(prompt, ""), SOCIAL_PROMPT).to_numpy(zero_copy_only=False)
    said = pc.replace_substring_regex(pc.fill_null(answer, ""), SPECIAL_TOKENS, "")
    spoken = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(said)), 0).to_numpy(zero_copy_only=False)
    return social & spoken & ~pc.match_substring_regex(said, SOCIAL_REPLY).to_numpy(zero_copy_only=False)


def relevance_signals(ctx: Context) -> dict[str, Any]:
    batch = ctx.batch
    n = batch.num_rows
    pairs = answer_pairs(batch)
    langs = [x for x in pc.unique(pc.fill_null(ctx.cols["lang"], "en")).to_pylist() if x] if "lang" in ctx.cols else []
    values = pair_relevance(pairs.prompt, pairs.answer, langs, ctx.resource)
    exempt = cross_lingual(ctx.cols, n)[pairs.rows] | pc.match_substring_regex(pairs.prompt, TRANSLATION).to_numpy(
        zero_copy_only=False
    )
    # An identity question shares no word with a right answer ("Are you ChatGPT?" / "No, I'm Lumen."): whether
    # the answer speaks of the assistant decides instead of the overlap.
    about_self, not_about_self = identity_answers(pairs.prompt, pairs.answer)
    values = np.where(exempt | about_self, np.nan, values)
    mismatched = (
        script_switch(pairs.prompt, pairs.answer)
        | unasked_label(pairs.prompt, pairs.answer)
        | unoffered_tool(pairs.prompt, pairs.answer)
        | not_about_self
        | social_unanswered(pairs.prompt, pairs.answer)
    )
    values = np.where(mismatched, 0.0, values)
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
