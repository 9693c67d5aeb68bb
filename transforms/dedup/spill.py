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
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from winnow.transforms.io import files


def partition_dir(base: str, part: int) -> str:
    return files.join(base, f"p{part:05d}")


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
            path = files.join(partition_dir(self.base, part), f"{self.writer_id}-{self._flushes:05d}.npy")
            files.write_atomically(path, blob.getvalue())
        self._buf.clear()
        self._bytes = 0
        self._flushes += 1


class BundleWriter:
    """A SpillWriter for stages that hand on several arrays to the same partition (pairs, their first rows'
    token lists and signatures): one file per partition and flush holds them all, named (.npz), so the
    stage creates one file where it created one per array. Small files are most of such a stage's cost."""

    def __init__(self, base: str, writer_id: str, budget_bytes: int = 64 << 20):
        self.base = base
        self.writer_id = writer_id
        self.budget = budget_bytes
        self._buf: dict[int, dict[str, list[np.ndarray]]] = {}
        self._bytes = 0
        self._flushes = 0

    def add(self, part: int, **arrays: np.ndarray) -> None:
        named = self._buf.setdefault(part, {})
        for name, array in arrays.items():
            if len(array):
                named.setdefault(name, []).append(array)
                self._bytes += array.nbytes
        if self._bytes >= self.budget:
            self.flush()

    def flush(self) -> None:
        for part, named in self._buf.items():
            if not named:
                continue
            blob = io.BytesIO()
            np.savez(blob, allow_pickle=False, **{name: np.concatenate(arrays) for name, arrays in named.items()})
            path = files.join(partition_dir(self.base, part), f"{self.writer_id}-{self._flushes:05d}.npz")
            files.write_atomically(path, blob.getvalue())
        self._buf.clear()
        self._bytes = 0
        self._flushes += 1


class _Flushable(Protocol):
    def flush(self) -> None: ...


W = TypeVar("W", bound=_Flushable)


class WriterPerBundle(Generic[W]):
    """The spill writer of each element of a DoFn, or, when the job runs in one process, one for its whole bundle.

    A writer creates a file per partition it touches: in one process a night's dozen parts each spilled to every
    band partition, and those small files were most of the stage's I/O (on an object store, a request each).
    Elsewhere each element keeps its own writer, flushed when it is done, so a retried element rewrites its own
    names; in one process nothing is retried (a failed bundle fails the job). Readers wait for the whole stage
    (a side input), so they see the bundle's files too.
    """

    def __init__(self, shared: bool):
        self.shared = shared
        self._bundle: W | None = None

    def get(self, make: Callable[[str], W], writer_id: str) -> W:
        """The writer for an element named `writer_id`; `make(writer_id)` builds one."""
        if not self.shared:
            return make(writer_id)
        if self._bundle is None:
            self._bundle = make(writer_id)  # named by the bundle's first element
        return self._bundle

    def done(self, writer: W) -> None:
        """An element's entries are all added: its own writer writes them now, a bundle's at finish()."""
        if not self.shared:
            writer.flush()

    def finish(self) -> None:
        """The end of a bundle (DoFn.finish_bundle)."""
        if self._bundle is not None:
            self._bundle.flush()
            self._bundle = None


def read_bundles(base: str, part: int, columns: dict[str, int]) -> dict[str, np.ndarray]:
    """Every array of each name written for one partition by BundleWriters, concatenated ((0, columns) when none)."""
    found: dict[str, list[np.ndarray]] = {name: [] for name in columns}
    for path in files.match(files.join(partition_dir(base, part), "*.npz")):
        with np.load(io.BytesIO(files.read_bytes(path)), allow_pickle=False) as bundle:
            for name in columns:
                if name in bundle.files:
                    found[name].append(bundle[name])
    return {
        name: np.concatenate(arrays) if arrays else np.zeros((0, columns[name]), dtype=np.uint64)
        for name, arrays in found.items()
    }


def partitions_written(base: str, *_after: Any) -> list[int]:
    """The partitions that hold at least one file under `base` (the extra arguments only order the call)."""
    found = files.match(files.join(base, "p*", "*.np?"))
    parts = {int(path.rstrip("/").split("/")[-2][1:]) for path in found}
    return sorted(parts)


def read_partition(base: str, part: int, columns: int) -> np.ndarray:
    """Every array written for one partition, concatenated ((0, columns) when none)."""
    pattern = files.join(partition_dir(base, part), "*.npy")
    arrays = [np.load(io.BytesIO(files.read_bytes(path)), allow_pickle=False) for path in files.match(pattern)]
    return np.concatenate(arrays) if arrays else np.zeros((0, columns), dtype=np.uint64)
