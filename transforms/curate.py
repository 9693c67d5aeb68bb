"""The last pass over one input part: keep decisions into records/, the kept rows into kept/.

Runs once the part is scored and (with dedup) every near-duplicate cluster
is settled. It reads the part's scored rows back from the work directory,
the duplicates/ rows of its key range, decides keep and drop_reasons
(keep_policy.decide, with the policy of the part's source), writes the
part's records/ file, and, with output.kept, reads the part of the input
again and writes the kept rows as they were there (kept_out). Every kept/
file is read back once written, and its rows and bytes are counted for the
accounting at the end of the run. Dedup off or on, it is the same pass: no
duplicates/, no near-duplicate drops.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winnow.transforms.io import files
from winnow.transforms.io.inputs import shard_kind, strip_compression
from winnow.transforms.io.kept_out import KeptLines, KeptParquet, kept_name, kept_path, read_back
from winnow.transforms.io.parquet_out import BatchFile, part_name
from winnow.transforms.io.readers import batched, is_json_array, original_batches, original_rows, parquet_codec
from winnow.transforms.io.splits import Split
from winnow.transforms.keep_policy import KEEP_FIELDS, KeepPolicy, records_schema, with_decisions
from winnow.transforms.redaction import redact_batch, redact_values
from winnow.transforms.run_layout import WORK_DIR
from winnow.transforms.schema import ROW_BITS
from winnow.transforms.signals.rules import Rule
from winnow.transforms.sources import config_for_shard
from winnow.transforms.summary.keep_counts import KeepTally, KeptFile

if TYPE_CHECKING:
    from winnow.transforms.config import Config

SCORED = "scored"  # WORK_DIR/scored/part-SSSSSS-PPPPP.parquet: a part's scored rows until records/ is written
CARRIED = "carried"
DUPLICATE_COLUMNS = ["key", "keep", "kept_id", "cluster_id", "cluster_size", "similarity"]  # the last three: the report


def carried_path(output: str) -> str:
    """Last night's duplicates/ rows of a night's frozen copies (dedup.earlier), keys tonight's: this pass
    reads them with the run's own duplicates/."""
    return files.join(output, WORK_DIR, CARRIED, "duplicates.parquet")


def scored_path(output: str, shard_index: int, part: int) -> str:
    """Where the scoring stage leaves one part's scored rows for this pass."""
    return files.join(output, WORK_DIR, SCORED, part_name(shard_index, part))


def finalize_part(
    split: Split,
    output: str,
    config: Config,
    rule_list: Sequence[Rule],
    shard_names: frozenset[str] = frozenset(),
    earlier_run: str = "",
) -> KeepTally:
    """Decide, write records/ and kept/ for one part; returns its counts (and kept files).

    `shard_names`: every shard name of the run, so kept/ names never clash. `earlier_run`: the run directory
    of the night that scored this part at this shard index (a night's re-decided shard, state.replay; the
    part's source is its records/ file): when no row's decision moved, that night's records/ and kept/ files
    are tonight's as they are (links locally), not written again from the input.
    """
    shard = split.shard
    policy = KeepPolicy.from_config(config_for_shard(config, shard.path, shard.name), rule_list)
    tally = KeepTally()
    source = scored_path(output, shard.index, split.part)
    if not files.exists(source):  # no row of this part was scored
        return tally
    schema = records_schema(config)
    # Every column a threshold is set on (the run's keep.min and each source's): the report's what-if needs them.
    min_columns = tuple(
        dict.fromkeys([*config.keep.min, *(c for s in config.sources for c in ((s.keep or {}).get("min") or {}))])
    )
    target = files.join(output, "records", part_name(shard.index, split.part))
    scored_columns = schema.names[: -len(KEEP_FIELDS)]
    kept_rows: list[np.ndarray] = []
    with files.open_read(source) as f:
        scored = pq.ParquetFile(f)
        compare = bool(earlier_run) and all(k.name in scored.schema_arrow.names for k in KEEP_FIELDS)
        records = None if compare else BatchFile(target, schema)
        moved = False
        keys = _key_range(scored.metadata) or shard_key_range(shard.index)
        duplicates = _duplicates_in(output, keys) if config.dedup.enabled else None
        # Only the scored columns are decided from: a re-decided shard's source is the records/ file of the
        # night that scored it, whose decisions are compared with tonight's.
        for batch in scored.iter_batches(columns=scored_columns + ([k.name for k in KEEP_FIELDS] if compare else [])):
            decided = with_decisions(batch.select(scored_columns) if compare else batch, policy, duplicates)
            if records is not None:
                records.write(decided)
            else:
                moved = moved or not all(decided.column(k.name).equals(batch.column(k.name)) for k in KEEP_FIELDS)
            keep = decided.column("keep")
            tally.add_decided(decided, duplicates, min_columns)
            kept_rows.append(decided.column("row").filter(keep).to_numpy(zero_copy_only=False))
    if records is not None:
        records.close()
    elif moved:
        _write_records(source, target, schema, policy, duplicates)
    else:
        files.copy(source, target)
    if config.output.kept:
        rows = np.concatenate(kept_rows) if kept_rows else np.zeros(0, dtype=np.int64)
        same = _earlier_kept(split, output, earlier_run, shard_names, len(rows)) if compare and not moved else None
        tally.files.extend([same] if same is not None else write_kept(split, output, config, rows, shard_names))
    return tally


def _write_records(source: str, target: str, schema: pa.Schema, policy: KeepPolicy, duplicates: pa.Table | None) -> None:
    """records/ of a part from its scored rows (a second pass, when a re-decided part's decisions moved)."""
    records = BatchFile(target, schema)
    with files.open_read(source) as f:
        for batch in pq.ParquetFile(f).iter_batches(columns=schema.names[: -len(KEEP_FIELDS)]):
            records.write(with_decisions(batch, policy, duplicates))
    records.close()


def _earlier_kept(split: Split, output: str, earlier_run: str, shard_names: frozenset[str], rows: int) -> KeptFile | None:
    """The kept/ file of a part whose decisions did not move, from the night that scored it (the same input
    bytes and the same kept rows give the same file), when it holds `rows` rows; None to write it."""
    if not rows:
        return None
    name = _kept_file_name(split, shard_names)
    if name != _kept_file_name(split, frozenset()):
        return None  # named after other shards of the run, which that night's may not have been
    earlier = kept_path(earlier_run, name)
    if not files.exists(earlier):
        return None
    files.copy(earlier, kept_path(output, name))
    found, size = read_back(output, name)
    return KeptFile(f"kept/{name}", found, size) if found == rows else None


def _kept_file_name(split: Split, shard_names: frozenset[str]) -> str:
    shard = split.shard
    # Only a .json shard's name depends on whether it holds an array (which reads its first bytes).
    json_array = strip_compression(shard.name).lower().endswith(".json") and is_json_array(split)
    return kept_name(shard.name, split.part, split.parts, json_array, shard_names)


def _key_range(meta: pq.FileMetaData) -> tuple[int, int] | None:
    """(smallest, largest) row key of a scored part, from the `key` column's statistics."""
    column = meta.schema.to_arrow_schema().get_field_index("key")
    lo = hi = None
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(column).statistics
        if stats is None or not stats.has_min_max:
            return None
        lo = stats.min if lo is None else min(lo, stats.min)
        hi = stats.max if hi is None else max(hi, stats.max)
    return None if lo is None or hi is None else (int(lo), int(hi))


def _duplicates_in(output: str, keys: tuple[int, int]) -> pa.Table:
    """duplicates/ rows (key, keep, kept_id), and carried ones, whose key is in [lo, hi]; row groups outside it
    are not read."""
    tables = []
    carried = carried_path(output)
    for path in [*files.match(files.join(output, "duplicates", "*.parquet")), *([carried] if files.exists(carried) else [])]:
        with files.open_read(path) as f:
            pf = pq.ParquetFile(f)
            column = pf.schema_arrow.get_field_index("key")
            for g in range(pf.metadata.num_row_groups):
                stats = pf.metadata.row_group(g).column(column).statistics
                if stats is not None and stats.has_min_max and (stats.max < keys[0] or stats.min > keys[1]):
                    continue
                table = pf.read_row_group(g, columns=DUPLICATE_COLUMNS)
                key = table.column("key")
                tables.append(table.filter(pc.and_(pc.greater_equal(key, keys[0]), pc.less_equal(key, keys[1]))))
    if not tables:
        return pa.schema(
            [
                ("key", pa.int64()),
                ("keep", pa.bool_()),
                ("kept_id", pa.string()),
                ("cluster_id", pa.int64()),
                ("cluster_size", pa.int64()),
                ("similarity", pa.float32()),
            ]
        ).empty_table()
    return pa.concat_tables(tables)


def write_kept(split: Split, output: str, config: Config, rows: np.ndarray, shard_names: frozenset[str]) -> list[KeptFile]:
    """The input rows numbered `rows` (sorted), as the input has them, into the part's kept/ file.

    Returns the file with the rows and bytes read back from it; nothing when no row is kept.
    """
    if not len(rows):
        return []
    shard = split.shard
    redact = config.safety.redact
    name = _kept_file_name(split, shard_names)
    if shard_kind(shard.path) == "parquet":
        schema, batches = original_batches(split, config.input.batch_size)
        parquet = KeptParquet(output, name, schema, parquet_codec(split))
        for first, batch in batches:
            selected = batch.filter(pa.array(_members(first + np.arange(batch.num_rows), rows)))
            parquet.write(redact_batch(selected) if redact else selected)
        parquet.close()
        opened = parquet.opened
    else:
        lines = KeptLines(output, name)
        for chunk in batched(_selected(original_rows(split, config.input.max_row_bytes), rows), config.input.batch_size):
            for line in redact_lines(chunk) if redact else chunk:
                lines.write(line)
        lines.close()
        opened = lines.opened
    if not opened:  # the kept rows were not found in the input again: the accounting reports it
        return []
    kept_rows, size = read_back(output, name)
    return [KeptFile(f"kept/{name}", kept_rows, size)]


def _members(numbers: np.ndarray, sorted_rows: np.ndarray) -> np.ndarray:
    """Which of `numbers` are in `sorted_rows`."""
    at = np.searchsorted(sorted_rows, numbers)
    return (at < len(sorted_rows)) & (sorted_rows[np.minimum(at, len(sorted_rows) - 1)] == numbers)


def _selected(originals: Iterator[tuple[int, bytes]], sorted_rows: np.ndarray) -> Iterator[bytes]:
    """The originals whose row number is in `sorted_rows` (both in row order)."""
    wanted = iter(sorted_rows.tolist())
    target = next(wanted, None)
    for row, data in originals:
        while target is not None and target < row:
            target = next(wanted, None)
        if target is None:
            return
        if row == target:
            yield data
            target = next(wanted, None)


def redact_lines(lines: list[bytes]) -> list[bytes]:
    """JSON rows with PII redacted in their string values; a row with nothing to redact keeps its bytes."""
    values = [_loads(line) for line in lines]
    redacted = redact_values(values)
    return [line if new is None else _dumps(new) for line, new in zip(lines, redacted)]


def _loads(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:  # beyond orjson: integers of more than 64 bits
        return json.loads(line)


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # beyond orjson: integers of more than 64 bits
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def shard_key_range(shard_index: int) -> tuple[int, int]:
    """Every row key a shard can have."""
    return shard_index << ROW_BITS, ((shard_index + 1) << ROW_BITS) - 1
