"""End-to-end tests of `winnow score` on the samples and on corpora written here."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import pytest
from conftest import SAMPLES, read_dataset_json, read_records, read_rejected, read_run_json, read_shards

from winnow.pipelines.cli import main

pytestmark = pytest.mark.slow

CONTRACT_RECORD_COLUMNS = {"id", "shard", "row", "format", "lang", "flags"}


@pytest.fixture(scope="module")
def samples_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run") / "out")
    assert main(["score", SAMPLES, "--output", out]) == 0
    return out


def test_samples_outputs_follow_the_contract(samples_run):
    out = samples_run
    records = read_records(out)
    assert set(records.column_names) >= CONTRACT_RECORD_COLUMNS
    assert records.schema.field("flags").type.value_type == "string"
    rejected = read_rejected(out)
    assert set(rejected.column_names) == {"shard", "row", "reason", "raw"}
    shards = read_shards(out).to_pylist()
    assert [s["shard"] for s in shards] == sorted(os.listdir(SAMPLES))
    for s in shards:
        assert s["rows_read"] == s["rows_scored"] + s["rows_rejected"]
        assert 0.0 <= s["error_rate"] <= 1.0
    run = read_run_json(out)
    assert run["complete"] is True
    assert run["rows_read"] == run["rows_scored"] + run["rows_rejected"]
    assert run["rows_scored"] == records.num_rows
    assert run["rows_rejected"] == rejected.num_rows
    assert len(run["config_hash"]) == 16 and run["versions"]["apache-beam"]
    dataset = read_dataset_json(out)
    assert dataset["rows_read"] == run["rows_read"]
    assert {r["name"] for r in dataset["rules"]} >= {"empty_response", "placeholder_response"}


def test_samples_flags_and_dead_letters_land_where_expected(samples_run):
    records = {r["id"]: r for r in read_records(samples_run).to_pylist()}
    assert records["alpaca.json:5"]["flags"] == ["placeholder_response"]
    assert records["alpaca.json:6"]["flags"] == ["merged_instructions"]
    assert records["chat-3"]["flags"] == ["empty_response"]
    assert records["alpaca.json:0"]["flags"] == []
    assert records["alpaca.json:0"]["severity"] == ""
    assert records["chat-2"]["format"] == "sharegpt"
    assert records["web_text.parquet:0"]["format"] == "text"
    reasons = {(r["shard"], r["row"]): r["reason"] for r in read_rejected(samples_run).to_pylist()}
    assert reasons[("chat_openai.jsonl.gz", 1)].startswith("invalid_json")
    assert reasons[("dolly.jsonl", 3)].startswith("wrong_type")
    assert reasons[("chat_sharegpt.jsonl", 4)].startswith("unknown_role")


def _write_malformed_corpus(d) -> dict[str, int]:
    """A directory with every kind of bad input; returns rows expected per file."""
    d.mkdir()
    good = {"instruction": "Name a primary color.", "input": "", "output": "Red is a primary color."}
    lines = [
        json.dumps(good).encode(),
        b'{"instruction": "broken", "output": ',
        '{"instruction": "caf\u00e9", "output": "ok"}'.encode("latin-1"),  # invalid UTF-8
        json.dumps({"instruction": ["not", "text"], "output": "x"}).encode(),
        json.dumps({"instruction": "missing the output"}).encode(),
        json.dumps({"instruction": "huge", "input": "", "output": "x" * 5_000_000}).encode(),
        json.dumps([1, 2, 3]).encode(),
    ]
    (d / "bad.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (d / "empty.jsonl").write_bytes(b"")
    (d / "blank.json").write_text("  \n\n ")
    (d / "truncated.json").write_text('[{"instruction": "a", "output": "b"}, {"instruction": "c", "out')
    (d / "corrupt.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00not really gzip data at all")
    with gzip.open(d / "fine.jsonl.gz", "wt") as f:
        f.write(json.dumps(good) + "\n")
    return {"bad.jsonl": 7, "empty.jsonl": 1, "blank.json": 1, "truncated.json": 2, "corrupt.jsonl.gz": 1, "fine.jsonl.gz": 1}


def test_malformed_inputs_become_dead_letters_and_never_stop_the_run(tmp_path):
    expected = _write_malformed_corpus(tmp_path / "in")
    out = str(tmp_path / "out")
    assert main(["score", str(tmp_path / "in"), "--output", out, "--direct_num_workers=1"]) == 0
    rejected = read_rejected(out).to_pylist()
    by_file: dict[str, list[str]] = {}
    for r in rejected:
        by_file.setdefault(r["shard"], []).append(r["reason"].split(":", 1)[0])
    assert sorted(by_file["bad.jsonl"]) == sorted(
        ["invalid_json", "invalid_utf8", "wrong_type", "missing_field", "row_too_large", "wrong_type"]
    )
    assert by_file["empty.jsonl"] == ["empty_file"]
    assert by_file["blank.json"] == ["empty_file"]
    assert by_file["truncated.json"] == ["invalid_json"]
    assert by_file["corrupt.jsonl.gz"] == ["corrupt_data"]  # a gzip header, then bytes that are not deflate data
    assert "fine.jsonl.gz" not in by_file
    huge = next(r for r in rejected if r["reason"].startswith("row_too_large"))
    assert len(huge["raw"]) <= 2100  # raw text is truncated
    shards = {s["shard"]: s for s in read_shards(out).to_pylist()}
    for name, rows in expected.items():
        s = shards[name]
        assert s["rows_read"] == rows, name
        assert s["rows_read"] == s["rows_scored"] + s["rows_rejected"], name
    run = read_run_json(out)
    assert run["rows_read"] == sum(expected.values())
    assert run["rows_scored"] == 3  # bad.jsonl row 0, truncated.json row 0, fine.jsonl.gz row 0


def test_existing_run_needs_overwrite(samples_run, capsys):
    assert main(["score", SAMPLES, "--output", samples_run, "--dry-run"]) == 0
    assert main(["score", SAMPLES, "--output", samples_run]) == 1
    assert "--overwrite" in capsys.readouterr().err


def test_console_script_end_to_end(tmp_path):
    """The installed `winnow` command, as a user runs it (subprocess, default local workers)."""
    out = tmp_path / "out"
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "winnow"), "score", SAMPLES, "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rows read 30" in proc.stdout
    assert "winnow plan" in proc.stderr
    assert (out / "run.json").exists()
    help_text = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "winnow"), "score", "--help"], capture_output=True, text=True
    ).stdout
    assert "--output" in help_text and "examples:" in help_text


def test_job_that_cannot_account_for_its_rows_fails_with_run_error_json(tmp_path, capsys):
    """The job's last step checks the run; unconverged clusters (max_rounds too low) leave run.error.json, no run.json."""
    words = [f"w{i}" for i in range(400)]
    rows = [
        {"instruction": "Continue the word list from here.", "output": " ".join(words[i * 4 : i * 4 + 40])} for i in range(40)
    ]
    inp = tmp_path / "chain.jsonl"
    inp.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dedup: {max_rounds: 1, partitions: 4}\n")
    out = tmp_path / "out"
    assert main(["score", str(inp), "--output", str(out), "--config", str(cfg), "--direct_num_workers=1"]) == 1
    err = capsys.readouterr().err
    assert "rows are unaccounted for" in err and "raise dedup.max_rounds" in err
    assert not (out / "run.json").exists()
    problems = json.loads((out / "run.error.json").read_text())["problems"]
    assert any("did not converge" in p for p in problems)
