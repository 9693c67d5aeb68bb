"""Match inputs (files, directories, globs; local or gs://) into numbered shards.

Each matched file is one shard; shards are numbered in sorted path order,
which gives every row its dense key (shard index << 40 | row). Paths are
normalized first (absolute, no `.`, `..` or doubled `/`), so one file reached
by two spellings is one shard. A shard's name, which the `shard` columns and
`<shard>:<row>` ids use, is its path relative to the input that found it.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from winnow.transforms.io import files
from winnow.transforms.run_layout import DERIVED, RUN_ERROR, RUN_RECORD, top_level_entries

# Extensions picked up when a directory or glob is expanded.
DATA_EXTENSIONS = (".jsonl", ".json", ".ndjson", ".parquet")
COMPRESSION_EXTENSIONS = (".gz", ".zst", ".zstd", ".bz2")

# What marks a directory as holding a winnow run: a run record, or files in two of its folders.
RUN_MARKERS = (RUN_RECORD, RUN_ERROR)
RUN_FOLDERS = frozenset(top_level_entries()) - set(RUN_MARKERS) - set(DERIVED)

# Why a file found by walking a directory or glob is not read.
NOT_DATA = "not a data file"
IN_RUN = "in a winnow run directory"
IN_OUTPUT = "in this run's output directory"


class InputError(ValueError):
    """Inputs that cannot be planned: nothing matched, or an unreadable path."""


@dataclass(frozen=True)
class Shard:
    """One input file. `index` is its position in the sorted input list."""

    index: int
    path: str
    name: str
    size: int


@dataclass(frozen=True)
class Skipped:
    """A file an input matched but that is not read, and why; `directory` is the run directory it is in."""

    path: str
    reason: str
    directory: str = ""

    def as_json(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason, **({"directory": self.directory} if self.directory else {})}


@dataclass(frozen=True)
class _Input:
    """One INPUT argument: what to list, and the directory its files are named relative to."""

    given: str
    spec: str
    root: str
    kind: str  # "file", "directory" or "glob"


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


def normalize_path(path: str) -> str:
    """One spelling per file: absolute and normpath'ed locally, no empty or `.` segments on gs://.

    A remote path keeps a trailing "/", which is what marks a prefix as a directory.
    """
    prefix, rest = _split_scheme(path)
    if not prefix:
        return os.path.abspath(path)
    parts = [p for p in rest.split("/") if p not in ("", ".")]
    return prefix + "/".join(parts) + ("/" if rest.endswith("/") and parts else "")


def _base(directory: str) -> str:
    """`directory` with one trailing "/": the prefix of every path inside it."""
    return directory if directory.endswith("/") else directory + "/"


def _within(path: str, directory: str) -> bool:
    return path.rstrip("/") == directory.rstrip("/") or path.startswith(_base(directory))


def _parent(path: str) -> str:
    if files.is_remote(path):
        return path.rstrip("/").rsplit("/", 1)[0]
    return os.path.dirname(path)


def _split_scheme(path: str) -> tuple[str, str]:
    """("gs://", "bucket/x") for a URL, ("", path) for a local path."""
    if not files.is_remote(path):
        return "", path
    scheme, rest = path.split("://", 1)
    return scheme + "://", rest


def _glob_root(pattern: str) -> str:
    """The directory before the first segment holding a wildcard."""
    prefix, rest = _split_scheme(pattern)
    literal: list[str] = []
    for part in rest.split("/")[:-1]:
        if _is_glob(part):
            break
        literal.append(part)
    return prefix + "/".join(literal) or "/"


def _plan_input(given: str) -> _Input:
    path = normalize_path(given)
    if _is_glob(path):
        return _Input(given, path, _glob_root(path), "glob")
    is_directory = path.endswith("/") if files.is_remote(path) else os.path.isdir(path)
    if is_directory:
        root = path.rstrip("/") or "/"
        return _Input(given, _base(root) + "**", root, "directory")
    return _Input(given, path, _parent(path), "file")


def _list(inp: _Input) -> tuple[_Input, dict[str, int]]:
    """Path -> size of what one input matches (a bucket prefix named without "/" is tried as a directory)."""
    try:
        results = files.match_sizes(inp.spec)
        if not results and inp.kind == "file" and files.is_remote(inp.spec):
            inp = _Input(inp.given, _base(inp.spec) + "**", inp.spec, "directory")
            results = files.match_sizes(inp.spec)
    except Exception as e:
        raise InputError(f"input {inp.given!r} could not be listed: {e}") from e
    if not results:
        raise InputError(f"input {inp.given!r} matches no files; check the path, or quote a glob so the shell does not expand it")
    return inp, {normalize_path(p): size for p, size in results.items()}


def _inner_directories(path: str, root: str) -> list[str]:
    """The directories between `root` (excluded) and the file `path`, outermost first."""
    base = _base(root)
    if not path.startswith(base):
        return []
    parts = path[len(base) :].split("/")[:-1]
    return [base + "/".join(parts[: j + 1]) for j in range(len(parts))]


def run_directories(paths: Iterable[str], root: str) -> set[str]:
    """Directories below `root` that the listed paths show to hold a winnow run.

    A run record (run.json, run.error.json) marks a finished or failed run;
    files in two of a run's folders (records/, rejected/, summary/, ...)
    mark one that stopped before writing either.
    """
    runs: set[str] = set()
    folders: dict[str, set[str]] = defaultdict(set)
    for path in paths:
        inner = _inner_directories(path, root)
        if inner and path.rsplit("/", 1)[-1] in RUN_MARKERS:
            runs.add(inner[-1])
        for outer, folder in zip(inner, inner[1:]):
            name = folder.rsplit("/", 1)[-1]
            if name in RUN_FOLDERS:
                folders[outer].add(name)
    return runs | {d for d, names in folders.items() if len(names) >= 2}


def _probed_run_directories(paths: Iterable[str], root: str) -> set[str]:
    """Run directories among the directories a glob's matches sit in: a glob lists only what it
    matches, so each directory is asked whether it holds a run record (one listing per directory;
    a run that stopped before writing one is seen only where the glob matches two of its folders)."""
    candidates = sorted({d for p in paths for d in _inner_directories(p, root)})
    runs = set()
    for d in candidates:
        found = files.match_sizes(_base(d) + "run*.json")
        if any(p.rsplit("/", 1)[-1] in RUN_MARKERS for p in found):
            runs.add(d)
    return runs


def _why_skipped(path: str, root: str, output: str | None, runs: set[str]) -> Skipped | None:
    if output is not None and _within(path, output):
        return Skipped(path, IN_OUTPUT, output)
    run = next((d for d in _inner_directories(path, root) if d in runs), None)
    if run is not None:
        return Skipped(path, IN_RUN, run)
    if not is_data_file(path):
        return Skipped(path, NOT_DATA)
    return None


def match_inputs(patterns: list[str], output: str | None = None) -> tuple[list[Shard], list[Skipped]]:
    """Expand files, directories and globs into sorted shards, and list the files left out.

    Walking a directory or glob leaves out files that are not a data format,
    files inside a directory that holds a winnow run (its outputs are not
    data; a run directory named as an input is read, it was asked for), and
    anything under `output`, this run's own directory, which it writes and
    --overwrite empties. A file named explicitly is always read, unless it is
    under `output`: that is an error.
    """
    out_dir = (normalize_path(output).rstrip("/") or "/") if output else None
    found: dict[str, tuple[int, str]] = {}  # path -> (size, root of the first input that found it)
    skipped: dict[str, Skipped] = {}
    for given in patterns:
        inp = _plan_input(given)
        if out_dir is not None and _within(inp.spec if inp.kind == "file" else inp.root, out_dir):
            raise InputError(
                f"input {given!r} is in this run's output directory {output!r}, which the run writes "
                f"(and --overwrite empties); choose another --output"
            )
        inp, results = _list(inp)
        runs: set[str] = set()
        if inp.kind != "file":
            runs = run_directories(results, inp.root)
            if inp.kind == "glob":
                runs |= _probed_run_directories(results, inp.root)
        for path, size in results.items():
            why = None if inp.kind == "file" else _why_skipped(path, inp.root, out_dir, runs)
            if why is None:
                found.setdefault(path, (size, inp.root))
            else:
                skipped.setdefault(path, why)
    left_out = [s for p, s in sorted(skipped.items()) if p not in found]
    if not found:
        raise InputError(
            f"inputs {patterns} contain no data files (looked for {', '.join(DATA_EXTENSIONS)}, optionally "
            f"compressed with {', '.join(COMPRESSION_EXTENSIONS)}); " + "; ".join(describe_skipped(left_out))
        )
    paths = sorted(found)
    names = shard_names([(p, found[p][1]) for p in paths])
    return [Shard(i, p, names[i], found[p][0]) for i, p in enumerate(paths)], left_out


def _segments(directory: str) -> list[str]:
    return [s for s in _split_scheme(directory)[1].split("/") if s]


def _name(path: str, root: str, depth: int) -> str:
    """`path` relative to `root`, behind the last `depth` segments of `root` (the whole path past them)."""
    relative = path[len(_base(root)) :]
    segments = _segments(root)
    if depth == 0:
        return relative
    if depth > len(segments):
        return path
    return "/".join(segments[-depth:]) + "/" + relative


def shard_names(found: list[tuple[str, str]]) -> list[str]:
    """Each file's name: its path relative to the root of the input that found it.

    For a directory that is the path inside it, for a named file its base
    name, for a glob the path below the glob's first wildcard segment. Where
    two inputs give one name, the names of both inputs' files get the
    roots' last segments in front (`a/x.jsonl`, `b/x.jsonl`), as few as make
    every name unique; a root at its full depth gives whole paths.
    """
    depth = {root: 0 for _, root in found}
    while True:
        names = [_name(path, root, depth[root]) for path, root in found]
        roots_of: dict[str, set[str]] = defaultdict(set)
        for name, (_, root) in zip(names, found):
            roots_of[name].add(root)
        clashing = {root for roots in roots_of.values() if len(roots) > 1 for root in roots}
        if not clashing:
            return names
        for root in clashing:
            depth[root] = min(depth[root] + 1, len(_segments(root)) + 1)


def _shown(path: str) -> str:
    """A local path relative to the working directory when it is below it, else as is."""
    if files.is_remote(path):
        return path
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def describe_skipped(skipped: list[Skipped]) -> list[str]:
    """What was left out, one line per reason and directory (for the plan and errors)."""
    lines = []
    not_data = [s.path for s in skipped if s.reason == NOT_DATA]
    if not_data:
        lines.append(f"skipped {len(not_data)} non-data file(s), e.g. {', '.join(map(_shown, not_data[:3]))}")
    in_dirs = Counter((s.directory, s.reason) for s in skipped if s.reason != NOT_DATA)
    for (directory, reason), n in in_dirs.items():
        what = "a winnow run directory" if reason == IN_RUN else "the output directory of this run"
        lines.append(f"skipped {n} file(s) in {_base(_shown(directory))} ({what})")
    return lines


def shard_kind(path: str) -> str:
    """'parquet' or 'json' (JSONL vs JSON array is decided from the content)."""
    return "parquet" if strip_compression(path).lower().endswith(".parquet") else "json"
