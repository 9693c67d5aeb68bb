"""Arrow schemas of the canonical record and of dead letters."""

from __future__ import annotations

import pyarrow as pa

TURN = pa.struct([("role", pa.string()), ("content", pa.string())])

# One row per input row, whatever its format (DESIGN.md, "Canonical record").
CANONICAL = pa.schema(
    [
        ("key", pa.int64()),  # (shard index << 40) | row: dense, collision-free
        ("id", pa.string()),
        ("shard", pa.string()),
        ("row", pa.int64()),
        ("format", pa.string()),
        ("turns", pa.list_(TURN)),
        ("system", pa.string()),
        ("instruction", pa.string()),  # first user turn, input included
        ("input", pa.string()),  # alpaca input / dolly context, else ""
        ("response", pa.string()),  # last assistant turn
        ("n_turns", pa.int32()),
        ("media", pa.list_(pa.string())),
        ("content_hash", pa.string()),  # 128-bit blake2b of normalized text, hex
        ("meta", pa.string()),  # unmapped fields as JSON
    ]
)

REJECTED = pa.schema(
    [
        ("shard", pa.string()),
        ("row", pa.int64()),
        ("reason", pa.string()),
        ("raw", pa.string()),
    ]
)

ROW_BITS = 40  # rows per shard < 2**40; shards < 2**23


def row_key(shard_index: int, row: int) -> int:
    return (shard_index << ROW_BITS) | row
