"""fastText classifiers: `winnow train-quality` on a labelled set generated here,
the batch helpers of winnow.transforms.signals.classifiers, and `winnow score` with classifiers
(the `quality` column, any other classifier by config, the cascade that skips
dropped rows, the summary mean and the keep-one rule of near-duplicates).
"""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from winnow.pipelines.cli import main
from winnow.transforms.signals import classifiers as classify
from winnow.transforms.signals import fasttext_models as models
from winnow.transforms.signals.classifiers import ClassifierSpec, entropy_bits, predict_proba, prepare

# ---- a labelled corpus, written here --------------------------------------------

TASKS = [
    "bake sourdough bread", "repot a houseplant", "learn a new language", "prepare for a job interview",
    "start running regularly", "organize a small kitchen", "write a cover letter", "save money on groceries",
    "care for a cast iron pan", "plan a weekend hiking trip", "improve my sleep", "study for a chemistry exam",
    "paint a bedroom wall", "train a puppy to sit", "back up my laptop", "brew better coffee at home",
    "grow tomatoes on a balcony", "reduce screen time", "clean a bicycle chain", "make a monthly budget",
]
OPENERS = ["To {t}, begin by", "If you want to {t}, start by", "The easiest way to {t} is to start by",
           "When you {t}, begin by", "A reliable way to {t} is to start by"]
STEPS = [
    "gathering the tools you will need and reading the instructions carefully",
    "setting a clear goal and writing down each step in a short plan",
    "choosing a quiet time of day when you can focus without interruptions",
    "checking what you already have so that you do not buy anything twice",
    "breaking the work into small parts that you can finish in one session",
    "asking someone with experience for advice before you commit to a method",
    "measuring carefully and keeping notes about what worked and what did not",
    "preparing the space so that everything is within easy reach",
]
THENS = ["Next,", "After that,", "Then,", "Once that is done,", "In the second step,"]
MIDDLES = [
    "practice a little every day, because steady habits matter more than long sessions",
    "review your progress each week and adjust the plan where it feels too hard",
    "keep the process simple, since extra complexity rarely improves the result",
    "follow the recommended order, which prevents the most common mistakes",
    "take short breaks so that you stay patient and attentive",
    "compare your result with a trusted guide and correct small problems early",
]
CLOSERS = [
    "Finally, remember that mistakes are normal and each attempt teaches you something useful.",
    "With this approach you will see steady improvement within a few weeks.",
    "In summary, a calm and consistent routine usually gives the best outcome.",
    "This method works well for beginners and is easy to adapt as you gain confidence.",
    "If anything is unclear, a local class or a good book can help you go further.",
]
SPAM = ["best", "cheap", "buy", "now", "free", "deal", "click", "here", "price", "discount", "offer", "win", "sale",
        "promo", "casino", "bonus"]
SYLLABLES = ["zx", "qv", "kr", "pt", "uu", "wq", "jj", "xo", "vv", "gh", "qz", "yy"]
SHORT = ["ok", "idk", "sure", "maybe", "yes", "no", "fine", "whatever", "dunno", "k"]


def good_answer(rng: random.Random, task: str) -> str:
    a, b = rng.sample(STEPS, 2)
    return (f"{rng.choice(OPENERS).format(t=task)} {a}. {rng.choice(THENS)} {rng.choice(MIDDLES)}. "
            f"It also helps to keep {b.split(' ', 1)[1]}. {rng.choice(CLOSERS)}")


def garbled(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(SYLLABLES) + rng.choice(SYLLABLES) for _ in range(n))


def bad_answer(rng: random.Random, i: int) -> str:
    kind = i % 3
    if kind == 0:
        return " ".join(rng.choice(SPAM) for _ in range(rng.randint(12, 30))) + "!!!"
    if kind == 1:
        return garbled(rng, rng.randint(8, 25))
    return rng.choice(SHORT)


def labelled_rows(n: int = 200, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """n good and n bad alpaca rows; both sides ask the same kinds of question."""
    rng = random.Random(seed)
    good, bad = [], []
    for i in range(n):
        task = rng.choice(TASKS)
        good.append({"id": f"g{i}", "instruction": f"How do I {task}?", "input": "", "output": good_answer(rng, task)})
        task = rng.choice(TASKS)
        bad.append({"id": f"b{i}", "instruction": f"How do I {task}?", "input": "", "output": bad_answer(rng, i)})
    return good, bad


def write_jsonl(path, rows: list[dict]) -> str:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return str(path)


def train(args: list[str]) -> int:
    # Word n-grams 1: no 2M-bucket n-gram table, so a model is kilobytes, not hundreds of megabytes.
    return main(["train-quality", "--epoch", "15", "--dim", "16", "--word-ngrams", "1", *args])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("labelled")
    good, bad = labelled_rows()
    return write_jsonl(d / "good.jsonl", good), write_jsonl(d / "bad.jsonl", bad)


@pytest.fixture(scope="module")
def quality_model(corpus, tmp_path_factory):
    """A model reading the whole conversation (what --quality-model uses)."""
    pos, neg = corpus
    path = str(tmp_path_factory.mktemp("model") / "quality.bin")
    assert train(["--positive", pos, "--negative", neg, "--output", path]) == 0
    return path


@pytest.fixture(scope="module")
def response_model(corpus, tmp_path_factory):
    """A model reading responses only."""
    pos, neg = corpus
    path = str(tmp_path_factory.mktemp("model") / "response.bin")
    assert train(["--positive", pos, "--negative", neg, "--text", "response", "--output", path]) == 0
    return path


def card_of(model: str) -> dict:
    with open(model + ".card.json") as f:
        return json.load(f)


# ---- 1. train-quality ------------------------------------------------------------

def test_train_quality_writes_model_card_and_metrics(corpus, tmp_path, capsys):
    pos, neg = corpus
    model = str(tmp_path / "q.bin")
    assert train(["--positive", pos, "--negative", neg, "--cv", "0", "--output", model]) == 0  # one held-out split
    printed = capsys.readouterr().out
    assert os.path.getsize(model) > 0 and os.path.exists(model + ".card.json")
    card = card_of(model)
    data = card["data"]
    assert data["examples"] == {"good": 200, "bad": 200}
    assert data["positive"] == [pos] and data["negative"] == [neg] and data["skipped_rows"] == 0
    assert data["train"] + data["held_out"] == 400 and 40 <= data["held_out"] <= 120
    hp = card["hyperparameters"]
    assert (hp["epoch"], hp["dim"], hp["wordNgrams"], hp["seed"], hp["loss"]) == (15, 16, 1, 1, "softmax")
    m = card["metrics"]
    assert {"precision", "recall", "roc_auc", "accuracy", "held_out"} <= set(m)
    assert m["held_out"] == data["held_out"]
    assert m["roc_auc"] > 0.9 and m["precision"] > 0.8 and m["recall"] > 0.8
    assert card["labels"] == ["good", "bad"] and card["positive"] == "good" and card["text"] == "conversation"
    held_out_line = next(line for line in printed.splitlines() if line.startswith("held out:"))
    assert f"ROC-AUC {m['roc_auc']:.3f}" in held_out_line
    assert "400 examples" in printed and model + ".card.json" in printed


def test_train_quality_from_a_label_field(tmp_path):
    good, bad = labelled_rows(120, seed=3)
    rows = [dict(r, label=True) for r in good] + [dict(r, label=False) for r in bad]
    random.Random(1).shuffle(rows)
    rows += [{"instruction": "How do I k?", "input": "", "output": "no label here"}] * 3  # skipped: no label
    labeled = write_jsonl(tmp_path / "labeled.jsonl", rows)
    model = str(tmp_path / "l.bin")
    assert train(["--labeled", labeled, "--label-field", "label", "--output", model]) == 0
    card = card_of(model)
    assert card["data"]["examples"] == {"good": 120, "bad": 120}
    assert card["data"]["skipped_rows"] == 3
    assert card["data"]["labeled"] == [labeled] and card["data"]["label_field"] == "label"
    assert card["metrics"]["roc_auc"] > 0.9


def test_train_quality_needs_both_labels(corpus, tmp_path, capsys):
    pos, _ = corpus
    assert train(["--positive", pos, "--output", str(tmp_path / "a.bin")]) == 2
    err = capsys.readouterr().err
    assert "winnow: error:" in err and "both labels" in err and "'bad': 0" in err
    only_true = write_jsonl(tmp_path / "t.jsonl", [dict(r, label=True) for r in labelled_rows(20)[0]])
    assert train(["--labeled", only_true, "--label-field", "label", "--output", str(tmp_path / "b.bin")]) == 2
    assert "both labels" in capsys.readouterr().err
    assert train(["--labeled", only_true, "--output", str(tmp_path / "c.bin")]) == 2
    assert "--labeled needs --label-field" in capsys.readouterr().err
    assert not any(p.name.endswith(".bin") for p in tmp_path.iterdir())


def test_corrupted_negatives_are_added(corpus, tmp_path):
    pos, neg = corpus
    model = str(tmp_path / "c.bin")
    assert train(["--positive", pos, "--negative", neg, "--corrupted-negatives", "0.5", "--output", model]) == 0
    data = card_of(model)["data"]
    assert data["examples"] == {"good": 200, "bad": 300}
    assert data["corrupted_negatives"] == 0.5 and data["train"] + data["held_out"] == 500
    # Corrupted copies of good rows alone are enough negatives to train on.
    model2 = str(tmp_path / "c2.bin")
    assert train(["--positive", pos, "--corrupted-negatives", "1", "--output", model2]) == 0
    assert card_of(model2)["data"]["examples"] == {"good": 200, "bad": 200}


def test_training_is_deterministic_for_a_seed(corpus, tmp_path):
    pos, neg = corpus
    # One short epoch at a low rate: the probabilities are far from saturated,
    # so any difference between two trainings shows.
    args = ["--positive", pos, "--negative", neg, "--epoch", "2", "--lr", "0.05"]
    paths = [str(tmp_path / f"{name}.bin") for name in ("a", "b", "other_seed")]
    assert train([*args, "--output", paths[0]]) == 0
    assert train([*args, "--output", paths[1]]) == 0
    assert train([*args, "--seed", "7", "--output", paths[2]]) == 0
    cards = [card_of(p) for p in paths]
    assert cards[0]["metrics"] == cards[1]["metrics"]
    assert cards[0]["data"] == cards[1]["data"]
    good, bad = labelled_rows(30, seed=9)
    texts = prepare(pa.array([r["instruction"] + "\n" + r["output"] for r in good + bad]), 4000)
    probs = [predict_proba(models.load_fasttext(p), texts)[1] for p in paths]
    assert np.array_equal(probs[0], probs[1])
    assert not np.array_equal(probs[0], probs[2])  # the seed matters, so the equality above means something


# ---- 2. winnow.transforms.signals.classifiers --------------------------------------------------------

def test_prepare_lowercases_splits_punctuation_cuts_and_joins_lines():
    texts = pa.array(["Hello, World!\nSecond  line:\tdone.", None, "ABCDEFGHIJ", "Don't use_snake (café)?\r\n"])
    assert prepare(texts, 100) == ["hello , world ! second line : done .", "", "abcdefghij", "don ' t use_snake ( café ) ?"]
    assert prepare(texts, 5) == ["hello", "", "abcde", "don ' t"]  # cut at 5 characters before the split
    assert prepare(texts, 4) == ["hell", "", "abcd", "don '"]
    assert all("\n" not in t and "\r" not in t for t in prepare(texts, 100))


def test_entropy_bits_of_known_distributions():
    probs = np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
    assert np.allclose(entropy_bits(probs), [1.0, 0.0, 0.0], atol=1e-9)
    assert np.allclose(entropy_bits(np.full((1, 4), 0.25)), [2.0])
    p = 0.9
    assert np.isclose(entropy_bits(np.array([[p, 1 - p]]))[0], -(p * np.log2(p) + (1 - p) * np.log2(1 - p)))


def test_predict_proba_on_the_trained_model(quality_model):
    model = models.load_fasttext(quality_model)
    texts = prepare(pa.array([
        "How do I bake sourdough bread?\nTo bake sourdough bread, begin by gathering the tools you will need and "
        "reading the instructions carefully. Next, practice a little every day, because steady habits matter more "
        "than long sessions. In summary, a calm and consistent routine usually gives the best outcome.",
        "How do I bake sourdough bread?\nbuy cheap best deal click here free casino bonus promo win sale!!!",
        "",
    ]), 4000)
    labels, probs = predict_proba(model, texts)
    assert sorted(labels) == ["bad", "good"] and probs.shape == (3, 2)
    assert np.allclose(probs.sum(axis=1), 1.0)
    good = probs[:, labels.index("good")]
    assert good[0] > 0.9 and good[1] < 0.1
    assert np.allclose(probs[2], 0.5)  # no words: no opinion
    assert predict_proba(model, [])[1].shape == (0, 2)


def test_predict_proba_with_more_than_two_labels(tmp_path):
    import fasttext

    train_file = tmp_path / "fruit.txt"
    train_file.write_text("".join(
        f"__label__a apple apricot avocado {i % 7}\n__label__b banana blueberry {i % 5}\n__label__c cherry coconut\n"
        for i in range(60)
    ))
    model = fasttext.train_supervised(input=str(train_file), epoch=10, dim=8, seed=1, thread=1, verbose=0)
    labels, probs = predict_proba(model, ["apple avocado", "banana", "cherry coconut", "", "kiwi"])
    assert sorted(labels) == ["a", "b", "c"] and probs.shape == (5, 3)
    assert [labels[j] for j in probs[:3].argmax(axis=1)] == ["a", "b", "c"]
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    # No known word: a uniform distribution (the two-label case says 0.5), not zeros.
    assert np.allclose(probs[3:], 1 / 3)
    assert np.allclose(entropy_bits(probs[3:]), np.log2(3))


def _batch(rows: list[dict]) -> pa.RecordBatch:
    from winnow.transforms.config import load_config
    from winnow.transforms.io.formats import FieldMap
    from winnow.transforms.io.canonical import normalize_rows
    from winnow.transforms.io.inputs import Shard
    from winnow.transforms.io.readers import RawRow

    batch, rejected = normalize_rows([RawRow(i, r, None, "") for i, r in enumerate(rows)], Shard(0, "t.jsonl", "t.jsonl", 0),
                                     FieldMap.from_config(load_config()))
    assert not rejected
    return batch


def test_classify_gives_probability_and_entropy_and_nulls_where_skipped(response_model):
    good, bad = labelled_rows(3, seed=5)
    batch = _batch(good + bad)
    spec = ClassifierSpec("tox", response_model, "bad", "response", 4000)
    skip = np.array([False, True, False, False, False, True])
    prob, ent = classify.classify(batch, spec, skip)
    assert prob.type == pa.float32() and ent.type == pa.float32()
    assert prob.is_null().to_pylist() == skip.tolist() and ent.is_null().to_pylist() == skip.tolist()
    labels, probs = predict_proba(models.load_fasttext(response_model), prepare(pa.array([r["output"] for r in good + bad]), 4000))
    expected = probs[:, labels.index("bad")]
    got = prob.to_pylist()
    for i in np.flatnonzero(~skip):
        assert got[i] == pytest.approx(expected[i], abs=1e-6)
        assert ent[i].as_py() == pytest.approx(entropy_bits(probs[i : i + 1])[0], abs=1e-5)
    assert got[0] < 0.5 and got[3] > 0.5  # a good response is not "bad"; a bad one is
    all_prob, _ = classify.classify(batch, spec)
    assert all_prob.null_count == 0
    none_prob, none_ent = classify.classify(batch, spec, np.ones(6, dtype=bool))
    assert none_prob.null_count == 6 and none_ent.null_count == 6
    with pytest.raises(ValueError, match="no label 'toxic'"):
        classify.classify(batch, ClassifierSpec("tox", response_model, "toxic", "response", 4000))


# ---- 3. winnow score with classifiers ---------------------------------------------

PAIR_INSTRUCTION = "What should I consider before adopting a rescue cat?"
PAIR_ANSWER = (
    "Before adopting a rescue cat, think about your schedule, your budget for food and veterinary care, and "
    "whether your landlord allows pets. Visit the shelter twice and ask the staff about the temperament of each "
    "cat. Prepare a quiet room with a litter box, water and a hiding place. Then give your new cat several calm "
    "weeks to settle in."
)
# The same answer whose final sentence is spam: longer, and rated lower by the model.
PAIR_GARBLED = PAIR_ANSWER.rsplit(". ", 1)[0] + ". cheap casino bonus click discount promo offer deal sale free win!!!"
DROP_IDS = {"drop-empty", "drop-na"}


def score_corpus(d) -> dict[str, dict]:
    """Writes the corpus to score (two files); returns its rows by id."""
    d.mkdir()
    good, bad = labelled_rows(15, seed=11)
    rows = good + bad + [
        {"id": "drop-empty", "instruction": "How do I improve my sleep?", "input": "", "output": ""},
        {"id": "drop-na", "instruction": "How do I back up my laptop?", "input": "", "output": "N/A"},
        {"id": "warn-refusal", "instruction": "Tell me a joke about cats.", "input": "",
         "output": "As an AI model, I cannot tell jokes about animals."},
        # Near duplicates: the better one has the larger id and the shorter response,
        # so only quality can make it the kept row.
        {"id": "pair-1", "instruction": PAIR_INSTRUCTION, "input": "", "output": PAIR_GARBLED},
        {"id": "pair-2", "instruction": PAIR_INSTRUCTION, "input": "", "output": PAIR_ANSWER},
    ]
    random.Random(2).shuffle(rows)
    write_jsonl(d / "a.jsonl", rows[: len(rows) // 2])
    write_jsonl(d / "b.jsonl", rows[len(rows) // 2 :])
    return {r["id"]: r for r in rows}


@pytest.fixture(scope="module")
def scored(quality_model, response_model, tmp_path_factory):
    base = tmp_path_factory.mktemp("score")
    rows = score_corpus(base / "in")
    cfg = base / "cfg.yaml"
    cfg.write_text(f"classifiers:\n  tox: {{model: {response_model}, positive: bad, text: response}}\n")
    out = str(base / "out")
    assert main(["score", str(base / "in"), "--output", out, "--config", str(cfg), "--quality-model", quality_model,
                 "--direct_num_workers=1"]) == 0
    return rows, records_of(out), out


def records_of(out: str) -> dict[str, dict]:
    return {r["id"]: r for r in ds.dataset(os.path.join(out, "records"), format="parquet").to_table().to_pylist()}


def duplicates_of(out: str) -> dict[str, dict]:
    return {r["id"]: r for r in ds.dataset(os.path.join(out, "duplicates"), format="parquet").to_table().to_pylist()}


@pytest.mark.slow
def test_score_writes_classifier_columns_skipping_dropped_rows(scored):
    rows, records, out = scored
    assert records.keys() == rows.keys()
    schema = ds.dataset(os.path.join(out, "records"), format="parquet").schema
    for name in ("quality", "quality_entropy", "tox", "tox_entropy"):
        assert schema.field(name).type == pa.float32()
    dropped = {i for i, r in records.items() if r["severity"] == "drop"}
    assert dropped == DROP_IDS  # the cascade has something to skip
    assert records["warn-refusal"]["severity"] == "warn"
    for i, r in records.items():
        values = [r["quality"], r["quality_entropy"], r["tox"], r["tox_entropy"]]
        if i in dropped:
            assert values == [None] * 4, i
            continue
        assert None not in values, i
        q, h = r["quality"], r["quality_entropy"]
        assert 0.0 <= q <= 1.0 and 0.0 <= h <= 1.0 and 0.0 <= r["tox"] <= 1.0 and 0.0 <= r["tox_entropy"] <= 1.0
        assert h == pytest.approx(float(entropy_bits(np.array([[q, 1 - q]]))[0]), abs=1e-4), i
    # The model separates the generated good and bad rows.
    assert min(records[f"g{i}"]["quality"] for i in range(15)) > 0.5
    assert max(records[f"b{i}"]["quality"] for i in range(15)) < 0.5
    with open(os.path.join(out, "summary", "dataset.json")) as f:
        means = json.load(f)["means"]
    qualities = [r["quality"] for r in records.values() if r["quality"] is not None]
    assert len(qualities) == len(records) - len(DROP_IDS)
    assert means["quality"] == pytest.approx(float(np.mean(qualities)), rel=1e-6)


@pytest.mark.slow
def test_configured_classifier_reads_its_text_and_positive_label(scored, response_model):
    rows, records, _ = scored
    ids = sorted(i for i in records if i not in DROP_IDS)
    labels, probs = predict_proba(models.load_fasttext(response_model), prepare(pa.array([rows[i]["output"] for i in ids]), 4000))
    p_good = probs[:, labels.index("good")]
    for i, p in zip(ids, p_good):
        assert records[i]["tox"] == pytest.approx(1.0 - p, abs=1e-5), i
    # tox reads the response only; quality the whole conversation: different models, different numbers.
    assert any(abs(records[i]["tox"] - (1 - records[i]["quality"])) > 1e-3 for i in ids)


@pytest.mark.slow
def test_keep_one_prefers_the_higher_quality_duplicate(scored):
    _, records, out = scored
    low, high = records["pair-1"], records["pair-2"]
    assert len(PAIR_ANSWER.split()) == len(PAIR_GARBLED.split()) == 60
    assert high["quality"] > low["quality"]
    assert low["response_chars"] > high["response_chars"] and low["id"] < high["id"]  # the other keys favour pair-1
    dups = duplicates_of(out)
    assert dups["pair-1"]["cluster_id"] == dups["pair-2"]["cluster_id"]
    assert dups["pair-2"]["cluster_size"] == 2
    assert dups["pair-2"]["keep"] is True and dups["pair-1"]["keep"] is False
    assert dups["pair-1"]["kept_id"] == dups["pair-2"]["kept_id"] == "pair-2"


@pytest.mark.slow
def test_without_quality_in_the_keep_rule_the_other_duplicate_is_kept(scored, quality_model, tmp_path):
    _, _, first = scored
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("dedup:\n  keep: [-response_chars, id]\n")
    out = str(tmp_path / "out")
    inputs = os.path.join(os.path.dirname(first), "in")
    assert main(["score", inputs, "--output", out, "--config", str(cfg), "--quality-model", quality_model,
                 "--direct_num_workers=1"]) == 0
    dups = duplicates_of(out)
    assert dups["pair-1"]["keep"] is True and dups["pair-2"]["kept_id"] == "pair-1"


# ---- configuration errors: before any data is read --------------------------------

def _score_with(tmp_path, config: str, *extra: str) -> int:
    d = tmp_path / "in"
    d.mkdir()
    write_jsonl(d / "a.jsonl", labelled_rows(2)[0])
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(config)
    return main(["score", str(d), "--output", str(tmp_path / "out"), "--config", str(cfg), *extra])


def test_missing_model_fails_before_reading_data(tmp_path, capsys):
    missing = tmp_path / "nowhere.bin"
    assert _score_with(tmp_path, f"classifiers:\n  tox: {{model: {missing}, positive: bad}}\n") == 2
    err = capsys.readouterr().err
    assert "classifiers.tox.model" in err and "nowhere.bin" in err
    assert not (tmp_path / "out").exists()
    (tmp_path / "shortcut").mkdir()
    assert _score_with(tmp_path / "shortcut", "{}\n", "--quality-model", str(missing)) == 2
    assert "classifiers.quality.model" in capsys.readouterr().err


def test_positive_label_the_model_lacks_fails_before_reading_data(tmp_path, capsys, response_model):
    assert _score_with(tmp_path, f"classifiers:\n  tox: {{model: {response_model}, positive: toxic, text: response}}\n") == 2
    err = capsys.readouterr().err
    assert "classifiers.tox.positive" in err and "'toxic'" in err and "good" in err and "bad" in err
    assert not (tmp_path / "out").exists()


def test_classifier_column_already_written_fails_before_reading_data(tmp_path, capsys, quality_model):
    assert _score_with(tmp_path, f"classifiers:\n  response_chars: {{model: {quality_model}}}\n") == 2
    assert "classifiers.response_chars" in capsys.readouterr().err
    # quality writes quality_entropy: no classifier may be called that.
    (tmp_path / "q").mkdir()
    assert _score_with(tmp_path / "q", f"classifiers:\n  quality_entropy: {{model: {quality_model}}}\n",
                       "--quality-model", quality_model) == 2
    assert "classifiers.quality_entropy" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "q" / "out").exists()


@pytest.mark.parametrize("name", ["flags", "not-an-identifier", "severity"])
def test_invalid_classifier_name_fails_config_validation(tmp_path, capsys, quality_model, name):
    assert _score_with(tmp_path, f"classifiers:\n  {name}: {{model: {quality_model}}}\n") == 2
    err = capsys.readouterr().err
    assert f"classifiers.{name}" in err and "identifier" in err
    assert not (tmp_path / "out").exists()
