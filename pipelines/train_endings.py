"""`winnow train-endings INPUT... --output MODEL`: a model of how this corpus's answers end (signals.endings).

Self-supervised: no labels. The answers are read like `score` reads them
(the last assistant turn of each row), at most --max-answers of them chosen
by a hash of the answer (the same sample on every run), and the model is
cross-fitted on their two halves (transforms.signals.endings).
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import sys
import time
from typing import TextIO

from winnow.transforms.config import Config, load_config
from winnow.transforms.io import files
from winnow.transforms.io.canonical import normalize_rows
from winnow.transforms.io.formats import FieldMap
from winnow.transforms.io.inputs import InputError, match_inputs
from winnow.transforms.io.readers import read_shard
from winnow.transforms.signals.endings import train_endings


def read_answers(paths: list[str], config: Config, max_answers: int) -> tuple[list[str], int, int]:
    """(answers, rows read, rows rejected): every row's response, or the max_answers with the smallest hash."""
    fm = FieldMap.from_config(config)
    shards, _ = match_inputs(paths)
    heap: list[tuple[int, str]] = []  # (-hash, answer): the largest hash on top, evicted first
    rows = rejected = 0
    for shard in shards:
        for raw in read_shard(shard.path, 2048, config.input.max_row_bytes):
            batch, bad = normalize_rows(raw, shard, fm)
            rows += len(raw)
            rejected += len(bad)
            for text in batch.column("response").to_pylist() if batch.num_rows else []:
                if not text:
                    continue
                h = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
                if len(heap) < max_answers:
                    heapq.heappush(heap, (-h, text))
                elif -heap[0][0] > h:
                    heapq.heapreplace(heap, (-h, text))
    return [t for _, t in sorted(heap, key=lambda e: -e[0])], rows, rejected


def run_train_endings(args: argparse.Namespace, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    config = load_config(args.config) if args.config else load_config()
    files.check_writable(args.output)
    started = time.monotonic()
    answers, rows, rejected = read_answers(args.inputs, config, args.max_answers)
    print(f"winnow train-endings: {rows:,} rows read ({rejected:,} rejected), {len(answers):,} answers", file=out)
    try:
        model = train_endings(answers, seed=args.seed)
    except ValueError as e:
        raise InputError(f"winnow train-endings: {e}") from e
    files.write_atomically(args.output, model.to_bytes())
    cv, card = model.card["cv"], model.card
    print(
        f"  {card['left_out_as_cut']:,} answers judged cut by a first fit were left out of the whole examples",
        file=out,
    )
    print(
        f"  cross-fitted (each answer judged by the half that did not see it): ROC-AUC answers vs cuts "
        f"{cv['roc_auc']:.3f}; P(cut) > 0.8 for {cv['answers_over_0.8']:.1%} of the corpus's answers (its own cut "
        f"ones among them) and {cv['cut_over_0.8']:.1%} of the cuts",
        file=out,
    )
    print(f"  wrote {args.output} ({model.card['examples']:,} examples, {time.monotonic() - started:.1f} s)", file=out)
    print(f"  use it: winnow score INPUT... --output RUN_DIR --endings-model {args.output}", file=out)
