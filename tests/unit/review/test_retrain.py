"""`winnow review calibrate --retrain`: the quality model retrained with the human labels added gets
the held-out human-labelled rows right where the first model was wrong in a learnable way."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from calibration_fixtures import make_labels, make_run
from conftest import TASKS, good_answer, labelled_rows, train_quality_model, write_jsonl

from winnow.pipelines.cli import main

# Rows signed like this were good in the first model's training data; people judge them bad.
SIGNATURE = " Zorblax approved signature, reply STOP to unsubscribe."


def _original_corpus(directory: Path) -> tuple[str, str]:
    good, bad = labelled_rows(200, seed=5)
    for row in good[:20]:
        row["output"] += SIGNATURE
    return write_jsonl(directory / "good.jsonl", good), write_jsonl(directory / "bad.jsonl", bad)


def _fixture(tmp_path: Path, include_text: bool = True, quality: bool = True) -> tuple[Path, Path, str, str, str]:
    """(labels, run, model, good.jsonl, bad.jsonl): a model trained on the corpus above, and a run of 60
    good-looking answers, half of them signed, which people label bad."""
    good_path, bad_path = _original_corpus(tmp_path)
    model = str(tmp_path / "quality.bin")
    assert train_quality_model(["--positive", good_path, "--negative", bad_path, "--output", model]) == 0
    rng = random.Random(11)
    rows, votes = [], {}
    for i in range(60):
        task = rng.choice(TASKS)
        signed = i % 2 == 1
        row_id = f"h{i:02d}"
        rows.append(
            {
                "id": row_id,
                "instruction": f"How do I {task}?",
                "output": good_answer(rng, task) + (SIGNATURE if signed else ""),
                "composite": 0.3 + 0.01 * i,
                "quality": 0.9,
            }
        )
        votes[row_id] = ["bad"] if signed else ["good"]
    run = tmp_path / "run"
    record = make_run(run, rows, {"classifiers": {"quality": {"model": model}}} if quality else None)
    if not include_text:
        path = run / "records" / "part-00000.parquet"
        table = pq.read_table(path)
        pq.write_table(table.drop_columns(["turns", "system", "instruction", "input", "response"]), path)
    labels = tmp_path / "labels"
    make_labels(labels, votes, {i: 0.2 for i in votes}, record)
    return labels, run, model, good_path, bad_path


def _calibrate(labels: Path, run: Path, out: Path, model_out: Path, *flags: str) -> int:
    args = ["review", "calibrate", str(labels), str(run), "--output", str(out), "--retrain", str(model_out), *flags]
    return main(args)


def test_retraining_with_the_human_labels_improves_held_out_accuracy(tmp_path, capsys):
    labels, run, model, good_path, bad_path = _fixture(tmp_path)
    out, model_out = tmp_path / "calib", tmp_path / "quality-v2.bin"
    assert _calibrate(labels, run, out, model_out) == 0
    r = json.loads((out / "calibration.json").read_text())["retrain"]
    before, after = r["before"], r["after"]
    assert before["rows"] == after["rows"] == 60 and before["bad"] == 30
    assert before["accuracy"] <= 0.6  # the first model calls the signed rows good
    assert after["accuracy"] >= before["accuracy"] + 0.3
    assert after["roc_auc"] > before["roc_auc"]
    training = r["training"]
    assert {x["path"] for x in training["original"]["recovered"]} == {good_path, bad_path}
    assert training["original"]["not_recovered"] == [] and training["human_weight"] >= 1
    card = json.loads(Path(str(model_out) + ".card.json").read_text())
    assert card["data"]["retrained_from"] == model and card["data"]["human_labels"]["rows"] == 60
    assert card["data"]["positive"] == [good_path]  # a later retrain finds the original rows again
    assert card["validation"]["metric"] == "roc_auc" and card["validation"]["cv_folds"] == 5
    assert card["size_bytes"] == os.path.getsize(model_out)
    printed = capsys.readouterr().out
    assert f"held-out accuracy {before['accuracy']:.3f} -> {after['accuracy']:.3f}" in printed


def test_without_the_original_rows_it_trains_on_the_labels_and_says_so(tmp_path):
    labels, run, _, good_path, bad_path = _fixture(tmp_path)
    os.remove(good_path)
    os.remove(bad_path)
    out, model_out = tmp_path / "calib", tmp_path / "quality-v2.bin"
    assert _calibrate(labels, run, out, model_out, "--folds", "3") == 0
    r = json.loads((out / "calibration.json").read_text())["retrain"]
    original = r["training"]["original"]
    assert {x["path"] for x in original["not_recovered"]} == {good_path, bad_path}
    assert original["note"] == "the training inputs named by the card are gone; trained on the human labels only"
    # The human rows weigh as they would have next to the 420 rows the card records: a quarter of the training.
    assert r["training"]["human_rows"] == 60 and r["training"]["human_weight"] == 3
    assert r["training"]["rows"] == 180
    assert r["after"]["accuracy"] > r["before"]["accuracy"]


@pytest.mark.parametrize(
    ("include_text", "quality", "message"),
    [(False, True, "output.include_text"), (True, False, "the run had no quality model")],
)
def test_retrain_needs_text_and_a_quality_model(tmp_path, capsys, include_text, quality, message):
    labels, run, *_ = _fixture(tmp_path, include_text, quality)
    out, model_out = tmp_path / "calib", tmp_path / "quality-v2.bin"
    assert _calibrate(labels, run, out, model_out) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not model_out.exists()
