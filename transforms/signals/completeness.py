"""Does the answer stop mid-sentence? A cut-off answer ends in an open sentence after closed ones.

`response_ends_mid_sentence` is true when the response (fenced code, inline
code, URLs and special tokens left out, 8+ words) ends on an operator, a
comma, an opening bracket or a function word ("... 20 * 12 =", "... of the"),
or when it ends on a word rather than on closing punctuation, its last line is prose of
MIN_LAST_LINE_WORDS or more words, and an earlier sentence of the response
did close, or its last line closed a sentence and went on for 3+ words: so a
text written in sentences stopped in the middle of one. Lists of short items,
poems, headings, tables, code, calculations and anything ending on a number
("#### 72", "= 64 square meters" is a line with "="), and answers without any
sentence punctuation stay false. Also cut: an answer whose every earlier line
closed (a sentence, a list item ending in punctuation, a heading with a
colon) and whose last line, of any length, does not: a text written in
closed lines that stops inside one ("... every week.\n4. Planning:
a careful gardener will rotate and"). A closing phrase ("Hope this
helps", "Good luck"), a last line after a colon ("Here is the output:"),
and last lines with "=" or a number stay false.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.signals.base import Context, Signal
from winnow.transforms.signals.gibberish import SPECIAL_TOKENS, URL

MIN_LAST_LINE_WORDS = 8
# What an ended sentence, list item or block ends on: sentence punctuation (any script),
# closing quotes and brackets, Markdown emphasis, emoji and other symbols.
_CLOSED_END = r"[.!?:;…。！？：；)\]}）】」』\"'”’»`*_~|>\p{So}\p{Sk}]\s*$"
_LAST_LINE = r"(?s)^.*\n"  # everything up to the last line break
_LIST_OR_HEADING = r"^\s*([-*+•#>|]|\d+[.)]|[a-zA-Z][.)]\s)"
_HEADING_QUOTE_OR_TABLE = r"^\s*[#>|]"
# A letter's sign-off: "Yours sincerely, Jane", "Best regards, [Your Name], CEO".
_SIGN_OFF = r"(?i)\b(sincerely|regards|respectfully|faithfully|cheers|best wishes|with (respect|love|gratitude)[^\n,]*|yours[^\n,]*),[^\n.!?]{0,60}$"
# A sentence closed by a word (not a list number "9." or a decimal).
_CLOSED_SENTENCE = r"[\p{L}\p{M})\]\"'”’][.!?。！？][\"'”’)\]]*(\s|$)"
# Endings that cannot close anything: an operator, an opening bracket, a comma, a function word.
# Any line (of the text without its last line) that ends open, after trailing spaces.
_OPEN_LINE = r"(?m)[^\s.!?:;…。！？：；)\]}）】」』\"'”’»`*_~|>\p{So}\p{Sk}][ \t]*$"
_WITHOUT_LAST_LINE = r"\n[^\n]*$"
# Lines that close a text without punctuation.
_CLOSING_PHRASE = (
    r"(?i)^\s*(hope (this|that|it) helps|good luck|enjoy|cheers|thanks|thank you|best wishes|all the best|"
    r"have (a|fun)|happy \w+|take care|stay safe)\b[^\n]{0,40}$"
)
# A bracket (or a call's quoted argument) opened on the last line with nothing closing it after.
_OPEN_BRACKET = r"(^|[^:;])[(\[{（【][^)\]}）】]*$|\(['\"][^'\"]*$"
_ELLIPSIS_END = r"(\.\.\.|…)\s*$"
_EMPTY_ITEM = r"\n[ \t]*([-*+•]|\d+[.)])[ \t]*$"
_TABLE_ROW = r"^\s*\|"
_CLOSED_ROW = r"\|\s*$"
_DANGLING = (
    r"(?i)([=+*/×÷,]|(^|[^:;])[(\[{]|\b(and|or|but|the|a|an|of|to|with|for|in|on|at|by|from|that|which|because|is|are|was|were|"
    r"be|as|than|then|so|if|when|while|its|their|his|her|our|your|my))$"
)


def ends_mid_sentence(responses: pa.Array) -> np.ndarray:
    """Per response: stops inside a sentence after an earlier sentence closed (see the module doc)."""
    # Code blocks close with ``` (a closed end); a URL or a signature ends a text without a full stop.
    raw = pc.utf8_rtrim_whitespace(pc.replace_substring_regex(pc.fill_null(responses, ""), SPECIAL_TOKENS, ""))
    text = pc.replace_substring_regex(raw, URL + "$", ".")
    text = pc.replace_substring_regex(text, _SIGN_OFF, ".")
    last_line = pc.replace_substring_regex(text, _LAST_LINE, "")
    before_last = pc.utf8_slice_codeunits(text, 0, -1)  # the text without its final character

    def matches(arr: pa.Array, pattern: str) -> np.ndarray:
        return pc.match_substring_regex(arr, pattern).to_numpy(zero_copy_only=False)

    words = pc.list_value_length(pc.utf8_split_whitespace(last_line)).to_numpy(zero_copy_only=False)
    open_end = (
        ~matches(text, _CLOSED_END) & ~matches(text, r"\p{N}\S*$") & (pc.utf8_length(text).to_numpy(zero_copy_only=False) > 0)
    )
    prose = (words >= MIN_LAST_LINE_WORDS) & ~matches(last_line, _LIST_OR_HEADING) & ~matches(last_line, "=")
    # A list item or short line that closed a sentence and went on for a few words is cut too.
    reopened = matches(last_line, _CLOSED_SENTENCE + r"(\S+\s+){2,}\S+$") & ~matches(last_line, "=")
    total_words = pc.list_value_length(pc.utf8_split_whitespace(text)).to_numpy(zero_copy_only=False)
    dangling = matches(text, _DANGLING) & (total_words >= MIN_LAST_LINE_WORDS)
    earlier = pc.replace_substring_regex(text, _WITHOUT_LAST_LINE, "")
    has_earlier = matches(text, r"\S[^\n]*\n\s*\S")
    lines_closed = (
        has_earlier
        & ~matches(earlier, _OPEN_LINE)
        & ~matches(earlier, r"[:：]\s*$")  # "here is the output:" introduces what need not be a sentence
        & ~matches(last_line, _HEADING_QUOTE_OR_TABLE)
        & ~matches(last_line, "=")
        & ~matches(last_line, _CLOSING_PHRASE)
        & ~matches(text, "```")
    )
    # On the text as written: a URL at the end holds its closing brackets.
    raw_last = pc.replace_substring_regex(raw, _LAST_LINE, "")
    previous_line = pc.replace_substring_regex(pc.replace_substring_regex(raw, _WITHOUT_LAST_LINE, ""), _LAST_LINE, "")
    unclosed = (
        (matches(raw_last, _OPEN_BRACKET) & ~matches(raw, _ELLIPSIS_END))
        | matches(raw, _EMPTY_ITEM)
        | (matches(raw_last, _TABLE_ROW) & ~matches(raw_last, _CLOSED_ROW) & matches(previous_line, _CLOSED_ROW) & has_earlier)
    )
    return (open_end & ((prose & matches(before_last, _CLOSED_SENTENCE)) | reopened | lines_closed)) | dangling | unclosed


def completeness_signals(ctx: Context) -> dict[str, Any]:
    return {"response_ends_mid_sentence": pa.array(ends_mid_sentence(ctx.cols["response"]), pa.bool_())}


COMPLETENESS = Signal(
    name="completeness",
    label="answers cut mid-sentence",
    cost="cheap",
    switch="signals.completeness",
    enabled=lambda config: config.signal_options("completeness") is not False,
    columns=lambda config: [pa.field("response_ends_mid_sentence", pa.bool_())],
    compute=completeness_signals,
    options=bool,
    summary="whether the response stops inside a sentence after earlier sentences closed (a cut-off answer)",
)
