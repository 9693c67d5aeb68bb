"""kept/ files: names a user recognises, compression as the input's, rows and bytes read back."""

from __future__ import annotations

import bz2
import gzip
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from winnow.transforms.io.compress import compression_of, open_compressed
from winnow.transforms.io.decompress import open_decompressed
from winnow.transforms.io.kept_out import KeptLines, KeptParquet, kept_name, read_back


@pytest.mark.parametrize(
    ("shard", "part", "parts", "array", "want"),
    [
        ("data.jsonl", 0, 1, False, "data.jsonl"),
        ("sub/dir/a.jsonl.gz", 0, 1, False, "sub/dir/a.jsonl.gz"),
        ("big.jsonl", 2, 3, False, "big.part-00002.jsonl"),
        ("t.parquet", 0, 2, False, "t.part-00000.parquet"),
        ("alpaca.json", 0, 1, True, "alpaca.jsonl"),  # a JSON array is written as JSONL
        ("alpaca.json.zst", 0, 1, True, "alpaca.jsonl.zst"),
        ("lines.json", 0, 1, False, "lines.json"),  # JSON lines in a .json file stay as they are
        ("x.ndjson.bz2", 0, 1, False, "x.ndjson.bz2"),
        ("odd/../name", 0, 1, False, "odd/__/name"),  # never outside kept/
    ],
)
def test_kept_names_follow_the_input_names(shard, part, parts, array, want):
    assert kept_name(shard, part, parts, array) == want


def test_a_json_array_does_not_take_the_name_of_another_input():
    assert kept_name("d/a.json", 0, 1, True, frozenset({"d/a.jsonl", "d/a.json"})) == "d/a.json.jsonl"
    assert kept_name("d/a.json.gz", 0, 1, True, frozenset({"d/a.jsonl"})) == "d/a.jsonl.gz"


def _decompress(name: str, data: bytes) -> bytes:
    if name.endswith(".gz"):
        return gzip.decompress(data)
    if name.endswith(".zst"):
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    if name.endswith(".bz2"):
        return bz2.decompress(data)
    return data


@pytest.mark.parametrize("name", ["a.jsonl", "a.jsonl.gz", "a.jsonl.zst", "a.jsonl.bz2"])
def test_kept_lines_are_compressed_as_named_and_read_back(tmp_path, name, monkeypatch):
    from winnow.transforms.io import kept_out

    monkeypatch.setattr(kept_out, "FLUSH_BYTES", 16)  # several blocks through the compressor
    lines = [b'{"a": "\xc3\xa9"}', b'{"b": 2}\r', b"x" * 40]
    out = KeptLines(str(tmp_path), "sub/" + name)
    for line in lines:
        out.write(line)
    out.close()
    path = tmp_path / "kept" / "sub" / name
    assert _decompress(name, path.read_bytes()) == b"\n".join(lines) + b"\n"
    assert read_back(str(tmp_path), "sub/" + name) == (3, path.stat().st_size)
    assert os.listdir(path.parent) == [name]  # no temp file left


def test_compressed_output_is_the_same_bytes_every_time_and_the_readers_decode_it(tmp_path):
    for compression, suffix in (("gzip", ".gz"), ("zstd", ".zst"), ("bz2", ".bz2")):
        assert compression_of("x.jsonl" + suffix) == compression
        outputs = []
        for i in range(2):
            path = tmp_path / f"{i}.jsonl{suffix}"
            with open(path, "wb") as raw:
                stream = open_compressed(raw, compression)
                stream.write(b"same bytes\n" * 100)
                stream.close()
            outputs.append(path.read_bytes())
            with open_decompressed(str(path)) as f:
                assert f.read() == b"same bytes\n" * 100
        assert outputs[0] == outputs[1]


def test_a_file_that_gets_no_row_is_not_written(tmp_path):
    KeptLines(str(tmp_path), "a.jsonl").close()
    KeptParquet(str(tmp_path), "t.parquet", pa.schema([("x", pa.int64())])).close()
    assert not (tmp_path / "kept").exists()


@pytest.mark.parametrize("name", ["t.parquet", "t.parquet.gz"])
def test_kept_parquet_keeps_the_schema_and_its_metadata(tmp_path, name):
    schema = pa.schema([("x", pa.int64()), ("tags", pa.list_(pa.string()))], metadata={b"k": b"v"})
    batch = pa.record_batch([pa.array([1, 2]), pa.array([["a"], None])], schema=schema)
    out = KeptParquet(str(tmp_path), name, schema, "zstd")
    out.write(batch)
    out.write(batch.slice(0, 0))
    out.close()
    with open_decompressed(str(tmp_path / "kept" / name)) as f:
        pf = pq.ParquetFile(f)
        table = pf.read()
        assert pf.metadata.row_group(0).column(0).compression == "ZSTD"
    assert table.schema == schema and table.schema.metadata == {b"k": b"v"}
    assert table.to_pylist() == batch.to_pylist()
    assert read_back(str(tmp_path), name)[0] == 2
