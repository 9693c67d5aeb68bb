"""`winnow score`'s plan with per-source overrides: one line per sources entry with the files it
takes, a warning for an entry that takes none, and rule names checked before any row is read."""

from __future__ import annotations

import io

import pytest
from conftest import alpaca, write_files

from winnow.pipelines.score import make_plan, print_plan
from winnow.transforms.config import load_config
from winnow.transforms.configfiles import ConfigError


def corpus(tmp_path) -> str:
    row = [alpaca(None, "Add 2 and 3.", "2 + 3 = 5.")]
    write_files(tmp_path / "data" / "gsm8k", {"train.jsonl": row, "test.jsonl": row})
    write_files(tmp_path / "data" / "chat", {"a.jsonl": row})
    return str(tmp_path / "data")


def test_the_plan_shows_each_source_and_warns_about_one_matching_no_file(tmp_path):
    config = load_config(
        overrides={
            "sources": [
                {"name": "math", "match": "data/gsm8k/*", "disable_rules": ["excessive_repetition"]},
                {"name": "poems", "match": ["poems/*.jsonl", "verse/*"]},
            ]
        }
    )
    plan = make_plan([corpus(tmp_path)], str(tmp_path / "out"), config, "DirectRunner")
    out = io.StringIO()
    print_plan(plan, out=out)
    lines = [line.strip() for line in out.getvalue().splitlines()]
    assert "source 'math' (data/gsm8k/*): 2 files; rules off: excessive_repetition" in lines
    assert "source 'poems' (poems/*.jsonl, verse/*): 0 files" in lines
    assert "warning: source 'poems' (poems/*.jsonl, verse/*) matches no input file" in lines
    assert len(plan.rules) == len(make_plan([corpus(tmp_path)], str(tmp_path / "o2"), load_config(), "DirectRunner").rules)


def test_the_plan_fails_on_a_rule_no_pack_defines(tmp_path):
    config = load_config(overrides={"sources": [{"name": "math", "match": "gsm8k/*", "disable_rules": ["repetition"]}]})
    with pytest.raises(
        ConfigError, match=r"sources\[0\]\.disable_rules: no rule named 'repetition'; did you mean excessive_repetition\?"
    ):
        make_plan([corpus(tmp_path)], str(tmp_path / "out"), config, "DirectRunner")
