"""Runs that reject every row, and runs that die: exit codes, outputs and what the
user sees (issue 10 items 5 and 7).

Before the fix an all-rejected run wrote a complete run.json and then raised
TypeError in the end-of-run table (exit 1); a run that died printed 140-390
lines of Beam traceback with the cause on the last one and left its temp
files in the output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SAMPLES, read_rejected, read_run_json, write_file

from winnow.pipelines.cli import main

pytestmark = pytest.mark.slow


def _utf16(d) -> str:
    row = {"instruction": "Name a primary color.", "input": "", "output": "Red."}
    return write_file(d / "utf16.jsonl", (json.dumps(row) + "\n").encode("utf-16"))


def _binary(d) -> str:
    return write_file(d / "blob.jsonl", bytes(range(256)) * 4)


def _zero_row_parquet(d) -> str:
    path = str(d / "empty.parquet")
    pq.write_table(pa.table({"instruction": pa.array([], pa.string()), "output": pa.array([], pa.string())}), path)
    return path


@pytest.mark.parametrize("make", [_utf16, _binary, _zero_row_parquet], ids=["utf16", "binary", "zero_row_parquet"])
def test_all_rejected_run_is_complete_exits_0_and_prints_its_report(tmp_path, capsys, make):
    path = make(tmp_path)
    out = tmp_path / "out"
    assert main(["score", path, "--output", str(out)]) == 0
    run = read_run_json(out)
    assert run["complete"] is True and run["rows_scored"] == 0 and run["rows_read"] == run["rows_rejected"] > 0
    assert read_rejected(out).num_rows == run["rows_rejected"]
    captured = capsys.readouterr()
    report = captured.out
    assert f"rows read {run['rows_read']:,}   scored 0   rejected {run['rows_rejected']:,}" in report
    assert "= n/a of scored rows; drop n/a" in report
    assert "rejected by reason:" in report
    assert "diversity: n/a distinct word" in report and "Self-BLEU n/a" in report
    assert report.rstrip().splitlines()[-1].startswith(f"outputs: {out}/")  # the whole table printed
    assert "winnow: warning: no row was scored" in captured.err


def _stderr_after_plan(err: str) -> list[str]:
    """stderr without the plan (its first line and the indented ones) and progress lines."""
    return [line for line in err.splitlines() if not (line.startswith(("winnow plan:", "  ", "[winnow] pid")) or line == "")]


def _files_under(out) -> list[str]:
    return sorted(os.path.relpath(os.path.join(r, f), out) for r, _, names in os.walk(out) for f in names)


# A run in one process (samples are small) whose scoring step dies as on a full disk,
# after leaving what unfinished writes leave; the user's own file must stay.
FAILING_RUN = textwrap.dedent(
    """\
    import os, sys
    from winnow.pipelines.cli import main
    from winnow.transforms.beam import scoring

    out = sys.argv[1]

    def failing_read(*args, **kwargs):
        for rel in ("records/part-000000-00000.parquet.tmp", "records/beam-temp-part-0a1b/1c2d", "_work/bands/p00001/x.arrow"):
            os.makedirs(os.path.dirname(os.path.join(out, rel)), exist_ok=True)
            open(os.path.join(out, rel), "w").close()
        raise OSError(28, "No space left on device")

    scoring.read_split = failing_read
    sys.exit(main(["score", sys.argv[2], "--output", out, *sys.argv[3:]]))
    """
)


def _failing_run(tmp_path, *flags: str) -> tuple[subprocess.CompletedProcess, str]:
    out = tmp_path / "out"
    write_file(out / "notes.txt", "the user's own file")
    done = subprocess.run(
        [sys.executable, "-c", FAILING_RUN, str(out), SAMPLES, *flags], capture_output=True, text=True, timeout=300
    )
    return done, str(out)


def test_a_run_that_dies_prints_its_cause_on_one_line_and_removes_its_temp_files(tmp_path):
    done, out = _failing_run(tmp_path)
    assert done.returncode == 1
    assert _stderr_after_plan(done.stderr) == ["winnow: error: the run failed: OSError: [Errno 28] No space left on device"]
    assert "Traceback" not in done.stderr
    assert _files_under(out) == ["notes.txt"]
    assert not os.path.exists(os.path.join(out, "records", "beam-temp-part-0a1b"))


def test_a_run_that_dies_shows_the_traceback_at_debug_after_the_cause(tmp_path):
    done, _ = _failing_run(tmp_path, "--log_level", "DEBUG")
    assert done.returncode == 1
    line = "winnow: error: the run failed: OSError: [Errno 28] No space left on device"
    assert line in done.stderr
    after = done.stderr[done.stderr.index(line) :]
    assert "Traceback (most recent call last)" in after and "failing_read" in after


@pytest.mark.parametrize(
    "flags", [[], ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]], ids=["in_process", "worker_processes"]
)
def test_disk_that_fills_during_the_run(tmp_path, flags):
    """A real full disk: a tmpfs the probe fits in, the outputs do not (root only). Worker
    processes print a failed bundle's traceback themselves: left out too."""
    rows = [
        {"instruction": f"Question {i}: how do I {w}?", "output": f"Answer {i}: {w} " * 30}
        for i, w in enumerate(["a", "b"] * 3000)
    ]
    src = write_file(tmp_path / "in.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        out = str(disk / "out")
        done = subprocess.run(
            [sys.executable, "-m", "winnow", "score", src, "--output", out, *flags], capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 1, done.stderr[-2000:]
        lines = _stderr_after_plan(done.stderr)
        assert len(lines) == 1 and lines[0].startswith("winnow: error: the run failed: "), done.stderr[-2000:]
        assert "No space left on device" in lines[0]
        assert "Traceback" not in done.stderr
        left = _files_under(out)
        assert not [f for f in left if f.endswith(".tmp") or "beam-temp-" in f or f.startswith("_work")], left
        assert "run.json" not in left
    finally:
        subprocess.run(["umount", str(disk)], check=True)
