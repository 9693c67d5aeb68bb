"""Side files: each row's signature (and token lists) beside the outputs, by segment.

Signatures are written once, during scoring, one file per segment
(2**SEGMENT_BITS consecutive rows of one shard) and input part; every later
stage loads only the segment it works on, so no task holds more than a
segment's signatures, and the full signature set is never shuffled.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from winnow.transforms.arrow_bytes import unique_sorted
from winnow.transforms.dedup.params import REFERENCE_BASE, SEQUENCE_COLUMNS, DedupParams
from winnow.transforms.io import files
from winnow.transforms.io.parquet_out import BatchFile
from winnow.transforms.run_layout import WORK_DIR
from winnow.transforms.schema import ROW_BITS

# Side files are read back by later stages and later runs, never by users: zstd, and no dictionary pages.
# Their columns are hashes, ids and token lists, nearly all distinct: dictionary-encoding them made a shard's
# file 4% larger and its write 5x slower (1,865 rows: 0.052 s to 0.009 s, 3.21 to 3.09 MB).
SIDE_FILE_OPTIONS = {"compression": "zstd", "use_dictionary": False}


def side_schema(params: DedupParams) -> pa.Schema:
    fields = [
        ("key", pa.int64()),
        ("id", pa.string()),
        ("row", pa.int64()),
        ("content_hash", pa.string()),
        ("quality", pa.float64()),
        ("response_chars", pa.int64()),
        ("instruction_chars", pa.int64()),
        ("n_turns", pa.int64()),
        ("signature", pa.binary(4 * params.width)),
    ]
    if params.verify in SEQUENCE_COLUMNS:
        # Per signature part: the shingle hashes, or the word-token hashes in order.
        fields.extend((name, pa.list_(pa.list_(pa.uint32()))) for name in SEQUENCE_COLUMNS[params.verify])
    return pa.schema(fields)


# The near-duplicate stages after LSH work per segment: 2**SEGMENT_BITS
# consecutive rows of one shard. A segment's side rows are what a task loads
# at once, so one huge input file does not become one huge task.
SEGMENT_BITS = 16
_BLOCK_BITS = ROW_BITS - SEGMENT_BITS


def segment_of(keys: np.ndarray) -> np.ndarray:
    """The segment of each row key: (shard << 24) | (row >> 16)."""
    return keys >> SEGMENT_BITS


def side_path(output: str, segment: int, part: int = 0) -> str:
    """The side file of one segment's rows written by one input part (a segment may span parts)."""
    shard, block = segment >> _BLOCK_BITS, segment & ((1 << _BLOCK_BITS) - 1)
    return files.join(output, "signatures", f"s{shard:06d}-b{block:08d}-{part:05d}.parquet")


def segment_side_paths(output: str, segment: int) -> list[str]:
    shard, block = segment >> _BLOCK_BITS, segment & ((1 << _BLOCK_BITS) - 1)
    return files.match(files.join(output, "signatures", f"s{shard:06d}-b{block:08d}-*.parquet"))


def work_dir(output: str, name: str) -> str:
    """Intermediate files of the near-duplicate stages, removed after the run."""
    return files.join(output, WORK_DIR, name)


class SegmentSideFiles:
    """The side rows of one input part, one file per segment they fall in."""

    def __init__(self, output: str, part: int, schema: pa.Schema):
        self.output, self.part, self.schema = output, part, schema
        self._writers: dict[int, BatchFile] = {}

    def write(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        segments = segment_of(batch.column("key").to_numpy())
        for seg in unique_sorted(segments):
            writer = self._writers.get(int(seg))
            if writer is None:
                writer = self._writers[int(seg)] = BatchFile(
                    side_path(self.output, int(seg), self.part), self.schema, SIDE_FILE_OPTIONS
                )
            writer.write(batch.filter(pa.array(segments == seg)))

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()


def read_side(path: str, shard_index: int, columns: list[str] | None = None) -> pa.Table:
    """A side file (`columns` of it; with a reference file, include key and row): rows of a reference
    file get keys in this run's reference shard."""
    with files.open_read(path) as f:
        table = pq.read_table(f, columns=columns)
    if shard_index >= REFERENCE_BASE:
        keys = (np.int64(shard_index) << ROW_BITS) | table.column("row").to_numpy()
        table = table.set_column(table.schema.get_field_index("key"), "key", pa.array(keys, pa.int64()))
    return table


class SideCache:
    """The last few segments' side rows, sorted by key for searchsorted look-ups."""

    def __init__(self, output: str, references: dict[int, str] | None = None, size: int = 2):
        self.output = output
        self.references = references or {}
        self.size = size
        self._cache: OrderedDict[int, tuple[np.ndarray, pa.Table]] = OrderedDict()

    def get(self, segment: int) -> tuple[np.ndarray, pa.Table]:
        if segment in self._cache:
            self._cache.move_to_end(segment)
            return self._cache[segment]
        shard = segment >> _BLOCK_BITS
        ref = self.references.get(shard)
        if ref:
            table = read_side(ref, shard)
            inside = segment_of(table.column("key").to_numpy()) == segment
            if not inside.all():  # a reference file of fewer rows than a segment is one segment: no copy of it
                table = table.filter(pa.array(inside))
        else:
            paths = segment_side_paths(self.output, segment)
            if not paths:
                raise KeyError(f"no signature files for segment {segment} (shard {shard}) in {self.output}/signatures")
            table = pa.concat_tables([read_side(path, shard) for path in paths])
        keys = table.column("key").to_numpy()
        if len(keys) > 1 and not (keys[1:] >= keys[:-1]).all():  # written in row order: usually sorted already
            order = np.argsort(keys, kind="stable")
            table, keys = table.take(pa.array(order)), keys[order]
        self._cache[segment] = (keys, table)
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return keys, table

    def rows(self, segment: int, wanted: np.ndarray) -> tuple[pa.Table, np.ndarray]:
        keys, table = self.get(segment)
        idx = np.searchsorted(keys, wanted)
        if len(wanted) and (idx.max() >= len(keys) or not (keys[idx] == wanted).all()):
            raise KeyError(f"signatures of segment {segment} lack some rows; was an input rewritten during the run?")
        return table, idx


def signatures_at(table: pa.Table, idx: np.ndarray, width: int) -> np.ndarray:
    col = table.column("signature").combine_chunks()
    raw = np.frombuffer(col.buffers()[1], dtype="<u4")[col.offset * width : (col.offset + len(col)) * width]
    return raw.reshape(-1, width)[idx]
