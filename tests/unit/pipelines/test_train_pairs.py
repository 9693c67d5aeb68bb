"""`winnow train-quality --pairs`: chosen/rejected pairs in any format winnow reads (DPO-style rows,
or KTO-style rows whose good and bad answers share a prompt), folds by prompt, and cross-validated
pairwise accuracy as the model card's validation metric. Fixtures are generated here; the real-data
check reads ../shared/data at run time and skips when it is absent.
"""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
from conftest import SHARED_DATA, card_of, write_jsonl
from test_train import BAD_WORDS, FILLER, GOOD_WORDS, answer, run

from winnow.pipelines.train import Example, fold_of, metrics_of, pair_side, read_pairs
from winnow.transforms.config import load_config
from winnow.transforms.io.formats import FieldMap, map_row

FM = FieldMap.from_config(load_config())


def dpo_row(style: int, prompt: str, chosen: str, rejected: str) -> dict:
    """One chosen/rejected row in one of the formats preference sets come in."""
    if style == 0:  # alpaca-style (LLaMA-Factory)
        return {"instruction": prompt, "input": "", "chosen": chosen, "rejected": rejected}
    if style == 1:  # sharegpt with message objects (LLaMA-Factory)
        return {
            "conversations": [{"from": "human", "value": prompt}],
            "chosen": {"from": "gpt", "value": chosen},
            "rejected": {"from": "gpt", "value": rejected},
        }
    if style == 2:  # messages, chosen/rejected as message lists
        return {
            "messages": [{"role": "user", "content": prompt}],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
        }
    if style == 3:  # TRL standard: prompt, chosen, rejected strings
        return {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    # TRL conversational with an implicit prompt: whole conversations
    user = {"role": "user", "content": prompt}
    return {
        "chosen": [user, {"role": "assistant", "content": chosen}],
        "rejected": [user, {"role": "assistant", "content": rejected}],
    }


def dpo_rows(n: int, seed: int, repeat_every: int = 0) -> list[dict]:
    """n pairs over the five styles; every `repeat_every`-th row reuses the previous row's prompt."""
    rng = random.Random(seed)
    rows, prompt = [], ""
    for i in range(n):
        if not (repeat_every and i % repeat_every == 0 and i):
            prompt = f"request {i} about " + " ".join(rng.sample(FILLER, 4))
        rows.append(dpo_row(i % 5, prompt, answer(rng, GOOD_WORDS), answer(rng, BAD_WORDS)))
    return rows


@pytest.mark.parametrize("style", range(5))
def test_each_side_of_a_pair_row_normalizes_to_the_prompt_and_that_answer(style):
    row = dpo_row(style, "How do I boil an egg?", "Simmer it for nine minutes.", "eggs are overrated")
    for side in ("chosen", "rejected"):
        m = map_row(pair_side(row, row[side], FM), FM)
        assert [t["role"] for t in m.turns] == ["user", "assistant"]
        assert m.turns[0]["content"] == "How do I boil an egg?" and m.turns[1]["content"] == row_answer(row[side])
        assert "chosen" not in m.meta and "rejected" not in m.meta


def row_answer(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return value.get("value") or value.get("content")
    return value[-1]["content"]


def test_pair_side_keeps_the_system_prompt_and_history_and_restyles_mixed_messages():
    row = {
        "conversations": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}],
        "chosen": {"from": "gpt", "value": "Hello."},  # the other key style than the prompt's
        "rejected": "Go away.",
    }
    m = map_row(pair_side(row, row["chosen"], FM), FM)
    assert m.system == "Be brief." and m.turns == [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]
    alpaca = {"instruction": "Next?", "input": "", "history": [["First?", "One."]], "chosen": "Two.", "rejected": "Zzz"}
    m = map_row(pair_side(alpaca, alpaca["rejected"], FM), FM)
    assert [t["content"] for t in m.turns] == ["First?", "One.", "Next?", "Zzz"]
    text = {"chosen": "Human: hi Assistant: hello", "rejected": "Human: hi Assistant: bye"}  # prompt-less strings: text rows
    assert map_row(pair_side(text, text["chosen"], FM), FM).format == "text"


def test_read_pairs_groups_by_prompt_across_formats(tmp_path):
    rows = dpo_rows(40, seed=1, repeat_every=4)  # rows 4, 8, ... reuse the prompt of the row before, in another format
    rows.append(dpo_row(0, "same answer twice", "identical", "identical"))
    rows.append({"instruction": "only one side", "input": "", "chosen": "x"})  # not a pair, no label: skipped
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    ps, skipped = read_pairs([path], "conversation", 4000)
    assert ps.stats["pair_rows"] == 41 and ps.stats["pairs_from_pair_rows"] == 40 and ps.stats["identical_pairs"] == 1
    assert len(ps.pairs) == 40 and skipped == 1
    assert sum(e.label == "good" for e in ps.examples) == 40 and sum(e.label == "bad" for e in ps.examples) == 40
    groups = {}
    for c, r in ps.pairs:
        assert ps.examples[c].label == "good" and ps.examples[r].label == "bad"
        assert ps.examples[c].group == ps.examples[r].group
        groups.setdefault(ps.examples[c].group, []).append(c)
    assert len(groups) == 40 - 9  # nine prompts appear twice
    for members in groups.values():
        assert len({fold_of(ps.examples[i], 5) for i in members}) == 1


def test_kto_style_rows_pair_good_and_bad_answers_of_one_prompt(tmp_path):
    rng = random.Random(3)
    rows = []
    for i in range(30):
        prompt = [{"role": "user", "content": f"prompt {i} " + " ".join(rng.sample(FILLER, 3))}]
        rows.append({"messages": [*prompt, {"role": "assistant", "content": answer(rng, GOOD_WORDS)}], "kto_tag": True})
        rows.append({"messages": [*prompt, {"role": "assistant", "content": answer(rng, BAD_WORDS)}], "kto_tag": False})
        if i % 10 == 0:  # a second good answer: two pairs for this prompt
            rows.append({"messages": [*prompt, {"role": "assistant", "content": answer(rng, GOOD_WORDS)}], "kto_tag": True})
    rows.append({"messages": [{"role": "user", "content": "alone"}, {"role": "assistant", "content": "a"}], "kto_tag": True})
    ps, skipped = read_pairs([write_jsonl(tmp_path / "kto.jsonl", rows)], "response", 4000)
    assert skipped == 0 and ps.stats["labelled_rows"] == len(rows) and ps.stats["pairs_from_labels"] == 33
    assert len(ps.examples) == len(rows)  # the unpaired row still trains


def test_pairwise_accuracy_counts_ties_half():
    ex = [Example(f"t{i}", "good" if i % 2 == 0 else "bad", "s", f"h{i}") for i in range(6)]
    p = np.array([0.9, 0.2, 0.4, 0.6, 0.5, 0.5])
    m = metrics_of(p, ex, [(0, 1), (2, 3), (4, 5)])
    assert m["pairwise_accuracy"] == pytest.approx((1 + 0 + 0.5) / 3) and m["pairs"] == 3


def test_pairs_train_a_model_validated_by_cross_validated_pairwise_accuracy(tmp_path, capsys):
    path = write_jsonl(tmp_path / "dpo.jsonl", dpo_rows(120, seed=2, repeat_every=6))
    model = str(tmp_path / "p.bin")
    assert run(["--pairs", path, "--cv", "4", "--output", model]) == 0
    out = capsys.readouterr()
    card = card_of(model)
    v, m, data = card["validation"], card["metrics"], card["data"]
    assert v["metric"] == "pairwise_accuracy" and v["unit"] == "pairs" and v["rows"] == 120 and v["cv_folds"] == 4
    assert v["value"] == round(m["cv"]["pairwise_accuracy"]["mean"], 4) and v["value"] > 0.85
    lo, hi = v["ci95"]
    assert lo <= m["pairwise_accuracy"] <= hi and hi - lo < 0.2
    assert len(m["cv"]["pairwise_accuracy"]["folds"]) == 4 and m["pairs"] == 120
    assert data["pairs"] == [path] and data["pairs_formed"]["pairs"] == 120
    assert data["examples"]["good"] == 120 and data["examples"]["bad"] == 120 + sum(data["synthetic_negatives"].values())
    assert card["warnings"] == [] and "pairwise accuracy" in out.out and "on 120 pairs" in out.out


def test_pairs_with_one_held_out_split_are_validated_on_the_held_out_pairs(tmp_path):
    path = write_jsonl(tmp_path / "dpo.jsonl", dpo_rows(250, seed=6, repeat_every=5))
    model = str(tmp_path / "s.bin")
    assert run(["--pairs", path, "--cv", "0", "--output", model]) == 0
    card = card_of(model)
    v, m = card["validation"], card["metrics"]
    assert v["metric"] == "pairwise_accuracy" and v["cv_folds"] == 0 and "cv" not in m
    assert 30 <= v["rows"] == m["pairs"] < 120 and v["value"] == round(m["pairwise_accuracy"], 4) > 0.85
    assert v["rows"] * 2 <= card["data"]["held_out"]  # both answers of each held-out pair are held out


def test_pairs_whose_labels_are_noise_warn_by_pairwise_accuracy(tmp_path, capsys):
    rng = random.Random(4)
    rows = []
    for i in range(80):
        a, b = answer(rng, GOOD_WORDS + BAD_WORDS), answer(rng, GOOD_WORDS + BAD_WORDS)
        rows.append(dpo_row(i % 5, f"request {i} " + " ".join(rng.sample(FILLER, 3)), a, b))
    model = str(tmp_path / "n.bin")
    assert run(["--pairs", write_jsonl(tmp_path / "noise.jsonl", rows), "--cv", "4", "--output", model]) == 0
    card = card_of(model)
    assert card["validation"]["metric"] == "pairwise_accuracy" and card["validation"]["value"] < 0.7
    assert any("pairwise accuracy" in w and "barely separates" in w for w in card["warnings"])
    assert "barely separates" in capsys.readouterr().err


def test_too_few_pairs_fall_back_to_roc_auc_with_a_warning(tmp_path, capsys):
    rng = random.Random(5)
    rows = []
    for i in range(60):  # 60 unpaired labelled rows, and 5 prompts with both labels
        prompt = [{"role": "user", "content": f"p{i} " + " ".join(rng.sample(FILLER, 3))}]
        good = i % 2 == 0
        rows.append(
            {
                "messages": [*prompt, {"role": "assistant", "content": answer(rng, GOOD_WORDS if good else BAD_WORDS)}],
                "label": good,
            }
        )
        if i < 5:
            rows.append(
                {
                    "messages": [*prompt, {"role": "assistant", "content": answer(rng, BAD_WORDS if good else GOOD_WORDS)}],
                    "label": not good,
                }
            )
    model = str(tmp_path / "few.bin")
    assert run(["--pairs", write_jsonl(tmp_path / "few.jsonl", rows), "--cv", "4", "--output", model]) == 0
    card = card_of(model)
    assert card["data"]["pairs_formed"]["pairs"] == 5 and card["validation"]["metric"] == "roc_auc"
    assert card["validation"]["rows"] == 65
    assert any(w.startswith("only 5 chosen/rejected pair(s)") for w in card["warnings"])
    assert "only 5 chosen/rejected pair(s)" in capsys.readouterr().err


KTO = os.path.join(SHARED_DATA, "llamafactory", "kto_en_demo.json")


@pytest.mark.skipif(not os.path.exists(KTO), reason="../shared/data is not here")
def test_the_kto_demo_has_too_few_shared_prompts_for_pairs(tmp_path):
    model = str(tmp_path / "kto.bin")
    assert run(["--pairs", KTO, "--text", "response", "--cv", "5", "--output", model]) == 0
    card = card_of(model)
    formed = card["data"]["pairs_formed"]
    assert formed["labelled_rows"] == 300 and formed["pairs"] < 30  # one answer per prompt, nearly always
    assert card["validation"]["metric"] == "roc_auc" and card["validation"]["rows"] == 300
