"""One night's whole-corpus outputs from last night's per-shard results and tonight's re-scored shards.

Pure functions over Arrow tables. Row keys carry the shard's index in
tonight's sorted input list (shard << 40 | row), so results of a reused
shard whose index moved (a shard added or removed before it) get their keys
rewritten. Near-duplicates across nights follow `dedup.reference`: rows of
reused shards that are no copy of another row are the reference; a new row
that repeats one is dropped in its favour, and that cluster's members in
reused shards stay as they were, with the new members and sizes added.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.dedup.params import DUPLICATES
from winnow.transforms.schema import ROW_BITS

_ROW_MASK = (1 << ROW_BITS) - 1


class FullRescoreNeededError(Exception):
    """Tonight's results could not be assembled exactly from parts: re-score every shard instead."""


def remap_keys(values: np.ndarray, index_map: dict[int, int]) -> np.ndarray:
    """Row keys of last night (shard index << 40 | row) with tonight's shard indices."""
    if not len(values) or all(k == v for k, v in index_map.items()):
        return values
    old = values >> ROW_BITS
    new = old.copy()
    for o, n in index_map.items():
        new[old == o] = n
    return (new << ROW_BITS) | (values & _ROW_MASK)


def remap_column(table: pa.Table, name: str, index_map: dict[int, int]) -> pa.Table:
    if name not in table.schema.names or not table.num_rows:
        return table
    values = table.column(name).to_numpy()
    mapped = remap_keys(values, index_map)
    if mapped is values:
        return table
    return table.set_column(table.schema.get_field_index(name), name, pa.array(mapped, pa.int64()))


def _kept_keys_of_groups(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(cluster_id per row, the kept row's key of its group or -1 when the kept row is not in the table)."""
    cid = table.column("cluster_id").to_numpy()
    keep = table.column("keep").to_numpy(zero_copy_only=False)
    key = table.column("key").to_numpy()
    kept_of = dict(zip(cid[keep].tolist(), key[keep].tolist(), strict=True))
    return cid, np.array([kept_of.get(c, -1) for c in cid.tolist()], dtype=np.int64)


def kept_keys(table: pa.Table) -> np.ndarray:
    """Per row of a duplicates/ table: its cluster's kept row's key (-1 when that row is not in the table)."""
    return _kept_keys_of_groups(table)[1]


def clusters_to_redecide(
    previous: pa.Table, changed: np.ndarray, stays: np.ndarray, reused: set[str]
) -> tuple[dict[str, set[str]], set[int]]:
    """Reused shards whose copies' cluster may be decided differently tonight, and those clusters.

    Per row of last night's duplicates/: `changed`, whether it is gone or its content changed tonight;
    `stays`, whether it is an earlier row tonight (dedup.earlier: in a shard whose file did not change, or
    settled in a changed one), so that, kept last night, it stays kept. A cluster with a changed row whose
    kept row does not stay can choose another kept row, and its members in `reused` shards are re-decided.
    Re-deciding a shard leaves its kept rows earlier rows, so no other cluster follows. Returns (reused
    shard -> the shards of the cluster's changed rows, the ids of every cluster whose kept row may change).
    """
    if not previous.num_rows:
        return {}, set()
    shard = previous.column("shard").to_pylist()
    cid = previous.column("cluster_id").to_numpy()
    keep = previous.column("keep").to_numpy(zero_copy_only=False)
    stable = {int(c) for c, k, st in zip(cid.tolist(), keep, np.asarray(stays, dtype=bool).tolist(), strict=True) if k and st}
    members: dict[int, set[str]] = defaultdict(set)
    causes: dict[int, set[str]] = defaultdict(set)
    for c, s, ch in zip(cid.tolist(), shard, np.asarray(changed, dtype=bool).tolist(), strict=True):
        members[c].add(s)
        if ch:
            causes[c].add(s)
    out: dict[str, set[str]] = defaultdict(set)
    redecided = set(causes) - stable
    for c in sorted(redecided):
        for s in members[c] & reused:
            out[s] |= causes[c]
    return dict(out), redecided


def frozen_copies(previous: pa.Table, shards: set[str], redecided: set[int]) -> pa.Table:
    """Last night's copies in `shards` (re-scored only for some of their clusters) whose cluster is not one of
    `redecided`: they stay copies of the same kept row, as a reused shard's copies do (dedup.earlier)."""
    if not previous.num_rows or not shards:
        return previous.schema.empty_table()
    in_shards = pc.is_in(previous.column("shard"), value_set=pa.array(sorted(shards), pa.string()))
    copy = pc.invert(pc.fill_null(previous.column("keep"), True))
    other = pc.invert(pc.is_in(previous.column("cluster_id"), value_set=pa.array(sorted(redecided), pa.int64())))
    return previous.filter(pc.and_(pc.and_(in_shards, copy), other))


def orphaned(previous: pa.Table, reused: set[str], frozen: np.ndarray | None = None) -> pa.Table:
    """Last night's kept rows outside the reused shards that have copies carried over from last night (in
    reused shards, or `frozen`: last night's keys of copies that stay copies in re-scored shards), with
    `members`: the shards holding those copies. Each must still be there and kept tonight, or the shards
    holding its copies are re-scored."""
    empty = pa.table(
        {
            "key": pa.array([], pa.int64()),
            "id": pa.array([], pa.string()),
            "shard": pa.array([], pa.string()),
            "members": pa.array([], pa.list_(pa.string())),
        }
    )
    if not previous.num_rows:
        return empty
    shard = previous.column("shard").to_pylist()
    keep = previous.column("keep").to_numpy(zero_copy_only=False)
    key = previous.column("key").to_numpy()
    ids = previous.column("id").to_pylist()
    kept = kept_keys(previous)
    carried = np.isin(key, frozen if frozen is not None else np.zeros(0, np.int64)).tolist()
    info = {int(k): (i, s) for k, i, s, kp in zip(key.tolist(), ids, shard, keep, strict=True) if kp}
    members: dict[int, set[str]] = defaultdict(set)
    for s, k, kp, fr in zip(shard, kept.tolist(), keep, carried, strict=True):
        if not kp and (s in reused or fr) and k in info and info[k][1] not in reused:
            members[k].add(s)
    rows = sorted(members)
    if not rows:
        return empty
    return pa.table(
        {
            "key": pa.array(rows, pa.int64()),
            "id": [info[k][0] for k in rows],
            "shard": [info[k][1] for k in rows],
            "members": [sorted(members[k]) for k in rows],
        }
    )


def merge_duplicates(
    old: pa.Table, old_kept: np.ndarray, delta: pa.Table, reference_rows: pa.Table, kept_rows: pa.Table | None = None
) -> pa.Table:
    """duplicates/ of the whole night.

    `old`: last night's rows of the reused shards (keys already tonight's)
    and `old_kept`, each one's kept row's key tonight; `delta`: tonight's
    clustering of the re-scored shards against the reference;
    `reference_rows`: id, key, shard, row of every reference row (keys
    tonight's); `kept_rows`: more rows (same columns) a cluster may now need
    a kept row for (last night's kept rows re-scored tonight, unchanged).
    Sizes and cluster ids (smallest key) are recomputed over the merged
    clusters; a kept row whose copies all left drops out.
    """
    parts: list[pa.Table] = []
    kept_parts: list[np.ndarray] = []
    if old.num_rows:
        if (old_kept < 0).any():
            raise FullRescoreNeededError("a reused near-duplicate lost its kept row")
        parts.append(old.select(DUPLICATES.names))
        kept_parts.append(old_kept)
    extra_kept: set[int] = set()
    if delta.num_rows:
        _, kept = _kept_keys_of_groups(delta)
        missing = np.flatnonzero(kept < 0)
        if len(missing):
            kept_ids = delta.column("kept_id").to_pylist()
            # Only the reference rows named (the reference holds every earlier kept row: millions on a large corpus).
            wanted = pa.array(sorted({kept_ids[i] for i in missing.tolist()}), pa.string())
            named = reference_rows.filter(pc.is_in(reference_rows.column("id"), value_set=wanted))
            by_id: dict[str, list[int]] = defaultdict(list)
            for i, k in zip(named.column("id").to_pylist(), named.column("key").to_numpy().tolist(), strict=True):
                by_id[i].append(k)
            for i in missing.tolist():
                found = by_id.get(kept_ids[i], [])
                if len(found) != 1:
                    raise FullRescoreNeededError(
                        f"the earlier row {kept_ids[i]!r} a new row repeats is not one row of the reference"
                    )
                kept[i] = found[0]
                extra_kept.add(found[0])
        parts.append(delta.select(DUPLICATES.names))
        kept_parts.append(kept)
    if not parts:
        return DUPLICATES.empty_table()
    table = pa.concat_tables(parts)
    kept = np.concatenate(kept_parts)
    present = set(table.column("key").to_numpy().tolist())
    add = sorted((extra_kept | {int(k) for k in np.unique(old_kept)}) - present)
    if add:  # an earlier row in no cluster until tonight's copy arrived, or whose cluster lost its row of tonight's shard
        pool = (
            reference_rows
            if kept_rows is None
            else pa.concat_tables([reference_rows, kept_rows.select(reference_rows.schema.names)])
        )
        ref = pool.filter(pc.is_in(pool.column("key"), pa.array(add, pa.int64())))
        n = ref.num_rows
        table = pa.concat_tables(
            [
                table,
                pa.table(
                    {
                        "id": ref.column("id"),
                        "key": ref.column("key"),
                        "shard": ref.column("shard"),
                        "row": ref.column("row"),
                        "cluster_id": pa.array(np.zeros(n, np.int64)),
                        "cluster_size": pa.array(np.zeros(n, np.int64)),
                        "keep": pa.array(np.ones(n, bool)),
                        "kept_id": ref.column("id"),
                        "similarity": pa.array(np.ones(n, np.float32)),
                        "exact": pa.array(np.ones(n, bool)),
                    },
                    schema=DUPLICATES,
                ),
            ]
        )
        kept = np.concatenate([kept, ref.column("key").to_numpy()])
    keys = table.column("key").to_numpy()
    groups, inverse, sizes = np.unique(kept, return_inverse=True, return_counts=True)
    cluster_id = np.full(len(groups), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(cluster_id, inverse, keys)
    table = table.set_column(table.schema.get_field_index("cluster_id"), "cluster_id", pa.array(cluster_id[inverse]))
    table = table.set_column(table.schema.get_field_index("cluster_size"), "cluster_size", pa.array(sizes[inverse]))
    table = table.filter(pa.array(sizes[inverse] >= 2))
    return table.sort_by("key")


def counts_per_shard(duplicates: pa.Table) -> dict[str, list[int]]:
    """[rows in clusters, removed, exact copies removed] per shard, as the clustering reports them."""
    out: dict[str, list[int]] = {}
    for name, rows in rows_per_shard(duplicates.select(["shard", "keep", "exact"])).items():
        removed = ~rows.column("keep").to_numpy(zero_copy_only=False)
        exact = rows.column("exact").to_numpy(zero_copy_only=False)
        out[name] = [rows.num_rows, int(removed.sum()), int((removed & exact).sum())]
    return out


def rows_per_shard(duplicates: pa.Table) -> dict[str, pa.Table]:
    """A duplicates/ table's rows by shard name."""
    if not duplicates.num_rows:
        return {}
    table = duplicates.sort_by("shard")
    names = table.column("shard").combine_chunks()
    n = len(names)
    starts = [0, *(np.flatnonzero(pc.not_equal(names[1:], names[:-1]).to_numpy(zero_copy_only=False)) + 1).tolist(), n]
    return {names[a].as_py(): table.slice(a, b - a) for a, b in zip(starts[:-1], starts[1:], strict=True)}


def copies_of_earlier_rows(duplicates: pa.Table, new_shards: tuple[int, ...], new_keys: np.ndarray) -> int:
    """New rows (every row of `new_shards`, and `new_keys`) dropped as the copy of a row that is not new: one
    there last night, with the same id and content."""
    if not duplicates.num_rows:
        return 0
    keys, kept = duplicates.column("key").to_numpy(), kept_keys(duplicates)

    def new(k: np.ndarray) -> np.ndarray:
        return np.isin(k >> ROW_BITS, np.asarray(new_shards, np.int64)) | np.isin(k, new_keys)

    dropped = ~duplicates.column("keep").to_numpy(zero_copy_only=False)
    return int((dropped & new(keys) & (kept >= 0) & ~new(kept)).sum())


def dropped_copies(duplicates: pa.Table) -> np.ndarray:
    """Keys of the rows dropped as a copy of another (not part of the reference for later nights)."""
    if not duplicates.num_rows:
        return np.zeros(0, np.int64)
    return duplicates.filter(pc.invert(duplicates.column("keep"))).column("key").to_numpy()
