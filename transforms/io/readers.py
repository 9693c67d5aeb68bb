"""Read a shard, or one part of it, as batches of parsed rows.

Readers stream: JSONL line by line, JSON arrays element by element, Parquet
batch by batch, so a large file is never held whole in memory. A row that
cannot be read becomes a `RawRow` with an error reason instead of an
exception, so one bad line never stops a run. A file that breaks (cut,
corrupt, unreadable from some point) keeps every row before the break and
adds one dead letter that says where it broke, with the cut line as raw.

`original_rows` and `original_batches` read a part again for the rows as
they are in the input (a JSONL line's bytes, a JSON array element's text, a
Parquet record), numbered exactly as `read_split` numbers them: the same
line and element iterators serve both.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any, NamedTuple, TypeVar

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from winnow.transforms.io import files
from winnow.transforms.io.decompress import DecompressedStream, DecompressionError, open_decompressed
from winnow.transforms.io.inputs import shard_kind
from winnow.transforms.io.splits import CHUNK_BYTES, Split


class RawRow(NamedTuple):
    """A row as read: the parsed value, or the reason it could not be parsed."""

    row: int
    value: Any
    error: str | None
    raw: str


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"...[{len(text) - limit} more chars]"


def read_shard(path: str, batch_size: int, max_row_bytes: int, raw_max_chars: int = 2000) -> Iterator[list[RawRow]]:
    """Yield the rows of one file in batches of at most `batch_size`."""
    if shard_kind(path) == "parquet":
        rows = _read_parquet(path, batch_size, max_row_bytes, raw_max_chars)
    else:
        rows = _read_json(path, max_row_bytes, raw_max_chars)
    return batched(rows, batch_size)


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
    return batched(rows, batch_size)


T = TypeVar("T")


def batched(items: Iterator[T], batch_size: int) -> Iterator[list[T]]:
    """Lists of at most `batch_size` consecutive items (itertools.batched, Python 3.12)."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _file_error(row: int, reason: str, raw: str = "") -> RawRow:
    return RawRow(row, None, reason, raw)


def _read_error(e: Exception) -> str:
    """A read failure as a reason: a decompression break says itself what and where."""
    return str(e) if isinstance(e, DecompressionError) else f"unreadable_file: {type(e).__name__}: {e}"


def _trailing(f: object, row: int) -> Iterator[RawRow]:
    """The dead letter for bytes after the last compressed unit, which were ignored."""
    if isinstance(f, DecompressedStream) and f.trailing is not None:
        yield _file_error(row, str(f.trailing))


def _read_json(path: str, max_row_bytes: int, raw_max_chars: int) -> Iterator[RawRow]:
    try:
        f = open_decompressed(path)
    except Exception as e:
        yield _file_error(-1, f"unreadable_file: {e}")
        return
    with f:
        try:
            head = f.read(CHUNK_BYTES)
        except Exception as e:  # nothing decoded: one dead letter for the whole file
            yield _file_error(-1, _read_error(e))
            return
        head = _skip_bom(head)
        if head.lstrip()[:1] == b"[":
            rows = _read_json_array(f, head, max_row_bytes, raw_max_chars)
        else:  # JSONL, or blank so far: a break after blank lines is reported, not taken for an empty file
            rows = _read_jsonl(f, head, max_row_bytes, raw_max_chars)
        last = -1
        empty = True
        for r in rows:
            last, empty = r.row, False
            yield r
        if empty:
            yield _file_error(-1, "empty_file: the file has no rows")
        yield from _trailing(f, last + 1)


def _skip_bom(head: bytes) -> bytes:
    """The file's first bytes without a UTF-8 byte order mark (after leading whitespace, if any)."""
    stripped = head.lstrip()
    if stripped.startswith(codecs.BOM_UTF8):
        return head[head.index(codecs.BOM_UTF8) + len(codecs.BOM_UTF8) :]
    return head


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


def _read_jsonl(
    f, head: bytes, max_row_bytes: int, raw_max_chars: int, row: int = 0, limit: int | None = None
) -> Iterator[RawRow]:
    """Lines from `head` on, parsed; with `limit`, only lines that begin within `limit` bytes of it."""
    for item in _lines(f, head, raw_max_chars, row, limit):
        yield item if isinstance(item, RawRow) else _parse_line(item[0], item[1], max_row_bytes, raw_max_chars)


def _lines(f, head: bytes, raw_max_chars: int, row: int = 0, limit: int | None = None) -> Iterator[tuple[int, bytes] | RawRow]:
    """(row, bytes) of every non-blank line from `head` on, without its newline; a read that
    breaks ends with its dead letter (a RawRow). With `limit`, only lines that begin within
    `limit` bytes of `head`'s start."""
    pending = head
    consumed = 0  # bytes of the lines already passed, from the start of `head`
    while True:
        broken: Exception | None = None
        try:
            chunk = f.read(CHUNK_BYTES)
        except Exception as e:  # the lines already decoded are still read
            chunk, broken = b"", e
        lines = (pending + chunk).split(b"\n")
        ended = not chunk and broken is None
        tail = b"" if ended else lines.pop()
        for line in lines:
            if limit is not None and consumed >= limit:
                return
            if line.strip():
                yield row, line
            row += 1
            consumed += len(line) + 1
        if broken is not None:
            yield _cut_off(row, broken, tail, raw_max_chars)
            return
        if ended or (limit is not None and consumed >= limit):
            return
        pending = tail


def _cut_off(row: int, error: Exception, partial: bytes, raw_max_chars: int) -> RawRow:
    """The one dead letter for a read that broke at line `row`; the line it cut, if any, is its raw text."""
    if partial.strip():
        lost = f"row {row} (cut after {len(partial)} bytes) and any rows after it are lost"
    else:
        lost = f"any rows from {row} on are lost"
    return RawRow(row, None, f"{_read_error(error)}; {lost}", partial[:raw_max_chars].decode("utf-8", "replace"))


def _read_line_range(path: str, start: int, end: int, first_row: int, max_row_bytes: int, raw_max_chars: int) -> Iterator[RawRow]:
    """The JSONL lines that begin in bytes [start, end), parsed; the first is row `first_row` or the next."""
    for item in _line_range(path, start, end, first_row, raw_max_chars):
        yield item if isinstance(item, RawRow) else _parse_line(item[0], item[1], max_row_bytes, raw_max_chars)


def _line_range(path: str, start: int, end: int, first_row: int, raw_max_chars: int) -> Iterator[tuple[int, bytes] | RawRow]:
    """(row, bytes) of the non-blank lines that begin in bytes [start, end), or dead letters where reading fails."""
    try:
        f = open_decompressed(path)
    except Exception as e:
        yield _file_error(first_row, f"unreadable_file: {e}")
        return
    with f:
        try:
            if start == 0:
                head, offset, row = f.read(CHUNK_BYTES), 0, 0
                skipped = _skip_bom(head)
                offset = len(head) - len(skipped)
                head = skipped
            else:
                # A line that begins before `start` belongs to the part before.
                f.seek(start - 1)
                head, offset, row = f.read(CHUNK_BYTES), start - 1, first_row
                while head and head.find(b"\n") < 0:
                    offset += len(head)
                    head = f.read(CHUNK_BYTES)
                if not head:
                    return
                cut = head.index(b"\n") + 1
                if cut > 1 or offset > start - 1:
                    row += 1  # that newline lies inside this part, so first_row did not count it
                head, offset = head[cut:], offset + cut
        except Exception as e:
            yield _file_error(first_row, f"unreadable_file: {type(e).__name__}: {e} (rows from {first_row} on are lost)")
            return
        if start == 0:  # line 0 begins at byte 0, before any BOM
            yield from _lines(f, head, raw_max_chars, row, max(end - offset, 1))
        elif offset < end:
            yield from _lines(f, head, raw_max_chars, row, end - offset)


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


def _read_json_array(f, head: bytes, max_row_bytes: int, raw_max_chars: int, source: bool = False) -> Iterator[RawRow]:
    """Elements of a JSON array; with `source`, a good element's `raw` is its text in the file."""
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
        chunk = f.read(CHUNK_BYTES)
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
            # A number may continue in the next chunk ("12" + "34", "1." + "5").
            if (
                not eof
                and isinstance(value, (int, float))
                and len(buf) - end < _TAIL
                and _NUMBER_CHARS.issuperset(buf[end:])
                and more()
            ):
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
                yield RawRow(row, value, None, buf[pos:end] if source else "")
            row += 1
            pos = end
            expect_value = False
            first = False
    except UnicodeDecodeError as e:
        yield _file_error(row, f"invalid_utf8: {e.reason} after element {row - 1}; the rest of the file is not readable")
    except Exception as e:
        yield _file_error(row, f"{_read_error(e)}; any elements from {row} on are lost", _truncate(buf[pos:], raw_max_chars))


def _read_parquet(
    path: str, batch_size: int, max_row_bytes: int, raw_max_chars: int, row_groups: list[int] | None = None, first_row: int = 0
) -> Iterator[RawRow]:

    f = None
    try:
        f = open_decompressed(path)
        pf = pq.ParquetFile(f)
    except Exception as e:
        if f is not None:
            f.close()
        empty = _is_empty(path)
        yield _file_error(
            -1, "empty_file: the file has no bytes" if empty else f"unreadable_file: not a readable Parquet file: {e}"
        )
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
        yield from _trailing(f, row)
    except Exception as e:
        yield _file_error(row, f"unreadable_file: {type(e).__name__}: {e} (rows from {row} on are lost)")
    finally:
        f.close()


# JSON whitespace outside strings; a string literal is matched first and kept whole.
_JSON_TOKEN = re.compile(r'("[^"\\]*(?:\\.[^"\\]*)*")|[ \t\n\r]+', re.DOTALL)


def minify_json(text: str) -> str:
    """JSON text on one line: whitespace between tokens removed, every token (strings, numbers) as written."""
    return _JSON_TOKEN.sub(lambda m: m.group(1) or "", text)


def is_json_array(split: Split) -> bool:
    """Whether a JSON part is a JSON array (its first non-blank byte, after a BOM, is '['), as the reader decides."""
    if split.kind != "whole":
        return False
    with open_decompressed(split.shard.path) as f:
        return _skip_bom(f.read(CHUNK_BYTES)).lstrip()[:1] == b"["


def original_rows(split: Split, max_row_bytes: int) -> Iterator[tuple[int, bytes]]:
    """(row, the row as it is in the input) for every row of a JSON part that reads: a JSONL line's
    bytes without its newline (a CR before it kept, a leading BOM not), or a JSON array element's
    text on one line (`minify_json`). Rows that do not read (dead letters) are left out; a read
    error is raised. Row numbers are read_split's."""
    path = split.shard.path
    if split.kind == "lines":
        items: Iterator[Any] = _line_range(path, split.start, split.end, split.first_row, 0)
    elif is_json_array(split):
        items = _original_elements(path, max_row_bytes)
    else:
        items = _line_range(path, 0, 1 << 62, 0, 0)
    for item in items:
        if not isinstance(item, RawRow):
            yield item


def _original_elements(path: str, max_row_bytes: int) -> Iterator[tuple[int, bytes]]:
    with open_decompressed(path) as f:
        head = _skip_bom(f.read(CHUNK_BYTES))
        for r in _read_json_array(f, head, max_row_bytes, 0, source=True):
            if r.error is None:
                yield r.row, minify_json(r.raw).encode("utf-8")


def original_batches(split: Split, batch_size: int) -> tuple[pa.Schema, Iterator[tuple[int, pa.RecordBatch]]]:
    """A Parquet part's schema (with its metadata) and its record batches as stored, each with the
    row number of its first row (read_split's numbering)."""
    f = open_decompressed(split.shard.path)
    try:
        pf = pq.ParquetFile(f)
    except Exception:
        f.close()
        raise
    groups = list(range(split.start, split.end)) if split.kind == "row_groups" else None
    first = split.first_row if split.kind == "row_groups" else 0

    def batches() -> Iterator[tuple[int, pa.RecordBatch]]:
        row = first
        try:
            for batch in pf.iter_batches(batch_size=batch_size, row_groups=groups):
                yield row, batch
                row += batch.num_rows
        finally:
            f.close()

    return pf.schema_arrow, batches()


def parquet_codec(split: Split) -> str:
    """The compression codec of a Parquet input's first column chunk, as pyarrow names it ("snappy", "zstd", "none")."""
    with open_decompressed(split.shard.path) as f:
        meta = pq.ParquetFile(f).metadata
        if meta.num_row_groups == 0 or meta.num_columns == 0:
            return "snappy"
        codec = meta.row_group(0).column(0).compression.lower()
    return {"uncompressed": "none", "lz4_raw": "lz4"}.get(codec, codec)


def _is_empty(path: str) -> bool:
    try:
        return files.match_sizes(path)[path] == 0
    except Exception:
        return False


def peek_rows(path: str, n: int = 20, max_row_bytes: int = 2_000_000) -> list[RawRow]:
    """The first rows of a file, for format detection in the plan and `inspect`."""
    out: list[RawRow] = []
    for batch in read_shard(path, n, max_row_bytes):
        out.extend(batch)
        break
    return out[:n]
