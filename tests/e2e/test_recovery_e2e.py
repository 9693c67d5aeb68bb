"""`winnow score` on damaged compressed files: the rows that decode are scored, each break is one dead letter.

The issue's reproduction (a .jsonl.gz cut at 60 % of its bytes used to be read as 1 unreadable_file and
0 rows), and a .jsonl.gz with junk appended after its gzip stream, run through the whole pipeline.
"""

from __future__ import annotations

import gzip
import json
import zlib

import pytest
from conftest import read_rejected, read_run_json, read_shards

from winnow.pipelines.cli import main

pytestmark = pytest.mark.slow


def jsonl(prefix: str, n: int) -> bytes:
    rows = [
        {"instruction": f"{prefix} question {i}: how do I sort a list?", "output": f"Use sorted() ({prefix} {i})."}
        for i in range(n)
    ]
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def test_gzip_cut_at_60_percent_is_scored_up_to_the_cut(tmp_path):
    blob = gzip.compress(jsonl("cut", 200))
    cut = blob[: len(blob) * 6 // 10]
    recovered = zlib.decompressobj(wbits=31).decompress(cut).count(b"\n")  # what a streaming decoder gets back
    assert 0 < recovered < 200
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(cut)
    out = str(tmp_path / "out")
    assert main(["score", str(path), "--output", out]) == 0

    run = read_run_json(out)
    assert run["rows_read"] == run["rows_scored"] + run["rows_rejected"]
    assert (run["rows_scored"], run["rows_rejected"]) == (recovered, 1)
    [letter] = read_rejected(out).to_pylist()
    assert letter["row"] == recovered
    assert letter["reason"].startswith(f"truncated_file: the file ends inside a gzip member at compressed byte {len(cut)} ")
    assert letter["raw"].startswith('{"instruction": "cut question')  # the line the cut went through


def test_junk_after_the_gzip_stream_is_ignored_and_counted(tmp_path):
    path = tmp_path / "junk.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl("junk", 200)) + b"junk after the gzip stream")
    out = str(tmp_path / "out")
    assert main(["score", str(path), "--output", out]) == 0

    [shard] = read_shards(out).to_pylist()
    assert (shard["rows_read"], shard["rows_scored"], shard["rows_rejected"]) == (201, 200, 1)
    [letter] = read_rejected(out).to_pylist()
    assert letter["row"] == 200
    assert letter["reason"].startswith("trailing_garbage: ignored 26 bytes after the last gzip member")
