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
    for index in (REFERENCE_BASE + 1, REFERENCE_BASE + 42):
        got = refbands.read_reference_bands(refbands.bands_path(path), index, p)
        assert got is not None
        by_part, n = got
        want = _hashed(path, index, p)
        assert n == rows and sorted(by_part) == sorted(want)
        for part in want:
            assert np.array_equal(by_part[part], want[part])


def test_entries_made_with_other_parameters_or_missing_are_not_used(tmp_path) -> None:
    p = dedup_params(32)
    path = _reference_file(tmp_path, p)
    assert refbands.read_reference_bands(refbands.bands_path(path), REFERENCE_BASE, p) is None
    entries, rows = refbands.reference_entries(pq.read_table(path, columns=refbands.BAND_COLUMNS), p)
    refbands.write_reference_bands(refbands.bands_path(path), entries, rows, p)
    other = dedup_params(32, partitions=p.partitions * 2)
    assert refbands.read_reference_bands(refbands.bands_path(path), REFERENCE_BASE, other) is None
    assert refbands.bands_path("gs://b/state/refsig/s000005.parquet") == "gs://b/state/refsig/s000005.bands.npz"
