"""Load and validate winnow's YAML configuration before any data is read.

A user config is merged over configs/default.yaml (free-form mappings such
as classifiers are replaced whole). Every key is checked
against the defaults, so a typo fails at once with the key and the fix
instead of being silently ignored.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from importlib import resources
from typing import Any

import yaml

from winnow.transforms.io import files

FORMATS = ("auto", "alpaca", "sharegpt", "openai", "dolly", "completion", "selfinstruct", "text")
CANONICAL_ROLES = ("user", "assistant", "system", "tool", "tool_call")
# Keys whose values are free-form mappings (not checked against the defaults).
_OPEN_MAPPINGS = {("input", "roles"), ("classifiers",), ("safety", "lexicons"), ("safety", "demographics")}


class ConfigError(ValueError):
    """A configuration problem, with the key that caused it and how to fix it."""


def _read_yaml_text(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def read_yaml(path: str) -> dict[str, Any]:
    """Read a YAML mapping from a local or remote (gs://) path, safely."""
    try:
        text = files.read_bytes(path).decode("utf-8")
    except Exception as e:  # noqa: BLE001 - any I/O failure is a config failure here
        raise ConfigError(f"cannot read config file {path}: {e}") from e
    return _read_yaml_text(text, path)


def packaged_text(name: str) -> str:
    """Text of a file shipped in the `winnow.configs` package, e.g. 'rules/instruction.yaml'."""
    ref = resources.files("winnow.configs")
    for part in name.split("/"):
        ref = ref.joinpath(part)
    return ref.read_text(encoding="utf-8")


def default_config() -> dict[str, Any]:
    return _read_yaml_text(packaged_text("default.yaml"), "configs/default.yaml")


def _merge(base: Any, override: Any, path: tuple[str, ...]) -> Any:
    if isinstance(base, dict) and path in _OPEN_MAPPINGS:
        # Free-form mappings (roles, classifiers, lexicons, groups) are replaced
        # whole, so a user config can also empty them.
        if not isinstance(override, dict):
            raise ConfigError(f"config key {'.'.join(path)} must be a mapping")
        return copy.deepcopy(override)
    if isinstance(base, dict):
        if not isinstance(override, dict):
            raise ConfigError(
                f"config key {'.'.join(path) or '<top>'} must be a mapping, got {type(override).__name__}"
            )
        out = dict(base)
        for key, value in override.items():
            if key not in base:
                where = ".".join(path + (str(key),))
                close = difflib.get_close_matches(str(key), [str(k) for k in base], n=1)
                hint = f"; did you mean {'.'.join(path + (close[0],))}?" if close else ""
                known = ", ".join(sorted(str(k) for k in base))
                raise ConfigError(f"unknown config key {where}{hint} (known keys here: {known})")
            out[key] = _merge(base[key], value, path + (str(key),))
        return out
    return copy.deepcopy(override)


def _expect(cond: bool, key: str, message: str) -> None:
    if not cond:
        raise ConfigError(f"config key {key}: {message}")


def validate(config: dict[str, Any]) -> None:
    """Check value types and ranges; raise ConfigError naming the key."""
    inp = config["input"]
    _expect(inp["format"] in FORMATS, "input.format", f"must be one of {', '.join(FORMATS)}, got {inp['format']!r}")
    _expect(isinstance(inp["id_field"], str) and inp["id_field"] != "", "input.id_field", "must be a field name")
    for name, value in inp["fields"].items():
        ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        _expect(ok, f"input.fields.{name}", "must be a field name (or a list of names for media)")
    for name, role in inp["roles"].items():
        _expect(
            role in CANONICAL_ROLES,
            f"input.roles.{name}",
            f"must map to one of {', '.join(CANONICAL_ROLES)}, got {role!r}",
        )
    for key in ("batch_size", "max_row_bytes"):
        v = inp[key]
        _expect(isinstance(v, int) and not isinstance(v, bool) and v > 0, f"input.{key}", f"must be a positive integer, got {v!r}")
    v = inp["split_bytes"]
    _expect(isinstance(v, int) and not isinstance(v, bool) and v >= 0, "input.split_bytes",
            f"must be a byte count (0 reads every file whole), got {v!r}")
    _expect(inp["batch_size"] <= 100_000, "input.batch_size", "must be at most 100000 (a batch is held in memory)")
    sig = config["signals"]
    _expect(isinstance(sig["repetition"], bool), "signals.repetition", "must be true or false")
    _expect(isinstance(sig["code_checks"], bool), "signals.code_checks", "must be true or false")
    lid = sig["langid"]
    _expect(isinstance(lid["enabled"], bool), "signals.langid.enabled", "must be true or false")
    _expect(isinstance(lid["model"], str), "signals.langid.model", "must be 'builtin' or a fastText model path")
    _expect(isinstance(lid["max_chars"], int) and lid["max_chars"] > 0, "signals.langid.max_chars", "must be a positive integer")
    _expect(
        isinstance(config["rules"], list) and all(isinstance(r, str) for r in config["rules"]),
        "rules",
        "must be a list of rule pack names or paths",
    )
    _expect(
        isinstance(config["disable_rules"], list) and all(isinstance(r, str) for r in config["disable_rules"]),
        "disable_rules",
        "must be a list of rule names",
    )
    _validate_dedup(config["dedup"])
    _validate_classifiers(config["classifiers"])
    tax = config["taxonomy"]
    _expect(isinstance(tax["enabled"], bool), "taxonomy.enabled", "must be true or false")
    _expect(isinstance(tax["path"], str) and tax["path"], "taxonomy.path", "must be a shipped taxonomy name or a YAML path")
    _expect(tax["field"] in ("instruction", "response", "conversation"), "taxonomy.field", "must be instruction, response or conversation")
    _expect(_is_int(tax["min_rows"]) and tax["min_rows"] >= 1, "taxonomy.min_rows", "must be a positive integer")
    ov = config["overlap"]
    _expect(isinstance(ov["enabled"], bool), "overlap.enabled", "must be true or false")
    _expect(isinstance(ov["bleu_sample"], (int, float)) and 0 <= ov["bleu_sample"] <= 1, "overlap.bleu_sample", "must be in [0, 1]")
    _expect(ov["reference_field"] is None or isinstance(ov["reference_field"], str), "overlap.reference_field",
            "must be null or a field name")
    con = config["contamination"]
    _expect(isinstance(con["benchmarks"], list) and all(isinstance(p, str) for p in con["benchmarks"]),
            "contamination.benchmarks", "must be a list of file paths")
    _expect(isinstance(con["fields"], list) and all(isinstance(p, str) for p in con["fields"]),
            "contamination.fields", "must be a list of field names")
    _expect(_is_int(con["ngram"]) and con["ngram"] >= 2, "contamination.ngram", "must be an integer >= 2")
    saf = config["safety"]
    for key in ("pii", "redact"):
        _expect(isinstance(saf[key], bool), f"safety.{key}", "must be true or false")
    for key in ("lexicons", "demographics"):
        for name, terms in saf[key].items():
            _expect(
                isinstance(name, str) and name.isidentifier() and isinstance(terms, list) and terms
                and all(isinstance(t, str) and t.strip() for t in terms),
                f"safety.{key}.{name}",
                "must be an identifier naming a non-empty list of terms",
            )
    comp = config["composite"]
    _expect(isinstance(comp["enabled"], bool), "composite.enabled", "must be true or false")
    for key, allowed in (("weights", ("quality", "relevance", "clarity", "originality")),
                         ("dataset_weights", ("diversity", "relevance", "clarity", "quality"))):
        w = comp[key]
        _expect(isinstance(w, dict) and all(k in allowed for k in w) and all(isinstance(v, (int, float)) and v >= 0 for v in w.values()),
                f"composite.{key}", f"must map some of {', '.join(allowed)} to weights >= 0")
    _expect(isinstance(comp["warn_factor"], (int, float)) and 0 <= comp["warn_factor"] <= 1, "composite.warn_factor", "must be in [0, 1]")
    sev = config["cascade"]["skip_severities"]
    _expect(
        isinstance(sev, list) and all(s in ("info", "warn", "drop") for s in sev),
        "cascade.skip_severities",
        "must be a list of severities (info, warn, drop)",
    )
    div = config["diversity"]
    for key in ("self_bleu_sample", "self_bleu_sample_per_shard", "instruction_types_max"):
        _expect(_is_int(div[key]) and div[key] >= 0, f"diversity.{key}", "must be 0 or a positive integer")
    out = config["output"]
    _expect(isinstance(out["include_text"], bool), "output.include_text", "must be true or false")
    _expect(isinstance(out["raw_max_chars"], int) and out["raw_max_chars"] > 0, "output.raw_max_chars", "must be a positive integer")
    _expect(isinstance(out["num_shards"], int) and out["num_shards"] >= 0, "output.num_shards", "must be 0 or more")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _validate_dedup(d: dict[str, Any]) -> None:
    _expect(isinstance(d["enabled"], bool), "dedup.enabled", "must be true or false")
    _expect(
        d["text"] in ("prompt_answer", "conversation", "instruction", "response"),
        "dedup.text",
        "must be prompt_answer, conversation, instruction or response",
    )
    _expect(d["shingle"] in ("word", "char", "auto"), "dedup.shingle", "must be word, char or auto")
    for key in ("ngram", "char_ngram", "num_perm", "partitions", "max_rounds"):
        _expect(_is_int(d[key]) and d[key] >= 1, f"dedup.{key}", "must be a positive integer")
    _expect(d["num_perm"] >= 2, "dedup.num_perm", "must be at least 2")
    _expect(_is_int(d["seed"]), "dedup.seed", "must be an integer")
    for key in ("threshold", "char_mode_share"):
        _expect(isinstance(d[key], (int, float)) and 0 < d[key] <= 1, f"dedup.{key}", "must be a number in (0, 1]")
    vt = d["verify_threshold"]
    _expect(vt is None or (isinstance(vt, (int, float)) and 0 <= vt <= 1), "dedup.verify_threshold", "must be null or a number in [0, 1]")
    _expect(d["verify"] in ("estimate", "exact", "rouge_l", "none"), "dedup.verify", "must be estimate, exact, rouge_l or none")
    pt = d["part_threshold"]
    _expect(isinstance(pt, (int, float)) and 0 <= pt <= 1, "dedup.part_threshold", "must be a number in [0, 1]")
    b, r = d["bands"], d["rows"]
    _expect(_is_int(b) and _is_int(r) and b >= 0 and r >= 0, "dedup.bands", "bands and rows must be integers >= 0")
    _expect((b == 0) == (r == 0), "dedup.bands", "set both bands and rows, or neither (0 = from threshold)")
    _expect(b * r <= d["num_perm"], "dedup.bands", f"bands x rows = {b * r} must not exceed dedup.num_perm = {d['num_perm']}")
    allowed = ("quality", "response_chars", "instruction_chars", "n_turns", "id", "key")
    _expect(
        isinstance(d["keep"], list) and all(isinstance(k, str) and k.lstrip("-+") in allowed for k in d["keep"]),
        "dedup.keep",
        f"must be a list of attributes, each optionally prefixed with '-' (largest first): {', '.join(allowed)}",
    )
    _expect(isinstance(d["export_signatures"], bool), "dedup.export_signatures", "must be true or false")
    _expect(
        isinstance(d["reference"], list) and all(isinstance(r, str) for r in d["reference"]),
        "dedup.reference",
        "must be a list of signatures/ directories of earlier runs",
    )


_CLASSIFIER_KEYS = {"model", "positive", "text", "max_chars"}
_RESERVED = {"key", "id", "shard", "row", "format", "turns", "system", "instruction", "input", "response", "n_turns",
             "media", "content_hash", "meta", "flags", "severity", "lang", "topics", "relevance", "composite",
             "composite_explain"}


def _validate_classifiers(classifiers: dict[str, Any]) -> None:
    for name, spec in classifiers.items():
        key = f"classifiers.{name}"
        _expect(isinstance(name, str) and name.isidentifier() and name not in _RESERVED, key,
                "the name must be an identifier and not a column winnow already writes")
        _expect(isinstance(spec, dict), key, "must be a mapping with at least `model: PATH`")
        extra = set(spec) - _CLASSIFIER_KEYS
        _expect(not extra, key, f"unknown keys {sorted(extra)} (allowed: {sorted(_CLASSIFIER_KEYS)})")
        _expect(isinstance(spec.get("model"), str) and spec["model"], f"{key}.model", "must be the path of a fastText model")
        _expect(isinstance(spec.get("positive", "good"), str), f"{key}.positive", "must be a label name")
        _expect(spec.get("text", "conversation") in ("conversation", "instruction", "response", "prompt_answer"),
                f"{key}.text", "must be conversation, instruction, response or prompt_answer")
        mc = spec.get("max_chars", 4000)
        _expect(_is_int(mc) and mc > 0, f"{key}.max_chars", "must be a positive integer")


def load_config(path: str | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The effective config: defaults, then the user's file, then overrides."""
    config = default_config()
    if path:
        config = _merge(config, read_yaml(path), ())
    if overrides:
        config = _merge(config, overrides, ())
    validate(config)
    return config


def config_hash(config: dict[str, Any]) -> str:
    """A stable digest of the effective config, recorded in run.json."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
