"""`winnow score` with classifiers (models trained in conftest.py): the `quality`
column, any other classifier by config, the cascade that skips dropped rows,
the summary mean and the keep-one rule of near-duplicates.
"""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from conftest import labelled_rows, read_duplicates, read_records, score, write_jsonl

from winnow.transforms.signals import fasttext_models as models
from winnow.transforms.signals.classifiers import entropy_bits, predict_proba, prepare

pytestmark = pytest.mark.slow

PAIR_INSTRUCTION = "What should I consider before adopting a rescue cat?"
PAIR_ANSWER = (
    "Before adopting a rescue cat, think about your schedule, your budget for food and veterinary care, and "
    "whether your landlord allows pets. Visit the shelter twice and ask the staff about the temperament of each "
    "cat. Prepare a quiet room with a litter box, water and a hiding place. Then give your new cat several calm "
    "weeks to settle in."
)
# The same answer whose final sentence is spam: longer, and rated lower by the model.
PAIR_GARBLED = PAIR_ANSWER.rsplit(". ", 1)[0] + ". cheap casino bonus click discount promo offer deal sale free win!!!"
DROP_IDS = {"drop-empty", "drop-na"}


def score_corpus(d) -> dict[str, dict]:
    """Writes the corpus to score (two files); returns its rows by id."""
    d.mkdir()
    good, bad = labelled_rows(15, seed=11)
    rows = (
        good
        + bad
        + [
            {"id": "drop-empty", "instruction": "How do I improve my sleep?", "input": "", "output": ""},
            {"id": "drop-na", "instruction": "How do I back up my laptop?", "input": "", "output": "N/A"},
            {
                "id": "warn-refusal",
                "instruction": "Tell me a joke about cats.",
                "input": "",
                "output": "As an AI model, I cannot tell jokes about animals.",
            },
            # Near duplicates: the better one has the larger id and the shorter response,
            # so only quality can make it the kept row.
            {"id": "pair-1", "instruction": PAIR_INSTRUCTION, "input": "", "output": PAIR_GARBLED},
            {"id": "pair-2", "instruction": PAIR_INSTRUCTION, "input": "", "output": PAIR_ANSWER},
        ]
    )
    random.Random(2).shuffle(rows)
    write_jsonl(d / "a.jsonl", rows[: len(rows) // 2])
    write_jsonl(d / "b.jsonl", rows[len(rows) // 2 :])
    return {r["id"]: r for r in rows}


@pytest.fixture(scope="module")
def scored(quality_model, response_model, tmp_path_factory):
    base = tmp_path_factory.mktemp("score")
    rows = score_corpus(base / "in")
    cfg = base / "cfg.yaml"
    cfg.write_text(f"classifiers:\n  tox: {{model: {response_model}, positive: bad, text: response}}\n")
    out = str(base / "out")
    assert score(str(base / "in"), out, "--config", str(cfg), "--quality-model", quality_model, "--direct_num_workers=1") == 0
    return rows, read_records(out, by_id=True), out


def test_score_writes_classifier_columns_skipping_dropped_rows(scored):
    rows, records, out = scored
    assert records.keys() == rows.keys()
    schema = ds.dataset(os.path.join(out, "records"), format="parquet").schema
    for name in ("quality", "quality_entropy", "tox", "tox_entropy"):
        assert schema.field(name).type == pa.float32()
    dropped = {i for i, r in records.items() if r["severity"] == "drop"}
    assert dropped == DROP_IDS  # the cascade has something to skip
    assert records["warn-refusal"]["severity"] == "warn"
    for i, r in records.items():
        values = [r["quality"], r["quality_entropy"], r["tox"], r["tox_entropy"]]
        if i in dropped:
            assert values == [None] * 4, i
            continue
        assert None not in values, i
        q, h = r["quality"], r["quality_entropy"]
        assert 0.0 <= q <= 1.0 and 0.0 <= h <= 1.0 and 0.0 <= r["tox"] <= 1.0 and 0.0 <= r["tox_entropy"] <= 1.0
        assert h == pytest.approx(float(entropy_bits(np.array([[q, 1 - q]]))[0]), abs=1e-4), i
    # The model separates the generated good and bad rows.
    assert min(records[f"g{i}"]["quality"] for i in range(15)) > 0.5
    assert max(records[f"b{i}"]["quality"] for i in range(15)) < 0.5
    with open(os.path.join(out, "summary", "dataset.json")) as f:
        means = json.load(f)["means"]
    qualities = [r["quality"] for r in records.values() if r["quality"] is not None]
    assert len(qualities) == len(records) - len(DROP_IDS)
    assert means["quality"] == pytest.approx(float(np.mean(qualities)), rel=1e-6)


def test_configured_classifier_reads_its_text_and_positive_label(scored, response_model):
    rows, records, _ = scored
    ids = sorted(i for i in records if i not in DROP_IDS)
    labels, probs = predict_proba(models.load_fasttext(response_model), prepare(pa.array([rows[i]["output"] for i in ids]), 4000))
    p_good = probs[:, labels.index("good")]
    for i, p in zip(ids, p_good, strict=True):
        assert records[i]["tox"] == pytest.approx(1.0 - p, abs=1e-5), i
    # tox reads the response only; quality the whole conversation: different models, different numbers.
    assert any(abs(records[i]["tox"] - (1 - records[i]["quality"])) > 1e-3 for i in ids)


def test_keep_one_prefers_the_higher_quality_duplicate(scored):
    _, records, out = scored
    low, high = records["pair-1"], records["pair-2"]
    assert len(PAIR_ANSWER.split()) == len(PAIR_GARBLED.split()) == 60
    assert high["quality"] > low["quality"]
    assert low["response_chars"] > high["response_chars"] and low["id"] < high["id"]  # the other keys favour pair-1
    dups = read_duplicates(out, by_id=True)
    assert dups["pair-1"]["cluster_id"] == dups["pair-2"]["cluster_id"]
    assert dups["pair-2"]["cluster_size"] == 2
    assert dups["pair-2"]["keep"] is True and dups["pair-1"]["keep"] is False
    assert dups["pair-1"]["kept_id"] == dups["pair-2"]["kept_id"] == "pair-2"


def test_without_quality_in_the_keep_rule_the_other_duplicate_is_kept(scored, quality_model, tmp_path):
    _, _, first = scored
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("dedup:\n  keep: [-response_chars, id]\n")
    out = str(tmp_path / "out")
    inputs = os.path.join(os.path.dirname(first), "in")
    assert score(inputs, out, "--config", str(cfg), "--quality-model", quality_model, "--direct_num_workers=1") == 0
    dups = read_duplicates(out, by_id=True)
    assert dups["pair-1"]["keep"] is True and dups["pair-2"]["kept_id"] == "pair-1"
