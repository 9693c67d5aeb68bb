"""The `winnow` command's entry point: the collector's thresholds are set before the CLI is imported and run."""

from __future__ import annotations

import gc
import subprocess
import sys
from importlib import metadata

import pytest

from winnow.pipelines import cli, entry


def test_the_installed_command_is_the_entry_point() -> None:
    (script,) = [e for e in metadata.entry_points(group="console_scripts") if e.name == "winnow"]
    assert script.value == "winnow.pipelines.entry:main"


def test_the_cli_runs_under_the_entry_points_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    monkeypatch.setattr(cli, "main", lambda: seen.append(gc.get_threshold()) or 7)
    before = gc.get_threshold()
    try:
        assert entry.main() == 7
    finally:
        gc.set_threshold(*before)
    assert seen == [entry.GC_THRESHOLDS] != [before]


def test_the_thresholds_are_set_before_the_cli_is_imported() -> None:
    """In a fresh interpreter, the CLI's imports (Beam's included) already run under the entry point's thresholds."""
    code = (
        "import gc, sys\n"
        "from winnow.pipelines import entry\n"
        "assert 'winnow.pipelines.cli' not in sys.modules and 'apache_beam' not in sys.modules\n"
        "seen = []\n"
        "class Watch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'apache_beam' and not seen: seen.append(gc.get_threshold())\n"
        "sys.meta_path.insert(0, Watch())\n"
        "sys.argv = ['winnow', '--help']\n"
        "try:\n"
        "    entry.main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(seen)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == str([entry.GC_THRESHOLDS])
