"""Match inputs (files, directories, globs; local or gs://) into numbered shards.

Each matched file is one shard; shards are numbered in sorted path order,
which gives every row its dense key (shard index << 40 | row).
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

from winnow.transforms.io import files

# Extensions picked up when a directory or glob is expanded.
DATA_EXTENSIONS = (".jsonl", ".json", ".ndjson", ".parquet")
COMPRESSION_EXTENSIONS = (".gz", ".zst", ".zstd", ".bz2")


class InputError(ValueError):
    """Inputs that cannot be planned: nothing matched, or an unreadable path."""


@dataclass(frozen=True)
class Shard:
    """One input file. `index` is its position in the sorted input list."""

    index: int
    path: str
    name: str
    size: int


def strip_compression(path: str) -> str:
    lower = path.lower()
    for ext in COMPRESSION_EXTENSIONS:
        if lower.endswith(ext):
            return path[: -len(ext)]
    return path


def is_compressed(path: str) -> bool:
    """Compressed files cannot be entered in the middle, so they are read whole."""
    return strip_compression(path) != path


def is_data_file(path: str) -> bool:
    return strip_compression(path).lower().endswith(DATA_EXTENSIONS)


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _is_directory(pattern: str) -> bool:
    if files.is_remote(pattern):
        return pattern.endswith("/")
    return os.path.isdir(pattern)


def match_inputs(patterns: list[str]) -> tuple[list[Shard], list[str]]:
    """Expand files, directories and globs into sorted shards.

    Returns (shards, skipped): files found by walking a directory or glob
    whose extension is not a data format are listed in `skipped`, so the
    plan can say what was left out. A file named explicitly is always read.
    """
    found: dict[str, int] = {}
    skipped: list[str] = []
    for pattern in patterns:
        explicit = not _is_glob(pattern) and not _is_directory(pattern)
        spec = pattern
        if _is_directory(pattern):
            spec = pattern.rstrip("/") + "/**"
        try:
            results = files.match_sizes(spec)
        except Exception as e:
            raise InputError(f"input {pattern!r} could not be listed: {e}") from e
        if not results and explicit and files.is_remote(pattern):
            # A bucket prefix without a trailing slash: try it as a directory.
            results = files.match_sizes(pattern.rstrip("/") + "/**")
            explicit = False
        if not results:
            raise InputError(
                f"input {pattern!r} matches no files; check the path, or quote a glob so the shell does not expand it"
            )
        for path, size in results.items():
            if explicit or is_data_file(path):
                found[path] = size
            else:
                skipped.append(path)
    if not found:
        raise InputError(
            f"inputs {patterns} contain no data files (looked for {', '.join(DATA_EXTENSIONS)}, optionally "
            f"compressed with {', '.join(COMPRESSION_EXTENSIONS)}); skipped: {skipped[:5]}"
        )
    paths = sorted(found)
    names = _display_names(paths)
    shards = [Shard(i, p, names[i], found[p]) for i, p in enumerate(paths)]
    return shards, sorted(skipped)


def _display_names(paths: list[str]) -> list[str]:
    """Paths relative to their common directory: short, unique, readable."""
    if len(paths) == 1:
        return [posixpath.basename(paths[0]) or paths[0]]
    common = posixpath.commonpath([p.replace("://", ":/") for p in paths]).replace(":/", "://", 1)
    prefix = common.rstrip("/") + "/"
    return [p[len(prefix) :] if p.startswith(prefix) else p for p in paths]


def shard_kind(path: str) -> str:
    """'parquet' or 'json' (JSONL vs JSON array is decided from the content)."""
    return "parquet" if strip_compression(path).lower().endswith(".parquet") else "json"
