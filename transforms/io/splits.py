"""Plan the parts a shard is read in, and number their rows.

A large shard is read as several parts (`Split`) by different tasks: an
uncompressed JSONL file by byte ranges, a Parquet file by row groups;
compressed files and JSON arrays cannot be cut and are read whole. Row
numbers stay the file's own line or element numbers whatever the split, so
outputs do not depend on how a file was cut.
"""

from __future__ import annotations

import codecs
import dataclasses
from dataclasses import dataclass

import pyarrow.parquet as pq

from winnow.transforms.io.decompress import open_decompressed
from winnow.transforms.io.inputs import Shard, is_compressed, shard_kind

CHUNK_BYTES = 4 << 20  # bytes read at a time from a file


@dataclass(frozen=True)
class Split:
    """A part of one shard, read by one task.

    kind "lines": bytes [start, end) of an uncompressed JSONL file; the part
    holds the lines that begin in that range, and `first_row` is the number
    of newlines before `start` (filled in by counting, see number_splits).
    kind "row_groups": Parquet row groups [start, end), rows from `first_row`.
    kind "whole": the whole file.
    """

    shard: Shard
    part: int
    parts: int
    kind: str = "whole"
    start: int = 0
    end: int = -1
    first_row: int = 0


def plan_splits(shard: Shard, split_bytes: int) -> list[Split]:
    """The parts one shard is read in: one when it is small or cannot be cut.

    Compressed files and JSON arrays are read whole (neither can be entered
    in the middle); Parquet is cut between row groups, JSONL between bytes.
    The cut depends only on the file and `split_bytes`, never on the runner,
    so every runner reads the same parts.
    """
    whole = [Split(shard, 0, 1)]
    if split_bytes <= 0 or shard.size <= split_bytes or is_compressed(shard.path):
        return whole
    if shard_kind(shard.path) == "parquet":
        return _row_group_splits(shard, split_bytes) or whole
    if not _starts_like_jsonl(shard.path):
        return whole
    n = -(-shard.size // split_bytes)
    bounds = [shard.size * i // n for i in range(n + 1)]
    return [Split(shard, i, n, "lines", bounds[i], bounds[i + 1]) for i in range(n)]


def _starts_like_jsonl(path: str) -> bool:
    """True when the file's first non-blank byte is not '[' (a JSON array is read whole)."""
    try:
        with open_decompressed(path) as f:
            head = f.read(64 << 10)
    except Exception:
        return False
    stripped = head.lstrip()
    if stripped.startswith(codecs.BOM_UTF8):
        stripped = stripped[len(codecs.BOM_UTF8) :].lstrip()
    return bool(stripped) and stripped[:1] != b"["


def _row_group_splits(shard: Shard, split_bytes: int) -> list[Split]:
    try:
        with open_decompressed(shard.path) as f:
            meta = pq.ParquetFile(f).metadata
    except Exception:
        return []
    bounds: list[tuple[int, int, int]] = []  # (first group, end group, first row)
    start = first_row = rows = size = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        size += sum(group.column(c).total_compressed_size for c in range(group.num_columns))
        rows += group.num_rows
        if size >= split_bytes or g == meta.num_row_groups - 1:
            bounds.append((start, g + 1, first_row))
            start, first_row, size = g + 1, first_row + rows, 0
            rows = 0
    if len(bounds) <= 1:
        return []
    return [Split(shard, i, len(bounds), "row_groups", a, b, r) for i, (a, b, r) in enumerate(bounds)]


def count_newlines(path: str, start: int, end: int) -> int:
    """Newlines in bytes [start, end) of an uncompressed file: how row numbers carry across parts."""
    n = 0
    with open_decompressed(path) as f:
        f.seek(start)
        left = end - start
        while left > 0:
            chunk = f.read(min(CHUNK_BYTES, left))
            if not chunk:
                break
            n += chunk.count(b"\n")
            left -= len(chunk)
    return n


def number_splits(splits: list[Split], newlines: dict[int, int]) -> list[Split]:
    """Give each "lines" part its first row: the newlines in the parts before it."""
    out: list[Split] = []
    before = 0
    for s in sorted(splits, key=lambda s: s.part):
        out.append(dataclasses.replace(s, first_row=before) if s.kind == "lines" else s)
        before += newlines.get(s.part, 0)
    return out
