"""`winnow report RUN_DIR [--compare PREVIOUS_RUN_DIR] [--output FILE]`: the offline HTML report of a run.

Reads the run's summaries (transforms.report.data), renders the page
(transforms.report.render) and writes it atomically, local or gs://.
`winnow score` calls `write_report` at the end of every run unless
`output.report` is off.
"""

from __future__ import annotations

import argparse
import sys
import time

from winnow.transforms.io import files
from winnow.transforms.report.data import read_run
from winnow.transforms.report.render import render_report
from winnow.transforms.run_layout import REPORT
from winnow.transforms.terminal import escape_control


def write_report(run_dir: str, compare: str | None = None, output: str | None = None) -> tuple[str, int]:
    """Render the report of `run_dir` (drift against `compare`) into `output` (default RUN_DIR/report.html).

    Returns (path written, bytes).
    """
    run_dir = run_dir.rstrip("/") or "/"
    page = render_report(read_run(run_dir), read_run(compare) if compare else None)
    path = output or files.join(run_dir, REPORT)
    files.write_atomically(path, page)
    return path, len(page)


def run_report(args: argparse.Namespace) -> None:
    """The `winnow report` command."""
    started = time.perf_counter()
    path, size = write_report(args.run_dir, args.compare, args.output)
    print(
        escape_control(f"report: {path} ({size / 1e6:.2f} MB, {time.perf_counter() - started:.1f} s)"),
        file=sys.stderr,
    )
