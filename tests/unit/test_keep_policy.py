"""The keep policy (transforms.keep_policy): which rows are kept, every reason the others are not,
and config errors that name the key before any data is read."""

from __future__ import annotations

import pyarrow as pa
import pytest

from winnow.transforms.config import load_config
from winnow.transforms.configfiles import ConfigError
from winnow.transforms.keep_policy import (
    KEEP_FIELDS,
    KeepPolicy,
    check_keep_policy,
    decide,
    describe_policy,
    reason_group,
    records_schema,
    with_decisions,
)
from winnow.transforms.signals.rules import Rule
from winnow.transforms.signals.scorer import scored_schema
from winnow.transforms.sources import config_for_shard

RULES = [
    Rule("empty_response", "drop", "the response is empty", {"empty": "response"}, "test"),
    Rule("too_short", "warn", "the response is short", {"max_chars": {"response": 3}}, "test"),
    Rule("has_code", "info", "the response holds code", {"contains": {"response": "```"}}, "test"),
]


def _batch(flags: list[list[str]], composite: list[float | None] | None = None, keys: list[int] | None = None) -> pa.RecordBatch:
    n = len(flags)
    cols = {
        "key": pa.array(keys if keys is not None else list(range(n)), pa.int64()),
        "id": pa.array([f"r{i}" for i in range(n)], pa.string()),
        "flags": pa.array(flags, pa.list_(pa.string())),
    }
    if composite is not None:
        cols["composite"] = pa.array(composite, pa.float32())
    return pa.RecordBatch.from_pydict(cols)


def _dups(rows: list[tuple[int, bool, str | None]]) -> pa.Table:
    keys, keep, kept_id = zip(*rows)
    return pa.table({"key": pa.array(keys, pa.int64()), "keep": list(keep), "kept_id": pa.array(kept_id, pa.string())})


def _decide(batch, policy, dups=None) -> list[tuple[bool, list[str]]]:
    keep, reasons = decide(batch, policy, dups)
    return list(zip(keep.to_pylist(), reasons.to_pylist()))


def test_rules_of_the_drop_severities_drop_a_row_and_each_is_a_reason():
    batch = _batch([[], ["empty_response"], ["too_short"], ["has_code", "too_short", "empty_response"]])
    default = KeepPolicy.from_config(load_config(), RULES)
    assert default.drop_rules == {"empty_response"}
    assert _decide(batch, default) == [(True, []), (False, ["rule:empty_response"]), (True, []), (False, ["rule:empty_response"])]
    strict = KeepPolicy.from_config(load_config(overrides={"keep": {"drop_severities": ["warn", "drop"]}}), RULES)
    assert _decide(batch, strict) == [
        (True, []),
        (False, ["rule:empty_response"]),
        (False, ["rule:too_short"]),
        (False, ["rule:too_short", "rule:empty_response"]),  # in the order of flags
    ]
    none = KeepPolicy.from_config(load_config(overrides={"keep": {"drop_severities": []}}), RULES)
    assert all(keep for keep, _ in _decide(batch, none))


def test_a_rule_made_warn_by_rule_severity_or_a_source_no_longer_drops():
    config = load_config(overrides={"rule_severity": {"empty_response": "warn"}})
    assert KeepPolicy.from_config(config, RULES).drop_rules == frozenset()
    config = load_config(overrides={"sources": [{"match": "lenient/*", "keep": {"drop_severities": []}}]})
    assert (
        KeepPolicy.from_config(config_for_shard(config, "/d/lenient/a.jsonl", "lenient/a.jsonl"), RULES).drop_rules == frozenset()
    )
    assert KeepPolicy.from_config(config_for_shard(config, "/d/other/a.jsonl", "other/a.jsonl"), RULES).drop_rules == {
        "empty_response"
    }


def test_a_near_duplicate_that_is_not_kept_names_the_kept_row():
    batch = _batch([[], [], [], []], keys=[10, 11, 12, 13])
    dups = _dups([(10, True, "r0"), (11, False, "r0"), (13, False, "other-shard:7"), (99, False, "r0")])
    assert _decide(batch, KeepPolicy(), dups) == [
        (True, []),  # the cluster's kept row
        (False, ["near_duplicate_of:r0"]),
        (True, []),  # in no cluster
        (False, ["near_duplicate_of:other-shard:7"]),
    ]
    off = KeepPolicy.from_config(load_config(overrides={"keep": {"near_duplicates": False}}), RULES)
    assert all(keep for keep, _ in _decide(batch, off, dups))
    assert all(keep for keep, _ in _decide(batch, KeepPolicy(), None))  # dedup off: no clusters


def test_min_thresholds_keep_equal_values_and_say_which_threshold_failed():
    batch = _batch([[]] * 4, composite=[0.9, 0.5, 0.49, 0.0])
    policy = KeepPolicy(min=(("composite", 0.5),))
    assert _decide(batch, policy) == [
        (True, []),
        (True, []),
        (False, ["below_min:composite<0.5"]),
        (False, ["below_min:composite<0.5"]),
    ]


def test_a_null_score_is_missing_by_default_and_kept_only_when_asked():
    batch = _batch([[]] * 3, composite=[None, float("nan"), 0.8])
    drop = KeepPolicy.from_config(load_config(overrides={"keep": {"min": {"composite": 0.5}}}), RULES)
    assert _decide(batch, drop) == [(False, ["missing:composite"]), (False, ["missing:composite"]), (True, [])]
    keep = KeepPolicy.from_config(load_config(overrides={"keep": {"min": {"composite": 0.5}, "on_missing": "keep"}}), RULES)
    assert _decide(batch, keep) == [(True, []), (True, []), (True, [])]


def test_reasons_come_in_order_rules_near_duplicate_thresholds():
    batch = _batch([["empty_response"], []], composite=[0.1, None], keys=[0, 1])
    policy = KeepPolicy(frozenset({"empty_response"}), True, (("composite", 0.5), ("key", 1)), True)
    assert _decide(batch, policy, _dups([(0, False, "k"), (1, True, "b")])) == [
        (False, ["rule:empty_response", "near_duplicate_of:k", "below_min:composite<0.5", "below_min:key<1"]),
        (False, ["missing:composite"]),
    ]


def test_with_decisions_appends_the_two_columns_and_records_schema_matches():
    batch = _batch([[]])
    out = with_decisions(batch, KeepPolicy())
    assert out.schema.names == [*batch.schema.names, "keep", "drop_reasons"]
    assert list(out.schema)[-2:] == list(KEEP_FIELDS)
    config = load_config()
    assert list(records_schema(config)) == [*scored_schema(config), *KEEP_FIELDS]
    empty = with_decisions(_batch([]), KeepPolicy(min=(("key", 1),)))
    assert empty.num_rows == 0 and empty.schema == out.schema


def test_reason_groups_for_the_summary():
    assert reason_group("near_duplicate_of:a:1") == "near_duplicate"
    assert reason_group("below_min:composite<0.5") == "below_min:composite"
    assert reason_group("rule:empty_response") == "rule:empty_response"
    assert reason_group("missing:quality") == "missing:quality"


@pytest.mark.parametrize(
    ("keep", "message"),
    [
        (
            {"min": {"composit": 0.5}},
            "config key keep.min.composit: records/ has no column composit with this config; did you mean composite?",
        ),
        (
            {"min": {"quality": 0.5}},
            "config key keep.min.quality: records/ has no column quality with this config (enable classifiers",
        ),
        ({"min": {"lang": 0.5}}, "config key keep.min.lang: lang is a string column; a threshold needs a numeric score column"),
        ({"min": {"row": 3}}, "config key keep.min.row: row is a int64 column"),
    ],
)
def test_min_columns_are_checked_against_the_scored_schema(keep, message):
    with pytest.raises(ConfigError) as e:
        check_keep_policy(load_config(overrides={"keep": keep}))
    assert str(e.value).startswith(message)


def test_a_sources_min_is_checked_too_and_good_ones_pass():
    check_keep_policy(load_config(overrides={"keep": {"min": {"composite": 0.5, "response_words": 3}}}))
    bad = load_config(overrides={"sources": [{"match": "x/*", "keep": {"min": {"composite": 0.2, "nope": 1}}}]})
    with pytest.raises(ConfigError, match=r"config key sources\[0\]\.keep\.min\.nope: records/ has no column nope"):
        check_keep_policy(bad)


def test_bad_keep_values_fail_with_the_key():
    with pytest.raises(ConfigError, match=r"config key keep\.min\.composite: must be a number, got True"):
        load_config(overrides={"keep": {"min": {"composite": True}}})
    with pytest.raises(ConfigError, match=r"config key keep\.on_missing: must be one of 'drop' or 'keep'"):
        load_config(overrides={"keep": {"on_missing": "skip"}})
    with pytest.raises(ConfigError, match=r"unknown config key keep\.drop_severity; did you mean keep\.drop_severities"):
        load_config(overrides={"keep": {"drop_severity": ["warn"]}})


def test_the_plan_line_says_what_drops_a_row():
    assert describe_policy(load_config()) == (
        "keep: drop rows with rules of severity drop; near-duplicates not kept in their cluster; kept/ written"
    )
    line = describe_policy(
        load_config(overrides={"keep": {"drop_severities": [], "min": {"composite": 0.5}}, "output": {"kept": False}})
    )
    assert (
        line
        == "keep: drop rows with near-duplicates not kept in their cluster; composite < 0.5 or null; kept/ not written (records/ keep, drop_reasons only)"
    )
