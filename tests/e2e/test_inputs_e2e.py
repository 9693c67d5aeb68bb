"""Inputs and identities through whole runs (issue 10, items 2, 3, 8, 9).

A second run whose --output sits in its input directory reads only the
data; one file named three ways is read once; ids repeated across files are
counted and reported; a row has one name in records/, rejected/, the summary,
run.json and `winnow inspect`.
"""

from __future__ import annotations

import os

import pyarrow.compute as pc
import pytest
from conftest import alpaca, read_dataset_json, read_records, read_rejected, read_run_json, read_shards, score, write_jsonl

from winnow.pipelines.cli import main

pytestmark = pytest.mark.slow

TOPICS = ["rivers", "glaciers", "volcanoes", "deserts", "forests", "coral reefs", "tides", "caves"]


def _rows(tag: str, ids: list | None = None, n: int = 5) -> list[dict]:
    """Rows on different topics (no two are near copies); `ids[i]` is row i's id field (left out where None)."""
    rows = [
        alpaca(None, f"Explain how {TOPICS[i]} form ({tag}).", f"{TOPICS[i].capitalize()} form over long periods: {tag} {i}.")
        for i in range(n)
    ]
    return [r if ids is None or ids[i] is None else {"id": ids[i], **r} for i, r in enumerate(rows)]


def _write(path, rows: list) -> str:
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    return write_jsonl(path, rows)


def test_a_second_run_with_its_output_inside_the_input_reads_only_the_data(tmp_path, capsys):
    d = tmp_path / "d"
    _write(d / "f.jsonl", _rows("a"))
    out = d / "out"
    assert score(str(d), out) == 0
    capsys.readouterr()
    assert score(str(d), out, "--overwrite") == 0
    err = capsys.readouterr().err
    run = read_run_json(out)
    assert (run["rows_read"], run["rows_scored"], run["rows_rejected"]) == (5, 5, 0)
    assert [i["shard"] for i in run["inputs"]] == ["f.jsonl"]
    skipped = run["skipped_inputs"]
    assert skipped and all(s["reason"] == "in this run's output directory" and s["directory"] == str(out) for s in skipped)
    assert {os.path.relpath(s["path"], out).split(os.sep)[0] for s in skipped} >= {"run.json", "records", "summary"}
    assert f"skipped {len(skipped)} file(s) in {out}/ (the output directory of this run)" in err
    # A third run elsewhere sees the run in d/out as another run's directory.
    other = tmp_path / "other"
    assert score(str(d), other) == 0
    run = read_run_json(other)
    assert run["rows_read"] == 5 and {s["reason"] for s in run["skipped_inputs"]} == {"in a winnow run directory"}
    assert f"skipped {len(run['skipped_inputs'])} file(s) in {out}/ (a winnow run directory)" in capsys.readouterr().err


def test_one_file_named_three_ways_is_read_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "d" / "f.jsonl", _rows("b"))
    assert score(["d/f.jsonl", "./d/", "d/../d/f.jsonl"], "out") == 0
    run, ds = read_run_json("out"), read_dataset_json("out")
    assert run["rows_read"] == 5 and [i["path"] for i in run["inputs"]] == [str(tmp_path / "d" / "f.jsonl")]
    assert (ds["diversity"]["duplicates_removed"], ds["diversity"]["exact_duplicates_removed"]) == (0, 0)


def test_ids_repeated_across_files_are_counted_and_reported(tmp_path, capsys):
    d = tmp_path / "d"
    _write(d / "a.jsonl", _rows("c", [7, "x", 2.5, None, "y"]))
    _write(d / "b.jsonl", _rows("d", ["z", "7", None, {"k": 1}, "y"]))
    out = tmp_path / "out"
    assert score(str(d), out) == 0
    ids = read_dataset_json(out)["ids"]
    assert ids == {
        "repeated_ids": 2,
        "rows_with_repeated_id": 4,
        "examples": [
            {"id": "7", "rows": 2, "at": [{"shard": "a.jsonl", "row": 0}, {"shard": "b.jsonl", "row": 1}]},
            {"id": "y", "rows": 2, "at": [{"shard": "a.jsonl", "row": 4}, {"shard": "b.jsonl", "row": 4}]},
        ],
        "rows_with_own_id": 6,
        "replaced": {"float": 1, "object": 1},
    }
    report = capsys.readouterr().out
    assert 'warning: 2 ids appear more than once, on 4 rows (e.g. "7" in a.jsonl:0 and b.jsonl:1); ids are not unique' in report
    assert "ids replaced by <shard>:<row>: 2 (float 1, object 1); the original values are in meta" in report
    records = read_records(out).sort_by([("shard", "ascending"), ("row", "ascending")])
    assert records.column("id").to_pylist() == ["7", "x", "a.jsonl:2", "a.jsonl:3", "y", "z", "7", "b.jsonl:2", "b.jsonl:3", "y"]


def test_a_row_has_one_name_in_every_output_and_in_inspect(tmp_path, capsys):
    data = tmp_path / "data"
    _write(data / "sub" / "a.jsonl", _rows("e") + ['{"instruction": "cut off'])
    _write(data / "sub" / "b.jsonl", _rows("f", ["b0", None, None, None, None]))
    out = tmp_path / "out"
    assert score(str(data), out) == 0
    names = ["sub/a.jsonl", "sub/b.jsonl"]
    records = read_records(out)
    assert sorted(set(records.column("shard").to_pylist())) == names
    a_ids = records.filter(pc.equal(records.column("shard"), "sub/a.jsonl")).sort_by("row").column("id").to_pylist()
    assert a_ids == [f"sub/a.jsonl:{r}" for r in range(5)]
    assert [(r["shard"], r["row"]) for r in read_rejected(out).to_pylist()] == [("sub/a.jsonl", 5)]
    assert read_shards(out).column("shard").to_pylist() == names
    assert [s["shard"] for s in read_dataset_json(out)["shards"]] == names
    run = read_run_json(out)
    assert [(i["shard"], i["path"]) for i in run["inputs"]] == [(n, str(data / n)) for n in names]
    capsys.readouterr()
    # inspect, given the same input, names the same rows the same way.
    assert main(["inspect", str(data), "--shard", "sub/b.jsonl", "-n", "5"]) == 0
    shown = [line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("  id: ")]
    b_ids = records.filter(pc.equal(records.column("shard"), "sub/b.jsonl")).sort_by("row").column("id").to_pylist()
    assert shown == b_ids == ["b0"] + [f"sub/b.jsonl:{r}" for r in range(1, 5)]
