"""`winnow train-quality`'s generated negatives (token soup, injected grader instructions, swapped
answers, corrupted copies), the folds that keep them honest, the auto-sized n-gram table, and the
validation record and warnings of the model card. Fixtures are generated here.
"""

from __future__ import annotations

import os
import random
import re

import numpy as np
import pytest
from conftest import card_of, write_jsonl
from test_train import BAD_WORDS, GOOD_WORDS, corpus_rows, preference_rows, run

from winnow.pipelines import train as train_mod
from winnow.pipelines.cli import main
from winnow.pipelines.train import (
    INJECT_DEMANDS,
    INJECT_OPENERS,
    Example,
    auto_bucket,
    cross_validate_scores,
    inject,
    parse_synthetic,
    synthesize,
    token_soup,
    view_text,
)
from winnow.transforms.configfiles import ConfigError
from winnow.transforms.signals import fasttext_models as models
from winnow.transforms.signals.classifiers import predict_proba

LATIN = re.compile(r"[a-z]")
OTHER_SCRIPTS = {
    "cyrillic": re.compile(r"[\u0430-\u044f]"),
    "greek": re.compile(r"[\u03b1-\u03c9]"),
    "cjk": re.compile(r"[\u4e00-\u9fff]"),
    "arabic": re.compile(r"[\u0627-\u064a]"),
    "devanagari": re.compile(r"[\u0915-\u0939]"),
    "thai": re.compile(r"[\u0e01-\u0e2e]"),
    "hangul": re.compile(r"[\uac00-\ud7af]"),
}


def good_rows(n: int) -> list[Example]:
    """Good rows with distinct prompts and answers (prompt and answer kept, as read_examples keeps them)."""
    out = []
    for i in range(n):
        prompt, answer = f"question number{i} about topic{i % 7}", f"answer{i} explains step{i} carefully and clearly"
        out.append(Example(view_text(prompt, answer, "conversation"), "good", "g.jsonl", f"h{i}", prompt=prompt, answer=answer))
    return out


# ---- the generators -----------------------------------------------------------------------


def test_token_soup_mixes_code_brackets_and_fragments_in_several_scripts():
    rng = random.Random(1)
    answer = "Photosynthesis converts sunlight into chemical energy stored in glucose molecules " * 5
    soups = [token_soup(rng, answer) for _ in range(30)]
    joined = " ".join(soups)
    scripts = {name for name, rx in OTHER_SCRIPTS.items() if rx.search(joined)}
    assert len(scripts) >= 5  # several scripts, not one
    assert any(t in joined for t in ("{", "};", "=>", "::", "#include", "return"))
    assert re.search(r"[\[\]{}()<>|/\\;:=+*&^%$#@!~]{2,}", joined)  # bracket runs
    assert re.search(r"osynth|ynthes|hemic|glucos|molec|sunli|energ", joined)  # fragments of the answer's own words
    assert all(8 <= len(s.split()) <= 2 * 300 for s in soups)
    assert sum(s.startswith("Photosynthesis converts") for s in soups) in range(3, 20)  # some keep the answer's start
    assert token_soup(random.Random(1), answer) == soups[0]  # seeded


def test_inject_varies_wording_and_position_and_keeps_the_answer_unless_replacing_it():
    rng = random.Random(2)
    answer = "The capital of France is Paris, on the Seine."
    texts = [inject(rng, answer) for _ in range(80)]
    openers = {o for o in INJECT_OPENERS if any(o.lower() in t.lower() for t in texts)}
    demands = {d for d in INJECT_DEMANDS if any(d.lower() in t.lower() for t in texts)}
    assert len(openers) >= 8 and len(demands) >= 8
    kept = [t for t in texts if answer in t or (answer[:20] in t and "Seine." in t)]
    replaced = [t for t in texts if "Paris" not in t]
    assert len(kept) > 40 and len(replaced) > 5 and len(kept) + len(replaced) == len(texts)
    assert any(t.startswith(answer) for t in texts) and any(t.endswith(answer) for t in texts)  # after, and before
    assert len(set(texts)) > 70


def test_parse_synthetic_kinds_fractions_and_errors():
    assert parse_synthetic("soup,inject") == {"soup": 0.1, "inject": 0.1}
    assert parse_synthetic(" soup=0.3 , swap , corrupt=1 ") == {"soup": 0.3, "swap": 0.1, "corrupt": 1.0}
    assert parse_synthetic("none") == parse_synthetic("") == {}
    for bad, why in (("soup,spam", "unknown kind 'spam'"), ("soup=lots", "must be a number"), ("inject=-1", ">= 0")):
        with pytest.raises(ConfigError, match=why):
            parse_synthetic(bad)


def test_cli_rejects_an_unknown_kind(tmp_path, capsys):
    labeled = write_jsonl(tmp_path / "p.jsonl", preference_rows(20, seed=1))
    args = [
        "--labeled",
        labeled,
        "--label-field",
        "label",
        "--synthetic-negatives",
        "soup,bogus",
        "--output",
        str(tmp_path / "m.bin"),
    ]
    assert run(args) == 2
    assert "unknown kind 'bogus'" in capsys.readouterr().err and not (tmp_path / "m.bin").exists()


def test_synthesize_counts_groups_and_swaps_pair_one_prompt_with_another_answer():
    good = good_rows(40)
    made, counts, skipped = synthesize(
        good, {"soup": 0.5, "inject": 0.25, "swap": 1.0, "corrupt": 0.5}, "conversation", 4000, seed=3
    )
    assert counts == {"soup": 20, "inject": 10, "swap": 40, "corrupt": 20} and skipped == {}
    assert all(m.label == "bad" and m.kind and not m.probe for m in made)
    by_key = {g.split_key: g for g in good}
    assert all(m.group in by_key for m in made)  # each shares its original row's fold
    for m in (m for m in made if m.kind == "swap"):
        original, other = by_key[m.group], by_key[m.also[0]]
        assert other is not original and other.prompt != original.prompt
        # prepared text: the original's prompt, then the other row's answer
        assert m.text == f"{original.prompt} {other.answer}"
    assert len({m.source for m in made}) == 4 and {m.source.split(":")[0] for m in made} == {
        "soup",
        "inject",
        "swap",
        "corrupted",
    }
    # Only good real rows are sources: negatives and generated rows are never copied.
    _, counts2, _ = synthesize(good + made + [Example("x y", "bad", "b", "hb")], {"soup": 0.5}, "conversation", 4000, seed=3)
    assert counts2 == {"soup": 20}


def test_kinds_a_text_view_cannot_show_are_skipped_with_the_reason():
    good = good_rows(20)
    amounts = {"soup": 0.5, "inject": 0.5, "swap": 0.5, "corrupt": 0.5}
    _, counts, skipped = synthesize(good, amounts, "response", 4000, seed=1)
    assert set(counts) == {"soup", "inject", "corrupt"} and "prompt" in skipped["swap"]
    _, counts, skipped = synthesize(good, amounts, "instruction", 4000, seed=1)
    assert set(counts) == {"corrupt"} and set(skipped) == {"soup", "inject", "swap"}
    _, counts, _ = synthesize(good, amounts, "prompt_answer", 4000, seed=1)
    assert counts["swap"] == 10


def test_no_fold_trains_on_its_own_rows_their_negatives_or_their_answers(monkeypatch):
    good = good_rows(60)
    bad = [Example(f"junk{i} words{i}", "bad", "b.jsonl", f"b{i}") for i in range(30)]
    made, _, _ = synthesize(good, {"soup": 0.5, "swap": 1.0, "corrupt": 0.5}, "conversation", 4000, seed=5)
    probes, _, _ = synthesize(good, {"inject": 0.5}, "conversation", 4000, seed=5, probe=True)
    examples = good + bad + made + probes
    seen: list[list[Example]] = []

    def fit(rows):
        seen.append(rows)
        return object()

    monkeypatch.setattr(train_mod, "predict_good", lambda model, rows: np.full(len(rows), 0.5))
    cross_validate_scores(examples, 4, fit)
    assert len(seen) == 4
    for k, train in enumerate(seen):
        held = {e.split_key for e in examples if train_mod.fold_of(e, 4) == k}
        assert not any(e.probe for e in train)
        assert not any(e.split_key in held for e in train)
        assert not any(held.intersection(e.also) for e in train)
    # Swaps whose answer comes from another fold are left out of that fold's training, not of every fold's.
    assert sum(e.kind == "swap" for e in seen[0]) > 0


# ---- training with them ----------------------------------------------------------------------


def test_card_counts_generated_negatives_and_reports_how_well_each_is_caught(tmp_path):
    labeled = write_jsonl(tmp_path / "prefs.jsonl", preference_rows(120, seed=11))
    model = str(tmp_path / "m.bin")
    kinds = "soup=0.5,inject=0.5,swap=0.25,corrupt=0.25"
    assert (
        run(["--labeled", labeled, "--label-field", "label", "--synthetic-negatives", kinds, "--cv", "4", "--output", model]) == 0
    )
    card = card_of(model)
    data, m = card["data"], card["metrics"]
    assert data["synthetic_negatives"] == {"soup": 30, "inject": 30, "swap": 15, "corrupt": 15}
    assert data["synthetic_fractions"] == {"soup": 0.5, "inject": 0.5, "swap": 0.25, "corrupt": 0.25}
    assert data["examples"] == {"good": 60, "bad": 60 + 90}
    assert set(data["probes"]) == {"soup", "inject", "swap", "corrupt"}
    # Headline metrics over the 120 real rows; each generated kind against the real good rows.
    assert m["on"] == "real rows" and m["held_out"] == 120
    assert set(m["generated"]) == {"soup", "inject", "swap", "corrupt"}
    assert m["generated"]["soup"]["roc_auc"] > 0.9 and m["generated"]["inject"]["roc_auc"] > 0.8
    assert m["generated"]["soup"]["rows"] == 30 + data["probes"]["soup"]
    assert "generated negatives vs real good rows" not in str(card["warnings"])


def test_training_on_soup_and_injections_teaches_the_model_to_catch_them(tmp_path):
    # The same data with and without them: probes of every kind are scored either way.
    labeled = write_jsonl(tmp_path / "prefs.jsonl", preference_rows(160, seed=12))
    caught = {}
    for kinds in ("none", "soup=0.5,inject=0.5"):
        model = str(tmp_path / f"{kinds}.bin")
        assert (
            run(["--labeled", labeled, "--label-field", "label", "--synthetic-negatives", kinds, "--cv", "4", "--output", model])
            == 0
        )
        caught[kinds] = {k: g["roc_auc"] for k, g in card_of(model)["metrics"]["generated"].items()}
    assert caught["soup=0.5,inject=0.5"]["soup"] > max(0.95, caught["none"]["soup"])
    assert caught["soup=0.5,inject=0.5"]["inject"] > caught["none"]["inject"] + 0.2


def test_response_model_skips_swaps_and_says_why(tmp_path):
    labeled = write_jsonl(tmp_path / "prefs.jsonl", preference_rows(40, seed=13))
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
                "--synthetic-negatives",
                "swap,soup",
                "--output",
                model,
            ]
        )
        == 0
    )
    data = card_of(model)["data"]
    assert "swap" not in data["synthetic_negatives"] and data["synthetic_negatives"]["soup"] == 2
    assert "--text response" in data["synthetic_skipped"]["swap"]


# ---- validation record and warnings -------------------------------------------------------------


def test_weak_model_warns_on_stderr_and_in_the_card(tmp_path, capsys):
    rng = random.Random(5)
    rows = [
        {"instruction": f"q{i}", "input": "", "output": " ".join(f"w{i}x{j}" for j in range(6)), "label": rng.random() < 0.5}
        for i in range(160)
    ]
    labeled = write_jsonl(tmp_path / "random.jsonl", rows)
    model = str(tmp_path / "weak.bin")
    assert run(["--labeled", labeled, "--label-field", "label", "--text", "response", "--cv", "4", "--output", model]) == 0
    captured = capsys.readouterr()
    card = card_of(model)
    v = card["validation"]
    assert v["metric"] == "roc_auc" and v["value"] < 0.7 and v["rows"] == 160 and v["cv_folds"] == 4
    assert v["value"] == round(card["metrics"]["cv"]["roc_auc"]["mean"], 4)
    weight = max(0.0, min(1.0, (v["value"] - 0.5) / 0.4))
    assert len(card["warnings"]) == 1
    warning = card["warnings"][0]
    assert "barely separates" in warning and f"{v['value']:.3f}" in warning and f"x{weight:.2f}" in warning
    assert f"winnow: warning: {warning}" in captured.err
    assert f"composite weight x{weight:.2f}" in captured.out


def test_strong_model_has_no_warning_and_a_tight_interval(tmp_path, capsys):
    pos = write_jsonl(tmp_path / "pos.jsonl", corpus_rows(80, GOOD_WORDS, seed=2))
    neg = write_jsonl(tmp_path / "neg.jsonl", corpus_rows(80, BAD_WORDS, seed=3))
    model = str(tmp_path / "s.bin")
    assert run(["--positive", pos, "--negative", neg, "--cv", "4", "--output", model]) == 0
    assert "warning" not in capsys.readouterr().err
    card = card_of(model)
    v = card["validation"]
    assert card["warnings"] == [] and v["metric"] == "roc_auc" and v["value"] > 0.9 and v["rows"] == 160
    lo, hi = v["ci95"]
    assert lo <= hi and hi - lo < 0.15 and lo > 0.8


def test_one_input_that_the_model_barely_ranks_is_named(tmp_path, capsys):
    # Corpora that separate well, and a labelled set whose labels are noise: the overall figure hides it.
    rng = random.Random(8)
    noise = [dict(r, label=rng.random() < 0.5) for r in corpus_rows(80, GOOD_WORDS + BAD_WORDS, seed=9)]
    labeled = write_jsonl(tmp_path / "noise.jsonl", noise)
    pos = write_jsonl(tmp_path / "pos.jsonl", corpus_rows(150, GOOD_WORDS, seed=2))
    neg = write_jsonl(tmp_path / "neg.jsonl", corpus_rows(150, BAD_WORDS, seed=3))
    model = str(tmp_path / "j.bin")
    args = ["--labeled", labeled, "--label-field", "label", "--positive", pos, "--negative", neg, "--cv", "4", "--output", model]
    assert run(args) == 0
    card = card_of(model)
    assert card["validation"]["value"] >= 0.7
    assert [w for w in card["warnings"] if w.startswith("noise.jsonl: ROC-AUC")]
    assert "noise.jsonl: ROC-AUC" in capsys.readouterr().err


def test_held_out_split_validation_uses_the_held_out_value(tmp_path):
    pos = write_jsonl(tmp_path / "pos.jsonl", corpus_rows(80, GOOD_WORDS, seed=4))
    neg = write_jsonl(tmp_path / "neg.jsonl", corpus_rows(80, BAD_WORDS, seed=5))
    model = str(tmp_path / "h.bin")
    assert run(["--positive", pos, "--negative", neg, "--cv", "0", "--output", model]) == 0
    card = card_of(model)
    v, m = card["validation"], card["metrics"]
    assert v["cv_folds"] == 0 and v["value"] == round(m["roc_auc"], 4) and v["rows"] == m["held_out"] < 160


# ---- model size ------------------------------------------------------------------------------


def test_auto_bucket_is_a_bounded_power_of_two_over_the_repeated_ngrams(monkeypatch):
    assert auto_bucket(["a b c"], 1) == (0, 0)  # no word n-grams: fastText needs no table
    texts = [f"a{i} b{i} c{i}" for i in range(3000)] * 2  # 6000 distinct bigrams, each seen twice
    bucket, repeated = auto_bucket(texts, 2)
    assert train_mod.BUCKETS_PER_REPEATED == 0.25
    assert repeated == 6000 and bucket == 2048  # the power of two at or above 6000 / 4
    bucket3, repeated3 = auto_bucket(texts, 3)
    assert repeated3 == 9000 and bucket3 == 4096  # and 3000 trigrams
    assert auto_bucket([f"u{i} v{i}" for i in range(100)], 2) == (train_mod.MIN_BUCKET, 0)  # nothing repeats
    monkeypatch.setattr(train_mod, "MAX_BUCKET", 1024)
    assert auto_bucket(texts, 2)[0] == 1024
    monkeypatch.setattr(train_mod, "MAX_BUCKET", 1 << 21)
    monkeypatch.setattr(train_mod, "BUCKET_SAMPLE_TOKENS", 6000)  # counted on a sample (a third), scaled up: an estimate
    b, r = auto_bucket(texts, 2)
    assert 0 < r <= 6000 and b == max(train_mod.MIN_BUCKET, 1 << (-(-r // 4) - 1).bit_length())


def test_auto_bucket_model_is_a_fraction_of_the_fixed_table_and_as_good(tmp_path):
    pos = write_jsonl(tmp_path / "pos.jsonl", corpus_rows(100, GOOD_WORDS, seed=6))
    neg = write_jsonl(tmp_path / "neg.jsonl", corpus_rows(100, BAD_WORDS, seed=7))
    base = ["train-quality", "--positive", pos, "--negative", neg, "--epoch", "10", "--word-ngrams", "2", "--cv", "3"]
    auto, fixed = str(tmp_path / "auto.bin"), str(tmp_path / "fixed.bin")
    assert main([*base, "--output", auto]) == 0
    assert main([*base, "--bucket", "200000", "--output", fixed]) == 0
    a, f = card_of(auto), card_of(fixed)
    assert a["hyperparameters"]["bucket_rule"] == "auto" and a["hyperparameters"]["bucket"] < 200_000
    assert a["size_bytes"] == os.path.getsize(auto) and a["size_bytes"] * 10 < f["size_bytes"]
    assert a["validation"]["value"] >= f["validation"]["value"] - 0.02
    assert main([*base, "--bucket", "lots", "--output", str(tmp_path / "x.bin")]) == 2


def test_quantized_model_loads_and_scores_like_the_full_one(tmp_path):
    pos = write_jsonl(tmp_path / "pos.jsonl", corpus_rows(100, GOOD_WORDS, seed=6))
    neg = write_jsonl(tmp_path / "neg.jsonl", corpus_rows(100, BAD_WORDS, seed=7))
    full, small = str(tmp_path / "full.bin"), str(tmp_path / "small.ftz")
    base = ["--positive", pos, "--negative", neg, "--word-ngrams", "2", "--dim", "16", "--cv", "3"]
    assert run([*base, "--output", full]) == 0
    assert run([*base, "--quantize", "--output", small]) == 0
    card = card_of(small)
    assert card["hyperparameters"]["quantized"] is True and card["size_bytes"] < card_of(full)["size_bytes"]
    assert card["validation"]["value"] > 0.9
    texts = ["the plan steady review carefully", "casino bonus promo click now"]
    labels, probs = predict_proba(models.load_fasttext(small), texts)
    good = probs[:, labels.index("good")]
    assert good[0] > 0.5 > good[1]
