"""Two runs of the same input write the same bytes (issue 10).

A corpus of a few thousand rows in three files (two read in several parts),
with near-duplicates across files, dead letters and rows with no language,
is scored twice in the default mode (one process) and twice with two worker
processes. Within a mode, every file under records/, rejected/, duplicates/,
kept/ and summary/ is byte-identical and run.json differs only in its times; across
modes the files have the same names and the same rows.

Before the fix, KLL sketches seeded from the clock made summary/ differ
between any two runs of shards over 200 rows, and Beam's Parquet sink wrote
records/ rows in bundle order, which differed between multi-process runs.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import alpaca, openai, read_dataset_json, read_json, read_shards, read_table, score, sharegpt, write_files

from winnow.transforms.summary.quantiles import PRECISION, QuantileSketch
from winnow.transforms.summary.shard_stats import QUANTILES, SKETCHED

pytestmark = pytest.mark.slow

MODES = {"default": [], "multi_processing": ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]}
FOLDERS = ("records", "rejected", "duplicates", "kept", "summary")
SORT_KEYS = {"records": ["key"], "rejected": ["shard", "row"], "duplicates": ["key"]}
SPLIT_BYTES = 150_000  # the JSONL files (~400 KB) are read in several parts
TIMES = ("started", "finished")

_WORDS = (  # noqa: SIM905 - prose reads better than a list of words
    "river mountain lantern copper meadow pencil harbor orchard thunder velvet window basket compass galaxy marble "
    "pepper saddle tunnel violin walnut anchor blanket candle desert feather glacier hammer island jungle kettle "
    "ladder magnet needle oyster pillow quilt ribbon shovel tractor umbrella wagon yarn zebra beacon cobalt ember"
).split()


def _text(rng: np.random.Generator, mean: float, sigma: float) -> str:
    """Words of a lognormal count, so lengths reach past the sketch's exact range (< 128)."""
    return " ".join(rng.choice(_WORDS, int(rng.lognormal(mean, sigma)) + 1))


def corpus(n: int = 3000) -> dict[str, list]:
    """Rows per file: three formats, near and exact copies across files, dead letters, rows without text."""
    rng = np.random.default_rng(20261202)
    files: dict[str, list] = {"alpaca.jsonl": [], "chat.jsonl": [], "web.parquet": []}
    for i in range(n):
        q, a = "Describe " + _text(rng, 1.8, 0.8), _text(rng, 3.5, 1.0)
        where = ("alpaca.jsonl", "chat.jsonl", "web.parquet")[i % 3]
        if where == "alpaca.jsonl":
            files[where].append(alpaca(f"a{i}", q, a))
        elif where == "chat.jsonl":
            files[where].append(sharegpt(f"c{i}", q, a) if i % 2 else openai(f"c{i}", q, a))
        else:
            files[where].append({"id": f"w{i}", "instruction": q, "input": "", "output": a})
        if i % 40 == 0 and len(a.split()) > 12:  # a near copy in another file, and now and then an exact one
            words = a.split()
            words[len(words) // 2] = "zigzag"
            other = "chat.jsonl" if where != "chat.jsonl" else "alpaca.jsonl"
            files[other].append(alpaca(f"n{i}", q, a if i % 120 == 0 else " ".join(words)))
        if i % 150 == 0:
            files["alpaca.jsonl"].append('{"instruction": "cut short", "output": ')
            files["chat.jsonl"].append(json.dumps({"messages": "not a list"}))
        if i % 500 == 0:
            files["alpaca.jsonl"].append(alpaca(f"e{i}", "", ""))  # no text: language `und`
    return files


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[tuple[str, str], str]:
    """Output directory per (mode, run A or B)."""
    base = tmp_path_factory.mktemp("determinism")
    data = write_files(base / "in", corpus(), row_group_size=200)
    config = str(base / "config.yaml")
    with open(config, "w") as f:
        json.dump({"input": {"split_bytes": SPLIT_BYTES}}, f)  # JSON is YAML
    outputs = {}
    for mode, flags in MODES.items():
        for run in "AB":
            out = str(base / f"{mode}-{run}")
            assert score(data, out, "--config", config, *flags) == 0, (mode, run)
            outputs[(mode, run)] = out
    return outputs


def files_under(out: str) -> dict[str, bytes]:
    """Relative path -> bytes of every file in the compared folders."""
    found = {}
    for folder in FOLDERS:
        for root, _, names in os.walk(os.path.join(out, folder)):
            for name in names:
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    found[os.path.relpath(path, out)] = f.read()
    return found


def test_corpus_exercises_what_could_differ(runs):
    out = runs[("default", "A")]
    shards = read_shards(out).to_pylist()
    assert all(s["rows_scored"] > 200 for s in shards)  # past a KLL sketch's exact mode
    assert all(s["response_chars_p99"] > 128 for s in shards)  # past the sketch's exact range
    assert read_table(out, "rejected").num_rows >= 20
    assert read_table(out, "duplicates").num_rows >= 50
    assert read_dataset_json(out)["languages"]["und"] == 6
    names = sorted(os.listdir(os.path.join(out, "records")))
    assert sum(n.startswith("part-000000-") for n in names) >= 2, names  # alpaca.jsonl in several parts
    assert len(os.listdir(os.path.join(out, "duplicates"))) >= 10  # many cluster partitions


@pytest.mark.parametrize("mode", MODES)
def test_two_runs_write_the_same_bytes(runs, mode):
    a, b = runs[(mode, "A")], runs[(mode, "B")]
    got, want = files_under(b), files_under(a)
    assert sorted(got) == sorted(want)
    differ = [path for path in want if got[path] != want[path]]
    assert differ == [], f"{mode}: files differ between two runs: {differ}"
    run_a, run_b = read_json(a, "run.json"), read_json(b, "run.json")
    assert {k: v for k, v in run_a.items() if k not in TIMES} == {k: v for k, v in run_b.items() if k not in TIMES}


def test_modes_write_the_same_files_and_rows(runs):
    one, many = runs[("default", "A")], runs[("multi_processing", "A")]
    assert sorted(files_under(one)) == sorted(files_under(many))
    for folder, keys in SORT_KEYS.items():
        want = read_table(one, folder).sort_by([(k, "ascending") for k in keys])
        got = read_table(many, folder).sort_by([(k, "ascending") for k in keys])
        assert got.equals(want), folder
    assert read_shards(many).equals(read_shards(one))
    assert read_dataset_json(many) == read_dataset_json(one)


def test_quantiles_come_from_sketches_that_merge_across_runs(runs):
    """dataset.json quantiles are within 1/128 of the exact ones, and equal the merge of
    shard sketches taken from different runs (shards.parquet of run A and of run B)."""
    out = runs[("default", "A")]
    records = read_table(out, "records")
    dataset = read_dataset_json(out)["quantiles"]
    shards_a = pq.read_table(os.path.join(out, "summary", "shards.parquet")).sort_by("shard_index").to_pylist()
    shards_b = read_shards(runs[("multi_processing", "B")]).sort_by("shard_index").to_pylist()
    for name in SKETCHED:
        values = records.column(name).to_numpy()
        for q in QUANTILES:
            want = float(np.quantile(values, q, method="inverted_cdf"))
            assert abs(dataset[name][f"p{int(q * 100)}"] - want) <= want * 2.0**-PRECISION, (name, q)
        mixed = [shards_a[0], shards_b[1], shards_a[2]]
        merged = QuantileSketch.from_bytes(mixed[0][f"sketch_{name}"])
        for s in mixed[1:]:
            merged = merged.merge(QuantileSketch.from_bytes(s[f"sketch_{name}"]))
        assert merged.quantiles(QUANTILES) == [dataset[name][f"p{int(q * 100)}"] for q in QUANTILES], name
