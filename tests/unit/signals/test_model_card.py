"""Model cards beside classifier models: `model_card` reads `<model>.card.json` (local or gs://),
`validation_weight` turns its `validation` record into the composite's weight factor.
"""

from __future__ import annotations

import json

import pytest
from conftest import storage_emulator_bucket

from winnow.transforms.configfiles import ConfigError
from winnow.transforms.signals.classifiers import UNVALIDATED_WEIGHT, model_card, validation_weight


def card(metric: str, value) -> dict:
    return {"model": "m.bin", "validation": {"metric": metric, "value": value, "ci95": None, "rows": 300}}


@pytest.mark.parametrize(
    ("value", "weight"),
    [(0.95, 1.0), (0.9, 1.0), (0.8, 0.75), (0.7, 0.5), (0.62, 0.3), (0.55, 0.125), (0.5, 0.0), (0.3, 0.0), (1.0, 1.0)],
)
@pytest.mark.parametrize("metric", ["roc_auc", "pairwise_accuracy"])
def test_validation_weight_scales_from_chance_to_0_9(metric, value, weight):
    assert validation_weight(card(metric, value)) == pytest.approx(weight, abs=1e-9)


def test_validation_weight_of_0_7_is_exactly_one_half():
    assert validation_weight(card("roc_auc", 0.7)) == 0.5  # not 0.49999999999999994


@pytest.mark.parametrize(
    "unvalidated",
    [
        None,  # no card
        {},  # a card without validation (cards written before it existed)
        {"validation": None},
        {"validation": {"metric": "roc_auc"}},
        {"validation": {"metric": "roc_auc", "value": None}},
        {"validation": {"metric": "roc_auc", "value": float("nan")}},
        {"validation": {"metric": "roc_auc", "value": "0.9"}},
        {"validation": {"metric": "roc_auc", "value": True}},
        {"validation": {"metric": "f1", "value": 0.9}},  # not a metric the factor is defined for
        {"validation": [0.9]},
    ],
)
def test_validation_weight_without_a_usable_record_is_half(unvalidated):
    assert validation_weight(unvalidated) == UNVALIDATED_WEIGHT == 0.5


def test_model_card_reads_the_card_beside_the_model(tmp_path):
    model = tmp_path / "quality.bin"
    model.write_bytes(b"not read")
    assert model_card(str(model)) is None  # no card
    written = card("roc_auc", 0.81)
    (tmp_path / "quality.bin.card.json").write_text(json.dumps(written))
    assert model_card(str(model)) == written
    assert validation_weight(model_card(str(model))) == pytest.approx(0.775)
    assert model_card(str(tmp_path / "missing.bin")) is None  # neither model nor card


@pytest.mark.parametrize(
    ("content", "why"), [(b"{not json", "cannot read"), (b"[1, 2]", "JSON object"), (b"\xff\xfe", "cannot read")]
)
def test_an_unreadable_card_is_a_config_error_naming_its_path(tmp_path, content, why):
    model = str(tmp_path / "m.bin")
    (tmp_path / "m.bin.card.json").write_bytes(content)
    with pytest.raises(ConfigError, match=why) as e:
        model_card(model)
    assert model + ".card.json" in str(e.value)


def test_a_card_that_is_a_directory_is_a_config_error(tmp_path):
    (tmp_path / "m.bin.card.json").mkdir()
    with pytest.raises(ConfigError, match=r"m\.bin\.card\.json"):
        model_card(str(tmp_path / "m.bin"))


@pytest.mark.slow  # the Cloud Storage emulator and client take ~25 s to start and answer
def test_model_card_on_cloud_storage():
    with storage_emulator_bucket("winnow-cards") as bucket:
        bucket.blob("models/q.bin.card.json").upload_from_string(json.dumps(card("pairwise_accuracy", 0.74)))
        got = model_card("gs://winnow-cards/models/q.bin")
        assert got is not None and got["validation"]["metric"] == "pairwise_accuracy"
        assert validation_weight(got) == pytest.approx(0.6)
        assert model_card("gs://winnow-cards/models/other.bin") is None
        bucket.blob("models/bad.bin.card.json").upload_from_string("{")
        with pytest.raises(ConfigError, match=r"gs://winnow-cards/models/bad\.bin\.card\.json"):
            model_card("gs://winnow-cards/models/bad.bin")
