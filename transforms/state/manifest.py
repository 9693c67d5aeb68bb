"""The input manifest of a night and the reuse decision per shard.

A shard (one input file) is unchanged when its stat says so (local: size
and mtime; gs://: generation), or, when the stat differs, when its bytes
hash to the checksum recorded last night (a file touched or copied back
keeps its results). Only then is it reused; new and changed shards are
re-scored, and shards no longer matched drop out. The reasons go to run.json.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from winnow.transforms.io import files
from winnow.transforms.io.inputs import Shard

REUSE, RESCORE = "reuse", "rescore"


def sha256_of(path: str) -> str:
    """The file's bytes hashed (a read: done only for new files and files whose stat changed)."""
    h = hashlib.sha256()
    with files.open_read(path) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _same_stat(now: dict[str, Any], before: dict[str, Any]) -> bool:
    if now.get("size") != before.get("size"):
        return False
    if "generation" in now and "generation" in before:
        return bool(now["generation"] == before["generation"])
    if "crc32c" in now:
        return bool(now.get("crc32c") == before.get("crc32c"))
    return bool(now.get("mtime_ns") == before.get("mtime_ns"))


def checksum_of(path: str, stat: dict[str, Any]) -> str:
    """gs:// objects carry a CRC32C in their metadata; local files are hashed."""
    return f"crc32c:{stat['crc32c']}" if "crc32c" in stat else sha256_of(path)


@dataclass
class ShardDecision:
    shard: Shard
    action: str  # REUSE or RESCORE
    reason: str
    entry: dict[str, Any]  # this night's manifest entry: path, name, size, checksum, mtime/generation
    previous: dict[str, Any] | None = None  # last night's record of the shard
    # Re-scored for its clusters only (file, fingerprints and answer counts unchanged): its scores stand.
    scores_stand: bool = False
    replayed: bool = False  # its stored scores were used tonight (state.replay), not its file

    def as_json(self) -> dict[str, Any]:
        out = {"shard": self.shard.name, "path": self.shard.path, "reason": self.reason}
        if self.replayed:
            out["scores"] = (
                "unchanged, taken from the state; keep decisions made again, and its copies in those clusters clustered again"
            )
        return out


@dataclass
class Decision:
    shards: list[ShardDecision]
    removed: list[dict[str, Any]] = field(default_factory=list)
    full: bool = False  # every shard is re-scored: no earlier night, or a fingerprint changed

    def reused(self) -> list[ShardDecision]:
        return [d for d in self.shards if d.action == REUSE]

    def rescored(self) -> list[ShardDecision]:
        return [d for d in self.shards if d.action == RESCORE]

    def rescore(self, path: str, reason: str, scores_stand: bool = False) -> None:
        """Re-score a reused shard; `scores_stand`: only its keep decisions can change (near-duplicate clusters)."""
        for d in self.shards:
            if d.shard.path == path and d.action == REUSE:
                d.action, d.reason, d.scores_stand = RESCORE, reason, scores_stand

    def as_json(self) -> dict[str, Any]:
        return {
            "reused": [d.as_json() for d in self.reused()],
            "rescored": [d.as_json() for d in self.rescored()],
            "removed": self.removed,
        }


def decide(
    shards: list[Shard],
    previous: dict[str, dict[str, Any]] | None,
    fingerprint_change: str | None,
    stat: Callable[[str], dict[str, Any]] = files.stat,
    checksum: Callable[[str, dict[str, Any]], str] = checksum_of,
) -> Decision:
    """Per shard of tonight: reuse or re-score, and why. `previous`: last night's shards by path (None: no night yet).

    `fingerprint_change`: why last night's results cannot be reused at all
    (config, model or winnow version changed), or None.
    """
    out: list[ShardDecision] = []
    for shard in shards:
        st = stat(shard.path)
        before = (previous or {}).get(shard.path)
        entry: dict[str, Any] = {"path": shard.path, "name": shard.name, **st}
        if before is None:
            entry["checksum"] = checksum(shard.path, st)
            reason = "no earlier night" if previous is None else "new shard"
            out.append(ShardDecision(shard, RESCORE, reason, entry))
            continue
        if _same_stat(st, before):
            entry["checksum"] = before["checksum"]
            action, reason = REUSE, "unchanged (" + ("generation" if "generation" in st else "size and mtime") + ")"
        else:
            entry["checksum"] = checksum(shard.path, st)
            if entry["checksum"] == before["checksum"]:
                action, reason = REUSE, "unchanged bytes (same checksum; only its timestamp changed)"
            else:
                action, reason = RESCORE, f"changed (size {before['size']:,} -> {st['size']:,}, checksum differs)"
        if fingerprint_change is not None:
            action, reason = RESCORE, fingerprint_change
        out.append(ShardDecision(shard, action, reason, entry, before))
    now = {s.path for s in shards}
    removed = [
        {"shard": rec["name"], "path": path, "reason": "no longer matched by the inputs"}
        for path, rec in sorted((previous or {}).items())
        if path not in now
    ]
    full = previous is None or fingerprint_change is not None
    return Decision(out, removed, full)
