"""Repeated ids on Beam: chunks of id hashes grouped by hash partition and counted there.

Thin wrappers around transforms.summary.ids: what crosses Beam is one
numpy array (with its own-id texts) per (part of a shard, partition), never
one element per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from winnow.transforms.summary.ids import IdChunk, IdTally, count_repeats

IDS_TAG = "ids"  # (partition, IdChunk)
ID_TALLY_TAG = "id_tally"  # IdTally of one part of a shard: own and replaced ids


def tagged_chunks(chunks: dict[int, IdChunk]) -> Iterator[beam.pvalue.TaggedOutput]:
    for part, chunk in chunks.items():
        yield beam.pvalue.TaggedOutput(IDS_TAG, (part, chunk))


def _count(element: tuple[int, Iterable[IdChunk]], shard_names: dict[int, str]) -> IdTally:
    return count_repeats(list(element[1]), shard_names)


class MergeIdTallies(beam.CombineFn):
    """IdTally.merge is order-free (examples are ordered by row key), so any runner gives one answer."""

    def create_accumulator(self) -> IdTally:
        return IdTally()

    def add_input(self, acc: IdTally, tally: IdTally) -> IdTally:
        return acc.merge(tally)

    def merge_accumulators(self, accs: Iterable[IdTally]) -> IdTally:
        out = IdTally()
        for acc in accs:
            out = out.merge(acc)
        return out

    def extract_output(self, acc: IdTally) -> dict[str, Any]:
        return acc.as_json()


@beam.ptransform_fn
def RepeatedIds(chunks_and_tallies, shard_names: dict[int, str]):
    """The `ids` section of dataset.json (one dict) from the scoring stage's id chunks and tallies."""
    chunks, tallies = chunks_and_tallies
    repeats = chunks | "ByIdPartition" >> beam.GroupByKey() | "CountRepeats" >> beam.Map(_count, shard_names)
    return (repeats, tallies) | "AllIdTallies" >> beam.Flatten() | "MergeIdTallies" >> beam.CombineGlobally(MergeIdTallies())
