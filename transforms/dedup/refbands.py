"""Band entries of a reference file, kept beside it so a later run reads them instead of hashing again.

A night reuses ~99 % of its shards; their reference rows' LSH band keys do
not change from night to night, only the shard number in each row key
does. The entries are stored with row keys that hold the row alone (shard
0) and get their shard when read; they are kept with the parameters that
made them, and a file made under other parameters (or in another layout)
is not used. They are sorted by band key, so a night reads only those
under its new rows' band keys by binary search.
"""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa

from winnow.transforms.dedup import lsh
from winnow.transforms.dedup.params import DedupParams
from winnow.transforms.dedup.sidefiles import signatures_at
from winnow.transforms.dedup.signer import band_entries_of
from winnow.transforms.io import files
from winnow.transforms.schema import ROW_BITS

# Columns of a side file the band entries are made from (not the shingles and tokens: half of the file).
BAND_COLUMNS = ["key", "row", "signature", "content_hash"]
_CHUNK = 8192
_LAYOUT = 2  # entries sorted by band key (1: by partition)


def bands_path(reference_path: str) -> str:
    """Where the band entries of a reference file (a .parquet side file) are kept: beside it."""
    return reference_path.removesuffix(".parquet") + ".bands.npz"


def _made_with(p: DedupParams) -> np.ndarray:
    return np.array([_LAYOUT, p.bands, p.rows, p.partitions, p.parts, p.num_perm, p.width], dtype=np.int64)


def reference_entries(table: pa.Table, p: DedupParams, shard_index: int = 0) -> tuple[np.ndarray, int]:
    """(band entries sorted by band key, rows) of a side table with BAND_COLUMNS, as rows of `shard_index`."""
    chunks: list[np.ndarray] = []
    for batch in table.to_batches(max_chunksize=_CHUNK):
        sigs = signatures_at(pa.Table.from_batches([batch]), np.arange(batch.num_rows), p.width)
        keys = (np.int64(shard_index) << ROW_BITS) | batch.column("row").to_numpy()
        exact = lsh.content_keys(batch.column("content_hash"))
        chunks.extend(band_entries_of(keys, sigs, exact, p).values())
    if not chunks:
        return np.zeros((0, 4), np.uint64), table.num_rows
    entries = np.concatenate(chunks)
    return entries[np.argsort(entries[:, 0], kind="stable")], table.num_rows


def write_reference_bands(path: str, entries: np.ndarray, rows: int, p: DedupParams) -> None:
    """Entries made with row keys of shard 0 (reference_entries' default)."""
    blob = io.BytesIO()
    np.savez(blob, entries=entries, rows=np.array([rows], np.int64), made_with=_made_with(p))
    files.write_atomically(path, blob.getvalue())


def read_reference_bands(
    path: str, shard_index: int, p: DedupParams, keys: np.ndarray | None = None
) -> tuple[np.ndarray, int] | None:
    """(entries sorted by band key with row keys of `shard_index`, only those under `keys` (ascending, distinct)
    when given; rows), or None when there is no file made with `p` in this layout."""
    if not files.exists(path):
        return None
    with np.load(io.BytesIO(files.read_bytes(path)), allow_pickle=False) as f:
        if not np.array_equal(f["made_with"], _made_with(p)):  # False too for the shorter layout-1 array
            return None
        entries, rows = f["entries"], int(f["rows"][0])
    entries = lsh.under_keys(entries, keys) if keys is not None else entries.copy()
    entries[:, 1] |= np.uint64(shard_index) << np.uint64(ROW_BITS)
    return entries, rows
