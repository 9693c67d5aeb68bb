"""Find input shards, split them into parts, and read them as batches of parsed rows.

Each matched file is one shard. A large shard is read as several parts
(`Split`) by different tasks: an uncompressed JSONL file by byte ranges, a
Parquet file by row groups; compressed files and JSON arrays cannot be cut
and are read whole. Row numbers stay the file's own line or element numbers
whatever the split, so outputs do not depend on how a file was cut.

Readers stream: JSONL line by line, JSON arrays element by element, Parquet
batch by batch, so a large file is never held whole in memory. A row that
cannot be read becomes a `RawRow` with an error reason instead of an
exception, so one bad line never stops a run.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import os
import posixpath
from dataclasses import dataclass
from typing import Any, Iterator, NamedTuple

import orjson

# Extensions picked up when a directory or glob is expanded.
DATA_EXTENSIONS = (".jsonl", ".json", ".ndjson", ".parquet")
COMPRESSION_EXTENSIONS = (".gz", ".zst", ".zstd", ".bz2")
_CHUNK = 4 << 20


class InputError(ValueError):
    """Inputs that cannot be planned: nothing matched, or an unreadable path."""


@dataclass(frozen=True)
class Shard:
    """One input file. `index` is its position in the sorted input list."""

    index: int
    path: str
    name: str
    size: int


@dataclass(frozen=True)
class Split:
    """A part of one shard, read by one task.

    kind "lines": bytes [start, end) of an uncompressed JSONL file; the part
    holds the lines that begin in that range, and `first_row` is the number
    of newlines before `start` (filled in by counting, see number_splits).
    kind "row_groups": Parquet row groups [start, end), rows from `first_row`.
    kind "whole": the whole file.
    """

    shard: Shard
    part: int
    parts: int
    kind: str = "whole"
    start: int = 0
    end: int = -1
    first_row: int = 0


class RawRow(NamedTuple):
    """A row as read: the parsed value, or the reason it could not be parsed."""

    row: int
    value: Any
    error: str | None
    raw: str


def _strip_compression(path: str) -> str:
    lower = path.lower()
    for ext in COMPRESSION_EXTENSIONS:
        if lower.endswith(ext):
            return path[: -len(ext)]
    return path


def is_compressed(path: str) -> bool:
    """Compressed files cannot be entered in the middle, so they are read whole."""
    return _strip_compression(path) != path


def is_data_file(path: str) -> bool:
    return _strip_compression(path).lower().endswith(DATA_EXTENSIONS)


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _is_directory(pattern: str) -> bool:
    if "://" in pattern:
        return pattern.endswith("/")
    return os.path.isdir(pattern)


def match_inputs(patterns: list[str]) -> tuple[list[Shard], list[str]]:
    """Expand files, directories and globs into sorted shards.

    Returns (shards, skipped): files found by walking a directory or glob
    whose extension is not a data format are listed in `skipped`, so the
    plan can say what was left out. A file named explicitly is always read.
    """
    from apache_beam.io.filesystems import FileSystems

    found: dict[str, int] = {}
    skipped: list[str] = []
    for pattern in patterns:
        explicit = not _is_glob(pattern) and not _is_directory(pattern)
        spec = pattern
        if _is_directory(pattern):
            spec = pattern.rstrip("/") + "/**"
        try:
            results = FileSystems.match([spec])[0].metadata_list
        except Exception as e:  # noqa: BLE001 - Beam raises several types here
            raise InputError(f"input {pattern!r} could not be listed: {e}") from e
        if not results and explicit and "://" in pattern:
            # A bucket prefix without a trailing slash: try it as a directory.
            results = FileSystems.match([pattern.rstrip("/") + "/**"])[0].metadata_list
            explicit = False
        if not results:
            raise InputError(
                f"input {pattern!r} matches no files; check the path, or quote a glob so the shell does not expand it"
            )
        for meta in results:
            path = meta.path
            if explicit or is_data_file(path):
                found[path] = meta.size_in_bytes
            else:
                skipped.append(path)
    if not found:
        raise InputError(
            f"inputs {patterns} contain no data files (looked for {', '.join(DATA_EXTENSIONS)}, optionally "
            f"compressed with {', '.join(COMPRESSION_EXTENSIONS)}); skipped: {skipped[:5]}"
        )
    paths = sorted(found)
    names = _display_names(paths)
    shards = [Shard(i, p, names[i], found[p]) for i, p in enumerate(paths)]
    return shards, sorted(skipped)


def _display_names(paths: list[str]) -> list[str]:
    """Paths relative to their common directory: short, unique, readable."""
    if len(paths) == 1:
        return [posixpath.basename(paths[0]) or paths[0]]
    common = posixpath.commonpath([p.replace("://", ":/") for p in paths]).replace(":/", "://", 1)
    prefix = common.rstrip("/") + "/"
    return [p[len(prefix):] if p.startswith(prefix) else p for p in paths]


def shard_kind(path: str) -> str:
    """'parquet' or 'json' (JSONL vs JSON array is decided from the content)."""
    return "parquet" if _strip_compression(path).lower().endswith(".parquet") else "json"


def _open(path: str):
    """A binary stream of the file's decompressed bytes.

    Decompression is done here rather than by Beam's CompressedFile, which
    ends quietly at a truncated .gz/.zst; these decoders raise, so a cut file
    becomes a dead letter instead of silently missing rows.
    """
    import bz2
    import gzip

    from apache_beam.io.filesystems import CompressionTypes, FileSystems

    raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
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
        import zstandard

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


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"...[{len(text) - limit} more chars]"


def read_shard(path: str, batch_size: int, max_row_bytes: int, raw_max_chars: int = 2000) -> Iterator[list[RawRow]]:
    """Yield the rows of one file in batches of at most `batch_size`."""
    if shard_kind(path) == "parquet":
        rows = _read_parquet(path, batch_size, max_row_bytes, raw_max_chars)
    else:
        rows = _read_json(path, max_row_bytes, raw_max_chars)
    return _batched(rows, batch_size)


def read_split(split: Split, batch_size: int, max_row_bytes: int, raw_max_chars: int = 2000) -> Iterator[list[RawRow]]:
    """Yield the rows of one part of a shard in batches of at most `batch_size`."""
    path = split.shard.path
    if split.kind == "lines":
        rows = _read_line_range(path, split.start, split.end, split.first_row, max_row_bytes, raw_max_chars)
    elif split.kind == "row_groups":
        groups = list(range(split.start, split.end))
        rows = _read_parquet(path, batch_size, max_row_bytes, raw_max_chars, groups, split.first_row)
    else:
        return read_shard(path, batch_size, max_row_bytes, raw_max_chars)
    return _batched(rows, batch_size)


def _batched(rows: Iterator[RawRow], batch_size: int) -> Iterator[list[RawRow]]:
    batch: list[RawRow] = []
    for item in rows:
        batch.append(item)
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def plan_splits(shard: Shard, split_bytes: int) -> list[Split]:
    """The parts one shard is read in: one when it is small or cannot be cut.

    Compressed files and JSON arrays are read whole (neither can be entered
    in the middle); Parquet is cut between row groups, JSONL between bytes.
    The cut depends only on the file and `split_bytes`, never on the runner,
    so every runner reads the same parts.
    """
    whole = [Split(shard, 0, 1)]
    if split_bytes <= 0 or shard.size <= split_bytes or is_compressed(shard.path):
        return whole
    if shard_kind(shard.path) == "parquet":
        return _row_group_splits(shard, split_bytes) or whole
    if not _starts_like_jsonl(shard.path):
        return whole
    n = -(-shard.size // split_bytes)
    bounds = [shard.size * i // n for i in range(n + 1)]
    return [Split(shard, i, n, "lines", bounds[i], bounds[i + 1]) for i in range(n)]


def _starts_like_jsonl(path: str) -> bool:
    """True when the file's first non-blank byte is not '[' (a JSON array is read whole)."""
    try:
        with _open(path) as f:
            head = f.read(64 << 10)
    except Exception:  # noqa: BLE001 - the whole-file reader reports it as a dead letter
        return False
    stripped = head.lstrip()
    if stripped.startswith(codecs.BOM_UTF8):
        stripped = stripped[len(codecs.BOM_UTF8):].lstrip()
    return bool(stripped) and stripped[:1] != b"["


def _row_group_splits(shard: Shard, split_bytes: int) -> list[Split]:
    import pyarrow.parquet as pq

    try:
        with _open(shard.path) as f:
            meta = pq.ParquetFile(f).metadata
    except Exception:  # noqa: BLE001 - the whole-file reader reports it as a dead letter
        return []
    bounds: list[tuple[int, int, int]] = []  # (first group, end group, first row)
    start = first_row = rows = size = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        size += sum(group.column(c).total_compressed_size for c in range(group.num_columns))
        rows += group.num_rows
        if size >= split_bytes or g == meta.num_row_groups - 1:
            bounds.append((start, g + 1, first_row))
            start, first_row, size = g + 1, first_row + rows, 0
            rows = 0
    if len(bounds) <= 1:
        return []
    return [Split(shard, i, len(bounds), "row_groups", a, b, r) for i, (a, b, r) in enumerate(bounds)]


def count_newlines(path: str, start: int, end: int) -> int:
    """Newlines in bytes [start, end) of an uncompressed file: how row numbers carry across parts."""
    n = 0
    with _open(path) as f:
        f.seek(start)
        left = end - start
        while left > 0:
            chunk = f.read(min(_CHUNK, left))
            if not chunk:
                break
            n += chunk.count(b"\n")
            left -= len(chunk)
    return n


def number_splits(splits: list[Split], newlines: dict[int, int]) -> list[Split]:
    """Give each "lines" part its first row: the newlines in the parts before it."""
    out: list[Split] = []
    before = 0
    for s in sorted(splits, key=lambda s: s.part):
        out.append(dataclasses.replace(s, first_row=before) if s.kind == "lines" else s)
        before += newlines.get(s.part, 0)
    return out


def _file_error(row: int, reason: str, raw: str = "") -> RawRow:
    return RawRow(row, None, reason, raw)


def _read_json(path: str, max_row_bytes: int, raw_max_chars: int) -> Iterator[RawRow]:
    try:
        f = _open(path)
    except Exception as e:  # noqa: BLE001
        yield _file_error(-1, f"unreadable_file: {e}")
        return
    with f:
        try:
            head = f.read(_CHUNK)
        except Exception as e:  # noqa: BLE001 - corrupt compression and the like
            yield _file_error(-1, f"unreadable_file: {type(e).__name__}: {e}")
            return
        stripped = head.lstrip()
        if stripped.startswith(codecs.BOM_UTF8):
            head = head[head.index(codecs.BOM_UTF8) + len(codecs.BOM_UTF8):]
            stripped = head.lstrip()
        if not stripped:
            yield _file_error(-1, "empty_file: the file has no rows")
            return
        if stripped[:1] == b"[":
            yield from _read_json_array(f, head, max_row_bytes, raw_max_chars)
        else:
            yield from _read_jsonl(f, head, max_row_bytes, raw_max_chars)


def _parse_line(row: int, line: bytes, max_row_bytes: int, raw_max_chars: int) -> RawRow:
    if len(line) > max_row_bytes:
        raw = line[:raw_max_chars].decode("utf-8", "replace")
        return RawRow(row, None, f"row_too_large: {len(line)} bytes > input.max_row_bytes={max_row_bytes}", raw)
    try:
        return RawRow(row, orjson.loads(line), None, "")
    except orjson.JSONDecodeError as e:
        raw = _truncate(line.decode("utf-8", "replace"), raw_max_chars)
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as ue:
            return RawRow(row, None, f"invalid_utf8: byte {ue.start} of the line is not UTF-8", raw)
        return RawRow(row, None, f"invalid_json: {e}", raw)


def _read_jsonl(f, head: bytes, max_row_bytes: int, raw_max_chars: int, row: int = 0,
                limit: int | None = None) -> Iterator[RawRow]:
    """Lines from `head` on; with `limit`, only lines that begin within `limit` bytes of it."""
    pending = head
    consumed = 0  # bytes of the lines already passed, from the start of `head`
    while True:
        try:
            chunk = f.read(_CHUNK)
        except Exception as e:  # noqa: BLE001
            yield _file_error(row, f"unreadable_file: {type(e).__name__}: {e} (rows from {row} on are lost)")
            return
        buf = pending + chunk
        lines = buf.split(b"\n")
        tail = lines.pop() if chunk else None
        for line in lines:
            if limit is not None and consumed >= limit:
                return
            if line.strip():
                yield _parse_line(row, line, max_row_bytes, raw_max_chars)
            row += 1
            consumed += len(line) + 1
        if tail is None or (limit is not None and consumed >= limit):
            return
        pending = tail


def _read_line_range(path: str, start: int, end: int, first_row: int, max_row_bytes: int,
                     raw_max_chars: int) -> Iterator[RawRow]:
    """The JSONL lines that begin in bytes [start, end); the first is row `first_row` or the next."""
    try:
        f = _open(path)
    except Exception as e:  # noqa: BLE001
        yield _file_error(first_row, f"unreadable_file: {e}")
        return
    with f:
        try:
            if start == 0:
                head, offset, row = f.read(_CHUNK), 0, 0
                stripped = head.lstrip()
                if stripped.startswith(codecs.BOM_UTF8):
                    offset = head.index(codecs.BOM_UTF8) + len(codecs.BOM_UTF8)
                    head = head[offset:]
            else:
                # A line that begins before `start` belongs to the part before.
                f.seek(start - 1)
                head, offset, row = f.read(_CHUNK), start - 1, first_row
                while head and head.find(b"\n") < 0:
                    offset += len(head)
                    head = f.read(_CHUNK)
                if not head:
                    return
                cut = head.index(b"\n") + 1
                if cut > 1 or offset > start - 1:
                    row += 1  # that newline lies inside this part, so first_row did not count it
                head, offset = head[cut:], offset + cut
        except Exception as e:  # noqa: BLE001 - corrupt or vanished file
            yield _file_error(first_row, f"unreadable_file: {type(e).__name__}: {e} (rows from {first_row} on are lost)")
            return
        if start == 0:  # line 0 begins at byte 0, before any BOM
            yield from _read_jsonl(f, head, max_row_bytes, raw_max_chars, row, max(end - offset, 1))
        elif offset < end:
            yield from _read_jsonl(f, head, max_row_bytes, raw_max_chars, row, end - offset)


def _parse_int(text: str) -> int | float:
    """Integers as orjson reads them in JSONL: beyond the 64-bit range they become floats."""
    if len(text) <= 21:
        value = int(text)
        if -(1 << 63) <= value < (1 << 64):
            return value
    return float(text)


# A value cut by a chunk boundary fails to parse within this many characters
# of the buffer's end (a split literal, number or \uXXXX escape).
_TAIL = 32
_NUMBER_CHARS = frozenset("0123456789.eE+-")


def _read_json_array(f, head: bytes, max_row_bytes: int, raw_max_chars: int) -> Iterator[RawRow]:
    decoder = json.JSONDecoder(parse_int=_parse_int)
    utf8 = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        buf = utf8.decode(head)
    except UnicodeDecodeError as e:
        yield _file_error(0, f"invalid_utf8: byte {e.start} of the file is not UTF-8; the file cannot be read")
        return
    pos = buf.index("[") + 1
    eof = False
    row = 0
    expect_value = True
    first = True

    def more() -> bool:
        nonlocal buf, pos, eof
        if eof:
            return False
        chunk = f.read(_CHUNK)
        if not chunk:
            eof = True
            buf = buf[pos:] + utf8.decode(b"", final=True)
            pos = 0
            return True
        buf = buf[pos:] + utf8.decode(chunk)
        pos = 0
        return True

    try:
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            if pos >= len(buf):
                if not more():
                    yield _file_error(row, "invalid_json: the JSON array is not closed with ']' (file truncated?)")
                    return
                continue
            ch = buf[pos]
            if ch == "]" and (first or not expect_value):
                pos += 1
                if first:
                    yield _file_error(-1, "empty_file: the JSON array has no elements")
                while True:  # anything after the closing ']' would be lost silently
                    while pos < len(buf) and buf[pos] in " \t\r\n":
                        pos += 1
                    if pos < len(buf):
                        yield _file_error(
                            row,
                            "invalid_json: data after the closing ']' of the JSON array was not read "
                            "(concatenated arrays, or JSONL rows that are arrays?)",
                            _truncate(buf[pos:], raw_max_chars),
                        )
                        return
                    if not more():
                        return
            if not expect_value:
                if ch != ",":
                    yield _file_error(
                        row,
                        f"invalid_json: expected ',' or ']' after element {row - 1}, found {ch!r}; "
                        f"the rest of the file is not readable",
                        _truncate(buf[pos:], raw_max_chars),
                    )
                    return
                pos += 1
                expect_value = True
                continue
            try:
                value, end = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError as e:
                incomplete = e.pos >= len(buf) - _TAIL or e.msg.startswith("Unterminated")
                if incomplete and more():
                    continue
                yield _file_error(
                    row,
                    f"invalid_json: element {row}: {e.msg} (the rest of the file is not readable)",
                    _truncate(buf[pos:], raw_max_chars),
                )
                return
            if not eof and isinstance(value, (int, float)) and len(buf) - end < _TAIL:
                # A number may continue in the next chunk ("12" + "34", "1." + "5").
                if _NUMBER_CHARS.issuperset(buf[end:]) and more():
                    continue
            size = len(buf[pos:end].encode("utf-8")) if end - pos > max_row_bytes // 4 else end - pos
            if size > max_row_bytes:
                yield RawRow(
                    row,
                    None,
                    f"row_too_large: {size} bytes > input.max_row_bytes={max_row_bytes}",
                    buf[pos : pos + raw_max_chars],
                )
            else:
                yield RawRow(row, value, None, "")
            row += 1
            pos = end
            expect_value = False
            first = False
    except UnicodeDecodeError as e:
        yield _file_error(row, f"invalid_utf8: {e.reason} after element {row - 1}; the rest of the file is not readable")
    except Exception as e:  # noqa: BLE001 - corrupt compression mid-file
        yield _file_error(row, f"unreadable_file: {type(e).__name__}: {e} (rows from {row} on are lost)")


def _read_parquet(path: str, batch_size: int, max_row_bytes: int, raw_max_chars: int,
                  row_groups: list[int] | None = None, first_row: int = 0) -> Iterator[RawRow]:
    import pyarrow.parquet as pq

    f = None
    try:
        f = _open(path)
        pf = pq.ParquetFile(f)
    except Exception as e:  # noqa: BLE001
        if f is not None:
            f.close()
        empty = _is_empty(path)
        yield _file_error(-1, "empty_file: the file has no bytes" if empty else f"unreadable_file: not a readable Parquet file: {e}")
        return
    if pf.metadata.num_rows == 0:
        f.close()
        yield _file_error(-1, "empty_file: the Parquet file has no rows")
        return
    row = first_row
    try:
        for batch in pf.iter_batches(batch_size=batch_size, row_groups=row_groups):
            for value in batch.to_pylist():
                size = len(orjson.dumps(value, default=str))
                if size > max_row_bytes:
                    raw = orjson.dumps(value, default=str)[:raw_max_chars].decode("utf-8", "replace")
                    yield RawRow(row, None, f"row_too_large: {size} bytes > input.max_row_bytes={max_row_bytes}", raw)
                else:
                    yield RawRow(row, value, None, "")
                row += 1
    except Exception as e:  # noqa: BLE001
        yield _file_error(row, f"unreadable_file: {type(e).__name__}: {e} (rows from {row} on are lost)")
    finally:
        f.close()


def _is_empty(path: str) -> bool:
    from apache_beam.io.filesystems import FileSystems

    try:
        return FileSystems.match([path])[0].metadata_list[0].size_in_bytes == 0
    except Exception:  # noqa: BLE001
        return False


def peek_rows(path: str, n: int = 20, max_row_bytes: int = 2_000_000) -> list[RawRow]:
    """The first rows of a file, for format detection in the plan and `inspect`."""
    out: list[RawRow] = []
    for batch in read_shard(path, n, max_row_bytes):
        out.extend(batch)
        break
    return out[:n]
