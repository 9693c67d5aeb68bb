"""The batch helpers of winnow.transforms.signals.classifiers: text preparation,
entropy, fastText probabilities (on the models trained in conftest.py) and
`classify` with its skipped rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from conftest import canonical_batch, labelled_rows

from winnow.transforms.signals import classifiers as classify
from winnow.transforms.signals import fasttext_models as models
from winnow.transforms.signals.classifiers import ClassifierSpec, entropy_bits, predict_proba, prepare


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
    texts = prepare(
        pa.array(
            [
                "How do I bake sourdough bread?\nTo bake sourdough bread, begin by gathering the tools you will need and "
                "reading the instructions carefully. Next, practice a little every day, because steady habits matter more "
                "than long sessions. In summary, a calm and consistent routine usually gives the best outcome.",
                "How do I bake sourdough bread?\nbuy cheap best deal click here free casino bonus promo win sale!!!",
                "",
            ]
        ),
        4000,
    )
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
    train_file.write_text(
        "".join(
            f"__label__a apple apricot avocado {i % 7}\n__label__b banana blueberry {i % 5}\n__label__c cherry coconut\n"
            for i in range(60)
        )
    )
    model = fasttext.train_supervised(input=str(train_file), epoch=10, dim=8, seed=1, thread=1, verbose=0)
    labels, probs = predict_proba(model, ["apple avocado", "banana", "cherry coconut", "", "kiwi"])
    assert sorted(labels) == ["a", "b", "c"] and probs.shape == (5, 3)
    assert [labels[j] for j in probs[:3].argmax(axis=1)] == ["a", "b", "c"]
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    # No known word: a uniform distribution (the two-label case says 0.5), not zeros.
    assert np.allclose(probs[3:], 1 / 3)
    assert np.allclose(entropy_bits(probs[3:]), np.log2(3))


def test_classify_gives_probability_and_entropy_and_nulls_where_skipped(response_model):
    good, bad = labelled_rows(3, seed=5)
    batch = canonical_batch(good + bad, "t.jsonl")
    spec = ClassifierSpec("tox", response_model, "bad", "response", 4000)
    skip = np.array([False, True, False, False, False, True])
    prob, ent = classify.classify(batch, spec, skip)
    assert prob.type == pa.float32() and ent.type == pa.float32()
    assert prob.is_null().to_pylist() == skip.tolist() and ent.is_null().to_pylist() == skip.tolist()
    labels, probs = predict_proba(
        models.load_fasttext(response_model), prepare(pa.array([r["output"] for r in good + bad]), 4000)
    )
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
