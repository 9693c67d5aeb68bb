"""A generated run directory for the report tests: summaries built by winnow's own summary code, no pipeline.

Rows are made up (flags, scores, languages, clusters, dead letters) and fed
through ShardStats.add_batch and KeepTally.add_decided, then
write_summary writes summary/ exactly as a run does; run.json is written
beside it. So a 100,000-row run takes seconds, and the report is built from
the same files `winnow score` leaves.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

import numpy as np
import pyarrow as pa

from winnow.transforms.config import config_hash, load_config
from winnow.transforms.schema import ROW_BITS
from winnow.transforms.signals.rules import load_rules
from winnow.transforms.summary.dataset import write_summary
from winnow.transforms.summary.keep_counts import KeepTally
from winnow.transforms.summary.shard_stats import ShardStats

PAYLOADS = (
    "<script>window.__pwned = 1; document.title = 'pwned';</script>",
    '<img src="x" onerror="window.__pwned = 2; document.title = \'pwned\'">',
    "</pre></section><script>window.__pwned = 3</script><pre>",
    '"><svg onload="window.__pwned = 4">',
)
RULES = ("special_token_debris", "refusal_boilerplate", "truncated_response", "empty_response", "escape_debris")
LANGS = ("en", "en", "en", "zh", "fr", "de", "")
TOPICS = ("coding", "math", "writing", "advice", "translation")


def _batch(
    shard: str, index: int, start: int, n: int, rng: random.Random, payload: bool, boilerplate: float
) -> tuple[pa.RecordBatch, pa.Table]:
    rows = np.arange(start, start + n)
    keys = (index << ROW_BITS) | rows
    flags, drops, keep, composite, quality = [], [], [], [], []
    instructions, responses = [], []
    for i in range(n):
        f = [r for r in RULES if rng.random() < (boilerplate if r == "special_token_debris" else 0.04)]
        flags.append(f)
        c = round(min(1.0, max(0.0, rng.gauss(0.65, 0.2))), 4)
        composite.append(0.0 if "empty_response" in f else c)
        quality.append(None if rng.random() < 0.05 else round(rng.random(), 4))
        text = PAYLOADS[i % len(PAYLOADS)] if payload and i % 7 == 0 else f"Explain item {start + i} of {shard}."
        instructions.append(text)
        responses.append((text + " ") * (1 + i % 3) + ("<|endoftext|>" if "special_token_debris" in f else ""))
    # Clusters: every 40th row starts one with the next 1-4 rows; the first row is kept.
    cluster_id = np.full(n, -1, np.int64)
    size = np.zeros(n, np.int64)
    member = np.zeros(n, bool)
    for s in range(0, n - 5, 40):
        k = 2 + (s // 40) % 4
        cluster_id[s : s + k] = keys[s]
        size[s : s + k] = k
        member[s + 1 : s + k] = True
    for i in range(n):
        reasons = [f"rule:{r}" for r in flags[i] if r == "empty_response"]
        if member[i]:
            reasons.append(f"near_duplicate_of:{shard}:{int(cluster_id[i]) & ((1 << ROW_BITS) - 1)}")
        if composite[i] < 0.3:
            reasons.append("below_min:composite<0.3")
        drops.append(reasons)
        keep.append(not reasons)
    severity = ["drop" if "empty_response" in f else ("warn" if f else "") for f in flags]
    batch = pa.RecordBatch.from_pydict(
        {
            "key": pa.array(keys, pa.int64()),
            "id": [f"{shard}:{r}" for r in rows],
            "shard": [shard] * n,
            "row": pa.array(rows, pa.int64()),
            "format": ["alpaca"] * n,
            "instruction": instructions,
            "response": responses,
            "n_turns": pa.array([2] * n, pa.int32()),
            "instruction_chars": pa.array([len(t) for t in instructions], pa.int64()),
            "response_chars": pa.array([len(t) for t in responses], pa.int64()),
            "response_words": pa.array([len(t.split()) for t in responses], pa.int64()),
            "lang": [rng.choice(LANGS) for _ in range(n)],
            "response_token_entropy": pa.array([rng.uniform(0, 9) for _ in range(n)], pa.float32()),
            "answer_relevance": pa.array([None if i % 11 == 0 else rng.random() for i in range(n)], pa.float32()),
            "topics": [[rng.choice(TOPICS)] if i % 3 else [] for i in range(n)],
            "quality": pa.array(quality, pa.float32()),
            "composite": pa.array(composite, pa.float32()),
            "flags": pa.array(flags, pa.list_(pa.string())),
            "severity": severity,
            "keep": keep,
            "drop_reasons": pa.array(drops, pa.list_(pa.string())),
        }
    )
    clustered = cluster_id >= 0
    duplicates = pa.table(
        {
            "key": pa.array(keys[clustered], pa.int64()),
            "keep": pa.array(~member[clustered]),
            "kept_id": [f"{shard}:{int(c) & ((1 << ROW_BITS) - 1)}" for c in cluster_id[clustered]],
            "cluster_id": pa.array(cluster_id[clustered], pa.int64()),
            "cluster_size": pa.array(size[clustered], pa.int64()),
            "similarity": pa.array(np.where(member[clustered], 0.8, 1.0), pa.float32()),
        }
    )
    return batch, duplicates


def make_run(
    out: str,
    rows: int = 2000,
    shards: int = 4,
    payload: bool = False,
    seed: int = 0,
    boilerplate: float = 0.02,
    boilerplate_dir: str = "",
    batch_size: int = 5000,
) -> str:
    """A finished run directory at `out` with `rows` rows over `shards` files (in two folders)."""
    config = load_config(None, {"keep": {"min": {"composite": 0.3}}, "dedup": {"partitions": 4}})
    rule_list = load_rules(config.rules, config.disable_rules, config.rule_severity)
    rng = random.Random(seed)
    stats, tallies, dup_counts, inputs = [], {}, {}, []
    per = rows // shards
    for index in range(shards):
        folder = "family_a" if index % 2 == 0 else "family_b"
        name = (
            f"{folder}/part{index:04d}.jsonl"
            if not payload or index
            else "family_a/evil<img src=x onerror=window.__pwned=9>.jsonl"
        )
        s = ShardStats(name, index)
        t = KeepTally()
        n_rows = per if index < shards - 1 else rows - per * (shards - 1)
        removed = clustered = 0
        for start in range(0, n_rows, batch_size):
            n = min(batch_size, n_rows - start)
            rate = boilerplate if not boilerplate_dir or folder == boilerplate_dir else 0.02
            batch, duplicates = _batch(name, index, start, n, rng, payload, rate)
            rejected = [
                {
                    "shard": name,
                    "row": n_rows + j,
                    "reason": "invalid_json: line 1",
                    "raw": PAYLOADS[j % len(PAYLOADS)] if payload else "{oops",
                }
                for j in range(2)
            ]
            s.add_batch(batch.drop_columns(["keep", "drop_reasons"]), rejected, n + len(rejected))
            t.add_decided(batch, duplicates, ("composite",))
            clustered += duplicates.num_rows
            removed += int((~np.asarray(duplicates.column("keep").to_pylist(), bool)).sum())
        stats.append(s)
        tallies[name] = t
        dup_counts[name] = (clustered, removed, 0)
        inputs.append({"shard": name, "path": f"/data/{name}", "index": index, "bytes": 1000, "format": "alpaca"})
    os.makedirs(out, exist_ok=True)
    dataset = write_summary(
        stats, out, rule_list, config, dup_counts=dup_counts, dedup_totals={"clusters": 1}, keep_counts=tallies
    )
    record: dict[str, Any] = {
        "complete": True,
        "started": "2026-12-01T00:00:00+00:00",
        "runner": "DirectRunner",
        "config_hash": config_hash(config),
        "config": config.as_dict(),
        "inputs": inputs,
        "skipped_inputs": [],
        "finished": "2026-12-01T00:10:00+00:00",
        "versions": {"winnow": "test"},
        **{k: dataset[k] for k in ("rows_read", "rows_scored", "rows_rejected", "rows_kept", "rows_dropped")},
    }
    with open(os.path.join(out, "run.json"), "w") as f:
        json.dump(record, f)
    return out
