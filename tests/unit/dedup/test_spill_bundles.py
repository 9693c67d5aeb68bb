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
