"""Decompressing streams that deliver every byte that decodes and say where they break.

Beam's CompressedFile ends quietly at a truncated .gz/.zst, and Python's
GzipFile/BZ2File raise without handing over what they had decoded, so a cut
file either lost rows silently or lost all of them. These streams feed an
incremental decompressor a block at a time: every byte that decodes is
returned, and then one `DecompressionError` names the compressed and the
decompressed byte offset of the break. Bytes after the last complete
member/frame/stream are ignored, as `gzip -d` does, and recorded in
`DecompressedStream.trailing` so the readers can count them.
"""

from __future__ import annotations

import bz2
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

import zstandard

from winnow.transforms.io import files

FEED_BYTES = 64 << 10  # compressed bytes read and fed to a decompressor at a time


class DecompressionError(Exception):
    """Why and where decompression stopped; str() is a dead letter reason, "code: what happened".

    `compressed` is the byte offset in the file, `decompressed` the number of
    decompressed bytes decoded before it.
    """

    def __init__(self, code: str, compressed: int, decompressed: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.compressed = compressed
        self.decompressed = decompressed


@dataclass(frozen=True)
class _Codec:
    """One compression format: what a unit (decodable on its own) starts with, and its decoder."""

    name: str
    unit: str  # what gzip calls a member, zstd a frame, bzip2 a stream
    magics: tuple[bytes, ...]
    new: Callable[[], Any]  # an incremental decompressor with decompress(), eof and unused_data
    errors: tuple[type[Exception], ...]
    padding: bytes = b""  # bytes allowed between units and at the end (gzip: NUL padding)


_GZIP = _Codec("gzip", "member", (b"\x1f\x8b",), lambda: zlib.decompressobj(wbits=31), (zlib.error,), b"\x00")
_BZ2 = _Codec("bz2", "stream", (b"BZh",), bz2.BZ2Decompressor, (OSError,))
_ZSTD = _Codec(
    "zstd",
    "frame",
    # A frame, or one of the 16 skippable-frame magics (0x184D2A50-0x184D2A5F, little-endian).
    (b"\x28\xb5\x2f\xfd", *(bytes([0x50 + i, 0x2A, 0x4D, 0x18]) for i in range(16))),
    lambda: zstandard.ZstdDecompressor().decompressobj(),
    (zstandard.ZstdError,),
)


def _decode(decoder: Any, data: bytes) -> bytes:
    """All the output `data` completes, checks included.

    BZ2Decompressor returns when its input runs out even with a decoded block
    still to hand over, and checks the block's CRC only when the last of it
    is handed over; draining it here means a corrupt block fails this call
    and none of it is returned.
    """
    out = decoder.decompress(data)
    while not decoder.eof and (more := decoder.decompress(b"")):
        out += more
    return out


def open_decompressed(path: str) -> IO[bytes] | DecompressedStream:
    """A binary stream of the file's decompressed bytes (by extension); the raw stream when not compressed."""
    raw = files.open_read(path)
    lower = path.lower()
    if lower.endswith(".gz"):
        return DecompressedStream(raw, _GZIP)
    if lower.endswith(".bz2"):
        return DecompressedStream(raw, _BZ2)
    if lower.endswith((".zst", ".zstd")):
        return DecompressedStream(raw, _ZSTD)
    return raw


class DecompressedStream:
    """The decompressed bytes of a seekable raw stream holding units back to back.

    read() returns what decodes; at a truncated or corrupt unit it first
    returns every byte decoded before the break, then raises
    `DecompressionError` (on this and every later read). Seeking (for
    Parquet) is forward by decoding and backward by starting over, as in
    GzipFile.
    """

    def __init__(self, raw: IO[bytes], codec: _Codec) -> None:
        self._raw = raw
        self._codec = codec
        self.trailing: DecompressionError | None = None  # bytes after the last unit, once seen
        self._reset()

    def _reset(self) -> None:
        self._decoder: Any = None  # None between units
        self._pending = b""  # raw bytes read but not yet fed
        self._compressed = 0  # raw bytes consumed (fed, skipped as padding, or found to be trailing)
        self._unit_start = 0  # compressed offset of the current unit
        self._unit_decoded = 0  # decompressed offset of the current unit
        self._units = 0  # units begun
        self._decoded = 0  # decompressed bytes decoded so far
        self._out = bytearray()  # decoded bytes not yet returned
        self._ended = False
        self._break: DecompressionError | None = None

    def read(self, size: int = -1) -> bytes:
        while not self._ended and (size < 0 or len(self._out) < size):
            self._step()
        if not self._out and self._break is not None:
            raise self._break
        n = len(self._out) if size < 0 else min(size, len(self._out))
        data = bytes(self._out[:n])
        del self._out[:n]
        return data

    def _step(self) -> None:
        """Decode one block, or find out what follows a unit."""
        if self._decoder is None:
            self._start_unit()
            return
        block = self._pending or self._raw.read(FEED_BYTES)
        self._pending = b""
        c = self._codec
        if not block:
            self._fail("truncated_file", self._compressed, f"the file ends inside a {c.name} {c.unit}")
            return
        try:
            self._emit(_decode(self._decoder, block))
        except c.errors as e:
            out, bad = self._replay(block)
            self._emit(out)
            began = f"; the {c.unit} began at compressed byte {self._unit_start} (decompressed byte {self._unit_decoded})"
            self._fail("corrupt_data", bad, f"invalid {c.name} data detected", f": {e}{began}")
            return
        if self._decoder.eof:
            self._pending = self._decoder.unused_data
            self._decoder = None
        self._compressed += len(block) - len(self._pending)

    def _start_unit(self) -> None:
        """After a unit (or at byte 0): the next unit, padding to the end, or bytes that are not a unit."""
        c = self._codec
        need = max(len(m) for m in c.magics)
        head = self._pending
        while True:
            if c.padding:
                kept = head.lstrip(c.padding)
                self._compressed += len(head) - len(kept)
                head = kept
            if len(head) >= need:
                break
            more = self._raw.read(FEED_BYTES)
            if not more:
                break
            head += more
        self._pending = b""
        if not head:
            self._ended = True
        elif any(head.startswith(m) or m.startswith(head) for m in c.magics):  # a unit, or a file cut in its magic
            self._decoder = c.new()
            self._unit_start = self._compressed
            self._unit_decoded = self._decoded
            self._units += 1
            self._pending = head
        elif not self._units:
            self._fail("unreadable_file", self._compressed, f"not a {c.name} file: no {c.name} header")
        else:
            extra = len(head)
            while more := self._raw.read(FEED_BYTES):
                extra += len(more)
            self.trailing = DecompressionError(
                "trailing_garbage",
                self._compressed,
                self._decoded,
                f"ignored {extra} bytes after the last {c.name} {c.unit}, from compressed byte {self._compressed} "
                f"to the end of the file (the decompressed data ends at byte {self._decoded})",
            )
            self._compressed += extra
            self._ended = True

    def _replay(self, block: bytes) -> tuple[bytes, int]:
        """Decode the failed block again byte by byte: (what it yields before the error, the error's offset).

        A decompressor drops the output of the call that fails, and only zlib's
        can be copied, so the unit is decoded again from its start (already
        returned output discarded) up to this block.
        """
        decoder = self._codec.new()
        self._raw.seek(self._unit_start)
        left = self._compressed - self._unit_start
        while left > 0 and (piece := self._raw.read(min(FEED_BYTES, left))):
            _decode(decoder, piece)
            left -= len(piece)
        out = bytearray()
        for i in range(len(block)):
            try:
                out += _decode(decoder, block[i : i + 1])
            except self._codec.errors:
                return bytes(out), self._compressed + i
        return bytes(out), self._compressed + len(block)

    def _emit(self, data: bytes) -> None:
        self._out += data
        self._decoded += len(data)

    def _fail(self, code: str, compressed: int, what: str, detail: str = "") -> None:
        """Stop at a break: "code: what at compressed byte X (decompressed byte Y): detail"."""
        message = f"{what} at compressed byte {compressed} (decompressed byte {self._decoded}){detail}"
        self._break = DecompressionError(code, compressed, self._decoded, message)
        self._ended = True

    def tell(self) -> int:
        return self._decoded - len(self._out)

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 1:
            offset += self.tell()
        elif whence == 2:
            while self.read(FEED_BYTES):
                pass
            offset += self.tell()
        if offset < self.tell():
            self._raw.seek(0)
            self._reset()
        while self.tell() < offset and self.read(min(FEED_BYTES, offset - self.tell())):
            pass
        return self.tell()

    @property
    def closed(self) -> bool:
        return self._raw.closed

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> DecompressedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
