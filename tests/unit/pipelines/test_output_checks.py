"""The output location is checked before any data is read, and a failed run is
reported by its cause and cleaned up (issue 10 item 7).

Before the fix, an output that was a file, read-only or full failed 8-19 s into
the run under a Beam traceback (exit 1, or an uncaught exception), after the
plan had read the first rows of every input.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from conftest import SAMPLES

from winnow.pipelines import score
from winnow.pipelines.cli import failure_cause, main
from winnow.transforms.io import files


@pytest.fixture
def no_data_read(monkeypatch):
    """Format detection (the plan's first read of the inputs) fails the test if it runs."""

    def peek(*args, **kwargs):
        raise AssertionError("input data was read before the output check")

    monkeypatch.setattr(score, "peek_rows", peek)


@contextmanager
def tmpfs(path, options: str) -> Iterator[str]:
    """A tmpfs mounted at `path` (root only); the test is skipped where mount is not permitted."""
    os.makedirs(path, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield str(path)
    finally:
        subprocess.run(["umount", str(path)], check=True)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.strip()


def test_output_that_is_a_file(tmp_path, capsys, no_data_read):
    out = tmp_path / "out"
    out.write_text("a file the user keeps")
    assert main(["score", SAMPLES, "--output", str(out)]) == 2
    assert one_error_line(capsys) == f"winnow: error: cannot write to --output {out}: it is a file, not a directory"
    assert out.read_text() == "a file the user keeps"


def test_output_under_a_file(tmp_path, capsys, no_data_read):
    (tmp_path / "f").write_text("x")
    assert main(["score", SAMPLES, "--output", str(tmp_path / "f" / "out")]) == 2
    assert one_error_line(capsys).endswith("[Errno 20] Not a directory")


def test_read_only_file_system(tmp_path, capsys, no_data_read):
    with tmpfs(tmp_path / "ro", "size=64k,ro") as ro:
        assert main(["score", SAMPLES, "--output", os.path.join(ro, "out")]) == 2
        assert one_error_line(capsys) == f"winnow: error: cannot write to --output {ro}/out: [Errno 30] Read-only file system"


def test_immutable_directory(tmp_path, capsys, no_data_read):
    out = tmp_path / "frozen"
    out.mkdir()
    done = subprocess.run(["chattr", "+i", str(out)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make a directory immutable here: {done.stderr.strip() or done.returncode}")
    try:
        assert main(["score", SAMPLES, "--output", str(out)]) == 2
        assert one_error_line(capsys) == f"winnow: error: cannot write to --output {out}: [Errno 1] Operation not permitted"
    finally:
        subprocess.run(["chattr", "-i", str(out)], check=True)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc, where nobody can create a directory")
def test_location_nobody_can_create(tmp_path, capsys, no_data_read):
    assert main(["score", SAMPLES, "--output", "/proc/winnow-out"]) == 2
    assert one_error_line(capsys).startswith("winnow: error: cannot write to --output /proc/winnow-out: [Errno ")


def test_full_disk(tmp_path, capsys, no_data_read):
    with tmpfs(tmp_path / "full", "size=64k") as full:
        with open(os.path.join(full, "filler"), "wb", buffering=0) as f:
            try:
                while f.write(b"x" * 4096):
                    pass
            except OSError:
                pass  # full
        assert main(["score", SAMPLES, "--output", os.path.join(full, "out")]) == 2
        assert one_error_line(capsys).endswith("[Errno 28] No space left on device")
        assert sorted(os.listdir(full)) == ["filler"]  # no directory, no probe left


def test_check_leaves_an_existing_directory_as_it_was(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["score", SAMPLES, "--output", str(out), "--dry-run"]) == 0
    assert os.listdir(out) == ["notes.txt"]


def test_check_removes_the_directories_it_created(tmp_path):
    files.check_writable(str(tmp_path / "a" / "b" / "c"))
    assert os.listdir(tmp_path) == []


def test_remove_temp_files_keeps_finished_files_and_the_users_own(tmp_path):
    out = tmp_path / "out"
    planted = {
        "records/part-000000-00000.parquet.tmp": True,
        "records/beam-temp-part-1a2b/0f3e": True,
        "duplicates/beam-temp-part-9c/sub/x": True,
        "_work/bands/p00001/s000000-00000.arrow": True,
        "records/part-000000-00001.parquet": False,
        "notes.tmp": False,  # not in the run layout: the user's
        "mine/draft.tmp": False,
    }
    for rel in planted:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text("x")
    score.remove_temp_files(str(out))
    left = sorted(os.path.relpath(os.path.join(root, f), out) for root, _, names in os.walk(out) for f in names)
    assert left == sorted(rel for rel, temp in planted.items() if not temp)
    assert sorted(os.listdir(out / "records")) == ["part-000000-00001.parquet"]  # temp folders gone too


def test_failure_cause_is_the_innermost_exception():
    try:
        try:
            raise OSError(28, "No space left on device")
        except OSError as e:
            raise RuntimeError(f"OSError: {e} [while running 'Score/ReadNormalizeScore']")  # noqa: B904 - as Beam does
    except RuntimeError as outer:
        assert failure_cause(outer) == "OSError: [Errno 28] No space left on device"


def test_failure_cause_ignores_an_unrelated_exception_being_handled():
    try:
        try:
            {}["key"]
        except KeyError:
            raise ValueError("the schema does not match\nsecond line")  # noqa: B904
    except ValueError as e:
        assert failure_cause(e) == "ValueError: the schema does not match second line"


def test_failure_cause_reads_a_worker_traceback_in_the_message():
    remote = (
        "Traceback (most recent call last):\n"
        '  File "sidefiles.py", line 87, in write\n'
        "    self._writer.write_batch(batch)\n"
        "OSError: [Errno 28] No space left on device\n\n"
        "During handling of the above exception, another exception occurred:\n\n"
        "Traceback (most recent call last):\n"
        '  File "common.py", line 1512, in process\n'
        "RuntimeError: OSError: [Errno 28] No space left on device [while running 'Score']\n"
    )
    assert failure_cause(RuntimeError(remote)) == "OSError: [Errno 28] No space left on device"


def test_console_output_check_is_fast_and_quiet(tmp_path):
    """The installed command: one line on stderr, nothing on stdout, exit 2."""
    out = tmp_path / "out"
    out.write_text("x")
    done = subprocess.run(
        [sys.executable, "-m", "winnow", "score", SAMPLES, "--output", str(out)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [f"winnow: error: cannot write to --output {out}: it is a file, not a directory"]
