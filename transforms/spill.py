"""A file-backed exchange for the two big near-duplicate shuffles.

Band entries (tens of bytes per row and band) and candidate pairs are
written by partition to files under the run directory and read back one
partition per task, as datatrove does between its stages. Compared with a
Beam GroupByKey, nothing of this volume passes through the runner: on
DirectRunner the driver and each worker then hold one partition at a time,
so peak memory stays flat as the corpus grows; on Dataflow it avoids
shuffling the largest intermediate data twice.

Files are named by writer and flush number, so a retried writer rewrites
the same names with the same content.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from apache_beam.io.filesystems import FileSystems


def partition_dir(base: str, part: int) -> str:
    return FileSystems.join(base, f"p{part:05d}")


def write_atomically(path: str, data: bytes) -> None:
    """Readers see the whole file or none of it (a retried task rewrites the same name).

    An object store's upload is already all-or-nothing, so remote paths are
    written in place: a temp name plus rename would cost a copy and a delete
    per file on GCS. Local files go through a temp name and a rename.
    """
    if "://" in path:
        with FileSystems.create(path) as f:
            f.write(data)
        return
    tmp = path + ".tmp"
    with FileSystems.create(tmp) as f:
        f.write(data)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])


class SpillWriter:
    """Buffers arrays per partition; writes them out when the buffer passes a budget."""

    def __init__(self, base: str, writer_id: str, budget_bytes: int = 64 << 20):
        self.base = base
        self.writer_id = writer_id
        self.budget = budget_bytes
        self._buf: dict[int, list[np.ndarray]] = {}
        self._bytes = 0
        self._flushes = 0

    def add(self, part: int, array: np.ndarray) -> None:
        if len(array) == 0:
            return
        self._buf.setdefault(part, []).append(array)
        self._bytes += array.nbytes
        if self._bytes >= self.budget:
            self.flush()

    def flush(self) -> None:
        for part, arrays in self._buf.items():
            blob = io.BytesIO()
            np.save(blob, np.concatenate(arrays), allow_pickle=False)
            path = FileSystems.join(partition_dir(self.base, part), f"{self.writer_id}-{self._flushes:05d}.npy")
            write_atomically(path, blob.getvalue())
        self._buf.clear()
        self._bytes = 0
        self._flushes += 1


def partitions_written(base: str, *_after: Any) -> list[int]:
    """The partitions that hold at least one file under `base` (the extra arguments only order the call)."""
    found = FileSystems.match([FileSystems.join(base, "p*", "*.npy")])[0].metadata_list
    parts = {int(m.path.rstrip("/").split("/")[-2][1:]) for m in found}
    return sorted(parts)


def read_partition(base: str, part: int, columns: int) -> np.ndarray:
    """Every array written for one partition, concatenated ((0, columns) when none)."""
    pattern = FileSystems.join(partition_dir(base, part), "*.npy")
    arrays = []
    for meta in sorted(FileSystems.match([pattern])[0].metadata_list, key=lambda m: m.path):
        with FileSystems.open(meta.path) as f:
            arrays.append(np.load(io.BytesIO(f.read()), allow_pickle=False))
    return np.concatenate(arrays) if arrays else np.zeros((0, columns), dtype=np.uint64)
