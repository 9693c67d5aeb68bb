"""A night's duplicates/ from last night's clusters of reused shards and tonight's clusters against the reference."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from winnow.transforms.dedup.params import DUPLICATES
from winnow.transforms.state.assemble import (
    FullRescoreNeededError,
    clusters_to_redecide,
    copies_of_earlier_rows,
    counts_per_shard,
    dropped_copies,
    frozen_copies,
    kept_keys,
    merge_duplicates,
    orphaned,
    remap_keys,
)


def key(shard: int, row: int) -> int:
    return (shard << 40) | row


def dups(rows: list[tuple[str, int, str, bool, str, int]]) -> pa.Table:
    """(id, key, shard, keep, kept_id, cluster_id) per row; sizes are recomputed by merge_duplicates."""
    return pa.table(
        {
            "id": [r[0] for r in rows],
            "key": pa.array([r[1] for r in rows], pa.int64()),
            "shard": [r[2] for r in rows],
            "row": pa.array([r[1] & ((1 << 40) - 1) for r in rows], pa.int64()),
            "cluster_id": pa.array([r[5] for r in rows], pa.int64()),
            "cluster_size": pa.array([0] * len(rows), pa.int64()),
            "keep": [r[3] for r in rows],
            "kept_id": [r[4] for r in rows],
            "similarity": pa.array([1.0] * len(rows), pa.float32()),
            "exact": [True] * len(rows),
        },
        schema=DUPLICATES,
    )


def refs(rows: list[tuple[str, int, str]]) -> pa.Table:
    return pa.table(
        {
            "id": pa.array([r[0] for r in rows], pa.string()),
            "key": pa.array([r[1] for r in rows], pa.int64()),
            "shard": pa.array([r[2] for r in rows], pa.string()),
            "row": pa.array([r[1] & ((1 << 40) - 1) for r in rows], pa.int64()),
        }
    )


def test_keys_move_with_their_shard_index():
    keys = np.array([key(0, 3), key(2, 5)], dtype=np.int64)
    assert remap_keys(keys, {0: 1, 2: 4}).tolist() == [key(1, 3), key(4, 5)]
    assert remap_keys(keys, {0: 0}) is keys


def test_a_new_copy_joins_an_earlier_cluster_and_sizes_are_recomputed():
    old = dups([("k", key(1, 0), "b", True, "k", key(1, 0)), ("d", key(2, 0), "c", False, "k", key(1, 0))])
    new = dups([("n", key(0, 4), "a", False, "k", key(0, 4))])  # kept row not among tonight's rows: the reference
    ref = refs([("k", key(1, 0), "b")])
    out = merge_duplicates(old, kept_keys(old), new, ref).to_pylist()
    assert [(r["id"], r["keep"], r["cluster_size"], r["cluster_id"]) for r in out] == [
        ("n", False, 3, key(0, 4)),
        ("k", True, 3, key(0, 4)),
        ("d", False, 3, key(0, 4)),
    ]
    assert counts_per_shard(merge_duplicates(old, kept_keys(old), new, ref)) == {"a": [1, 1, 1], "b": [1, 0, 0], "c": [1, 1, 1]}


def test_an_earlier_row_in_no_cluster_gets_its_kept_row_when_a_copy_arrives():
    new = dups([("n", key(0, 4), "a", False, "k", key(0, 4))])
    none = np.zeros(0, np.int64)
    out = merge_duplicates(DUPLICATES.empty_table(), none, new, refs([("k", key(3, 9), "z")])).to_pylist()
    assert [(r["id"], r["keep"], r["kept_id"], r["cluster_size"], r["shard"], r["row"]) for r in out] == [
        ("n", False, "k", 2, "a", 4),
        ("k", True, "k", 2, "z", 9),
    ]


def test_a_kept_row_whose_copies_all_left_drops_out():
    old = dups([("k", key(1, 0), "b", True, "k", key(1, 0))])  # its copy's shard was re-scored and is not a copy now
    assert merge_duplicates(old, kept_keys(old), DUPLICATES.empty_table(), refs([])).num_rows == 0


def test_an_ambiguous_earlier_id_asks_for_a_full_rescore():
    new = dups([("n", key(0, 4), "a", False, "k", key(0, 4))])
    with pytest.raises(FullRescoreNeededError):
        merge_duplicates(
            DUPLICATES.empty_table(), np.zeros(0, np.int64), new, refs([("k", key(1, 1), "b"), ("k", key(2, 1), "c")])
        )


def test_copies_in_reused_shards_of_a_kept_row_elsewhere_are_orphans_until_it_is_found_tonight():
    prev = dups(
        [
            ("x", key(0, 0), "a", True, "x", key(0, 0)),
            ("y", key(1, 0), "b", False, "x", key(0, 0)),  # b's copy of a's row
            ("y2", key(3, 0), "d", False, "x", key(0, 0)),
            ("z", key(1, 1), "b", True, "z", key(1, 1)),
            ("w", key(2, 0), "c", False, "z", key(1, 1)),  # c's copy of b's row
        ]
    )
    found = orphaned(prev, {"b", "c", "d"})  # a is re-scored tonight
    assert found.to_pylist() == [{"key": key(0, 0), "id": "x", "shard": "a", "members": ["b", "d"]}]
    assert orphaned(prev, {"a", "b", "c", "d"}).num_rows == 0
    assert sorted(dropped_copies(prev).tolist()) == [key(1, 0), key(2, 0), key(3, 0)]
    # Found tonight at another key (its shard moved, its row too): the copies join it there.
    old = prev.filter(pa.array([s != "a" for s in prev.column("shard").to_pylist()]))
    kept = np.array([key(5, 3), key(5, 3), key(1, 1), key(1, 1)], dtype=np.int64)  # y, y2, z, w
    out = merge_duplicates(old, kept, DUPLICATES.empty_table(), refs([]), refs([("x", key(5, 3), "a")])).to_pylist()
    assert {(r["id"], r["keep"], r["cluster_size"]) for r in out} == {
        ("x", True, 3), ("y", False, 3), ("y2", False, 3), ("z", True, 2), ("w", False, 2)
    }  # fmt: skip


def test_clusters_with_a_changed_row_redecide_their_reused_members_while_their_kept_row_does_not_stay():
    prev = dups(
        [
            # Cluster 1: kept in b (reused); a's copy changed tonight. The kept row stays (the reference): nothing.
            ("k1", key(1, 0), "b", True, "k1", 1),
            ("c1", key(0, 0), "a", False, "k1", 1),
            # Cluster 2: kept in a (re-scored), unchanged; its copy in c. No row changed: nothing.
            ("k2", key(0, 1), "a", True, "k2", 2),
            ("c2", key(2, 0), "c", False, "k2", 2),
            # Cluster 3: kept in d (reused), a copy in a changed; another copy in e. The kept row stays...
            ("k3", key(3, 0), "d", True, "k3", 3),
            ("c3", key(0, 2), "a", False, "k3", 3),
            ("c3b", key(4, 0), "e", False, "k3", 3),
            # Cluster 4: kept in a, changed tonight; copies in d: d is re-decided. Its kept row k3 stays an
            # earlier row (d's file did not change), so cluster 3 does not follow and e stays reused.
            ("k4", key(0, 3), "a", True, "k4", 4),
            ("c4", key(3, 1), "d", False, "k4", 4),
            # Cluster 5: kept in f, whose shard is removed tonight; its copy in g.
            ("k5", key(5, 0), "f", True, "k5", 5),
            ("c5", key(6, 0), "g", False, "k5", 5),
            # Cluster 6: kept in a, unchanged and settled; a copy in a changed, another in h.
            ("k6", key(0, 4), "a", True, "k6", 6),
            ("c6", key(0, 5), "a", False, "k6", 6),
            ("c6b", key(7, 0), "h", False, "k6", 6),
        ]
    )
    changed = np.array([False, True, False, False, False, True, False, True, False, True, False, False, True, False])
    reused = {"b", "c", "d", "e", "g", "h"}
    # Earlier rows tonight: every row of a reused shard, and a's unchanged rows (settled).
    stays = np.array([True, False, True, True, True, False, True, False, True, False, True, True, False, True])
    got, redecided = clusters_to_redecide(prev, changed, stays, reused)
    assert got == {"d": {"a"}, "g": {"f"}} and redecided == {4, 5}
    # a's rows not settled (its ids repeat): cluster 6 may pick another kept row, so h's copy is re-decided.
    unsettled = stays.copy()
    unsettled[[2, 11]] = False
    got, redecided = clusters_to_redecide(prev, changed, unsettled, reused)
    assert got == {"d": {"a"}, "g": {"f"}, "h": {"a"}} and redecided == {4, 5, 6}
    # Nothing changed: nothing to re-decide.
    assert clusters_to_redecide(prev, np.zeros(14, dtype=bool), stays, reused) == ({}, set())
    assert clusters_to_redecide(DUPLICATES.empty_table(), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool), {"b"})[0] == {}


def test_only_the_copies_in_clusters_that_may_change_are_clustered_again_and_the_others_stay_copies():
    prev = dups(
        [
            # Cluster 1: kept in a, changed tonight; copies in b. b is re-scored and this copy re-decided.
            ("k1", key(0, 0), "a", True, "k1", 1),
            ("c1", key(1, 0), "b", False, "k1", 1),
            # Cluster 2: kept in c (reused), its copy in b: unchanged, it stays a copy of k2.
            ("k2", key(2, 0), "c", True, "k2", 2),
            ("c2", key(1, 1), "b", False, "k2", 2),
            # Cluster 3: kept in b; it is no copy, so never frozen.
            ("k3", key(1, 2), "b", True, "k3", 3),
            ("c3", key(2, 1), "c", False, "k3", 3),
            # Cluster 4: kept in a, unchanged; its copy in b is carried, and checked as an orphan tonight.
            ("k4", key(0, 1), "a", True, "k4", 4),
            ("c4", key(1, 3), "b", False, "k4", 4),
        ]
    )
    changed = np.array([True, False, False, False, False, False, False, False])
    stays = np.array([False, True, True, True, True, True, True, True])
    shards, redecided = clusters_to_redecide(prev, changed, stays, {"b", "c"})
    assert shards == {"b": {"a"}} and redecided == {1}
    frozen = frozen_copies(prev, set(shards), redecided)
    assert frozen.column("id").to_pylist() == ["c2", "c4"]
    assert frozen_copies(prev, set(), redecided).num_rows == 0
    # A frozen copy whose kept row is not in a reused shard must find it kept tonight, as a reused copy must.
    keys = frozen.column("key").to_numpy()
    # (k3, kept in b, has a copy in reused c: an orphan either way.)
    k3 = {"key": key(1, 2), "id": "k3", "shard": "b", "members": ["c"]}
    assert orphaned(prev, {"c"}, keys).to_pylist() == [{"key": key(0, 1), "id": "k4", "shard": "a", "members": ["b"]}, k3]
    assert orphaned(prev, {"c"}).to_pylist() == [k3]


def test_new_rows_dropped_as_copies_of_earlier_rows_are_counted_and_no_others():
    table = dups(
        [
            ("k1", key(1, 0), "b", True, "k1", 1),  # an earlier row, kept
            ("n1", key(0, 0), "a", False, "k1", 1),  # a new shard's row, its copy: counted
            ("e1", key(2, 0), "c", False, "k1", 1),  # an edited row of a changed shard, its copy: counted
            ("o1", key(2, 1), "c", False, "k1", 1),  # an unchanged row of the changed shard: not new
            ("n2", key(0, 1), "a", True, "n2", 2),  # a new kept row, and its new copy: not a copy of an earlier row
            ("n3", key(0, 2), "a", False, "n2", 2),
        ]
    )
    assert copies_of_earlier_rows(table, (0,), np.array([key(2, 0)], np.int64)) == 2
    assert copies_of_earlier_rows(table, (), np.zeros(0, np.int64)) == 0
    assert copies_of_earlier_rows(DUPLICATES.empty_table(), (0,), np.zeros(0, np.int64)) == 0
