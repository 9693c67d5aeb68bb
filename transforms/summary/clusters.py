"""Near-duplicate clusters for the report: how many clusters of each size, and the largest ones with example rows.

Counted by the keep stage, which reads the duplicates/ rows of each part's
key range anyway: a cluster is counted once, in the part that holds its kept
row (`keep` true in duplicates/). The largest clusters are the top N by
(size descending, cluster id), each with its kept row and the member with
the smallest key: every part keeps its own top N of the clusters it holds
rows of, and since a cluster among the dataset's top N is among the top N
of every part it touches, merging parts and trimming to N gives the
dataset's top N with the right rows (any merge order). Bounded: N clusters
with two rows each, and a size histogram (summary.histograms: exact below 128).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.arrow_bytes import one_array
from winnow.transforms.summary.examples import example_rows
from winnow.transforms.summary.histograms import Histogram

LARGEST = 10  # clusters shown with their rows


@dataclass
class ClusterTally:
    sizes: Histogram = field(default_factory=lambda: Histogram.empty(integer=True))
    # cluster id -> {"size", "kept": example or None, "member": example or None}
    largest: dict[int, dict[str, Any]] = field(default_factory=dict)
    n: int = LARGEST

    def add(self, decided: pa.RecordBatch, duplicates: pa.Table | None) -> None:
        """Fold in one records/ batch and the duplicates/ rows (key, keep, cluster_id, cluster_size, similarity) of its part."""
        if duplicates is None or duplicates.num_rows == 0 or decided.num_rows == 0:
            return
        keys = one_array(decided.column("key"))
        at = pc.index_in(keys, value_set=one_array(duplicates.column("key")))
        rows = np.flatnonzero(pc.is_valid(at).to_numpy(zero_copy_only=False))
        if not len(rows):
            return
        dup = duplicates.take(pc.drop_null(at))
        keep = pc.fill_null(one_array(dup.column("keep")), False).to_numpy(zero_copy_only=False)
        cluster = one_array(dup.column("cluster_id")).to_numpy(zero_copy_only=False)
        size = one_array(dup.column("cluster_size")).to_numpy(zero_copy_only=False)
        self.sizes = self.sizes.merge(Histogram.of(pa.array(size[keep], pa.int64())))
        # This batch's own top N clusters, then their kept row and smallest-key member.
        sizes_of = dict(zip(cluster.tolist(), size.tolist()))
        top = sorted(sizes_of, key=lambda c: (-sizes_of[c], c))[: self.n]
        batch_keys = keys.to_numpy(zero_copy_only=False)
        similarity = (
            one_array(dup.column("similarity")).to_pylist() if "similarity" in dup.column_names else [None] * dup.num_rows
        )
        part: dict[int, dict[str, Any]] = {}
        for c in top:
            members = np.flatnonzero(cluster == c)
            entry: dict[str, Any] = {"size": int(sizes_of[c]), "kept": None, "member": None}
            kept = members[keep[members]]
            if len(kept):
                entry["kept"] = {**example_rows(decided, rows[kept[:1]])[0], "similarity": similarity[int(kept[0])]}
            others = members[~keep[members]]
            if len(others):
                j = others[np.argmin(batch_keys[rows[others]])]
                entry["member"] = {**example_rows(decided, rows[[j]])[0], "similarity": similarity[int(j)]}
            part[int(c)] = entry
        self._merge_largest(part)

    def _merge_largest(self, other: dict[int, dict[str, Any]]) -> None:
        out = {c: dict(e) for c, e in self.largest.items()}
        for c, e in other.items():
            mine = out.get(c)
            if mine is None:
                out[c] = dict(e)
                continue
            mine["kept"] = mine["kept"] or e["kept"]
            if e["member"] is not None and (mine["member"] is None or e["member"]["key"] < mine["member"]["key"]):
                mine["member"] = e["member"]
        self.largest = {c: out[c] for c in sorted(out, key=lambda c: (-out[c]["size"], c))[: self.n]}

    def resize(self, rows: pa.Table) -> None:
        """Sizes and ids of the whole corpus's clusters, from this shard's rows of the night's duplicates/ (key,
        row, cluster_id, cluster_size, keep): a night's job clusters only the rows it re-scores (state.night).

        The size histogram is then exact. The largest clusters stay those this shard's scoring tracked, with
        tonight's ids and sizes; an example row no longer in its cluster is left out.
        """
        keep = pc.fill_null(rows.column("keep"), False).to_numpy(zero_copy_only=False)
        size = rows.column("cluster_size").to_numpy()
        self.sizes = Histogram.empty(integer=True).merge(Histogram.of(pa.array(size[keep], pa.int64())))
        tracked, self.largest = list(self.largest.values()), {}
        # Rows, not keys: a reused shard's index may move. Only the tracked examples' rows are looked up.
        row, cluster = rows.column("row").to_numpy(), rows.column("cluster_id").to_numpy()
        wanted = [e[role]["row"] for e in tracked for role in ("kept", "member") if e[role] is not None]
        found = np.flatnonzero(np.isin(row, np.asarray(wanted, np.int64)))
        where = {int(row[i]): (int(cluster[i]), int(size[i]), bool(keep[i])) for i in found}
        for entry in tracked:
            kept, member = entry["kept"], entry["member"]
            at_kept = where.get(kept["row"]) if kept is not None else None
            at_member = where.get(member["row"]) if member is not None else None
            if at_kept is not None and not at_kept[2]:
                at_kept = None
            if at_member is not None and (at_member[2] or (at_kept is not None and at_member[0] != at_kept[0])):
                at_member = None
            at = at_kept or at_member
            if at is None:
                continue
            resized = {"size": at[1], "kept": kept if at_kept else None, "member": member if at_member else None}
            self._merge_largest({at[0]: resized})  # two tracked entries may now be one cluster

    def merge(self, other: ClusterTally) -> ClusterTally:
        self.sizes = self.sizes.merge(other.sizes)
        self._merge_largest(other.largest)
        return self

    def rows(self) -> list[dict[str, Any]]:
        """The largest clusters' rows as examples (kind cluster, group the cluster id, role kept or member)."""
        out = []
        for c, e in self.largest.items():
            for role in ("kept", "member"):
                if e[role] is not None:
                    out.append({**e[role], "kind": "cluster", "group": str(c), "role": role, "cluster_size": e["size"]})
        return out
