"""`winnow train-endings` then `winnow score --endings-model`: a cut answer is scored down, a whole one is not."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from conftest import read_records, score, write_jsonl

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "signals"))
from test_endings import _answer

from winnow.pipelines.cli import main
from winnow.transforms.config import load_config
from winnow.transforms.signals import endings
from winnow.transforms.state.fingerprints import referenced_files

pytestmark = pytest.mark.slow


def _rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = [
        {
            "id": f"r{i}",
            "instruction": f"Question {i} about the {rng.choice(['river', 'engine'])}?",
            "input": "",
            "output": _answer(rng),
        }
        for i in range(n)
    ]
    for r in rows[:20]:  # cut answers, as a token limit leaves them
        r["id"] = "cut-" + r["id"]
        r["output"] = endings.cut_answer(r["output"], rng) or r["output"][:-1]
    return rows


def test_train_then_score_with_the_model_scores_cut_answers_down(tmp_path, capsys) -> None:
    data = write_jsonl(tmp_path / "rows.jsonl", _rows(900, seed=5))
    model = tmp_path / "endings.npz"
    assert main(["train-endings", data, "--output", str(model)]) == 0
    printed = capsys.readouterr().out
    assert "cross-fitted" in printed and "ROC-AUC" in printed and model.exists()

    out = tmp_path / "out"
    assert score(data, out, "--endings-model", str(model)) == 0
    assert "endings model (" in capsys.readouterr().err  # the plan names it and its validation
    rows = read_records(out, by_id=True)
    cut = [r for i, r in rows.items() if i.startswith("cut-") and r["response_cut_score"] is not None]
    whole = [r for i, r in rows.items() if not i.startswith("cut-")]
    assert len(cut) >= 12  # cuts of 8+ words
    assert sum(r["response_cut_score"] > 0.8 for r in cut) >= 0.8 * len(cut)
    assert sum((r["response_cut_score"] or 0) > 0.8 for r in whole) <= 0.02 * len(whole)
    # Cuts the sentence rule cannot see (the list item or sum cut with no earlier sentence closed on its line):
    # the model's word shuts the gate.
    model_only = [r for r in cut if r["response_cut_score"] > 0.99 and not r["response_ends_mid_sentence"]]
    assert model_only and all("gate completeness 0.25" in r["composite_explain"] for r in model_only)


def test_a_missing_or_foreign_model_is_a_clear_error_before_any_row_is_read(tmp_path, capsys) -> None:
    data = write_jsonl(tmp_path / "rows.jsonl", _rows(30, seed=6))
    assert score(data, tmp_path / "out", "--endings-model", str(tmp_path / "none.npz")) == 2
    assert "does not exist" in capsys.readouterr().err
    foreign = tmp_path / "foreign.npz"
    foreign.write_bytes(b"PK\x03\x04 not a model")
    assert score(data, tmp_path / "out2", "--endings-model", str(foreign)) == 2
    assert "not an endings model" in capsys.readouterr().err


def test_a_night_depends_on_the_endings_model_file(tmp_path) -> None:
    path = tmp_path / "endings.npz"
    path.write_bytes(b"x")
    config = load_config(overrides={"signals": {"endings": {"model": str(path)}}})
    assert str(path) in referenced_files(config)
    assert str(path) not in referenced_files(load_config())


def test_too_few_answers_to_learn_from_is_a_clear_error_and_writes_no_model(tmp_path, capsys) -> None:
    data = write_jsonl(tmp_path / "rows.jsonl", _rows(40, seed=7))
    model = tmp_path / "endings.npz"
    assert main(["train-endings", data, "--output", str(model)]) == 2
    assert "too few answers of 8+ words" in capsys.readouterr().err
    assert not model.exists()
