"""Band entries kept beside a reference file are the entries hashing its signatures would give."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from conftest import dedup_params

from winnow.transforms.dedup import lsh, refbands
from winnow.transforms.dedup.params import REFERENCE_BASE
from winnow.transforms.dedup.sidefiles import read_side, signatures_at
from winnow.transforms.dedup.signer import band_entries_of
from winnow.transforms.schema import ROW_BITS


def _reference_file(tmp_path, p, rows: int = 300) -> str:
    rng = np.random.default_rng(7)
    sigs = rng.integers(0, 2**32, (rows, p.width), dtype=np.uint64).astype(np.uint32)
    sigs[rows // 2 :] = sigs[: rows - rows // 2]  # copies: shared bands
    row = np.arange(rows, dtype=np.int64) * 3  # reference rows are the shard's rows that are no copy: gaps
    table = pa.table(
        {
            "key": pa.array((np.int64(5) << ROW_BITS) | row),
            "row": pa.array(row),
            "content_hash": [f"{rng.integers(0, 2**63):032x}" for _ in range(rows)],
            "signature": pa.array([s.tobytes() for s in sigs], pa.binary(4 * p.width)),
        }
    )
    path = str(tmp_path / "s000005.parquet")
    pq.write_table(table, path)
    return path


def _hashed(path: str, index: int, p) -> dict[int, np.ndarray]:
    """What ReferenceBandsFn computed before the entries were kept: the file's rows as rows of `index`."""
    table = read_side(path, index, refbands.BAND_COLUMNS)
    sigs = signatures_at(table, np.arange(table.num_rows), p.width)
    return band_entries_of(
        table.column("key").to_numpy(), sigs, lsh.content_keys(table.column("content_hash").combine_chunks()), p
    )


def test_kept_entries_read_as_any_reference_index_equal_hashing_the_file(tmp_path) -> None:
    p = dedup_params(32)
    path = _reference_file(tmp_path, p)
    entries, rows = refbands.reference_entries(pq.read_table(path, columns=refbands.BAND_COLUMNS), p)
    refbands.write_reference_bands(refbands.bands_path(path), entries, rows, p)
    assert np.all(entries[1:, 0] >= entries[:-1, 0])  # sorted by band key
    for index in (REFERENCE_BASE + 1, REFERENCE_BASE + 42):
        got = refbands.read_reference_bands(refbands.bands_path(path), index, p)
        assert got is not None
        kept, n = got
        by_part, want = lsh.by_partition(kept, p.partitions), _hashed(path, index, p)
        assert n == rows and sorted(by_part) == sorted(want)
        for part in want:
            assert np.array_equal(_rows_in_order(by_part[part]), _rows_in_order(want[part]))


def _rows_in_order(entries: np.ndarray) -> np.ndarray:
    return entries[np.lexsort(entries.T[::-1])]


def test_only_the_entries_under_the_keys_asked_for_are_read(tmp_path) -> None:
    """A night asks for the entries under its new rows' band keys: exactly those of the whole file, including
    keys many rows share (the copies) and keys no row holds."""
    p = dedup_params(32)
    path = _reference_file(tmp_path, p)
    entries, rows = refbands.reference_entries(pq.read_table(path, columns=refbands.BAND_COLUMNS), p)
    refbands.write_reference_bands(refbands.bands_path(path), entries, rows, p)
    index = REFERENCE_BASE + 3
    every = refbands.read_reference_bands(refbands.bands_path(path), index, p)
    assert every is not None
    rng = np.random.default_rng(1)
    band_keys = np.unique(every[0][:, 0])
    asked = np.unique(np.concatenate([rng.choice(band_keys, 40), rng.integers(0, 2**63, 20).astype(np.uint64)]))
    got = refbands.read_reference_bands(refbands.bands_path(path), index, p, asked)
    assert got is not None and got[1] == rows
    want = every[0][np.isin(every[0][:, 0], asked)]
    assert len(want) > 40  # the copies share band keys: several rows under one key
    assert np.array_equal(_rows_in_order(got[0]), _rows_in_order(want))
    nothing = refbands.read_reference_bands(refbands.bands_path(path), index, p, np.zeros(0, np.uint64))
    assert nothing is not None and len(nothing[0]) == 0


def test_entries_made_with_other_parameters_or_missing_are_not_used(tmp_path) -> None:
    p = dedup_params(32)
    path = _reference_file(tmp_path, p)
    assert refbands.read_reference_bands(refbands.bands_path(path), REFERENCE_BASE, p) is None
    entries, rows = refbands.reference_entries(pq.read_table(path, columns=refbands.BAND_COLUMNS), p)
    refbands.write_reference_bands(refbands.bands_path(path), entries, rows, p)
    other = dedup_params(32, partitions=p.partitions * 2)
    assert refbands.read_reference_bands(refbands.bands_path(path), REFERENCE_BASE, other) is None
    # A file of the layout before (sorted by partition, made_with without the layout) is not read as sorted.
    made_with = np.array([p.bands, p.rows, p.partitions, p.parts, p.num_perm, p.width], dtype=np.int64)
    np.savez(refbands.bands_path(path), entries=entries, rows=np.array([rows], np.int64), made_with=made_with)
    assert refbands.read_reference_bands(refbands.bands_path(path), REFERENCE_BASE, p) is None
    assert refbands.bands_path("gs://b/state/refsig/s000005.parquet") == "gs://b/state/refsig/s000005.bands.npz"
