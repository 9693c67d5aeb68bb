"""A re-decided shard's reference file is copied from the night that scored it when its rows that are no
copy did not change, and made again otherwise."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from winnow.transforms.dedup import refbands
from winnow.transforms.io.inputs import Shard
from winnow.transforms.schema import ROW_BITS
from winnow.transforms.state.manifest import RESCORE, ShardDecision
from winnow.transforms.state.night import NightSpec, _same_refsig, refsig_path


def keys(index: int, rows: list[int]) -> pa.Array:
    return pa.array([(index << ROW_BITS) | r for r in rows], pa.int64())


def setup(tmp_path: Path, index: int = 4) -> tuple[NightSpec, ShardDecision, str]:
    state = str(tmp_path / "state")
    old = refsig_path(state, "v1", 4)
    Path(old).parent.mkdir(parents=True)
    pq.write_table(pa.table({"key": keys(4, [0, 2]), "row": pa.array([0, 2], pa.int64())}), old)
    Path(refbands.bands_path(old)).write_bytes(b"band entries of last night")
    signatures = tmp_path / "run" / "signatures"
    signatures.mkdir(parents=True)
    pq.write_table(pa.table({"key": keys(index, [0, 1, 2])}), signatures / f"s{index:06d}-b00000-00000.parquet")
    spec = NightSpec(state, "v2", "", None, [], None, None, {}, {})  # type: ignore[arg-type]
    d = ShardDecision(Shard(index, "p", "p.jsonl", 1), RESCORE, "", {}, {"scored_in": "v1", "scored_index": 4})
    d.replayed = True
    return spec, d, str(signatures / f"s{index:06d}-*.parquet")


def test_the_same_rows_no_copy_copy_last_nights_file_and_bands(tmp_path):
    spec, d, signatures = setup(tmp_path)
    target = refsig_path(spec.state_dir, "v2", 4)
    assert _same_refsig(spec, d, signatures, keys(4, [1]), target)
    assert Path(target).read_bytes() == Path(refsig_path(spec.state_dir, "v1", 4)).read_bytes()
    assert Path(refbands.bands_path(target)).read_bytes() == b"band entries of last night"


def test_another_row_no_copy_or_a_moved_index_makes_it_again(tmp_path):
    spec, d, signatures = setup(tmp_path)
    target = refsig_path(spec.state_dir, "v2", 4)
    assert not _same_refsig(spec, d, signatures, keys(4, []), target)  # row 1 is no copy tonight
    assert not _same_refsig(spec, d, signatures, keys(4, [1, 2]), target)  # row 2 became a copy
    assert not Path(target).exists()
    spec, d, signatures = setup(tmp_path / "moved", index=5)
    assert not _same_refsig(spec, d, signatures, keys(5, [1]), refsig_path(spec.state_dir, "v2", 5))
