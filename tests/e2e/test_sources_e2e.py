"""`winnow score` with per-source overrides, end to end: a math source without the repetition
rule, a source with a stricter severity, and a templated source deduplicated on its filled-in
input and answer (rows that share the instruction but not the input are not duplicates; copies are)."""

from __future__ import annotations

import os

import pytest
from conftest import alpaca, read_dataset_json, read_duplicates, read_records, read_run_json, score, write_files

pytestmark = pytest.mark.slow

# Answers that say one line eight times (excessive_repetition, warn), one per source so no two are duplicates.
LOOPS = {
    "math": "Count the marbles in the jar once more and write the total down again.",
    "chat": "Water the fern every morning and turn its pot a little toward the window.",
    "strict": "Sand the oak board along the grain before you brush on the first coat.",
    "picky": "Fold the letter twice, seal the envelope and carry it down to the post office.",
}


def looping(source: str) -> dict:
    return alpaca(f"{source}-loop", f"Tell me about the {source} task.", "\n".join([LOOPS[source]] * 8))


TEMPLATE = (
    "Read the customer review below and decide whether the reviewer would recommend the product to a friend. "
    "Answer in one sentence that gives the verdict and the main reason the reviewer states for it."
)
VERDICT = "The reviewer would recommend it, mainly because the product does what it promised for the price."
REVIEW_A = (
    "I bought this kettle for the office and it boils a full litre in under three minutes. The handle stays cool, "
    "the lid opens with one hand and the cord is long enough to reach the socket behind the desk."
)
REVIEW_A_EDITED = REVIEW_A.replace("three minutes", "four minutes")
REVIEW_B = (
    "The garden hose arrived coiled neatly and has not kinked once in two months of daily watering. The brass "
    "fittings screw on tightly, nothing drips at the tap, and it rolls back onto the reel without a fight."
)

CONFIG = {
    "sources": [
        {"name": "math", "match": "gsm8k/*", "disable_rules": ["excessive_repetition"]},
        {"name": "strict", "match": "strict/*.jsonl", "rule_severity": {"excessive_repetition": "drop"}},
        {"name": "picky", "match": "picky/*", "keep": {"drop_severities": ["warn", "drop"]}},
        {"name": "reviews", "match": ["templated/*"], "dedup": {"text": "input_answer"}},
        {"name": "unused", "match": "nowhere/*"},
    ]
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("sources")
    data = base / "data"
    write_files(data / "gsm8k", {"train.jsonl": [looping("math")]})
    write_files(data / "chat", {"a.jsonl": [looping("chat")]})
    write_files(data / "strict", {"a.jsonl": [looping("strict")]})
    write_files(data / "picky", {"a.jsonl": [looping("picky")]})
    templated = [
        alpaca("review-a", TEMPLATE, VERDICT, input=REVIEW_A),
        alpaca("review-b", TEMPLATE, VERDICT, input=REVIEW_B),
        alpaca("review-a-copy", TEMPLATE, VERDICT, input=REVIEW_A),
        alpaca("review-a-edited", TEMPLATE, VERDICT, input=REVIEW_A_EDITED),
    ]
    write_files(data / "templated", {"reviews.jsonl": templated})
    out = base / "out"
    assert score(str(data), out, config=CONFIG) == 0
    return out


def test_a_rule_disabled_for_a_source_does_not_fire_there(run):
    records = read_records(run, by_id=True)
    assert "excessive_repetition" not in records["math-loop"]["flags"]
    assert "excessive_repetition" in records["chat-loop"]["flags"] and records["chat-loop"]["severity"] == "warn"
    assert "excessive_repetition" in records["strict-loop"]["flags"] and records["strict-loop"]["severity"] == "drop"
    rule = next(r for r in read_dataset_json(run)["rules"] if r["name"] == "excessive_repetition")
    assert rule["rows"] == 3 and rule["severity"] == "warn"  # counted where it fired; the run's severity


def test_the_keep_policy_follows_the_source(run):
    records = read_records(run, by_id=True)
    # A warn keeps the row by default; a drop severity (strict) or a stricter policy (picky) drops it.
    assert records["chat-loop"]["keep"] is True and records["math-loop"]["keep"] is True
    assert records["strict-loop"]["drop_reasons"] == records["picky-loop"]["drop_reasons"] == ["rule:excessive_repetition"]
    assert records["picky-loop"]["severity"] == "warn"
    kept = {
        os.path.relpath(os.path.join(d, f), os.path.join(run, "kept"))
        for d, _, fs in os.walk(os.path.join(run, "kept"))
        for f in fs
    }
    assert not any(k.startswith(("strict", "picky")) for k in kept) and any(k.startswith("chat") for k in kept)


def test_templated_rows_with_other_inputs_are_not_duplicates_under_input_answer_but_copies_are(run):
    dups = read_duplicates(run, by_id=True)
    assert "review-b" not in dups
    cluster = {i for i, r in dups.items() if r["cluster_id"] == dups["review-a"]["cluster_id"]}
    assert cluster == {"review-a", "review-a-copy", "review-a-edited"}
    assert sum(r["keep"] for i, r in dups.items() if i in cluster) == 1


def test_the_run_record_keeps_the_sources_as_given(run):
    sources = read_run_json(run)["config"]["sources"]
    assert [s["name"] for s in sources] == ["math", "strict", "picky", "reviews", "unused"]
    assert sources[3]["match"] == ["templated/*"] and sources[3]["dedup"] == {"text": "input_answer"}
