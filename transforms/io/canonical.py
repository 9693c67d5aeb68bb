"""Normalize parsed rows of one shard into canonical Arrow record batches."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable
from typing import Any, NamedTuple

import orjson
import pyarrow as pa

from winnow.transforms.io.formats import FieldMap, RowError, map_row
from winnow.transforms.io.inputs import Shard
from winnow.transforms.io.readers import RawRow
from winnow.transforms.schema import CANONICAL, REJECTED, row_key
from winnow.transforms.terminal import escape_control


def content_hash(system: str, turns: list[dict[str, str]]) -> str:
    """128-bit hash of the conversation after case and whitespace folding."""
    h = hashlib.blake2b(digest_size=16)
    h.update(" ".join(system.split()).lower().encode())
    for t in turns:
        h.update(b"\x1e" + t["role"].encode() + b"\x1f")
        h.update(" ".join(t["content"].split()).lower().encode())
    return h.hexdigest()


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "empty"
    return type(value).__name__.lower()


def own_id(row: Any, id_field: str) -> tuple[str | None, str | None]:
    """(the row's own id as text, None); (None, why its id field holds no usable id); (None, None): no id.

    An id is text. An integer keeps its decimal form, so 7 and "7" are one
    id (and a repeat when both occur); so does a float holding an integer,
    since 7.0 is how pandas and Parquet write an integer column with gaps. A
    missing field, null or NaN is no id. A fraction, a bool, an object, a
    list or an empty string has no text a user would search for: the row
    gets `<shard>:<row>`, and the value is counted and kept in `meta`.
    """
    value = row.get(id_field) if isinstance(row, dict) else None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None, None
    if isinstance(value, str) and value:
        return value, None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value), None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value)), None
    return None, _json_type(value)


def _first(turns: list[dict[str, str]], role: str) -> str:
    for t in turns:
        if t["role"] == role:
            return t["content"]
    return ""


def _last(turns: list[dict[str, str]], role: str) -> str:
    for t in reversed(turns):
        if t["role"] == role:
            return t["content"]
    return ""


def rejected_batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(rows, schema=REJECTED)


class Normalized(NamedTuple):
    batch: pa.RecordBatch  # canonical records of the rows that map
    rejected: list[dict[str, Any]]  # dead letters of the rest
    replaced_ids: dict[str, int]  # rows whose id field held no usable id (see own_id), by the value's type


def normalize_rows(
    rows: Iterable[RawRow], shard: Shard, fm: FieldMap, raw_max_chars: int = 2000
) -> tuple[pa.RecordBatch, list[dict[str, Any]]]:
    """Canonical records for the rows that map, dead letters for the rest."""
    batch, rejected, _ = normalize_batch(rows, shard, fm, raw_max_chars)
    return batch, rejected


def normalize_batch(rows: Iterable[RawRow], shard: Shard, fm: FieldMap, raw_max_chars: int = 2000) -> Normalized:
    """normalize_rows, and how many ids were replaced by `<shard>:<row>` and why (for the summary)."""
    cols: dict[str, list] = {name: [] for name in CANONICAL.names}
    rejected: list[dict[str, Any]] = []
    replaced: Counter[str] = Counter()
    for item in rows:
        if item.error is not None:
            # Reasons quote the data (role names, keys): stored escaped, as they are shown; `raw` stays the data.
            rejected.append({"shard": shard.name, "row": item.row, "reason": escape_control(item.error), "raw": item.raw})
            continue
        try:
            m = map_row(item.value, fm)
            own, why = own_id(item.value, fm.id_field)
            if why is not None:
                replaced[why] += 1
                m.meta = {fm.id_field: item.value[fm.id_field], **m.meta}
            meta = orjson.dumps(m.meta, default=str).decode() if m.meta else "{}"
        except RowError as e:
            raw = orjson.dumps(item.value, default=str).decode("utf-8", "replace")
            if len(raw) > raw_max_chars:
                raw = raw[:raw_max_chars] + f"...[{len(raw) - raw_max_chars} more chars]"
            rejected.append({"shard": shard.name, "row": item.row, "reason": escape_control(str(e)), "raw": raw})
            continue
        turns = m.turns
        if m.format == "text":
            instruction, response = "", turns[0]["content"]
        else:
            instruction, response = _first(turns, "user"), _last(turns, "assistant")
        cols["key"].append(row_key(shard.index, item.row))
        cols["id"].append(own if own is not None else f"{shard.name}:{item.row}")
        cols["shard"].append(shard.name)
        cols["row"].append(item.row)
        cols["format"].append(m.format)
        cols["turns"].append(turns)
        cols["system"].append(m.system)
        cols["instruction"].append(instruction)
        cols["input"].append(m.input)
        cols["response"].append(response)
        cols["n_turns"].append(len(turns))
        cols["media"].append(m.media)
        cols["content_hash"].append(content_hash(m.system, turns))
        cols["meta"].append(meta)
    batch = pa.RecordBatch.from_arrays([pa.array(cols[f.name], type=f.type) for f in CANONICAL], schema=CANONICAL)
    return Normalized(batch, rejected, dict(replaced))
