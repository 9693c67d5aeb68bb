"""Output Parquet files whose names and bytes depend only on the rows they hold.

Each file is written by one task under a fixed name (a part of an input
file, a cluster partition), rows in a fixed order, and appears only when
complete (io.files: temp name, then move into place), so a retried task
rewrites the same name with the same bytes. Beam's WriteToParquetBatched
put rows in bundle order, which changes with worker count and timing.
"""

from __future__ import annotations

from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from winnow.transforms.io import files

# What WriteToParquetBatched wrote before: snappy, and Arrow's legacy list layout.
_OPTIONS = {"compression": "snappy", "use_compliant_nested_type": False}


def part_name(shard_index: int, part: int) -> str:
    """records/ and rejected/ file of one part of one input file."""
    return f"part-{shard_index:06d}-{part:05d}.parquet"


def partition_name(partition: int) -> str:
    """duplicates/ file of one cluster partition."""
    return f"part-{partition:05d}.parquet"


def write_table(path: str, table: pa.Table, options: dict[str, Any] | None = None) -> None:
    """One whole table as one file, atomically (`options`: ParquetWriter keyword arguments, default ours)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **(_OPTIONS if options is None else options))
    files.write_atomically(path, sink.getvalue().to_pybytes())


class BatchFile:
    """Batches appended to one file, one row group each, in the order given.

    Nothing is written for a file that gets no rows; the file appears under
    its name when closed.
    """

    def __init__(self, path: str, schema: pa.Schema, options: dict[str, Any] | None = None):
        self.path, self.schema = path, schema
        self._options = _OPTIONS if options is None else options  # ParquetWriter keyword arguments
        self._stream: IO[bytes] | None = None
        self._writer: pq.ParquetWriter | None = None

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        if self._writer is None:
            self._stream = files.create(files.temp_name(self.path))
            self._writer = pq.ParquetWriter(self._stream, self.schema, **self._options)
        self._writer.write_batch(batch)

    def close(self) -> None:
        if self._writer is None or self._stream is None:
            return
        self._writer.close()
        self._stream.close()
        files.move_into_place(files.temp_name(self.path), self.path)
