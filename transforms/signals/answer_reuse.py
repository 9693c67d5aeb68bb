"""Prompt-independent answers: one answer text given to many distinct prompts, counted over the dataset.

A system that answers every instruction with the same text (a stock reply,
a judge-gaming payload) writes rows that each look fine alone. Over the
dataset they share one answer and differ in their prompts. Before scoring,
a keyed pass (beam.answers) hashes every row's normalized last answer
(128-bit) and its prompt (64-bit), cuts the (answer, prompt) entries by
answer-hash partition, and counts distinct prompts per answer inside each
partition: memory per partition, never per dataset, so it scales with
the number of partitions. Only answers given to at least `min_prompts`
distinct prompts come back, as a side input of the scoring step.

Answers shorter than `min_words` words never count: one-word labels
("positive", "Yes", "B") are what classification tasks are supposed to
repeat. The column `answer_reuse_prompts` holds the distinct-prompt count of
a row's answer when it reaches `min_prompts`, else null.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from winnow.transforms.arrow_bytes import blake2b_128, partition_rows
from winnow.transforms.dedup.shingles import normalize
from winnow.transforms.signals.base import Context, Signal
from winnow.transforms.textviews import answer_pairs, texts_of

if TYPE_CHECKING:
    from winnow.transforms.config import Config

DATASET_KEY = "reused_answers"  # Context.dataset: {answer hash (int): distinct prompts}


class AnswerReuseOptions(BaseModel):
    """`signals.answer_reuse`."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # Answers shorter than this (words) are labels, which classification tasks reuse by design.
    min_words: int = Field(default=6, ge=1)
    # Distinct prompts an answer needs before it counts as prompt-independent.
    min_prompts: int = Field(default=20, ge=2)


def options(config: Config) -> AnswerReuseOptions:
    opts = config.signal_options("answer_reuse")
    return opts if isinstance(opts, AnswerReuseOptions) else AnswerReuseOptions()


def answer_entries(batch: pa.RecordBatch, min_words: int) -> tuple[np.ndarray, np.ndarray]:
    """([answer hash high, answer hash low, prompt hash] per eligible row as (m, 3) uint64, eligible mask).

    The answer is the row's last assistant turn and the prompt the question it
    answers (the user and tool turns since the previous assistant turn; the
    whole prompt side for rows without one), both case-folded with
    punctuation runs as one space, so "Paris." and "paris" are one answer. A
    closing "You're welcome!" in a hundred conversations that all end with
    "thanks" is one answer to one question.
    """
    answers = normalize(batch.column("response"))
    words = pc.list_value_length(pc.utf8_split_whitespace(answers)).to_numpy(zero_copy_only=False)
    eligible = words >= min_words
    if not eligible.any():
        return np.zeros((0, 3), dtype=np.uint64), eligible
    sel = pa.array(eligible)
    prompts = normalize(last_questions(batch).filter(sel))
    entries = np.empty((int(eligible.sum()), 3), dtype=np.uint64)
    entries[:, :2] = blake2b_128(answers.filter(sel))
    entries[:, 2] = blake2b_128(prompts)[:, 0]  # 64 bits: a rare collision merges two prompts, one count less
    return entries, eligible


def last_questions(batch: pa.RecordBatch) -> pa.Array:
    """The question each row's last answer answers: its last (question, answer) pair's, else the prompt side."""
    pairs = answer_pairs(batch)
    questions = texts_of(batch, "prompt_answer")[0]
    if not len(pairs.rows):
        return questions
    last = np.full(batch.num_rows, -1, dtype=np.int64)
    last[pairs.rows] = np.arange(len(pairs.rows))  # later pairs of a row overwrite earlier ones
    has = last >= 0
    take = pairs.prompt.take(pa.array(np.where(has, last, 0)))
    return pc.if_else(pa.array(has), take, questions)


def split_by_partition(entries: np.ndarray, partitions: int) -> dict[int, np.ndarray]:
    """Entries cut by answer-hash partition: every entry of one answer lands in one partition."""
    part = (entries[:, 0] % np.uint64(partitions)).astype(np.int64)
    return {p: entries[idx] for p, idx in partition_rows(part).items()}


def count_prompts(chunks: list[np.ndarray], min_prompts: int) -> dict[int, int]:
    """{answer hash: distinct prompts} for the answers given to at least `min_prompts` distinct prompts."""
    entries = np.concatenate(chunks) if chunks else np.zeros((0, 3), np.uint64)
    if not len(entries):
        return {}
    # Sorted by (answer, prompt) with one lexsort: np.unique(axis=0) sorts rows as void records, twice as slow.
    entries = entries[np.lexsort((entries[:, 2], entries[:, 1], entries[:, 0]))]
    pairs = entries[np.r_[True, (entries[1:] != entries[:-1]).any(axis=1)]]  # one row per (answer, prompt)
    starts = np.flatnonzero(np.r_[True, (pairs[1:, :2] != pairs[:-1, :2]).any(axis=1)])
    counts = np.diff(np.append(starts, len(pairs)))
    keep = counts >= min_prompts
    answers = pairs[starts[keep], :2].tolist()
    return {(int(hi) << 64) | int(lo): int(c) for (hi, lo), c in zip(answers, counts[keep].tolist(), strict=True)}


def reuse_counts(batch: pa.RecordBatch, reused: dict[int, int], min_words: int) -> pa.Array:
    """Per row: the distinct prompts its answer was given to, when listed in `reused`; else null."""
    n = batch.num_rows
    out = np.zeros(n, dtype=np.int32)
    if not reused:  # the common case: no answer of the dataset reached min_prompts, nothing to hash
        return pa.nulls(n, pa.int32())
    entries, eligible = answer_entries(batch, min_words)
    rows = np.flatnonzero(eligible)
    if len(rows):
        for row, (hi, lo) in zip(rows, entries[:, :2], strict=True):
            out[row] = reused.get((int(hi) << 64) | int(lo), 0)
    return pa.array(out, pa.int32(), mask=out == 0)


def answer_reuse_signals(ctx: Context) -> dict[str, Any]:
    opts = options(ctx.config)
    reused = ctx.dataset.get(DATASET_KEY)
    if reused is None:
        # Scored without the dataset pass (`winnow inspect`, a direct Scorer): count within the batch.
        entries, _ = answer_entries(ctx.batch, opts.min_words)
        reused = count_prompts([entries], opts.min_prompts)
    return {"answer_reuse_prompts": reuse_counts(ctx.batch, reused, opts.min_words)}


ANSWER_REUSE = Signal(
    name="answer_reuse",
    label="prompt-independent answers",
    cost="cheap",
    switch="signals.answer_reuse.enabled",
    enabled=lambda config: options(config).enabled,
    columns=lambda config: [pa.field("answer_reuse_prompts", pa.int32())],
    compute=answer_reuse_signals,
    options=AnswerReuseOptions,
    summary="distinct prompts given the same answer (of min_words+ words), counted over the dataset before scoring",
)
