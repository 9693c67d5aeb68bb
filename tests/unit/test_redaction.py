"""Redaction of rows in their input form (kept/ with safety.redact): every string, nested ones too."""

from __future__ import annotations

import pyarrow as pa

from winnow.transforms.redaction import redact_array, redact_batch, redact_values


def test_json_string_leaves_are_redacted_and_unchanged_rows_say_so():
    rows = [
        {"instruction": "Mail bob@example.com", "n": 7, "turns": [{"content": "call +1 415 555 0100"}], "ok": None},
        {"instruction": "nothing personal here"},
        "a bare string with ann@example.org",
        12,
    ]
    out = redact_values(rows)
    assert out[0] == {"instruction": "Mail [EMAIL]", "n": 7, "turns": [{"content": "call [PHONE]"}], "ok": None}
    assert out[1] is None and out[3] is None  # nothing to redact: the row keeps its bytes
    assert out[2] == "a bare string with [EMAIL]"
    assert rows[0]["instruction"] == "Mail bob@example.com"  # the input is not changed
    assert redact_values([{"k@example.com": 1}]) == [None]  # object keys are not text of the row


def test_arrow_strings_are_redacted_at_any_depth_and_the_schema_is_kept():
    batch = pa.RecordBatch.from_pydict(
        {
            "text": ["write to a@b.com", None, "fine"],
            "tags": pa.array([["c@d.org", None], None, []], pa.list_(pa.string())),
            "meta": pa.array([{"who": "e@f.io", "n": 1}, None, {"who": None, "n": 2}]),
            "kv": pa.array([[("k", "g@h.net")], None, []], pa.map_(pa.string(), pa.string())),
            "cat": pa.array(["i@j.com", "i@j.com", None]).dictionary_encode(),
            "big": pa.array(["k@l.com", "x", None], pa.large_string()),
            "n": [1, 2, 3],
        }
    )
    out = redact_batch(batch)
    assert out.schema == batch.schema
    assert out.to_pylist() == [
        {
            "text": "write to [EMAIL]",
            "tags": ["[EMAIL]", None],
            "meta": {"who": "[EMAIL]", "n": 1},
            "kv": [("k", "[EMAIL]")],
            "cat": "[EMAIL]",
            "big": "[EMAIL]",
            "n": 1,
        },
        {"text": None, "tags": None, "meta": None, "kv": None, "cat": "[EMAIL]", "big": "x", "n": 2},
        {"text": "fine", "tags": [], "meta": {"who": None, "n": 2}, "kv": [], "cat": None, "big": None, "n": 3},
    ]
    sliced = batch.slice(1, 2)  # a slice (from a filter or a batch boundary) keeps its nulls where they were
    assert redact_batch(sliced).to_pylist() == out.slice(1, 2).to_pylist()


def test_fixed_size_lists_and_other_types_pass_through():
    fixed = pa.array([["a@b.com", "x"], None], pa.list_(pa.string(), 2))
    assert redact_array(fixed).to_pylist() == [["[EMAIL]", "x"], None]
    ints = pa.array([1, None])
    assert redact_array(ints) is ints
