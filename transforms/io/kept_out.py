"""kept/ files: the kept rows of one input part in the input's own format, under the input's name.

`kept/<shard name>` mirrors the input: `data/sub/a.jsonl.gz` read from
`data/` is `kept/sub/a.jsonl.gz`. A shard read in several parts (an
uncompressed JSONL file cut by bytes, a Parquet file by row groups) gets one
file per part, `a.part-00001.jsonl`; a JSON array is written as JSONL,
`a.json` becoming `a.jsonl` (`a.json.jsonl` when another input is named
`a.jsonl`). Files are compressed as their input was, appear only when
complete (a temp name, then moved into place) and only when they hold a row.
"""

from __future__ import annotations

from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from winnow.transforms.io import files
from winnow.transforms.io.compress import compression_of, open_compressed
from winnow.transforms.io.decompress import open_decompressed
from winnow.transforms.io.inputs import DATA_EXTENSIONS, strip_compression

KEPT = "kept"
FLUSH_BYTES = 1 << 20  # lines are handed to the compressor in blocks of about this size


def kept_name(shard_name: str, part: int, parts: int, json_array: bool = False, taken: frozenset[str] = frozenset()) -> str:
    """The kept/ file (relative to kept/) of one part of a shard; `taken`: every shard name of the run."""
    segments = ["__" if s == ".." else s for s in shard_name.replace("\\", "/").split("/") if s not in ("", ".")]
    base = segments.pop() if segments else "input"
    plain = strip_compression(base)
    compressed = base[len(plain) :]
    ext = next((e for e in DATA_EXTENSIONS if plain.lower().endswith(e)), "")
    stem = plain[: len(plain) - len(ext)]
    if json_array and ext.lower() == ".json":
        sibling = "/".join([*segments, stem + ".jsonl" + compressed])
        stem, ext = (stem + ext, ".jsonl") if sibling in taken else (stem, ".jsonl")
    if parts > 1:
        stem += f".part-{part:05d}"
    return "/".join([*segments, stem + ext + compressed])


def kept_path(output: str, name: str) -> str:
    return files.join(output, KEPT, *name.split("/"))


class _Counting:
    """A write-only stream that knows how many bytes went through it (ParquetWriter asks)."""

    def __init__(self, inner: Any) -> None:
        self._inner, self._written, self.closed = inner, 0, False

    def write(self, data: Any) -> int:
        data = bytes(data)
        self._inner.write(data)
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._inner.close()


class _KeptFile:
    """A file under kept/, opened on the first write, compressed by its name; moved into place when closed."""

    def __init__(self, output: str, name: str) -> None:
        self.name = name
        self.path = kept_path(output, name)
        self._stream: _Counting | None = None

    def _open(self) -> _Counting:
        if self._stream is None:
            raw: IO[bytes] = files.create(files.temp_name(self.path))
            self._stream = _Counting(open_compressed(raw, compression_of(self.name)))
        return self._stream

    @property
    def opened(self) -> bool:
        return self._stream is not None

    def _finish(self) -> None:
        if self._stream is not None:
            self._stream.close()
            files.move_into_place(files.temp_name(self.path), self.path)


class KeptLines(_KeptFile):
    """kept/ JSON lines: each row's bytes as given, each ended by one newline."""

    def __init__(self, output: str, name: str) -> None:
        super().__init__(output, name)
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, line: bytes) -> None:
        self._pending.append(line)
        self._size += len(line) + 1
        if self._size >= FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._open().write(b"\n".join(self._pending) + b"\n")
            self._pending, self._size = [], 0

    def close(self) -> None:
        self._flush()
        self._finish()


class KeptParquet(_KeptFile):
    """kept/ Parquet: the input's schema (metadata included) and column compression codec."""

    def __init__(self, output: str, name: str, schema: pa.Schema, codec: str = "snappy") -> None:
        super().__init__(output, name)
        self.schema, self._codec = schema, codec
        self._writer: pq.ParquetWriter | None = None

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._open(), self.schema, compression=self._codec)
        self._writer.write_batch(batch)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._finish()


def read_back(output: str, name: str) -> tuple[int, int]:
    """(rows, bytes) of a kept/ file as stored: Parquet rows from its footer, JSONL rows by newlines."""
    path = kept_path(output, name)
    size = files.match_sizes(path)[path]
    with open_decompressed(path) as f:
        if strip_compression(name).lower().endswith(".parquet"):
            return pq.ParquetFile(f).metadata.num_rows, size
        rows = 0
        while chunk := f.read(FLUSH_BYTES):
            rows += chunk.count(b"\n")
    return rows, size
