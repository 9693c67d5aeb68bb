"""`winnow train-quality` on the labelled corpus of conftest.py: the model card and
its metrics, labels from a field, corrupted negatives, and determinism for a seed.
"""

from __future__ import annotations

import os
import random

import numpy as np
import pyarrow as pa
from conftest import card_of, labelled_rows, train_quality_model, write_jsonl

from winnow.transforms.signals import fasttext_models as models
from winnow.transforms.signals.classifiers import predict_proba, prepare


def test_train_quality_writes_model_card_and_metrics(labelled_corpus, tmp_path, capsys):
    pos, neg = labelled_corpus
    model = str(tmp_path / "q.bin")
    assert train_quality_model(["--positive", pos, "--negative", neg, "--cv", "0", "--output", model]) == 0  # one held-out split
    printed = capsys.readouterr().out
    assert os.path.getsize(model) > 0 and os.path.exists(model + ".card.json")
    card = card_of(model)
    data = card["data"]
    # 200 bad rows, and the default generated negatives: 0.1 token soup answers per good row.
    assert data["synthetic_negatives"] == {"soup": 20} and data["corrupted_negatives"] == 0
    assert data["examples"] == {"good": 200, "bad": 220}
    assert data["positive"] == [pos] and data["negative"] == [neg] and data["skipped_rows"] == 0
    assert data["train"] + data["held_out"] == 420 and 40 <= data["held_out"] <= 130
    hp = card["hyperparameters"]
    assert (hp["epoch"], hp["dim"], hp["wordNgrams"], hp["seed"], hp["loss"]) == (15, 16, 1, 1, "softmax")
    m = card["metrics"]
    assert {"precision", "recall", "roc_auc", "accuracy", "held_out"} <= set(m)
    assert m["on"] == "real rows" and 40 <= m["held_out"] <= data["held_out"]  # metrics over the real rows held out
    assert m["roc_auc"] > 0.9 and m["precision"] > 0.8 and m["recall"] > 0.8
    assert card["labels"] == ["good", "bad"] and card["positive"] == "good" and card["text"] == "conversation"
    held_out_line = next(line for line in printed.splitlines() if line.startswith("held out:"))
    assert f"ROC-AUC {m['roc_auc']:.3f}" in held_out_line
    assert "420 examples" in printed and model + ".card.json" in printed


def test_train_quality_from_a_label_field(tmp_path):
    good, bad = labelled_rows(120, seed=3)
    rows = [dict(r, label=True) for r in good] + [dict(r, label=False) for r in bad]
    random.Random(1).shuffle(rows)
    rows += [{"instruction": "How do I k?", "input": "", "output": "no label here"}] * 3  # skipped: no label
    labeled = write_jsonl(tmp_path / "labeled.jsonl", rows)
    model = str(tmp_path / "l.bin")
    assert train_quality_model(["--labeled", labeled, "--label-field", "label", "--output", model]) == 0
    card = card_of(model)
    assert card["data"]["examples"] == {"good": 120, "bad": 120 + 12}  # and 0.1 generated negatives per good row
    assert card["data"]["skipped_rows"] == 3
    assert card["data"]["labeled"] == [labeled] and card["data"]["label_field"] == "label"
    assert card["metrics"]["roc_auc"] > 0.9


def test_train_quality_needs_both_labels(labelled_corpus, tmp_path, capsys):
    pos, _ = labelled_corpus
    assert train_quality_model(["--positive", pos, "--output", str(tmp_path / "a.bin")]) == 2
    err = capsys.readouterr().err
    assert "winnow: error:" in err and "both labels" in err and "'bad': 0" in err
    assert "--synthetic-negatives" in err  # default generated negatives do not stand in for real ones
    only_true = write_jsonl(tmp_path / "t.jsonl", [dict(r, label=True) for r in labelled_rows(20)[0]])
    assert train_quality_model(["--labeled", only_true, "--label-field", "label", "--output", str(tmp_path / "b.bin")]) == 2
    assert "both labels" in capsys.readouterr().err
    assert train_quality_model(["--labeled", only_true, "--output", str(tmp_path / "c.bin")]) == 2
    assert "--labeled needs --label-field" in capsys.readouterr().err
    assert not any(p.name.endswith(".bin") for p in tmp_path.iterdir())


def test_corrupted_negatives_are_added(labelled_corpus, tmp_path):
    pos, neg = labelled_corpus
    model = str(tmp_path / "c.bin")
    assert train_quality_model(["--positive", pos, "--negative", neg, "--corrupted-negatives", "0.5", "--output", model]) == 0
    data = card_of(model)["data"]
    assert data["synthetic_negatives"] == {"soup": 20, "corrupt": 100}
    assert data["examples"] == {"good": 200, "bad": 320}
    assert data["corrupted_negatives"] == 0.5 and data["train"] + data["held_out"] == 520
    # Corrupted copies of good rows alone are enough negatives to train on, when asked for by name.
    model2 = str(tmp_path / "c2.bin")
    args = ["--positive", pos, "--corrupted-negatives", "1", "--synthetic-negatives", "none", "--output", model2]
    assert train_quality_model(args) == 0
    card = card_of(model2)
    assert card["data"]["examples"] == {"good": 200, "bad": 200} and card["data"]["synthetic_negatives"] == {"corrupt": 200}
    # No real negative: the metrics are over every row, and say so.
    assert card["metrics"]["on"] == "all rows, generated negatives included" and card["validation"]["rows"] > 0
    model3 = str(tmp_path / "c3.bin")
    assert train_quality_model(["--positive", pos, "--synthetic-negatives", "soup=0.5,inject=0.5", "--output", model3]) == 0
    assert card_of(model3)["data"]["examples"] == {"good": 200, "bad": 200}


def test_training_is_deterministic_for_a_seed(labelled_corpus, tmp_path):
    pos, neg = labelled_corpus
    # One short epoch at a low rate: the probabilities are far from saturated,
    # so any difference between two trainings shows.
    args = ["--positive", pos, "--negative", neg, "--epoch", "2", "--lr", "0.05"]
    paths = [str(tmp_path / f"{name}.bin") for name in ("a", "b", "other_seed")]
    assert train_quality_model([*args, "--output", paths[0]]) == 0
    assert train_quality_model([*args, "--output", paths[1]]) == 0
    assert train_quality_model([*args, "--seed", "7", "--output", paths[2]]) == 0
    cards = [card_of(p) for p in paths]
    assert cards[0]["metrics"] == cards[1]["metrics"]
    assert cards[0]["data"] == cards[1]["data"]
    good, bad = labelled_rows(30, seed=9)
    texts = prepare(pa.array([r["instruction"] + "\n" + r["output"] for r in good + bad]), 4000)
    probs = [predict_proba(models.load_fasttext(p), texts)[1] for p in paths]
    assert np.array_equal(probs[0], probs[1])
    assert not np.array_equal(probs[0], probs[2])  # the seed matters, so the equality above means something
