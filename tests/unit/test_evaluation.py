"""winnow.transforms.evaluation: metrics against hand-computed values, the bootstrap, label files, the join."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from winnow.transforms.evaluation import (
    LabelError,
    average_ranks,
    bootstrap_ci,
    dense_codes,
    evaluate,
    pairwise_accuracy,
    parse_labels,
    roc_auc,
    score_columns,
    spearman,
    table_lines,
)

# ---- metrics, computed by hand ----------------------------------------------------------------------


def test_average_ranks_share_the_mean_rank_of_a_tie():
    # sorted: 10 -> rank 1; 20, 20, 20 -> ranks 2, 3, 4, mean 3; 30 -> rank 5
    assert average_ranks(np.array([10.0, 20.0, 20.0, 30.0, 20.0])).tolist() == [1, 3, 3, 5, 3]
    # the counting path (non-negative integer codes) gives the same ranks
    assert average_ranks(np.array([0, 1, 1, 2, 1])).tolist() == [1, 3, 3, 5, 3]


def test_ranks_of_codes_equal_ranks_of_values():
    rng = np.random.default_rng(3)
    x = rng.integers(-5, 6, 200).astype(float) / 2  # many ties, negative values (the sorting path)
    assert np.array_equal(average_ranks(dense_codes(x)), average_ranks(x))
    assert dense_codes(np.array([0.5, -1.0, 0.5, 2.0])).tolist() == [1, 0, 1, 2]


def test_roc_auc_by_hand():
    # positives 0.35, 0.8; negatives 0.1, 0.4. Pairs (pos, neg):
    # 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1 yes, 0.8>0.4 yes -> 3 of 4 = 0.75
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True])) == 0.75


def test_roc_auc_counts_a_tie_half():
    # positives 2, 3; negatives 1, 2. Pairs: 2>1 = 1, 2=2 -> 0.5, 3>1 = 1, 3>2 = 1 -> 3.5 / 4 = 0.875
    assert roc_auc(np.array([1.0, 2.0, 2.0, 3.0]), np.array([False, True, False, True])) == 0.875
    # every score equal: every pair a tie -> 0.5
    assert roc_auc(np.array([7.0, 7.0, 7.0]), np.array([True, False, False])) == 0.5
    # the worst ranking: every positive below every negative -> 0
    assert roc_auc(np.array([0.9, 0.8, 0.1]), np.array([False, False, True])) == 0.0


def test_roc_auc_needs_both_classes():
    assert math.isnan(roc_auc(np.array([0.1, 0.2]), np.array([True, True])))
    assert math.isnan(roc_auc(np.array([]), np.array([], dtype=bool)))


def test_spearman_by_hand_with_a_tie():
    # x = 1..5 -> ranks 1..5; y = 5, 6, 7, 8, 7 -> ranks 1, 2, 3.5, 5, 3.5 (the two 7s share 3 and 4)
    # both rank means are 3: dx = -2, -1, 0, 1, 2; dy = -2, -1, 0.5, 2, 0.5
    # sum dx*dy = 4 + 1 + 0 + 2 + 1 = 8; sum dx^2 = 10; sum dy^2 = 4 + 1 + 0.25 + 4 + 0.25 = 9.5
    # rho = 8 / sqrt(10 * 9.5) = 8 / sqrt(95) = 0.82078...
    rho = spearman(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([5.0, 6.0, 7.0, 8.0, 7.0]))
    assert rho == pytest.approx(8 / math.sqrt(95))
    assert rho == pytest.approx(0.8207826816681233)  # scipy.stats.spearmanr on the same data


def test_spearman_monotone_reversed_and_undefined():
    x = np.array([0.1, 0.5, 0.7, 3.0])
    assert spearman(x, np.array([1.0, 2.0, 30.0, 400.0])) == pytest.approx(1.0)  # any increasing y: 1
    assert spearman(x, np.array([4.0, 3.0, 2.0, 1.0])) == pytest.approx(-1.0)
    # x = 1, 2, 3, 4; y = 1, 3, 2, 4: d = rank differences 0, -1, 1, 0; no ties, so
    # rho = 1 - 6 * sum d^2 / (n (n^2 - 1)) = 1 - 6 * 2 / (4 * 15) = 0.8
    assert spearman(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 4.0])) == pytest.approx(0.8)
    assert math.isnan(spearman(x, np.full(4, 2.0)))  # a constant side has no order
    assert math.isnan(spearman(np.array([1.0]), np.array([2.0])))


def test_pairwise_accuracy_by_hand():
    # pairs (chosen, rejected): (3, 1) win, (2, 2) tie -> 0.5, (1, 4) loss, (5, 0) win -> 2.5 / 4 = 0.625
    assert pairwise_accuracy(np.array([3.0, 2.0, 1.0, 5.0]), np.array([1.0, 2.0, 4.0, 0.0])) == 0.625
    assert math.isnan(pairwise_accuracy(np.array([]), np.array([])))


# ---- the bootstrap ----------------------------------------------------------------------------------


def _binary_fixture(n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    truth = rng.random(n) < 0.5
    return rng.random(n) + 0.3 * truth, truth


def test_bootstrap_interval_contains_the_estimate_and_repeats_with_its_seed():
    scores, truth = _binary_fixture()
    value = roc_auc(scores, truth)
    low, high = bootstrap_ci(roc_auc, (scores, truth), n=500, seed=0)
    assert 0 <= low < value < high <= 1
    assert bootstrap_ci(roc_auc, (scores, truth), n=500, seed=0) == (low, high)  # deterministic
    assert bootstrap_ci(roc_auc, (scores, truth), n=500, seed=1) != (low, high)
    # on codes the resamples are the same, so the interval is too
    assert bootstrap_ci(roc_auc, (dense_codes(scores), truth), n=500, seed=0) == pytest.approx((low, high))


def test_bootstrap_resamples_units_whole_and_skips_undefined_resamples():
    chosen = np.array([2.0, 3.0, 1.0, 5.0, 4.0])
    rejected = np.array([1.0, 1.0, 2.0, 2.0, 4.0])  # per pair: 1, 1, 0, 1, 0.5 -> 0.7
    value = pairwise_accuracy(chosen, rejected)
    assert value == 0.7
    low, high = bootstrap_ci(pairwise_accuracy, (chosen, rejected), n=300, seed=5)
    assert 0 <= low <= value <= high <= 1
    # every resample is a mean of five per-pair outcomes from {0, 0.5, 1}: a multiple of 0.1
    assert low * 10 == pytest.approx(round(low * 10)) and high * 10 == pytest.approx(round(high * 10))
    # two rows, one per class: half the resamples hold one class only (NaN) and are left out
    low, high = bootstrap_ci(roc_auc, (np.array([0.2, 0.9]), np.array([False, True])), n=200, seed=0)
    assert (low, high) == (1.0, 1.0)


def test_bootstrap_without_data_or_resamples():
    assert all(math.isnan(v) for v in bootstrap_ci(spearman, (np.array([]), np.array([])), n=10))
    assert all(math.isnan(v) for v in bootstrap_ci(spearman, (np.arange(5.0), np.arange(5.0)), n=0))


# ---- label files ------------------------------------------------------------------------------------


def _jsonl(rows: list) -> bytes:
    return b"".join((r if isinstance(r, str) else json.dumps(r)).encode() + b"\n" for r in rows)


def _csv(header: str, lines: list[str]) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


def _parquet(rows: list[dict]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    return buf.getvalue()


BINARY_ROWS = [{"id": "a", "label": True}, {"id": "b", "label": False}, {"id": "c", "label": True}]


@pytest.mark.parametrize(
    "name, data",
    [
        ("l.jsonl", _jsonl(BINARY_ROWS)),
        ("l.ndjson", _jsonl(BINARY_ROWS)),
        ("l.json", json.dumps(BINARY_ROWS).encode()),  # a JSON array
        ("l.json", _jsonl(BINARY_ROWS)),  # JSON lines in a .json file
        ("l.csv", _csv("id,label", ["a,true", "b,false", "c,true"])),
        ("l.parquet", _parquet(BINARY_ROWS)),
        ("l.jsonl", _jsonl([{"id": "a", "label": "good"}, {"id": "b", "label": "Bad"}, "", {"id": "c", "label": "good"}])),
        ("l.jsonl", _jsonl([{"id": "a", "label": 1}, {"id": "b", "label": 0.0}, {"id": "c", "label": "1"}])),
        ("L.CSV", _csv("id,label", ["a,good", "b,bad", "c,good"])),
    ],
)
def test_binary_labels_in_every_format(name, data):
    labels = parse_labels(data, name)
    assert labels.kind == "binary"
    assert labels.ids.tolist() == ["a", "b", "c"] and labels.values.tolist() == [1, 0, 1]
    assert labels.counts() == {"rows": 3, "positive": 2, "negative": 1}


def test_numeric_ids_keep_their_decimal_form():
    # CSV id columns are read as text; a JSON integer (or an integral float) is its decimal form, as in winnow score
    assert parse_labels(_csv("id,label", ["7,1", "007,0"]), "l.csv").ids.tolist() == ["7", "007"]
    assert parse_labels(_jsonl([{"id": 7, "label": 1}, {"id": 8.0, "label": 0}]), "l.jsonl").ids.tolist() == ["7", "8"]


@pytest.mark.parametrize(
    "name, data",
    [
        ("g.jsonl", _jsonl([{"id": "a", "grade": 1}, {"id": "b", "grade": 3.5}, {"id": "c", "grade": 2}])),
        ("g.jsonl", _jsonl([{"id": "a", "label": 1}, {"id": "b", "label": 3.5}, {"id": "c", "label": "2"}])),
        ("g.csv", _csv("id,grade", ["a,1", "b,3.5", "c,2"])),
        ("g.parquet", _parquet([{"id": "a", "grade": 1.0}, {"id": "b", "grade": 3.5}, {"id": "c", "grade": 2.0}])),
    ],
)
def test_graded_labels(name, data):
    labels = parse_labels(data, name)
    assert labels.kind == "graded" and labels.values.tolist() == [1, 3.5, 2]
    assert labels.counts() == {"rows": 3, "grades": 3, "min_grade": 1.0, "max_grade": 3.5}


def test_a_grade_column_of_zeros_and_ones_is_binary():
    assert parse_labels(_jsonl([{"id": "a", "grade": 0}, {"id": "b", "grade": 1}]), "g.jsonl").kind == "binary"


@pytest.mark.parametrize(
    "name, data",
    [
        ("p.jsonl", _jsonl([{"chosen": "a", "rejected": "b"}, {"chosen": "c", "rejected": "a"}])),
        ("p.csv", _csv("chosen,rejected,note", ["a,b,x", "c,a,y"])),
        ("p.parquet", _parquet([{"chosen": "a", "rejected": "b"}, {"chosen": "c", "rejected": "a"}])),
    ],
)
def test_pairs(name, data):
    labels = parse_labels(data, name)
    assert labels.kind == "pairwise"
    assert labels.chosen.tolist() == ["a", "c"] and labels.rejected.tolist() == ["b", "a"]
    assert labels.all_ids().tolist() == ["a", "b", "c"]  # each id once, in file order
    assert labels.counts() == {"rows": 2, "ids": 3}


def test_groups_with_a_grade_column_or_a_grades_file():
    rows = [
        {"id": "a", "system": "x", "grade": 2},
        {"id": "b", "system": "y", "grade": 1},
        {"id": "c", "system": "x", "grade": 2},
    ]
    labels = parse_labels(_jsonl(rows), "s.jsonl", group_column="system")
    assert labels.kind == "groups" and labels.group_names == ["x", "y"]
    assert labels.groups.tolist() == [0, 1, 0] and labels.group_grades.tolist() == [2, 1]
    assert labels.counts()["groups"] == {"x": {"grade": 2.0, "rows": 2}, "y": {"grade": 1.0, "rows": 1}}

    plain = _csv("id,system", ["a,x", "b,y", "c,x"])
    for grades, gname in [
        (_jsonl([{"group": "x", "grade": 2}, {"group": "y", "grade": 1}, {"group": "z", "grade": 9}]), "grades.jsonl"),
        (_csv("system,grade", ["x,2", "y,1"]), "grades.csv"),
    ]:
        labels = parse_labels(plain, "s.csv", group_column="system", grades_data=grades, grades_path=gname)
        assert labels.group_names == ["x", "y"] and labels.group_grades.tolist() == [2, 1]
        assert labels.counts()["grades_file"] == gname


def _error(data: bytes, name: str, **kw) -> str:
    with pytest.raises(LabelError) as e:
        parse_labels(data, name, **kw)
    return str(e.value)


def test_label_file_errors_name_the_file_and_the_row():
    assert "labels.txt: unknown label file type" in _error(b"id,label\n", "labels.txt")
    assert "l.jsonl: holds no label rows" in _error(b"\n\n", "l.jsonl")
    assert "l.json: holds no label rows" in _error(b"[]", "l.json")
    msg = _error(_jsonl([{"id": "a", "label": 1}, "{broken", {"id": "c", "label": 0}]), "l.jsonl")
    assert msg.startswith("l.jsonl line 2: not valid JSON")
    assert _error(_jsonl([{"id": "a", "label": 1}, [1, 2]]), "l.jsonl") == "l.jsonl line 2: not a JSON object"
    assert _error(b'[{"id": "a", "label": 1}, 5]', "l.json") == "l.json element 1 (counting from 0): not a JSON object"
    # a row without id, or with an id that is not text or an integer
    msg = _error(_jsonl([{"id": "a", "label": 1}, {"label": 0}]), "l.jsonl")
    assert msg == "l.jsonl line 2: the row has no id"
    assert "l.csv line 3: the row has no id" in _error(_csv("id,label", ["a,1", ",0"]), "l.csv")
    msg = _error(_parquet([{"id": "a", "label": 1}, {"id": None, "label": 0}]), "l.parquet")
    assert msg == "l.parquet row 1 (counting from 0): the row has no id"
    assert "line 1: the row has an unusable id [1]" in _error(_jsonl([{"id": [1], "label": 1}]), "l.jsonl")
    # labels
    assert "l.jsonl line 2: the row has no label" in _error(_jsonl([{"id": "a", "label": 1}, {"id": "b"}]), "l.jsonl")
    msg = _error(_jsonl([{"id": "a", "label": "good"}, {"id": "b", "label": "meh"}]), "l.jsonl")
    assert msg.startswith("l.jsonl line 2: label 'meh' is neither binary")
    msg = _error(_jsonl([{"id": "a", "grade": 4}, {"id": "b", "grade": "good"}]), "l.jsonl")
    assert msg.startswith("l.jsonl line 2: grade 'good' is not a number")
    assert "every row is positive" in _error(_jsonl([{"id": "a", "label": True}, {"id": "b", "label": 1}]), "l.jsonl")
    assert "both a `label` and a `grade` column" in _error(_csv("id,label,grade", ["a,1,2", "b,0,3"]), "l.csv")
    msg = _error(_jsonl([{"id": "a", "label": 1}, {"id": "b", "label": 0}, {"id": "a", "label": 0}]), "l.jsonl")
    assert msg == "l.jsonl line 3: id 'a' is labelled again (first at l.jsonl line 1); label each id once"


def test_unknown_kinds_and_missing_columns():
    msg = _error(_jsonl([{"id": "a", "score": 1}]), "l.jsonl")
    assert msg.startswith("l.jsonl: cannot tell what the labels are (columns: id, score)")
    assert "cannot tell what the labels are (columns: text, label)" in _error(_csv("text,label", ["x,1"]), "l.csv")
    assert "has a `chosen` column but no `rejected` column" in _error(_jsonl([{"chosen": "a"}]), "l.jsonl")
    msg = _error(_jsonl([{"chosen": "a", "rejected": "b"}, {"chosen": "c"}]), "p.jsonl")
    assert msg == "p.jsonl line 2: the row has no rejected"
    msg = _error(_jsonl([{"chosen": "a", "rejected": "b"}, {"chosen": "c", "rejected": "c"}]), "p.jsonl")
    assert msg == "p.jsonl line 2: chosen and rejected are the same id 'c'"
    assert "--group-column is for" in _error(_jsonl([{"chosen": "a", "rejected": "b"}]), "p.jsonl", group_column="system")


def test_group_label_errors():
    rows = [{"id": "a", "system": "x"}, {"id": "b", "system": "y"}]
    assert "has no `model` column (--group-column)" in _error(_jsonl(rows), "s.jsonl", group_column="model")
    assert "no grade for the groups" in _error(_jsonl(rows), "s.jsonl", group_column="system")
    assert "it needs --group-column" in _error(_jsonl(rows), "s.jsonl", grades_data=b"", grades_path="g.jsonl")
    graded = [
        {"id": "a", "system": "x", "grade": 1},
        {"id": "b", "system": "x", "grade": 2},
        {"id": "c", "system": "y", "grade": 1},
    ]
    msg = _error(_jsonl(graded), "s.jsonl", group_column="system")
    assert msg.startswith("s.jsonl line 2: group 'x' has grade 2 here and 1 on an earlier row")
    grades = _jsonl([{"group": "x", "grade": 1}])
    msg = _error(_jsonl(rows), "s.jsonl", group_column="system", grades_data=grades, grades_path="g.jsonl")
    assert msg == "g.jsonl: no grade for group(s) 'y' of s.jsonl"
    grades = _jsonl([{"name": "x", "grade": 1}])
    msg = _error(_jsonl(rows), "s.jsonl", group_column="system", grades_data=grades, grades_path="g.jsonl")
    assert "g.jsonl: a grades file holds `group` (or `system`) and `grade`" in msg
    same = _jsonl([{"group": "x", "grade": 1}, {"group": "y", "grade": 1}])
    msg = _error(_jsonl(rows), "s.jsonl", group_column="system", grades_data=same, grades_path="g.jsonl")
    assert "at least two groups with different grades" in msg
    assert "line 2: the row has no system" in _error(_jsonl([rows[0], {"id": "b"}]), "s.jsonl", group_column="system")


# ---- score columns and the join ---------------------------------------------------------------------


SCHEMA = pa.schema(
    [
        ("key", pa.int64()),
        ("id", pa.string()),
        ("row", pa.int64()),
        ("response", pa.string()),
        ("n_turns", pa.int32()),
        ("response_chars", pa.int64()),
        ("pii_email", pa.int32()),
        ("quality", pa.float32()),
        ("composite", pa.float32()),
        ("code_fence_unbalanced", pa.bool_()),
    ]
)


def test_default_score_columns_are_floats_and_lengths():
    assert score_columns(SCHEMA) == ["n_turns", "response_chars", "quality", "composite"]
    assert score_columns(SCHEMA, ["pii_email", "quality", "pii_email"]) == ["pii_email", "quality"]
    assert score_columns(SCHEMA, ["code_fence_unbalanced"]) == ["code_fence_unbalanced"]
    with pytest.raises(LabelError, match=r"--columns: 'response' is not numeric; 'nope' is not a column of records/"):
        score_columns(SCHEMA, ["response", "nope"])
    with pytest.raises(LabelError, match="'key' is not numeric"):
        score_columns(SCHEMA, ["key"])


def _records(ids: list[str], **columns: list) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.string()), **{k: pa.array(v, pa.float64()) for k, v in columns.items()}})


def test_evaluate_binary_with_unmatched_ids_and_null_scores():
    labels = parse_labels(
        _jsonl(
            [
                {"id": "a", "label": 0},
                {"id": "b", "label": 1},
                {"id": "c", "label": 0},
                {"id": "d", "label": 1},
                {"id": "zz", "label": 1},  # not in the run
            ]
        ),
        "l.jsonl",
    )
    records = _records(["d", "x", "a", "c", "b"], s=[0.8, 0.0, 0.1, 0.4, 0.35], t=[None, 1.0, 1.0, 2.0, 3.0])
    report = evaluate(labels, records, ["s", "t"], bootstrap=200, seed=0)
    assert report["matched"] == {
        "rows": 4,
        "unmatched_rows": 1,
        "ids": 4,
        "unmatched_ids": 1,
        "unmatched_examples": ["zz"],
        "repeated_ids": 0,
        "repeated_examples": [],
    }
    s = report["columns"]["s"]["roc_auc"]
    # positives b=0.35, d=0.8; negatives a=0.1, c=0.4: the 0.75 worked out in test_roc_auc_by_hand
    assert s["value"] == 0.75 and s["n"] == 4 and (s["positive"], s["negative"]) == (2, 2)
    assert s["ci95"][0] <= 0.75 <= s["ci95"][1]
    t = report["columns"]["t"]["roc_auc"]
    # d's t is null: left out. positive b=3; negatives a=1, c=2 -> 2 of 2 pairs won = 1.0
    assert t["value"] == 1.0 and t["n"] == 3 and (t["positive"], t["negative"]) == (1, 2)
    assert report["labels"] == {"path": "l.jsonl", "format": "jsonl", "kind": "binary", "rows": 5, "positive": 3, "negative": 2}
    assert report["bootstrap"] == {"resamples": 200, "seed": 0, "level": 0.95, "over": "rows"}
    assert evaluate(labels, records, ["s", "t"], bootstrap=200, seed=0) == report  # deterministic
    lines = table_lines(report)
    assert lines[1].split()[:3] == ["s", "ROC-AUC", "0.750"] and lines[1].split()[-1] == "4"


def test_evaluate_graded_pairs_and_groups():
    records = _records(["a", "b", "c", "d", "e"], s=[1.0, 2.0, 3.0, 4.0, 5.0])
    graded = parse_labels(_jsonl([{"id": i, "grade": g} for i, g in zip("abcde", [5, 6, 7, 8, 7])]), "g.jsonl")
    m = evaluate(graded, records, ["s"], bootstrap=100)["columns"]["s"]["spearman"]
    assert m["value"] == pytest.approx(8 / math.sqrt(95)) and m["n"] == 5  # test_spearman_by_hand_with_a_tie

    pairs = parse_labels(
        _jsonl([{"chosen": "e", "rejected": "a"}, {"chosen": "a", "rejected": "b"}, {"chosen": "q", "rejected": "a"}]), "p.jsonl"
    )
    report = evaluate(pairs, records, ["s"], bootstrap=100)
    # (e=5 > a=1) win, (a=1 < b=2) loss; the pair with q is not in the run -> 1 / 2
    assert report["columns"]["s"]["pairwise_accuracy"]["value"] == 0.5
    assert report["columns"]["s"]["pairwise_accuracy"]["n"] == 2
    assert report["matched"]["rows"] == 2 and report["matched"]["unmatched_rows"] == 1
    assert report["matched"]["unmatched_ids"] == 1 and report["matched"]["unmatched_examples"] == ["q"]

    rows = [("a", "x"), ("b", "x"), ("c", "y"), ("d", "z"), ("e", "z")]
    groups = parse_labels(
        _jsonl([{"id": i, "system": g} for i, g in rows]),
        "s.jsonl",
        group_column="system",
        grades_data=_jsonl([{"group": "x", "grade": 1}, {"group": "y", "grade": 3}, {"group": "z", "grade": 2}]),
        grades_path="grades.jsonl",
    )
    m = evaluate(groups, records, ["s"], bootstrap=100)["columns"]["s"]["spearman"]
    # means: x = (1 + 2) / 2 = 1.5, y = 3, z = (4 + 5) / 2 = 4.5 -> ranks 1, 2, 3; grades 1, 3, 2 -> ranks 1, 3, 2
    # no ties: rho = 1 - 6 * (0 + 1 + 1) / (3 * 8) = 0.5
    assert m["value"] == pytest.approx(0.5) and m["n"] == 3 and m["rows"] == 5
    assert m["group_means"] == {"x": 1.5, "y": 3.0, "z": 4.5}


def test_evaluate_ids_on_several_rows_and_no_match():
    labels = parse_labels(_jsonl([{"id": "a", "label": 1}, {"id": "b", "label": 0}, {"id": "c", "label": 1}]), "l.jsonl")
    records = _records(["a", "a", "b", "c"], s=[1.0, 2.0, 0.0, 3.0])
    report = evaluate(labels, records, ["s"], bootstrap=0)
    assert report["matched"]["repeated_ids"] == 1 and report["matched"]["repeated_examples"] == ["a"]
    assert report["matched"]["rows"] == 2 and report["columns"]["s"]["roc_auc"] == {
        "value": 1.0,
        "ci95": None,
        "n": 2,
        "positive": 1,
        "negative": 1,
    }
    with pytest.raises(LabelError) as e:
        evaluate(labels, _records(["x", "y"], s=[1.0, 2.0]), ["s"], run="out/records/", run_examples=["x", "y"])
    assert str(e.value) == (
        "l.jsonl: none of its 3 ids is a row of out/records/ (e.g. 'a', 'b', 'c'); the run's ids look like 'x', 'y'"
    )
    pairs = parse_labels(_jsonl([{"chosen": "a", "rejected": "q"}]), "p.jsonl")
    with pytest.raises(LabelError, match=r"p.jsonl: no pair has both its ids in the run \(1 of 2 ids found"):
        evaluate(pairs, _records(["a"], s=[1.0]), ["s"])


def test_a_column_without_values_reports_nothing():
    labels = parse_labels(_jsonl([{"id": "a", "label": 1}, {"id": "b", "label": 0}]), "l.jsonl")
    report = evaluate(labels, _records(["a", "b"], s=[None, None]), ["s"], bootstrap=50)
    assert report["columns"]["s"]["roc_auc"] == {"value": None, "ci95": None, "n": 0, "positive": 0, "negative": 0}
    assert table_lines(report)[1].split() == ["s", "ROC-AUC", "-", "-", "0"]
