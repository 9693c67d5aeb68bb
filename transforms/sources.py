"""Per-source overrides: the effective config of one shard.

A `sources` entry scopes rules (disable_rules, rule_severity), the keep
policy and dedup.text to the shards whose path or name matches one of its
globs: a math source without the repetition rule, a template-writing source
whose placeholders are fine. The first entry that matches a shard wins, so
every shard has exactly one effective config and the plan can count each
entry's shards. The run record keeps the config as given, `sources` and all.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Collection, Sequence

from winnow.transforms.config import SOURCE_SECTIONS, Config, SourceConfig, from_data, merge
from winnow.transforms.configfiles import ConfigError
from winnow.transforms.io.inputs import Shard
from winnow.transforms.signals.rules import unknown_rule_message

# Effective configs by (id of the run's config, entry); the run's config is held so its id stays its own.
_CACHE: dict[tuple[int, int], tuple[Config, Config]] = {}
_CACHE_MAX = 256
_LOCK = threading.Lock()


def matches(patterns: Sequence[str], shard_path: str, shard_name: str) -> bool:
    """Whether a glob matches the shard's path, its name, or a tail of its path after a "/".

    fnmatch semantics (case-sensitive; `*` also crosses "/", so `**` works
    too): `gsm8k/*`, `data/gsm8k/*.jsonl` and `/abs/data/gsm8k/*` all match
    /abs/data/gsm8k/train.jsonl whatever directory winnow was given.
    """
    for pattern in patterns:
        if fnmatch.fnmatchcase(shard_path, pattern) or fnmatch.fnmatchcase(shard_name, pattern):
            return True
        if not pattern.startswith("/") and fnmatch.fnmatchcase(shard_path, "*/" + pattern):
            return True
    return False


def source_index(config: Config, shard_path: str, shard_name: str) -> int | None:
    """The position of the first `sources` entry matching the shard (None: no entry does)."""
    for i, source in enumerate(config.sources):
        if matches(source.match, shard_path, shard_name):
            return i
    return None


def config_for_shard(config: Config, shard_path: str, shard_name: str) -> Config:
    """The effective config of one shard: `config` itself when no entry matches, else its entry's (cached)."""
    index = source_index(config, shard_path, shard_name)
    return config if index is None else source_config(config, index)


def source_config(config: Config, index: int) -> Config:
    """The config of entry `index`'s shards, built once per (config, entry) and process."""
    key = (id(config), index)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is config:
        return hit[1]
    effective = _apply(config, config.sources[index])
    with _LOCK:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = (config, effective)
    return effective


def _apply(config: Config, source: SourceConfig) -> Config:
    """`source`'s overrides over `config`: its disabled rules added, its severities and sections merged over.

    The result has no `sources` of its own: it is one source's config already.
    """
    data = config.as_dict()
    data["disable_rules"] = list(dict.fromkeys([*config.disable_rules, *source.disable_rules]))
    data["rule_severity"] = {**config.rule_severity, **source.rule_severity}
    for section in SOURCE_SECTIONS:
        override = getattr(source, section)
        if override is not None:
            data[section] = merge(data[section], override, (section,))
    data["sources"] = []
    return from_data(data)


def check_rule_names(config: Config, rule_names: Collection[str]) -> None:
    """Every rule a sources entry names is one of the loaded packs' (`rule_names`: the rules that fire).

    Runs with the plan, once the packs are loaded. A severity for a rule the
    top-level disable_rules switches off would change nothing: an error too.
    """
    known = set(rule_names) | set(config.disable_rules)
    for i, source in enumerate(config.sources):
        for name in source.disable_rules:
            if name not in known:
                raise ConfigError(unknown_rule_message(f"sources[{i}].disable_rules", name, known))
        for name in source.rule_severity:
            if name not in known:
                raise ConfigError(unknown_rule_message(f"sources[{i}].rule_severity", name, known))
            if name in config.disable_rules:
                raise ConfigError(
                    f"config key sources[{i}].rule_severity: rule {name} is switched off by disable_rules, so it "
                    f"fires in no source; take it out of disable_rules and disable it per source instead"
                )


def label(config: Config, index: int) -> str:
    """How the plan names an entry: source 'math', or sources[2] when it has no name."""
    name = config.sources[index].name
    return f"source {name!r}" if name else f"sources[{index}]"


def describe(config: Config, shards: Sequence[Shard]) -> list[str]:
    """The plan's lines: each entry with its globs, the files it takes and what it changes; warnings last."""
    taken = [source_index(config, s.path, s.name) for s in shards]
    lines, warnings = [], []
    for i, source in enumerate(config.sources):
        n = taken.count(i)
        head = f"{label(config, i)} ({', '.join(source.match)}): {n} file{'' if n == 1 else 's'}"
        lines.append("; ".join([head, *_changes(source)]))
        if n == 0:
            earlier = any(matches(source.match, s.path, s.name) for s in shards)
            why = (
                "matches only files an earlier entry takes (the first matching entry wins)"
                if earlier
                else "matches no input file"
            )
            warnings.append(f"warning: {label(config, i)} ({', '.join(source.match)}) {why}")
    return lines + warnings


def _changes(source: SourceConfig) -> list[str]:
    out = []
    if source.disable_rules:
        out.append(f"rules off: {', '.join(source.disable_rules)}")
    if source.rule_severity:
        out.append("severity: " + ", ".join(f"{k} {v}" for k, v in source.rule_severity.items()))
    for section in SOURCE_SECTIONS:
        override = getattr(source, section)
        if override:
            out.append(f"{section}: " + ", ".join(f"{k} {v}" for k, v in override.items()))
    return out
