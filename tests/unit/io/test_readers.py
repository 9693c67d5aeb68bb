"""Reading shards: file kinds, compression, malformed input.

Every fixture is written into tmp_path by the test itself. Malformed input
must come back as RawRow errors (and dead letters after normalization),
never as an exception, and every row read must be accounted for.
"""

from __future__ import annotations

import bz2
import gzip
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from conftest import jsonl_bytes, write_file

from winnow.transforms.config import load_config
from winnow.transforms.io import readers, splits
from winnow.transforms.io.canonical import normalize_rows
from winnow.transforms.io.formats import FieldMap
from winnow.transforms.io.inputs import Shard
from winnow.transforms.io.readers import RawRow, peek_rows, read_shard

MAX_ROW_BYTES = load_config().input.max_row_bytes
FIELDS = FieldMap.from_config(load_config())


# ---------------------------------------------------------------- helpers


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


def small_chunks(monkeypatch, size: int) -> None:
    """Read files `size` bytes at a time (readers and splits each hold the chunk size)."""
    monkeypatch.setattr(readers, "CHUNK_BYTES", size)
    monkeypatch.setattr(splits, "CHUNK_BYTES", size)


def reasons(rejected) -> list[str]:
    return [r["reason"].split(":", 1)[0] for r in rejected]


def text_rows(n: int, width: int = 0) -> list[dict]:
    return [{"id": f"r{i}", "text": f"row {i} " + "x" * width} for i in range(n)]


# ---------------------------------------------------------------- JSONL


def test_jsonl_plain_values_and_row_numbers(tmp_path):
    rows = text_rows(5)
    p = write_file(tmp_path / "a.jsonl", jsonl_bytes(rows))
    raw = read_all(p)
    assert [r.row for r in raw] == [0, 1, 2, 3, 4]
    assert [r.value for r in raw] == rows
    assert all(r.error is None for r in raw)


def test_jsonl_without_trailing_newline_reads_last_row(tmp_path):
    p = write_file(tmp_path / "a.jsonl", b'{"text": "a"}\n{"text": "b"}')
    assert [r.value for r in read_all(p)] == [{"text": "a"}, {"text": "b"}]


def test_jsonl_blank_lines_skipped_but_counted(tmp_path):
    data = b'{"text": "a"}\n\n   \n{"text": "b"}\r\n\t\n{"text": "c"}\n\n'
    p = write_file(tmp_path / "a.jsonl", data)
    raw = read_all(p)
    assert [(r.row, r.value) for r in raw] == [(0, {"text": "a"}), (3, {"text": "b"}), (5, {"text": "c"})]
    assert all(r.error is None for r in raw)
    _, records, rejected = normalize_file(p)
    assert [r["row"] for r in records] == [0, 3, 5]
    assert [r["id"] for r in records] == ["a.jsonl:0", "a.jsonl:3", "a.jsonl:5"]
    assert rejected == []


def test_jsonl_utf8_bom_is_ignored(tmp_path):
    p = write_file(tmp_path / "a.jsonl", b"\xef\xbb\xbf" + jsonl_bytes([{"text": "a"}, {"text": "b"}]))
    raw = read_all(p)
    assert [r.value for r in raw] == [{"text": "a"}, {"text": "b"}]


def test_ndjson_extension_and_non_ascii(tmp_path):
    rows = [{"text": "héllo wörld 你好 🙂"}]
    p = write_file(tmp_path / "a.ndjson", jsonl_bytes(rows))
    assert [r.value for r in read_all(p)] == rows


def test_batches_respect_batch_size(tmp_path):
    p = write_file(tmp_path / "a.jsonl", jsonl_bytes(text_rows(10)))
    batches = list(read_shard(p, 3, MAX_ROW_BYTES))
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert [r.row for b in batches for r in b] == list(range(10))


def test_jsonl_lines_spanning_chunks(tmp_path, monkeypatch):
    # A tiny read chunk makes every line cross several chunk boundaries.
    small_chunks(monkeypatch, 7)
    rows = [{"text": f"line {i} " + "é" * i, "n": i} for i in range(30)]
    p = write_file(tmp_path / "a.jsonl", jsonl_bytes(rows) + b"\n\n" + jsonl_bytes([{"text": "last"}]))
    raw = read_all(p)
    assert [r.value for r in raw] == [*rows, {"text": "last"}]
    assert [r.row for r in raw] == [*range(30), 32]  # two blank lines between


def test_peek_rows_returns_first_rows(tmp_path):
    p = write_file(tmp_path / "a.jsonl", jsonl_bytes(text_rows(50)))
    rows = peek_rows(p, 5)
    assert [r.row for r in rows] == [0, 1, 2, 3, 4]
    assert rows[0].value == {"id": "r0", "text": "row 0 "}


# ---------------------------------------------------------------- compression


def test_jsonl_gz(tmp_path):
    rows = text_rows(20)
    p = write_file(tmp_path / "a.jsonl.gz", gzip.compress(jsonl_bytes(rows)))
    raw = read_all(p)
    assert [r.value for r in raw] == rows
    assert [r.row for r in raw] == list(range(20))


@pytest.mark.parametrize("ext", [".zst", ".zstd"])
def test_jsonl_zstd(tmp_path, ext):
    rows = text_rows(20)
    p = write_file(tmp_path / f"a.jsonl{ext}", zstandard.ZstdCompressor().compress(jsonl_bytes(rows)))
    raw = read_all(p)
    assert [r.value for r in raw] == rows
    assert all(r.error is None for r in raw)


def test_zstd_streamed_frame_without_content_size(tmp_path):
    # Frames written by a streaming compressor carry no content size.
    rows = text_rows(200, width=50)
    cctx = zstandard.ZstdCompressor()
    chunker = cctx.chunker(chunk_size=1024)
    out = b"".join(chunker.compress(jsonl_bytes(rows))) + b"".join(chunker.finish())
    p = write_file(tmp_path / "a.jsonl.zst", out)
    assert [r.value for r in read_all(p)] == rows


def test_jsonl_bz2(tmp_path):
    rows = text_rows(5)
    p = write_file(tmp_path / "a.jsonl.bz2", bz2.compress(jsonl_bytes(rows)))
    assert [r.value for r in read_all(p)] == rows


def test_json_array_gz_bigger_than_chunk(tmp_path):
    rows = text_rows(3000, width=2000)  # ~6 MB decompressed
    p = write_file(tmp_path / "a.json.gz", gzip.compress(json.dumps(rows).encode(), compresslevel=1))
    raw = read_all(p)
    assert len(raw) == len(rows)
    assert all(r.error is None for r in raw)
    assert [r.value for r in raw] == rows


# ---------------------------------------------------------------- JSON arrays


def test_json_array_small_pretty_printed(tmp_path):
    rows = [{"text": "a"}, {"text": "b", "n": [1, 2, {"c": None}]}, {"text": "c"}]
    p = write_file(tmp_path / "a.json", "\n  " + json.dumps(rows, indent=2) + "\n")
    raw = read_all(p)
    assert [r.value for r in raw] == rows
    assert [r.row for r in raw] == [0, 1, 2]


def test_json_array_with_bom(tmp_path):
    p = write_file(tmp_path / "a.json", b"\xef\xbb\xbf" + json.dumps([{"text": "a"}]).encode())
    assert [r.value for r in read_all(p)] == [{"text": "a"}]


def test_json_array_bigger_than_chunk(tmp_path):
    # Elements of varying size, with multi-byte characters, span the 4 MiB boundary.
    rows = [{"id": i, "text": ("ü€🙂" * (i % 7)) + "w" * (1000 + 37 * (i % 50)), "f": i / 3} for i in range(5000)]
    data = json.dumps(rows, ensure_ascii=False).encode()
    assert len(data) > 2 * splits.CHUNK_BYTES
    p = write_file(tmp_path / "big.json", data)
    raw = read_all(p)
    assert len(raw) == len(rows)
    assert [r.row for r in raw] == list(range(len(rows)))
    assert all(r.error is None for r in raw)
    assert [r.value for r in raw] == rows


@pytest.mark.parametrize("split", [1, 2, 3])
def test_json_array_multibyte_char_split_by_chunk(tmp_path, split):
    # A 4-byte character whose bytes straddle the real 4 MiB chunk boundary.
    prefix = b"[" + b" " * (splits.CHUNK_BYTES - 2 - split) + b'"'
    data = prefix + "🙂".encode() + b'x", "b"]'
    assert len(data[: splits.CHUNK_BYTES]) - len(prefix) == split
    p = write_file(tmp_path / "a.json", data)
    raw = read_all(p)
    assert [(r.value, r.error) for r in raw] == [("🙂x", None), ("b", None)]


@pytest.mark.parametrize("token", ["1234567", "-12.5e+3", "3.25", "7e2", "-0.5"])
def test_json_array_number_at_real_chunk_boundary(tmp_path, token):
    # Place each number so that every split point falls on the 4 MiB boundary.
    for k in range(1, len(token)):
        data = b"[" + b" " * (splits.CHUNK_BYTES - 1 - k) + token.encode() + b", 1]"
        assert data[: splits.CHUNK_BYTES].endswith(token[:k].encode())
        p = write_file(tmp_path / "n.json", data)
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
    doc = f"[{element}, {element} ,{element}]"
    expected = json.loads(doc)
    p = write_file(tmp_path / "a.json", doc)
    for chunk in range(1, len(doc) + 2):
        small_chunks(monkeypatch, chunk)
        raw = read_all(p)
        assert [r.error for r in raw] == [None] * 3, (chunk, raw)
        assert [r.value for r in raw] == expected, chunk


def test_json_array_numbers_split_at_every_position(tmp_path, monkeypatch):
    doc = "[0, 12, -3.5, 1e10, 2.5E-3, 123456789, -0, 18446744073709551615]"
    p = write_file(tmp_path / "a.json", doc)
    for chunk in range(1, len(doc) + 2):
        small_chunks(monkeypatch, chunk)
        raw = read_all(p)
        assert [(r.value, r.error) for r in raw] == [(v, None) for v in json.loads(doc)], chunk


def test_json_array_integers_beyond_64_bits_read_like_jsonl(tmp_path):
    # JSONL (orjson) reads them as floats; the array reader must agree, and
    # normalization must not fail on them.
    big = 123456789012345678901234567890
    row = {"text": "hi", "n": big, "m": -big}
    pa_ = write_file(tmp_path / "a.json", "[" + json.dumps(row) + "]")
    pl = write_file(tmp_path / "b.jsonl", json.dumps(row) + "\n")
    va, vl = read_all(pa_)[0].value, read_all(pl)[0].value
    assert va == vl
    assert isinstance(va["n"], float)
    _, records, rejected = normalize_file(pa_)
    assert rejected == []
    assert json.loads(records[0]["meta"]) == {"n": float(big), "m": -float(big)}


def test_empty_json_array_is_an_empty_file(tmp_path):
    p = write_file(tmp_path / "a.json", b" [ ] \n")
    rows = read_all(p)
    assert [(r.row, r.error.split(":")[0]) for r in rows] == [(-1, "empty_file")]


def test_empty_parquet_file_of_zero_bytes(tmp_path):
    p = write_file(tmp_path / "a.parquet", b"")
    assert [r.error.split(":")[0] for r in read_all(p)] == ["empty_file"]


@pytest.mark.parametrize("ext", ["gz", "bz2", "zst"])
def test_truncated_compressed_file_is_reported_not_silently_short(tmp_path, ext):
    import bz2
    import gzip

    import zstandard

    data = b"".join(b'{"text": "row number %d"}\n' % i for i in range(5000))
    compress = {"gz": gzip.compress, "bz2": bz2.compress, "zst": zstandard.ZstdCompressor().compress}[ext]
    blob = compress(data)
    p = write_file(tmp_path / f"a.jsonl.{ext}", blob[: int(len(blob) * 0.98)])
    rows = read_all(p)
    errors = [r.error for r in rows if r.error]
    assert len(errors) == 1 and errors[0].startswith("truncated_file"), errors
    assert len(rows) - 1 < 5000


def test_json_array_data_after_closing_bracket_is_reported(tmp_path):
    p = write_file(tmp_path / "a.json", b'[{"text": "a"}]\n[{"text": "b"}]\n')
    _raw, records, rejected = normalize_file(p)
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
    _raw, records, rejected = normalize_file(p)
    assert [r["row"] for r in records] == [0, 2]
    assert reasons(rejected) == ["row_too_large"]
    assert rejected[0]["row"] == 1
    assert len(rejected[0]["raw"]) <= 2000


def test_parquet_corrupt_file(tmp_path):
    p = write_file(tmp_path / "a.parquet", b"PAR1 this is not parquet at all")
    _raw, records, rejected = normalize_file(p)
    assert records == []
    assert reasons(rejected) == ["unreadable_file"]


# ---------------------------------------------------------------- malformed input


def test_broken_json_line(tmp_path):
    p = write_file(tmp_path / "a.jsonl", b'{"text": "a"}\n{"text": "b"\n{"text": "c"}\n')
    _raw, records, rejected = normalize_file(p)
    assert [r["row"] for r in records] == [0, 2]
    assert reasons(rejected) == ["invalid_json"]
    assert rejected[0]["row"] == 1
    assert rejected[0]["raw"] == '{"text": "b"'


def test_invalid_utf8_in_jsonl_line(tmp_path):
    p = write_file(tmp_path / "a.jsonl", b'{"text": "a"}\n{"text": "b\xff\xfe"}\n{"text": "c"}\n')
    _raw, records, rejected = normalize_file(p)
    assert [r["row"] for r in records] == [0, 2]
    assert reasons(rejected) == ["invalid_utf8"]
    assert rejected[0]["row"] == 1
    assert "\ufffd" in rejected[0]["raw"]


def test_invalid_utf8_in_json_array_head(tmp_path):
    p = write_file(tmp_path / "a.json", b'[{"text": "a"}, {"text": "b\xff"}]')
    _raw, records, rejected = normalize_file(p)
    assert records == []
    assert reasons(rejected) == ["invalid_utf8"]


def test_invalid_utf8_in_json_array_after_first_chunk(tmp_path):
    rows = text_rows(3000, width=2000)  # > 4 MiB before the bad byte
    good = json.dumps(rows).encode()
    assert len(good) > splits.CHUNK_BYTES
    p = write_file(tmp_path / "a.json", good[:-1] + b', {"text": "bad \xc3\x28"}]')
    _raw, records, rejected = normalize_file(p)
    assert len(records) > 0
    assert [r["id"] for r in records] == [f"r{i}" for i in range(len(records))]
    assert reasons(rejected) == ["invalid_utf8"]
    assert rejected[0]["row"] == len(records)


def test_invalid_utf8_at_end_of_json_array(tmp_path):
    # A truncated multi-byte sequence at the very end of the file.
    p = write_file(tmp_path / "a.json", b'[{"text": "a"}, "\xe2\x82')
    _raw, _records, rejected = normalize_file(p)
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
    p = write_file(tmp_path / "a.jsonl", jsonl_bytes([good, row, good]))
    raw, records, rejected = normalize_file(p)
    assert len(raw) == 3
    assert [r["row"] for r in records] == [0, 2]
    assert reasons(rejected) == [reason]
    assert rejected[0]["row"] == 1
    assert json.loads(rejected[0]["raw"]) == row


def test_unknown_role_reason_names_role_and_fix(tmp_path):
    p = write_file(tmp_path / "a.jsonl", jsonl_bytes([{"conversations": [{"from": "alien", "value": "x"}]}]))
    _, _, rejected = normalize_file(p)
    assert "'alien'" in rejected[0]["reason"] and "input.roles" in rejected[0]["reason"]


@pytest.mark.parametrize("content", [b"", b"   \n\n \t\r\n"])
@pytest.mark.parametrize("name", ["a.jsonl", "a.json"])
def test_empty_file(tmp_path, content, name):
    p = write_file(tmp_path / name, content)
    raw, records, rejected = normalize_file(p)
    assert len(raw) == 1 and records == []
    assert reasons(rejected) == ["empty_file"]


def test_empty_gz_file(tmp_path):
    p = write_file(tmp_path / "a.jsonl.gz", gzip.compress(b""))
    _, _, rejected = normalize_file(p)
    assert reasons(rejected) == ["empty_file"]


def test_5mb_string_in_jsonl_is_row_too_large(tmp_path):
    big = {"text": "y" * 5_000_000}
    p = write_file(tmp_path / "a.jsonl", jsonl_bytes([{"text": "a"}, big, {"text": "c"}]))
    _raw, records, rejected = normalize_file(p)
    assert [r["row"] for r in records] == [0, 2]
    assert [r["response"] for r in records] == ["a", "c"]
    assert reasons(rejected) == ["row_too_large"]
    assert rejected[0]["row"] == 1
    assert "input.max_row_bytes=2000000" in rejected[0]["reason"]
    assert len(rejected[0]["raw"]) < 5000


def test_5mb_string_in_json_array_is_row_too_large(tmp_path):
    rows = [{"text": "a"}, {"text": "y" * 5_000_000}, {"text": "c"}]
    p = write_file(tmp_path / "a.json", json.dumps(rows))
    _raw, records, rejected = normalize_file(p)
    assert [r["row"] for r in records] == [0, 2]
    assert reasons(rejected) == ["row_too_large"]
    assert rejected[0]["row"] == 1
    assert len(rejected[0]["raw"]) < 5000


def test_row_too_large_counts_bytes_not_characters(tmp_path):
    # 34 three-byte characters: 36 characters of JSON, but 104 bytes.
    doc = json.dumps(["€" * 34, "€" * 20], ensure_ascii=False)
    p = write_file(tmp_path / "a.json", doc)
    raw = read_all(p, max_row_bytes=100)
    assert [r.error.split(":")[0] if r.error else None for r in raw] == ["row_too_large", None]
    p = write_file(tmp_path / "a.jsonl", "\n".join(json.dumps(s, ensure_ascii=False) for s in ["€" * 34, "€" * 20]))
    raw = read_all(p, max_row_bytes=100)
    assert [r.error.split(":")[0] if r.error else None for r in raw] == ["row_too_large", None]


def test_json_array_truncated_mid_element(tmp_path):
    rows = text_rows(10)
    data = json.dumps(rows).encode()
    cut = data.index(b'"r7"') + 6  # inside element 7
    p = write_file(tmp_path / "a.json", data[:cut])
    _raw, records, rejected = normalize_file(p)
    assert [r["id"] for r in records] == [f"r{i}" for i in range(7)]
    assert reasons(rejected) == ["invalid_json"]
    assert rejected[0]["row"] == 7


def test_json_array_truncated_between_elements(tmp_path):
    p = write_file(tmp_path / "a.json", b'[{"text": "a"}, {"text": "b"},  ')
    _raw, records, rejected = normalize_file(p)
    assert len(records) == 2
    assert reasons(rejected) == ["invalid_json"]
    assert "not closed" in rejected[0]["reason"]


def test_json_array_missing_comma(tmp_path):
    p = write_file(tmp_path / "a.json", b'[{"text": "a"} {"text": "b"}]')
    _raw, records, rejected = normalize_file(p)
    assert len(records) == 1
    assert reasons(rejected) == ["invalid_json"]


def test_corrupt_gz_file(tmp_path):
    p = write_file(tmp_path / "a.jsonl.gz", b"\x1f\x8b\x08\x00" + b"this is not deflate data" * 20)
    _raw, records, rejected = normalize_file(p)
    assert records == []
    assert reasons(rejected) == ["corrupt_data"]


def test_plain_file_named_gz_is_unreadable(tmp_path):
    p = write_file(tmp_path / "a.jsonl.gz", jsonl_bytes([{"text": "a"}]))
    _, records, rejected = normalize_file(p)
    assert records == [] and reasons(rejected) == ["unreadable_file"]


def test_corrupt_zst_file(tmp_path):
    p = write_file(tmp_path / "a.jsonl.zst", b"not zstd at all" * 10)
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
    p = write_file(tmp_path / "a.jsonl", b"\n".join(lines) + b"\n")
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
