"""Prove that a refactor kept `winnow score` behaviour identical.

Runs `winnow score` from two checkouts on the same inputs (the repository's
samples/ and a generated multi-format corpus with planted defects) and
compares every output: records/, rejected/, duplicates/, summary/ and run.json
(minus timestamps and versions). Prints PASS/FAIL per output and exits 0 only
if everything is equal. Nothing is installed: each checkout runs from its own
directory, with the editable install of the live tree switched off.

    python scripts/compare_runs.py --before HEAD~3               # vs. the working tree
    python scripts/compare_runs.py --before v1 --after HEAD --keep /tmp/cmp
    python scripts/compare_runs.py --before HEAD --after /path/to/a/checkout
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

REPO = Path(__file__).resolve().parents[1]
# Parquet outputs and the columns their rows are sorted by before comparing.
TABLES = {
    "records": ["key"],
    "rejected": ["shard", "row", "reason"],
    "duplicates": ["key"],
    "summary/shards.parquet": ["shard_index"],
}
RUN_IGNORED = {"started", "finished", "seconds", "versions"}
RUN_IGNORED_PARTS = ("time", "duration", "elapsed")
# Drops the editable-install finder so a checkout never imports modules from the live tree.
BOOTSTRAP = (
    "import runpy, sys; "
    "sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, '__module__', '').startswith('__editable__')]; "
    "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)"
)
# fmt: off
NOUNS = ["river", "garden", "engine", "lantern", "harbor", "meadow", "circuit", "ledger", "violin", "glacier", "orchard",
         "compass", "quarry", "beacon", "canyon", "bakery", "tunnel", "archive", "kettle", "satellite", "workshop", "ferry",
         "telescope", "vineyard", "bridge", "market"]
# fmt: on
ADJS = ["quiet", "rusty", "narrow", "bright", "ancient", "fragile", "crowded", "distant", "humid", "patient", "clever"]
VERBS = ["Explain", "Describe", "Summarize", "Compare", "Outline", "Discuss"]
SENTENCES = (
    "The {j} {a} keeps the {b} running through the winter.",
    "Few visitors notice the {a} before the {j} {b}.",
    "A {a} beside a {b} needs less care than people expect.",
    "When the {a} fails, the {j} {b} is checked first.",
    "Maintaining the {a} costs less once the {b} is {j}.",
    "Historians say the {j} {a} shaped how the {b} grew.",
    "Engineers often move the {a} closer to the {b}.",
    "Nobody planned for a {j} {a} next to the {b}.",
    "Every {a} here was rebuilt after the {b} flooded.",
    "The {b} would be {j} without its {a}.",
)
ZH_NOUNS = ["河流", "花园", "灯笼", "港口", "草地", "图书馆", "桥梁", "市场"]


def _sentence(rng: random.Random) -> str:
    """One made-up English sentence."""
    a, b = rng.sample(NOUNS, 2)
    return rng.choice(SENTENCES).format(a=a, b=b, j=rng.choice(ADJS))


def _pair(rng: random.Random) -> tuple[str, str]:
    """An instruction and a two-to-four sentence answer."""
    a, b = rng.sample(NOUNS, 2)
    return f"{rng.choice(VERBS)} how the {a} relates to the {b}.", " ".join(_sentence(rng) for _ in range(rng.randint(2, 4)))


def _near_pair(rng: random.Random) -> tuple[tuple[str, str], tuple[str, str]]:
    """A 40-word answer and a copy with three words replaced, under the same instruction."""
    instruction, words = _pair(rng)[0], list[str]()
    while len(words) < 40:
        words += _sentence(rng).split()
    words, copy = words[:40], words[:40]
    for i in rng.sample(range(40), 3):
        copy[i] = rng.choice(NOUNS)
    return (instruction, " ".join(words)), (instruction, " ".join(copy))


def _jsonl(rows: list[Any]) -> bytes:
    """JSON Lines bytes; str rows are written verbatim (dead letters, blank lines)."""
    return "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows).encode()


def _sharegpt(*turns: tuple[str, str]) -> dict[str, Any]:
    """A ShareGPT row from (from, value) turns."""
    return {"conversations": [{"from": f, "value": v} for f, v in turns]}


def _openai(*turns: tuple[str, str]) -> dict[str, Any]:
    """An OpenAI messages row from (role, content) turns."""
    return {"messages": [{"role": r, "content": c} for r, c in turns]}


def write_corpus(root: Path, seed: int = 20261202) -> int:
    """Write the deterministic multi-format corpus to root; returns its rows and lines."""
    rng, np_rng = random.Random(seed), np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    exact = [_pair(rng) for _ in range(3)]
    (n1, n2), (n3, n4) = _near_pair(rng), _near_pair(rng)
    alpaca = [
        {"instruction": i, "input": rng.choice(["", _sentence(rng)]), "output": o} for i, o in (_pair(rng) for _ in range(32))
    ]
    alpaca += [{"instruction": i, "input": "", "output": o} for i, o in [*exact[:2], n1]]
    alpaca += [{"instruction": "List three uses of a compass.", "input": "", "output": "<No Output>"}]
    (root / "alpaca.json").write_text(json.dumps(alpaca, indent=1))

    sharegpt: list[Any] = [_sharegpt(("human", i), ("gpt", o)) for i, o in [*(_pair(rng) for _ in range(30)), n3, exact[2]]]
    i, o = _pair(rng)
    sharegpt += [
        _sharegpt(("system", "Answer briefly."), ("human", i), ("gpt", o), ("human", "Why?"), ("gpt", _sentence(rng))),
        _sharegpt(
            ("human", "Do you like the old harbor?"),
            ("gpt", "As an AI language model, I do not have personal feelings about the harbor."),
        ),
        '{"conversations": [{"from": "human", "value": "broken',
        "",
        _sharegpt(("narrator", "The scene opens."), ("gpt", "Hi.")),
        _sharegpt(),
    ]
    (root / "sharegpt.jsonl").write_bytes(_jsonl(sharegpt))

    gz = [_openai(("user", i), ("assistant", o)) for i, o in [*(_pair(rng) for _ in range(26)), exact[0]]]
    zh = [
        (f"请介绍一下{a}和{b}的关系。", f"{a}和{b}之间的关系很重要，因为它们一起影响城市的日常生活。")
        for a, b in (rng.sample(ZH_NOUNS, 2) for _ in range(4))
    ]
    gz += [_openai(("user", i), ("assistant", o)) for i, o in zh]
    gz += [
        _openai(
            ("system", "You write Python."),
            ("user", "Write a function that adds two numbers."),
            ("assistant", "Here it is:\n```python\ndef add(a, b)\n    return a + b\n```"),
        )
    ]
    (root / "openai.jsonl.gz").write_bytes(gzip.compress(_jsonl(gz), mtime=0))

    zst = [_openai(("user", i), ("assistant", o)) for i, o in [*(_pair(rng) for _ in range(28)), n2, n4]]
    (root / "openai.jsonl.zst").write_bytes(zstandard.ZstdCompressor(level=3).compress(_jsonl(zst)))

    dolly = [
        {"instruction": i, "context": rng.choice(["", _sentence(rng)]), "response": o, "category": "open_qa"}
        for i, o in (_pair(rng) for _ in range(28))
    ]
    note = "Dear {{name}},\n\nThank you for visiting our bakery last week."
    dolly += [
        {"instruction": exact[1][0], "context": "", "response": exact[1][1], "category": "open_qa"},
        {"instruction": "Write a thank-you note to a customer.", "context": "", "response": note, "category": "creative"},
    ]
    for k, row in enumerate(dolly):
        row["id"] = f"dolly-{k}"
    (root / "dolly.jsonl").write_bytes(_jsonl(dolly))

    texts = [" ".join(_sentence(rng) for _ in range(int(np_rng.integers(3, 8)))) for _ in range(24)]
    texts += ["Questions about the ferry schedule go to jane.doe@example.org before Friday.", " ".join(exact[2])]
    pq.write_table(pa.table({"text": texts}), root / "text.parquet")
    return len(alpaca) + len(sharegpt) + len(gz) + len(zst) + len(dolly) + len(texts)


def run_winnow(checkout: Path, inputs: Path, output: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run `winnow score` from a checkout without installing it; returns (seconds, process)."""
    module = "winnow" if (checkout / "winnow" / "__main__.py").exists() else "pipelines.cli"
    cmd = [sys.executable, "-c", BOOTSTRAP, module, "score", str(inputs), "--output", str(output), "--overwrite"]
    cmd.append("--direct_num_workers=1")
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(checkout), "PYTHONDONTWRITEBYTECODE": "1"}  # no __pycache__ in the checkout
    proc = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, proc


def _same(x: Any, y: Any) -> bool:
    """Equal values, NaN equal to NaN."""
    return x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))


def _short(value: Any) -> str:
    """repr of a value, cut for printing."""
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def read_parquet(path: Path) -> pa.Table | None:
    """A parquet file, or all parquet files of a directory concatenated; None if there are none."""
    files = [path] if path.is_file() else sorted(path.glob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]) if files else None


def compare_tables(a: pa.Table, b: pa.Table, sort_keys: list[str]) -> tuple[bool, list[str]]:
    """Compare two tables sorted by sort_keys; returns (equal, notes)."""
    notes: list[str] = []
    if set(a.column_names) != set(b.column_names):
        return False, [
            f"columns only before: {sorted(set(a.column_names) - set(b.column_names))}, "
            f"only after: {sorted(set(b.column_names) - set(a.column_names))}"
        ]
    if a.column_names != b.column_names:
        i = next(i for i, (x, y) in enumerate(zip(a.column_names, b.column_names, strict=True)) if x != y)
        notes.append(
            f"column order differs from position {i} ({a.column_names[i]!r} before, {b.column_names[i]!r} after); "
            "compared by name"
        )
    b = b.select(a.column_names)
    types = [f"{f.name}: {f.type} != {b.schema.field(f.name).type}" for f in a.schema if f != b.schema.field(f.name)]
    if a.num_rows != b.num_rows:
        types.append(f"rows: {a.num_rows} before, {b.num_rows} after")
    if types:
        return False, notes + types
    a, b = (t.sort_by([(k, "ascending") for k in sort_keys]) for t in (a, b))
    if a.equals(b):
        return True, notes
    differing: dict[str, tuple[list[int], list[Any], list[Any]]] = {}
    for name in a.column_names:
        x, y = a.column(name).to_pylist(), b.column(name).to_pylist()
        rows = [i for i, (u, v) in enumerate(zip(x, y, strict=True)) if not _same(u, v)]
        if not rows:
            if not a.column(name).equals(b.column(name)):
                notes.append(f"{name}: equal once NaN is taken as equal to NaN")
        else:
            differing[name] = rows, x, y
    if not differing:
        return True, notes
    name, (rows, x, y) = next(iter(differing.items()))
    keys = a.select(sort_keys).to_pylist()
    return False, notes + [
        f"differing columns: {', '.join(differing)}",
        f"first differing column {name!r} ({len(rows)} rows), e.g.:",
    ] + [f"  {keys[i]}: before {_short(x[i])} | after {_short(y[i])}" for i in rows[:3]]


def json_diff(a: Any, b: Any, path: str = "$") -> list[str]:
    """JSON paths at which a and b differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}.{k}: only {'after' if k in b else 'before'}" for k in sorted(a.keys() ^ b.keys())]
        return out + [d for k in sorted(a.keys() & b.keys()) for d in json_diff(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in json_diff(x, y, f"{path}[{i}]")]
    return [] if type(a) is type(b) and _same(a, b) else [f"{path}: {_short(a)} != {_short(b)}"]


def strip_run(value: Any, output: str, ignored: set[str], path: str = "$") -> Any:
    """run.json without per-run keys (recorded in ignored) and with the output dir replaced by <OUTPUT>."""
    if isinstance(value, dict):
        kept = {}
        for k, v in value.items():
            p = f"{path}.{k}"
            in_config = (path + ".").startswith("$.config.")  # config keys are settings, never timings
            if k in RUN_IGNORED or (not in_config and any(w in k.lower() for w in RUN_IGNORED_PARTS)):
                ignored.add(p)
            else:
                kept[k] = strip_run(v, output, ignored, p)
        return kept
    if isinstance(value, list):
        return [strip_run(v, output, ignored, f"{path}[*]") for v in value]
    return value.replace(output, "<OUTPUT>") if isinstance(value, str) else value


def check(results: dict[str, bool], name: str, ok: bool, notes: Sequence[str] = ()) -> None:
    """Record and print one PASS/FAIL line with its notes."""
    results[name] = ok
    print(f"{'PASS' if ok else 'FAIL'}  {name}" + "".join(f"\n        {note}" for note in notes))


def compare_outputs(corpus: str, before: Path, after: Path, results: dict[str, bool]) -> None:
    """Compare every output of two runs on one corpus."""
    for sub, keys in TABLES.items():
        a, b = read_parquet(before / sub), read_parquet(after / sub)
        if a is None or b is None:
            notes = [f"{'no' if a is None else 'some'} files before, {'no' if b is None else 'some'} after"]
            check(results, f"{corpus}: {sub}", a is None and b is None, notes)
        else:
            check(results, f"{corpus}: {sub}", *compare_tables(a, b, keys))
    ignored: set[str] = set()
    for name in ("summary/dataset.json", "run.json"):
        missing = [side for side, d in (("before", before), ("after", after)) if not (d / name).is_file()]
        if missing:
            check(results, f"{corpus}: {name}", False, [f"missing {' and '.join(missing)}"])
            continue
        a, b = (json.loads((d / name).read_text()) for d in (before, after))
        if name == "run.json":
            a, b = strip_run(a, str(before), ignored), strip_run(b, str(after), ignored)
        diffs = json_diff(a, b)
        notes = [f"ignored: {', '.join(sorted(ignored))}"] if name == "run.json" else []
        check(results, f"{corpus}: {name}", not diffs, notes + diffs[:20])


def add_worktree(rev: str, path: Path, worktrees: list[Path]) -> Path:
    """Check out rev (detached) at path as a git worktree of this repository."""
    proc = subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), rev], capture_output=True, text=True, check=False
    )
    if proc.returncode:
        raise SystemExit(f"git worktree add {rev} failed: {proc.stderr.strip()}")
    worktrees.append(path)
    return path


def main(argv: list[str] | None = None) -> int:
    """Run both checkouts on both corpora, compare, print a summary; 0 if everything is equal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, metavar="REV", help="git revision to compare against")
    parser.add_argument(
        "--after", metavar="REV|WORKTREE", help="git revision or checkout directory (default: this repository's working tree)"
    )
    parser.add_argument("--keep", metavar="DIR", help="keep inputs and run outputs in DIR")
    args = parser.parse_args(argv)

    results: dict[str, bool] = {}
    worktrees: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="compare_runs_") as tmp:
        work = Path(args.keep).resolve() if args.keep else Path(tmp) / "work"
        try:
            checkouts = {"before": add_worktree(args.before, Path(tmp) / "before", worktrees)}
            if args.after is None or Path(args.after).is_dir():
                checkouts["after"] = Path(args.after).resolve() if args.after else REPO
            else:
                checkouts["after"] = add_worktree(args.after, Path(tmp) / "after", worktrees)
            for side, path in checkouts.items():
                print(f"{side}: {path}")
            corpora = {"samples": work / "inputs" / "samples", "generated": work / "inputs" / "generated"}
            shutil.copytree(checkouts["after"] / "samples", corpora["samples"], dirs_exist_ok=True)
            print(f"generated corpus: {write_corpus(corpora['generated'])} rows and lines in {corpora['generated']}")
            for corpus, inputs in corpora.items():
                outputs = {side: work / "outputs" / corpus / side for side in checkouts}
                ran = True
                for side, checkout in checkouts.items():
                    outputs[side].parent.mkdir(parents=True, exist_ok=True)
                    seconds, proc = run_winnow(checkout, inputs, outputs[side])
                    outputs[side].with_suffix(".log").write_text(proc.stdout + proc.stderr)
                    print(f"run   {corpus}/{side}: {seconds:.1f} s, exit {proc.returncode}")
                    if proc.returncode:
                        check(results, f"{corpus}: winnow score ({side})", False, proc.stderr.splitlines()[-15:])
                        ran = False
                if ran:
                    compare_outputs(corpus, outputs["before"], outputs["after"], results)
        finally:
            for path in worktrees:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)], check=False)
    failed = [name for name, ok in results.items() if not ok]
    print(
        f"\n{len(results) - len(failed)} equal, {len(failed)} different"
        + (": " + "; ".join(failed) if failed else " - behaviour identical")
    )
    if args.keep:
        print(f"outputs kept in {work}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
