"""The state directory: committed versions and the pointer that names the current one.

    STATE_DIR/CURRENT                       {"version": V}: written last, atomically (the commit)
    STATE_DIR/rescore.json                  shards an attempt at tonight found it must re-score (cleared by a commit)
    STATE_DIR/versions/V/state.json         manifest, fingerprints, where each shard's results are
    STATE_DIR/versions/V/run/               the rows that night scored: records/, rejected/, kept/,
                                            signatures/ (a run directory of the re-scored shards)
    STATE_DIR/versions/V/refsig/            per shard scored that night: signatures of its rows
                                            that are no near-duplicate's copy (the next nights' reference)
    STATE_DIR/versions/V/answers/           per part: (answer, prompt) hashes for answer_reuse, frequent-shingle report
    STATE_DIR/versions/V/stats/             per shard of the night: its statistics (pickled ShardStats)
    STATE_DIR/versions/V/night/             summary/ and duplicates/ of the whole night

A night writes a new version directory, then flips CURRENT. A night
killed at any point leaves CURRENT naming the last complete night; the
next night removes versions that no committed state refers to.
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from datetime import datetime, timezone
from typing import Any

from winnow.transforms.io import files

POINTER = "CURRENT"
VERSIONS = "versions"
STATE_FILE = "state.json"
FORMAT = 1
HINT = "rescore.json"  # shards an unfinished night found it must re-score (advisory: extra re-scoring is always safe)
CRASH_ENV = "WINNOW_CRASH_AT"  # tests: kill -9 this process at a named point of the night


def crash_point(name: str) -> None:
    """Fault injection for the crash tests: SIGKILL here when WINNOW_CRASH_AT names this point."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def version_dir(state_dir: str, version: str) -> str:
    return files.join(state_dir, VERSIONS, version)


def new_version() -> str:
    """Sortable by time, unique across concurrent writers."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def load(state_dir: str) -> dict[str, Any] | None:
    """The last committed night's state, or None before the first night."""
    pointer = files.join(state_dir, POINTER)
    if not files.exists(pointer):
        return None
    version = json.loads(files.read_bytes(pointer))["version"]
    state: dict[str, Any] = json.loads(files.read_bytes(files.join(version_dir(state_dir, version), STATE_FILE)))
    if state.get("format") != FORMAT:
        raise ValueError(f"state {state_dir} has format {state.get('format')}, this winnow reads {FORMAT}")
    return state


def referenced_versions(state: dict[str, Any] | None) -> set[str]:
    """Versions a state reads from: its own, those where its reused shards were scored, and those holding
    their statistics."""
    if state is None:
        return set()
    shards = state["shards"].values()
    return {state["version"], *(s["scored_in"] for s in shards), *(s["stats_in"] for s in shards if "stats_in" in s)}


def collect_garbage(state_dir: str, keep: set[str]) -> list[str]:
    """Remove version directories no committed state refers to (crashed nights, superseded ones)."""
    found = files.match(files.join(state_dir, VERSIONS, "*", "**"))
    base = files.join(state_dir, VERSIONS).rstrip("/") + "/"
    versions = sorted({p[len(base) :].replace(os.sep, "/").split("/", 1)[0] for p in found if p.startswith(base)})
    gone = [v for v in versions if v not in keep]
    for v in gone:
        files.delete_tree(version_dir(state_dir, v))
    return gone


def commit(state_dir: str, state: dict[str, Any]) -> None:
    """state.json into its version, then CURRENT flipped atomically: the night becomes the baseline."""
    vdir = version_dir(state_dir, state["version"])
    files.write_atomically(files.join(vdir, STATE_FILE), json.dumps(state, indent=2, sort_keys=True).encode())
    crash_point("before_pointer")
    files.write_atomically(files.join(state_dir, POINTER), json.dumps({"version": state["version"]}).encode())
    if files.exists(files.join(state_dir, HINT)):
        files.delete(files.join(state_dir, HINT))


def read_hint(state_dir: str) -> list[str]:
    """Shards (by name) a failed attempt at tonight found it must re-score."""
    path = files.join(state_dir, HINT)
    return list(json.loads(files.read_bytes(path))) if files.exists(path) else []


def write_hint(state_dir: str, shards: list[str]) -> None:
    files.write_atomically(files.join(state_dir, HINT), json.dumps(sorted(set(read_hint(state_dir)) | set(shards))).encode())
