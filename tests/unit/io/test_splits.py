"""Reading a shard in parts (winnow.transforms.io.splits): the rows and row numbers of a whole read."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq

from winnow.transforms.io.inputs import Shard
from winnow.transforms.io.readers import read_shard


def _rows_in_parts(shard, split_bytes):
    from winnow.transforms.io.readers import read_split
    from winnow.transforms.io.splits import count_newlines, number_splits, plan_splits

    splits = plan_splits(shard, split_bytes)
    newlines = {s.part: count_newlines(shard.path, s.start, s.end) for s in splits if s.kind == "lines"}
    rows = [r for s in number_splits(splits, newlines) for b in read_split(s, 7, 1_000_000) for r in b]
    return splits, rows


def _whole(path):
    return [r for b in read_shard(path, 7, 1_000_000) for r in b]


def test_jsonl_parts_read_exactly_the_rows_of_the_whole_file(tmp_path):
    """Every cut (blank lines, CRLF, BOM, a line longer than a part, no final newline) gives the same rows and row numbers."""
    import random

    rng = random.Random(11)
    path = tmp_path / "f.jsonl"
    for trial in range(150):
        lines = []
        for i in range(rng.randint(0, 25)):
            k = rng.random()
            lines.append(
                ""
                if k < 0.1
                else "{not json"
                if k < 0.15
                else "  "
                if k < 0.2
                else json.dumps({"text": "w" * rng.randint(0, 60), "i": i})
            )
        sep = "\r\n" if rng.random() < 0.2 else "\n"
        body = ("\ufeff" if rng.random() < 0.1 else "") + sep.join(lines) + (sep if rng.random() < 0.5 else "")
        path.write_text(body, encoding="utf-8", newline="")
        shard = Shard(0, str(path), "f.jsonl", path.stat().st_size)
        whole = _whole(str(path))
        for split_bytes in (1, 2, 3, 7, 40, 10_000):
            splits, got = _rows_in_parts(shard, split_bytes)
            assert got == whole, (trial, split_bytes, body)
            if split_bytes < shard.size and body.strip("\ufeff \r\n"):
                assert len(splits) > 1


def test_parquet_parts_follow_row_groups(tmp_path):
    path = tmp_path / "f.parquet"
    pq.write_table(pa.table({"text": [f"row {i}" for i in range(1000)]}), path, row_group_size=64)
    shard = Shard(0, str(path), "f.parquet", path.stat().st_size)
    splits, got = _rows_in_parts(shard, 400)
    assert len(splits) > 2 and {s.kind for s in splits} == {"row_groups"}
    assert got == _whole(str(path))
    assert [r.row for r in got] == list(range(1000))


def test_files_that_cannot_be_cut_are_read_whole(tmp_path):
    from winnow.transforms.io.splits import plan_splits

    rows = [{"text": "some words here " * 5} for _ in range(50)]
    array = tmp_path / "a.json"
    array.write_text(json.dumps(rows))
    gz = tmp_path / "b.jsonl.gz"
    with gzip.open(gz, "wt") as f:
        f.write("\n".join(json.dumps(r) for r in rows))
    for p in (array, gz):
        shard = Shard(0, str(p), p.name, p.stat().st_size)
        assert [s.kind for s in plan_splits(shard, 10)] == ["whole"]
        assert _rows_in_parts(shard, 10)[1] == _whole(str(p))
    shard = Shard(0, str(array), "a.json", array.stat().st_size)
    assert [s.kind for s in plan_splits(shard, 0)] == ["whole"]
