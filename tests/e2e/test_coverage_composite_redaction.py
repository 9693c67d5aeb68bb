"""`winnow score` writes taxonomy coverage and the composite score, and redacts PII in records/."""

from __future__ import annotations

import json

import pytest
from conftest import read_dataset_json, read_records, score

pytestmark = pytest.mark.slow


def test_score_writes_coverage_composite_and_redacts_pii(tmp_path):
    src = tmp_path / "in.jsonl"
    rows = [
        {"instruction": "Write a Python function that reverses a string.", "output": "def rev(s):\n    return s[::-1]"},
        {
            "instruction": "Who should I contact about my order?",
            "output": "Write to support@example.com or call +1 415 555 0100.",
        },
    ]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("safety: {redact: true}\ndedup: {enabled: false}\n")
    out = tmp_path / "out"
    assert score(str(src), out, "--config", str(cfg), "--direct_num_workers=1") == 0
    recs = {r["row"]: r for r in read_records(out).to_pylist()}
    assert "personal_data" in recs[1]["flags"] and recs[1]["pii_email"] == 1 and recs[1]["pii_phone"] == 1
    assert "[EMAIL]" in recs[1]["response"] and "example.com" not in recs[1]["response"]
    assert "[EMAIL]" in recs[1]["turns"][-1]["content"]
    assert "coding" in recs[0]["topics"] and recs[0]["composite"] is not None and recs[0]["composite_explain"]
    dataset = read_dataset_json(out)
    assert dataset["coverage"]["taxonomy"] == "general" and 0 < dataset["coverage"]["coverage"] < 1
    assert dataset["safety"]["pii"]["email"] == 1
    assert dataset["d_quality"]["d_quality"] is not None
