"""answer_reuse across nights: which reused shards' scores a night's changes reach.

`answer_reuse_prompts` of a row is the number of distinct prompts its answer
was given to over the whole corpus, so a new row can change the column of
old rows in shards that did not change. Each shard's (answer, prompt)
hashes are kept in the state; a night counts them over tonight's shards and
re-scores a reused shard when any answer it holds has another count
tonight than last night (including crossing `min_prompts`).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from winnow.transforms.io import files
from winnow.transforms.io.canonical import normalize_batch
from winnow.transforms.io.formats import FieldMap
from winnow.transforms.io.inputs import Shard
from winnow.transforms.io.readers import read_split
from winnow.transforms.io.splits import Split
from winnow.transforms.signals.answer_reuse import answer_entries, count_prompts

EMPTY = np.zeros((0, 3), dtype=np.uint64)


def entries_path(directory: str, shard_index: int, part: int) -> str:
    return files.join(directory, f"s{shard_index:06d}-{part:05d}.npy")


def write_entries(path: str, entries: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, np.unique(entries, axis=0) if len(entries) else EMPTY)
    files.write_atomically(path, buf.getvalue())


def read_entries(directory: str, shard_index: int) -> np.ndarray:
    """Every part's entries of one shard (written by the scoring step's answers hook)."""
    return read_entries_of([(directory, shard_index)])[0]


def read_entries_of(shards: list[tuple[str, int]]) -> list[np.ndarray]:
    """read_entries of each (directory, shard index), listing each directory once (a night reads ~100 shards'
    from a few directories)."""
    listed: dict[str, dict[int, list[str]]] = {}
    out = []
    for directory, shard_index in shards:
        if directory not in listed:
            listed[directory] = files.match_by_index(files.join(directory, "s*-*.npy"), "s")
        chunks = [np.load(io.BytesIO(files.read_bytes(p))) for p in listed[directory].get(shard_index, [])]
        out.append(np.concatenate(chunks) if chunks else EMPTY)
    return out


@dataclass
class ShardRows:
    """A changed shard's rows by id: which of last night's rows are still there, unchanged, and where."""

    hashes: dict[str, str] = field(default_factory=dict)  # id -> content hash
    rows: dict[str, int] = field(default_factory=dict)  # id -> row number
    ids_repeat: bool = False  # an id names more than one row (the dicts hold the last)

    def add(self, ids: list[str], hashes: list[str], rows: list[int]) -> None:
        before = len(self.hashes)
        self.hashes.update(zip(ids, hashes, strict=True))
        self.rows.update(zip(ids, rows, strict=True))
        self.ids_repeat |= len(self.hashes) - before != len(ids)

    def get(self, row_id: str) -> str | None:
        return self.hashes.get(row_id)


def shard_entries(
    shard: Shard, config_fields: FieldMap, batch_size: int, max_row_bytes: int, raw_max: int, min_words: int
) -> tuple[np.ndarray, ShardRows]:
    """A shard about to be re-scored, read once in this process before the job: its (answer, prompt) hashes,
    and each row's content hash and row number by id (whether last night's rows are still there, unchanged)."""
    found = []
    rows = ShardRows()
    for raw in read_split(Split(shard, 0, 1), batch_size, max_row_bytes, raw_max):
        batch, _, _ = normalize_batch(raw, shard, config_fields, raw_max)
        if batch.num_rows:
            found.append(answer_entries(batch, min_words)[0])
            rows.add(batch.column("id").to_pylist(), batch.column("content_hash").to_pylist(), batch.column("row").to_pylist())
    return (np.unique(np.concatenate(found), axis=0) if found else EMPTY), rows


def _answers(entries: np.ndarray) -> set[int]:
    return {(int(hi) << 64) | int(lo) for hi, lo in np.unique(entries[:, :2], axis=0)} if len(entries) else set()


def affected(
    before: dict[str, np.ndarray], tonight: dict[str, np.ndarray], reused: Iterable[str], min_prompts: int
) -> tuple[dict[int, int], list[str]]:
    """(tonight's {answer: distinct prompts} for answers reaching min_prompts, the reused shards whose counts moved).

    `before` / `tonight`: entries per shard of last night / tonight (reused shards have the same entries in both).
    """
    last = count_prompts(list(before.values()), min_prompts)
    now = count_prompts(list(tonight.values()), min_prompts)
    moved = {a for a in set(last) | set(now) if last.get(a) != now.get(a)}
    hit = [name for name in reused if moved and not moved.isdisjoint(_answers(tonight[name]))]
    return now, hit
