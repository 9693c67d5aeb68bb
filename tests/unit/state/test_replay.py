"""state.replay: a part of an unchanged shard handed on from the night that scored it, in tonight's place."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from winnow.transforms.config import load_config
from winnow.transforms.curate import scored_path
from winnow.transforms.dedup.params import DedupParams
from winnow.transforms.io.inputs import Shard
from winnow.transforms.io.splits import Split
from winnow.transforms.schema import ROW_BITS
from winnow.transforms.state.answers import entries_path
from winnow.transforms.state.hooks import template_path
from winnow.transforms.state.replay import StoredShard, replay_part, scored_rows

SCORED = pa.schema([("key", pa.int64()), ("id", pa.string()), ("row", pa.int64()), ("quality", pa.float64())])


def _records(shard: int, n: int) -> pa.Table:
    return pa.table(
        {
            "key": pa.array([(shard << ROW_BITS) | r for r in range(n)], pa.int64()),
            "id": [f"r{r}" for r in range(n)],
            "shard": ["s.jsonl"] * n,
            "row": pa.array(range(n), pa.int64()),
            "quality": [0.5 + r / 100 for r in range(n)],
            "keep": [r % 2 == 0 for r in range(n)],
            "drop_reasons": pa.array([[] if r % 2 == 0 else ["near_duplicate_of:r0"] for r in range(n)], pa.list_(pa.string())),
        }
    )


def _stored(tmp_path: Path, old: int, n: int = 5) -> StoredShard:
    run, answers = tmp_path / "v1" / "run", tmp_path / "v1" / "answers"
    (run / "records").mkdir(parents=True)
    (run / "rejected").mkdir()
    answers.mkdir(parents=True)
    pq.write_table(_records(old, n), run / "records" / f"part-{old:06d}-00000.parquet")
    pq.write_table(
        pa.table({"shard": ["s.jsonl"], "row": pa.array([n], pa.int64())}), run / "rejected" / f"part-{old:06d}-00000.parquet"
    )
    np.save(entries_path(str(answers), old, 0), np.arange(6, dtype=np.uint64).reshape(2, 3))
    stats = tmp_path / "v1" / "scored_stats.pkl"
    stats.write_bytes(pickle.dumps(SimpleNamespace(shard_index=old, rows_read=n + 1, rows_scored=n)))
    return StoredShard(str(run), old, str(answers), str(stats))


def _split(index: int, part: int = 0) -> Split:
    return Split(Shard(index, "/data/s.jsonl", "s.jsonl", 100), part, 2)


def test_scored_rows_are_the_records_less_the_keep_columns_with_keys_in_tonights_shard() -> None:
    table = scored_rows(_records(3, 4), SCORED, old=3, new=7)
    assert table.schema == SCORED
    assert table.column("key").to_pylist() == [(7 << ROW_BITS) | r for r in range(4)]
    assert table.column("quality").to_pylist() == _records(3, 4).column("quality").to_pylist()
    with pytest.raises(ValueError, match="lack the scored columns"):
        scored_rows(_records(3, 4).drop_columns(["quality"]), SCORED, old=3, new=7)


def test_a_part_is_written_where_scoring_it_would_write_and_part_0_carries_the_statistics(tmp_path: Path) -> None:
    stored = _stored(tmp_path, old=3)
    out, answers = tmp_path / "tonight" / "run", tmp_path / "tonight" / "answers"
    part = replay_part(_split(5), stored, str(out), SCORED, str(answers))
    assert part.scored is not None and part.scored.num_rows == 5
    written = pq.read_table(scored_path(str(out), 5, 0))
    assert written.column("key").to_pylist() == [(5 << ROW_BITS) | r for r in range(5)]
    assert written.schema.names == SCORED.names  # no keep or drop_reasons: the keep stage decides again
    assert (out / "rejected" / "part-000005-00000.parquet").exists()
    assert np.load(entries_path(str(answers), 5, 0)).tolist() == [[0, 1, 2], [3, 4, 5]]
    assert part.stats.shard_index == 5 and part.stats.rows_read == 6
    assert part.entries == {} and part.report is None
    later = replay_part(_split(5, part=1), stored, str(out), SCORED)
    assert later.stats is None and later.scored is None  # part 1 held no row last night
    # At the same index the stored records are the keep stage's source as they are (it reads only the scored
    # columns); only the id columns are read here.
    same = replay_part(_split(3), stored, str(out), SCORED)
    assert os.path.samefile(scored_path(str(out), 3, 0), Path(stored.run_dir) / "records" / "part-000003-00000.parquet")
    assert same.scored is not None and same.scored.column_names == ["key", "id", "shard", "row"]


def test_a_state_missing_what_a_part_needs_is_a_clear_error(tmp_path: Path) -> None:
    stored = _stored(tmp_path, old=3)
    out = tmp_path / "tonight"
    params = DedupParams.from_config(load_config())
    with pytest.raises(FileNotFoundError, match=r"lacks the signatures of s\.jsonl part 0"):
        replay_part(_split(3), stored, str(out / "run"), SCORED, "", params)
    Path(entries_path(stored.answers_dir, 3, 0)).unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks the answer hashes of s\.jsonl part 0"):
        replay_part(_split(3), stored, str(out / "run"), SCORED, str(out / "answers"))


def _signatures(stored: StoredShard, params: DedupParams, n: int = 5) -> None:
    """Side rows of the stored shard's part 0: random signatures, distinct content."""
    rng = np.random.default_rng(3)
    sigs = rng.integers(0, 2**32, size=(n, params.width), dtype=np.uint32)
    table = pa.table(
        {
            "key": pa.array([(stored.index << ROW_BITS) | r for r in range(n)], pa.int64()),
            "row": pa.array(range(n), pa.int64()),
            "signature": pa.array([s.tobytes() for s in sigs], pa.binary(4 * params.width)),
            "content_hash": [f"{r:032x}" for r in range(n)],
        }
    )
    folder = Path(stored.run_dir) / "signatures"
    folder.mkdir()
    Path(template_path(stored.answers_dir, stored.index, 0)).write_bytes(pickle.dumps({}))
    pq.write_table(table, folder / f"s{stored.index:06d}-b00000000-00000.parquet")


def test_rows_banded_elsewhere_get_no_entries_here_and_the_side_file_is_still_copied(tmp_path: Path) -> None:
    """A night's settled rows of a re-decided shard are banded from their reference file (NearDuplicates'
    settled_bands): the replay bands only the others, and a part whose rows are all settled is no error."""
    stored = _stored(tmp_path, old=3)
    params = DedupParams.from_config(load_config())
    _signatures(stored, params)
    out = tmp_path / "tonight" / "run"
    every = replay_part(_split(3), stored, str(out), SCORED, "", params)
    rows_of = lambda entries: sorted({int(k) & ((1 << ROW_BITS) - 1) for e in entries.values() for k in e[:, 1]})  # noqa: E731
    assert rows_of(every.entries) == [0, 1, 2, 3, 4]
    settled = {1, 2, 4}
    some = replay_part(
        _split(3), stored, str(out), SCORED, "", params, lambda keys: np.isin(keys & ((1 << ROW_BITS) - 1), list(settled))
    )
    assert rows_of(some.entries) == [0, 3]
    # The same entries for those rows as when every row is banded.
    for partition, entries in some.entries.items():
        mine = every.entries[partition][np.isin(every.entries[partition][:, 1] & ((1 << ROW_BITS) - 1), [0, 3])]
        assert np.array_equal(np.sort(entries, axis=0), np.sort(mine, axis=0))
    assert (out / "signatures" / "s000003-b00000000-00000.parquet").exists()
    none = replay_part(_split(3), stored, str(out), SCORED, "", params, lambda keys: np.ones(len(keys), bool))
    assert none.entries == {} and none.scored is not None
