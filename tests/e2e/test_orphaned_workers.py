"""Worker processes end within seconds of their driver's kill -9 (issue 10 item 7).

Before the fix the SDK worker subprocesses of a multi_processing run kept
scoring for up to 50 s after the driver was gone, until their gRPC
connection timed out.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import psutil
import pytest

pytestmark = pytest.mark.slow

WORKERS = 2


def _corpus(d) -> str:
    """Two files (one part each, so both workers score) that keep each worker busy for ~20 s."""
    d.mkdir()
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu", "nu"]
    for f in range(WORKERS):
        with open(d / f"part{f}.jsonl", "w") as out:
            for i in range(25_000):
                w = [words[(i * 7 + k * 3 + f) % len(words)] for k in range(40)]
                out.write(json.dumps({"instruction": " ".join(w[:10]) + "?", "output": " ".join(w) + f" {i}."}) + "\n")
    return str(d)


def test_workers_exit_when_the_driver_is_killed(tmp_path):
    corpus = _corpus(tmp_path / "in")
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "winnow",
            "score",
            corpus,
            "--output",
            str(tmp_path / "out"),
            f"--direct_num_workers={WORKERS}",
            "--direct_running_mode=multi_processing",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Every worker prints a progress line once it scores, i.e. after ScoreShardFn.setup.
        scoring: set[int] = set()
        deadline = time.monotonic() + 120
        assert driver.stderr is not None
        for line in driver.stderr:
            m = re.match(r"\[winnow\] pid (\d+):", line)
            if m and int(m.group(1)) != driver.pid:
                scoring.add(int(m.group(1)))
            if len(scoring) == WORKERS or time.monotonic() > deadline:
                break
        assert len(scoring) == WORKERS, f"workers scoring: {scoring}"
        children = psutil.Process(driver.pid).children(recursive=True)
        assert {c.pid for c in children} >= scoring
    finally:
        driver.kill()
        driver.wait()
    killed = time.monotonic()
    _, alive = psutil.wait_procs(children, timeout=5)
    for p in alive:
        p.kill()
    assert not alive, f"still running {time.monotonic() - killed:.1f} s after the driver's kill: {[p.pid for p in alive]}"
