"""kept/ and the keep policy end to end (issue 12): the kept rows as the input had them, the reasons
for every drop in records/, the counts in the summary and the report, and a run refused when
kept/ does not hold what was kept."""

from __future__ import annotations

import gzip
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from conftest import alpaca, read_dataset_json, read_records, read_rejected, read_run_json, read_shards, score, write_file

from winnow.transforms.config import load_config
from winnow.transforms.io import kept_out
from winnow.transforms.summary.run_record import verify_accounting

pytestmark = pytest.mark.slow

NO_DEDUP = {"dedup": {"enabled": False}}


def _row(id_: str, instruction: str, output: str) -> bytes:
    return json.dumps(alpaca(id_, instruction, output), ensure_ascii=False).encode()


# A JSONL file with the bytes a re-serialization would change, a blank line, an invalid line,
# a row a drop rule removes and an exact copy of a kept row.
UNICODE = '{"id": "u1", "instruction": "Traduis \u00ab caf\u00e9 \u00bb en anglais.", "input": "", "output": "\u00ab Caf\u00e9 \u00bb se dit coffee en anglais \u2615."}'.encode()
SLASHES = b'{"id":"s1","instruction":"Give the path to the hosts file on Linux.","input":"","output":"It is \\/etc\\/hosts, readable by every user."}'
SPACES = (
    _row("t1", "Name the largest planet in the solar system.", "Jupiter is the largest planet in the solar system.") + b"  \t"
)
CRLF = _row("c1", "What is the boiling point of water at sea level?", "Water boils at 100 degrees Celsius at sea level.") + b"\r"
INVALID = b'{"id": "bad", "instruction": "cut off'
EMPTY = _row("e1", "Say something kind to a friend.", "")
COPY = _row("t2", "Name the largest planet in the solar system.", "Jupiter is the largest planet in the solar system.")
LAST = _row("z1", "Spell the word necessary.", "N-E-C-E-S-S-A-R-Y spells necessary, with one c and two s.") + b"\r"
LINES = [UNICODE, SLASHES, SPACES, CRLF, b"", INVALID, EMPTY, COPY, LAST]  # the last one without a newline
KEPT = [UNICODE, SLASHES, SPACES, CRLF, LAST]


@pytest.fixture(scope="module")
def jsonl_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("kept")
    src = write_file(base / "in" / "odd.jsonl", b"\n".join(LINES))
    out = base / "out"
    assert score(src, out) == 0
    return src, out


def test_kept_jsonl_lines_are_the_input_lines_byte_for_byte(jsonl_run):
    _, out = jsonl_run
    assert os.listdir(out / "kept") == ["odd.jsonl"]
    assert (out / "kept" / "odd.jsonl").read_bytes() == b"".join(line + b"\n" for line in KEPT)


def test_records_say_why_each_row_was_dropped(jsonl_run):
    _, out = jsonl_run
    records = read_records(out, by_id=True)
    assert {i: (r["keep"], r["drop_reasons"]) for i, r in records.items()} == {
        "u1": (True, []),
        "s1": (True, []),
        "t1": (True, []),
        "c1": (True, []),
        "e1": (False, ["rule:empty_response"]),
        "t2": (False, ["near_duplicate_of:t1"]),  # an exact copy: t1 is the cluster's kept row
        "z1": (True, []),
    }
    assert [(r["row"], r["reason"].split(":")[0]) for r in read_rejected(out).to_pylist()] == [(5, "invalid_json")]


def test_the_summary_and_run_record_count_kept_and_dropped_rows(jsonl_run):
    _, out = jsonl_run
    dataset = read_dataset_json(out)
    assert (dataset["rows_kept"], dataset["rows_dropped"]) == (5, 2)
    assert dataset["drop_reasons"] == {"near_duplicate": 1, "rule:empty_response": 1}
    assert dataset["shards"] == [
        {
            "shard": "odd.jsonl",
            "rows_read": 8,
            "rows_scored": 7,
            "rows_rejected": 1,
            "rows_kept": 5,
            "rows_dropped": 2,
            "kept_files": [{"path": "kept/odd.jsonl", "rows": 5, "bytes": (out / "kept" / "odd.jsonl").stat().st_size}],
        }
    ]
    shard = read_shards(out).to_pylist()[0]
    assert (shard["rows_kept"], shard["rows_dropped"]) == (5, 2)
    assert shard["drop_reasons"] == [{"key": "near_duplicate", "count": 1}, {"key": "rule:empty_response", "count": 1}]
    run = read_run_json(out)
    assert (run["rows_kept"], run["rows_dropped"], run["complete"]) == (5, 2, True)
    assert not os.path.exists(out / "_work")


def test_the_end_of_run_table_shows_kept_and_dropped(tmp_path, capsys):
    src = write_file(tmp_path / "odd.jsonl", b"\n".join(LINES))
    assert score(src, tmp_path / "out") == 0
    report = capsys.readouterr().out
    assert "kept 5 of 7 scored rows; dropped 2: near_duplicate 1, rule:empty_response 1\n" in report
    assert "kept, duplicates, summary, report.html}" in report


def test_a_json_array_becomes_jsonl_of_its_original_elements(tmp_path):
    text = (
        '[\n  {"id": "a", "instruction": "Name a prime number below ten.", "input": "", "output": "Seven is prime: 7 \\/ 1 = 7."},\n'
        '  {"id": "b", "instruction": "Say hello.", "input": "", "output": ""},\n'
        '  {"id": "c", "instruction": "Give the chemical symbol of gold.", "input": "",\n'
        '   "output": "The symbol of gold is Au, from the Latin aurum.", "score": 1.50}\n]\n'
    )
    src = write_file(tmp_path / "in" / "arr.json", text)
    assert score(src, tmp_path / "out", config=NO_DEDUP) == 0
    assert os.listdir(tmp_path / "out" / "kept") == ["arr.jsonl"]
    lines = (tmp_path / "out" / "kept" / "arr.jsonl").read_bytes().split(b"\n")
    assert lines == [
        b'{"id":"a","instruction":"Name a prime number below ten.","input":"","output":"Seven is prime: 7 \\/ 1 = 7."}',
        b'{"id":"c","instruction":"Give the chemical symbol of gold.","input":"","output":"The symbol of gold is Au, from the Latin aurum.","score":1.50}',
        b"",
    ]
    elements = json.loads(text)
    assert [json.loads(x) for x in lines[:2]] == [elements[0], elements[2]]


def _parquet_input(path) -> pa.Table:
    table = pa.table(
        {
            "id": ["p1", "p2", "p3", "p4"],
            "instruction": [
                "Name the capital of Italy.",
                "Say hello.",
                "How many legs does a spider have?",
                "Which gas do plants take in?",
            ],
            "input": ["", "", "", ""],
            "output": [
                "The capital of Italy is Rome.",
                "",
                "A spider has eight legs.",
                "Plants take in carbon dioxide from the air.",
            ],
            "tags": pa.array([["geo"], [], None, ["bio", "plants"]], pa.list_(pa.string())),
            "meta": pa.array([{"source": "a", "n": 1}, {"source": "b", "n": 2}, None, {"source": "d", "n": 4}]),
            "weight": pa.array([1.5, 2.0, None, 0.25], pa.float32()),
        }
    ).replace_schema_metadata({b"dataset": b"winnow-test"})
    pq.write_table(table, str(path), row_group_size=2, compression="zstd")
    return table


@pytest.mark.parametrize("split_bytes", [0, 1])
def test_parquet_rows_round_trip_with_the_same_schema(tmp_path, split_bytes):
    os.makedirs(tmp_path / "in")
    table = _parquet_input(tmp_path / "in" / "t.parquet")
    out = tmp_path / "out"
    assert score(str(tmp_path / "in"), out, config={**NO_DEDUP, "input": {"split_bytes": split_bytes}}) == 0
    names = sorted(os.listdir(out / "kept"))
    assert names == (["t.part-00000.parquet", "t.part-00001.parquet"] if split_bytes else ["t.parquet"])
    kept = pa.concat_tables([pq.read_table(str(out / "kept" / n)) for n in names])
    assert kept.schema == table.schema and kept.schema.metadata == table.schema.metadata
    assert kept.to_pylist() == [r for r in table.to_pylist() if r["id"] != "p2"]
    assert pq.ParquetFile(str(out / "kept" / names[0])).metadata.row_group(0).column(0).compression == "ZSTD"


@pytest.mark.parametrize(
    ("suffix", "compress", "decompress"),
    [
        (".gz", gzip.compress, gzip.decompress),
        (
            ".zst",
            lambda b: zstandard.ZstdCompressor().compress(b),
            lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b),
        ),
    ],
)
def test_compressed_input_gives_a_kept_file_compressed_the_same_way(tmp_path, suffix, compress, decompress):
    data = b"\n".join(LINES) + b"\n"
    src = write_file(tmp_path / "in" / f"odd.jsonl{suffix}", compress(data))
    out = tmp_path / "out"
    assert score(src, out) == 0
    kept = out / "kept" / f"odd.jsonl{suffix}"
    assert os.listdir(out / "kept") == [kept.name]
    assert decompress(kept.read_bytes()) == b"".join(line + b"\n" for line in KEPT)


def test_a_file_read_in_parts_gets_one_kept_file_per_part(tmp_path):
    rows = [
        _row(
            f"r{i}",
            f"Give one fact about the number {i}.",
            f"The number {i} is {'even' if i % 2 == 0 else 'odd'}; {i} + 1 = {i + 1}.",
        )
        for i in range(40)
    ]
    rows[7] = _row("r7", "Give one fact about the number 7.", "")
    src = write_file(tmp_path / "big.jsonl", b"\n".join(rows) + b"\n")
    out = tmp_path / "out"
    assert score(src, out, config={**NO_DEDUP, "input": {"split_bytes": 1000}}) == 0
    names = sorted(os.listdir(out / "kept"))
    assert len(names) > 2 and names[0] == "big.part-00000.jsonl" and all(n.startswith("big.part-") for n in names)
    assert b"".join((out / "kept" / n).read_bytes() for n in names) == b"".join(r + b"\n" for i, r in enumerate(rows) if i != 7)


def test_min_thresholds_and_no_kept_write_reasons_but_no_kept_folder(tmp_path):
    src = write_file(tmp_path / "odd.jsonl", b"\n".join(LINES))
    out = tmp_path / "out"
    config = {**NO_DEDUP, "keep": {"min": {"response_words": 9}}}
    assert score(src, out, "--no-kept", config=config) == 0
    assert not os.path.exists(out / "kept")
    records = read_records(out, by_id=True)
    words = {i: r["response_words"] for i, r in records.items()}
    for i, r in records.items():
        expected = (["rule:empty_response"] if i == "e1" else []) + (["below_min:response_words<9"] if words[i] < 9 else [])
        assert (r["keep"], r["drop_reasons"]) == (not expected, expected), i
    dataset = read_dataset_json(out)
    assert dataset["rows_kept"] + dataset["rows_dropped"] == 7 and dataset["drop_reasons"]["below_min:response_words"] >= 1
    assert dataset["shards"][0]["kept_files"] == []
    assert read_run_json(out)["complete"] is True


def test_redaction_reaches_every_string_of_the_kept_rows(tmp_path):
    clean = _row("k1", "Name a primary color.", "Red is a primary color, like blue and yellow.")
    personal = json.dumps(
        {
            "id": "k2",
            "instruction": "Who do I write to about my order?",
            "input": "",
            "output": "Write to orders@example.com or call +1 415 555 0100 on weekdays.",
            "extra": {"contacts": ["ann@example.org", "no one"], "n": 3},
        }
    ).encode()
    write_file(tmp_path / "in" / "pii.jsonl", clean + b"\n" + personal + b"\n")
    parquet = tmp_path / "in" / "pii.parquet"
    pq.write_table(
        pa.table(
            {
                "id": ["q1"],
                "instruction": ["How can I reach support?"],
                "input": [""],
                "output": ["Mail help@example.net and we answer within a day."],
                "cc": pa.array([["bob@example.com"]], pa.list_(pa.string())),
            }
        ),
        str(parquet),
    )
    out = tmp_path / "out"
    assert score(str(tmp_path / "in"), out, config={**NO_DEDUP, "safety": {"redact": True}}) == 0
    lines = (out / "kept" / "pii.jsonl").read_bytes().split(b"\n")
    assert lines[0] == clean  # nothing to redact: the line as it was
    assert json.loads(lines[1]) == {
        "id": "k2",
        "instruction": "Who do I write to about my order?",
        "input": "",
        "output": "Write to [EMAIL] or call [PHONE] on weekdays.",
        "extra": {"contacts": ["[EMAIL]", "no one"], "n": 3},
    }
    assert pq.read_table(str(out / "kept" / "pii.parquet")).to_pylist() == [
        {
            "id": "q1",
            "instruction": "How can I reach support?",
            "input": "",
            "output": "Mail [EMAIL] and we answer within a day.",
            "cc": ["[EMAIL]"],
        }
    ]


def test_a_kept_file_missing_rows_refuses_the_run(tmp_path, monkeypatch):
    """The keep stage counts what it wrote by reading it back; a writer that loses a row fails the run."""
    real = kept_out.KeptLines.write

    def lossy(self, line):
        if not line.startswith(b'{"id":"s1"'):
            real(self, line)

    monkeypatch.setattr(kept_out.KeptLines, "write", lossy)
    src = write_file(tmp_path / "odd.jsonl", b"\n".join(LINES))
    out = tmp_path / "out"
    assert score(src, out) == 1
    assert not os.path.exists(out / "run.json")
    problems = json.loads((out / "run.error.json").read_bytes())["problems"]
    assert problems == ["shard odd.jsonl: kept/ files hold 4 rows but 5 were kept"]


def test_kept_files_or_counts_changed_after_writing_fail_the_accounting(jsonl_run, tmp_path):
    _, out = jsonl_run
    config = load_config()
    assert verify_accounting(str(out), config)[1] == []
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(out, copy)
    kept = copy / "kept" / "odd.jsonl"
    kept.write_bytes(kept.read_bytes() + SLASHES + b"\n")  # a row added by hand
    (copy / "kept" / "stray.jsonl").write_bytes(b"{}\n")
    dataset = json.loads((copy / "summary" / "dataset.json").read_bytes())
    dataset["shards"][0]["rows_kept"] = 6  # a count that no longer adds up
    (copy / "summary" / "dataset.json").write_text(json.dumps(dataset))
    problems = verify_accounting(str(copy), config)[1]
    size = (out / "kept" / "odd.jsonl").stat().st_size
    assert problems == [
        "shard odd.jsonl: rows_scored 7 != kept 6 + dropped 2",
        "shard odd.jsonl: kept/ files hold 5 rows but 6 were kept",
        f"kept/odd.jsonl holds {kept.stat().st_size} bytes, not the {size} written and counted",
        "kept/ holds files the run did not write: kept/stray.jsonl",
    ]
    kept.unlink()
    assert "kept/odd.jsonl was written but is missing" in verify_accounting(str(copy), config)[1]


def test_a_sources_keep_policy_applies_to_its_files_and_text_columns_are_not_needed(tmp_path):
    data = b"\n".join(LINES)
    write_file(tmp_path / "in" / "lenient.jsonl", data)
    write_file(tmp_path / "in" / "strict.jsonl", data)
    config = {**NO_DEDUP, "output": {"include_text": False}, "sources": [{"match": "lenient*", "keep": {"drop_severities": []}}]}
    out = tmp_path / "out"
    assert score(str(tmp_path / "in"), out, config=config) == 0
    scored = [line for line in LINES if line.strip() and line != INVALID]
    assert (out / "kept" / "lenient.jsonl").read_bytes() == b"".join(line + b"\n" for line in scored)
    assert (out / "kept" / "strict.jsonl").read_bytes() == b"".join(line + b"\n" for line in scored if line != EMPTY)
    assert "response" not in read_records(out).column_names
