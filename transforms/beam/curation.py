"""The keep stage on Beam: one task per input part, as parallel as the reading.

Thin wrapper around transforms.curate.finalize_part: each part's scored rows
(left in the work directory by the scoring stage) get their keep decisions,
its records/ file and, with output.kept, its kept/ file. With dedup on, the
stage waits for every duplicates/ file (a side input). It emits the part's
KeepTally, merged per shard in part order for the summary.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from winnow.transforms.beam.near_duplicates import Spread
from winnow.transforms.beam.worker_process import Driver
from winnow.transforms.config import Config
from winnow.transforms.curate import finalize_part
from winnow.transforms.io.splits import Split
from winnow.transforms.signals.rules import Rule
from winnow.transforms.summary.keep_counts import KeepTally, merge_parts


class FinalizePartFn(beam.DoFn):
    """Keep decisions, records/ and kept/ of one part; emits (shard name, (part, KeepTally))."""

    def __init__(
        self,
        config: Config,
        rule_list: list[Rule],
        output: str,
        shard_names: frozenset[str],
        earlier_runs: dict[int, str] | None = None,
    ):
        self._config, self._rules, self._output, self._names = config, rule_list, output, shard_names
        self._earlier_runs = earlier_runs or {}  # nightly: re-decided shards at their index (curate.finalize_part)
        self._driver = Driver.current()  # built in the driver; see worker_process

    def setup(self) -> None:
        self._driver.attach()

    def process(self, split: Split, _waited_for: Any = None) -> Iterator[tuple[str, tuple[int, KeepTally]]]:
        earlier = self._earlier_runs.get(split.shard.index, "")
        tally = finalize_part(split, self._output, self._config, self._rules, self._names, earlier)
        yield split.shard.name, (split.part, tally)


class MergeKeepFn(beam.CombineFn):
    """One shard's KeepTally from its parts', merged in part order (the kept/ file list is sorted)."""

    def create_accumulator(self) -> dict[int, KeepTally]:
        return {}

    def add_input(self, acc: dict[int, KeepTally], part_tally: tuple[int, KeepTally]) -> dict[int, KeepTally]:
        part, tally = part_tally
        acc[part] = tally
        return acc

    def merge_accumulators(self, accs: Iterable[dict[int, KeepTally]]) -> dict[int, KeepTally]:
        out: dict[int, KeepTally] = {}
        for acc in accs:
            out.update(acc)
        return out

    def extract_output(self, acc: dict[int, KeepTally]) -> KeepTally:
        return merge_parts(acc)


@beam.ptransform_fn
def KeepAndWrite(
    scored_parts,
    config: Config,
    rule_list: list[Rule],
    output: str,
    shard_names: frozenset[str],
    wait_for: Any = None,
    one_worker: bool = False,
    earlier_runs: dict[int, str] | None = None,
):
    """Parts whose scored rows are written -> (shard name, KeepTally), once records/ and kept/ are.

    `wait_for`: a PCollection every part waits for (the duplicates/ files). `earlier_runs`: shard index -> the
    run directory of the night that scored it there (a night's re-decided shards).
    """
    side = [beam.pvalue.AsList(wait_for)] if wait_for is not None else []
    return (
        scored_parts
        | "SpreadScoredParts" >> Spread(one_worker)
        | "DecideAndWrite" >> beam.ParDo(FinalizePartFn(config, rule_list, output, shard_names, earlier_runs), *side)
        | "KeepPerShard" >> beam.CombinePerKey(MergeKeepFn())
    )
