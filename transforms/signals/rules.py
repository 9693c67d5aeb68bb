"""A rule engine: rules declared in YAML, evaluated on whole Arrow batches.

Patterns are RE2 (pyarrow.compute's regex engine): linear time, so text in
the corpus cannot make a rule backtrack forever. Every rule has a name, a
severity (info | warn | drop) and a one-line explanation that the outputs
carry, so each flag on a row can be explained.

Conditions (one key of each kind per mapping; `all`, `any`, `not` nest):

    field: F, match: RE            RE2 search in text field F
    field: F, not_match: RE
    field: F, count: RE, min: N    at least N non-overlapping matches
    field: F, empty: true|false    empty or whitespace only
    field: F, equals_any: [...]    whole value (trimmed) is one of these
    field: F, differs_from: G      both non-empty and different
    stat: S, gt|ge|lt|le|eq: X     numeric column from the signals
    ignore_case: true              with match / not_match / count / equals_any
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from winnow.transforms.configfiles import ConfigError, packaged_text, read_yaml

SEVERITIES = ("info", "warn", "drop")
_COMPARE = {"gt": pc.greater, "ge": pc.greater_equal, "lt": pc.less, "le": pc.less_equal, "eq": pc.equal}
_RULE_KEYS = {"name", "severity", "explain", "when"}


@dataclass(frozen=True)
class Rule:
    name: str
    severity: str
    explain: str
    when: dict[str, Any]
    pack: str


def _check_regex(pattern: Any, where: str) -> None:
    if not isinstance(pattern, str):
        raise ConfigError(f"{where}: the pattern must be a string")
    try:
        pc.match_substring_regex(pa.array([""]), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise ConfigError(f"{where}: {pattern!r} is not a valid RE2 pattern: {e}") from e


def _validate_condition(cond: Any, where: str) -> None:
    if not isinstance(cond, dict) or not cond:
        raise ConfigError(f"{where}: a condition must be a non-empty mapping")
    for combo in ("all", "any"):
        if combo in cond:
            if set(cond) != {combo} or not isinstance(cond[combo], list) or not cond[combo]:
                raise ConfigError(f"{where}: '{combo}' takes a non-empty list of conditions and nothing beside it")
            for i, sub in enumerate(cond[combo]):
                _validate_condition(sub, f"{where}.{combo}[{i}]")
            return
    if "not" in cond:
        if set(cond) != {"not"}:
            raise ConfigError(f"{where}: 'not' takes one condition and nothing beside it")
        _validate_condition(cond["not"], f"{where}.not")
        return
    if "stat" in cond:
        ops = [k for k in cond if k in _COMPARE]
        extra = set(cond) - {"stat"} - set(_COMPARE)
        if len(ops) != 1 or extra or not isinstance(cond[ops[0]], (int, float)):
            raise ConfigError(f"{where}: a stat condition is {{stat: NAME, gt|ge|lt|le|eq: NUMBER}}")
        return
    if "field" not in cond:
        raise ConfigError(f"{where}: unknown condition {sorted(cond)}; use field/stat/all/any/not")
    tests = [k for k in ("match", "not_match", "count", "empty", "equals_any", "differs_from") if k in cond]
    if len(tests) != 1:
        raise ConfigError(
            f"{where}: a field condition needs exactly one of match, not_match, count, empty, equals_any, differs_from"
        )
    allowed = {"field", tests[0], "ignore_case"} | ({"min"} if tests[0] == "count" else set())
    extra = set(cond) - allowed
    if extra:
        raise ConfigError(f"{where}: unknown keys {sorted(extra)}")
    test = tests[0]
    if test in ("match", "not_match", "count"):
        _check_regex(cond[test], f"{where}.{test}")
    if test == "count" and not (isinstance(cond.get("min"), int) and cond["min"] >= 1):
        raise ConfigError(f"{where}: count needs min: N (a positive integer)")
    if test == "empty" and not isinstance(cond["empty"], bool):
        raise ConfigError(f"{where}: empty takes true or false")
    if test == "equals_any" and not (
        isinstance(cond["equals_any"], list) and all(isinstance(v, str) for v in cond["equals_any"])
    ):
        raise ConfigError(f"{where}: equals_any takes a list of strings")


def parse_pack(data: dict[str, Any], source: str) -> list[Rule]:
    rules = data.get("rules")
    if not isinstance(rules, list) or not rules:
        raise ConfigError(f"rule pack {source}: needs a non-empty list under 'rules'")
    out = []
    for i, spec in enumerate(rules):
        where = f"rule pack {source}, rules[{i}]"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: each rule is a mapping with name, severity, explain, when")
        name = spec.get("name")
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(f"{where}: 'name' must be an identifier-like string, got {name!r}")
        where = f"rule pack {source}, rule {name}"
        extra = set(spec) - _RULE_KEYS
        if extra:
            raise ConfigError(f"{where}: unknown keys {sorted(extra)} (allowed: {sorted(_RULE_KEYS)})")
        if spec.get("severity") not in SEVERITIES:
            raise ConfigError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
        if not isinstance(spec.get("explain"), str) or not spec["explain"].strip():
            raise ConfigError(f"{where}: 'explain' must be a one-line explanation")
        _validate_condition(spec.get("when"), f"{where}.when")
        out.append(Rule(name, spec["severity"], spec["explain"].strip(), spec["when"], source))
    return out


def load_rules(packs: list[str], disabled: list[str] | None = None, severity: Mapping[str, str] | None = None) -> list[Rule]:
    """Rules from packs named in config (a shipped pack name or a YAML path), less the disabled ones,
    with the severity overrides applied."""
    rules: list[Rule] = []
    for pack in packs:
        if "/" in pack or pack.endswith((".yaml", ".yml")):
            data = read_yaml(pack)
        else:
            try:
                text = packaged_text(f"rules/{pack}.yaml")
            except FileNotFoundError as e:
                raise ConfigError(f"config key rules: no shipped rule pack named {pack!r}; give a path to a YAML file") from e
            data = yaml.safe_load(text)
        rules.extend(parse_pack(data, pack))
    seen: set[str] = set()
    for r in rules:
        if r.name in seen:
            raise ConfigError(f"rule {r.name} is defined twice (packs: {[x.pack for x in rules if x.name == r.name]})")
        seen.add(r.name)
    for name in disabled or []:
        if name not in seen:
            raise ConfigError(unknown_rule_message("disable_rules", name, seen))
    for name in severity or {}:
        if name not in seen:
            raise ConfigError(unknown_rule_message("rule_severity", name, seen))
    return configured(rules, disabled or [], severity or {})


def configured(rule_list: list[Rule], disabled: Collection[str], severity: Mapping[str, str]) -> list[Rule]:
    """The rules that fire, with their severities: `disabled` left out, `severity` overriding.

    Applying it twice changes nothing, so the scorer applies its (shard's) config to any rule list.
    """
    off = set(disabled)
    return [replace(r, severity=severity[r.name]) if r.name in severity else r for r in rule_list if r.name not in off]


def unknown_rule_message(key: str, name: str, known: Collection[str]) -> str:
    """A config key naming a rule no pack defines: the closest name and the known ones."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"config key {key}: no rule named {name!r}{hint} (known: {', '.join(sorted(known))})"


def columns_needed(cond: dict[str, Any]) -> set[str]:
    """Columns a condition reads, to check them against the enabled signals."""
    if "all" in cond or "any" in cond:
        return set().union(*(columns_needed(c) for c in cond.get("all") or cond.get("any") or []))
    if "not" in cond:
        return columns_needed(cond["not"])
    if "stat" in cond:
        return {cond["stat"]}
    cols = {cond["field"]}
    if "differs_from" in cond:
        cols.add(cond["differs_from"])
    return cols


def _text_column(table: dict[str, pa.Array], name: str) -> pa.Array:
    return pc.fill_null(table[name], "")


def _bool(arr: pa.Array) -> np.ndarray:
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False).astype(bool)


def _evaluate(cond: dict[str, Any], table: dict[str, pa.Array], n: int) -> np.ndarray:
    if "all" in cond:
        out = np.ones(n, dtype=bool)
        for sub in cond["all"]:
            out &= _evaluate(sub, table, n)
        return out
    if "any" in cond:
        out = np.zeros(n, dtype=bool)
        for sub in cond["any"]:
            out |= _evaluate(sub, table, n)
        return out
    if "not" in cond:
        return ~_evaluate(cond["not"], table, n)
    if "stat" in cond:
        op = next(k for k in cond if k in _COMPARE)
        return _bool(_COMPARE[op](table[cond["stat"]], cond[op]))
    text = _text_column(table, cond["field"])
    ic = bool(cond.get("ignore_case", False))
    if "match" in cond:
        return _bool(pc.match_substring_regex(text, cond["match"], ignore_case=ic))
    if "not_match" in cond:
        return ~_bool(pc.match_substring_regex(text, cond["not_match"], ignore_case=ic))
    if "count" in cond:
        counts = pc.count_substring_regex(text, cond["count"], ignore_case=ic)
        return _bool(pc.greater_equal(counts, cond["min"]))
    if "empty" in cond:
        is_empty = _bool(pc.equal(pc.utf8_trim_whitespace(text), ""))
        return is_empty if cond["empty"] else ~is_empty
    if "equals_any" in cond:
        values = [v.strip() for v in cond["equals_any"]]
        trimmed = pc.utf8_trim_whitespace(text)
        if ic:
            trimmed, values = pc.utf8_lower(trimmed), [v.lower() for v in values]
        return _bool(pc.is_in(trimmed, value_set=pa.array(values)))
    other = _text_column(table, cond["differs_from"])
    both = _bool(pc.and_(pc.not_equal(text, ""), pc.not_equal(other, "")))
    return both & _bool(pc.not_equal(text, other))


def evaluate_rules(rules: list[Rule], table: dict[str, pa.Array], n: int) -> np.ndarray:
    """A rows x rules boolean matrix: which rule fired on which row."""
    out = np.zeros((n, len(rules)), dtype=bool)
    for j, rule in enumerate(rules):
        out[:, j] = _evaluate(rule.when, table, n)
    return out


def flag_columns(rules: list[Rule], fired: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """`flags` (list of fired rule names per row) and `severity` (the worst one, '' if none)."""
    n = fired.shape[0]
    rows, cols = np.nonzero(fired)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])
    names = pa.array([r.name for r in rules], type=pa.string())
    values = names.take(pa.array(cols, type=pa.int32())) if len(cols) else pa.array([], type=pa.string())
    flags = pa.ListArray.from_arrays(pa.array(offsets), values)
    rank = np.array([SEVERITIES.index(r.severity) + 1 for r in rules], dtype=np.int8)
    worst = (fired * rank).max(axis=1) if len(rules) else np.zeros(n, dtype=np.int8)
    labels = np.array(["", *SEVERITIES], dtype=object)
    return flags, pa.array(labels[worst], type=pa.string())
