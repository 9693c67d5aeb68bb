"""guidelines.md for annotators, generated from the label schema and the run's rule catalog.

Annotators judge better with the same words winnow uses: what good and bad
mean, the rating scale, what the note is for, and for every rule of the run
its severity, its explanation and a real sampled row where it fired. Row
text is untrusted: it goes into fenced code blocks (a fence longer than any
backtick run in it), control characters escaped, truncated.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from winnow.transforms.review.export import dialogue, plain_text
from winnow.transforms.signals.rules import Rule
from winnow.transforms.terminal import escape_control

EXAMPLE_CHARS = 600
RATING_SCALE = (
    (1, "unusable: wrong, harmful, empty, garbled, or not an answer to the instruction"),
    (2, "poor: answers the instruction but with errors or large gaps a model should not learn"),
    (3, "acceptable: correct and on topic, but thin, clumsy or badly formatted"),
    (4, "good: correct, complete and clear; small flaws at most"),
    (5, "excellent: an answer you would want every model to give"),
)


def fenced(text: str, limit: int = EXAMPLE_CHARS) -> str:
    """`text` truncated to `limit` characters in a code fence it cannot close; control characters escaped."""
    if len(text) > limit:
        text = text[:limit] + " [...]"
    text = escape_control(text, keep_newlines=True)
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _inline(text: str) -> str:
    """A short string (a name, an id) shown inline: in backticks it cannot break out of."""
    text = escape_control(text).replace("\n", " ")
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def guidelines_markdown(
    rules: Sequence[Rule], rows: Sequence[Mapping[str, Any]], header: Mapping[str, Any], limit: int = EXAMPLE_CHARS
) -> str:
    """The guidelines: the questions, then one section per rule with an example from `rows` (the sample).

    `header`: export_id, run_dir, config_hash, size, rows (scored rows of the run).
    """
    lines = [
        "# Annotation guidelines",
        "",
        f"Export {_inline(str(header['export_id']))} of the winnow run {_inline(str(header['run_dir']))} "
        f"(config {_inline(str(header['config_hash']))}): {header['size']:,} rows sampled from "
        f"{header['rows']:,} scored rows.",
        "",
        "Each row shows the stratum it was drawn from and the rules that fired on it. The stratum says why the "
        "row is in the sample, not whether it is good; the rules are winnow's opinion, which is what this review "
        "checks. Judge the row itself.",
        "",
        "## What to answer",
        "",
        "### verdict (required): good or bad",
        "",
        "- **good**: you would keep this row to train an assistant on. The instruction can be understood, and "
        "the answer does what it asks: correct, complete enough, in the language asked, safe, and not a "
        "placeholder, a refusal of a harmless request, or a copy of the prompt.",
        "- **bad**: you would drop it. Any one serious defect is enough: a wrong or empty answer, an answer to "
        "another question, garbled or repeated text, a prompt that cannot be answered (it points at an attachment "
        "that is missing), unsafe content, or private data.",
        "",
        "The verdict is pre-filled with winnow's (good when its keep policy keeps the row). Change it whenever "
        "you disagree: a pre-filled verdict you did not check is worse than none.",
        "",
        "### rating (optional): 1 to 5",
        "",
        *[f"- **{n}** {text}" for n, text in RATING_SCALE],
        "",
        "### note (optional)",
        "",
        "Why, in a few words, when it is not obvious: which defect made the row bad, or why a rule that fired is "
        "wrong here. Notes are how a rule gets fixed.",
        "",
        "## The rules winnow applies",
        "",
        "Severity: **drop**: winnow drops the row; **warn**: a person should look; **info**: a property worth "
        "counting. Each rule shows an example from this sample: a row of the rule's own stratum when there is one.",
        "",
    ]
    if not rules:
        lines += ["This run applies no rule.", ""]
    for rule in rules:
        lines += [f"### {_inline(rule.name)} ({rule.severity})", "", html.escape(escape_control(rule.explain), quote=False), ""]
        fired = [r for r in rows if rule.name in (r.get("flags") or [])]
        example = next((r for r in fired if r.get("stratum") == f"rule:{rule.name}"), fired[0] if fired else None)
        if example is None:
            lines += ["No sampled row fired this rule.", ""]
            continue
        lines += [
            f"Example: row {_inline(str(example['id']))} (stratum {_inline(str(example['stratum']))}):",
            "",
            fenced(plain_text(dialogue(example)), limit),
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"
