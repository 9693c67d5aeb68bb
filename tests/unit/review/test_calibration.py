"""`winnow review calibrate`: weighted precision/recall/F1 and Wilson intervals equal independent
computations, the threshold rules pick what they promise, drop rules with low precision become warn
in a calibrated.yaml that load_config accepts, and bad inputs stop it with nothing written."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from calibration_fixtures import make_labels, make_run
from scipy.stats import norm

from winnow.pipelines.cli import main
from winnow.transforms.config import load_config
from winnow.transforms.review.calibration import (
    HIGHER,
    LOWER,
    column_report,
    effective_n,
    majority_verdicts,
    recommend,
    sweep,
    weighted_metrics,
    wilson,
)

Z = norm.ppf(0.975)


def textbook_wilson(p: float, n: float) -> tuple[float, float]:
    """Wilson's interval in its original form: (2np + z^2 +- z sqrt(z^2 + 4np(1-p))) / (2(n + z^2))."""
    root = Z * math.sqrt(Z * Z + 4 * n * p * (1 - p))
    return (2 * n * p + Z * Z - root) / (2 * (n + Z * Z)), (2 * n * p + Z * Z + root) / (2 * (n + Z * Z))


# ---- the statistics -------------------------------------------------------------------------------------------


def test_weighted_metrics_equal_a_hand_computation():
    bad = np.array([1, 1, 0, 0, 1, 0], dtype=bool)
    flagged = np.array([1, 0, 1, 0, 1, 0], dtype=bool)
    w = np.array([1.0, 2.0, 4.0, 1.0, 1.0, 3.0])
    m = weighted_metrics(flagged, bad, w)
    # Flagged and bad: rows 0 and 4 (weight 1 + 1); flagged, good: row 2 (4); bad, not flagged: row 1 (2).
    precision, recall = 2 / (2 + 4), 2 / (2 + 2)
    assert m["precision"] == pytest.approx(precision)
    assert m["recall"] == pytest.approx(recall)
    assert m["f1"] == pytest.approx(2 * precision * recall / (precision + recall))
    # Kish: flagged weights 1, 4, 1 -> 36 / 18 = 2; bad weights 1, 2, 1 -> 16 / 6.
    assert m["n_eff"] == {"precision": pytest.approx(2.0), "recall": pytest.approx(16 / 6, abs=1e-3)}
    assert m["precision_ci95"] == pytest.approx(textbook_wilson(precision, 2.0), abs=1e-6)
    assert m["recall_ci95"] == pytest.approx(textbook_wilson(recall, 16 / 6), abs=1e-6)
    assert m["counts"] == {"tp": 2, "fp": 1, "fn": 1, "tn": 2}
    assert m["flagged_share"] == pytest.approx(6 / 12)


@pytest.mark.parametrize(("p", "n"), [(0.0, 5.0), (1 / 3, 2.0), (0.5, 8 / 3), (0.9, 41.7), (1.0, 12.0), (0.123, 1000.0)])
def test_wilson_equals_the_textbook_form(p, n):
    low, high = wilson(p, n)
    assert (float(low), float(high)) == pytest.approx(textbook_wilson(p, n), abs=1e-12)


def test_wilson_equals_statsmodels_at_the_effective_n():
    stats = pytest.importorskip("statsmodels.stats.proportion")
    rng = np.random.default_rng(3)
    for _ in range(20):
        w = rng.uniform(1, 20, rng.integers(2, 40))
        n = effective_n(w)
        p = float(rng.uniform())
        low, high = wilson(p, n)
        assert (float(low), float(high)) == pytest.approx(stats.proportion_confint(p * n, n, method="wilson"), abs=1e-12)


def test_effective_n_is_n_for_equal_weights_and_less_otherwise():
    assert effective_n(np.full(7, 3.0)) == pytest.approx(7)
    assert effective_n(np.array([1.0, 1.0, 10.0])) == pytest.approx(144 / 102)


def _brute_force(scores, bad, w, direction=HIGHER):
    """Every distinct value t as a threshold, each metric computed from scratch."""
    out = []
    for t in sorted(set(scores.tolist())):
        flagged = scores < t if direction == HIGHER else scores > t
        tp, fp, fn = (w[m].sum() for m in (flagged & bad, flagged & ~bad, ~flagged & bad))
        precision = tp / (tp + fp) if tp + fp else math.nan
        recall = tp / (tp + fn)
        f1 = 2 * tp / (2 * tp + fp + fn)
        n = w[flagged].sum() ** 2 / (w[flagged] ** 2).sum() if flagged.any() else 0.0
        low = textbook_wilson(precision, n)[0] if n else math.nan
        out.append({"t": t, "precision": precision, "recall": recall, "f1": f1, "low": low, "flagged": int(flagged.sum())})
    return out


def test_the_f1_maximizing_threshold_is_picked():
    bad_scores, good_scores = [0.1, 0.2, 0.3, 0.6], [0.4, 0.5, 0.7, 0.8, 0.9]
    scores = np.array(bad_scores + good_scores)
    bad = np.array([True] * 4 + [False] * 5)
    w = np.ones(9)
    # Below 0.4 flags the three lowest bad rows and nothing else: F1 6/7, the best of every threshold.
    points = _brute_force(scores, bad, w)
    assert max(points, key=lambda p: p["f1"])["t"] == 0.4
    report = column_report("composite", scores, bad, w, target=0.99, direction=HIGHER)
    assert report["recommended"]["threshold"] == 0.4
    assert report["recommended"]["f1"] == pytest.approx(6 / 7)
    assert report["criterion"].startswith("best F1")


def test_f1_ties_go_to_the_higher_recall():
    # Below 0.2: one of the two bad rows and nothing else (F1 2/3, recall 0.5); below 0.9: both bad rows
    # and two good ones (F1 4/6, recall 1). Nothing else does better.
    scores = np.array([0.1, 0.4, 0.2, 0.3, 0.9])
    bad = np.array([True, True, False, False, False])
    sw = sweep(scores, bad, np.ones(5))
    f1 = dict(zip(sw.thresholds.tolist(), sw.f1.tolist()))
    assert f1[0.2] == f1[0.9] == pytest.approx(2 / 3) == max(f1.values())
    i, criterion = recommend(sw, 0.99)
    assert sw.thresholds[i] == 0.9 and criterion.startswith("best F1")


def test_target_ties_go_to_the_lower_threshold():
    # Below 0.5 and below 0.6 both flag every bad row, with precision bounds 0.886 and 0.838 >= 0.8;
    # 0.5 flags fewer good rows. Below 0.7 the bound falls under 0.8.
    scores = np.array([0.1] * 15 + [0.2] * 15 + [0.5, 0.6] + [0.7] * 10)
    bad = np.array([True] * 30 + [False] * 12)
    sw = sweep(scores, bad, np.ones(len(scores)))
    low = dict(zip(sw.thresholds.tolist(), sw.precision_low.tolist()))
    assert low[0.5] >= 0.8 and low[0.6] >= 0.8 and low[0.7] < 0.8
    i, criterion = recommend(sw, 0.8)
    assert sw.thresholds[i] == 0.5 and sw.recall[i] == 1.0
    assert criterion == "highest recall with precision lower bound >= 0.8"


def test_target_precision_picks_the_highest_recall_whose_lower_bound_meets_it():
    rng = np.random.default_rng(7)
    n = 400
    bad = rng.uniform(size=n) < 0.3
    scores = np.round(np.where(bad, rng.beta(2, 5, n), rng.beta(5, 2, n)), 2)  # rounded: many ties
    w = 1 / rng.choice([0.05, 0.2, 0.5], n)
    target = 0.8
    points = _brute_force(scores, bad, w)
    meeting = [p for p in points if not math.isnan(p["low"]) and p["low"] >= target]
    assert meeting and len(meeting) < len(points)  # the target decides something here
    best_recall = max(p["recall"] for p in meeting)
    expected = min(p["t"] for p in meeting if p["recall"] == best_recall)
    report = column_report("quality", scores, bad, w, target, HIGHER)
    assert report["recommended"]["threshold"] == expected
    assert report["criterion"] == "highest recall with precision lower bound >= 0.8"
    assert report["recommended"]["precision_ci95"][0] >= target
    # Every candidate's weighted figures equal the from-scratch ones.
    for p, c in zip(points, report["curve"]):
        assert c["threshold"] == p["t"]
        assert c["recall"] == pytest.approx(p["recall"], abs=1e-6)
        assert c["f1"] == pytest.approx(p["f1"], abs=1e-6)
        if not math.isnan(p["precision"]):
            assert c["precision"] == pytest.approx(p["precision"], abs=1e-6)


def test_direction_comes_from_the_labels_when_the_config_does_not_say():
    # Bad rows score high here (a share of symbols, say): flag rows above the threshold.
    scores = np.array([0.9, 0.8, 0.85, 0.1, 0.2, 0.15, 0.3])
    bad = np.array([True, True, True, False, False, False, False])
    report = column_report("response_non_alpha_frac", scores, bad, np.ones(7), 0.5)
    assert report["direction"] == LOWER and report["direction_from"] == "labels"
    assert report["flags_bad_when"] == "score > threshold"
    assert report["recommended"]["threshold"] == 0.3  # above 0.3: exactly the three bad rows
    assert report["recommended"]["recall"] == 1.0 and report["recommended"]["precision"] == 1.0
    points = _brute_force(scores, bad, np.ones(7), LOWER)
    assert max(points, key=lambda p: (p["f1"], p["recall"], p["t"]))["t"] == 0.3


def test_majority_verdicts_leave_ties_out():
    import pyarrow as pa

    table = pa.table(
        {
            "id": ["a", "a", "a", "b", "b", "c", "d", "d"],
            "verdict": ["bad", "bad", "good", "good", "bad", "good", "good", "good"],
        }
    )
    v = majority_verdicts(table)
    assert v.ids == ["a", "c", "d"] and v.bad.tolist() == [True, False, False]
    assert v.ties == ["b"] and v.annotations.tolist() == [3, 1, 2]


# ---- the command -------------------------------------------------------------------------------------------------

DROP_LOW = "merged_instructions"  # drop: fires on 8 labelled rows, 1 of them bad
DROP_GOOD = "gibberish_response"  # drop: fires on 6 bad rows
DROP_FEW = "prompt_injection"  # drop: fires on 3 labelled rows only
WARN_RULE = "truncated_response"  # warn: never changed
RUN_OVERRIDES: dict[str, Any] = {
    "classifiers": {"quality": {"model": "models/quality.bin"}},
    "dedup": {"threshold": 0.35},
    "keep": {"min": {"response_words": 1.0}},
}


def _fixture(tmp_path: Path) -> tuple[Path, Path, dict[str, Any]]:
    """40 rows, every third one bad (r00, r03, ...); r39 is a tie. Flagged rows were sampled with
    probability 0.5, the others with 0.1."""
    rows, votes, probability = [], {}, {}
    fired = {
        DROP_LOW: [0, 1, 2, 4, 5, 7, 8, 10],
        DROP_GOOD: [3, 6, 9, 12, 15, 18],
        DROP_FEW: [21, 22, 24],
        WARN_RULE: [30, 31, 32, 33, 34],
    }
    for i in range(40):
        row_id = f"r{i:02d}"
        bad = i % 3 == 0
        flags = [rule for rule, where in fired.items() if i in where]
        composite = 0.2 + 0.01 * i if bad else 0.45 + 0.01 * i
        rows.append({"id": row_id, "flags": flags, "composite": composite, "quality": 0.9 * composite + 0.05})
        votes[row_id] = ["bad", "bad", "good"] if bad else ["good", "good", "bad"] if i % 2 else ["good"]
        probability[row_id] = 0.5 if flags else 0.1
    votes["r39"] = ["good", "bad"]
    run = tmp_path / "run"
    record = make_run(run, rows, RUN_OVERRIDES)
    labels = tmp_path / "labels"
    make_labels(labels, votes, probability, record)
    return labels, run, record


def _calibrate(labels: Path, run: Path, out: Path, *flags: str) -> int:
    return main(["review", "calibrate", str(labels), str(run), "--output", str(out), *flags])


def test_calibrate_writes_a_report_and_an_overlay_that_loads(tmp_path, capsys):
    labels, run, record = _fixture(tmp_path)
    out = tmp_path / "calib"
    assert _calibrate(labels, run, out) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "calibration.json").read_text())
    assert report["counts"]["ties_excluded"] == 1 and report["counts"]["rows_used"] == 39
    assert report["inputs"]["export_id"] == "export-1"

    rules = report["rules"]
    assert rules[DROP_LOW]["labelled_firings"] == 8 and rules[DROP_LOW]["counts"]["tp"] == 1
    assert rules[DROP_LOW]["recommended_severity"] == "warn"
    assert rules[DROP_LOW]["precision_ci95"][1] < 0.8
    assert "recommended_severity" not in rules[DROP_GOOD] and rules[DROP_GOOD]["precision"] == 1.0
    assert rules[DROP_FEW]["assessment"].startswith("not enough labels")
    assert rules[WARN_RULE]["assessment"].startswith("does not drop rows")
    assert report["severity_changes"] == {
        DROP_LOW: {
            "from": "drop",
            "to": "warn",
            "precision": rules[DROP_LOW]["precision"],
            "precision_ci95": rules[DROP_LOW]["precision_ci95"],
            "labelled_firings": 8,
        }
    }
    composite = report["columns"]["composite"]
    assert composite["direction"] == HIGHER and composite["direction_from"] == "known"
    threshold = report["thresholds"]["applied"]["composite"]["keep.min"]
    assert threshold == composite["recommended"]["threshold"]
    assert np.float32(threshold) == threshold  # a labelled row's own (float32) value, exactly

    # The overlay reproduces the run's settings with the calibrated keep.min and severities.
    loaded = load_config(str(out / "calibrated.yaml"))
    expected = dict(record["config"])
    expected["keep"] = {**expected["keep"], "min": {"response_words": 1.0, "composite": threshold}}
    expected["rule_severity"] = {DROP_LOW: "warn"}
    assert loaded.as_dict() == expected
    assert loaded.rule_severity[DROP_LOW] == "warn" and loaded.keep.min["composite"] == threshold
    overlay = yaml.safe_load((out / "calibrated.yaml").read_text())
    assert set(overlay) == {"dedup", "classifiers", "keep", "rule_severity"}  # only what differs from the defaults

    lines = printed.splitlines()
    for name in (*rules, "composite", "quality"):
        assert sum(line.startswith(name + " ") for line in lines) == 1, name
    assert any(line.startswith(DROP_LOW) and "make it warn" in line for line in lines)


def test_apply_and_target_precision_options(tmp_path):
    labels, run, _ = _fixture(tmp_path)
    out = tmp_path / "calib"
    assert _calibrate(labels, run, out, "--apply", "quality", "--target-precision", "0.6") == 0
    report = json.loads((out / "calibration.json").read_text())
    assert list(report["thresholds"]["applied"]) == ["quality"]
    assert report["target_precision"] == 0.6
    loaded = load_config(str(out / "calibrated.yaml"))
    assert loaded.keep.min == {"response_words": 1.0, "quality": report["columns"]["quality"]["recommended"]["threshold"]}


def _files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def _another_run(labels: Path, run: Path) -> None:
    export = json.loads((labels / "export.json").read_text())
    (labels / "export.json").write_text(json.dumps({**export, "config_hash": "0123456789abcdef"}))


def _unsampled_id(labels: Path, run: Path) -> None:
    import pyarrow.parquet as pq

    sample = pq.read_table(labels / "sample.parquet")
    pq.write_table(sample.filter(np.array([i != "r05" for i in sample.column("id").to_pylist()])), labels / "sample.parquet")


def _unknown_id(labels: Path, run: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from winnow.transforms.review.labels import SCHEMA

    table = pq.read_table(labels / "labels.parquet")
    ghost = pa.Table.from_pylist(
        [{"id": "ghost", "annotator": "a", "verdict": "bad", "rating": None, "note": None}], schema=SCHEMA
    )
    pq.write_table(pa.concat_tables([table, ghost]), labels / "labels.parquet")
    sample = pq.read_table(labels / "sample.parquet")
    extra = pa.table({"id": ["ghost"], "stratum": ["x"], "inclusion_probability": [0.5]})
    pq.write_table(pa.concat_tables([sample, extra]), labels / "sample.parquet")


def _no_sample(labels: Path, run: Path) -> None:
    os.remove(labels / "sample.parquet")


@pytest.mark.parametrize(
    ("break_it", "flags", "message"),
    [
        (_another_run, [], "labels were drawn from another run"),
        (_unsampled_id, [], "sample.parquet: no row for id 'r05'"),
        (_unknown_id, [], "records/: no row with id 'ghost'"),
        (_no_sample, [], "sample.parquet: cannot read it: no such file"),
        (None, ["--apply", "n_turns"], "--apply n_turns: no recommended threshold"),
        (None, ["--apply", "nope"], "--apply nope: not a score column"),
        (None, ["--target-precision", "1.5"], "--target-precision must be between 0 and 1"),
    ],
)
def test_bad_inputs_stop_it_with_one_line_and_nothing_written(tmp_path, capsys, break_it, flags, message):
    labels, run, _ = _fixture(tmp_path)
    if break_it is not None:
        break_it(labels, run)
    out = tmp_path / "calib"
    assert _calibrate(labels, run, out, *flags) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("winnow: error:") and "Traceback" not in err
    assert _files_under(out) == []


def test_existing_outputs_need_overwrite(tmp_path, capsys):
    labels, run, _ = _fixture(tmp_path)
    out = tmp_path / "calib"
    assert _calibrate(labels, run, out) == 0
    before = (out / "calibration.json").read_bytes()
    assert _calibrate(labels, run, out, "--target-precision", "0.5") == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert (out / "calibration.json").read_bytes() == before
    assert _calibrate(labels, run, out, "--target-precision", "0.5", "--overwrite") == 0
    assert json.loads((out / "calibration.json").read_text())["target_precision"] == 0.5
    assert _files_under(out) == ["calibrated.yaml", "calibration.json"]
