"""Near-duplicate clusters on Beam: LSH exchange, verification, connected components, keep-one.

Thin wrappers around transforms.dedup: data that crosses Beam is always a
numpy array or an Arrow batch per (partition or segment), never one element
per row or per band. Band entries and pairs go through spill files
(dedup.spill), signatures through side files (dedup.sidefiles).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.metrics import Metrics

from winnow.transforms.arrow_bytes import unique_sorted
from winnow.transforms.dedup import components as cc
from winnow.transforms.dedup import lsh, refbands, spill
from winnow.transforms.dedup.earlier import EarlierRows
from winnow.transforms.dedup.keep import choose_keep
from winnow.transforms.dedup.params import REFERENCE_BASE, SEQUENCE_COLUMNS, DedupParams
from winnow.transforms.dedup.sidefiles import (
    _BLOCK_BITS,
    SideCache,
    read_side,
    segment_of,
    signatures_at,
    work_dir,
)
from winnow.transforms.dedup.verify import verify_pairs
from winnow.transforms.io import files, parquet_out

NAMESPACE = "winnow"
_NO_KEYS = np.zeros(0, np.uint64)


@beam.ptransform_fn
def Spread(pcoll, one_worker: bool = False):
    """Spread elements over workers (a Reshuffle); nothing to spread when the job runs in one process."""
    return pcoll if one_worker else pcoll | beam.Reshuffle()


def _split(keys_for_split: np.ndarray, arrays: list[np.ndarray]) -> Iterator[tuple[int, list[np.ndarray]]]:
    """Group rows of several aligned arrays by a key array."""
    order = np.argsort(keys_for_split, kind="stable")
    sorted_keys = keys_for_split[order]
    bounds = np.flatnonzero(np.diff(sorted_keys)) + 1
    for chunk in np.split(np.arange(len(order)), bounds):
        if len(chunk):
            sel = order[chunk]
            yield int(sorted_keys[chunk[0]]), [a[sel] for a in arrays]


class CandidatesFn(beam.DoFn):
    """One band partition: read its entries, find candidate pairs, spill them by pair partition.

    The side input only orders this stage after every shard has written its entries.
    """

    def __init__(self, output: str, partitions: int, spill_pairs: bool = True, earlier: EarlierRows | None = None):
        self._output, self._partitions = output, partitions
        self._earlier = earlier or EarlierRows()  # a night's settled rows pair as the reference's do
        # In one process the pairs go straight to AcceptAll: spilling them cost a file per band partition and
        # pair partition (64 x 64 small files), the bulk of a night's candidates stage.
        self._spill_pairs = spill_pairs

    def process(self, part: int, _written: Any) -> Iterator[Any]:
        entries = self._earlier.without_frozen(spill.read_partition(work_dir(self._output, "bands"), part, 4))
        settled = self._earlier.settled(entries[:, 1].astype(np.int64)) if self._earlier.any else None
        entries = lsh.touching_new_rows(entries, REFERENCE_BASE, settled)
        pairs = lsh.candidate_pairs(entries)
        Metrics.counter(NAMESPACE, "dedup_candidate_pairs").inc(len(pairs))
        if not self._spill_pairs:
            yield beam.pvalue.TaggedOutput("pairs", pairs)
            yield ("candidate_pairs", len(pairs))
            return
        writer = spill.SpillWriter(work_dir(self._output, "pairs"), f"b{part:05d}")
        for q, (p,) in _split(lsh.pair_partition(pairs, self._partitions), [pairs]):
            writer.add(q, p)
        writer.flush()
        yield ("candidate_pairs", len(pairs))


# Reference files per ReferenceBands task. One writer spills a file per band partition it touches, so a
# task per file (a night reuses ~100 shards) wrote files x partitions small files; a group of files shares them.
REFERENCE_GROUP = 16


def reference_groups(references: dict[int, str], size: int = REFERENCE_GROUP) -> list[list[tuple[int, str]]]:
    """The reference files in index order, `size` per group."""
    items = sorted(references.items())
    return [items[i : i + size] for i in range(0, len(items), size)]


class NewBandKeysFn(beam.DoFn):
    """One band partition: the band keys a new row of this run holds, once the shards' entries are written.

    A night clusters a few new rows against a reference of every earlier row: only the reference's entries
    under these keys can pair with a new row (lsh.touching_new_rows), so only they are spilled.
    """

    def __init__(self, output: str, earlier: EarlierRows | None = None):
        self._output, self._earlier = output, earlier or EarlierRows()

    def process(self, part: int, _written: Any) -> Iterator[tuple[int, np.ndarray]]:
        entries = self._earlier.without_frozen(spill.read_partition(work_dir(self._output, "bands"), part, 4))
        settled = self._earlier.settled(entries[:, 1].astype(np.int64)) if self._earlier.any else None
        yield part, lsh.new_band_keys(entries, REFERENCE_BASE, settled)


class ReferenceBandsFn(beam.DoFn):
    """Band entries of earlier runs' exported signatures (a group of files), spilled like a shard's own:
    read from beside the file when a night stored them (dedup.refbands), else hashed from the signatures.
    With `new_keys` (partition -> NewBandKeysFn's keys) only the entries a new row's band key touches."""

    def __init__(self, output: str, params: DedupParams):
        self._output, self._params = output, params

    def process(self, group: list[tuple[int, str]], new_keys: dict[int, np.ndarray] | None = None) -> Iterator[Any]:
        p = self._params
        writer = spill.SpillWriter(work_dir(self._output, "bands"), f"r{group[0][0]:07d}")
        # Every partition's keys in one ascending array (a band key's partition is the key modulo their count).
        keys = None if new_keys is None else np.sort(np.concatenate([_NO_KEYS, *new_keys.values()]))
        rows = 0
        for index, path in group:
            stored = refbands.read_reference_bands(refbands.bands_path(path), index, p, keys)
            if stored is None:
                entries, n = refbands.reference_entries(read_side(path, index, refbands.BAND_COLUMNS), p, index)
                stored = (entries if keys is None else lsh.under_keys(entries, keys)), n
            entries, n = stored
            rows += n if index >= REFERENCE_BASE else 0  # a re-decided shard's settled rows are this run's
            for part, arr in lsh.by_partition(entries, p.partitions).items():
                writer.add(part, arr)
        writer.flush()
        yield beam.pvalue.TaggedOutput("totals", ("reference_rows", rows))
        yield group[0][0]


class AcceptPairsFn(beam.DoFn):
    """Every band's copy of a pair meets here: one pair to verify, with the union of its evidence."""

    def __init__(self, output: str, earlier: EarlierRows | None = None):
        self._output, self._earlier = output, earlier or EarlierRows()

    def process(self, part: int, _written: Any) -> Iterator[Any]:
        pairs = spill.read_partition(work_dir(self._output, "pairs"), part, 3).astype(np.int64)
        yield ("accepted_pairs", accept_pairs(pairs, self._earlier, self._output, f"q{part:05d}"))


def accept_pairs(pairs: np.ndarray, earlier: EarlierRows, output: str, writer_id: str) -> int:
    """Merge every band's copy of each pair, drop settled pairs, spill the rest by first row's segment."""
    pairs = lsh.merge_pairs(pairs)
    # Pairs inside the reference corpus were settled by the run that made it (and pairs of a night's
    # unchanged rows by the night that scored them: dedup.earlier).
    pairs = earlier.drop_settled_pairs(pairs)
    writer = spill.SpillWriter(work_dir(output, "accepted"), writer_id)
    for seg, (p,) in _split(segment_of(pairs[:, 0]), [pairs]):
        writer.add(seg, p)
    writer.flush()
    return len(pairs)


def _accept_all(pair_arrays: list[np.ndarray], earlier: EarlierRows | None, output: str) -> Iterator[tuple[str, int]]:
    """One process: every band partition's pairs at once (the same accepted pairs as AcceptPairs per partition)."""
    arrays = [a for a in pair_arrays if len(a)]
    pairs = np.concatenate(arrays).astype(np.int64) if arrays else np.zeros((0, 3), np.int64)
    yield ("accepted_pairs", accept_pairs(pairs, earlier or EarlierRows(), output, "q00000"))


class AttachFirstFn(beam.DoFn):
    """Pairs whose first row is in this segment: spill them by the second row's segment,
    with the first rows' signatures (or token lists), once per first row and destination."""

    def __init__(self, output: str, params: DedupParams, references: dict[int, str] | None = None, one_worker: bool = False):
        self._output, self._params, self._references = output, params, references or {}
        self._one_worker = one_worker  # the segments share one writer per bundle (spill.WriterPerBundle)

    def setup(self) -> None:
        self._side = SideCache(self._output, self._references)

    def start_bundle(self) -> None:
        self._writers: spill.WriterPerBundle[spill.BundleWriter] = spill.WriterPerBundle(self._one_worker)

    def finish_bundle(self) -> None:
        self._writers.finish()

    def process(self, segment: int, _written: Any) -> Iterator[Any]:
        pairs = spill.read_partition(work_dir(self._output, "accepted"), segment, 3).astype(np.int64)
        if len(pairs) == 0:
            return
        # The pairs, their first rows' token lists and (verify: exact) signatures, in one file per destination.
        out = self._writers.get(lambda name: spill.BundleWriter(work_dir(self._output, "first"), name), f"g{segment:012d}")
        for dest, (p,) in _split(segment_of(pairs[:, 1]), [pairs]):
            out.add(dest, pairs=p)
            firsts = unique_sorted(p[:, 0])
            table, idx = self._side.rows(segment, firsts)
            key_words = firsts.astype(np.uint64).view(np.uint32).reshape(-1, 2)
            if self._params.verify in SEQUENCE_COLUMNS:
                # [key words, slot, value] rows in text order; slot = column * parts + part
                # (exact: shingles in slots below parts, word tokens above).
                parts = self._params.parts
                for c, name in enumerate(SEQUENCE_COLUMNS[self._params.verify]):
                    lists = table.column(name).take(pa.array(idx)).combine_chunks()
                    for k in range(parts):
                        part_lists = pc.list_element(lists, k)
                        lengths = pc.list_value_length(part_lists).to_numpy(zero_copy_only=False)
                        values = pc.list_flatten(part_lists).to_numpy(zero_copy_only=False).astype(np.uint32)
                        owner = np.repeat(np.arange(len(firsts)), lengths)
                        slot = np.full(len(owner), c * parts + k, np.uint32)
                        out.add(dest, sides=np.column_stack([key_words[owner], slot, values]))
                if self._params.verify == "exact":  # a cheap first look at each pair (verify.plausible)
                    out.add(dest, sigs=np.column_stack([key_words, signatures_at(table, idx, self._params.width)]))
            else:
                out.add(dest, sides=np.column_stack([key_words, signatures_at(table, idx, self._params.width)]))
        self._writers.done(out)
        yield segment


class VerifyFn(beam.DoFn):
    """Pairs whose second row is in this segment: keep those that pass the duplicate test
    (exact copies always) and emit them as graph arcs keyed by node partition."""

    def __init__(self, output: str, params: DedupParams, references: dict[int, str] | None = None):
        self._output, self._params, self._references = output, params, references or {}

    def setup(self) -> None:
        self._side = SideCache(self._output, self._references)

    def process(self, segment: int, _written: Any, template: np.ndarray | None = None) -> Iterator[Any]:
        p = self._params
        width = 4 if p.verify in SEQUENCE_COLUMNS else p.width + 2
        got = spill.read_bundles(work_dir(self._output, "first"), segment, {"pairs": 3, "sides": width, "sigs": p.width + 2})
        pairs = got["pairs"].astype(np.int64)
        if len(pairs) == 0:
            return
        table, idx = self._side.rows(segment, pairs[:, 1])
        sides = got["sides"].astype(np.uint32)
        sigs = got["sigs"].astype(np.uint32) if p.verify == "exact" else None
        ok = verify_pairs(pairs, sides, table, idx, p, template, sigs)
        Metrics.counter(NAMESPACE, "dedup_verified_pairs").inc(int(ok.sum()))
        yield beam.pvalue.TaggedOutput("totals", ("verified_pairs", int(ok.sum())))
        yield beam.pvalue.TaggedOutput("totals", ("rejected_pairs", int((~ok).sum())))
        yield from cc.split_by_partition(cc.symmetric(pairs[ok, :2]), p.partitions).items()


class StarStepFn(beam.DoFn):
    """One large-star or small-star step over the arcs of one node partition."""

    def __init__(self, step: str, partitions: int):
        self._step, self._partitions = step, partitions

    def process(self, element: tuple[int, list[np.ndarray]]) -> Iterator[tuple[int, np.ndarray]]:
        _, chunks = element
        arcs = np.unique(np.concatenate(list(chunks)), axis=0)
        out = cc.large_star(arcs) if self._step == "large" else cc.small_star(arcs)
        yield from cc.split_by_partition(out, self._partitions).items()


class AssignFn(beam.DoFn):
    """Check convergence and give every node its component (smallest node); key by node shard."""

    def process(self, element: tuple[int, list[np.ndarray]]) -> Iterator[Any]:
        _, chunks = element
        arcs = np.unique(np.concatenate(list(chunks)), axis=0)
        bad = cc.violations(arcs)
        yield beam.pvalue.TaggedOutput("totals", ("unconverged_nodes", bad))
        asg = cc.assignments(arcs)
        for seg, (a,) in _split(segment_of(asg[:, 0]), [asg]):
            yield seg, a


def _assign_in_memory(chunks: list[tuple[int, np.ndarray]], max_rounds: int) -> Iterator[Any]:
    """Every arc on this worker: components to convergence, keyed by node segment like AssignFn."""
    arcs = np.concatenate([a for _, a in chunks]) if chunks else np.zeros((0, 2), dtype=np.int64)
    asg, bad = cc.components_in_memory(arcs, max_rounds)
    yield beam.pvalue.TaggedOutput("totals", ("unconverged_nodes", bad))
    for seg, (a,) in _split(segment_of(asg[:, 0]), [asg]):
        yield seg, a


class AttachMembersFn(beam.DoFn):
    """Attach id, keep attributes, signature and content hash; key by component partition."""

    def __init__(
        self,
        output: str,
        partitions: int,
        shard_names: dict[int, str],
        references: dict[int, str] | None = None,
        with_shingles: bool = False,
        earlier: EarlierRows | None = None,
    ):
        self._output, self._partitions, self._names, self._references = output, partitions, shard_names, references or {}
        self._with_shingles = with_shingles  # verify: exact splits clusters with the exact test (shingles and word order)
        self._earlier = earlier or EarlierRows()

    def setup(self) -> None:
        self._side = SideCache(self._output, self._references)

    def process(self, element: tuple[int, list[np.ndarray]]) -> Iterator[tuple[int, pa.RecordBatch]]:
        segment, chunks = element
        shard = segment >> _BLOCK_BITS
        asg = np.concatenate(list(chunks))
        table, idx = self._side.rows(segment, asg[:, 0])
        rows = table.take(pa.array(idx))
        columns = {
            "component": pa.array(asg[:, 1], pa.int64()),
            "key": rows.column("key").combine_chunks(),
            "id": rows.column("id").combine_chunks(),
            "shard": pa.array([self._names[shard]] * len(asg), pa.string()),
            "row": rows.column("row").combine_chunks(),
            "content_hash": rows.column("content_hash").combine_chunks(),
            "quality": rows.column("quality").combine_chunks(),
            "response_chars": rows.column("response_chars").combine_chunks(),
            "instruction_chars": rows.column("instruction_chars").combine_chunks(),
            "n_turns": rows.column("n_turns").combine_chunks(),
            "signature": rows.column("signature").combine_chunks(),
            "is_reference": pa.array(np.full(len(asg), shard >= REFERENCE_BASE)),
            "settled": pa.array(self._earlier.settled(rows.column("key").to_numpy())),
        }
        if self._with_shingles:
            columns["shingles"] = rows.column("shingles").combine_chunks()
            columns["tokens"] = rows.column("tokens").combine_chunks()
        batch = pa.RecordBatch.from_pydict(columns)
        part = cc.partition_of(asg[:, 1], self._partitions)
        for p in unique_sorted(part):
            yield int(p), batch.filter(pa.array(part == p))


class ChooseKeepFn(beam.DoFn):
    """Per cluster: the row to keep by the keep rule; every member with its similarity to it.

    Writes one duplicates/ file per component partition, rows sorted by key, so
    its name and bytes do not depend on the runner; emits the partition.
    """

    def __init__(self, params: DedupParams, output: str):
        self._params, self._output = params, output

    def process(self, element: tuple[int, list[pa.RecordBatch]], template: np.ndarray | None = None) -> Iterator[Any]:
        partition, batches = element
        out, totals, per_shard = choose_keep(pa.Table.from_batches(list(batches)), self._params, template)
        if out.num_rows:
            path = files.join(self._output, "duplicates", parquet_out.partition_name(partition))
            parquet_out.write_table(path, pa.Table.from_batches([out]).sort_by("key"))
        yield partition
        for name, value in totals.items():
            yield beam.pvalue.TaggedOutput("totals", (name, value))
        for shard, counts in per_shard.items():
            yield beam.pvalue.TaggedOutput("per_shard", (shard, counts))


def _sum_arrays(arrays) -> np.ndarray:
    out = None
    for a in arrays:
        out = a.copy() if out is None else out + a
    return out if out is not None else np.zeros(3, dtype=np.int64)


@beam.ptransform_fn
def NearDuplicates(
    written,
    params: DedupParams,
    output: str,
    shard_names: dict[int, str],
    references: dict[int, str] | None = None,
    one_worker: bool = False,
    template: Any = None,
    earlier: EarlierRows | None = None,
    few_new_rows: bool = False,
    settled_bands: dict[int, str] | None = None,
):
    """Clusters from the band entries the scoring stage spilled to files.

    `written` holds one marker per shard whose entries are on disk; the
    first stage waits for all of them. Returns (written, per_shard,
    totals): the component partitions, each once its duplicates/ file is
    written (none for a partition without clusters), (shard, [rows in
    clusters, removed, exact removed]) and (name, count) totals.
    `template`: the dataset's template shingles (a singleton side input) for verify: exact.
    `earlier`: a night's unchanged rows, settled like the reference's (dedup.earlier).
    `few_new_rows`: a night, whose new rows' band keys are few: the reference's entries are spilled only under
    them (NewBandKeysFn), not all of them, and after the shards' own.
    `settled_bands`: shard index -> a file holding exactly that shard's settled rows (`earlier`), whose band
    entries the scoring stage left out: spilled here as the reference's are (under a new row's band key only).
    A bucket holding a new row then has every entry it had, so the pairs are the same.
    """
    p = written.pipeline
    references = references or {}
    templates = {} if template is None else {"template": template}
    ref_totals = []
    banded = {**references, **(settled_bands or {})}
    if banded:
        # In one process, one writer for every file: a file per band partition, not per group and partition.
        groups = (
            p
            | "ReferenceFiles" >> beam.Create(reference_groups(banded, len(banded) if one_worker else REFERENCE_GROUP))
            | "SpreadReferences" >> Spread(one_worker)
        )
        side = []
        if few_new_rows:
            new_keys = (
                p
                | "NewKeyPartitions" >> beam.Create(range(params.partitions))
                | "SpreadNewKeys" >> Spread(one_worker)
                | "NewBandKeys" >> beam.ParDo(NewBandKeysFn(output, earlier), beam.pvalue.AsList(written))
            )
            side = [beam.pvalue.AsDict(new_keys)]
        ref = groups | "ReferenceBands" >> beam.ParDo(ReferenceBandsFn(output, params), *side).with_outputs(
            "totals", main="written"
        )
        written = (written, ref.written) | "AllWritten" >> beam.Flatten()
        ref_totals = [ref.totals]
    parts = p | "BandPartitions" >> beam.Create(range(params.partitions)) | "SpreadBands" >> Spread(one_worker)
    if one_worker:
        cand = parts | "Candidates" >> beam.ParDo(
            CandidatesFn(output, params.partitions, spill_pairs=False, earlier=earlier), beam.pvalue.AsList(written)
        ).with_outputs("pairs", main="totals")
        cand_totals = cand.totals
        accept = cand.pairs | "AllPairs" >> beam.combiners.ToList() | "AcceptAll" >> beam.FlatMap(_accept_all, earlier, output)
    else:
        cand_totals = parts | "Candidates" >> beam.ParDo(
            CandidatesFn(output, params.partitions, earlier=earlier), beam.pvalue.AsList(written)
        )
        accept = (
            p
            | "PairPartitions" >> beam.Create(range(params.partitions))
            | "SpreadPairs" >> Spread(one_worker)
            | "AcceptPairs" >> beam.ParDo(AcceptPairsFn(output, earlier), beam.pvalue.AsList(cand_totals))
        )
    names = {**shard_names, **{i: "reference:" + path for i, path in references.items()}}
    first = (
        p
        | "FirstSegments" >> beam.Create([work_dir(output, "accepted")])
        | "ListFirst" >> beam.FlatMap(spill.partitions_written, beam.pvalue.AsList(accept))
        | "SpreadFirst" >> Spread(one_worker)
        | "AttachFirst" >> beam.ParDo(AttachFirstFn(output, params, references, one_worker), beam.pvalue.AsList(accept))
    )
    verified = (
        p
        | "SecondSegments" >> beam.Create([work_dir(output, "first")])
        | "ListSecond" >> beam.FlatMap(spill.partitions_written, beam.pvalue.AsList(first))
        | "SpreadSecond" >> Spread(one_worker)
        | "Verify"
        >> beam.ParDo(VerifyFn(output, params, references), beam.pvalue.AsList(first), **templates).with_outputs(
            "totals", main="arcs"
        )
    )
    totals = [cand_totals, accept, verified.totals, *ref_totals]
    arcs = verified.arcs
    if one_worker:
        assigned = (
            arcs
            | "AllArcs" >> beam.combiners.ToList()
            | "AssignInMemory" >> beam.FlatMap(_assign_in_memory, params.max_rounds).with_outputs("totals", main="asg")
        )
    else:
        for r in range(params.max_rounds):
            step = "large" if r % 2 == 0 else "small"
            arcs = arcs | f"Group{r}" >> beam.GroupByKey() | f"Star{r}{step}" >> beam.ParDo(StarStepFn(step, params.partitions))
        assigned = (
            arcs | "GroupFinal" >> beam.GroupByKey() | "Assign" >> beam.ParDo(AssignFn()).with_outputs("totals", main="asg")
        )
    totals.append(assigned.totals)
    members = (
        assigned.asg
        | "GroupByNodeSegment" >> beam.GroupByKey()
        | "AttachMembers"
        >> beam.ParDo(
            AttachMembersFn(output, params.partitions, names, references, with_shingles=params.verify == "exact", earlier=earlier)
        )
    )
    chosen = (
        members
        | "GroupByCluster" >> beam.GroupByKey()
        | "ChooseKeep"
        >> beam.ParDo(ChooseKeepFn(params, output), **templates).with_outputs("totals", "per_shard", main="written")
    )
    totals.append(chosen.totals)
    per_shard = chosen.per_shard | "SumPerShard" >> beam.CombinePerKey(_sum_arrays)
    all_totals = tuple(totals) | "AllTotals" >> beam.Flatten() | "SumTotals" >> beam.CombinePerKey(sum)
    return chosen.written, per_shard, all_totals
