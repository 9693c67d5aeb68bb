"""dedup.spill.BundleWriter: several named arrays per partition in one file, read back whole per name."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from winnow.transforms.dedup import spill


def test_named_arrays_of_every_writer_and_flush_come_back_per_partition(tmp_path: Path) -> None:
    base = str(tmp_path / "first")
    a = spill.BundleWriter(base, "g1", budget_bytes=100)  # small budget: several flushes
    b = spill.BundleWriter(base, "g2")
    pairs = np.arange(30, dtype=np.int64).reshape(10, 3)
    sides = np.arange(40, dtype=np.uint32).reshape(10, 4)
    a.add(3, pairs=pairs[:5], sides=sides[:5])
    a.add(3, pairs=pairs[5:7])
    a.add(7, pairs=pairs[7:8], sides=np.zeros((0, 4), np.uint32))
    a.flush()
    b.add(3, pairs=pairs[8:], sides=sides[5:])
    b.flush()
    assert spill.partitions_written(base) == [3, 7]
    got = spill.read_bundles(base, 3, {"pairs": 3, "sides": 4, "sigs": 6})
    assert sorted(map(tuple, got["pairs"].tolist())) == sorted(map(tuple, np.concatenate([pairs[:7], pairs[8:]]).tolist()))
    assert sorted(map(tuple, got["sides"].tolist())) == sorted(map(tuple, sides.tolist()))
    assert got["sigs"].shape == (0, 6)  # a name never written: empty, with its width
    seven = spill.read_bundles(base, 7, {"pairs": 3, "sides": 4})
    assert seven["pairs"].tolist() == pairs[7:8].tolist() and seven["sides"].shape == (0, 4)
    assert spill.read_bundles(base, 5, {"pairs": 3})["pairs"].shape == (0, 3)


def _files(base: str) -> list[str]:
    return sorted(str(p.relative_to(base)) for p in Path(base).rglob("*.np?"))


def test_writer_per_bundle_shares_one_writer_in_one_process_and_reads_back_the_same_entries(tmp_path: Path) -> None:
    entries = {(s, part): np.full((s + 1, 4), s * 100 + part, np.uint64) for s in range(3) for part in range(4)}

    def spill_all(base: str, shared: bool) -> None:
        writers: spill.WriterPerBundle[spill.SpillWriter] = spill.WriterPerBundle(shared)
        for s in range(3):  # three elements of one bundle, each touching every partition
            w = writers.get(lambda name: spill.SpillWriter(base, name), f"s{s}")
            for part in range(4):
                w.add(part, entries[(s, part)])
            writers.done(w)
        if shared:
            assert _files(base) == []  # nothing written before the bundle ends
        writers.finish()

    own, shared = str(tmp_path / "own"), str(tmp_path / "shared")
    spill_all(own, shared=False)
    spill_all(shared, shared=True)
    assert len(_files(own)) == 12  # a file per element and partition
    assert _files(shared) == [f"p{part:05d}/s0-00000.npy" for part in range(4)]  # one per partition, named by the first
    for part in range(4):
        a = spill.read_partition(own, part, 4)
        b = spill.read_partition(shared, part, 4)
        assert sorted(a[:, 0].tolist()) == sorted(b[:, 0].tolist()) and len(b) == 6
