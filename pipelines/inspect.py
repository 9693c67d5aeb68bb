"""`winnow inspect`: how the first rows of one file normalize, and what fires."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from winnow.transforms.config import Config
from winnow.transforms.io.canonical import normalize_rows
from winnow.transforms.io.formats import FieldMap
from winnow.transforms.io.inputs import match_inputs
from winnow.transforms.io.readers import peek_rows
from winnow.transforms.signals.rules import load_rules
from winnow.transforms.signals.scorer import Scorer, check_rules_against_signals


def _short(text: str, limit: int = 160) -> str:
    text = text.replace("\n", "⏎")
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


def inspect_file(path: str, n: int, config: Config, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    rule_list = load_rules(config.rules, config.disable_rules)
    check_rules_against_signals(rule_list, config)
    explain = {r.name: f"[{r.severity}] {r.explain}" for r in rule_list}
    shards, _ = match_inputs([path])
    shard = shards[0]
    raw = peek_rows(shard.path, n, config.input.max_row_bytes)
    batch, rejected = normalize_rows(raw, shard, FieldMap.from_config(config), config.output.raw_max_chars)
    base_dir = None if "://" in shard.path else os.path.dirname(os.path.abspath(shard.path))
    scored = Scorer(config, rule_list).score(batch, base_dir).to_pylist() if batch.num_rows else []
    by_row = {r["row"]: ("ok", r) for r in scored}
    by_row.update({r["row"]: ("rejected", r) for r in rejected})
    print(f"{shard.path}: first {len(raw)} row(s)", file=out)
    for row in sorted(by_row):
        kind, r = by_row[row]
        print(f"\n── row {row}", file=out)
        if kind == "rejected":
            print(f"  REJECTED: {r['reason']}", file=out)
            print(f"  raw: {_short(r['raw'])}", file=out)
            continue
        print(f"  id: {r['id']}   format: {r['format']}   turns: {r['n_turns']}   media: {r['media']}", file=out)
        for t in r["turns"]:
            print(f"  {t['role']:>9}: {_short(t['content'])}", file=out)
        if r["system"]:
            print(f"     system: {_short(r['system'])}", file=out)
        print(f"  instruction: {_short(r['instruction'], 100)}", file=out)
        print(f"  response:    {_short(r['response'], 100)}", file=out)
        stats = {
            k: (round(v, 3) if isinstance(v, float) else v)
            for k, v in r.items()
            if k.endswith(("_chars", "_words", "_frac", "_score")) or k.startswith("lang")
        }
        print(f"  signals: {stats}", file=out)
        if r["flags"]:
            for name in r["flags"]:
                print(f"  FLAG {name}: {explain[name]}", file=out)
        else:
            print("  no rule fired", file=out)
