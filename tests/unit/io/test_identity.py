"""One identity per file and per row (issue 10, items 2, 3, 8, 9), without a pipeline run.

A file is one shard however it is spelled; a directory holding a winnow run
(or this run's output) is not an input; a shard's name is its path relative
to the input given, in `score` and `inspect` alike; an id is text, and
integers keep their decimal form.
"""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import alpaca, normalize, write_file, write_jsonl

from winnow.pipelines.cli import main
from winnow.transforms.io.inputs import InputError, match_inputs


def _rows(tag: str, n: int = 5) -> list[dict]:
    return [alpaca(None, f"Question {tag}{i} about rivers?", f"Answer {tag}{i}: rivers flow to the sea.") for i in range(n)]


def _jsonl(path, tag: str = "r", n: int = 5) -> str:
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    return write_jsonl(path, _rows(tag, n))


def _parquet(path) -> str:
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    pq.write_table(pa.table({"id": ["x"], "text": ["an output row"]}), str(path))
    return str(path)


def _names(patterns: list[str]) -> list[str]:
    return [s.name for s in match_inputs(patterns)[0]]


# ---- item 3: the same file is one shard, however it is spelled ---------------------------


def test_one_file_named_three_ways_is_one_shard(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _jsonl(tmp_path / "d" / "f.jsonl")
    shards, _ = match_inputs(["d/f.jsonl", "./d/", "d/../d/f.jsonl"])
    assert [(s.index, s.name, s.path) for s in shards] == [(0, "f.jsonl", str(tmp_path / "d" / "f.jsonl"))]


def test_relative_and_absolute_inputs_mix(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _jsonl(tmp_path / "d" / "f.jsonl")
    _jsonl(tmp_path / "e" / "g.jsonl")
    shards, _ = match_inputs(["d/f.jsonl", str(tmp_path / "e" / "g.jsonl")])
    assert [(s.name, s.path) for s in shards] == [
        ("f.jsonl", str(tmp_path / "d" / "f.jsonl")),
        ("g.jsonl", str(tmp_path / "e" / "g.jsonl")),
    ]
    assert main(["score", "d/f.jsonl", str(tmp_path / "d" / "f.jsonl"), str(tmp_path / "e"), "--output", "out", "--dry-run"]) == 0
    assert "winnow plan: 2 input file(s)" in capsys.readouterr().err


def test_remote_paths_are_normalized():
    from winnow.transforms.io.inputs import normalize_path

    assert normalize_path("gs://bucket//corpus/./sub//a.jsonl") == "gs://bucket/corpus/sub/a.jsonl"
    assert normalize_path("gs://bucket/corpus//") == "gs://bucket/corpus/"  # still a prefix
    assert normalize_path("gs://bucket/corpus") == "gs://bucket/corpus"


# ---- item 2: winnow runs are not inputs ------------------------------------------------------


@pytest.fixture
def with_runs(tmp_path):
    """d/f.jsonl, a finished run in d/old (run.json), a run that stopped early in d/crashed (records/ + rejected/)."""
    d = tmp_path / "d"
    _jsonl(d / "f.jsonl")
    write_file(d / "old" / "run.json", '{"complete": true}')
    _parquet(d / "old" / "records" / "part-00000-of-00001.parquet")
    write_file(d / "old" / "summary" / "dataset.json", "{}")
    _parquet(d / "crashed" / "records" / "part-000000-00000.parquet")
    _parquet(d / "crashed" / "rejected" / "part-000000-00000.parquet")
    return d


def test_a_directory_holding_a_winnow_run_is_not_read(with_runs):
    d = with_runs
    shards, skipped = match_inputs([str(d)])
    assert [s.name for s in shards] == ["f.jsonl"]
    assert {(s.path, s.reason, s.directory) for s in skipped} == {
        (str(d / "crashed" / "records" / "part-000000-00000.parquet"), "in a winnow run directory", str(d / "crashed")),
        (str(d / "crashed" / "rejected" / "part-000000-00000.parquet"), "in a winnow run directory", str(d / "crashed")),
        (str(d / "old" / "records" / "part-00000-of-00001.parquet"), "in a winnow run directory", str(d / "old")),
        (str(d / "old" / "run.json"), "in a winnow run directory", str(d / "old")),
        (str(d / "old" / "summary" / "dataset.json"), "in a winnow run directory", str(d / "old")),
    }
    # A glob walks the same way; the directories of its matches are probed for a run record.
    assert _names([str(d / "**" / "*.parquet"), str(d / "*.jsonl")]) == ["f.jsonl"]
    assert _names([str(d / "o*" / "records" / "*.parquet"), str(d / "*.jsonl")]) == ["f.jsonl"]


def test_a_run_directory_or_a_file_in_it_named_explicitly_is_read(with_runs):
    d = with_runs
    assert _names([str(d / "old")]) == ["records/part-00000-of-00001.parquet", "run.json", "summary/dataset.json"]
    assert _names([str(d / "old" / "records" / "part-00000-of-00001.parquet")]) == ["part-00000-of-00001.parquet"]


def test_this_runs_output_directory_is_never_an_input(with_runs):
    d = with_runs
    _jsonl(d / "out" / "records" / "stray.jsonl")
    shards, skipped = match_inputs([str(d)], str(d / "out"))
    assert [s.name for s in shards] == ["f.jsonl"]
    assert [(s.reason, s.directory) for s in skipped if s.path.startswith(str(d / "out"))] == [
        ("in this run's output directory", str(d / "out"))
    ]
    for named in (d / "out", d / "out" / "records" / "stray.jsonl"):
        with pytest.raises(InputError, match="is in this run's output directory"):
            match_inputs([str(named)], str(d / "out"))


def test_the_plan_says_what_was_skipped_and_why(with_runs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_file(with_runs / "README.md", "notes")
    assert main(["score", "d", "--output", "d/out", "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "winnow plan: 1 input file(s)" in err
    assert "  skipped 1 non-data file(s), e.g. d/README.md" in err
    assert "  skipped 2 file(s) in d/crashed/ (a winnow run directory)" in err
    assert "  skipped 3 file(s) in d/old/ (a winnow run directory)" in err


# ---- item 9: a shard's name is relative to the input given -----------------------------------


def test_shard_names_are_relative_to_the_input_given(tmp_path):
    data = tmp_path / "data"
    _jsonl(data / "sub" / "a.jsonl")
    _jsonl(data / "sub" / "b.jsonl")
    assert _names([str(data)]) == ["sub/a.jsonl", "sub/b.jsonl"]  # not relative to the files' common directory
    assert _names([str(data / "sub" / "a.jsonl")]) == ["a.jsonl"]
    assert _names([str(data / "*" / "*.jsonl")]) == ["sub/a.jsonl", "sub/b.jsonl"]  # below the glob's fixed part


def test_names_of_several_inputs_get_their_roots_where_they_clash(tmp_path):
    for path in ("a/f.jsonl", "b/f.jsonl", "b/g.jsonl", "c/h.jsonl", "x/data/i.jsonl", "y/data/i.jsonl"):
        _jsonl(tmp_path / path)
    roots = [str(tmp_path / r) for r in ("a", "b", "c", "x/data", "y/data")]
    assert _names(roots) == ["a/f.jsonl", "b/f.jsonl", "b/g.jsonl", "h.jsonl", "x/data/i.jsonl", "y/data/i.jsonl"]


def test_inspect_names_rows_as_score_does(tmp_path, capsys):
    data = tmp_path / "data"
    _jsonl(data / "sub" / "a.jsonl")
    _jsonl(data / "sub" / "b.jsonl")
    assert main(["inspect", str(data), "--shard", "sub/b.jsonl", "-n", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"sub/b.jsonl ({data / 'sub' / 'b.jsonl'}): first 2 row(s)")
    assert "id: sub/b.jsonl:0 " in out and "id: sub/b.jsonl:1 " in out
    assert main(["inspect", str(data), "--shard", "b.jsonl"]) == 2
    assert "no input file is named 'b.jsonl'; the inputs' shard names: sub/a.jsonl, sub/b.jsonl" in capsys.readouterr().err


# ---- item 8: what an id becomes ---------------------------------------------------------------


def test_ids_are_text_and_integers_keep_their_decimal_form():
    values = [7, "7", 7.0, 2.5, None, True, {"n": 1}, [1], "", float("nan"), -3, "x"]
    rows = [{**alpaca(None, f"Question {i}?", f"Answer {i}."), "id": v} for i, v in enumerate(values)]
    batch, rejected = normalize(rows)
    assert rejected == []
    assert batch.column("id").to_pylist() == [
        "7",
        "7",
        "7",
        "data.jsonl:3",
        "data.jsonl:4",
        "data.jsonl:5",
        "data.jsonl:6",
        "data.jsonl:7",
        "data.jsonl:8",
        "data.jsonl:9",
        "-3",
        "x",
    ]
    # A value that cannot be an id is kept in meta; a missing one (null, NaN) has nothing to keep.
    meta = batch.column("meta").to_pylist()
    assert [meta[i] for i in (3, 4, 5, 6, 7, 8, 9)] == [
        '{"id":2.5}',
        "{}",
        '{"id":true}',
        '{"id":{"n":1}}',
        '{"id":[1]}',
        '{"id":""}',
        "{}",
    ]
