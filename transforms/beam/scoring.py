"""Thin Beam wrappers around the pure functions: read, score, write, summarize.

The element that flows is an Arrow record batch (thousands of rows), so
Beam's per-element cost is paid per batch, not per row.
"""

from __future__ import annotations

import os
import pickle
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.metrics import Metrics

from winnow.transforms.beam.answers import ReusedAnswers
from winnow.transforms.beam.curation import KeepAndWrite
from winnow.transforms.beam.ids import ID_TALLY_TAG, IDS_TAG, RepeatedIds, tagged_chunks
from winnow.transforms.beam.near_duplicates import NearDuplicates, Spread
from winnow.transforms.beam.worker_process import Driver
from winnow.transforms.config import Config
from winnow.transforms.curate import scored_path
from winnow.transforms.dedup.earlier import EarlierRows
from winnow.transforms.dedup.params import DedupParams, reference_files
from winnow.transforms.dedup.sidefiles import SegmentSideFiles, work_dir
from winnow.transforms.dedup.signer import Signer
from winnow.transforms.dedup.spill import SpillWriter, WriterPerBundle
from winnow.transforms.dedup.templates import ShingleRowCounter, dataset_template
from winnow.transforms.io import files
from winnow.transforms.io.canonical import normalize_batch, rejected_batch
from winnow.transforms.io.formats import FieldMap
from winnow.transforms.io.inputs import Shard
from winnow.transforms.io.parquet_out import BatchFile, part_name
from winnow.transforms.io.readers import read_split
from winnow.transforms.io.splits import Split, count_newlines, number_splits, plan_splits
from winnow.transforms.schema import REJECTED
from winnow.transforms.signals import answer_reuse
from winnow.transforms.signals.rules import Rule
from winnow.transforms.signals.scorer import Scorer, fired_counts, scored_schema
from winnow.transforms.sources import config_for_shard, source_index
from winnow.transforms.state.answers import entries_path, write_entries
from winnow.transforms.state.hooks import (
    NightHooks,
    read_template_reports,
    write_self_bleu,
    write_stats,
    write_template_report,
)
from winnow.transforms.state.night import NightSpec, finish_night
from winnow.transforms.state.replay import StoredShard, replay_part
from winnow.transforms.summary import shard_stats as summary
from winnow.transforms.summary.dataset import DatasetSelfBleu, write_summary
from winnow.transforms.summary.ids import MIN_PARTITIONS, IdCollector, id_partitions
from winnow.transforms.summary.run_record import finish_run

NAMESPACE = "winnow"
REJECTED_TAG = "rejected"
STATS_TAG = "stats"
BANDS_TAG = "bands"
SHINGLE_ROWS_TAG = "shingle_rows"  # (rows, hashes, rows per hash) of a part's frequent shingles
SCORED_TAG = "scored"


class _Progress:
    """Rows done and rows/s on stderr every few seconds, per worker process."""

    def __init__(self, every: float = 5.0):
        self.every = every
        self.rows = 0
        self.start = time.monotonic()
        self.last = self.start
        self.lock = threading.Lock()

    def add(self, rows: int) -> None:
        with self.lock:
            self.rows += rows
            now = time.monotonic()
            if now - self.last < self.every:
                return
            self.last = now
            elapsed = now - self.start
            rate = self.rows / elapsed if elapsed else 0.0
            m, s = divmod(int(elapsed), 60)
            print(
                f"[winnow] pid {os.getpid()}: {self.rows:,} rows read, {rate:,.0f} rows/s, {m}:{s:02d} elapsed",
                file=sys.stderr,
                flush=True,
            )


_PROGRESS = _Progress()


class ScoreShardFn(beam.DoFn):
    """Read one part of a shard, normalize and score it batch by batch.

    Writes the part's rejected/ file and its scored rows into the work
    directory (io.parquet_out: one file each, rows in row order, skipped when
    empty; the keep stage, transforms.curate, turns the scored rows into the
    part's records/ file) before it emits the part's stats and the part itself
    (`scored`), so a step that waits for either finds them written.
    Main output: scored record batches. Tagged outputs: dead-letter batches
    (`rejected`), one (shard, (part, ShardStats)) per part (`stats`), the
    part's ids as (hash partition, IdChunk) (`ids`) and its IdTally (`id_tally`).
    `records_schema`: of the scored rows; by default the config's.
    """

    def __init__(
        self,
        config: Config,
        rule_list: list[Rule],
        output: str = "",
        records_schema: pa.Schema | None = None,
        id_partitions: int = MIN_PARTITIONS,
        answers_dir: str = "",
        stored: dict[int, StoredShard] | None = None,
        earlier: EarlierRows | None = None,
        settled_bands: frozenset[int] = frozenset(),
        one_worker: bool = False,
    ):
        self._config = config
        self._one_worker = one_worker  # the parts' band entries share one spill writer per bundle
        self._stored = stored or {}  # nightly: shards re-decided from their stored scores (state.replay)
        # nightly: of these re-decided shards only the rows that are not settled (`earlier`) are banded here;
        # the settled rows' entries come from their reference file (NearDuplicates' settled_bands)
        self._earlier, self._settled_bands = earlier, settled_bands
        self._id_partitions = id_partitions
        self._answers_dir = answers_dir  # nightly: keep each part's (answer, prompt) hashes (state.answers)
        self._rules = rule_list
        self._output = output
        self._records_schema = records_schema or scored_schema(config)
        self._driver = Driver.current()  # built in the driver; see worker_process

    def setup(self) -> None:
        self._driver.attach()  # a worker process outlives a killed driver by 0.5 s at most
        self._scorer = Scorer(self._config, self._rules)
        self._scorer.load_models()
        # One scorer per sources entry (None: no entry), made on its first shard; they share the models.
        self._scorers: dict[int | None, Scorer] = {None: self._scorer}
        dedup = self._config.dedup.enabled
        self._signer = Signer(DedupParams.from_config(self._config)) if dedup else None
        self._fields = FieldMap.from_config(self._config)
        self._rows_read = Metrics.counter(NAMESPACE, "rows_read")
        self._rows_scored = Metrics.counter(NAMESPACE, "rows_scored")
        self._rows_rejected = Metrics.counter(NAMESPACE, "rows_rejected")
        self._counters: dict[str, Any] = {}

    def start_bundle(self) -> None:
        self._bands: WriterPerBundle[SpillWriter] = WriterPerBundle(self._one_worker)

    def finish_bundle(self) -> None:
        self._bands.finish()

    def _band_writer(self, split: Split) -> SpillWriter:
        return self._bands.get(
            lambda name: SpillWriter(work_dir(self._output, "bands"), name), f"s{split.shard.index:06d}-{split.part:05d}"
        )

    def _count(self, name: str, value: int) -> None:
        # One counter per drop reason and per rule, as in TFDS's c4_utils.
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = Metrics.counter(NAMESPACE, name)
        counter.inc(value)

    def _scorer_for(self, shard: Shard) -> tuple[Scorer, Config]:
        """The scorer and effective config of a shard's source (config `sources`)."""
        key = source_index(self._config, shard.path, shard.name)
        scorer = self._scorers.get(key)
        if scorer is None:
            scorer = self._scorers[key] = self._scorer.for_config(config_for_shard(self._config, shard.path, shard.name))
        return scorer, scorer.config

    def process(self, split: Split, reused_answers: dict[int, int] | None = None) -> Iterator[Any]:
        shard = split.shard
        if shard.index in self._stored:
            yield from self._replay(split, self._stored[shard.index])
            return
        scorer, shard_config = self._scorer_for(shard)
        dataset = {} if reused_answers is None else {answer_reuse.DATASET_KEY: reused_answers}
        inp = self._config.input
        raw_max = self._config.output.raw_max_chars
        div = self._config.diversity
        stats = summary.ShardStats(
            shard.name, shard.index, types_max=div.instruction_types_max, bleu_per_shard=div.self_bleu_sample_per_shard
        )
        side = bands = None
        if self._signer:
            side = SegmentSideFiles(self._output, split.part, self._signer.schema)
            bands = self._band_writer(split)
        dp = self._signer.params if self._signer else None
        shingle_rows = ShingleRowCounter(dp.template_share) if dp is not None and dp.finds_templates else None
        name = part_name(shard.index, split.part)
        records = BatchFile(scored_path(self._output, shard.index, split.part), self._records_schema)
        dead = BatchFile(files.join(self._output, "rejected", name), REJECTED)
        ids = IdCollector(self._id_partitions)
        answers: list[np.ndarray] = []
        for raw in read_split(split, inp.batch_size, inp.max_row_bytes, raw_max):
            batch, rejected, replaced_ids = normalize_batch(raw, shard, self._fields, raw_max)
            if self._answers_dir and batch.num_rows:
                answers.append(answer_reuse.answer_entries(batch, answer_reuse.options(self._config).min_words)[0])
            scored = scorer.score(batch, files.local_dir(shard.path), dataset) if batch.num_rows else None
            stats.add_batch(scored, rejected, len(raw))
            if scored is not None and self._signer is not None and side is not None and bands is not None:
                side_rows, entries, shingles = self._signer.sign(batch, scored, shard_config.dedup.text, shingle_rows)
                side.write(side_rows)
                stats.add_diversity(batch, shingles, div.self_bleu_sample)
                for part, arr in entries.items():
                    bands.add(part, arr)
            self._rows_read.inc(len(raw))
            self._rows_rejected.inc(len(rejected))
            for r in rejected:
                self._count("rejected_" + r["reason"].split(":", 1)[0], 1)
            if scored is not None:
                self._rows_scored.inc(scored.num_rows)
                for rule, n in fired_counts(scored).items():
                    self._count("flag_" + rule, n)
                records.write(scored)
                yield scored
            if rejected:
                dead_letters = rejected_batch(rejected)
                dead.write(dead_letters)
                yield beam.pvalue.TaggedOutput(REJECTED_TAG, dead_letters)
            _PROGRESS.add(len(raw))
            yield from tagged_chunks(ids.add(batch, replaced_ids))
        records.close()
        dead.close()
        if self._answers_dir:
            write_entries(
                entries_path(self._answers_dir, shard.index, split.part),
                np.concatenate(answers) if answers else np.zeros((0, 3), np.uint64),
            )
        if side is not None and bands is not None:
            side.close()
            self._bands.done(bands)
            yield beam.pvalue.TaggedOutput(BANDS_TAG, shard.index)
        if shingle_rows is not None:
            report = shingle_rows.report()
            if self._answers_dir:  # nightly: later nights count templates over the reused shards' rows too
                write_template_report(self._answers_dir, shard.index, split.part, report)
            yield beam.pvalue.TaggedOutput(SHINGLE_ROWS_TAG, report)
        yield from tagged_chunks(ids.flush())
        yield beam.pvalue.TaggedOutput(ID_TALLY_TAG, ids.tally)
        yield beam.pvalue.TaggedOutput(STATS_TAG, (shard.name, (split.part, stats)))
        yield beam.pvalue.TaggedOutput(SCORED_TAG, split)

    def _replay(self, split: Split, stored: StoredShard) -> Iterator[Any]:
        """The outputs of scoring the part, from the night that scored it (its file and scores are unchanged)."""
        shard = split.shard
        params = self._signer.params if self._signer else None
        elsewhere = self._earlier.settled if self._earlier is not None and shard.index in self._settled_bands else None
        part = replay_part(split, stored, self._output, self._records_schema, self._answers_dir, params, elsewhere)
        if params is not None:
            bands = self._band_writer(split)
            for partition, entries in part.entries.items():
                bands.add(partition, entries)
            self._bands.done(bands)
            yield beam.pvalue.TaggedOutput(BANDS_TAG, shard.index)
        if part.report is not None:
            yield beam.pvalue.TaggedOutput(SHINGLE_ROWS_TAG, part.report)
        ids = IdCollector(self._id_partitions)
        for batch in part.scored.to_batches() if part.scored is not None else []:
            yield from tagged_chunks(ids.add(batch, {}))
        yield from tagged_chunks(ids.flush())
        yield beam.pvalue.TaggedOutput(ID_TALLY_TAG, ids.tally)
        if part.stats is not None:
            self._rows_read.inc(part.stats.rows_read)
            self._count("rows_replayed", part.stats.rows_scored)
            yield beam.pvalue.TaggedOutput(STATS_TAG, (shard.name, (split.part, part.stats)))
        yield beam.pvalue.TaggedOutput(SCORED_TAG, split)


class MergeStatsFn(beam.CombineFn):
    """Merge the ShardStats of one shard's parts, in part order.

    Float sums merged in another order can differ in their last digits; a fixed
    order makes the summary the same on every runner and worker count.
    """

    def create_accumulator(self) -> dict[int, summary.ShardStats]:
        return {}

    def add_input(
        self, acc: dict[int, summary.ShardStats], part_stats: tuple[int, summary.ShardStats]
    ) -> dict[int, summary.ShardStats]:
        part, stats = part_stats
        acc[part] = stats
        return acc

    def merge_accumulators(self, accs: Iterable[dict[int, summary.ShardStats]]) -> dict[int, summary.ShardStats]:
        out: dict[int, summary.ShardStats] = {}
        for acc in accs:
            out.update(acc)
        return out

    def extract_output(self, acc: dict[int, summary.ShardStats]) -> summary.ShardStats | None:
        merged = None
        for part in sorted(acc):
            merged = acc[part] if merged is None else merged.merge(acc[part])
        return merged


def _count_part(split: Split) -> tuple[int, tuple[Split, int]]:
    """(shard index, (part, newlines in it)); only the lines parts before the last need counting."""
    newlines = 0
    if split.kind == "lines" and split.part < split.parts - 1:
        newlines = count_newlines(split.shard.path, split.start, split.end)
    return split.shard.index, (split, newlines)


def _numbered_parts(item: tuple[int, Iterable[tuple[Split, int]]]) -> list[Split]:
    parts = list(item[1])
    return number_splits([s for s, _ in parts], {s.part: n for s, n in parts})


@beam.ptransform_fn
def ReadableParts(pbegin, shards: list[Shard], split_bytes: int, one_worker: bool = False):
    """The parts every shard is read in, each knowing the row number it starts at.

    A JSONL part's first row is the count of newlines before it, so the
    parts are counted in parallel (a byte scan, far cheaper than scoring)
    and numbered per shard before any row is scored.
    """
    return (
        pbegin
        | "Shards" >> beam.Create(shards)
        | "SpreadShards" >> Spread(one_worker)
        | "PlanParts" >> beam.FlatMap(plan_splits, split_bytes)
        | "SpreadCounts" >> Spread(one_worker)
        | "CountNewlines" >> beam.Map(_count_part)
        | "PartsPerShard" >> beam.GroupByKey()
        | "NumberParts" >> beam.FlatMap(_numbered_parts)
        | "SpreadParts" >> Spread(one_worker)
    )


def _write_summary_keeping_stats(
    stats: list[summary.ShardStats],
    output: str,
    stats_dir: str,
    scored_stats_dir: str,
    self_bleu_at: str,
    *args: Any,
    **kwargs: Any,
) -> dict[str, Any]:
    """write_summary, then each shard's final statistics into the nightly state, and their statistics before
    any keep decision (a later night re-decides an unchanged shard from them: state.replay) with the Self-BLEU
    the summary computed (memoized by its sample's digest, so it is not computed again); and, from a summary
    of the whole corpus, the dataset's Self-BLEU memo at `self_bleu_at`."""
    before = [pickle.dumps(s, protocol=pickle.HIGHEST_PROTOCOL) for s in stats] if scored_stats_dir else []
    memo = kwargs["self_bleu_memo"] = DatasetSelfBleu()
    dataset = write_summary(stats, output, *args, **kwargs)
    if self_bleu_at and kwargs.get("dataset_self_bleu", True):
        write_self_bleu(self_bleu_at, memo)
    write_stats(stats_dir, stats)
    if scored_stats_dir:
        scored = [pickle.loads(b) for b in before]
        for mine, final in zip(scored, stats, strict=True):
            if mine is not None:
                mine.self_bleu_memo = getattr(final, "self_bleu_memo", None)
        write_stats(scored_stats_dir, scored)
    return dataset


def _template_with(reports: list[Any], reused: list[tuple[str, int]], share: float, min_rows: int) -> np.ndarray:
    """The dataset's template shingles; on a night, over the reused shards' parts too (read here from the
    state), as a full run counts them."""
    return dataset_template(reports + read_template_reports(reused), share, min_rows)


def _finish_night(_record: Any, spec: NightSpec) -> dict[str, Any]:
    return finish_night(spec)


def _finish(_: Any, output: str, run_base: dict[str, Any], config: Config, *written: Any) -> dict[str, Any]:
    return finish_run(output, run_base, config)


@beam.ptransform_fn
def ScoreCorpus(
    pbegin,
    shards: list[Shard],
    config: Config,
    rule_list: list[Rule],
    output: str,
    schema: pa.Schema,
    run_base: dict[str, Any] | None = None,
    one_worker: bool = False,
    nightly: NightHooks | None = None,
):
    """The whole scoring job: shards in, records/ rejected/ kept/ summary/ out.

    With `run_base` the job also ends the run itself once every output is
    written: it accounts for every row and writes run.json (run_record.py).
    `one_worker`: the job runs in one process (small local inputs), so work is
    not spread between steps and clusters are found in memory. `nightly`: the
    re-scored shards of a night (transforms.state): tonight's answer counts,
    the earlier nights' reference signatures, and what the state keeps.
    """
    partitions = id_partitions(sum(s.size for s in shards))
    parts = pbegin | "Parts" >> ReadableParts(shards, config.input.split_bytes, one_worker)
    dataset_facts: dict[str, Any] = {}
    if answer_reuse.options(config).enabled and nightly is not None and nightly.reused_answers is not None:
        # A night's re-scored shards: counted over the whole corpus by the driver (state.answers).
        # Keys are 128-bit hashes: pickled, not through Create's inferred integer coder.
        reused = (
            pbegin
            | "ReusedAnswersTonight" >> beam.Create([pickle.dumps(nightly.reused_answers)])
            | "UnpickleAnswers" >> beam.Map(pickle.loads)
        )
        dataset_facts["reused_answers"] = beam.pvalue.AsSingleton(reused)
    elif answer_reuse.options(config).enabled:
        # Counted over every row before any is scored: the rules and the composite read it.
        reused = parts | "ReusedAnswers" >> ReusedAnswers(config, partitions)
        dataset_facts["reused_answers"] = beam.pvalue.AsSingleton(reused)
    outputs = parts | "ReadNormalizeScore" >> beam.ParDo(
        ScoreShardFn(
            config,
            rule_list,
            output,
            schema,
            partitions,
            nightly.answers_dir if nightly else "",
            nightly.stored if nightly else None,
            nightly.earlier if nightly else None,
            frozenset(nightly.settled_bands) if nightly else frozenset(),
            one_worker,
        ),
        **dataset_facts,
    ).with_outputs(REJECTED_TAG, STATS_TAG, BANDS_TAG, IDS_TAG, ID_TALLY_TAG, SCORED_TAG, SHINGLE_ROWS_TAG, main="records")
    # ReadNormalizeScore writes rejected/ and the scored rows itself, each part's before its
    # stats; KeepAndWrite writes records/ and kept/ from them (after duplicates/, with dedup),
    # and the summary, which needs both, is written after them.
    written: list[Any] = []
    side_inputs: dict[str, Any] = {}
    duplicates = None
    if config.dedup.enabled:
        params = DedupParams.from_config(config)
        template = None
        if params.finds_templates:
            # Shingles in many rows (templates) are counted over every part before any pair is verified.
            template = beam.pvalue.AsSingleton(
                outputs[SHINGLE_ROWS_TAG]
                | "AllShingleRows" >> beam.combiners.ToList()
                | "TemplateShingles"
                >> beam.Map(
                    _template_with,
                    list(nightly.template_sources) if nightly else [],
                    params.template_share,
                    params.template_min_rows,
                )
            )
        references = reference_files(params) if nightly is None else {**reference_files(params), **nightly.references}
        duplicates, per_shard, totals = outputs[BANDS_TAG] | "NearDuplicates" >> NearDuplicates(
            params,
            output,
            {s.index: s.name for s in shards},
            references,
            one_worker=one_worker,
            template=template,
            earlier=nightly.earlier if nightly else None,
            few_new_rows=bool(nightly and (nightly.references or nightly.settled_bands)),
            settled_bands=nightly.settled_bands if nightly else None,
        )
        written.append(duplicates)
        side_inputs = {"dup_counts": beam.pvalue.AsDict(per_shard), "dedup_totals": beam.pvalue.AsDict(totals)}
    # A re-decided shard at the index that scored it keeps that night's records/ and kept/ where no decision moved.
    earlier_runs = {i: s.run_dir for i, s in (nightly.stored if nightly else {}).items() if s.index == i}
    keep_counts = outputs[SCORED_TAG] | "KeepAndWrite" >> KeepAndWrite(
        config, rule_list, output, frozenset(s.name for s in shards), duplicates, one_worker, earlier_runs
    )
    side_inputs["keep_counts"] = beam.pvalue.AsDict(keep_counts)
    side_inputs["ids"] = beam.pvalue.AsSingleton(
        (outputs[IDS_TAG], outputs[ID_TALLY_TAG]) | "RepeatedIds" >> RepeatedIds({s.index: s.name for s in shards})
    )
    summary_written = (
        outputs[STATS_TAG]
        | "MergePerShard" >> beam.CombinePerKey(MergeStatsFn())
        | "Values" >> beam.Values()
        | "AllShards" >> beam.combiners.ToList()
        | "WriteSummary"
        >> (
            beam.Map(write_summary, output, rule_list, config, **side_inputs)
            if nightly is None or not nightly.stats_dir
            else beam.Map(
                _write_summary_keeping_stats,
                output,
                nightly.stats_dir,
                nightly.scored_stats_dir,
                nightly.self_bleu_path,
                rule_list,
                config,
                dataset_self_bleu=nightly.finish is None or nightly.finish.decision.full,
                **side_inputs,
            )
        )
    )
    written.append(summary_written)
    if run_base is not None:
        recorded = (
            pbegin
            | "RunEnd" >> beam.Create([None])
            | "AccountAndRecord" >> beam.Map(_finish, output, run_base, config, *[beam.pvalue.AsList(w) for w in written])
        )
        if nightly is not None and nightly.finish is not None:
            # A night's re-scored shards are done: the whole night's outputs, run.json, then the state commit.
            _ = recorded | "NightEnd" >> beam.Map(_finish_night, nightly.finish)
    return outputs
