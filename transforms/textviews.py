"""Texts derived from a canonical batch: the whole conversation, its prompt, its input, its answer.

Signals, classifiers and near-duplicate signatures read the same views, so
they live here rather than in any one of their users.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Turns that make up a row's answer; every other turn (user, tool results) is prompt.
ANSWER_ROLES = ("assistant", "tool_call", "text")


def conversation_text(batch: pa.RecordBatch) -> pa.Array:
    """System prompt and every turn's content, joined by newlines."""
    turns = batch.column("turns")
    contents = pa.ListArray.from_arrays(turns.offsets, turns.values.field("content"))
    joined = pc.binary_join(contents, "\n")
    system = batch.column("system")
    return pc.if_else(pc.equal(system, ""), joined, pc.binary_join_element_wise(system, joined, "\n"))


def turn_text(batch: pa.RecordBatch, answer: bool) -> pa.Array:
    """Contents of the answer turns (assistant, tool calls, plain text) or of the others, joined."""
    turns = batch.column("turns")
    values = turns.flatten()
    mask = pc.is_in(values.field("role"), value_set=pa.array(ANSWER_ROLES)).to_numpy(zero_copy_only=False)
    if not answer:
        mask = ~mask
    parents = pc.list_parent_indices(turns).to_numpy()
    offsets = np.zeros(len(turns) + 1, dtype=np.int32)
    np.cumsum(np.bincount(parents[mask], minlength=len(turns)), out=offsets[1:])
    contents = values.field("content").filter(pa.array(mask))
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), contents), "\n")


# Views made of two texts, each compared on its own: [context, answer].
TWO_PART_TEXTS = ("prompt_answer", "input_answer")


def text_parts(which: str) -> int:
    """How many texts `texts_of(batch, which)` returns (near-duplicate signatures have one part each)."""
    return 2 if which in TWO_PART_TEXTS else 1


def prompt_text(batch: pa.RecordBatch) -> pa.Array:
    """System prompt and the user/tool turns, joined by newlines."""
    prompt = turn_text(batch, answer=False)
    system = batch.column("system")
    return pc.if_else(pc.equal(system, ""), prompt, pc.binary_join_element_wise(system, prompt, "\n"))


def texts_of(batch: pa.RecordBatch, which: str) -> list[pa.Array]:
    """The text(s) named by `which`: one array, or [context, answer] for the two-part views.

    prompt_answer: [system + user/tool turns, assistant turns]; near-duplicate
    rows must be similar in both parts, so rows that share a long template
    but answer differently are not.
    input_answer: [the row's input field (Alpaca input, Dolly context), the
    answer turns]: for templated sources, where every row repeats one
    instruction and only the filled-in input tells rows apart. A row with no
    input falls back to its prompt, so that an answer alone never decides.
    """
    if which == "prompt_answer":
        return [prompt_text(batch), turn_text(batch, answer=True)]
    if which == "input_answer":
        given = batch.column("input")
        empty = pc.equal(pc.utf8_trim_whitespace(pc.fill_null(given, "")), "")
        return [pc.if_else(empty, prompt_text(batch), given), turn_text(batch, answer=True)]
    if which == "conversation":
        return [conversation_text(batch)]
    return [batch.column(which)]


class AnswerPairs(NamedTuple):
    """Each assistant turn with the turns it answers, flattened over a batch."""

    rows: np.ndarray  # int64: the batch row of each pair
    prompt: pa.Array  # user and tool turns since the previous assistant turn, joined by newlines
    answer: pa.Array  # the assistant turn's content


def answer_pairs(batch: pa.RecordBatch) -> AnswerPairs:
    """(prompt, answer) pairs: every assistant turn and the user/tool turns it answers.

    In a multi-turn row the first user turn and the last assistant turn may
    be about different things; relevance and parroting compare each answer
    with its own question instead. Tool calls are neither prompt nor answer;
    an assistant turn with no user or tool turn before it (since the previous
    answer) makes no pair. Plain-text rows make none.
    """
    turns = batch.column("turns")
    values = turns.flatten()
    roles = values.field("role")
    parents = pc.list_parent_indices(turns).to_numpy().astype(np.int64)
    is_answer = pc.equal(roles, "assistant").to_numpy(zero_copy_only=False)
    is_prompt = pc.is_in(roles, value_set=pa.array(["user", "tool"])).to_numpy(zero_copy_only=False)
    # The answer a prompt turn belongs to: the next assistant turn, if it is in the same row.
    answer_at = np.flatnonzero(is_answer)
    nxt = np.searchsorted(answer_at, np.arange(len(parents)))
    has_next = nxt < len(answer_at)
    owner = np.where(has_next, nxt, -1)
    same_row = np.zeros(len(parents), dtype=bool)
    if len(answer_at):
        same_row = has_next & (parents[answer_at[np.minimum(nxt, len(answer_at) - 1)]] == parents)
    belongs = is_prompt & same_row
    counts = np.bincount(owner[belongs], minlength=len(answer_at))
    offsets = np.zeros(len(answer_at) + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    contents = values.field("content")
    prompt = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), contents.filter(pa.array(belongs))), "\n")
    keep = counts > 0
    return AnswerPairs(
        rows=parents[answer_at][keep],
        prompt=prompt.filter(pa.array(keep)),
        answer=contents.take(pa.array(answer_at[keep], pa.int64())),
    )


def per_row_worst_and_mean(rows: np.ndarray, values: np.ndarray, n: int, worst: str) -> tuple[np.ndarray, np.ndarray]:
    """(worst, mean) of the pairs' values per batch row, ignoring NaN; NaN for rows with none.

    `worst` is "min" (relevance: the least relevant answer) or "max" (parroting).
    """
    judged = ~np.isnan(values)
    r, v = rows[judged], values[judged]
    count = np.bincount(r, minlength=n)[:n]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, np.bincount(r, weights=v, minlength=n)[:n] / np.maximum(count, 1), np.nan)
    extreme = np.full(n, np.inf if worst == "min" else -np.inf)
    (np.minimum if worst == "min" else np.maximum).at(extreme, r, v)
    return np.where(count > 0, extreme, np.nan), mean


def collect_strings(value: Any, into: list[str]) -> None:
    """Append every string leaf of a JSON value (dicts by value order, lists in order) to `into`."""
    if isinstance(value, str):
        into.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            collect_strings(v, into)
    elif isinstance(value, list):
        for v in value:
            collect_strings(v, into)
