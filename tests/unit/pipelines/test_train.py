"""`winnow train-quality` cross-validation: folds by content hash, fold spread
per labelled input, mean quality per input, and the final model on all rows.
Fixtures are generated here; the real-data check reads ../shared/data at run
time and skips when it is absent.
"""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
from conftest import SHARED_DATA, card_of, write_jsonl

from winnow.pipelines import train as train_mod
from winnow.pipelines.cli import main
from winnow.pipelines.train import Example, corrupt, cv_folds, fold_of, split
from winnow.transforms.config import ConfigError
from winnow.transforms.signals import fasttext_models as models

GOOD_WORDS = ["carefully", "measure", "plan", "steady", "review", "practice", "notes", "patient", "compare", "explain"]
BAD_WORDS = ["cheap", "click", "now", "casino", "bonus", "promo", "whatever", "dunno", "spam", "deal"]
FILLER = ["the", "a", "and", "then", "with", "your", "for", "it", "of", "to", "this", "that"]


def answer(rng: random.Random, words: list[str], n: int = 14) -> str:
    """A response: filler words with a few words that carry the label."""
    return " ".join(rng.choice(words if rng.random() < 0.35 else FILLER) for _ in range(n))


def preference_rows(n: int, seed: int) -> list[dict]:
    """Labelled chat rows: same prompts on both sides, the label shows only in the response's words."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        good = i % 2 == 0
        prompt = f"question {i} about " + " ".join(rng.sample(FILLER, 4))
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": prompt},
                    {"role": "assistant", "content": answer(rng, GOOD_WORDS if good else BAD_WORDS)},
                ],
                "label": good,
            }
        )
    return rows


def corpus_rows(n: int, words: list[str], seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [{"instruction": f"task {seed} {i}", "input": "", "output": answer(rng, words)} for i in range(n)]


def run(args: list[str]) -> int:
    return main(["train-quality", "--epoch", "10", "--dim", "8", "--word-ngrams", "1", *args])


# ---- folds -------------------------------------------------------------------------


def test_folds_keep_a_row_and_its_corrupted_copies_together():
    good = [Example(f"word{i} other{i} more{i} words{i}", "good", "g.jsonl", f"h{i}") for i in range(60)]
    copies = corrupt(good, 2.0, seed=3)
    assert len(copies) == 120 and all(c.group for c in copies)
    fold = {e.content_hash: fold_of(e, 5) for e in good}
    assert all(fold_of(c, 5) == fold[c.group] for c in copies)
    assert len(set(fold.values())) == 5  # 60 rows over 5 folds: every fold used
    train, test = split(good + copies, 0.3)
    held = {e.split_key for e in test}
    assert held and not held & {e.split_key for e in train}


def test_cv_fold_count_auto_zero_and_invalid():
    assert cv_folds("auto", 300) == train_mod.AUTO_CV_FOLDS == 5
    assert cv_folds("auto", train_mod.AUTO_CV_MAX_EXAMPLES) == 0
    assert cv_folds("0", 300) == 0 and cv_folds("3", 20) == 3
    for bad in ("1", "-2"):
        with pytest.raises(ConfigError, match="--cv"):
            cv_folds(bad, 300)


# ---- cross-validated training ---------------------------------------------------------


def test_cross_validation_scores_each_row_with_a_model_that_never_saw_it(tmp_path):
    # Random labels on rows that share no words: a model that memorised a row
    # scores it right, one that never saw it can only guess.
    rng = random.Random(5)
    rows = [
        {"instruction": f"q{i}", "input": "", "output": " ".join(f"w{i}x{j}" for j in range(6)), "label": rng.random() < 0.5}
        for i in range(160)
    ]
    labeled = write_jsonl(tmp_path / "random.jsonl", rows)
    model = str(tmp_path / "r.bin")
    assert (
        run(
            [
                "--labeled",
                labeled,
                "--label-field",
                "label",
                "--text",
                "response",
                "--epoch",
                "30",
                "--lr",
                "1.0",
                "--cv",
                "4",
                "--output",
                model,
            ]
        )
        == 0
    )
    m = card_of(model)["metrics"]
    assert m["held_out"] == 160 and len(m["cv"]["roc_auc"]["folds"]) == 4
    assert 0.25 < m["roc_auc"] < 0.75
    # The final model (trained on every row) has memorised them, so the check above means something.
    texts = [" ".join(f"w{i}x{j}" for j in range(6)) for i in range(160)]
    labels, probs = train_mod.predict_proba(models.load_fasttext(model), texts)
    truth = np.array([r["label"] for r in rows])
    assert train_mod.roc_auc(probs[:, labels.index("good")], truth) > 0.95


def test_cv_reports_fold_spread_per_labelled_input_and_mean_quality(tmp_path, capsys):
    labeled = write_jsonl(tmp_path / "prefs.jsonl", preference_rows(80, seed=1))
    pos = write_jsonl(tmp_path / "pos.jsonl", corpus_rows(60, GOOD_WORDS, seed=2))
    neg = write_jsonl(tmp_path / "neg.jsonl", corpus_rows(60, BAD_WORDS, seed=3))
    model = str(tmp_path / "q.bin")
    assert (
        run(
            [
                "--labeled",
                labeled,
                "--label-field",
                "label",
                "--positive",
                pos,
                "--negative",
                neg,
                "--text",
                "response",
                "--corrupted-negatives",
                "0.25",
                "--cv",
                "4",
                "--output",
                model,
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    card = card_of(model)
    data, m = card["data"], card["metrics"]
    # The default generated negatives (token soup, 0.1 per good row) and the corrupted copies.
    assert data["synthetic_negatives"] == {"soup": 10, "corrupt": 25}
    total = 80 + 60 + 60 + 10 + int(100 * 0.25)
    assert data["cv_folds"] == 4 and data["train"] == total and data["held_out"] == 0
    assert m["held_out"] == 200 and m["on"] == "real rows"  # pooled out-of-fold: every real row scored once
    cv = m["cv"]
    assert cv["folds"] == 4 and len(cv["roc_auc"]["folds"]) == 4
    assert cv["roc_auc"]["mean"] > 0.85 and cv["roc_auc"]["sd"] >= 0
    assert np.isclose(cv["roc_auc"]["mean"], np.mean(cv["roc_auc"]["folds"]), atol=1e-3)
    prefs = cv["by_source"]["prefs.jsonl"]["roc_auc"]
    assert len(prefs["folds"]) == 4 and prefs["mean"] > 0.8
    assert set(m["by_source"]) == {"prefs.jsonl"}  # the only input holding both labels
    q = m["mean_quality"]
    assert {"prefs.jsonl", "pos.jsonl", "neg.jsonl", "corrupted:pos.jsonl", "corrupted:prefs.jsonl"} <= set(q)
    assert all(
        src.split(":")[0] == "soup"
        for src in set(q) - {"prefs.jsonl", "pos.jsonl", "neg.jsonl"} - {"corrupted:pos.jsonl", "corrupted:prefs.jsonl"}
    )
    assert set(m["generated"]) == {"soup", "inject", "corrupt"}  # probes of every kind a response model sees
    assert q["pos.jsonl"] > 0.7 > 0.3 > q["neg.jsonl"]
    assert f"cross-validation (4 folds): ROC-AUC {cv['roc_auc']['mean']:.3f} ± {cv['roc_auc']['sd']:.3f}" in printed
    assert f"prefs.jsonl: ROC-AUC {prefs['mean']:.3f} ± {prefs['sd']:.3f} over folds" in printed
    assert "mean quality: " in printed and f"neg.jsonl {q['neg.jsonl']:.3f}" in printed
    assert os.path.getsize(model) > 0


def test_cv_auto_switches_to_one_split_for_large_sets(tmp_path, monkeypatch):
    labeled = write_jsonl(tmp_path / "prefs.jsonl", preference_rows(60, seed=4))
    small, large = str(tmp_path / "s.bin"), str(tmp_path / "l.bin")
    assert run(["--labeled", labeled, "--label-field", "label", "--output", small]) == 0
    assert card_of(small)["data"]["cv_folds"] == 5 and "cv" in card_of(small)["metrics"]
    monkeypatch.setattr(train_mod, "AUTO_CV_MAX_EXAMPLES", 50)
    assert run(["--labeled", labeled, "--label-field", "label", "--output", large]) == 0
    data = card_of(large)["data"]
    assert data["cv_folds"] == 0 and 0 < data["held_out"] < 60 and "cv" not in card_of(large)["metrics"]


def test_autotune_then_cross_validation_reuses_the_tuned_parameters(tmp_path):
    labeled = write_jsonl(tmp_path / "prefs.jsonl", preference_rows(60, seed=6))
    model = str(tmp_path / "a.bin")
    assert run(["--labeled", labeled, "--label-field", "label", "--autotune", "1", "--cv", "3", "--output", model]) == 0
    card = card_of(model)
    hp = card["hyperparameters"]
    assert hp["autotune_seconds"] == 1 and hp["loss"] in ("softmax", "hs", "ova", "ns")
    assert card["data"]["cv_folds"] == 3 and len(card["metrics"]["cv"]["roc_auc"]["folds"]) == 3


# ---- real data (read at run time) -------------------------------------------------------

KTO = os.path.join(SHARED_DATA, "llamafactory", "kto_en_demo.json")


@pytest.mark.skipif(not os.path.exists(KTO), reason="../shared/data is not here")
def test_kto_preference_model_ranks_good_above_bad_out_of_fold(tmp_path):
    model = str(tmp_path / "kto.bin")
    assert (
        main(["train-quality", "--labeled", KTO, "--label-field", "label", "--text", "response", "--cv", "5", "--output", model])
        == 0
    )
    cv = card_of(model)["metrics"]["cv"]["by_source"]["kto_en_demo.json"]["roc_auc"]
    assert cv["mean"] - cv["sd"] > 0.55


def test_labeled_weight_lets_a_small_labelled_set_outweigh_the_bulk(tmp_path):
    # The bulk corpora say the opposite of the small labelled set; only its weight decides which wins.
    labeled = write_jsonl(tmp_path / "prefs.jsonl", preference_rows(60, seed=7))
    pos = write_jsonl(tmp_path / "pos.jsonl", corpus_rows(100, BAD_WORDS, seed=8))
    neg = write_jsonl(tmp_path / "neg.jsonl", corpus_rows(100, GOOD_WORDS, seed=9))
    auc = {}
    for weight in (1, 20):
        model = str(tmp_path / f"w{weight}.bin")
        assert (
            run(
                [
                    "--labeled",
                    labeled,
                    "--label-field",
                    "label",
                    "--labeled-weight",
                    str(weight),
                    "--positive",
                    pos,
                    "--negative",
                    neg,
                    "--text",
                    "response",
                    "--cv",
                    "4",
                    "--output",
                    model,
                ]
            )
            == 0
        )
        card = card_of(model)
        assert card["data"]["labeled_weight"] == weight and card["metrics"]["held_out"] == 260  # evaluated once each
        auc[weight] = card["metrics"]["by_source"]["prefs.jsonl"]["roc_auc"]
    assert auc[1] < 0.3 and auc[20] > 0.7
    assert (
        run(["--labeled", labeled, "--label-field", "label", "--labeled-weight", "0", "--output", str(tmp_path / "z.bin")]) == 2
    )
