"""Prompt-independent answers are counted over the whole dataset, across files and batches, before scoring."""

from __future__ import annotations

import pytest
from conftest import alpaca, read_dataset_json, read_records, score, write_jsonl

pytestmark = pytest.mark.slow

PAYLOAD = "Honestly, it varies a great deal, so think it through carefully and weigh every option before you decide anything."
SUBJECTS = ["volcanoes", "tax law", "baking", "the French revolution", "sorting", "tidal energy", "chess", "glaciers"]


def test_one_answer_over_two_files_and_many_batches_is_counted_once_per_prompt(tmp_path):
    prompts = [f"Explain {s} to a student in detail, lesson {i}." for i in range(15) for s in SUBJECTS]  # 120
    (tmp_path / "in").mkdir()
    write_jsonl(tmp_path / "in" / "a.jsonl", [alpaca(f"a{i}", p, PAYLOAD) for i, p in enumerate(prompts[:60])])
    rows_b = [alpaca(f"b{i}", p, PAYLOAD) for i, p in enumerate(prompts[60:])]
    rows_b += [
        alpaca(
            "own",
            "Name three primary colours and say why they are called primary.",
            ("Red, yellow and blue are the traditional primary colours: painters mix every other colour from them."),
        )
    ]
    write_jsonl(tmp_path / "in" / "b.jsonl", rows_b)
    # Batches of 16 rows: no batch alone holds the 100 prompts the drop rule needs.
    assert score(str(tmp_path / "in"), tmp_path / "out", config={"input": {"batch_size": 16}}) == 0
    records = read_records(tmp_path / "out", by_id=True)
    assert records["own"]["answer_reuse_prompts"] is None
    copied = [r for i, r in records.items() if i != "own"]
    assert len(copied) == 120
    assert {r["answer_reuse_prompts"] for r in copied} == {120}
    assert all("prompt_independent_answer" in r["flags"] and r["composite"] == 0 for r in copied)
    assert read_dataset_json(tmp_path / "out")["rows_scored"] == 121


def test_switched_off_there_is_no_column_and_no_pass(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [alpaca(f"r{i}", f"Question {i} about {s}?", PAYLOAD) for i, s in enumerate(SUBJECTS)])
    # Rules that read the column must go too: a rule never silently reads a missing column.
    config = {"signals": {"answer_reuse": {"enabled": False}}, "disable_rules": ["prompt_independent_answer", "stock_answer"]}
    assert score(str(tmp_path / "in.jsonl"), tmp_path / "out", config=config) == 0
    records = read_records(tmp_path / "out")
    assert "answer_reuse_prompts" not in records.column_names
