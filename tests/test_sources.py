"""Reading shards: file kinds, compression, input matching, malformed input.

Every fixture is written into tmp_path by the test itself. Malformed input
must come back as RawRow errors (and dead letters after normalization),
never as an exception, and every row read must be accounted for.
"""

from __future__ import annotations

import bz2
import gzip
import json
import os

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from winnow.transforms.io import readers as sources
from winnow.transforms.config import load_config
from winnow.transforms.io.formats import FieldMap
from winnow.transforms.io.canonical import normalize_rows
from winnow.transforms.io.inputs import InputError, Shard, match_inputs
from winnow.transforms.io.readers import RawRow, peek_rows, read_shard

MAX_ROW_BYTES = load_config()["input"]["max_row_bytes"]
FIELDS = FieldMap.from_config(load_config())


# ---------------------------------------------------------------- helpers


def write(path, data: bytes | str) -> str:
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(path, "wb") as f:
        f.write(data)
    return path


def jsonl(rows) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


def read_all(path, batch_size: int = 1000, max_row_bytes: int = MAX_ROW_BYTES) -> list[RawRow]:
    return [r for batch in read_shard(str(path), batch_size, max_row_bytes) for r in batch]


def normalize_file(path, max_row_bytes: int = MAX_ROW_BYTES):
    """(raw rows, canonical records as dicts, dead letters) for one file, checking accounting."""
    path = str(path)
    shard = Shard(0, path, os.path.basename(path), os.path.getsize(path))
    raw = read_all(path, max_row_bytes=max_row_bytes)
    records: list[dict] = []
    rejected: list[dict] = []
    for batch in read_shard(path, 7, max_row_bytes):
        b, rej = normalize_rows(batch, shard, FIELDS)
        records.extend(b.to_pylist())
        rejected.extend(rej)
    # Every row read is either a record or a dead letter, exactly once.
    assert len(records) + len(rejected) == len(raw)
    assert sorted([r["row"] for r in records] + [r["row"] for r in rejected]) == sorted(r.row for r in raw)
    for r in rejected:
        assert r["reason"] and r["shard"] == shard.name
    return raw, records, rejected


def reasons(rejected) -> list[str]:
    return [r["reason"].split(":", 1)[0] for r in rejected]


def text_rows(n: int, width: int = 0) -> list[dict]:
    return [{"id": f"r{i}", "text": f"row {i} " + "x" * width} for i in range(n)]


# ---------------------------------------------------------------- JSONL


def test_jsonl_plain_values_and_row_numbers(tmp_path):
    rows = text_rows(5)
    p = write(tmp_path / "a.jsonl", jsonl(rows))
    raw = read_all(p)
    assert [r.row for r in raw] == [0, 1, 2, 3, 4]
    assert [r.value for r in raw] == rows
    assert all(r.error is None for r in raw)


def test_jsonl_without_trailing_newline_reads_last_row(tmp_path):
    p = write(tmp_path / "a.jsonl", b'{"text": "a"}\n{"text": "b"}')
    assert [r.value for r in read_all(p)] == [{"text": "a"}, {"text": "b"}]


def test_jsonl_blank_lines_skipped_but_counted(tmp_path):
    data = b'{"text": "a"}\n\n   \n{"text": "b"}\r\n\t\n{"text": "c"}\n\n'
    p = write(tmp_path / "a.jsonl", data)
    raw = read_all(p)
    assert [(r.row, r.value) for r in raw] == [(0, {"text": "a"}), (3, {"text": "b"}), (5, {"text": "c"})]
    assert all(r.error is None for r in raw)
    _, records, rejected = normalize_file(p)
    assert [r["row"] for r in records] == [0, 3, 5]
    assert [r["id"] for r in records] == ["a.jsonl:0", "a.jsonl:3", "a.jsonl:5"]
    assert rejected == []


def test_jsonl_utf8_bom_is_ignored(tmp_path):
    p = write(tmp_path / "a.jsonl", b"\xef\xbb\xbf" + jsonl([{"text": "a"}, {"text": "b"}]))
    raw = read_all(p)
    assert [r.value for r in raw] == [{"text": "a"}, {"text": "b"}]


def test_ndjson_extension_and_non_ascii(tmp_path):
    rows = [{"text": "héllo wörld 你好 🙂"}]
    p = write(tmp_path / "a.ndjson", jsonl(rows))
    assert [r.value for r in read_all(p)] == rows


def test_batches_respect_batch_size(tmp_path):
    p = write(tmp_path / "a.jsonl", jsonl(text_rows(10)))
    batches = list(read_shard(p, 3, MAX_ROW_BYTES))
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert [r.row for b in batches for r in b] == list(range(10))


def test_jsonl_lines_spanning_chunks(tmp_path, monkeypatch):
    # A tiny read chunk makes every line cross several chunk boundaries.
    monkeypatch.setattr(sources, "_CHUNK", 7)
    rows = [{"text": f"line {i} " + "é" * i, "n": i} for i in range(30)]
    p = write(tmp_path / "a.jsonl", jsonl(rows) + b"\n\n" + jsonl([{"text": "last"}]))
    raw = read_all(p)
    assert [r.value for r in raw] == rows + [{"text": "last"}]
    assert [r.row for r in raw] == list(range(30)) + [32]  # two blank lines between


def test_peek_rows_returns_first_rows(tmp_path):
    p = write(tmp_path / "a.jsonl", jsonl(text_rows(50)))
    rows = peek_rows(p, 5)
    assert [r.row for r in rows] == [0, 1, 2, 3, 4]
    assert rows[0].value == {"id": "r0", "text": "row 0 "}


# ---------------------------------------------------------------- compression


def test_jsonl_gz(tmp_path):
    rows = text_rows(20)
    p = write(tmp_path / "a.jsonl.gz", gzip.compress(jsonl(rows)))
    raw = read_all(p)
    assert [r.value for r in raw] == rows
    assert [r.row for r in raw] == list(range(20))


@pytest.mark.parametrize("ext", [".zst", ".zstd"])
def test_jsonl_zstd(tmp_path, ext):
    rows = text_rows(20)
    p = write(tmp_path / f"a.jsonl{ext}", zstandard.ZstdCompressor().compress(jsonl(rows)))
    raw = read_all(p)
    assert [r.value for r in raw] == rows
    assert all(r.error is None for r in raw)


def test_zstd_streamed_frame_without_content_size(tmp_path):
    # Frames written by a streaming compressor carry no content size.
    rows = text_rows(200, width=50)
    cctx = zstandard.ZstdCompressor()
    chunker = cctx.chunker(chunk_size=1024)
    out = b"".join(chunker.compress(jsonl(rows))) + b"".join(chunker.finish())
    p = write(tmp_path / "a.jsonl.zst", out)
    assert [r.value for r in read_all(p)] == rows


def test_jsonl_bz2(tmp_path):
    rows = text_rows(5)
    p = write(tmp_path / "a.jsonl.bz2", bz2.compress(jsonl(rows)))
    assert [r.value for r in read_all(p)] == rows


def test_json_array_gz_bigger_than_chunk(tmp_path):
    rows = text_rows(3000, width=2000)  # ~6 MB decompressed
    p = write(tmp_path / "a.json.gz", gzip.compress(json.dumps(rows).encode(), compresslevel=1))
    raw = read_all(p)
    assert len(raw) == len(rows)
    assert all(r.error is None for r in raw)
    assert [r.value for r in raw] == rows


# ---------------------------------------------------------------- JSON arrays


def test_json_array_small_pretty_printed(tmp_path):
    rows = [{"text": "a"}, {"text": "b", "n": [1, 2, {"c": None}]}, {"text": "c"}]
    p = write(tmp_path / "a.json", "\n  " + json.dumps(rows, indent=2) + "\n")
    raw = read_all(p)
    assert [r.value for r in raw] == rows
    assert [r.row for r in raw] == [0, 1, 2]


def test_json_array_with_bom(tmp_path):
    p = write(tmp_path / "a.json", b"\xef\xbb\xbf" + json.dumps([{"text": "a"}]).encode())
    assert [r.value for r in read_all(p)] == [{"text": "a"}]


def test_json_array_bigger_than_chunk(tmp_path):
    # Elements of varying size, with multi-byte characters, span the 4 MiB boundary.
    rows = [{"id": i, "text": ("ü€🙂" * (i % 7)) + "w" * (1000 + 37 * (i % 50)), "f": i / 3} for i in range(5000)]
    data = json.dumps(rows, ensure_ascii=False).encode()
    assert len(data) > 2 * sources._CHUNK
    p = write(tmp_path / "big.json", data)
    raw = read_all(p)
    assert len(raw) == len(rows)
    assert [r.row for r in raw] == list(range(len(rows)))
    assert all(r.error is None for r in raw)
    assert [r.value for r in raw] == rows


@pytest.mark.parametrize("split", [1, 2, 3])
def test_json_array_multibyte_char_split_by_chunk(tmp_path, split):
    # A 4-byte character whose bytes straddle the real 4 MiB chunk boundary.
    prefix = b"[" + b" " * (sources._CHUNK - 2 - split) + b'"'
    data = prefix + "🙂".encode() + b'x", "b"]'
    assert len(data[: sources._CHUNK]) - len(prefix) == split
    p = write(tmp_path / "a.json", data)
    raw = read_all(p)
    assert [(r.value, r.error) for r in raw] == [("🙂x", None), ("b", None)]


@pytest.mark.parametrize("token", ["1234567", "-12.5e+3", "3.25", "7e2", "-0.5"])
def test_json_array_number_at_real_chunk_boundary(tmp_path, token):
    # Place each number so that every split point falls on the 4 MiB boundary.
    for k in range(1, len(token)):
        data = b"[" + b" " * (sources._CHUNK - 1 - k) + token.encode() + b", 1]"
        assert data[: sources._CHUNK].endswith(token[:k].encode())
        p = write(tmp_path / "n.json", data)
        raw = read_all(p)
        assert [(r.value, r.error) for r in raw] == [(json.loads(token), None), (1, None)], (token, k)


@pytest.mark.parametrize(
    "element",
    [
        "true",
        "false",
        "null",
        '{"a": true, "b": null, "c": false}',
        '{"a": "caf\\u00e9 \\ud83d\\ude00", "n": -1.5e-3}',
        '[1, [2.25, "x\\"y"], {"k": 1e5}]',
        '"\\\\ \\n \\t"',
    ],
)
def test_json_array_values_split_at_every_position(tmp_path, monkeypatch, element):
    # With a tiny read chunk, the boundary falls at every position of the element.
    doc = f'[{element}, {element} ,{element}]'
    expected = json.loads(doc)
    p = write(tmp_path / "a.json", doc)
    for chunk in range(1, len(doc) + 2):
        monkeypatch.setattr(sources, "_CHUNK", chunk)
        raw = read_all(p)
        assert [r.error for r in raw] == [None] * 3, (chunk, raw)
        assert [r.value for r in raw] == expected, chunk


def test_json_array_numbers_split_at_every_position(tmp_path, monkeypatch):
    doc = "[0, 12, -3.5, 1e10, 2.5E-3, 123456789, -0, 18446744073709551615]"
    p = write(tmp_path / "a.json", doc)
    for chunk in range(1, len(doc) + 2):
        monkeypatch.setattr(sources, "_CHUNK", chunk)
        raw = read_all(p)
        assert [(r.value, r.error) for r in raw] == [(v, None) for v in json.loads(doc)], chunk


def test_json_array_integers_beyond_64_bits_read_like_jsonl(tmp_path):
    # JSONL (orjson) reads them as floats; the array reader must agree, and
    # normalization must not fail on them.
    big = 123456789012345678901234567890
    row = {"text": "hi", "n": big, "m": -big}
    pa_ = write(tmp_path / "a.json", "[" + json.dumps(row) + "]")
    pl = write(tmp_path / "b.jsonl", json.dumps(row) + "\n")
    va, vl = read_all(pa_)[0].value, read_all(pl)[0].value
    assert va == vl
    assert isinstance(va["n"], float)
    _, records, rejected = normalize_file(pa_)
    assert rejected == []
    assert json.loads(records[0]["meta"]) == {"n": float(big), "m": -float(big)}


def test_empty_json_array_is_an_empty_file(tmp_path):
    p = write(tmp_path / "a.json", b" [ ] \n")
    rows = read_all(p)
    assert [(r.row, r.error.split(":")[0]) for r in rows] == [(-1, "empty_file")]


def test_empty_parquet_file_of_zero_bytes(tmp_path):
    p = write(tmp_path / "a.parquet", b"")
    assert [r.error.split(":")[0] for r in read_all(p)] == ["empty_file"]


@pytest.mark.parametrize("ext", ["gz", "bz2", "zst"])
def test_truncated_compressed_file_is_reported_not_silently_short(tmp_path, ext):
    import bz2
    import gzip

    import zstandard

    data = b"".join(b'{"text": "row number %d"}\n' % i for i in range(5000))
    compress = {"gz": gzip.compress, "bz2": bz2.compress, "zst": zstandard.ZstdCompressor().compress}[ext]
    blob = compress(data)
    p = write(tmp_path / f"a.jsonl.{ext}", blob[: int(len(blob) * 0.98)])
    rows = read_all(p)
    errors = [r.error for r in rows if r.error]
    assert errors and errors[-1].startswith("unreadable_file"), errors
    assert len(rows) < 5000


def test_json_array_data_after_closing_bracket_is_reported(tmp_path):
    p = write(tmp_path / "a.json", b'[{"text": "a"}]\n[{"text": "b"}]\n')
    raw, records, rejected = normalize_file(p)
    assert [r["row"] for r in records] == [0]
    assert reasons(rejected) == ["invalid_json"]
    assert "after the closing ']'" in rejected[0]["reason"]
    assert '"b"' in rejected[0]["raw"]


# ---------------------------------------------------------------- Parquet


def test_parquet_rows(tmp_path):
    rows = [{"instruction": f"q{i}", "output": f"a{i}", "id": f"p{i}"} for i in range(25)]
    p = str(tmp_path / "a.parquet")
    pq.write_table(pa.Table.from_pylist(rows), p, row_group_size=10)
    raw = list(read_shard(p, 4, MAX_ROW_BYTES))
    assert [len(b) for b in raw] == [4] * 6 + [1]
    flat = [r for b in raw for r in b]
    assert [r.row for r in flat] == list(range(25))
    assert [r.value for r in flat] == rows
    _, records, rejected = normalize_file(p)
    assert rejected == []
    assert [r["id"] for r in records] == [f"p{i}" for i in range(25)]
    assert {r["format"] for r in records} == {"alpaca"}


def test_parquet_nested_conversations(tmp_path):
    rows = [{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}]
    p = str(tmp_path / "a.parquet")
    pq.write_table(pa.Table.from_pylist(rows), p)
    _, records, rejected = normalize_file(p)
    assert rejected == []
    assert records[0]["turns"] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


def test_parquet_empty_file(tmp_path):
    p = str(tmp_path / "a.parquet")
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), p)
    raw, records, rejected = normalize_file(p)
    assert len(raw) == 1 and records == []
    assert reasons(rejected) == ["empty_file"]


def test_parquet_row_too_large(tmp_path):
    rows = [{"text": "small"}, {"text": "x" * 5_000_000}, {"text": "also small"}]
    p = str(tmp_path / "a.parquet")
    pq.write_table(pa.Table.from_pylist(rows), p)
    raw, records, rejected = normalize_file(p)
    assert [r["row"] for r in records] == [0, 2]
    assert reasons(rejected) == ["row_too_large"]
    assert rejected[0]["row"] == 1
    assert len(rejected[0]["raw"]) <= 2000


def test_parquet_corrupt_file(tmp_path):
    p = write(tmp_path / "a.parquet", b"PAR1 this is not parquet at all")
    raw, records, rejected = normalize_file(p)
    assert records == []
    assert reasons(rejected) == ["unreadable_file"]


# ---------------------------------------------------------------- matching inputs


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "corpus"
    write(root / "a.jsonl", jsonl([{"text": "a"}]))
    write(root / "b.json", json.dumps([{"text": "b"}]))
    write(root / "c.jsonl.gz", gzip.compress(jsonl([{"text": "c"}])))
    write(root / "d.jsonl.zst", zstandard.ZstdCompressor().compress(jsonl([{"text": "d"}])))
    pq.write_table(pa.Table.from_pylist([{"text": "e"}]), str(root / "e.parquet"))
    write(root / "sub" / "f.ndjson", jsonl([{"text": "f"}]))
    write(root / "README.md", "# notes")
    write(root / "sub" / "notes.txt", "hello")
    return root


def test_match_directory_picks_data_files_recursively(tree):
    shards, skipped = match_inputs([str(tree)])
    names = [s.name for s in shards]
    assert names == ["a.jsonl", "b.json", "c.jsonl.gz", "d.jsonl.zst", "e.parquet", "sub/f.ndjson"]
    assert [s.index for s in shards] == list(range(6))
    assert [s.path for s in shards] == sorted(s.path for s in shards)
    assert all(s.size == os.path.getsize(s.path) for s in shards)
    assert skipped == sorted([str(tree / "README.md"), str(tree / "sub" / "notes.txt")])


def test_match_directory_with_trailing_slash(tree):
    assert match_inputs([str(tree) + "/"]) == match_inputs([str(tree)])


def test_match_glob(tree):
    shards, skipped = match_inputs([str(tree / "*.jsonl*")])
    assert [s.name for s in shards] == ["a.jsonl", "c.jsonl.gz", "d.jsonl.zst"]
    assert skipped == []
    shards, skipped = match_inputs([str(tree / "*")])
    assert "a.jsonl" in [s.name for s in shards]
    assert str(tree / "README.md") in skipped
    assert not any(s.path.endswith("README.md") for s in shards)


def test_match_explicit_unknown_extension_is_read(tree, tmp_path):
    p = write(tmp_path / "rows.txt", jsonl([{"text": "x"}, {"text": "y"}]))
    shards, skipped = match_inputs([p])
    assert [(s.index, s.path, s.name) for s in shards] == [(0, p, "rows.txt")]
    assert skipped == []
    assert [r.value for r in read_all(shards[0].path)] == [{"text": "x"}, {"text": "y"}]


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
    write(tmp_path / "d" / "README.md", "x")
    write(tmp_path / "d" / "data.csv", "a,b")
    with pytest.raises(InputError, match="no data files") as e:
        match_inputs([str(tmp_path / "d")])
    msg = str(e.value)
    assert ".jsonl" in msg and ".parquet" in msg and "README.md" in msg


def test_shard_kind():
    assert sources.shard_kind("x/a.parquet") == "parquet"
    assert sources.shard_kind("x/a.PARQUET.gz") == "parquet"
    assert sources.shard_kind("x/a.jsonl.zst") == "json"
    assert sources.shard_kind("x/a.json") == "json"
    assert sources.is_data_file("a.jsonl.bz2") and sources.is_data_file("A.JSON")
    assert not sources.is_data_file("a.txt.gz") and not sources.is_data_file("a.csv")


# ---------------------------------------------------------------- malformed input


def test_broken_json_line(tmp_path):
    p = write(tmp_path / "a.jsonl", b'{"text": "a"}\n{"text": "b"\n{"text": "c"}\n')
    raw, records, rejected = normalize_file(p)
    assert [r["row"] for r in records] == [0, 2]
    assert reasons(rejected) == ["invalid_json"]
    assert rejected[0]["row"] == 1
    assert rejected[0]["raw"] == '{"text": "b"'


def test_invalid_utf8_in_jsonl_line(tmp_path):
    p = write(tmp_path / "a.jsonl", b'{"text": "a"}\n{"text": "b\xff\xfe"}\n{"text": "c"}\n')
    raw, records, rejected = normalize_file(p)
    assert [r["row"] for r in records] == [0, 2]
    assert reasons(rejected) == ["invalid_utf8"]
    assert rejected[0]["row"] == 1
    assert "\ufffd" in rejected[0]["raw"]


def test_invalid_utf8_in_json_array_head(tmp_path):
    p = write(tmp_path / "a.json", b'[{"text": "a"}, {"text": "b\xff"}]')
    raw, records, rejected = normalize_file(p)
    assert records == []
    assert reasons(rejected) == ["invalid_utf8"]


def test_invalid_utf8_in_json_array_after_first_chunk(tmp_path):
    rows = text_rows(3000, width=2000)  # > 4 MiB before the bad byte
    good = json.dumps(rows).encode()
    assert len(good) > sources._CHUNK
    p = write(tmp_path / "a.json", good[:-1] + b', {"text": "bad \xc3\x28"}]')
    raw, records, rejected = normalize_file(p)
    assert len(records) > 0
    assert [r["id"] for r in records] == [f"r{i}" for i in range(len(records))]
    assert reasons(rejected) == ["invalid_utf8"]
    assert rejected[0]["row"] == len(records)


def test_invalid_utf8_at_end_of_json_array(tmp_path):
    # A truncated multi-byte sequence at the very end of the file.
    p = write(tmp_path / "a.json", b'[{"text": "a"}, "\xe2\x82')
    raw, records, rejected = normalize_file(p)
    assert reasons(rejected) == ["invalid_utf8"]


@pytest.mark.parametrize(
    "row, reason",
    [
        ({"instruction": 5, "output": "x"}, "wrong_type"),
        ({"instruction": "q", "output": ["x"]}, "wrong_type"),
        ({"conversations": "hello"}, "wrong_type"),
        ({"messages": [{"role": "user", "content": 3}]}, "wrong_type"),
        ({"messages": [{"role": 1, "content": "x"}]}, "wrong_type"),
        ({"messages": [{"role": "user", "content": [{"type": 5}]}]}, "wrong_type"),
        ({"text": "t", "images": [1]}, "wrong_type"),
        ({"instruction": "q", "history": [["only one"]], "output": "x"}, "wrong_type"),
        ({"instruction": "q", "instances": []}, "wrong_type"),
        ([1, 2, 3], "wrong_type"),
        (42, "wrong_type"),
        (None, "wrong_type"),
        ({"instruction": None, "output": "x"}, "missing_field"),
        ({"prompt": "p", "completion": None}, "missing_field"),
        ({"instruction": "q", "instances": [{"input": "i"}]}, "missing_field"),
        ({"conversations": [{"value": "no role"}]}, "missing_field"),
        ({"instruction": "q"}, "missing_field"),
        ({"prompt": "p"}, "missing_field"),
        ({"conversations": [{"from": "alien", "value": "x"}]}, "unknown_role"),
        ({"messages": [{"role": "narrator", "content": "x"}]}, "unknown_role"),
        ({"messages": []}, "empty_conversation"),
        ({"question": "q", "answer": "a"}, "unknown_format"),
    ],
)
def test_bad_rows_become_dead_letters(tmp_path, row, reason):
    good = {"text": "fine"}
    p = write(tmp_path / "a.jsonl", jsonl([good, row, good]))
    raw, records, rejected = normalize_file(p)
    assert len(raw) == 3
    assert [r["row"] for r in records] == [0, 2]
    assert reasons(rejected) == [reason]
    assert rejected[0]["row"] == 1
    assert json.loads(rejected[0]["raw"]) == row


def test_unknown_role_reason_names_role_and_fix(tmp_path):
    p = write(tmp_path / "a.jsonl", jsonl([{"conversations": [{"from": "alien", "value": "x"}]}]))
    _, _, rejected = normalize_file(p)
    assert "'alien'" in rejected[0]["reason"] and "input.roles" in rejected[0]["reason"]


@pytest.mark.parametrize("content", [b"", b"   \n\n \t\r\n"])
@pytest.mark.parametrize("name", ["a.jsonl", "a.json"])
def test_empty_file(tmp_path, content, name):
    p = write(tmp_path / name, content)
    raw, records, rejected = normalize_file(p)
    assert len(raw) == 1 and records == []
    assert reasons(rejected) == ["empty_file"]


def test_empty_gz_file(tmp_path):
    p = write(tmp_path / "a.jsonl.gz", gzip.compress(b""))
    _, _, rejected = normalize_file(p)
    assert reasons(rejected) == ["empty_file"]


def test_5mb_string_in_jsonl_is_row_too_large(tmp_path):
    big = {"text": "y" * 5_000_000}
    p = write(tmp_path / "a.jsonl", jsonl([{"text": "a"}, big, {"text": "c"}]))
    raw, records, rejected = normalize_file(p)
    assert [r["row"] for r in records] == [0, 2]
    assert [r["response"] for r in records] == ["a", "c"]
    assert reasons(rejected) == ["row_too_large"]
    assert rejected[0]["row"] == 1
    assert "input.max_row_bytes=2000000" in rejected[0]["reason"]
    assert len(rejected[0]["raw"]) < 5000


def test_5mb_string_in_json_array_is_row_too_large(tmp_path):
    rows = [{"text": "a"}, {"text": "y" * 5_000_000}, {"text": "c"}]
    p = write(tmp_path / "a.json", json.dumps(rows))
    raw, records, rejected = normalize_file(p)
    assert [r["row"] for r in records] == [0, 2]
    assert reasons(rejected) == ["row_too_large"]
    assert rejected[0]["row"] == 1
    assert len(rejected[0]["raw"]) < 5000


def test_row_too_large_counts_bytes_not_characters(tmp_path):
    # 34 three-byte characters: 36 characters of JSON, but 104 bytes.
    doc = json.dumps(["€" * 34, "€" * 20], ensure_ascii=False)
    p = write(tmp_path / "a.json", doc)
    raw = read_all(p, max_row_bytes=100)
    assert [r.error.split(":")[0] if r.error else None for r in raw] == ["row_too_large", None]
    p = write(tmp_path / "a.jsonl", "\n".join(json.dumps(s, ensure_ascii=False) for s in ["€" * 34, "€" * 20]))
    raw = read_all(p, max_row_bytes=100)
    assert [r.error.split(":")[0] if r.error else None for r in raw] == ["row_too_large", None]


def test_json_array_truncated_mid_element(tmp_path):
    rows = text_rows(10)
    data = json.dumps(rows).encode()
    cut = data.index(b'"r7"') + 6  # inside element 7
    p = write(tmp_path / "a.json", data[:cut])
    raw, records, rejected = normalize_file(p)
    assert [r["id"] for r in records] == [f"r{i}" for i in range(7)]
    assert reasons(rejected) == ["invalid_json"]
    assert rejected[0]["row"] == 7


def test_json_array_truncated_between_elements(tmp_path):
    p = write(tmp_path / "a.json", b'[{"text": "a"}, {"text": "b"},  ')
    raw, records, rejected = normalize_file(p)
    assert len(records) == 2
    assert reasons(rejected) == ["invalid_json"]
    assert "not closed" in rejected[0]["reason"]


def test_json_array_missing_comma(tmp_path):
    p = write(tmp_path / "a.json", b'[{"text": "a"} {"text": "b"}]')
    raw, records, rejected = normalize_file(p)
    assert len(records) == 1
    assert reasons(rejected) == ["invalid_json"]


def test_corrupt_gz_file(tmp_path):
    p = write(tmp_path / "a.jsonl.gz", b"\x1f\x8b\x08\x00" + b"this is not deflate data" * 20)
    raw, records, rejected = normalize_file(p)
    assert records == []
    assert reasons(rejected) == ["unreadable_file"]


def test_plain_file_named_gz_is_unreadable(tmp_path):
    p = write(tmp_path / "a.jsonl.gz", jsonl([{"text": "a"}]))
    _, records, rejected = normalize_file(p)
    assert records == [] and reasons(rejected) == ["unreadable_file"]


def test_corrupt_zst_file(tmp_path):
    p = write(tmp_path / "a.jsonl.zst", b"not zstd at all" * 10)
    _, records, rejected = normalize_file(p)
    assert records == [] and reasons(rejected) == ["unreadable_file"]


def test_mixed_bad_rows_all_accounted(tmp_path):
    lines = [
        b'{"instruction": "q", "output": "a"}',
        b"",
        b"{not json}",
        b'{"text": "caf\xe9"}',
        b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}',
        b'{"instruction": 1, "output": "a"}',
        b'{"conversations": [{"from": "martian", "value": "x"}]}',
        b'"just a string"',
        b"[]",
        b'{"text": "' + b"z" * 2_100_000 + b'"}',
        b'{"prompt": "p"}',
        b'{"question": "q", "answer": "a"}',
    ]
    p = write(tmp_path / "a.jsonl", b"\n".join(lines) + b"\n")
    raw, records, rejected = normalize_file(p)
    assert len(raw) == len(lines) - 1  # the blank line is not a row
    assert [r["row"] for r in records] == [0, 4, 7]
    assert {r["row"]: r["reason"].split(":")[0] for r in rejected} == {
        2: "invalid_json",
        3: "invalid_utf8",
        5: "wrong_type",
        6: "unknown_role",
        8: "wrong_type",
        9: "row_too_large",
        10: "missing_field",
        11: "unknown_format",
    }


# --- reading a shard in parts -------------------------------------------------

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
            lines.append("" if k < 0.1 else "{not json" if k < 0.15 else "  " if k < 0.2 else
                         json.dumps({"text": "w" * rng.randint(0, 60), "i": i}))
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
