"""Reuse or re-score per shard: stat first, checksum only when the stat changed, fingerprints over all."""

from __future__ import annotations

from typing import Any

from winnow.transforms.io.inputs import Shard
from winnow.transforms.state.fingerprints import change
from winnow.transforms.state.manifest import RESCORE, REUSE, decide


def shards(*names: str) -> list[Shard]:
    return [Shard(i, f"/d/{n}", n, 10) for i, n in enumerate(names)]


class Disk:
    def __init__(self, stats: dict[str, dict[str, Any]], sums: dict[str, str]):
        self.stats, self.sums = stats, sums
        self.hashed: list[str] = []

    def stat(self, path: str) -> dict[str, Any]:
        return dict(self.stats[path])

    def checksum(self, path: str, _: dict[str, Any]) -> str:
        self.hashed.append(path)
        return self.sums[path]


def previous(disk: Disk) -> dict[str, dict[str, Any]]:
    return {p: {**s, "name": p.rsplit("/", 1)[1], "checksum": disk.sums[p], "index": 0} for p, s in disk.stats.items()}


def test_first_night_rescores_everything_and_hashes_each_file_once():
    disk = Disk({"/d/a": {"size": 1, "mtime_ns": 5}}, {"/d/a": "sha256:x"})
    d = decide(shards("a"), None, None, disk.stat, disk.checksum)
    assert d.full and [(s.action, s.reason) for s in d.shards] == [(RESCORE, "no earlier night")]
    assert d.shards[0].entry == {"path": "/d/a", "name": "a", "size": 1, "mtime_ns": 5, "checksum": "sha256:x"}


def test_unchanged_stat_reuses_without_reading_and_a_touch_costs_one_checksum():
    disk = Disk({"/d/a": {"size": 1, "mtime_ns": 5}, "/d/b": {"size": 2, "mtime_ns": 5}}, {"/d/a": "s:a", "/d/b": "s:b"})
    before = previous(disk)
    disk.stats["/d/b"]["mtime_ns"] = 9  # touched, same bytes
    d = decide(shards("a", "b"), before, None, disk.stat, disk.checksum)
    assert [s.action for s in d.shards] == [REUSE, REUSE]
    assert disk.hashed == ["/d/b"] and "same checksum" in d.shards[1].reason


def test_changed_new_and_removed_shards():
    disk = Disk({"/d/a": {"size": 1, "mtime_ns": 5}, "/d/gone": {"size": 3, "mtime_ns": 5}}, {"/d/a": "s:a", "/d/gone": "s:g"})
    before = previous(disk)
    disk.stats["/d/a"] = {"size": 4, "mtime_ns": 6}
    disk.sums["/d/a"] = "s:a2"
    disk.stats["/d/new"], disk.sums["/d/new"] = {"size": 1, "mtime_ns": 1}, "s:n"
    d = decide(shards("a", "new"), before, None, disk.stat, disk.checksum)
    assert [(s.action, s.reason.split(" ")[0]) for s in d.shards] == [(RESCORE, "changed"), (RESCORE, "new")]
    assert d.removed == [{"shard": "gone", "path": "/d/gone", "reason": "no longer matched by the inputs"}]
    assert not d.full


def test_gcs_generation_decides_when_both_sides_have_one():
    disk = Disk({"/d/a": {"size": 1, "crc32c": "c", "generation": 7}}, {"/d/a": "crc32c:c"})
    before = previous(disk)
    disk.stats["/d/a"]["generation"] = 8  # rewritten with the same bytes: the CRC32C says so, no read
    d = decide(shards("a"), before, None, disk.stat, disk.checksum)
    assert d.shards[0].action == REUSE and disk.hashed == ["/d/a"]


def test_a_fingerprint_change_rescores_every_shard_with_its_reason():
    disk = Disk({"/d/a": {"size": 1, "mtime_ns": 5}}, {"/d/a": "s:a"})
    fp = {"config_hash": "1", "files": {"m.bin": "aa"}, "winnow": "0.1", "code": "c"}
    assert change(fp, dict(fp)) is None
    assert "config changed" in (change(fp, {**fp, "config_hash": "2"}) or "")
    assert "m.bin" in (change(fp, {**fp, "files": {"m.bin": "bb"}}) or "")
    assert "winnow changed" in (change(fp, {**fp, "code": "d"}) or "")
    why = change(fp, {**fp, "config_hash": "2"})
    d = decide(shards("a"), previous(disk), why, disk.stat, disk.checksum)
    assert d.full and d.shards[0].action == RESCORE and d.shards[0].reason == why
