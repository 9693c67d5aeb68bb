"""Prompt-independent answers on Beam: a keyed count of distinct prompts per answer, before scoring.

Thin wrappers around transforms.signals.answer_reuse: each part of a shard
is read and normalized once more (no signal runs), its (answer, prompt)
hashes cross the shuffle as one array per (part, partition), and each
partition counts its own answers. The answers that reach `min_prompts`
form one small dict, the scoring step's side input.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import numpy as np

from winnow.transforms.config import Config
from winnow.transforms.io.canonical import normalize_batch
from winnow.transforms.io.formats import FieldMap
from winnow.transforms.io.readers import read_split
from winnow.transforms.io.splits import Split
from winnow.transforms.signals.answer_reuse import answer_entries, count_prompts, options, split_by_partition


class AnswerEntriesFn(beam.DoFn):
    """One part of a shard -> (partition, (m, 3) uint64 entries) per partition it touches."""

    def __init__(self, config: Config, partitions: int):
        self._config = config
        self._partitions = partitions

    def setup(self) -> None:
        self._fields = FieldMap.from_config(self._config)
        self._min_words = options(self._config).min_words

    def process(self, split: Split) -> Iterator[tuple[int, np.ndarray]]:
        inp = self._config.input
        raw_max = self._config.output.raw_max_chars
        found: list[np.ndarray] = []
        for raw in read_split(split, inp.batch_size, inp.max_row_bytes, raw_max):
            batch, _, _ = normalize_batch(raw, split.shard, self._fields, raw_max)
            if batch.num_rows:
                found.append(answer_entries(batch, self._min_words)[0])
        if found:
            yield from split_by_partition(np.concatenate(found), self._partitions).items()


def _count(element: tuple[int, Iterable[np.ndarray]], min_prompts: int) -> dict[int, int]:
    return count_prompts(list(element[1]), min_prompts)


class MergeCounts(beam.CombineFn):
    """Union of the partitions' dicts (their keys are disjoint)."""

    def create_accumulator(self) -> dict[int, int]:
        return {}

    def add_input(self, acc: dict[int, int], counts: dict[int, int]) -> dict[int, int]:
        acc.update(counts)
        return acc

    def merge_accumulators(self, accs: Iterable[dict[int, int]]) -> dict[int, int]:
        out: dict[int, int] = {}
        for acc in accs:
            out.update(acc)
        return out

    def extract_output(self, acc: dict[int, int]) -> dict[int, int]:
        return dict(sorted(acc.items()))


@beam.ptransform_fn
def ReusedAnswers(parts: Any, config: Config, partitions: int):
    """{answer hash: distinct prompts} for every answer given to at least min_prompts distinct prompts."""
    return (
        parts
        | "AnswerEntries" >> beam.ParDo(AnswerEntriesFn(config, partitions))
        | "ByAnswerPartition" >> beam.GroupByKey()
        | "CountPrompts" >> beam.Map(_count, options(config).min_prompts)
        | "AllReusedAnswers" >> beam.CombineGlobally(MergeCounts())
    )
