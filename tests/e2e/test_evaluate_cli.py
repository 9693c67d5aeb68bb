"""`winnow evaluate` on a run that `winnow score` wrote, checked against metrics computed here from records/."""

from __future__ import annotations

import json
import math
import os
import random
import statistics

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import alpaca, read_records, score, storage_emulator_bucket, write_jsonl

from winnow.pipelines.cli import main

pytestmark = pytest.mark.slow

WORDS = [
    "the",
    "a",
    "plan",
    "step",
    "water",
    "light",
    "garden",
    "bread",
    "code",
    "test",
    "river",
    "stone",
    "simple",
    "careful",
    "quick",
    "note",
]
COLUMNS = "response_chars,response_words,composite,relevance"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[str, dict[str, dict]]:
    """A scored run of 36 alpaca rows of varied length (and a few repeated-word answers), and its records by id."""
    d = tmp_path_factory.mktemp("evaluate")
    rng = random.Random(7)
    rows = []
    for i in range(36):
        n = rng.randint(2, 60)
        answer = " ".join(rng.choice(WORDS) for _ in range(n)) if i % 5 else " ".join(["again"] * n)
        topic = "Write a poem about" if i % 3 == 0 else "Explain"
        rows.append(alpaca(f"r{i:02d}", f"{topic} item {i}.", answer.capitalize() + "."))
    corpus = write_jsonl(d / "corpus.jsonl", rows)
    out = str(d / "out")
    assert score(corpus, out) == 0
    return out, read_records(out, by_id=True)


# ---- reference metrics, written the long way ------------------------------------------------------


def auc_by_pairs(pos: list[float], neg: list[float]) -> float:
    """Share of (positive, negative) pairs ordered right, ties half."""
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg) / (len(pos) * len(neg))


def ranks(values: list[float]) -> list[float]:
    """Average ranks: values below + (equal values + 1) / 2."""
    return [sum(w < v for w in values) + (sum(w == v for w in values) + 1) / 2 for v in values]


def spearman_ref(x: list[float], y: list[float]) -> float:
    if len(set(x)) < 2 or len(set(y)) < 2:
        return math.nan  # no order on a constant side (relevance is 1 wherever it is not null here)
    return statistics.correlation(ranks(x), ranks(y))


def evaluate(out: str, labels: str, *flags: str) -> int:
    return main(["evaluate", out, "--labels", labels, "--columns", COLUMNS, "--bootstrap", "200", *flags])


def report_of(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def check_entry(entry: dict, expected: float, n: int) -> None:
    assert entry["n"] == n
    if math.isnan(expected):
        assert entry["value"] is None and entry["ci95"] is None
        return
    assert entry["value"] == pytest.approx(expected)
    low, high = entry["ci95"]
    assert low <= entry["value"] <= high


# ---- the three kinds -------------------------------------------------------------------------------


def test_binary_labels_against_roc_auc_from_records(run, tmp_path, capsys):
    out, records = run
    rng = random.Random(1)
    ids = sorted(records)
    labels = {i: rng.random() < 0.3 + 0.4 * (records[i]["response_chars"] > 150) for i in ids}
    rows = [{"id": i, "label": "good" if v else "bad"} for i, v in labels.items()]
    rows += [{"id": "missing-1", "label": "good"}, {"id": "missing-2", "label": "bad"}]  # not in the run
    path = write_jsonl(tmp_path / "labels.jsonl", rows)
    assert evaluate(out, path) == 0
    printed = capsys.readouterr().out
    report = report_of(os.path.join(out, "evaluation.json"))
    assert report["labels"]["path"] == path and report["labels"]["kind"] == "binary"
    assert report["labels"]["rows"] == len(ids) + 2
    assert report["matched"]["rows"] == len(ids) and report["matched"]["unmatched_rows"] == 2
    assert report["matched"]["unmatched_ids"] == 2 and report["matched"]["unmatched_examples"] == ["missing-1", "missing-2"]
    assert list(report["columns"]) == COLUMNS.split(",")
    for column in COLUMNS.split(","):
        scored = [i for i in ids if records[i][column] is not None]  # relevance is null where no topic matched
        pos = [records[i][column] for i in scored if labels[i]]
        neg = [records[i][column] for i in scored if not labels[i]]
        check_entry(report["columns"][column]["roc_auc"], auc_by_pairs(pos, neg), len(scored))
        assert (report["columns"][column]["roc_auc"]["positive"], report["columns"][column]["roc_auc"]["negative"]) == (
            len(pos),
            len(neg),
        )
        line = next(x for x in printed.splitlines() if x.startswith(column + " "))
        assert f"{report['columns'][column]['roc_auc']['value']:.3f}" in line and line.split()[-1] == str(len(scored))
    assert report["columns"]["relevance"]["roc_auc"]["n"] < len(ids)  # null where no topic matched: left out
    assert "2 ids are not in the run (missing-1, missing-2)" in printed
    assert f"wrote {out}/evaluation.json" in printed
    # the same seed, the same report; nothing left half-written
    first = report_of(os.path.join(out, "evaluation.json"))
    assert evaluate(out, path) == 0
    assert report_of(os.path.join(out, "evaluation.json")) == first
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


def test_graded_labels_per_row(run, tmp_path):
    out, records = run
    ids = sorted(records)
    grades = {i: (int(i[1:]) * 7) % 5 + (records[i]["response_words"] > 30) for i in ids}
    path = str(tmp_path / "grades.csv")
    with open(path, "w", encoding="utf-8") as f:
        f.write("id,grade\n" + "".join(f"{i},{g}\n" for i, g in grades.items()))
    result = str(tmp_path / "eval.json")
    assert evaluate(out, path, "--output", result) == 0
    report = report_of(result)
    assert report["labels"]["kind"] == "graded" and report["labels"]["format"] == "csv"
    for column in COLUMNS.split(","):
        scored = [i for i in ids if records[i][column] is not None]
        expected = spearman_ref([records[i][column] for i in scored], [grades[i] for i in scored])
        check_entry(report["columns"][column]["spearman"], expected, len(scored))


def test_chosen_rejected_pairs(run, tmp_path):
    out, records = run
    ids = sorted(records)
    pairs = [(ids[k], ids[(k * 5 + 3) % len(ids)]) for k in range(len(ids)) if ids[k] != ids[(k * 5 + 3) % len(ids)]]
    pairs.append(("r00", "not-in-run"))
    path = str(tmp_path / "pairs.parquet")
    pq.write_table(pa.table({"chosen": [c for c, _ in pairs], "rejected": [r for _, r in pairs]}), path)
    assert evaluate(out, path) == 0
    report = report_of(os.path.join(out, "evaluation.json"))
    assert report["labels"]["kind"] == "pairwise" and report["bootstrap"]["over"] == "pairs"
    assert report["matched"]["rows"] == len(pairs) - 1 and report["matched"]["unmatched_ids"] == 1
    for column in COLUMNS.split(","):
        both = [
            (records[c][column], records[r][column])
            for c, r in pairs[:-1]
            if records[c][column] is not None and records[r][column] is not None
        ]
        expected = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in both) / len(both)
        check_entry(report["columns"][column]["pairwise_accuracy"], expected, len(both))


def test_groups_with_a_grades_file(run, tmp_path):
    out, records = run
    ids = sorted(records)
    system = {i: f"sys{int(i[1:]) % 4}" for i in ids}
    path = write_jsonl(tmp_path / "systems.jsonl", [{"id": i, "system": s} for i, s in system.items()])
    grades = {"sys0": 1, "sys1": 4, "sys2": 2, "sys3": 3}
    grades_path = str(tmp_path / "grades.csv")
    with open(grades_path, "w", encoding="utf-8") as f:
        f.write("group,grade\n" + "".join(f"{g},{v}\n" for g, v in grades.items()))
    assert evaluate(out, path, "--group-column", "system", "--grades", grades_path) == 0
    report = report_of(os.path.join(out, "evaluation.json"))
    assert report["labels"]["kind"] == "groups" and report["labels"]["grades_file"] == grades_path
    assert report["bootstrap"]["over"] == "groups"
    for column in COLUMNS.split(","):
        by_group: dict[str, list[float]] = {}
        for i in ids:
            if records[i][column] is not None:
                by_group.setdefault(system[i], []).append(records[i][column])
        names = sorted(by_group)
        means = [statistics.fmean(by_group[g]) for g in names]
        entry = report["columns"][column]["spearman"]
        assert entry["group_means"] == pytest.approx(dict(zip(names, means)))
        assert entry["rows"] == sum(len(v) for v in by_group.values())
        check_entry(entry, spearman_ref(means, [grades[g] for g in names]), len(names))


def test_default_columns_are_the_float_and_length_columns(run, tmp_path):
    out, records = run
    ids = sorted(records)
    path = write_jsonl(tmp_path / "l.jsonl", [{"id": i, "label": k % 2} for k, i in enumerate(ids)])
    result = str(tmp_path / "e.json")
    assert main(["evaluate", out, "--labels", path, "--bootstrap", "0", "--output", result]) == 0
    columns = report_of(result)["columns"]
    assert {"composite", "response_chars", "n_turns", "rouge_l_instruction", "lang_response_score"} <= set(columns)
    assert not {"key", "row", "pii_email", "code_blocks", "flags"} & set(columns)
    assert all(m["roc_auc"]["ci95"] is None for m in columns.values())  # --bootstrap 0


# ---- failures ----------------------------------------------------------------------------------------


def test_no_matching_id_exits_2_and_writes_nothing(run, tmp_path, capsys):
    out, _ = run
    path = write_jsonl(tmp_path / "other.jsonl", [{"id": "x1", "label": 1}, {"id": "x2", "label": 0}])
    result = str(tmp_path / "never.json")
    assert evaluate(out, path, "--output", result) == 2
    err = capsys.readouterr().err
    assert f"winnow: error: {path}: none of its 2 ids is a row of {out}/records/ (e.g. 'x1', 'x2')" in err
    assert "the run's ids look like 'r" in err
    assert not os.path.exists(result)


def test_malformed_label_files_name_the_file_and_row(run, tmp_path, capsys):
    out, _ = run
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "r01", "label": 1}, {"label": 0}])
    assert evaluate(out, bad) == 2
    assert f"winnow: error: {bad} line 2: the row has no id" in capsys.readouterr().err
    unknown = write_jsonl(tmp_path / "unknown.jsonl", [{"id": "r01", "stars": 3}])
    assert evaluate(out, unknown) == 2
    assert f"{unknown}: cannot tell what the labels are (columns: id, stars)" in capsys.readouterr().err
    txt = write_jsonl(tmp_path / "labels.txt", [{"id": "r01", "label": 1}])
    assert evaluate(out, txt) == 2
    assert f"{txt}: unknown label file type" in capsys.readouterr().err
    assert evaluate(out, str(tmp_path / "absent.jsonl")) == 2
    assert "--labels" in capsys.readouterr().err
    good = write_jsonl(tmp_path / "good.jsonl", [{"id": "r01", "label": 1}, {"id": "r02", "label": 0}])
    assert main(["evaluate", out, "--labels", good, "--columns", "response,nope"]) == 2
    assert "--columns: 'response' is not numeric; 'nope' is not a column of records/" in capsys.readouterr().err


def test_a_folder_that_is_not_a_finished_run(tmp_path, capsys):
    path = write_jsonl(tmp_path / "l.jsonl", [{"id": "a", "label": 1}, {"id": "b", "label": 0}])
    assert main(["evaluate", str(tmp_path / "nothing"), "--labels", path]) == 2
    assert "is not a winnow run directory" in capsys.readouterr().err


# ---- gs:// ------------------------------------------------------------------------------------------


@pytest.fixture
def bucket():
    with storage_emulator_bucket("winnow-eval") as b:
        yield b


def test_a_run_and_labels_on_gcs(run, bucket, tmp_path, capsys):
    out, records = run
    for name in ["run.json", *(f"records/{f}" for f in os.listdir(os.path.join(out, "records")))]:
        bucket.blob(f"run/{name}").upload_from_filename(os.path.join(out, name))
    ids = sorted(records)
    labels = write_jsonl(tmp_path / "l.jsonl", [{"id": i, "label": int(records[i]["response_chars"] > 150)} for i in ids])
    bucket.blob("labels/l.jsonl").upload_from_filename(labels)
    assert main(["evaluate", "gs://winnow-eval/run", "--labels", "gs://winnow-eval/labels/l.jsonl", "--columns", COLUMNS]) == 0
    assert "wrote gs://winnow-eval/run/evaluation.json" in capsys.readouterr().out
    report = json.loads(bucket.blob("run/evaluation.json").download_as_bytes())
    assert report["run"]["dir"] == "gs://winnow-eval/run" and report["matched"]["rows"] == len(ids)
    assert report["columns"]["response_chars"]["roc_auc"]["value"] == 1.0  # the label is response_chars > 150
