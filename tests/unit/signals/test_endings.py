"""The corpus-fitted endings model: cuts, halves, cross-fitting, the left-out cut answers, the file and the gate."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from winnow.transforms.configfiles import ConfigError
from winnow.transforms.evaluation import roc_auc
from winnow.transforms.signals import endings
from winnow.transforms.signals.composite import gate_value

NOUNS = ["river", "lantern", "orchard", "harbor", "meadow", "engine", "ledger", "violin", "glacier", "compass"]
VERBS = ["carries", "follows", "measures", "repairs", "guards", "paints", "lifts", "counts"]
ADJ = ["quiet", "bright", "narrow", "ancient", "careful", "steady"]


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(["The", "A", "Every"]), rng.choice(ADJ), rng.choice(NOUNS), rng.choice(VERBS), "the"]
    words += [rng.choice(ADJ), rng.choice(NOUNS), rng.choice(["in", "near", "under"]), "the", rng.choice(NOUNS)]
    return " ".join(words) + rng.choice([".", ".", ".", "!"])


def _answer(rng: random.Random) -> str:
    """Made-up answers written in whole sentences, lists and sums, each ending where its writer ended it."""
    kind = rng.randrange(3)
    if kind == 0:
        return " ".join(_sentence(rng) for _ in range(rng.randint(2, 5)))
    if kind == 1:
        items = "\n".join(f"{i}. {_sentence(rng)}" for i in range(1, rng.randint(3, 6)))
        return f"Here is the list:\n{items}"
    a, b = rng.randint(2, 60), rng.randint(2, 60)
    return f"{_sentence(rng)}\nShe has {a} + {b} = {a + b} {rng.choice(NOUNS)}s in all.\nSo the answer is {a + b}."


def _corpus(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [_answer(rng) for _ in range(n)]


def test_a_cut_ends_inside_a_line_after_a_word_that_ends_no_sentence() -> None:
    text = "The quiet river carries the boat. It is slow today!\nThen the engine stops near the harbor."
    for seed in range(50):
        cut = endings.cut_answer(text, random.Random(seed))
        assert cut is not None and text.startswith(cut) and len(cut) < len(text)
        assert not cut.endswith((".", "!")) and text[len(cut)] == " "
    assert endings.cut_answer("Too short to cut at all.", random.Random(0)) is None


def test_halves_come_from_the_text_alone() -> None:
    texts = [f"answer number {i}" for i in range(200)]
    folds = endings.fold_of(texts)
    assert set(folds.tolist()) == {0, 1} and np.array_equal(folds, endings.fold_of(list(texts)))
    assert 60 < folds.sum() < 140


def test_each_text_is_judged_by_the_model_of_the_other_half() -> None:
    texts = [f"The answer to question {i} is written here in full." for i in range(40)]
    model = endings.EndingModel(
        [np.zeros(endings.N_FEATURES, np.float32), np.zeros(endings.N_FEATURES, np.float32)], [10.0, -10.0]
    )
    p = model.cut_probability(texts)
    folds = endings.fold_of(texts)
    # Half 0's texts are judged by half 1's model (intercept -10: whole), half 1's by half 0's (+10: cut).
    assert np.all(p[folds == 0] < 0.01) and np.all(p[folds == 1] > 0.99)


@pytest.fixture(scope="module")
def fitted() -> tuple[endings.EndingModel, list[str]]:
    corpus = _corpus(1500, seed=1)
    rng = random.Random(2)
    planted = [endings.cut_answer(a, rng) for a in _corpus(60, seed=3)]  # a corpus holds cut answers of its own
    return endings.train_endings(corpus + [p for p in planted if p]), [p for p in planted if p]


def test_the_model_tells_new_answers_from_cuts_of_them(fitted) -> None:
    model, _ = fitted
    fresh = _corpus(300, seed=9)
    rng = random.Random(4)
    cuts = [c for a in fresh if (c := endings.cut_answer(a, rng))]
    scores = np.r_[model.cut_probability(fresh), model.cut_probability(cuts)]
    auc = roc_auc(scores, np.r_[np.zeros(len(fresh), bool), np.ones(len(cuts), bool)])
    assert auc > 0.95
    assert model.card["cv"]["roc_auc"] > 0.95


def test_the_corpus_own_cut_answers_are_left_out_of_the_whole_examples_and_judged_cut(fitted) -> None:
    model, planted = fitted
    assert model.card["left_out_as_cut"] >= 0.8 * len(planted)
    assert np.mean(model.cut_probability(planted) > 0.8) > 0.8


def test_the_model_file_round_trips_and_a_wrong_file_is_a_config_error(fitted, tmp_path) -> None:
    model, planted = fitted
    again = endings.EndingModel.from_bytes(model.to_bytes())
    assert np.allclose(again.cut_probability(planted), model.cut_probability(planted), atol=1e-6)
    assert again.card == model.card
    with pytest.raises(ConfigError, match="not an endings model"):
        endings.EndingModel.from_bytes(b"not a model", "x.npz")
    with pytest.raises(ConfigError, match="does not exist"):
        endings.load_model(str(tmp_path / "missing.npz"))


def test_short_answers_are_not_judged(fitted) -> None:
    model, planted = fitted
    long_cut = next(p for p in planted if len(p.split()) >= endings.MIN_WORDS)
    got = endings.cut_scores(pa.array(["Yes.", None, long_cut]), model, endings.MIN_WORDS).to_pylist()
    assert got[0] is None and got[1] is None and got[2] > 0.5


def test_the_completeness_gate_counts_a_confident_model_only_and_the_rule_still_counts() -> None:
    cols = {
        "response_ends_mid_sentence": pa.array([False, False, False, True, False]),
        "response_cut_score": pa.array([0.5, 0.895, 0.99, 0.1, None], pa.float32()),
    }
    got = gate_value(cols, "completeness", 20, (0.8, 0.99))
    assert got is not None
    assert got[0] == 1.0 and got[1] == pytest.approx(0.5, abs=1e-3) and got[2] == pytest.approx(0.0, abs=1e-6)
    assert got[3] == 0.0 and got[4] == 1.0  # the rule's cut; not judged by the model: the rule's word
    only_rule = gate_value({"response_ends_mid_sentence": pa.array([True, False])}, "completeness", 20)
    assert only_rule is not None and only_rule.tolist() == [0.0, 1.0]
