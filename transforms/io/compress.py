"""Write a stream compressed as its file name says (.gz, .zst/.zstd, .bz2), the way inputs are read.

The kept/ files are compressed as their input was. The output depends only on
the bytes written: a gzip member carries no file name and mtime 0, a zstd
frame no content size, so a rerun writes the same bytes.
"""

from __future__ import annotations

import bz2
import zlib
from typing import IO, Any

import zstandard

GZIP_LEVEL = 6  # gzip's own default: Python's 9 is several times slower for a few per cent
ZSTD_LEVEL = 3  # zstd's default
BZ2_LEVEL = 9


class _Compressed:
    """A write-only binary stream that compresses into `raw` and closes it."""

    def __init__(self, raw: IO[bytes], compressor: Any) -> None:
        self._raw, self._compressor = raw, compressor

    def write(self, data: bytes) -> int:
        out = self._compressor.compress(data)
        if out:
            self._raw.write(out)
        return len(data)

    def close(self) -> None:
        self._raw.write(self._compressor.flush())
        self._raw.close()


def compression_of(path: str) -> str:
    """The compression a file name says, by its last extension as the readers read it: "gzip", "zstd", "bz2" or ""."""
    lower = path.lower()
    if lower.endswith(".gz"):
        return "gzip"
    if lower.endswith((".zst", ".zstd")):
        return "zstd"
    if lower.endswith(".bz2"):
        return "bz2"
    return ""


def open_compressed(raw: IO[bytes], compression: str) -> IO[bytes] | _Compressed:
    """A stream that writes `compression` ("gzip", "zstd", "bz2" or "" for none) into `raw`; closing it closes `raw`."""
    if compression == "gzip":  # one gzip member: zlib writes its header with no name and mtime 0
        compressor: Any = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    elif compression == "zstd":
        compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=False).compressobj()
    elif compression == "bz2":
        compressor = bz2.BZ2Compressor(BZ2_LEVEL)
    elif compression:
        raise ValueError(f"unknown compression {compression!r}")
    else:
        return raw
    return _Compressed(raw, compressor)
