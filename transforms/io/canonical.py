"""Normalize parsed rows of one shard into canonical Arrow record batches."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import orjson
import pyarrow as pa

from winnow.transforms.io.formats import FieldMap, RowError, map_row
from winnow.transforms.io.inputs import Shard
from winnow.transforms.io.readers import RawRow
from winnow.transforms.schema import CANONICAL, REJECTED, row_key


def content_hash(system: str, turns: list[dict[str, str]]) -> str:
    """128-bit hash of the conversation after case and whitespace folding."""
    h = hashlib.blake2b(digest_size=16)
    h.update(" ".join(system.split()).lower().encode())
    for t in turns:
        h.update(b"\x1e" + t["role"].encode() + b"\x1f")
        h.update(" ".join(t["content"].split()).lower().encode())
    return h.hexdigest()


def _row_id(value: Any, fm: FieldMap, shard: Shard, row: int) -> str:
    if isinstance(value, dict):
        own = value.get(fm.id_field)
        if isinstance(own, (str, int)) and not isinstance(own, bool) and str(own) != "":
            return str(own)
    return f"{shard.name}:{row}"


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


def normalize_rows(
    rows: Iterable[RawRow], shard: Shard, fm: FieldMap, raw_max_chars: int = 2000
) -> tuple[pa.RecordBatch, list[dict[str, Any]]]:
    """Canonical records for the rows that map, dead letters for the rest."""
    cols: dict[str, list] = {name: [] for name in CANONICAL.names}
    rejected: list[dict[str, Any]] = []
    for item in rows:
        if item.error is not None:
            rejected.append({"shard": shard.name, "row": item.row, "reason": item.error, "raw": item.raw})
            continue
        try:
            m = map_row(item.value, fm)
            meta = orjson.dumps(m.meta, default=str).decode() if m.meta else "{}"
        except RowError as e:
            raw = orjson.dumps(item.value, default=str).decode("utf-8", "replace")
            if len(raw) > raw_max_chars:
                raw = raw[:raw_max_chars] + f"...[{len(raw) - raw_max_chars} more chars]"
            rejected.append({"shard": shard.name, "row": item.row, "reason": str(e), "raw": raw})
            continue
        turns = m.turns
        if m.format == "text":
            instruction, response = "", turns[0]["content"]
        else:
            instruction, response = _first(turns, "user"), _last(turns, "assistant")
        cols["key"].append(row_key(shard.index, item.row))
        cols["id"].append(_row_id(item.value, fm, shard, item.row))
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
    return batch, rejected
