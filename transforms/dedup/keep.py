"""Keep one row per cluster: a deterministic order, and clusters split around their kept rows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.arrow_bytes import one_array
from winnow.transforms.dedup.params import DUPLICATES, DedupParams
from winnow.transforms.dedup.sidefiles import signatures_at
from winnow.transforms.dedup.templates import pair_similarity
from winnow.transforms.dedup.verify import in_order, is_duplicate, is_similar, part_shingles, row_sequences, similarity


def keep_order(keep: tuple[str, ...], settled: bool = False) -> list[tuple[str, str, str]]:
    """Arrow sort keys: component first, rows of a reference corpus before new
    rows (then, with `settled`, a night's settled rows: dedup.earlier), then
    the keep rule, then key (a total order).

    Nulls (no quality model) sort last whatever the direction.
    """
    keys = [("component", "ascending", "at_end"), ("is_reference", "descending", "at_end")]
    if settled:
        keys.append(("settled", "descending", "at_end"))
    for spec in keep:
        name = spec.lstrip("-+")
        keys.append((name, "descending" if spec.startswith("-") else "ascending", "at_end"))
    keys.append(("key", "ascending", "at_end"))
    return keys


class ExactTest:
    """The exact duplicate test between rows of one table (its shingles and tokens columns)
    and the template shingles: shingle sets first, then word order (dedup.order_threshold)."""

    def __init__(self, shingles: pa.Array, tokens: pa.Array | None, template: np.ndarray | None, params: DedupParams):
        self.shingles = one_array(shingles)
        self.tokens = None if tokens is None else one_array(tokens)
        self.template = np.zeros(0, np.uint32) if template is None else template
        self.params = params

    def similarity(self, a: np.ndarray, b: np.ndarray):
        take = self.shingles.take
        parts = self.params.parts
        first, second = part_shingles(take(pa.array(a)), parts), part_shingles(take(pa.array(b)), parts)
        return pair_similarity(first, second, self.template, len(a))

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ok = is_duplicate(self.similarity(a, b), self.params)
        if self.params.order_threshold > 0 and self.tokens is not None:
            check = np.flatnonzero(ok)
            take = self.tokens.take
            ok[check] = in_order(
                row_sequences(take(pa.array(a[check]))), row_sequences(take(pa.array(b[check]))), self.params.order_threshold
            )
        return ok


def split_clusters(
    component: np.ndarray,
    sig: np.ndarray,
    params: DedupParams,
    exact: ExactTest | None = None,
    settled: np.ndarray | None = None,
    earlier: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Split connected components so every member is similar to its cluster's kept row.

    Rows arrive sorted by component, then by the keep rule. Within a
    component, the first unassigned row becomes a kept row and takes every
    unassigned row that passes the duplicate test (`is_similar`) against
    it; repeat. With verify: none every member joins the first row. Chains (A~B, B~C, A!~C) thus never merge dissimilar rows.
    With `exact` (verify: exact) the test is the verification's own;
    otherwise it is on MinHash estimates, and with verify: rouge_l (whose
    verify_threshold is on the ROUGE-L scale) the content must reach the
    Jaccard `threshold` of the LSH instead. A `settled` row (dedup.earlier)
    never joins an `earlier` row (reference or settled): it was no copy of
    one last night, and a new row that bridges them does not make it one.
    Returns (index of each row's kept row, is-kept flag).
    """
    if params.verify == "rouge_l":
        params = dataclasses.replace(params, verify_threshold=params.threshold)
    n = len(component)
    kept_of = np.full(n, -1, dtype=np.int64)
    free = np.arange(n)
    # Round by round over every component at once (components are independent):
    # each component's first free row becomes a kept row and takes the free rows that pass.
    while len(free):
        comp = component[free]
        first = np.concatenate(([True], comp[1:] != comp[:-1]))
        centre = free[np.maximum.accumulate(np.where(first, np.arange(len(free)), 0))]
        take = first.copy()
        others = ~first
        if settled is not None and earlier is not None:
            others &= ~(settled[free] & earlier[centre])  # tested or not, such a row would not join
        if params.verify == "none":
            take[others] = True
        elif exact is not None:
            take[others] = exact(centre[others], free[others])
        else:
            take[others] = is_similar(*similarity(sig[free[others]], sig[centre[others]], params), params)
        kept_of[free[take]] = centre[take]
        free = free[~take]
    return kept_of, kept_of == np.arange(n)


def choose_keep(
    members: pa.Table, params: DedupParams, template: np.ndarray | None = None
) -> tuple[pa.RecordBatch, dict[str, int], dict[str, np.ndarray]]:
    """Per cluster of `members` (one or more components): the row to keep by the keep rule,
    and every member with its similarity to it.

    With verify: exact, `members` has shingles and tokens columns and `template` holds the template shingles.

    Returns (duplicates/ batch, totals, per shard [rows in clusters, removed, exact removed]).
    """
    table = members.sort_by(keep_order(params.keep, settled="settled" in members.schema.names))
    sig = signatures_at(table, np.arange(table.num_rows), params.width)
    ch = table.column("content_hash").combine_chunks()
    names = table.schema.names
    tokens = table.column("tokens") if "tokens" in names else None
    exact_test = ExactTest(table.column("shingles"), tokens, template, params) if "shingles" in names else None
    reference = table.column("is_reference").to_numpy(zero_copy_only=False)
    settled = table.column("settled").to_numpy(zero_copy_only=False) if "settled" in names else None
    earlier = None if settled is None else reference | settled
    kept_idx, is_kept = split_clusters(table.column("component").to_numpy(), sig, params, exact_test, settled, earlier)
    exact = pc.equal(ch, ch.take(pa.array(kept_idx))).to_numpy(zero_copy_only=False)
    sizes = np.bincount(kept_idx, minlength=table.num_rows)
    # Reference rows make clusters (and are kept first) but are not this run's rows.
    in_cluster = (sizes[kept_idx] >= 2) & ~reference
    keys = table.column("key").to_numpy()
    cluster_id = np.full(table.num_rows, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(cluster_id, kept_idx, keys)
    sel = np.flatnonzero(in_cluster)
    if exact_test is not None:
        sim_to_kept = exact_test.similarity(sel, kept_idx[sel]).parts[-1].astype(np.float32)
    else:
        sim_to_kept = similarity(sig[sel], sig[kept_idx[sel]], params)[0].astype(np.float32)
    ids = table.column("id").combine_chunks()
    out = pa.RecordBatch.from_pydict(
        {
            "id": ids.take(pa.array(sel)),
            "key": pa.array(keys[sel], pa.int64()),
            "shard": table.column("shard").combine_chunks().take(pa.array(sel)),
            "row": table.column("row").combine_chunks().take(pa.array(sel)),
            "cluster_id": pa.array(cluster_id[kept_idx[sel]], pa.int64()),
            "cluster_size": pa.array(sizes[kept_idx[sel]], pa.int64()),
            "keep": pa.array(is_kept[sel]),
            "kept_id": ids.take(pa.array(kept_idx[sel])),
            "similarity": pa.array(sim_to_kept, pa.float32()),
            "exact": pa.array(exact[sel]),
        },
        schema=DUPLICATES,
    )
    totals = {
        "clusters": len(np.unique(kept_idx[in_cluster])),
        "matched_reference": int((in_cluster & reference[kept_idx]).sum()),
        "split_off_rows": int((~in_cluster & ~reference).sum()),
    }
    shards = out.column("shard").to_numpy(zero_copy_only=False)
    removed = ~out.column("keep").to_numpy(zero_copy_only=False)
    exact_out = exact[sel]
    per_shard: dict[str, np.ndarray] = {}
    for name in np.unique(shards):
        m = shards == name
        per_shard[str(name)] = np.array([m.sum(), (m & removed).sum(), (m & removed & exact_out).sum()], dtype=np.int64)
    return out, totals, per_shard
