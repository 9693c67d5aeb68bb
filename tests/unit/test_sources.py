"""Per-source overrides (winnow.transforms.sources): which entry a shard takes, its effective
config, the rules its scorer applies, the config errors, and the plan's lines."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import alpaca, canonical_batch

from winnow.transforms import sources
from winnow.transforms.config import Config, load_config
from winnow.transforms.configfiles import ConfigError
from winnow.transforms.dedup.params import DedupParams
from winnow.transforms.dedup.signer import Signer
from winnow.transforms.io.inputs import Shard
from winnow.transforms.keep_policy import KeepPolicy, with_decisions
from winnow.transforms.signals.rules import load_rules
from winnow.transforms.signals.scorer import Scorer

BASE = load_config()
RULES = load_rules(BASE.rules, BASE.disable_rules)

# A long answer that says one line over and over: excessive_repetition (warn) by default.
LOOPING = "\n".join(["Keep stirring the sauce slowly over a low flame until it thickens nicely."] * 8)
PLAIN = "Simmer the tomatoes with garlic, then season with salt and basil before serving."


def config_with(*entries: dict[str, Any], **top: Any) -> Config:
    return load_config(overrides={"sources": list(entries), **top})


def shard(path: str, name: str, index: int = 0) -> Shard:
    return Shard(index, path, name, 100)


def score_as(config: Config, path: str, name: str, rows: list[dict]) -> list[dict]:
    """Score rows as the ScoreShardFn does for one shard: the shard's config, the plan's rule list."""
    scorer = Scorer(sources.config_for_shard(config, path, name), RULES)
    return scorer.score(canonical_batch(rows, name, config=config)).to_pylist()


# ---- matching ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    ["gsm8k/*", "data/gsm8k/*.jsonl", "/corpus/data/gsm8k/*", "**/gsm8k/**", "*gsm8k*", "train.jsonl", "gsm8k/train.*"],
)
def test_a_glob_matches_the_path_the_name_or_a_tail_of_the_path(pattern):
    assert sources.matches([pattern], "/corpus/data/gsm8k/train.jsonl", "gsm8k/train.jsonl")


@pytest.mark.parametrize("pattern", ["gsm8k", "math/*", "data/*.jsonl.gz", "/data/gsm8k/*", "GSM8K/*"])
def test_a_glob_must_match_a_whole_path_segment_tail(pattern):
    assert not sources.matches([pattern], "/corpus/data/gsm8k/train.jsonl", "gsm8k/train.jsonl")


def test_the_first_matching_entry_wins_and_no_match_gives_the_config_itself():
    config = config_with(
        {"name": "math", "match": ["gsm8k/*", "math/*"], "disable_rules": ["excessive_repetition"]},
        {"name": "all", "match": "*", "rule_severity": {"excessive_repetition": "drop"}},
    )
    assert sources.source_index(config, "/d/math/a.jsonl", "math/a.jsonl") == 0
    assert sources.source_index(config, "/d/chat/a.jsonl", "chat/a.jsonl") == 1
    plain = config_with({"match": "gsm8k/*"})
    assert sources.config_for_shard(plain, "/d/chat/a.jsonl", "chat/a.jsonl") is plain


def test_effective_config_adds_disabled_rules_merges_severities_and_is_cached():
    config = config_with(
        {"match": "math/*", "disable_rules": ["excessive_repetition"], "rule_severity": {"truncated_response": "info"}},
        disable_rules=["media_request"],
        rule_severity={"stock_answer": "drop"},
    )
    math = sources.config_for_shard(config, "/d/math/a.jsonl", "math/a.jsonl")
    assert math.disable_rules == ["media_request", "excessive_repetition"]
    assert math.rule_severity == {"stock_answer": "drop", "truncated_response": "info"}
    assert math.sources == []  # one source's config already: no further overrides
    assert math.dedup == config.dedup and math.signals == config.signals
    assert sources.config_for_shard(config, "/d/math/b.jsonl", "math/b.jsonl") is math  # built once
    assert config.disable_rules == ["media_request"]  # the run's config is untouched


# ---- rules ---------------------------------------------------------------------------------


def test_a_rule_disabled_for_a_source_does_not_fire_there_and_still_fires_elsewhere():
    config = config_with({"name": "math", "match": "math/*", "disable_rules": ["excessive_repetition"]})
    rows = [alpaca("r1", "How do I thicken a sauce?", LOOPING), alpaca("r2", "Make a tomato sauce.", PLAIN)]
    math = score_as(config, "/d/math/a.jsonl", "math/a.jsonl", rows)
    chat = score_as(config, "/d/chat/a.jsonl", "chat/a.jsonl", rows)
    assert "excessive_repetition" in chat[0]["flags"] and chat[0]["severity"] == "warn"
    assert "excessive_repetition" not in math[0]["flags"] and math[0]["severity"] == ""
    assert math[1]["flags"] == chat[1]["flags"]


def test_a_severity_override_sets_the_rows_severity_for_that_source_only():
    config = config_with({"match": "strict/*", "rule_severity": {"excessive_repetition": "drop"}})
    rows = [alpaca("r1", "How do I thicken a sauce?", LOOPING)]
    strict = score_as(config, "/d/strict/a.jsonl", "strict/a.jsonl", rows)
    other = score_as(config, "/d/other/a.jsonl", "other/a.jsonl", rows)
    assert strict[0]["flags"] == other[0]["flags"] and "excessive_repetition" in strict[0]["flags"]
    assert (strict[0]["severity"], other[0]["severity"]) == ("drop", "warn")


def test_top_level_rule_severity_is_checked_and_applied_by_load_rules():
    rules = load_rules(["instruction"], [], {"excessive_repetition": "info"})
    assert next(r for r in rules if r.name == "excessive_repetition").severity == "info"
    with pytest.raises(
        ConfigError, match=r"rule_severity: no rule named 'excessive_repetiton'; did you mean excessive_repetition\?"
    ):
        load_rules(["instruction"], [], {"excessive_repetiton": "info"})


def test_scorers_of_sources_share_the_loaded_models():
    config = config_with({"match": "math/*", "disable_rules": ["excessive_repetition"]})
    base = Scorer(config, RULES)
    base.load_models()
    math = base.for_config(sources.config_for_shard(config, "/d/math/a.jsonl", "math/a.jsonl"))
    assert math._resources is base._resources
    assert "excessive_repetition" not in {r.name for r in math.rules}
    other = base.for_config(load_config(overrides={"taxonomy": {"min_rows": 2}}))
    assert other._resources is not base._resources  # a signal's settings differ: its own models


# ---- config errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry, message",
    [
        (
            {"match": "a/*", "disable_rule": ["x"]},
            r"unknown config key sources\[0\]\.disable_rule; did you mean sources\[0\]\.disable_rules\?",
        ),
        (
            {"match": "a/*", "dedup": {"txt": "input_answer"}},
            r"unknown config key sources\[0\]\.dedup\.txt; did you mean sources\[0\]\.dedup\.text\?",
        ),
        (
            {"match": "a/*", "dedup": {"ngram": 5}},
            r"config key sources\[0\]\.dedup\.ngram: only dedup\.text can be set per source",
        ),
        (
            {"match": "a/*", "dedup": {"text": "response"}},
            r"sources\[0\]\.dedup\.text: response compares 1 text\(s\) per row and dedup\.text prompt_answer 2",
        ),
        ({"match": "a/*", "dedup": {"text": "answer"}}, r"config key sources\[0\]\.dedup\.text: must be one of"),
        ({"match": "a/*", "rule_severity": {"x": "fatal"}}, r"config key sources\[0\]\.rule_severity\.x: must be one of"),
        ({"match": []}, r"config key sources\[0\]\.match: must be a glob or a non-empty list of globs"),
        ({"name": "m"}, r"config key sources\[0\]\.match is missing"),
    ],
)
def test_config_errors_name_the_key(entry, message):
    with pytest.raises(ConfigError, match=message):
        config_with(entry)


def test_a_per_source_text_must_have_the_run_texts_parts():
    config = config_with({"match": "a/*", "dedup": {"text": "instruction"}}, dedup={"text": "response"})
    assert sources.source_config(config, 0).dedup.text == "instruction"
    assert config_with({"match": "a/*", "dedup": {"text": "input_answer"}}).sources[0].dedup == {"text": "input_answer"}
    with pytest.raises(ConfigError, match=r"may only use prompt_answer or input_answer here"):
        config_with({"match": "a/*", "dedup": {"text": "conversation"}})


def test_entry_names_are_unique():
    with pytest.raises(ConfigError, match="config key sources: each entry needs its own name; m is used twice"):
        config_with({"name": "m", "match": "a/*"}, {"name": "m", "match": "b/*"})


def test_rule_names_are_checked_against_the_loaded_rules_with_the_closest_name():
    names = [r.name for r in RULES]
    sources.check_rule_names(config_with({"match": "a/*", "disable_rules": ["excessive_repetition"]}), names)
    bad = config_with({"match": "a/*"}, {"match": "b/*", "disable_rules": ["repetition"]})
    with pytest.raises(
        ConfigError, match=r"sources\[1\]\.disable_rules: no rule named 'repetition'; did you mean excessive_repetition\?"
    ):
        sources.check_rule_names(bad, names)
    bad = config_with({"match": "a/*", "rule_severity": {"stock_answr": "drop"}})
    with pytest.raises(
        ConfigError, match=r"sources\[0\]\.rule_severity: no rule named 'stock_answr'; did you mean stock_answer\?"
    ):
        sources.check_rule_names(bad, names)
    off = config_with({"match": "a/*", "rule_severity": {"stock_answer": "drop"}}, disable_rules=["stock_answer"])
    with pytest.raises(ConfigError, match=r"sources\[0\]\.rule_severity: rule stock_answer is switched off by disable_rules"):
        sources.check_rule_names(off, [n for n in names if n != "stock_answer"])


def test_section_overrides_are_merged_over_the_top_level_section_and_validated_by_its_model():
    config = config_with(
        {"match": "a/*", "keep": {"drop_severities": ["warn", "drop"]}, "dedup": {"text": "input_answer"}},
        keep={"min": {"composite": 0.2}},
        dedup={"threshold": 0.4},
    )
    effective = sources.source_config(config, 0)
    assert effective.keep.drop_severities == ["warn", "drop"] and effective.keep.min == {"composite": 0.2}
    assert effective.dedup.text == "input_answer" and effective.dedup.threshold == 0.4
    assert config.keep.drop_severities == ["drop"]
    with pytest.raises(
        ConfigError,
        match=r"unknown config key sources\[0\]\.keep\.drop_severity; did you mean sources\[0\]\.keep\.drop_severities\?",
    ):
        config_with({"match": "a/*", "keep": {"drop_severity": ["warn"]}})
    with pytest.raises(ConfigError, match=r"config key sources\[0\]\.keep\.on_missing: must be one of"):
        config_with({"match": "a/*", "keep": {"on_missing": "skip"}})


def test_a_keep_override_decides_for_its_sources_rows_only():
    config = config_with({"match": "strict/*", "keep": {"drop_severities": ["warn", "drop"]}})
    rows = [alpaca("r1", "How do I thicken a sauce?", LOOPING)]
    decided = {}
    for where in ("strict", "other"):
        path, name = f"/d/{where}/a.jsonl", f"{where}/a.jsonl"
        scored = Scorer(sources.config_for_shard(config, path, name), RULES).score(canonical_batch(rows, name, config=config))
        policy = KeepPolicy.from_config(sources.config_for_shard(config, path, name), RULES)
        decided[where] = with_decisions(scored, policy).to_pylist()[0]
    assert decided["strict"]["keep"] is False and decided["strict"]["drop_reasons"] == ["rule:excessive_repetition"]
    assert decided["other"]["keep"] is True and decided["other"]["drop_reasons"] == []


# ---- dedup text ----------------------------------------------------------------------------


def test_the_signer_hashes_a_sources_text_mode_with_the_runs_parts():
    rows = [
        alpaca("a", "Classify the sentiment of the review.", "Positive.", input="The blender is quiet and strong."),
        alpaca("b", "Classify the sentiment of the review.", "Positive.", input="Shipping was fast, the lamp glows warmly."),
    ]
    batch = canonical_batch(rows)
    scored = Scorer(BASE, []).score(batch)
    signer = Signer(DedupParams.from_config(BASE))
    prompt_side, _, _ = signer.sign(batch, scored)
    input_side, _, _ = signer.sign(batch, scored, "input_answer")
    assert prompt_side.schema == input_side.schema
    half = BASE.dedup.num_perm * 4  # bytes of one part's uint32 values
    # The answer part (second half) is the same; the first part hashes the input alone.
    before, after = prompt_side.column("signature")[0].as_py(), input_side.column("signature")[0].as_py()
    assert before[half:] == after[half:] and before[:half] != after[:half]
    with pytest.raises(ValueError, match="part"):
        signer.sign(batch, scored, "response")


# ---- the plan ------------------------------------------------------------------------------


def test_plan_lines_count_each_entrys_files_and_warn_about_entries_that_match_none():
    config = config_with(
        {"name": "math", "match": "gsm8k/*", "disable_rules": ["excessive_repetition"]},
        {
            "name": "templates",
            "match": ["tpl/*"],
            "dedup": {"text": "input_answer"},
            "rule_severity": {"unfilled_placeholder": "info"},
        },
        {"match": "gsm8k/train.jsonl"},
        {"name": "nothing", "match": "nowhere/*"},
    )
    shards = [
        shard("/d/gsm8k/train.jsonl", "gsm8k/train.jsonl", 0),
        shard("/d/gsm8k/test.jsonl", "gsm8k/test.jsonl", 1),
        shard("/d/tpl/a.jsonl", "tpl/a.jsonl", 2),
        shard("/d/chat/a.jsonl", "chat/a.jsonl", 3),
    ]
    assert sources.describe(config, shards) == [
        "source 'math' (gsm8k/*): 2 files; rules off: excessive_repetition",
        "source 'templates' (tpl/*): 1 file; severity: unfilled_placeholder info; dedup: text input_answer",
        "sources[2] (gsm8k/train.jsonl): 0 files",
        "source 'nothing' (nowhere/*): 0 files",
        "warning: sources[2] (gsm8k/train.jsonl) matches only files an earlier entry takes (the first matching entry wins)",
        "warning: source 'nothing' (nowhere/*) matches no input file",
    ]
