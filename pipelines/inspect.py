"""`winnow inspect`: how the first rows of one file normalize, and what fires.

Inputs are matched as `winnow score` matches them, so a file has the same
shard name, and its rows the same ids, in both commands given the same inputs.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from winnow.transforms.config import Config
from winnow.transforms.io.canonical import normalize_rows, own_id
from winnow.transforms.io.formats import FieldMap
from winnow.transforms.io.inputs import InputError, Shard, match_inputs
from winnow.transforms.io.readers import peek_rows
from winnow.transforms.signals.rules import load_rules
from winnow.transforms.signals.scorer import Scorer, check_rules_against_signals
from winnow.transforms.sources import check_rule_names, config_for_shard
from winnow.transforms.terminal import escape_control


def _short(text: str, limit: int = 160) -> str:
    text = text.replace("\n", "⏎")
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


def pick_shard(inputs: list[str], name: str | None) -> Shard:
    """The input file named `name` (a shard name as `winnow score` gives it), or the first."""
    shards, _ = match_inputs(inputs)
    if name is None:
        return shards[0]
    for shard in shards:
        if shard.name == name:
            return shard
    names = ", ".join(s.name for s in shards[:10]) + (", ..." if len(shards) > 10 else "")
    raise InputError(f"no input file is named {name!r}; the inputs' shard names: {names}")


def inspect_file(inputs: list[str], n: int, config: Config, shard_name: str | None = None, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    rule_list = load_rules(config.rules, config.disable_rules, config.rule_severity)
    check_rules_against_signals(rule_list, config)
    check_rule_names(config, [r.name for r in rule_list])
    shard = pick_shard(inputs, shard_name)
    scorer = Scorer(config_for_shard(config, shard.path, shard.name), rule_list)  # the rules of its source
    explain = {r.name: f"[{r.severity}] {r.explain}" for r in scorer.rules}
    raw = peek_rows(shard.path, n, config.input.max_row_bytes)
    fields = FieldMap.from_config(config)
    values = {item.row: item.value for item in raw}
    batch, rejected = normalize_rows(raw, shard, fields, config.output.raw_max_chars)
    base_dir = None if "://" in shard.path else os.path.dirname(os.path.abspath(shard.path))
    scored = scorer.score(batch, base_dir).to_pylist() if batch.num_rows else []
    by_row = {r["row"]: ("ok", r) for r in scored}
    by_row.update({r["row"]: ("rejected", r) for r in rejected})
    print(escape_control(f"{shard.name} ({shard.path}): first {len(raw)} row(s)"), file=out)
    for row in sorted(by_row):
        kind, r = by_row[row]
        print(f"\n── row {row}", file=out)
        if kind == "rejected":
            print(escape_control(f"  REJECTED: {r['reason']}"), file=out)
            print(escape_control(f"  raw: {_short(r['raw'])}"), file=out)
            continue
        print(escape_control(f"  id: {r['id']}   format: {r['format']}   turns: {r['n_turns']}   media: {r['media']}"), file=out)
        _, replaced = own_id(values[row], fields.id_field)
        if replaced is not None:
            note = f"  ({fields.id_field!r} holds a {replaced}, not an id: replaced; the value is in meta)"
            print(escape_control(note), file=out)
        for t in r["turns"]:
            print(escape_control(f"  {t['role']:>9}: {_short(t['content'])}"), file=out)
        if r["system"]:
            print(escape_control(f"     system: {_short(r['system'])}"), file=out)
        print(escape_control(f"  instruction: {_short(r['instruction'], 100)}"), file=out)
        print(escape_control(f"  response:    {_short(r['response'], 100)}"), file=out)
        stats = {
            k: (round(v, 3) if isinstance(v, float) else v)
            for k, v in r.items()
            if k.endswith(("_chars", "_words", "_frac", "_score"))
            or k.startswith(("lang", "answer_", "rouge_l_instruction"))
            or k == "response_ends_mid_sentence"
        }
        print(escape_control(f"  signals: {stats}"), file=out)
        if r.get("composite") is not None:
            print(escape_control(f"  composite: {r['composite']:.3f} ({r['composite_explain']})"), file=out)
        if r["flags"]:
            for name in r["flags"]:
                print(escape_control(f"  FLAG {name}: {explain[name]}"), file=out)
        else:
            print("  no rule fired", file=out)
