"""Classifier configuration errors: `winnow score` stops before reading any data."""

from __future__ import annotations

import pytest
from conftest import labelled_rows, score, write_jsonl


def _score_with(tmp_path, config: str, *extra: str) -> int:
    d = tmp_path / "in"
    d.mkdir()
    write_jsonl(d / "a.jsonl", labelled_rows(2)[0])
    return score(str(d), tmp_path / "out", *extra, config=config)


def test_missing_model_fails_before_reading_data(tmp_path, capsys):
    missing = tmp_path / "nowhere.bin"
    assert _score_with(tmp_path, f"classifiers:\n  tox: {{model: {missing}, positive: bad}}\n") == 2
    err = capsys.readouterr().err
    assert "classifiers.tox.model" in err and "nowhere.bin" in err
    assert not (tmp_path / "out").exists()
    (tmp_path / "shortcut").mkdir()
    assert _score_with(tmp_path / "shortcut", "{}\n", "--quality-model", str(missing)) == 2
    assert "classifiers.quality.model" in capsys.readouterr().err


def test_positive_label_the_model_lacks_fails_before_reading_data(tmp_path, capsys, response_model):
    assert _score_with(tmp_path, f"classifiers:\n  tox: {{model: {response_model}, positive: toxic, text: response}}\n") == 2
    err = capsys.readouterr().err
    assert "classifiers.tox.positive" in err and "'toxic'" in err and "good" in err and "bad" in err
    assert not (tmp_path / "out").exists()


def test_classifier_column_already_written_fails_before_reading_data(tmp_path, capsys, quality_model):
    assert _score_with(tmp_path, f"classifiers:\n  response_chars: {{model: {quality_model}}}\n") == 2
    assert "classifiers.response_chars" in capsys.readouterr().err
    # quality writes quality_entropy: no classifier may be called that.
    (tmp_path / "q").mkdir()
    assert (
        _score_with(
            tmp_path / "q", f"classifiers:\n  quality_entropy: {{model: {quality_model}}}\n", "--quality-model", quality_model
        )
        == 2
    )
    assert "classifiers.quality_entropy" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "q" / "out").exists()


@pytest.mark.parametrize("name", ["flags", "not-an-identifier", "severity"])
def test_invalid_classifier_name_fails_config_validation(tmp_path, capsys, quality_model, name):
    assert _score_with(tmp_path, f"classifiers:\n  {name}: {{model: {quality_model}}}\n") == 2
    err = capsys.readouterr().err
    assert f"classifiers.{name}" in err and "identifier" in err
    assert not (tmp_path / "out").exists()
