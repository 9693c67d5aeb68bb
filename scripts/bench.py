"""Benchmark winnow on a corpus built from ../shared/data.

Builds a corpus of real rows plus rows stitched from their sentences (at
least 200,000 by default), then prints two tables:

  * per stage: rows/s of each pure function on the whole corpus
    (read + parse, normalize, text stats, repetition, language ID, rules,
    Parquet write), single thread;
  * end to end: `winnow score` through Beam's DirectRunner, wall time,
    rows/s and peak RSS.

Usage: python scripts/bench.py [--rows 200000] [--data ../shared/data] [--workdir DIR]
Targets (issue 2): >= 10,000 rows/s end to end on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import sys
import tempfile
import time
from typing import Any, Iterator

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data"))
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|\n+")


def _peak_rss_mb() -> tuple[float, float]:
    """Peak RSS of this process and of its finished children, in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def real_rows(data_dir: str) -> list[dict[str, Any]]:
    """Every row of ../shared/data as (instruction, input, output) triples, via winnow's own reader."""
    from transforms.config import load_config
    from transforms.formats import FieldMap
    from transforms.normalize import normalize_rows
    from transforms.sources import match_inputs, read_shard

    config = load_config()
    fm = FieldMap.from_config(config)
    shards, _ = match_inputs([data_dir])
    rows = []
    for shard in shards:
        for raw in read_shard(shard.path, 4096, 2_000_000):
            batch, _ = normalize_rows(raw, shard, fm)
            for r in batch.select(["instruction", "input", "response", "format"]).to_pylist():
                rows.append(r)
    return rows


def stitched_rows(real: list[dict[str, Any]], n: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """New rows made of sentences of real rows: realistic text, new combinations."""
    rng = random.Random(seed)
    sentences = [s.strip() for r in real for s in _SENTENCE.split(r["response"]) if len(s.strip()) > 20]
    instructions = [r["instruction"] for r in real if r["instruction"]]
    for _ in range(n):
        k = rng.randint(1, 8)
        yield {
            "instruction": rng.choice(instructions),
            "input": "",
            "output": " ".join(rng.choice(sentences) for _ in range(k)),
        }


def build_corpus(data_dir: str, rows: int, workdir: str, shards: int = 8) -> tuple[str, int]:
    """Write the bench corpus as JSONL shards (alternating Alpaca and ShareGPT rows)."""
    real = real_rows(data_dir)
    corpus = os.path.join(workdir, "corpus")
    os.makedirs(corpus, exist_ok=True)
    out = [open(os.path.join(corpus, f"part-{i:02d}.jsonl"), "w", encoding="utf-8") for i in range(shards)]
    all_rows: list[dict[str, Any]] = [
        {"instruction": r["instruction"], "input": "", "output": r["response"]} for r in real
    ]
    all_rows += list(stitched_rows(real, max(0, rows - len(all_rows))))
    for i, r in enumerate(all_rows):
        if i % 2:
            row = {"conversations": [{"from": "human", "value": r["instruction"]}, {"from": "gpt", "value": r["output"]}]}
        else:
            row = r
        out[i % shards].write(json.dumps(row, ensure_ascii=False) + "\n")
    for f in out:
        f.close()
    return corpus, len(all_rows)


def bench_stages(corpus: str) -> list[tuple[str, float, int]]:
    """Seconds per stage over the whole corpus, single thread, pure functions."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from transforms.config import load_config
    from transforms.formats import FieldMap
    from transforms.normalize import normalize_rows
    from transforms.rules import load_rules
    from transforms.score import Scorer
    from transforms.sources import match_inputs, read_shard

    config = load_config()
    fm = FieldMap.from_config(config)
    scorer = Scorer(config, load_rules(config["rules"]))
    scorer._lid_model()  # load outside the timed loop, as a worker's setup does
    shards, _ = match_inputs([corpus])
    t_read = t_norm = t_write = 0.0
    n = 0
    sink = tempfile.NamedTemporaryFile(suffix=".parquet", delete=False)
    writer = pq.ParquetWriter(sink.name, scorer.schema, compression="snappy")
    for shard in shards:
        it = read_shard(shard.path, config["input"]["batch_size"], config["input"]["max_row_bytes"])
        while True:
            t = time.perf_counter()
            raw = next(it, None)
            t_read += time.perf_counter() - t
            if raw is None:
                break
            t = time.perf_counter()
            batch, _ = normalize_rows(raw, shard, fm)
            t_norm += time.perf_counter() - t
            scored = scorer.score(batch)
            t = time.perf_counter()
            writer.write_table(pa.Table.from_batches([scored]))
            t_write += time.perf_counter() - t
            n += len(raw)
    writer.close()
    os.unlink(sink.name)
    stages = [("read + parse JSON", t_read, n), ("normalize", t_norm, n)]
    stages += [(name, secs, n) for name, secs in scorer.timings.items()]
    stages.append(("write Parquet", t_write, n))
    return stages


def bench_end_to_end(corpus: str, workdir: str, beam_args: list[str]) -> tuple[float, int]:
    from pipelines import score
    from transforms.config import load_config

    out = os.path.join(workdir, "run")
    shutil.rmtree(out, ignore_errors=True)
    plan = score.make_plan([corpus], out, load_config(), "DirectRunner", detect_formats=False)
    t = time.perf_counter()
    record = score.run(plan, beam_args)
    return time.perf_counter() - t, record["rows_read"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--workdir", default=None, help="where the corpus and outputs go (default: a temp dir)")
    ap.add_argument("--skip-stages", action="store_true")
    args = ap.parse_args(argv)
    if not os.path.isdir(args.data):
        print(f"bench: {args.data} not found; the benchmark needs ../shared/data", file=sys.stderr)
        return 0
    workdir = args.workdir or tempfile.mkdtemp(prefix="winnow-bench-")
    t = time.perf_counter()
    corpus, rows = build_corpus(args.data, args.rows, workdir)
    size = sum(os.path.getsize(os.path.join(corpus, f)) for f in os.listdir(corpus))
    print(f"corpus: {rows:,} rows, {size / 2**20:.0f} MiB in {corpus} (built in {time.perf_counter() - t:.0f} s)")

    if not args.skip_stages:
        stages = bench_stages(corpus)
        total = sum(s for _, s, _ in stages)
        print("\nper stage (pure functions, one thread)")
        print(f"{'stage':<22}{'seconds':>9}{'rows/s':>12}{'share':>8}")
        for name, secs, n in stages:
            print(f"{name:<22}{secs:>9.2f}{n / secs if secs else float('inf'):>12,.0f}{secs / total:>8.1%}")
        print(f"{'all stages':<22}{total:>9.2f}{stages[0][2] / total:>12,.0f}")

    print("\nend to end (winnow score, DirectRunner)")
    print(f"{'mode':<34}{'seconds':>9}{'rows/s':>12}{'peak RSS MiB':>14}")
    results = {}
    for label, flags in (
        ("1 worker", ["--direct_num_workers=1"]),
        (f"{os.cpu_count()} worker processes (default)", []),
    ):
        secs, n = bench_end_to_end(corpus, workdir, flags)
        own, children = _peak_rss_mb()
        results[label] = secs
        print(f"{label:<34}{secs:>9.1f}{n / secs:>12,.0f}{max(own, children):>14,.0f}")
    one, many = results.values()
    print(f"speedup of the default over 1 worker: {one / many:.2f}x")
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
