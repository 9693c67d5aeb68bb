"""The `winnow` command's process: the garbage collector tuned before anything is imported, then the CLI.

A small run executes its whole Beam job in this process, over a heap that holds Beam, pyarrow, pandas, the
models and the word lists. Under CPython's default thresholds (700, 10, 10) the collector made about 1,100
young and 7 full collections in a one-shard-rewritten night of the nightly bench, 1.3 s of its 12 s (timed
with gc.callbacks). With young collections every 10,000 allocations: 68 young ones, no full one, 0.4 s.
Cyclic garbage is still collected, only later. Workers in other processes keep their interpreter's defaults.
"""

from __future__ import annotations

import gc

GC_THRESHOLDS = (10_000, 10, 10)


def main() -> int:
    gc.set_threshold(*GC_THRESHOLDS)
    from winnow.pipelines.cli import main as cli_main  # imported after the thresholds: imports allocate most

    return cli_main()
