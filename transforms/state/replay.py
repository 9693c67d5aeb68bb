"""A night's unchanged shard re-decided from its stored scores instead of read and scored again.

A shard whose file did not change is re-scored on a night only because a
near-duplicate cluster it shares with a changed or removed row may keep
another row tonight (pipelines.nightly). Its scores cannot differ from
those of the night that scored it: the same bytes under the same
fingerprints and the same answer counts (a shard whose answer counts move
is re-scored in full). So the job takes them from the state: its scored
rows are that night's records less the keep columns, its signatures that
night's side files, its statistics those kept before any keep decision,
and its rejected rows, answer hashes and shingle reports are copied. The
clustering and the keep stage then run over it as over a re-scored shard,
and the outputs are those of a re-score (tests/e2e/test_nightly.py).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from winnow.transforms.curate import scored_path
from winnow.transforms.dedup import lsh, refbands
from winnow.transforms.dedup.params import DedupParams
from winnow.transforms.dedup.sidefiles import SIDE_FILE_OPTIONS, segment_of, side_path
from winnow.transforms.io import files
from winnow.transforms.io.parquet_out import part_name, write_table
from winnow.transforms.io.splits import Split
from winnow.transforms.state.answers import entries_path
from winnow.transforms.state.assemble import remap_column
from winnow.transforms.state.hooks import stats_path, template_path

SCORED_STATS = "scored_stats"  # a version's statistics of the shards it scored, before keep decisions


@dataclass(frozen=True)
class StoredShard:
    """Where the night that scored a shard left what a re-decision needs."""

    run_dir: str  # that night's job's run directory (records/, rejected/, signatures/)
    index: int  # the shard's index in that night
    answers_dir: str  # that night's answers/: answer hashes and frequent-shingle reports per part
    stats_path: str  # its statistics before keep decisions


@dataclass
class ReplayedPart:
    """What re-deciding one part hands on, as scoring it would: its scored rows (written to the work directory
    too), band entries per partition, frequent-shingle report and, for part 0, the shard's statistics."""

    scored: pa.Table | None = None
    entries: dict[int, np.ndarray] = field(default_factory=dict)
    report: Any = None
    stats: Any = None


def scored_stats_path(version_dir: str, shard_index: int) -> str:
    return stats_path(files.join(version_dir, SCORED_STATS), shard_index)


def _read(path: str, columns: list[str] | None = None) -> pa.Table:
    with files.open_read(path) as f:
        return pq.read_table(f, columns=columns)


def scored_rows(records: pa.Table, schema: pa.Schema, old: int, new: int) -> pa.Table:
    """A records/ table of shard `old` less its keep columns, as the scoring stage wrote it, in shard `new`."""
    missing = [n for n in schema.names if n not in records.schema.names]
    if missing:
        raise ValueError(f"stored records lack the scored columns {missing}: the state is not of this config")
    return remap_column(records.select(schema.names), "key", {old: new}).cast(schema)


def _copy_signatures(
    stored: StoredShard,
    new: int,
    part: int,
    output: str,
    params: DedupParams,
    banded_elsewhere: Callable[[np.ndarray], np.ndarray] | None,
) -> tuple[dict[int, np.ndarray], bool]:
    """The part's side files into `output` (keys in shard `new`); returns the band entries by partition of its
    rows but those `banded_elsewhere` picks (a mask over row keys), and whether it had side files."""
    tables = []
    for path in sorted(files.match(files.join(stored.run_dir, "signatures", f"s{stored.index:06d}-b*-{part:05d}.parquet"))):
        # Moved to another index, the whole file is rewritten; otherwise it is copied and only banded.
        table = _read(path, None if stored.index != new else refbands.BAND_COLUMNS)
        if not table.num_rows:
            continue
        table = remap_column(table, "key", {stored.index: new})
        target = side_path(output, int(segment_of(table.column("key").to_numpy()[:1])[0]), part)
        if stored.index == new:
            files.copy(path, target)
        else:
            write_table(target, table, SIDE_FILE_OPTIONS)
        tables.append(table.select(refbands.BAND_COLUMNS))
    if not tables:
        return {}, False
    band = pa.concat_tables(tables)
    if banded_elsewhere is not None:
        band = band.filter(pa.array(~banded_elsewhere(band.column("key").to_numpy())))
    entries, _ = refbands.reference_entries(band, params, new)
    return lsh.by_partition(entries, params.partitions), True


def replay_part(
    split: Split,
    stored: StoredShard,
    output: str,
    schema: pa.Schema,
    answers_dir: str = "",
    params: DedupParams | None = None,
    banded_elsewhere: Callable[[np.ndarray], np.ndarray] | None = None,
) -> ReplayedPart:
    """One part of a shard from the night that scored it, written where scoring it would write.

    `schema`: the scored rows'; `answers_dir`: tonight's (answer hashes and shingle reports are kept for
    later nights); `params`: with dedup on, its signatures are copied and their band entries made, but not of the rows
    `banded_elsewhere` picks (a mask over row keys): a night spills its settled rows' entries from their
    reference file.
    """
    new, old, part = split.shard.index, stored.index, split.part
    out = ReplayedPart()
    records = files.join(stored.run_dir, "records", part_name(old, part))
    if files.exists(records) and old == new:
        # The keep stage reads only the scored columns of its source (curate.finalize_part): the stored records
        # serve as they are (a link locally), and only the id columns are read here.
        files.copy(records, scored_path(output, new, part))
        out.scored = _read(records, ["key", "id", "shard", "row"])
    elif files.exists(records):
        out.scored = scored_rows(_read(records), schema, old, new)
        write_table(scored_path(output, new, part), out.scored)
    rejected = files.join(stored.run_dir, "rejected", part_name(old, part))
    if files.exists(rejected):
        files.copy(rejected, files.join(output, "rejected", part_name(new, part)))
    if params is not None:
        out.entries, signed = _copy_signatures(stored, new, part, output, params, banded_elsewhere)
        if out.scored is not None and out.scored.num_rows and not signed:
            raise FileNotFoundError(
                f"the state lacks the signatures of {split.shard.name} part {part} (in {stored.run_dir}/signatures); "
                f"run the night with a new --state to score every shard"
            )
    if answers_dir:
        hashes = entries_path(stored.answers_dir, old, part)
        if not files.exists(hashes):
            raise FileNotFoundError(f"the state lacks the answer hashes of {split.shard.name} part {part}: {hashes}")
        files.copy(hashes, entries_path(answers_dir, new, part))
    if params is not None and params.finds_templates:
        report = template_path(stored.answers_dir, old, part)
        if not files.exists(report):
            raise FileNotFoundError(f"the state lacks the frequent-shingle report of {split.shard.name} part {part}: {report}")
        out.report = pickle.loads(files.read_bytes(report))
        if answers_dir:
            files.copy(report, template_path(answers_dir, new, part))
    if part == 0:
        out.stats = pickle.loads(files.read_bytes(stored.stats_path))
        out.stats.shard_index = new
    return out
