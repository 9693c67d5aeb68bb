"""Reading a part again for its rows as the input has them (readers.original_rows / original_batches).

The kept/ files are made of these, so their row numbers must be read_split's
exactly, for whole files and for parts, and a JSONL line must come back
byte for byte.
"""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import write_file

from winnow.transforms.io import readers
from winnow.transforms.io.inputs import Shard
from winnow.transforms.io.readers import minify_json, original_batches, original_rows, read_split
from winnow.transforms.io.splits import Split, count_newlines, number_splits, plan_splits

MAX = 2_000_000

ODD_LINES = [
    '{"instruction": "Caf\u00e9 \u2615 na\u00efve \U0001f600", "output": "ok"}'.encode(),
    b'{"instruction": "a\\/b and \\u00e9", "output": "slash"}',
    b'{"instruction": "trailing spaces", "output": "x"}   ',
    b'{"instruction": "crlf", "output": "y"}\r',
    b"",  # a blank line: a row number, no row
    b'{"instruction": "broken", ',
    b'{"instruction": "last", "output": "z"}',
]


def _shard(path: str) -> Shard:
    import os

    return Shard(0, path, os.path.basename(path), os.path.getsize(path))


def _parsed_rows(split: Split) -> dict[int, object]:
    return {r.row: r.value for batch in read_split(split, 3, MAX) for r in batch if r.error is None}


def _parts(shard: Shard, split_bytes: int) -> list[Split]:
    plan = plan_splits(shard, split_bytes)
    counts = {s.part: count_newlines(shard.path, s.start, s.end) for s in plan if s.kind == "lines"}
    return number_splits(plan, counts)


@pytest.mark.parametrize("split_bytes", [0, 40, 97])
def test_jsonl_lines_come_back_byte_for_byte_with_read_splits_row_numbers(tmp_path, split_bytes):
    data = b"\xef\xbb\xbf" + b"\n".join(ODD_LINES)  # a BOM, and no newline after the last line
    shard = _shard(write_file(tmp_path / "odd.jsonl", data))
    got: dict[int, bytes] = {}
    parsed: dict[int, object] = {}
    for split in _parts(shard, split_bytes) if split_bytes else [Split(shard, 0, 1)]:
        for row, line in original_rows(split, MAX):
            assert row not in got
            got[row] = line
        parsed.update(_parsed_rows(split))
    want = {i: line for i, line in enumerate(ODD_LINES) if line.strip()}
    assert got == want  # the invalid line too (the caller picks the scored rows); the BOM is not part of line 0
    assert set(parsed) == set(want) - {5}
    for row, value in parsed.items():
        assert json.loads(got[row]) == value


def test_a_gzipped_jsonl_file_gives_its_decompressed_lines(tmp_path):
    lines = [b'{"text": "one"}', b'{"text": "two"}\r']
    shard = _shard(write_file(tmp_path / "a.jsonl.gz", gzip.compress(b"\n".join(lines) + b"\n")))
    assert list(original_rows(Split(shard, 0, 1), MAX)) == [(0, lines[0]), (1, lines[1])]


def test_json_array_elements_come_back_as_their_text_on_one_line(tmp_path, monkeypatch):
    text = '[\n  {"instruction": "a\\/b", "output": "x  y",\n   "n": 1.50},\n  "bare string",\n  {"bad": tru},\n  [1, 2]\n]'
    monkeypatch.setattr(readers, "CHUNK_BYTES", 7)  # elements cut across reads
    shard = _shard(write_file(tmp_path / "a.json", text))
    got = list(original_rows(Split(shard, 0, 1), MAX))
    assert got == [(0, b'{"instruction":"a\\/b","output":"x  y","n":1.50}'), (1, b'"bare string"')]


def test_minify_json_keeps_every_token_as_written():
    assert minify_json('{ "a" :\t[ 1e5 , "x \\" ] y" ,\r\n null ] }') == '{"a":[1e5,"x \\" ] y",null]}'


@pytest.mark.parametrize("row_group_size", [None, 2])
def test_parquet_batches_are_the_records_as_stored_with_their_row_numbers(tmp_path, row_group_size):
    table = pa.table(
        {
            "text": ["a", "b", "c", "d", "e"],
            "tags": pa.array([["x"], [], None, ["y", "z"], ["w"]], pa.list_(pa.string())),
            "score": pa.array([1, 2, 3, 4, 5], pa.int16()),
        }
    ).replace_schema_metadata({b"origin": b"test"})
    path = str(tmp_path / "t.parquet")
    pq.write_table(table, path, row_group_size=row_group_size)
    shard = _shard(path)
    splits = _parts(shard, 1) if row_group_size else [Split(shard, 0, 1)]
    assert len(splits) == (3 if row_group_size else 1)
    rows = []
    for split in splits:
        schema, batches = original_batches(split, 2)
        assert schema == table.schema and schema.metadata == {b"origin": b"test"}
        for first, batch in batches:
            rows += [(first + i, r) for i, r in enumerate(batch.to_pylist())]
        assert sorted(_parsed_rows(split)) == [r for r, _ in rows[-len(_parsed_rows(split)) :]]
    assert rows == list(enumerate(table.to_pylist()))
