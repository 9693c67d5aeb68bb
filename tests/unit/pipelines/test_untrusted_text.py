"""Text from the data reaches the terminal and rejected/ escaped: `winnow inspect`, the
plan, error messages and stored dead-letter reasons (issue 10 item 6).

On the code before the fix each of these printed or stored the raw bytes.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from conftest import normalize, sharegpt, write_file

from winnow.pipelines.cli import main

PAYLOADS = {
    "osc_title": "\x1b]0;owned\x07",
    "clear_screen": "\x1b[2J",
    "cr_erase_line": "\r\x1b[K",
    "bidi_override": "\u202e",
}
# What a terminal would act on; a newline only ends a line of output.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def assert_clean(text: str) -> None:
    found = CONTROL.search(text)
    assert found is None, f"control character {found.group()!r} at {found.start()}: {text[max(0, found.start() - 60) :][:120]!r}"


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_inspect_escapes_fields_reasons_and_raw_previews(tmp_path, capsys, name):
    p = PAYLOADS[name]
    lines = [
        json.dumps(sharegpt(None, "Who speaks?", "Nobody.", roles=(f"nar{p}rator", "gpt"))),  # unknown_role
        json.dumps({"id": f"id{p}", "instruction": f"Say {p} please.", "input": "", "output": f"Here{p} it is.\tDone."}),
        f'{{"instruction": "broken {p}", "output": ',  # invalid_json: its raw text is previewed
    ]
    path = write_file(tmp_path / f"in{p}.jsonl", "\n".join(lines) + "\n")
    assert main(["inspect", path, "-n", "5"]) == 0
    out = capsys.readouterr().out
    assert_clean(out)
    assert "REJECTED: unknown_role" in out and "REJECTED: invalid_json" in out
    shown = p.encode("unicode_escape").decode() if name != "cr_erase_line" else "\\x0d\\x1b[K"
    assert f"Here{shown} it is.\\x09Done." in out
    assert f"id: id{shown}" in out


def test_inspect_escapes_a_binary_files_preview(tmp_path, capsys):
    path = write_file(tmp_path / "blob.jsonl", bytes(range(256)) * 4)
    assert main(["inspect", path]) == 0
    out = capsys.readouterr().out
    assert_clean(out)
    assert "REJECTED: invalid_utf8" in out and "\\x1b" in out


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_plan_escapes_file_names(tmp_path, capsys, name):
    p = PAYLOADS[name]
    d = tmp_path / "in"
    write_file(d / f"data{p}.jsonl", json.dumps({"instruction": "a", "output": "b"}) + "\n")
    assert main(["score", str(d), "--output", str(tmp_path / f"out{p}"), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert_clean(err)
    assert "data\\" in err and "alpaca" in err


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_error_messages_escape_paths(tmp_path, capsys, name):
    p = PAYLOADS[name]
    assert main(["score", str(tmp_path / f"none{p}" / "*.jsonl"), "--output", str(tmp_path / "out")]) == 2
    assert main(["score", str(tmp_path), "--output", str(tmp_path / "out"), "--config", str(tmp_path / f"c{p}.yaml")]) == 2
    err = capsys.readouterr().err
    assert_clean(err)
    assert err.count("winnow: error:") == 2 and "none\\" in err and "c\\" in err


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_stored_unknown_role_reason_is_escaped_and_its_hint_still_maps_the_role(name):
    role = f"nar{PAYLOADS[name]}rator"
    _, rejected = normalize([sharegpt(None, "Who speaks?", "Nobody.", roles=(role, "gpt"))])
    reason = rejected[0]["reason"]
    assert_clean(reason)
    assert reason.split(":", 1)[0] == "unknown_role"  # the code the summaries count is unchanged
    hint = yaml.safe_load(reason[reason.index("input.roles: ") + len("input.roles: ") :])
    assert list(hint) == [role]  # pasted into input.roles, the escaped key is the raw role again


def test_ordinary_reasons_are_unchanged():
    _, rejected = normalize([sharegpt(None, "Who speaks?", "Nobody.", roles=("wizard", "gpt"))])
    assert rejected[0]["reason"] == (
        "unknown_role: conversations[0] has role 'wizard'; map it with config input.roles: {wizard: user|assistant|system|tool}"
    )
