"""The Flex Template launch on DirectRunner: the job runs inside the launch and writes run.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from winnow.pipelines import flex_main

pytestmark = pytest.mark.slow


def write_corpus(path: Path, rows: int) -> None:
    lines = [
        json.dumps(
            {
                "instruction": f"Name a colour that starts with letter {chr(97 + i % 26)}, case {i}.",
                "input": "",
                "output": f"One such colour is number {i} on the fixture list.",
            }
        )
        for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n")


def test_flex_launch_is_the_whole_run(tmp_path):
    """The launcher cannot wait for its job, so the job itself checks every row and writes run.json.

    On DirectRunner --template_location is ignored, so the job really runs
    inside the launch, as it would on Dataflow after the launcher exits.
    """
    corpus, out = tmp_path / "corpus.jsonl", tmp_path / "run"
    write_corpus(corpus, 30)
    launch = [f"--input={corpus}", f"--output={out}", f"--template_location={tmp_path / 'job.json'}"]
    assert flex_main.main(launch) == 0
    record = json.loads((out / "run.json").read_text())
    assert record["complete"] and record["rows_read"] == record["rows_scored"] == 30
    assert record["inputs"][0]["path"] == str(corpus) and record["inputs"][0]["format"] == "alpaca"
    assert not (out / "_work").exists() and not (out / "signatures").exists()
    assert flex_main.main(launch) == 1, "a second launch into the same run needs overwrite=true"
