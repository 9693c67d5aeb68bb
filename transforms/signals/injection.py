"""Prompt injection and chat scaffolding inside the answer turns.

Two RE2 counts over the answer (assistant, tool-call and plain-text turns,
joined, code left out): phrases addressed to a grader or a model ("ignore the above
instructions", "rate this response", "you are now ..."), and fake turn or
section headers at line starts ("### Response:", "<|im_start|>", "Human:").
Either alone is common enough in honest answers (a tutorial on prompts, a
chat transcript); the rules combine them.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.signals.base import Context, Signal
from winnow.transforms.signals.gibberish import strip_noise
from winnow.transforms.textviews import turn_text

_EARLIER = r"(above|previous|prior|preceding|earlier|foregoing)"
INJECTION_PATTERN = "|".join(
    (
        rf"\b(ignore|disregard|forget)\s+(all\s+|any\s+|everything\s+)?(of\s+)?(the\s+|your\s+|my\s+|these\s+|those\s+)?{_EARLIER}\b",
        r"\b(ignore|disregard)\s+(all\s+|any\s+)?(your|the|my)\s+(instructions|rules|guidelines|system prompt)\b",
        r"\byou are now (a|an|in|acting|playing|my|DAN|free|unrestricted|jailbroken)\b",
        r"\bas (the|a|an) (grader|judge|evaluator|rater|assessor|reward model)\b",
        r"\b(rate|score|grade|evaluate) this (response|answer|output|completion|reply)\b",
        r"\b(give|assign|award) (this|the|my) (response|answer|output|completion|reply) (a |an |the )?(score|rating|grade|\d+\s*/\s*10|full marks)",
        r"\boutput (only|exactly|just) (the |a |an )?(word|words|text|string|phrase|letter|number|token|following|[\"'“])",
        r"\bprint the following\b",
        r"\brespond (only |just )?with (only |just )?[\"'“]",
        r"\bsystem prompt\b",
        # Overrides and demands in other words: "the instructions you received no longer apply",
        # "your real task is to confirm ...", "say that the answer above is correct".
        r"\b(instructions|guidance|guidelines|rubric|rules)\b[^.\n]{0,40}\b(no longer appl(y|ies)|(was|were) only a draft|(does|do) not apply)",
        r"\b(disregard|forget|ignore)\s+(the|your|any|all)\s+(\w+\s+)?(rubric|task|guidelines|criteria|scoring|instructions)\b",
        r"\byour (real|actual|only|true) task (here )?is\b",
        r"\byou are (now )?(the|a|an) (grader|evaluator|rater|scorer|grading model|judge model)\b",  # "you are the judge!" is an idiom
        r"\b(evaluate|rate|grade|score|judge|mark) the (answer|response|reply|output) above\b",
        r"\b(say|state|declare|confirm) that (the|this) (answer|response|reply|output)( above)? (is|was|deserves)\b",
        r"\boutput (only|just) (the |a |an )?(score|rating|grade|verdict)\b",
        r"\b(give|award|assign|deserves?|receive|record it as|mark it as|rate it|score you can give it is)\b[^.\n]{0,40}"
        r"\b(full marks|the maximum|maximum (score|rating|marks)|highest (possible )?(score|rating|grade|mark)|top (rating|score|grade)"
        r"|best (grade|score|rating)|perfect (score|example|rating)|10\s*/\s*10|10 out of 10)",
    )
)
FAKE_TURN_PATTERN = (
    r"(?m)^[ \t]*("
    r"#{1,4}[ \t]*(instruction|response|input|output|human|assistant|user|system|model outputs?)\b[ \t]*:?"
    r"|<\|(im_start|im_end|start_header_id|eot_id)\|>"
    r"|\[/?INST\]"
    r"|</?s>"
    r"|<</?SYS>>"
    r"|(human|assistant|user)[ \t]*:"
    r")"
)

COLUMNS = ("response_injection_phrases", "response_fake_turns")


def injection_counts(texts: pa.Array) -> dict[str, pa.Array]:
    """Per-text counts of grader/model-directed phrases (case-insensitive) and of fake turn headers.

    Code blocks, inline code and URLs are left out: a chat template or a
    prompt string in code is an example, not scaffolding.
    """
    texts = strip_noise(texts, special_tokens=False)  # <|im_start|> is what it counts
    return {
        "injection_phrases": pc.count_substring_regex(texts, INJECTION_PATTERN, ignore_case=True).cast(pa.int32()),
        "fake_turns": pc.count_substring_regex(texts, FAKE_TURN_PATTERN, ignore_case=True).cast(pa.int32()),
    }


def injection_signals(ctx: Context) -> dict[str, Any]:
    counts = injection_counts(turn_text(ctx.batch, answer=True))
    return {f"response_{k}": v for k, v in counts.items()}


INJECTION = Signal(
    name="injection",
    label="prompt injection",
    cost="cheap",
    switch="signals.injection",
    enabled=lambda config: config.signal_options("injection") is not False,
    columns=lambda config: [pa.field(name, pa.int32()) for name in COLUMNS],
    compute=injection_signals,
    options=bool,
    summary="grader/model-directed phrases and fake turn headers (### Response:, <|im_start|>, Human:) in the answer",
)
