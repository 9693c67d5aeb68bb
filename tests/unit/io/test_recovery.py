"""Compressed files that break: every row that decodes is read, and the break is one dead letter.

A file cut short, corrupted in the middle, or followed by junk bytes keeps
the rows a streaming decoder can recover (computed here independently, with
the decompressors fed the damaged bytes), plus exactly one dead letter that
names the compressed and decompressed byte offset of the break. Every
fixture is generated here.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import os
import random
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from conftest import write_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from winnow.transforms.config import load_config
from winnow.transforms.io import readers
from winnow.transforms.io.canonical import normalize_rows
from winnow.transforms.io.decompress import DecompressionError, open_decompressed
from winnow.transforms.io.formats import FieldMap
from winnow.transforms.io.inputs import Shard
from winnow.transforms.io.readers import RawRow, read_shard

MAX_ROW_BYTES = load_config().input.max_row_bytes
FIELDS = FieldMap.from_config(load_config())
WORDS = ["alpha", "beta", "gamma", "delta", "naïve", "café", "数据", "模型", "🙂", "x" * 12]


# ---------------------------------------------------------------- helpers


def make_rows(n: int, seed: int = 0, width: int = 30) -> list[dict]:
    """Alpaca rows of random words (some non-ASCII), `width` words of output at most."""
    rng = random.Random(seed)
    return [
        {
            "id": f"r{i}",
            "instruction": f"question {i}: " + " ".join(rng.choices(WORDS, k=rng.randint(1, 8))),
            "output": f"answer {i}: " + " ".join(rng.choices(WORDS, k=rng.randint(1, width))),
        }
        for i in range(n)
    ]


def lines(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)


def read_all(path: str) -> list[RawRow]:
    return [r for batch in read_shard(path, 1000, MAX_ROW_BYTES) for r in batch]


def split(raw: list[RawRow]) -> tuple[list[RawRow], list[RawRow]]:
    """(good rows, dead letters)."""
    return [r for r in raw if r.error is None], [r for r in raw if r.error is not None]


def gunzip_prefix(blob: bytes) -> bytes:
    """What a streaming gzip decoder recovers from `blob`: the bytes it decodes before an error or the end.

    Fed 4 KiB at a time; the piece that fails is fed again byte by byte from a copy of the state before it.
    """
    d = zlib.decompressobj(wbits=31)
    out = bytearray()
    for start in range(0, len(blob), 4096):
        piece = blob[start : start + 4096]
        saved = d.copy()
        try:
            out += d.decompress(piece)
        except zlib.error:
            for i in range(len(piece)):
                try:
                    out += saved.decompress(piece[i : i + 1])
                except zlib.error:
                    return bytes(out)
    return bytes(out)


def array_elements(text: str) -> int:
    """How many elements of a JSON array's beginning parse completely."""
    decoder = json.JSONDecoder()
    pos, n = text.index("[") + 1, 0
    while True:
        while pos < len(text) and text[pos] in " ,":
            pos += 1
        try:
            _, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return n
        n += 1


def recovered(codec: str, cut: bytes) -> bytes:
    """The decompressed bytes of a truncated single-unit stream, fed to the codec's incremental decoder."""
    if codec == "gz":
        return zlib.decompressobj(wbits=31).decompress(cut)
    if codec == "zst":
        return zstandard.ZstdDecompressor().decompressobj().decompress(cut)
    return bz2.BZ2Decompressor().decompress(cut)


NAME = {"gz": "gzip", "zst": "zstd", "bz2": "bz2"}
COMPRESS = {
    "gz": gzip.compress,
    "zst": zstandard.ZstdCompressor().compress,
    "bz2": lambda data: bz2.compress(data, compresslevel=1),  # 100 kB blocks: several in a small file
}


def assert_recovered(raw: list[RawRow], rows: list[dict], decoded: bytes, code: str, compressed: int) -> RawRow:
    """The good rows are the complete lines of `decoded`, then one dead letter at the first lost row."""
    good, dead = split(raw)
    kept = decoded.count(b"\n")
    assert [r.value for r in good] == rows[:kept]
    assert [r.row for r in good] == list(range(kept))
    assert len(dead) == 1, [r.error for r in dead]
    letter = dead[0]
    assert raw[-1] == letter
    assert letter.error.startswith(f"{code}: ")
    assert f"compressed byte {compressed} (decompressed byte {len(decoded)})" in letter.error
    partial = decoded[decoded.rfind(b"\n") + 1 :]
    assert letter.row == (kept if decoded else -1)
    assert letter.raw == partial[:2000].decode("utf-8", "replace")  # the cut line, as far as raw_max_chars
    return letter


# ---------------------------------------------------------------- truncation


def test_gzip_cut_at_60_percent_keeps_every_row_that_decodes(tmp_path):
    """The issue's reproduction: 200 rows, gzip cut at 60 % of its bytes (was: 1 unreadable_file, 0 rows)."""
    rows = make_rows(200)
    blob = gzip.compress(lines(rows))
    cut = blob[: len(blob) * 6 // 10]
    decoded = recovered("gz", cut)
    assert 0 < decoded.count(b"\n") < 200
    p = write_file(tmp_path / "a.jsonl.gz", cut)
    letter = assert_recovered(read_all(p), rows, decoded, "truncated_file", len(cut))
    kept = decoded.count(b"\n")
    assert f"row {kept} (cut after " in letter.error and "any rows after it are lost" in letter.error


@pytest.mark.parametrize("codec", ["zst", "bz2"])
def test_zstd_and_bz2_cut_in_the_middle(tmp_path, codec):
    rows = make_rows(4000, seed=1)  # several zstd blocks (128 KiB) and bz2 blocks (100 kB)
    blob = COMPRESS[codec](lines(rows))
    cut = blob[: len(blob) // 2]
    decoded = recovered(codec, cut)
    assert decoded.count(b"\n") > 0
    p = write_file(tmp_path / f"a.jsonl.{codec}", cut)
    assert_recovered(read_all(p), rows, decoded, "truncated_file", len(cut))


@pytest.mark.parametrize("codec", ["gz", "zst", "bz2"])
def test_json_array_cut_keeps_the_elements_before_the_break(tmp_path, codec):
    rows = make_rows(4000, seed=2)
    blob = COMPRESS[codec](json.dumps(rows, ensure_ascii=False).encode())
    cut = blob[: len(blob) * 6 // 10]
    p = write_file(tmp_path / f"a.json.{codec}", cut)
    good, dead = split(read_all(p))
    kept = array_elements(recovered(codec, cut).decode("utf-8", "replace"))
    assert kept > 0
    assert [r.value for r in good] == rows[:kept]
    assert len(dead) == 1 and dead[0].row == len(good)
    assert dead[0].error.startswith(f"truncated_file: the file ends inside a {NAME[codec]} ")
    assert f"at compressed byte {len(cut)} " in dead[0].error
    assert dead[0].error.endswith(f"any elements from {len(good)} on are lost")


def test_gzip_cut_in_the_header_is_one_dead_letter(tmp_path):
    p = write_file(tmp_path / "a.jsonl.gz", gzip.compress(lines(make_rows(5)))[:6])
    assert [(r.row, r.error) for r in read_all(p)] == [
        (-1, "truncated_file: the file ends inside a gzip member at compressed byte 6 (decompressed byte 0)")
    ]


def test_second_gzip_member_cut(tmp_path):
    rows = make_rows(20)
    first = gzip.compress(lines(rows[:10]))
    second = gzip.compress(lines(rows[10:]))
    cut = first + second[: len(second) // 2]
    p = write_file(tmp_path / "a.jsonl.gz", cut)
    decoded = lines(rows[:10]) + recovered("gz", second[: len(second) // 2])
    assert_recovered(read_all(p), rows, decoded, "truncated_file", len(cut))


def test_stream_returns_what_decodes_then_raises_where_it_broke(tmp_path):
    blob = gzip.compress(lines(make_rows(50)))
    cut = blob[: len(blob) // 2]
    decoded = recovered("gz", cut)
    with open_decompressed(write_file(tmp_path / "a.jsonl.gz", cut)) as f:
        assert f.read(1 << 20) == decoded
        for _ in range(2):  # a broken stream stays broken
            with pytest.raises(DecompressionError) as e:
                f.read(1)
            assert (e.value.code, e.value.compressed, e.value.decompressed) == ("truncated_file", len(cut), len(decoded))


# ---------------------------------------------------------------- bytes after the data


@pytest.mark.parametrize("name", ["a.jsonl.gz", "a.json.gz"])
def test_gzip_trailing_garbage_is_ignored_like_gzip_d_and_counted(tmp_path, name):
    rows = make_rows(200)
    data = lines(rows) if name.endswith(".jsonl.gz") else json.dumps(rows).encode()
    blob = gzip.compress(data)
    p = write_file(tmp_path / name, blob + b"appended junk: not a gzip member")
    good, dead = split(read_all(p))
    assert [r.value for r in good] == rows
    assert [(r.row, r.error) for r in dead] == [
        (
            200,
            f"trailing_garbage: ignored 32 bytes after the last gzip member, from compressed byte {len(blob)} "
            f"to the end of the file (the decompressed data ends at byte {len(data)})",
        )
    ]


def test_last_line_without_newline_before_trailing_garbage_is_a_row(tmp_path):
    blob = gzip.compress(b'{"text": "a"}\n{"text": "b"}')
    good, dead = split(read_all(write_file(tmp_path / "a.jsonl.gz", blob + b"junk")))
    assert [r.value for r in good] == [{"text": "a"}, {"text": "b"}]
    assert [(r.row, r.error.split(":")[0]) for r in dead] == [(2, "trailing_garbage")]


@pytest.mark.parametrize(("codec", "unit"), [("zst", "frame"), ("bz2", "stream")])
def test_zstd_and_bz2_trailing_garbage(tmp_path, codec, unit):
    rows = make_rows(50)
    p = write_file(tmp_path / f"a.jsonl.{codec}", COMPRESS[codec](lines(rows)) + b"\x00junk")
    good, dead = split(read_all(p))
    assert [r.value for r in good] == rows
    assert len(dead) == 1 and dead[0].error.startswith(f"trailing_garbage: ignored 5 bytes after the last {NAME[codec]} {unit}")


def test_gzip_zero_padding_and_members_back_to_back_are_not_garbage(tmp_path):
    rows = make_rows(30)
    blob = gzip.compress(lines(rows[:10])) + b"\x00" * 7 + gzip.compress(lines(rows[10:])) + b"\x00" * 512
    assert read_all(write_file(tmp_path / "a.jsonl.gz", blob)) == [RawRow(i, r, None, "") for i, r in enumerate(rows)]


def test_zstd_frames_and_skippable_frames_back_to_back(tmp_path):
    rows = make_rows(30)
    skippable = (0x184D2A53).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"abc"
    cctx = zstandard.ZstdCompressor()
    blob = skippable + cctx.compress(lines(rows[:10])) + skippable + cctx.compress(lines(rows[10:]))
    good, dead = split(read_all(write_file(tmp_path / "a.jsonl.zst", blob)))
    assert [r.value for r in good] == rows and dead == []


@pytest.mark.parametrize("codec", ["gz", "zst", "bz2"])
def test_compressed_parquet_is_read_through_seeks_and_its_trailing_garbage_counted(tmp_path, codec):
    rows = [{"text": f"t{i}"} for i in range(30)]
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf, row_group_size=10)
    p = write_file(tmp_path / f"a.parquet.{codec}", COMPRESS[codec](buf.getvalue()) + b"junk")
    good, dead = split(read_all(p))
    assert [r.value for r in good] == rows
    assert [(r.row, r.error.split(":")[0]) for r in dead] == [(30, "trailing_garbage")]


# ---------------------------------------------------------------- corruption in the middle


@pytest.fixture(scope="module")
def big_gzip() -> tuple[list[dict], bytes, bytes]:
    """(rows, JSONL bytes, gzip bytes) of a 3 MiB file."""
    rows = make_rows(10000, seed=3, width=60)
    data = lines(rows)
    assert len(data) > 2 << 20
    return rows, data, gzip.compress(data, compresslevel=6)


def test_gzip_corrupt_in_the_middle_of_a_multi_mib_file(tmp_path, monkeypatch, big_gzip):
    """Rows before the corrupt point are read; one dead letter says where it broke and that the rest is lost."""
    monkeypatch.setattr(readers, "CHUNK_BYTES", 256 << 10)  # the break lands in a later chunk, not the first
    rows, data, clean = big_gzip
    blob = bytearray(clean)
    at = len(blob) // 2
    blob[at : at + 64] = b"\xff" * 64  # zlib rejects this within a few bytes ("invalid block type")
    decoded = gunzip_prefix(bytes(blob))
    assert len(decoded) > 4 * readers.CHUNK_BYTES and data.startswith(decoded[:-64])
    good, dead = split(read_all(write_file(tmp_path / "a.jsonl.gz", bytes(blob))))
    kept = decoded.count(b"\n")
    assert [r.value for r in good] == rows[:kept]
    assert len(dead) == 1 and dead[0].row == kept
    error = dead[0].error
    assert error.startswith("corrupt_data: invalid gzip data detected at compressed byte ")
    detected = int(error.split("compressed byte ")[1].split(" ")[0])
    assert at <= detected < at + 64
    assert f"(decompressed byte {len(decoded)}): Error -3 while decompressing data: invalid block type;" in error
    assert "the member began at compressed byte 0 (decompressed byte 0)" in error
    assert error.endswith("and any rows after it are lost")


def test_gzip_corruption_found_only_by_the_crc_is_reported_at_the_member_end(tmp_path, big_gzip):
    """Deflate often decodes a flipped byte into wrong bytes without an error; only the CRC at the member's
    end tells. The rows before the flip are read unchanged, the break is the last row read, and its reason
    says where the member (whose data is unverified) began."""
    rows, data, clean = big_gzip
    blob = bytearray(clean)
    blob[len(blob) // 2] ^= 0xFF
    decoded = gunzip_prefix(bytes(blob))
    intact = next(i for i in range(len(decoded)) if decoded[i] != data[i])
    raw = read_all(write_file(tmp_path / "a.jsonl.gz", bytes(blob)))
    good = [r for r in raw if r.error is None]
    assert [r.value for r in good[: data.count(b"\n", 0, intact)]] == rows[: data.count(b"\n", 0, intact)]
    assert raw[-1].error.startswith("corrupt_data: invalid gzip data detected at compressed byte ")
    assert "incorrect data check; the member began at compressed byte 0 (decompressed byte 0)" in raw[-1].error
    assert [r.error.split(":")[0] for r in raw if r.error and r.error.startswith("corrupt_data")] == ["corrupt_data"]


def test_bz2_corrupt_block_keeps_the_blocks_before_it(tmp_path):
    """bz2 finds a corrupt block by its CRC; the blocks before it are read, the break is one dead letter."""
    rows = make_rows(4000, seed=4)
    blob = bytearray(COMPRESS["bz2"](lines(rows)))
    at = len(blob) // 2
    blob[at] ^= 0xFF
    before = bz2.BZ2Decompressor().decompress(bytes(blob[:at]))  # the blocks that end before the flip
    assert before.count(b"\n") > 0
    good, dead = split(read_all(write_file(tmp_path / "a.jsonl.bz2", bytes(blob))))
    assert [r.value for r in good] == rows[: before.count(b"\n")]
    assert len(dead) == 1 and dead[0].error.startswith("corrupt_data: invalid bz2 data detected at compressed byte ")
    assert f"(decompressed byte {len(before)}): Invalid data stream" in dead[0].error


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("a.jsonl.gz", b'{"text": "plain, not gzip"}\n', "unreadable_file: not a gzip file: no gzip header at compressed byte 0"),
        ("a.jsonl.zst", b"not zstd at all", "unreadable_file: not a zstd file: no zstd header at compressed byte 0"),
        ("a.jsonl.bz2", b"not bz2 at all", "unreadable_file: not a bz2 file: no bz2 header at compressed byte 0"),
    ],
)
def test_file_that_is_not_compressed_at_all(tmp_path, name, data, reason):
    assert [(r.row, r.error) for r in read_all(write_file(tmp_path / name, data))] == [(-1, reason + " (decompressed byte 0)")]


# ---------------------------------------------------------------- property


@settings(max_examples=100, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(1, 60),
    seed=st.integers(0, 1000),
    width=st.sampled_from([5, 40, 400]),
    codec=st.sampled_from(["gz", "zst"]),
    where=st.floats(0.0, 1.0),
)
def test_any_cut_keeps_exactly_the_lines_a_streaming_decoder_recovers(tmp_path, n, seed, width, codec, where):
    rows = make_rows(n, seed, width)
    blob = COMPRESS[codec](lines(rows))
    cut = blob[: round(len(blob) * where)]
    path = str(tmp_path / f"p.jsonl.{codec}")
    write_file(path, cut)
    raw = read_all(path)
    good, dead = split(raw)
    decoded = recovered(codec, cut)
    if len(cut) == len(blob):
        assert [r.value for r in good] == rows and dead == []
    elif not cut:
        assert good == [] and [r.error.split(":")[0] for r in dead] == ["empty_file"]
    else:
        assert_recovered(raw, rows, decoded, "truncated_file", len(cut))
    # Accounting: every row read becomes exactly one record or one dead letter.
    shard = Shard(0, path, os.path.basename(path), len(cut))
    batch, rejected = normalize_rows(raw, shard, FIELDS)
    assert batch.num_rows == len(good) and len(rejected) == len(dead)
    assert batch.num_rows + len(rejected) == len(raw)
