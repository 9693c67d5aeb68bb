"""Matching inputs: directories, globs, explicit files, and what counts as a data file."""

from __future__ import annotations

import gzip
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from conftest import jsonl_bytes, write_file

from winnow.transforms.io.inputs import InputError, is_data_file, match_inputs, shard_kind
from winnow.transforms.io.readers import read_shard


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "corpus"
    write_file(root / "a.jsonl", jsonl_bytes([{"text": "a"}]))
    write_file(root / "b.json", json.dumps([{"text": "b"}]))
    write_file(root / "c.jsonl.gz", gzip.compress(jsonl_bytes([{"text": "c"}])))
    write_file(root / "d.jsonl.zst", zstandard.ZstdCompressor().compress(jsonl_bytes([{"text": "d"}])))
    pq.write_table(pa.Table.from_pylist([{"text": "e"}]), str(root / "e.parquet"))
    write_file(root / "sub" / "f.ndjson", jsonl_bytes([{"text": "f"}]))
    write_file(root / "README.md", "# notes")
    write_file(root / "sub" / "notes.txt", "hello")
    return root


def test_match_directory_picks_data_files_recursively(tree):
    shards, skipped = match_inputs([str(tree)])
    names = [s.name for s in shards]
    assert names == ["a.jsonl", "b.json", "c.jsonl.gz", "d.jsonl.zst", "e.parquet", "sub/f.ndjson"]
    assert [s.index for s in shards] == list(range(6))
    assert [s.path for s in shards] == sorted(s.path for s in shards)
    assert all(s.size == os.path.getsize(s.path) for s in shards)
    assert [s.path for s in skipped] == sorted([str(tree / "README.md"), str(tree / "sub" / "notes.txt")])
    assert {s.reason for s in skipped} == {"not a data file"}


def test_match_directory_with_trailing_slash(tree):
    assert match_inputs([str(tree) + "/"]) == match_inputs([str(tree)])


def test_match_glob(tree):
    shards, skipped = match_inputs([str(tree / "*.jsonl*")])
    assert [s.name for s in shards] == ["a.jsonl", "c.jsonl.gz", "d.jsonl.zst"]
    assert skipped == []
    shards, skipped = match_inputs([str(tree / "*")])
    assert "a.jsonl" in [s.name for s in shards]
    assert str(tree / "README.md") in [s.path for s in skipped]
    assert not any(s.path.endswith("README.md") for s in shards)


def test_match_explicit_unknown_extension_is_read(tree, tmp_path):
    p = write_file(tmp_path / "rows.txt", jsonl_bytes([{"text": "x"}, {"text": "y"}]))
    shards, skipped = match_inputs([p])
    assert [(s.index, s.path, s.name) for s in shards] == [(0, p, "rows.txt")]
    assert skipped == []
    assert [r.value for b in read_shard(shards[0].path, 1000, 1 << 20) for r in b] == [{"text": "x"}, {"text": "y"}]


def test_match_several_patterns_deduplicated(tree):
    a = str(tree / "a.jsonl")
    shards, _ = match_inputs([a, str(tree / "*.jsonl"), str(tree / "b.json")])
    assert [s.name for s in shards] == ["a.jsonl", "b.json"]


def test_match_nothing_raises_input_error(tmp_path):
    with pytest.raises(InputError, match="matches no files"):
        match_inputs([str(tmp_path / "missing.jsonl")])
    with pytest.raises(InputError, match="matches no files"):
        match_inputs([str(tmp_path / "nothing-*.jsonl")])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="matches no files") as e:
        match_inputs([str(empty)])
    assert str(empty) in str(e.value)


def test_match_only_non_data_files_raises_input_error(tmp_path):
    write_file(tmp_path / "d" / "README.md", "x")
    write_file(tmp_path / "d" / "data.csv", "a,b")
    with pytest.raises(InputError, match="no data files") as e:
        match_inputs([str(tmp_path / "d")])
    msg = str(e.value)
    assert ".jsonl" in msg and ".parquet" in msg and "README.md" in msg


def test_shard_kind():
    assert shard_kind("x/a.parquet") == "parquet"
    assert shard_kind("x/a.PARQUET.gz") == "parquet"
    assert shard_kind("x/a.jsonl.zst") == "json"
    assert shard_kind("x/a.json") == "json"
    assert is_data_file("a.jsonl.bz2") and is_data_file("A.JSON")
    assert not is_data_file("a.txt.gz") and not is_data_file("a.csv")
