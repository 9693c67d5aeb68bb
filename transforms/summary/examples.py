"""A bounded, mergeable sample of example rows for the report: per rule, per drop reason, per rejection reason.

The report shows a few rows for each rule that fired, each reason rows were
dropped for and each reason rows were rejected for, without reading
records/ again. Each group keeps the K rows with the smallest 64-bit mix of
their row key (a bottom-k sample: uniform over the group's rows, and the
union of two parts' samples holds the sample of both), texts cut to a few
hundred characters. Size: K rows per group, and groups are bounded by the
rules, the columns and the fixed rejection reasons.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.arrow_bytes import mix64, one_array
from winnow.transforms.keep_policy import reason_group
from winnow.transforms.schema import ROW_BITS

PER_GROUP = 3  # example rows per rule, reason or rejection reason
MAX_GROUPS = 400  # a bound whatever the rule packs hold
INSTRUCTION_CHARS, RESPONSE_CHARS, RAW_CHARS = 300, 600, 400
RULE, DROP, REJECTED = "rule", "drop_reason", "rejected"

EXAMPLES_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),  # rule | drop_reason | rejected | cluster
        ("group", pa.string()),  # the rule, reason group, rejection reason; the cluster id for clusters
        ("role", pa.string()),  # clusters: kept | member; else ""
        ("rank", pa.uint64()),  # the sampling key (smaller first)
        ("key", pa.int64()),
        ("id", pa.string()),
        ("shard", pa.string()),
        ("row", pa.int64()),
        ("instruction", pa.string()),
        ("response", pa.string()),
        ("flags", pa.list_(pa.string())),
        ("drop_reasons", pa.list_(pa.string())),
        ("composite", pa.float64()),
        ("cluster_size", pa.int64()),
        ("similarity", pa.float64()),
        ("raw", pa.string()),
    ]
)


def cut(text: Any, limit: int) -> str:
    """A text cut to `limit` characters, with an ellipsis when it was longer."""
    s = "" if text is None else str(text)
    return s if len(s) <= limit else s[:limit] + "…"


def sample_rank(keys: np.ndarray) -> np.ndarray:
    """The sampling key of row keys: a stable 64-bit mix (no Python hash())."""
    return mix64(np.asarray(keys, dtype=np.int64).astype(np.uint64))


def example_rows(batch: pa.RecordBatch, at: np.ndarray) -> list[dict[str, Any]]:
    """The example fields of rows `at` of a records/ batch (text cut; columns a run lacks left empty)."""
    take = pa.array(np.asarray(at, dtype=np.int64))
    wanted = ("key", "id", "shard", "row", "instruction", "response", "flags", "drop_reasons", "composite")
    cols = {
        name: one_array(batch.column(name)).take(take).to_pylist() if name in batch.schema.names else [None] * len(at)
        for name in wanted
    }
    ranks = sample_rank(np.asarray(cols["key"], dtype=np.int64)).tolist()
    return [
        {
            "rank": ranks[i],
            "key": cols["key"][i],
            "id": cols["id"][i],
            "shard": cols["shard"][i],
            "row": cols["row"][i],
            "instruction": cut(cols["instruction"][i], INSTRUCTION_CHARS),
            "response": cut(cols["response"][i], RESPONSE_CHARS),
            "flags": cols["flags"][i] or [],
            "drop_reasons": (cols["drop_reasons"][i] or [])[:8],
            "composite": cols["composite"][i],
        }
        for i in range(len(at))
    ]


def _bottom(ranks: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k smallest ranks, in rank order."""
    if len(ranks) > k:
        idx = np.argpartition(ranks, k - 1)[:k]
    else:
        idx = np.arange(len(ranks))
    return idx[np.argsort(ranks[idx], kind="stable")]


@dataclass
class Examples:
    """(kind, group) -> up to `k` example rows with the smallest ranks."""

    k: int = PER_GROUP
    groups: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)

    def offer(self, kind: str, group: str, rows: Iterable[dict[str, Any]]) -> None:
        """Add candidate rows to a group; beyond MAX_GROUPS the largest (kind, group) goes (any order: the same result)."""
        key = (kind, group)
        merged = {r["rank"]: r for r in [*self.groups.get(key, []), *rows]}
        self.groups[key] = [merged[r] for r in sorted(merged)[: self.k]]
        if len(self.groups) > MAX_GROUPS:
            del self.groups[max(self.groups)]

    def add_decided(self, decided: pa.RecordBatch) -> None:
        """Example rows of one records/ batch: per rule that fired, per drop reason group."""
        if decided.num_rows == 0:
            return
        ranks = sample_rank(one_array(decided.column("key")).to_numpy(zero_copy_only=False))
        for column, kind in (("flags", RULE), ("drop_reasons", DROP)):
            lists = one_array(decided.column(column))
            flat = pc.list_flatten(lists)
            if not len(flat):
                continue
            parent = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
            groups = np.array([reason_group(v) if kind == DROP else v for v in flat.to_pylist()], dtype=object)
            for g in sorted(set(groups.tolist())):
                rows = np.unique(parent[groups == g])
                chosen = rows[_bottom(ranks[rows], self.k)]
                self.offer(kind, g, example_rows(decided, chosen))

    def add_rejected(self, rejected: list[dict[str, Any]], shard_index: int) -> None:
        """Example dead letters of one batch, per rejection reason."""
        by_reason: dict[str, list[dict[str, Any]]] = {}
        for r in rejected:
            by_reason.setdefault(str(r.get("reason", "")).split(":", 1)[0], []).append(r)
        for reason, rows in sorted(by_reason.items()):
            numbers = [-1 if r.get("row") is None else int(r["row"]) for r in rows]
            keys = np.array([(shard_index << ROW_BITS) | (n & ((1 << ROW_BITS) - 1)) for n in numbers], dtype=np.int64)
            ranks = sample_rank(keys)
            chosen = _bottom(ranks, self.k)
            self.offer(
                REJECTED,
                reason,
                [
                    {
                        "rank": int(ranks[i]),
                        "key": int(keys[i]),
                        "shard": rows[i].get("shard"),
                        "row": numbers[i],
                        "raw": cut(rows[i].get("raw"), RAW_CHARS),
                        "drop_reasons": [cut(rows[i].get("reason"), RAW_CHARS)],
                    }
                    for i in chosen
                ],
            )

    def merge(self, other: Examples) -> Examples:
        for (kind, group), rows in sorted(other.groups.items()):
            self.offer(kind, group, rows)
        return self

    def rows(self) -> list[dict[str, Any]]:
        """Every example, by kind, group and rank."""
        return [
            {"kind": kind, "group": group, "role": "", **r} for (kind, group), rows in sorted(self.groups.items()) for r in rows
        ]


def examples_table(rows: list[dict[str, Any]]) -> pa.Table:
    """summary/examples.parquet from example dicts (missing fields null)."""
    return pa.Table.from_pylist([{name: r.get(name) for name in EXAMPLES_SCHEMA.names} for r in rows], schema=EXAMPLES_SCHEMA)
