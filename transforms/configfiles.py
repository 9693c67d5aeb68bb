"""Config files: safe YAML from local or gs:// paths, files shipped in winnow.configs, ConfigError.

Rule packs and taxonomies read their files through here; the typed config
model itself lives in transforms.config.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from winnow.transforms.io import files


class ConfigError(ValueError):
    """A configuration problem, with the key that caused it and how to fix it."""


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """A YAML mapping from text (safe loader: no Python tags)."""
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
    except Exception as e:
        raise ConfigError(f"cannot read config file {path}: {e}") from e
    return parse_yaml(text, path)


def packaged_text(name: str) -> str:
    """Text of a file shipped in the `winnow.configs` package, e.g. 'rules/instruction.yaml'."""
    ref = resources.files("winnow.configs")
    for part in name.split("/"):
        ref = ref.joinpath(part)
    return ref.read_text(encoding="utf-8")
