"""Decompressing streams that fail loudly on a truncated file.

Beam's CompressedFile ends quietly at a truncated .gz/.zst; these decoders
raise, so a cut file becomes a dead letter instead of silently missing rows.
"""

from __future__ import annotations

import bz2
import gzip
from typing import IO, Any

import zstandard

from winnow.transforms.io import files


def open_decompressed(path: str) -> IO[bytes] | Any:
    """A binary stream of the file's decompressed bytes (by extension)."""
    raw = files.open_read(path)
    lower = path.lower()
    if lower.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if lower.endswith(".bz2"):
        return bz2.BZ2File(raw, mode="rb")
    if lower.endswith((".zst", ".zstd")):
        return _ZstdReader(raw)
    return raw


class _ZstdReader:
    """Streaming zstd reader (frames back to back) that raises on a truncated frame.

    zstandard's own stream_reader returns b"" at a cut frame without an error.
    """

    def __init__(self, raw):
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._in_frame = False
        self._out = bytearray()
        self._eof = False

    def _feed(self, data: bytes) -> None:
        while data:
            self._out += self._obj.decompress(data)
            self._in_frame = True
            if not self._obj.eof:
                return
            data = self._obj.unused_data
            self._obj = self._dctx.decompressobj()
            self._in_frame = False

    def read(self, size: int = -1) -> bytes:
        while not self._eof and (size < 0 or len(self._out) < size):
            chunk = self._raw.read(1 << 20)
            if not chunk:
                self._eof = True
                if self._in_frame:
                    raise EOFError("zstd stream ended inside a frame (file truncated?)")
                break
            self._feed(chunk)
        n = len(self._out) if size < 0 else min(size, len(self._out))
        data = bytes(self._out[:n])
        del self._out[:n]
        return data

    def close(self) -> None:
        self._raw.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
