"""`winnow score` shows, in its plan, each classifier's validation figure from its model card and the
weight factor the composite gives it; a model without a card is announced as unvalidated.
"""

from __future__ import annotations

import io
import json
import shutil

import pytest
from conftest import card_of

from winnow.pipelines.score import Plan, print_plan
from winnow.transforms.config import load_config
from winnow.transforms.configfiles import ConfigError


def plan_text(tmp_path, classifiers: dict[str, dict]) -> str:
    config = load_config(overrides={"classifiers": classifiers})
    plan = Plan(inputs=[], output=str(tmp_path / "out"), config=config, rules=[], shards=[], skipped=[])
    out = io.StringIO()
    print_plan(plan, out=out)
    return out.getvalue()


def classifier_lines(text: str) -> dict[str, str]:
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("classifier ")]
    return {line.split()[1]: line for line in lines}


def test_plan_shows_each_classifiers_validation_and_weight(tmp_path, quality_model):
    card = card_of(quality_model)
    v = card["validation"]
    assert v["metric"] == "roc_auc" and v["value"] > 0.9  # the conftest corpus separates well
    # A copy of the model without its card, and one whose card says it is weak.
    bare = str(tmp_path / "bare.bin")
    weak = str(tmp_path / "weak.bin")
    shutil.copy(quality_model, bare)
    shutil.copy(quality_model, weak)
    weak_validation = {
        "metric": "pairwise_accuracy",
        "value": 0.62,
        "ci95": [0.55, 0.69],
        "rows": 412,
        "unit": "pairs",
        "cv_folds": 5,
    }
    with open(weak + ".card.json", "w") as f:
        json.dump({**card, "validation": weak_validation}, f)
    lines = classifier_lines(
        plan_text(tmp_path, {"quality": {"model": quality_model}, "bare": {"model": bare}, "weak": {"model": weak}})
    )
    assert set(lines) == {"quality", "bare", "weak"}
    q = lines["quality"]
    assert f"roc_auc {v['value']:.3f}" in q and f"on {v['rows']:,} rows" in q and "composite weight x1.00" in q
    assert f"{v['cv_folds']}-fold cross-validated" in q and "95% CI" in q
    assert "no model card: unvalidated, half weight in the composite" in lines["bare"]
    w = lines["weak"]
    assert "pairwise_accuracy 0.620 (95% CI 0.550-0.690) on 412 pairs" in w and "composite weight x0.30" in w


def test_plan_without_classifiers_has_no_classifier_line(tmp_path):
    assert classifier_lines(plan_text(tmp_path, {})) == {}


def test_card_without_validation_figure_is_unvalidated(tmp_path, quality_model):
    old = str(tmp_path / "old.bin")
    shutil.copy(quality_model, old)
    with open(old + ".card.json", "w") as f:
        json.dump({"model": "old.bin", "metrics": {"roc_auc": 0.9}}, f)  # a card from before `validation`
    line = classifier_lines(plan_text(tmp_path, {"old": {"model": old}}))["old"]
    assert "without a validation figure: unvalidated, composite weight x0.50" in line


def test_unreadable_card_fails_the_plan_with_its_path(tmp_path, quality_model):
    broken = str(tmp_path / "broken.bin")
    shutil.copy(quality_model, broken)
    with open(broken + ".card.json", "w") as f:
        f.write("{truncated")
    with pytest.raises(ConfigError, match=r"broken\.bin\.card\.json"):
        plan_text(tmp_path, {"broken": {"model": broken}})
