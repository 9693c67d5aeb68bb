"""Benchmark winnow on corpora built from ../shared/data; prints tables.

Sections (all by default; choose with --sections):

  scoring  per-stage rows/s of the pure functions (one thread), then
           `winnow score` end to end with every default signal on
           (scoring + near-duplicates): 1 worker vs the default local mode.
  dedup    near-duplicates injected with known word edit rates (0, 2, 5, 10,
           20, 30 %) into a corpus of real and stitched rows: precision,
           recall and F1 per edit-rate bucket, the precision of every merge
           (exact word 5-gram Jaccard, scripts/dedup_quality.py) with the
           kinds of false merges, the dedup stages' rows/s and share of the
           whole run, and
           the same corpus through datatrove's MinHash deduplication (if
           datatrove is installed: pip install -e '.[bench]').
  memory   peak RSS of a dedup run at 100k and at 400k rows (same batch size
           and partition count): driver process and largest worker.
  quickstart  the README's first command (`winnow score samples/`) in its
           default mode (small inputs: one process) against the same command
           forced to worker processes, interleaved runs, median wall seconds.
           Needs no ../shared/data.
  validity the real instruction rows of ../shared/data against generated junk
           (token soup, prompt injections, one answer copied across 500
           prompts, answers swapped between prompts, truncated answers), one
           `winnow score` with the default config: per junk class the share
           below the real rows' 10th percentile of composite, ROC-AUC real vs
           junk, pairwise accuracy (real vs swapped answer to one prompt), the
           same per numeric column, the lowest real rows; then KTO good vs bad
           (train-quality cross-validated, and the composite). The logic is in
           scripts/validity.py. Knobs: --validity-junk, --validity-real,
           --validity-seed.
  kept     how the curate stage gets the kept rows' input bytes (issue 12):
           re-reading each input part (today: original_rows/original_batches
           and curate's selection) against carrying every row's raw bytes in
           the scored spill _work/scored/ (build the column, write it with the
           spill's Parquet options, read it back filtered to the kept rows),
           on the dedup corpus as JSONL, JSONL.gz and Parquet, 70 % of rows
           kept; one thread, best of 3.
  nightly  `winnow score --state` (issue 15): the dedup section's corpus in 100
           shards, a full first night against two second nights from it: 1 %
           more shards (new rows and copies of earlier rows), and 1 % of the
           shards changed (10 % of their rows rewritten, the same copies
           added); wall times and their ratio to the full night (target <= 10 %).
  report   the dedup section's corpus scored with every default signal, then
           the size of report.html and the time to build it (in process, and
           the `winnow report` command), and whether two renders are equal.

Usage: python scripts/bench.py [--rows 200000] [--sections scoring,dedup,memory,quickstart,validity,kept,report,nightly]
                               [--data ../shared/data] [--workdir DIR]
Targets: scoring >= 10,000 rows/s end to end without dedup (issue 2) and
>= 3,000 rows/s with every default signal (issue 4); dedup stages >= 5,000
rows/s, precision >= 0.99 and recall >= 0.95 up to 10 % edits, >= 3x
datatrove's rows/s at equal or better F1 (issue 3). validity: every junk class
>= 0.95 below the real p10 of composite, ROC-AUC >= 0.99; KTO CV ROC-AUC above
0.69 (issue 11).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data"))
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|\n+")
EDIT_RATES = (0.0, 0.02, 0.05, 0.10, 0.20, 0.30)


# ---- corpus -----------------------------------------------------------------


def real_rows(data_dir: str) -> list[dict[str, Any]]:
    """Every row of ../shared/data as instruction/response pairs, via winnow's own reader."""
    from winnow.transforms.config import load_config
    from winnow.transforms.io.canonical import normalize_rows
    from winnow.transforms.io.formats import FieldMap
    from winnow.transforms.io.inputs import match_inputs
    from winnow.transforms.io.readers import read_shard

    fm = FieldMap.from_config(load_config())
    shards, _ = match_inputs([data_dir])
    rows = []
    for shard in shards:
        for raw in read_shard(shard.path, 4096, 2_000_000):
            batch, _ = normalize_rows(raw, shard, fm)
            rows.extend(batch.select(["instruction", "response"]).to_pylist())
    return rows


def stitched_rows(real: list[dict[str, Any]], n: int, seed: int = 7) -> Iterator[dict[str, str]]:
    """New rows made of sentences of real rows: realistic text, new combinations.

    Answers have at least 3 sentences, so two stitched rows that happen to
    share one sentence stay below the duplicate threshold: the base corpus
    has no accidental near-duplicates to blur the injected ground truth.
    """
    rng = random.Random(seed)
    sentences = [s.strip() for r in real for s in _SENTENCE.split(r["response"]) if len(s.strip()) > 20]
    questions = [s.strip() for r in real for s in _SENTENCE.split(r["instruction"]) if 20 < len(s.strip()) < 300]
    for _ in range(n):
        yield {
            "instruction": " ".join(rng.choice(questions) for _ in range(rng.randint(1, 2))),
            "output": " ".join(rng.choice(sentences) for _ in range(rng.randint(3, 8))),
        }


def edit_words(text: str, rate: float, rng: random.Random, vocab: list[str]) -> str:
    """Edit about `rate` of the words: substitute, delete or insert, equally likely."""
    out: list[str] = []
    for word in text.split():
        if rng.random() >= rate:
            out.append(word)
            continue
        op = rng.randrange(3)
        if op == 0:
            out.append(rng.choice(vocab))
        elif op == 2:
            out += [word, rng.choice(vocab)]
    return " ".join(out) or text


def write_jsonl(rows: list[dict[str, Any]], directory: str, shards: int = 8) -> str:
    """Rows spread over `shards` files (0: one file per 25,000 rows, as a growing corpus adds files)."""
    shards = shards or max(1, -(-len(rows) // 25_000))
    os.makedirs(directory, exist_ok=True)
    files = [open(os.path.join(directory, f"part-{i:02d}.jsonl"), "w", encoding="utf-8") for i in range(shards)]
    for i, r in enumerate(rows):
        files[i % shards].write(json.dumps(r, ensure_ascii=False) + "\n")
    for f in files:
        f.close()
    return directory


def build_scoring_corpus(real: list[dict[str, Any]], rows: int, workdir: str) -> str:
    """Real rows then stitched rows; alternating Alpaca and ShareGPT rows."""
    base = [{"instruction": r["instruction"], "input": "", "output": r["response"]} for r in real]
    base += list(stitched_rows(real, max(0, rows - len(base))))
    out = []
    for i, r in enumerate(base[:rows]):
        if i % 2:
            out.append({"conversations": [{"from": "human", "value": r["instruction"]}, {"from": "gpt", "value": r["output"]}]})
        else:
            out.append(r)
    return write_jsonl(out, os.path.join(workdir, "scoring"))


def build_dedup_corpus(
    real: list[dict[str, Any]],
    rows: int,
    workdir: str,
    name: str,
    copies_per_rate: int,
    shards: int = 8,
    texts: dict[str, tuple[str, str]] | None = None,
) -> tuple[str, str, dict]:
    """Base rows plus edited copies of stitched sources; returns (winnow dir, datatrove dir, truth).

    Sources are stitched rows (new combinations, so they have no natural
    near-duplicate family in the base); each source gets one copy. `texts`,
    if given, is filled with every row's id -> (prompt, answer).
    """
    rng = random.Random(11)
    n_copies = copies_per_rate * len(EDIT_RATES)
    base = [{"instruction": r["instruction"], "input": "", "output": r["response"]} for r in real]
    stitched = list(stitched_rows(real, max(n_copies, rows - n_copies - len(base)), seed=13))
    base = (base + stitched)[: rows - n_copies]
    for i, r in enumerate(base):
        r["id"] = f"b{i}"
    vocab = [w for r in real[:3000] for w in r["response"].split()]
    source_pool = list(range(len(base) - len(stitched[: len(base)]), len(base)))
    sources = rng.sample(source_pool, n_copies)
    copies, truth = [], {}
    for k, src in enumerate(sources):
        rate = EDIT_RATES[k % len(EDIT_RATES)]
        s = base[src]
        cid = f"c{k}"
        copies.append(
            {
                "id": cid,
                "instruction": edit_words(s["instruction"], rate, rng, vocab),
                "input": "",
                "output": edit_words(s["output"], rate, rng, vocab),
            }
        )
        truth[cid] = (s["id"], rate)
    allrows = base + copies
    if texts is not None:
        texts.update((r["id"], (r["instruction"] + ("\n" + r["input"] if r.get("input") else ""), r["output"])) for r in allrows)
    rng.shuffle(allrows)
    wdir = write_jsonl(allrows, os.path.join(workdir, name, "winnow"), shards)
    ddir = write_jsonl(
        [{"id": r["id"], "text": r["instruction"] + "\n" + r["output"]} for r in allrows],
        os.path.join(workdir, name, "datatrove"),
        shards,
    )
    return wdir, ddir, truth


def score_clusters(cluster_of: dict[str, Any], truth: dict[str, tuple[str, float]]) -> dict[float, dict[str, float]]:
    """Precision, recall and F1 per edit rate, from each copy's cluster.

    recall: the copy shares a cluster with its source. precision: of the
    other members of a copy's cluster, the share that is its source.
    """
    members: dict[Any, list[str]] = defaultdict(list)
    for rid, c in cluster_of.items():
        members[c].append(rid)
    acc: dict[float, list[float]] = {r: [0, 0, 0, 0] for r in EDIT_RATES}  # hits, copies, correct, predicted
    for cid, (src, rate) in truth.items():
        a = acc[rate]
        a[1] += 1
        c = cluster_of.get(cid)
        if c is None:
            continue
        others = [m for m in members[c] if m != cid]
        hit = src in others
        a[0] += hit
        a[2] += hit
        a[3] += len(others)
    out = {}
    for rate, (hits, copies, correct, predicted) in acc.items():
        p = correct / predicted if predicted else 1.0
        r = hits / copies if copies else 0.0
        out[rate] = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}
    return out


# ---- running ----------------------------------------------------------------


def run_tree(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a command; wall seconds and peak RSS (MiB) of the driver, the largest child, and the tree."""
    import psutil

    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    ps = psutil.Process(proc.pid)
    driver = worker = tree = 0.0
    while proc.poll() is None:
        try:
            kids = ps.children(recursive=True)
            d = ps.memory_info().rss
            ks = []
            for k in kids:
                try:
                    ks.append(k.memory_info().rss)
                except psutil.Error:
                    pass
            driver, worker, tree = max(driver, d), max(worker, max(ks, default=0)), max(tree, d + sum(ks))
        except psutil.Error:
            pass
        time.sleep(0.1)
    out, err = proc.communicate()
    secs = time.perf_counter() - t
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed:\n{err[-3000:]}")
    mb = 1 / 2**20
    return {"seconds": secs, "driver_mb": driver * mb, "worker_mb": worker * mb, "tree_mb": tree * mb, "stdout": out}


def winnow_cmd(corpus: str, out: str, config: str | None, flags: Sequence[str] = ()) -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "winnow")
    cmd = [exe, "score", corpus, "--output", out, "--overwrite", *flags]
    return cmd + (["--config", config] if config else [])


def write_config(workdir: str, name: str, text: str) -> str:
    path = os.path.join(workdir, f"{name}.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


DEDUP_ONLY = """\
signals:
  repetition: false
  langid: {enabled: false}
rules: []
output: {include_text: false}
"""


def read_clusters(out: str) -> dict[str, Any]:
    import pyarrow.dataset as ds

    table = ds.dataset(os.path.join(out, "duplicates"), format="parquet").to_table(columns=["id", "cluster_id"])
    return dict(zip(table.column("id").to_pylist(), table.column("cluster_id").to_pylist()))


# ---- sections ---------------------------------------------------------------


def section_scoring(real, rows: int, workdir: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from winnow.transforms.config import load_config
    from winnow.transforms.dedup.params import DedupParams
    from winnow.transforms.dedup.signer import Signer
    from winnow.transforms.io.canonical import normalize_rows
    from winnow.transforms.io.formats import FieldMap
    from winnow.transforms.io.inputs import match_inputs
    from winnow.transforms.io.readers import read_shard
    from winnow.transforms.signals.rules import load_rules
    from winnow.transforms.signals.scorer import Scorer

    corpus = build_scoring_corpus(real, rows, workdir)
    config = load_config()
    fm = FieldMap.from_config(config)
    scorer = Scorer(config, load_rules(config.rules))
    scorer.load_models()  # outside the timed loop, as a worker's setup does
    signer = Signer(DedupParams.from_config(config))
    shards, _ = match_inputs([corpus])
    timing: dict[str, float] = defaultdict(float)
    n = 0
    sink = tempfile.NamedTemporaryFile(suffix=".parquet", delete=False)
    writer = pq.ParquetWriter(sink.name, scorer.schema, compression="snappy")
    for shard in shards:
        it = read_shard(shard.path, config.input.batch_size, config.input.max_row_bytes)
        while True:
            t = time.perf_counter()
            raw = next(it, None)
            timing["read + parse JSON"] += time.perf_counter() - t
            if raw is None:
                break
            t = time.perf_counter()
            batch, _ = normalize_rows(raw, shard, fm)
            timing["normalize"] += time.perf_counter() - t
            scored = scorer.score(batch)
            signer.sign(batch, scored)
            t = time.perf_counter()
            writer.write_table(pa.Table.from_batches([scored]))
            timing["write Parquet"] += time.perf_counter() - t
            n += len(raw)
    writer.close()
    os.unlink(sink.name)
    stages = (
        list(timing.items())[:2]
        + list(scorer.timings.items())
        + list(signer.timings.items())
        + [("write Parquet", timing["write Parquet"])]
    )
    total = sum(s for _, s in stages)
    print(f"\n## scoring: {n:,} rows\n\nper stage (pure functions, one thread)")
    print(f"{'stage':<22}{'seconds':>9}{'rows/s':>12}{'share':>8}")
    for name, secs in stages:
        print(f"{name:<22}{secs:>9.2f}{n / secs if secs else float('inf'):>12,.0f}{secs / total:>8.1%}")
    print(f"{'all stages':<22}{total:>9.2f}{n / total:>12,.0f}")

    print("\nend to end (winnow score, DirectRunner)")
    print(f"{'run':<44}{'seconds':>9}{'rows/s':>10}{'driver MiB':>12}{'worker MiB':>12}")
    no_dedup = write_config(workdir, "no_dedup", "dedup: {enabled: false}\n")
    # The signals of issue 2 alone: text stats, repetition, language ID, rules.
    core = write_config(
        workdir,
        "core",
        "dedup: {enabled: false}\noverlap: {enabled: false}\ntaxonomy: {enabled: false}\n"
        "composite: {enabled: false}\nsafety: {pii: false, demographics: {}}\nsignals: {code_checks: false}\n"
        "disable_rules: [python_syntax_error, invalid_tool_call, undeclared_tool_call, media_mismatch, personal_data,\n"
        "                parroted_instruction]\n",
    )
    results = {}
    for label, cfg, flags in (
        ("core signals (stats, LID, rules), default", core, []),
        ("scoring only, 1 worker", no_dedup, ["--direct_num_workers=1"]),
        ("scoring only, default (1 process per core)", no_dedup, []),
        ("all default signals + dedup, 1 worker", None, ["--direct_num_workers=1"]),
        ("all default signals + dedup, default", None, []),
    ):
        r = run_tree(winnow_cmd(corpus, os.path.join(workdir, "out-scoring"), cfg, flags))
        results[label] = r["seconds"]
        print(f"{label:<44}{r['seconds']:>9.1f}{n / r['seconds']:>10,.0f}{r['driver_mb']:>12,.0f}{r['worker_mb']:>12,.0f}")
    # The same rows as one file: the default reads it in parts (input.split_bytes), so both cores work.
    single = os.path.join(workdir, "scoring-one-file")
    os.makedirs(single, exist_ok=True)
    with open(os.path.join(single, "all.jsonl"), "wb") as dst:
        for name in sorted(os.listdir(corpus)):
            with open(os.path.join(corpus, name), "rb") as src:
                shutil.copyfileobj(src, dst)
    size = os.path.getsize(os.path.join(single, "all.jsonl"))
    for label, flags in (
        (f"one {size / 2**20:,.0f} MiB file + dedup, 1 worker", ["--direct_num_workers=1"]),
        (f"one {size / 2**20:,.0f} MiB file + dedup, default", []),
    ):
        r = run_tree(winnow_cmd(single, os.path.join(workdir, "out-scoring"), None, flags))
        results[label] = r["seconds"]
        print(f"{label:<44}{r['seconds']:>9.1f}{n / r['seconds']:>10,.0f}{r['driver_mb']:>12,.0f}{r['worker_mb']:>12,.0f}")
    labels = list(results)
    print(
        f"speedup of the default (2 processes) over 1 worker: scoring {results[labels[1]] / results[labels[2]]:.2f}x, "
        f"with dedup {results[labels[3]] / results[labels[4]]:.2f}x, one file read in parts {results[labels[5]] / results[labels[6]]:.2f}x"
    )


def run_datatrove(
    corpus: str, out: str, n_grams: int, buckets: int, per_bucket: int, tasks: int = 2
) -> tuple[float, dict[str, Any]]:
    """datatrove's 4-stage MinHash dedup on the same rows; returns (seconds, id -> cluster)."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    shutil.rmtree(out, ignore_errors=True)
    cfg = MinhashConfig(
        n_grams=n_grams, num_buckets=buckets, hashes_per_bucket=per_bucket, hash_config=HashConfig(precision=64, hash_fc="sha1")
    )
    logs = os.path.join(out, "logs")
    t = time.perf_counter()
    LocalPipelineExecutor(
        pipeline=[JsonlReader(corpus), MinhashDedupSignature(output_folder=f"{out}/sigs", config=cfg)],
        tasks=tasks,
        workers=tasks,
        logging_dir=f"{logs}/1",
    ).run()
    LocalPipelineExecutor(
        pipeline=[MinhashDedupBuckets(input_folder=f"{out}/sigs", output_folder=f"{out}/buckets", config=cfg)],
        tasks=cfg.num_buckets,
        workers=tasks,
        logging_dir=f"{logs}/2",
    ).run()
    LocalPipelineExecutor(
        pipeline=[
            MinhashDedupCluster(
                input_folder=f"{out}/buckets", output_folder=f"{out}/remove_ids", config=cfg, save_cluster_id=True
            )
        ],
        tasks=1,
        logging_dir=f"{logs}/3",
    ).run()
    LocalPipelineExecutor(
        pipeline=[
            JsonlReader(corpus),
            MinhashDedupFilter(
                input_folder=f"{out}/remove_ids",
                load_cluster_ids=True,
                exclusion_writer=JsonlWriter(f"{out}/removed", compression=None),
            ),
            JsonlWriter(f"{out}/kept", compression=None),
        ],
        tasks=tasks,
        workers=tasks,
        logging_dir=f"{logs}/4",
    ).run()
    secs = time.perf_counter() - t
    clusters = {}
    for part in ("kept", "removed"):
        for name in os.listdir(os.path.join(out, part)):
            with open(os.path.join(out, part, name)) as f:
                for line in f:
                    doc = json.loads(line)
                    cid = doc.get("metadata", {}).get("minhash_cluster_id")
                    if cid is not None and cid != -1:
                        clusters[doc["id"]] = cid
    return secs, clusters


def print_quality(name: str, q: dict[float, dict[str, float]]) -> None:
    print(f"{name:<34}" + "".join(f"{q[r]['precision']:>7.3f}/{q[r]['recall']:.3f}/{q[r]['f1']:.3f}" for r in EDIT_RATES))


def section_dedup(real, rows: int, workdir: str, copies_per_rate: int) -> None:
    import dedup_quality

    texts: dict[str, tuple[str, str]] = {}
    wdir, ddir, truth = build_dedup_corpus(real, rows, workdir, "dedup", copies_per_rate, texts=texts)
    n = rows
    only = write_config(workdir, "dedup_only", DEDUP_ONLY)
    off = write_config(workdir, "dedup_off", DEDUP_ONLY + "dedup: {enabled: false}\n")
    out = os.path.join(workdir, "out-dedup")
    print(f"\n## near-duplicates: {n:,} rows, {len(truth):,} injected copies ({copies_per_rate:,} per edit rate)")
    base = run_tree(winnow_cmd(wdir, out + "-off", off))
    full = run_tree(winnow_cmd(wdir, out, only))
    with open(os.path.join(out, "summary", "dataset.json")) as f:
        dd = json.load(f)["dedup"]
    dedup_secs = max(full["seconds"] - base["seconds"], 1e-9)
    q = score_clusters(read_clusters(out), truth)
    print(
        f"LSH {dd['bands']} bands x {dd['rows']} rows, threshold {dd['threshold']}, verify {dd['verify']} >= "
        f"{dd['verify_threshold']}; {dd['candidate_pairs']:,} candidate pairs, {dd['verified_pairs']:,} verified"
    )
    print(f"\n{'run':<44}{'seconds':>9}{'rows/s':>10}{'driver MiB':>12}{'worker MiB':>12}")
    print(
        f"{'winnow, dedup switched off (read+normalize)':<44}{base['seconds']:>9.1f}{n / base['seconds']:>10,.0f}{base['driver_mb']:>12,.0f}{base['worker_mb']:>12,.0f}"
    )
    print(
        f"{'winnow, dedup on (whole run)':<44}{full['seconds']:>9.1f}{n / full['seconds']:>10,.0f}{full['driver_mb']:>12,.0f}{full['worker_mb']:>12,.0f}"
    )
    print(f"{'winnow dedup stages (difference)':<44}{dedup_secs:>9.1f}{n / dedup_secs:>10,.0f}")
    diff = full["seconds"] - base["seconds"]
    share = diff / full["seconds"]
    print(
        f"dedup stages' share of the whole run: {diff:.1f} s / {full['seconds']:.1f} s = {share:.1%} "
        "(README, Near-duplicates: compare it with the same section of a run of the code before a change)"
        + ("; not measurable: the dedup-on run was not slower than the dedup-off run" if diff <= 0 else "")
    )
    print()
    dedup_quality.print_quality(
        dedup_quality.judge(dedup_quality.kept_pairs(dedup_quality.read_members(out)), texts, truth), texts
    )
    print("\nrecall of the injected copies per edit rate (each copy in its source's cluster)")
    print("".join(f"{f'{int(r * 100)} %':>8}" for r in EDIT_RATES))
    print("".join(f"{q[r]['recall']:>8.3f}" for r in EDIT_RATES))
    results = {"winnow (whole run)": (full["seconds"], q)}
    try:
        import datatrove  # noqa: F401
    except ImportError:
        print("datatrove is not installed (pip install -e '.[bench]'): comparison skipped")
    else:
        for label, (ng, b, r) in {
            "datatrove default (5-gram, 14x8)": (5, 14, 8),
            f"datatrove matched (3-gram, {dd['bands']}x{dd['rows']})": (3, dd["bands"], dd["rows"]),
        }.items():
            secs, clusters = run_datatrove(ddir, os.path.join(workdir, "datatrove-out"), ng, b, r)
            results[label] = (secs, score_clusters(clusters, truth))
            print(f"{label:<44}{secs:>9.1f}{n / secs:>10,.0f}")
    print("\nprecision/recall/F1 per edit rate")
    print(f"{'':<34}" + "".join(f"{f'{int(r * 100)} %':>22}" for r in EDIT_RATES))
    for label, (_, qq) in results.items():
        print_quality(label, qq)
    f1_upto10 = {label: min(qq[r]["f1"] for r in EDIT_RATES if r <= 0.10) for label, (_, qq) in results.items()}
    for label, (secs, _) in results.items():
        if label.startswith("datatrove"):
            print(
                f"winnow whole run vs {label}: {secs / full['seconds']:.2f}x the rows/s; "
                f"worst F1 up to 10 % edits {f1_upto10['winnow (whole run)']:.3f} vs {f1_upto10[label]:.3f}"
            )


def section_memory(real, workdir: str, sizes: tuple[int, ...]) -> None:
    only = write_config(workdir, "dedup_only", DEDUP_ONLY)
    print("\n## memory: dedup run (batch 2048 rows, 64 partitions, 25,000 rows per input file), peak RSS in MiB")
    print(f"{'rows':>10}{'seconds':>9}{'rows/s':>10}{'driver':>10}{'largest worker':>16}{'all processes':>15}")
    for rows in sizes:
        wdir, _, _ = build_dedup_corpus(real, rows, workdir, f"mem{rows}", max(100, rows // 200), shards=0)
        r = run_tree(winnow_cmd(wdir, os.path.join(workdir, f"out-mem{rows}"), only))
        print(
            f"{rows:>10,}{r['seconds']:>9.1f}{rows / r['seconds']:>10,.0f}{r['driver_mb']:>10,.0f}{r['worker_mb']:>16,.0f}{r['tree_mb']:>15,.0f}"
        )
        shutil.rmtree(os.path.join(workdir, f"mem{rows}"), ignore_errors=True)


def section_quickstart(workdir: str, repeats: int) -> None:
    """Default mode vs worker processes on samples/, runs interleaved so machine load hits both alike."""
    samples = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "samples")
    modes = {
        "default (small input: one process)": [],
        "forced: --direct_num_workers=2 --direct_running_mode=multi_processing": [
            "--direct_num_workers=2",
            "--direct_running_mode=multi_processing",
        ],
    }
    seconds: dict[str, list[float]] = {m: [] for m in modes}
    out = os.path.join(workdir, "quickstart")
    for _ in range(repeats):
        for mode, flags in modes.items():
            seconds[mode].append(run_tree(winnow_cmd(samples, out, None, flags))["seconds"])
    print(f"\n## quickstart: winnow score samples/ ({repeats} interleaved runs each)\n")
    print(f"{'mode':<74}{'median s':>10}{'min s':>8}")
    for mode, values in seconds.items():
        print(f"{mode:<74}{statistics.median(values):>10.1f}{min(values):>8.1f}")
    default, forced = (statistics.median(v) for v in seconds.values())
    print(f"default / forced = {default / forced:.2f}")
    shutil.rmtree(out, ignore_errors=True)


def section_validity(data_dir: str, workdir: str, real_per_source: int, per_class: int, seed: int) -> None:
    """Real rows vs generated junk, and KTO good vs bad (scripts/validity.py); skipped without ../shared/data."""
    import validity

    if not os.path.isdir(data_dir):
        print(f"\n## validity: skipped, {data_dir} not found (the section needs ../shared/data)")
        return
    t = time.perf_counter()
    exe = os.path.join(os.path.dirname(sys.executable), "winnow")
    validity.run_section(data_dir, workdir, real_per_source, per_class, seed, lambda args: run_tree([exe, *args]))
    print(f"\nvalidity section: {time.perf_counter() - t:.0f} s")


KEPT_SHARE = 0.7  # share of rows the kept section keeps (seeded draw per part)
KEPT_REPEATS = 3
EVEN = 1.2  # times closer than this are called even: runs on a shared machine vary about that much


def kept_inputs(jsonl_dir: str, workdir: str) -> dict[str, str]:
    """The same rows as JSONL (as given), JSONL.gz (gzip level 6, as kept/ writes it) and Parquet (pyarrow defaults)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from winnow.transforms.io.compress import open_compressed

    out = {"jsonl": jsonl_dir}
    gz_dir, pq_dir = os.path.join(workdir, "kept-inputs", "jsonl.gz"), os.path.join(workdir, "kept-inputs", "parquet")
    for d in (gz_dir, pq_dir):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    for name in sorted(os.listdir(jsonl_dir)):
        with open(os.path.join(jsonl_dir, name), "rb") as f:
            data = f.read()
        gz = open_compressed(open(os.path.join(gz_dir, name + ".gz"), "wb"), "gzip")
        gz.write(data)
        gz.close()
        rows = [json.loads(line) for line in data.splitlines() if line.strip()]
        pq.write_table(pa.Table.from_pylist(rows), os.path.join(pq_dir, name.replace(".jsonl", ".parquet")))
    out["jsonl.gz"], out["parquet"] = gz_dir, pq_dir
    return out


def numbered_parts(directory: str, split_bytes: int) -> list:
    """The input's parts as the scoring stage plans and numbers them (transforms.beam.scoring.ReadableParts)."""
    from winnow.transforms.io.inputs import match_inputs
    from winnow.transforms.io.splits import count_newlines, number_splits, plan_splits

    shards, _ = match_inputs([directory])
    parts = []
    for shard in shards:
        splits = plan_splits(shard, split_bytes)
        newlines = {
            s.part: count_newlines(shard.path, s.start, s.end) for s in splits if s.kind == "lines" and s.part < s.parts - 1
        }
        parts += number_splits(splits, newlines)
    return parts


def best_of(fn, repeats: int = KEPT_REPEATS, before=None) -> tuple[float, Any]:
    """Smallest wall time of `repeats` calls of fn() (before() runs untimed ahead of each), and fn's last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        if before is not None:
            before()
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def remove_file(path: str) -> None:
    if os.path.exists(path):
        os.unlink(path)


def section_kept(real, rows: int, workdir: str, copies_per_rate: int) -> None:
    """Re-read the input for the kept rows (curate today) vs carry the raw rows in the scored spill."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from winnow.transforms.config import load_config
    from winnow.transforms.curate import _members, _selected, scored_path
    from winnow.transforms.io import files
    from winnow.transforms.io.inputs import shard_kind
    from winnow.transforms.io.parquet_out import BatchFile
    from winnow.transforms.io.readers import batched, original_batches, original_rows

    wdir, _, _ = build_dedup_corpus(real, rows, workdir, "kept", copies_per_rate)
    inputs = kept_inputs(wdir, workdir)
    inp = load_config().input
    cpu, io = pa.cpu_count(), pa.io_thread_count()
    pa.set_cpu_count(1)  # one thread: Arrow's pools too
    pa.set_io_thread_count(1)
    results = []
    try:
        for fmt, directory in inputs.items():
            parts = numbered_parts(directory, inp.split_bytes)
            out = os.path.join(workdir, f"out-kept-{fmt}")
            shutil.rmtree(out, ignore_errors=True)
            rng = np.random.default_rng(12)
            n_rows = n_kept = 0
            reread = write = read = 0.0
            spill_bytes = 0
            for split in parts:
                parquet = shard_kind(split.shard.path) == "parquet"
                # Untimed: what the scoring stage already holds when it would build the raw column
                # (the part's batches of lines or of records), the part's row numbers, the kept rows.
                held: list[Any]
                if parquet:
                    schema, batches = original_batches(split, inp.batch_size)
                    held = list(batches)
                    numbers = np.concatenate([first + np.arange(b.num_rows) for first, b in held])
                    raw_type = pa.struct(list(schema))
                else:
                    held = [list(chunk) for chunk in batched(original_rows(split, inp.max_row_bytes), inp.batch_size)]
                    numbers = np.array([row for chunk in held for row, _ in chunk], dtype=np.int64)
                    raw_type = pa.binary()
                kept = np.sort(rng.choice(numbers, size=round(KEPT_SHARE * len(numbers)), replace=False))
                keep = _members(numbers, kept)
                spill_schema = pa.schema([("raw", raw_type)])
                spill = scored_path(out, split.shard.index, split.part)

                def reread_part(split=split, kept=kept, parquet=parquet) -> list:
                    """curate.write_kept's read and selection, without the kept/ writer (both ways write kept/ alike)."""
                    if parquet:
                        _, batches = original_batches(split, inp.batch_size)
                        return [b.filter(pa.array(_members(first + np.arange(b.num_rows), kept))) for first, b in batches]
                    return [
                        line
                        for chunk in batched(_selected(original_rows(split, inp.max_row_bytes), kept), inp.batch_size)
                        for line in chunk
                    ]

                def carry_write(held=held, spill=spill, spill_schema=spill_schema, parquet=parquet) -> None:
                    """The scoring stage: the raw column from the rows it read, into the spill (BatchFile, its options)."""
                    writer = BatchFile(spill, spill_schema)
                    for item in held:
                        if parquet:
                            column = pa.StructArray.from_arrays(item[1].columns, fields=list(item[1].schema))
                        else:
                            column = pa.array([line for _, line in item], pa.binary())
                        writer.write(pa.RecordBatch.from_arrays([column], schema=spill_schema))
                    writer.close()

                def carry_read(spill=spill, keep=keep, parquet=parquet) -> list:
                    """The curate stage: the raw column read back as it reads the spill, filtered by keep."""
                    got, at = [], 0
                    with files.open_read(spill) as f:
                        for batch in pq.ParquetFile(f).iter_batches(columns=["raw"]):
                            column = batch.column(0).filter(pa.array(keep[at : at + batch.num_rows]))
                            at += batch.num_rows
                            if parquet:
                                got.append(pa.RecordBatch.from_struct_array(column))
                            else:
                                got.extend(column.to_pylist())
                    return got

                secs, reread_rows = best_of(reread_part)
                reread += secs
                secs, _ = best_of(carry_write, before=lambda spill=spill: remove_file(spill))
                write += secs
                spill_bytes += os.path.getsize(spill)
                secs, carried = best_of(carry_read)
                read += secs
                if parquet:  # both ways give the same kept rows
                    same = pa.Table.from_batches(carried).equals(pa.Table.from_batches(reread_rows))  # metadata aside
                else:
                    same = carried == reread_rows
                if not same:
                    raise RuntimeError(f"kept: re-read and carried rows differ in {split.shard.name} part {split.part}")
                n_rows += len(numbers)
                n_kept += len(kept)
            input_bytes = sum(p.shard.size for p in parts if p.part == 0)
            results.append((fmt, n_rows, n_kept, len(parts), input_bytes, reread, write, read, spill_bytes))
    finally:
        pa.set_cpu_count(cpu)
        pa.set_io_thread_count(io)
    mb = 2**20
    print(
        f"\n## kept: the kept rows' input bytes for curate, re-read vs carried in the scored spill "
        f"({KEPT_SHARE:.0%} of rows kept, seeded; one thread, best of {KEPT_REPEATS})\n"
    )
    print(
        f"{'format':<10}{'rows':>9}{'parts':>6}{'input MiB':>11}{'re-read s':>11}{'rows/s':>11}"
        f"{'carry s':>9}{'(write':>8}{'+ read)':>8}{'extra spill MiB':>17}{'carry/re-read':>15}"
    )
    for fmt, n, _, n_parts, size, rr, w, r, extra in results:
        print(
            f"{fmt:<10}{n:>9,}{n_parts:>6}{size / mb:>11.1f}{rr:>11.2f}{n / rr:>11,.0f}"
            f"{w + r:>9.2f}{w:>8.2f}{r:>8.2f}{extra / mb:>17.1f}{(w + r) / rr:>15.2f}"
        )
    print(
        "re-read: each input part read again (decompress, split lines or decode row groups) and the kept rows\n"
        "  selected, as curate.write_kept does; it reads 'input MiB' again from the input's storage.\n"
        "carry: a binary column of each row's raw line (Parquet: the input record as a struct), built from the rows\n"
        "  the scoring stage holds, written with the scored spill's writer and options (BatchFile: snappy), read\n"
        "  back and filtered by keep; 'extra spill MiB' is written once and read once.\n"
        "On a distributed runner the scored spill goes through the filesystem the same way (written once by the\n"
        "scoring task, read once by the curate task), while the re-read reads the input again from its storage.\n"
        "Both measured warm (page cache); the kept/ writer, the same either way, is left out."
    )
    verdicts = []
    for fmt, _, _, _, size, rr, w, r, extra in results:
        cost = w + r
        if max(cost, rr) / min(cost, rr) < EVEN:
            verdicts.append(f"{fmt}: about even, carry/re-read {cost / rr:.2f} (within the bench's noise)")
        elif cost < rr:
            verdicts.append(f"{fmt}: carrying is cheaper, re-reading costs {rr / cost:.1f}x its time")
        else:
            verdicts.append(f"{fmt}: re-reading is cheaper, carrying costs {cost / rr:.1f}x its time")
        verdicts[-1] += f", and carrying adds {extra / size:.0%} of the input's bytes to the spill"
    total_rr = sum(x[5] for x in results)
    total_carry = sum(x[6] + x[7] for x in results)
    overall = "re-reading" if total_rr <= total_carry else "carrying"
    factor = max(total_rr, total_carry) / min(total_rr, total_carry)
    print(f"conclusion: {'; '.join(verdicts)}; summed over the formats, {overall} is cheaper by {factor:.1f}x.")


def section_report(real, rows: int, workdir: str, copies_per_rate: int) -> None:
    """`winnow report` on the dedup section's corpus scored with every default signal: size and build time."""
    from winnow.transforms.report.data import read_run
    from winnow.transforms.report.render import MAX_BYTES, render_report

    wdir, _, _ = build_dedup_corpus(real, rows, workdir, "report", copies_per_rate)
    out = os.path.join(workdir, "out-report")
    print(f"\n## report: {rows:,} rows, default config (every default signal, near-duplicates)")
    run = run_tree(winnow_cmd(wdir, out, None))
    written = os.path.getsize(os.path.join(out, "report.html"))
    exe = os.path.join(os.path.dirname(sys.executable), "winnow")
    cli = run_tree([exe, "report", out, "--output", os.path.join(workdir, "report-again.html")])
    started = time.perf_counter()
    data = read_run(out)
    read_s = time.perf_counter() - started
    page = render_report(data)
    build_s = time.perf_counter() - started
    again = render_report(read_run(out))
    summary = sum(os.path.getsize(os.path.join(out, "summary", f)) for f in os.listdir(os.path.join(out, "summary")))
    print(f"winnow score (writes report.html at the end): {run['seconds']:.1f} s")
    print(f"report.html: {written:,} bytes ({written / 1e6:.2f} MB; budget {MAX_BYTES / 1e6:.0f} MB); summary/ {summary:,} bytes")
    print(
        f"build in process: {build_s:.2f} s (reading the summaries {read_s:.2f} s); `winnow report` command: {cli['seconds']:.1f} s"
    )
    print(f"two renders byte-identical: {page == again}; same as the file score wrote: {len(page) == written}")


def section_nightly(real, rows: int, workdir: str, copies_per_rate: int, shards: int = 100) -> None:
    """`winnow score --state`: a full first night against nights where 1 % of the shards changed (issue 15)."""
    wdir, _, _ = build_dedup_corpus(real, rows, workdir, "nightly", copies_per_rate, shards=shards)
    state = os.path.join(workdir, "nightly-state")
    shutil.rmtree(state, ignore_errors=True)
    changed = max(1, shards // 100)
    print(f"\n## nightly: {rows:,} rows in {shards} shards, default config; then {changed} shard(s) new or changed")
    first = run_tree(winnow_cmd(wdir, os.path.join(workdir, "out-night-1"), None, ["--state", state]))
    shutil.copytree(state, state + "-b")
    rng = random.Random(5)
    names = sorted(os.listdir(wdir))
    per_shard = rows // shards
    others = [json.loads(line) for line in open(os.path.join(wdir, names[-1]), encoding="utf-8")][:20]
    copies = [{**r, "id": f"again-{r['id']}"} for r in others[:5]]  # copies of rows of another shard

    def night(name: str, state_dir: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
        run = run_tree(winnow_cmd(wdir, os.path.join(workdir, name), None, ["--state", state_dir]))
        with open(os.path.join(workdir, name, "run.json")) as f:
            record = json.load(f)
        with open(os.path.join(workdir, name, "summary", "dataset.json")) as f:
            dedup = json.load(f)["dedup"]
        with open(os.path.join(workdir, name, "summary", "drift.json")) as f:
            drift = json.load(f)
        return run, record, dedup, drift

    # a) new shards: fresh rows (stitched from other seeds) and a few copies of earlier rows.
    fresh = list(stitched_rows(real, per_shard * changed, seed=99))
    new_files = []
    for i in range(changed):
        path = os.path.join(wdir, f"zz-new-{i:02d}.jsonl")
        batch = [
            {"id": f"n{i}-{j}", "instruction": r["instruction"], "input": "", "output": r["output"]}
            for j, r in enumerate(fresh[i * per_shard : (i + 1) * per_shard])
        ]
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in batch + copies)
        new_files.append(path)
    added = night("out-night-2a", state)
    for path in new_files:
        os.remove(path)
    # b) changed shards: 10 % of their rows rewritten, and the same copies added.
    for name in names[:changed]:
        path = os.path.join(wdir, name)
        rows_now = [json.loads(line) for line in open(path, encoding="utf-8")]
        for r in rng.sample(rows_now, len(rows_now) // 10):
            r["output"] = r["output"] + " (revised)"
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows_now + copies)
    rewritten = night("out-night-2b", state + "-b")
    print("| night | shards re-scored / reused | wall s | of the full night |")
    print("|---|---|---|---|")
    print(f"| 1: full (every shard scored, state written) | {shards} / 0 | {first['seconds']:.1f} | 100 % |")
    for label, (run, record, dedup, drift) in (("2a: new shard(s)", added), ("2b: rewritten shard(s)", rewritten)):
        n = record["nightly"]
        redecided = sum(1 for r in n["rescored"] if "scores" in r)
        print(
            f"| {label} | {len(n['rescored'])} / {len(n['reused'])}"
            + (f" ({redecided} re-decided from stored scores)" if redecided else "")
            + f" | {run['seconds']:.1f} | "
            f"{run['seconds'] / first['seconds']:.1%} |"
        )
        print(
            f"|   {record['rows_scored']:,} rows in the night, {drift['new_rows']:,} of them new (drift.json); "
            f"{dedup['reference_rows']:,} earlier rows as the reference; "
            f"{drift['new_rows_duplicating_earlier_nights']:,} new rows dropped as copies of earlier ones | | | |"
        )
    print("target: <= 10 % of the full night")


def run_sections(args: argparse.Namespace, sections: list[str], workdir: str) -> None:
    if "quickstart" in sections:
        section_quickstart(workdir, args.repeats)
    if "validity" in sections:
        section_validity(args.data, workdir, args.validity_real, args.validity_junk, args.validity_seed)
    if not {"scoring", "dedup", "memory", "kept", "report", "nightly"} & set(sections):
        return
    if not os.path.isdir(args.data):
        print(
            f"bench: {args.data} not found; the scoring, dedup, memory, kept and report sections need ../shared/data",
            file=sys.stderr,
        )
        return
    real = real_rows(args.data)
    print(f"# winnow bench: {len(real):,} real rows from {args.data}; {os.cpu_count()} cores")
    if "scoring" in sections:
        section_scoring(real, args.rows, workdir)
    if "dedup" in sections:
        section_dedup(real, args.rows, workdir, args.copies_per_rate)
    if "memory" in sections:
        section_memory(real, workdir, tuple(int(x) for x in args.memory_rows.split(",")))
    if "kept" in sections:
        section_kept(real, args.rows, workdir, args.copies_per_rate)
    if "report" in sections:
        section_report(real, args.rows, workdir, args.copies_per_rate)
    if "nightly" in sections:
        section_nightly(real, args.rows, workdir, args.copies_per_rate)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--sections", default="scoring,dedup,memory,quickstart,validity,kept,report,nightly")
    ap.add_argument("--repeats", type=int, default=3, help="runs per mode in the quickstart section")
    ap.add_argument("--copies-per-rate", type=int, default=1000)
    ap.add_argument("--memory-rows", default="100000,400000")
    ap.add_argument("--validity-junk", type=int, default=300, help="junk rows per class in the validity section (copied: 500)")
    ap.add_argument("--validity-real", type=int, default=0, help="real rows per source in the validity section (0: all)")
    ap.add_argument("--validity-seed", type=int, default=0, help="seed of the validity section's samples and junk")
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--workdir", default=None, help="where corpora and outputs go (default: a temp dir, removed after)")
    args = ap.parse_args(argv)
    sections = args.sections.split(",")
    workdir = args.workdir or tempfile.mkdtemp(prefix="winnow-bench-")
    os.makedirs(workdir, exist_ok=True)
    try:
        run_sections(args, sections, workdir)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
