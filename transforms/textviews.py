"""Texts derived from a canonical batch: the whole conversation, its prompt, its answer.

Signals, classifiers and near-duplicate signatures read the same views, so
they live here rather than in any one of their users.
"""

from __future__ import annotations

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


def texts_of(batch: pa.RecordBatch, which: str) -> list[pa.Array]:
    """The text(s) named by `which`: one array, or [prompt, answer] for prompt_answer.

    prompt_answer: [system + user/tool turns, assistant turns]; near-duplicate
    rows must be similar in both parts, so rows that share a long template
    but answer differently are not.
    """
    if which == "prompt_answer":
        prompt = turn_text(batch, answer=False)
        system = batch.column("system")
        prompt = pc.if_else(pc.equal(system, ""), prompt, pc.binary_join_element_wise(system, prompt, "\n"))
        return [prompt, turn_text(batch, answer=True)]
    if which == "conversation":
        return [conversation_text(batch)]
    return [batch.column(which)]
