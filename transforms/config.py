"""Load and validate winnow's YAML configuration before any data is read.

A user config is merged over configs/default.yaml. Every key is checked
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

FORMATS = ("auto", "alpaca", "sharegpt", "openai", "dolly", "completion", "selfinstruct", "text")
CANONICAL_ROLES = ("user", "assistant", "system", "tool", "tool_call")
# Keys whose values are free-form mappings (not checked against the defaults).
_OPEN_MAPPINGS = {("input", "roles")}


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
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(path) as f:
            text = f.read().decode("utf-8")
    except Exception as e:  # noqa: BLE001 - any I/O failure is a config failure here
        raise ConfigError(f"cannot read config file {path}: {e}") from e
    return _read_yaml_text(text, path)


def packaged_text(name: str) -> str:
    """Text of a file shipped in the `configs` package, e.g. 'rules/instruction.yaml'."""
    ref = resources.files("configs")
    for part in name.split("/"):
        ref = ref.joinpath(part)
    return ref.read_text(encoding="utf-8")


def default_config() -> dict[str, Any]:
    return _read_yaml_text(packaged_text("default.yaml"), "configs/default.yaml")


def _merge(base: Any, override: Any, path: tuple[str, ...]) -> Any:
    if isinstance(base, dict) and path in _OPEN_MAPPINGS:
        if not isinstance(override, dict):
            raise ConfigError(f"config key {'.'.join(path)} must be a mapping")
        return {**base, **override}
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
    _expect(inp["batch_size"] <= 100_000, "input.batch_size", "must be at most 100000 (a batch is held in memory)")
    sig = config["signals"]
    _expect(isinstance(sig["repetition"], bool), "signals.repetition", "must be true or false")
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
    out = config["output"]
    _expect(isinstance(out["include_text"], bool), "output.include_text", "must be true or false")
    _expect(isinstance(out["raw_max_chars"], int) and out["raw_max_chars"] > 0, "output.raw_max_chars", "must be a positive integer")
    _expect(isinstance(out["num_shards"], int) and out["num_shards"] >= 0, "output.num_shards", "must be 0 or more")


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
