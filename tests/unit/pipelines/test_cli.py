"""`winnow score` and `winnow inspect` without a pipeline run: configuration and
rule-pack errors, inputs that match nothing, unknown flags, the dry-run plan.
"""

from __future__ import annotations

import json
import os

from conftest import SAMPLES

from winnow.pipelines.cli import main


def test_bad_config_fails_before_reading_data(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("signals:\n  langid:\n    enabeld: false\n")
    out = tmp_path / "out"
    assert main(["score", SAMPLES, "--output", str(out), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "signals.langid.enabeld" in err and "did you mean signals.langid.enabled" in err
    assert not out.exists()


def test_bad_rule_pack_names_rule_and_key(tmp_path, capsys):
    pack = tmp_path / "rules.yaml"
    pack.write_text(
        "rules:\n  - name: my_rule\n    severity: warn\n    explain: x\n    when: {field: response, match: '(unclosed'}\n"
    )
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"rules: [{pack}]\n")
    assert main(["score", SAMPLES, "--output", str(tmp_path / "out"), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "my_rule" in err and "RE2" in err


def test_rule_needing_a_disabled_signal_fails_with_the_fix(tmp_path, capsys):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("signals:\n  langid:\n    enabled: false\n")
    assert main(["score", SAMPLES, "--output", str(tmp_path / "out"), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "language_mismatch" in err and "disable_rules" in err


def test_input_matching_nothing_fails_with_a_message(tmp_path, capsys):
    assert main(["score", str(tmp_path / "nope" / "*.jsonl"), "--output", str(tmp_path / "out")]) == 2
    assert "matches no files" in capsys.readouterr().err


def test_unknown_flag_is_rejected(tmp_path, capsys):
    assert main(["score", SAMPLES, "--output", str(tmp_path / "out"), "--ouptut_dir=x"]) == 2
    assert "--ouptut_dir" in capsys.readouterr().err


def test_dry_run_shows_plan_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["score", SAMPLES, "--output", str(out), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "alpaca.json" in err and "sharegpt" in err and "parquet" in err
    assert not out.exists()


def test_inspect_shows_normalization_and_flags(capsys):
    assert main(["inspect", os.path.join(SAMPLES, "alpaca.json"), "-n", "7"]) == 0
    out = capsys.readouterr().out
    assert "format: alpaca" in out
    assert "FLAG placeholder_response" in out
    assert "FLAG merged_instructions" in out


def test_incompatible_reference_fails_before_reading_data(tmp_path, capsys):
    from winnow.pipelines.cli import main as cli_main

    ref = tmp_path / "sigs"
    ref.mkdir()
    (ref / "params.json").write_text(
        json.dumps(
            {
                "text": "prompt_answer",
                "shingle": "auto",
                "ngram": 5,
                "char_ngram": 5,
                "char_mode_share": 0.3,
                "num_perm": 128,
                "seed": 1,
            }
        )
    )
    (ref / "s000000.parquet").write_bytes(b"")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"dedup: {{reference: ['{ref}']}}\n")
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"instruction": "a", "output": "b"}) + "\n")
    assert cli_main(["score", str(src), "--output", str(tmp_path / "out"), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "dedup.reference" in err and "ngram" in err
