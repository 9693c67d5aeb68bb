"""Near-duplicate clusters on Beam: signatures, LSH shuffle, verification,
distributed connected components, and a deterministic keep-one choice.

Data that crosses Beam is always a numpy array or an Arrow batch per
(batch, partition), never one element per row or per band. Signatures are
written once per shard to `signatures/` beside the outputs and read back by
shard when a pair or a cluster member needs them, so no worker holds more
than one shard's signatures and the full signature set is never shuffled.
"""

from __future__ import annotations

import dataclasses

import time
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from typing import Any, Iterator

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms import components as cc
from transforms import lsh, minhash, spill
from transforms.schema import ROW_BITS
from transforms.shingles import ShingleSpec, shingle_hashes

NAMESPACE = "winnow"
# Shard indices from here on name files of an earlier run's exported signatures.
REFERENCE_BASE = 1 << 22
# Parameters that must match for signatures of two runs to be comparable.
COMPATIBLE = ("text", "shingle", "ngram", "char_ngram", "char_mode_share", "num_perm", "seed")
ANSWER_ROLES = ("assistant", "tool_call", "text")

DUPLICATES = pa.schema(
    [
        ("id", pa.string()),
        ("key", pa.int64()),
        ("shard", pa.string()),
        ("row", pa.int64()),
        ("cluster_id", pa.int64()),  # the smallest row key in the cluster
        ("cluster_size", pa.int64()),
        ("keep", pa.bool_()),
        ("kept_id", pa.string()),
        ("similarity", pa.float32()),  # estimated Jaccard to the kept row (of the answer, for prompt_answer)
        ("exact", pa.bool_()),  # same content hash as the kept row
    ]
)


@dataclass(frozen=True)
class DedupParams:
    text: str
    spec: ShingleSpec
    num_perm: int
    seed: int
    threshold: float
    bands: int
    rows: int
    verify: str
    verify_threshold: float
    partitions: int
    max_rounds: int
    keep: tuple[str, ...]
    export_signatures: bool
    part_threshold: float = 0.1
    reference: tuple[str, ...] = ()

    @property
    def parts(self) -> int:
        """Signature parts: prompt and answer are hashed (and must match) separately."""
        return 2 if self.text == "prompt_answer" else 1

    @property
    def width(self) -> int:
        return self.parts * self.num_perm

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "DedupParams":
        d = config["dedup"]
        bands, rows = d["bands"], d["rows"]
        if not bands:
            bands, rows = minhash.optimal_bands(d["threshold"], d["num_perm"])
        verify_threshold = d["verify_threshold"] if d["verify_threshold"] is not None else d["threshold"]
        return cls(
            d["text"], ShingleSpec.from_config(d), d["num_perm"], d["seed"], d["threshold"], bands, rows,
            d["verify"], verify_threshold, d["partitions"], d["max_rounds"], tuple(d["keep"]), d["export_signatures"],
            d["part_threshold"], tuple(d["reference"]),
        )


def _turn_text(batch: pa.RecordBatch, answer: bool) -> pa.Array:
    """Contents of the answer turns (assistant, tool calls, plain text) or of the others, joined."""
    turns = batch.column("turns")
    values = turns.flatten()
    mask = pc.is_in(values.field("role"), value_set=pa.array(ANSWER_ROLES)).to_numpy(zero_copy_only=False)
    if not answer:
        mask = ~mask
    parents = pc.list_parent_indices(turns).to_numpy()
    offsets = np.zeros(len(turns) + 1, dtype=np.int32)
    np.cumsum(np.bincount(parents[mask], minlength=len(turns)), out=offsets[1:])
    contents = values.field("content").filter(pa.array(mask))
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), contents), "\n")


def dedup_texts(batch: pa.RecordBatch, which: str) -> list[pa.Array]:
    """The texts that are shingled, one per signature part.

    prompt_answer: [system + user/tool turns, assistant turns]; two rows are
    near-duplicates only if both parts are similar, so rows that share a
    long template but answer differently are not.
    """
    from transforms.score import conversation_text

    if which == "prompt_answer":
        prompt = _turn_text(batch, answer=False)
        system = batch.column("system")
        prompt = pc.if_else(pc.equal(system, ""), prompt, pc.binary_join_element_wise(system, prompt, "\n"))
        return [prompt, _turn_text(batch, answer=True)]
    if which == "conversation":
        return [conversation_text(batch)]
    return [batch.column(which)]


# Verifiers that need each row's token sequences, and the side-file column holding them.
SEQUENCE_VERIFIERS = {"exact": "shingles", "rouge_l": "tokens"}


def side_schema(params: DedupParams) -> pa.Schema:
    fields = [
        ("key", pa.int64()),
        ("id", pa.string()),
        ("row", pa.int64()),
        ("content_hash", pa.string()),
        ("quality", pa.float64()),
        ("response_chars", pa.int64()),
        ("instruction_chars", pa.int64()),
        ("n_turns", pa.int64()),
        ("signature", pa.binary(4 * params.width)),
    ]
    if params.verify in SEQUENCE_VERIFIERS:
        # Per signature part: the shingle hashes (exact) or the word-token hashes in order (rouge_l).
        fields.append((SEQUENCE_VERIFIERS[params.verify], pa.list_(pa.list_(pa.uint32()))))
    return pa.schema(fields)


def signature_params(params: DedupParams) -> dict[str, Any]:
    """What a later run needs to know to compare its signatures with these."""
    s = params.spec
    return {
        "text": params.text, "shingle": s.mode, "ngram": s.word_n, "char_ngram": s.char_n,
        "char_mode_share": s.spaceless_share, "num_perm": params.num_perm, "seed": params.seed,
    }


def write_signature_params(output: str, params: DedupParams) -> None:
    import json

    with FileSystems.create(FileSystems.join(output, "signatures", "params.json")) as f:
        f.write(json.dumps(signature_params(params), indent=2).encode())


def reference_files(params: DedupParams) -> dict[int, str]:
    """Shard indices for the signature files of `dedup.reference`, checked for compatibility."""
    import json

    from transforms.config import ConfigError

    files: list[str] = []
    mine = signature_params(params)
    for ref in params.reference:
        base = ref[: -len("params.json")] if ref.endswith("params.json") else ref
        try:
            with FileSystems.open(FileSystems.join(base, "params.json")) as f:
                theirs = json.loads(f.read())
        except Exception as e:  # noqa: BLE001
            raise ConfigError(
                f"config key dedup.reference: {base} has no params.json; give the signatures/ directory of a run "
                f"made with dedup.export_signatures: true ({e})"
            ) from e
        diff = {k: (theirs.get(k), mine[k]) for k in COMPATIBLE if theirs.get(k) != mine[k]}
        if diff:
            raise ConfigError(
                f"config key dedup.reference: signatures in {base} were made with other settings "
                f"({', '.join(f'{k}: {a!r} there, {b!r} here' for k, (a, b) in diff.items())}); use the same dedup settings"
            )
        found = sorted(m.path for m in FileSystems.match([FileSystems.join(base, "s*.parquet")])[0].metadata_list)
        if not found:
            raise ConfigError(f"config key dedup.reference: no signature files (s*.parquet) in {base}")
        files.extend(found)
    return {REFERENCE_BASE + i: path for i, path in enumerate(files)}


# The near-duplicate stages after LSH work per segment: 2**SEGMENT_BITS
# consecutive rows of one shard. A segment's side rows are what a task loads
# at once, so one huge input file does not become one huge task.
SEGMENT_BITS = 16
_BLOCK_BITS = ROW_BITS - SEGMENT_BITS


def segment_of(keys: np.ndarray) -> np.ndarray:
    """The segment of each row key: (shard << 24) | (row >> 16)."""
    return keys >> SEGMENT_BITS


def side_path(output: str, segment: int, part: int = 0) -> str:
    """The side file of one segment's rows written by one input part (a segment may span parts)."""
    shard, block = segment >> _BLOCK_BITS, segment & ((1 << _BLOCK_BITS) - 1)
    return FileSystems.join(output, "signatures", f"s{shard:06d}-b{block:08d}-{part:05d}.parquet")


def segment_side_paths(output: str, segment: int) -> list[str]:
    shard, block = segment >> _BLOCK_BITS, segment & ((1 << _BLOCK_BITS) - 1)
    pattern = FileSystems.join(output, "signatures", f"s{shard:06d}-b{block:08d}-*.parquet")
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


class Signer:
    """Per batch: shingles, signatures, band entries, and the side-file rows."""

    def __init__(self, params: DedupParams):
        self.params = params
        self.schema = side_schema(params)
        self.timings: dict[str, float] = defaultdict(float)

    def sign(self, batch: pa.RecordBatch, scored: pa.RecordBatch) -> tuple[pa.RecordBatch, dict[int, np.ndarray], np.ndarray]:
        """(side-file batch, band entries per partition, shingle hashes).

        `batch` is the canonical batch (its text), `scored` the same rows with signals.
        """
        p = self.params
        t = time.perf_counter()
        shingled = [shingle_hashes(text, p.spec) for text in dedup_texts(batch, p.text)]
        t1 = time.perf_counter()
        sigs = np.concatenate([minhash.signatures(h, o, p.num_perm, p.seed) for h, o in shingled], axis=1)
        t2 = time.perf_counter()
        keys = scored.column("key").to_numpy()
        exact = lsh.content_keys(scored.column("content_hash"))
        if p.parts == 2:
            # LSH on the whole conversation: MinHash of a union is the element-wise minimum.
            prompt, answer = sigs[:, : p.num_perm], sigs[:, p.num_perm :]
            entries = lsh.band_entries(keys, np.minimum(prompt, answer), exact, p.bands, p.rows, p.partitions, answer)
        else:
            entries = lsh.band_entries(keys, sigs, exact, p.bands, p.rows, p.partitions)
        t3 = time.perf_counter()
        cols = {
            "key": scored.column("key"),
            "id": scored.column("id"),
            "row": scored.column("row"),
            "content_hash": scored.column("content_hash"),
            "quality": scored.column("quality") if "quality" in scored.schema.names else pa.nulls(scored.num_rows, pa.float64()),
            "response_chars": scored.column("response_chars"),
            "instruction_chars": scored.column("instruction_chars"),
            "n_turns": scored.column("n_turns").cast(pa.int64()),
            "signature": pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(4 * p.width), scored.num_rows, [None, pa.py_buffer(sigs.astype("<u4").tobytes())]
            ),
        }
        if p.verify == "exact":
            cols["shingles"] = _per_part_lists(shingled)
        elif p.verify == "rouge_l":
            from transforms.overlap import rouge_token_ids

            cols["tokens"] = _per_part_lists([rouge_token_ids(text) for text in dedup_texts(batch, p.text)])
        side = pa.RecordBatch.from_arrays([cols[f.name] for f in self.schema], schema=self.schema)
        self.timings["shingles"] += t1 - t
        self.timings["minhash"] += t2 - t1
        self.timings["lsh bands"] += t3 - t2
        return side, entries, np.concatenate([h for h, _ in shingled])


def _per_part_lists(parts: list[tuple[np.ndarray, np.ndarray]]) -> pa.ListArray:
    """One list per row holding each part's uint32 list (given hashes and row offsets per part)."""
    n, k = len(parts[0][1]) - 1, len(parts)
    lengths = [np.diff(o) for _, o in parts]
    # Each value's slot is row * k + part; a stable sort interleaves the parts row by row, order kept.
    slots = np.concatenate([np.repeat(np.arange(n) * k + j, lengths[j]) for j in range(k)])
    values = np.concatenate([h[o[0]:o[-1]] for h, o in parts])[np.argsort(slots, kind="stable")]
    per_slot = np.stack(lengths, axis=1).ravel()
    inner = pa.ListArray.from_arrays(pa.array(np.concatenate(([0], np.cumsum(per_slot))).astype(np.int32)),
                                     pa.array(values.astype(np.uint32), pa.uint32()))
    return pa.ListArray.from_arrays(pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)), inner)


class SideFileWriter:
    """Streams one part's signatures to a file that readers see only once it is whole.

    Local files go through a temp name renamed on close; an object store's
    upload is all-or-nothing already, so remote files are written in place.
    """

    def __init__(self, path: str, schema: pa.Schema):
        self.path = path
        self.tmp = path if "://" in path else path + ".tmp"
        self._stream = FileSystems.create(self.tmp)
        self._writer = pq.ParquetWriter(self._stream, schema, compression="zstd")

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self._writer.write_batch(batch)

    def close(self) -> None:
        self._writer.close()
        self._stream.close()
        if self.tmp == self.path:
            return
        if FileSystems.exists(self.path):
            FileSystems.delete([self.path])
        FileSystems.rename([self.tmp], [self.path])


class SegmentSideFiles:
    """The side rows of one input part, one file per segment they fall in."""

    def __init__(self, output: str, part: int, schema: pa.Schema):
        self.output, self.part, self.schema = output, part, schema
        self._writers: dict[int, SideFileWriter] = {}

    def write(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        segments = segment_of(batch.column("key").to_numpy())
        for seg in np.unique(segments):
            writer = self._writers.get(int(seg))
            if writer is None:
                writer = self._writers[int(seg)] = SideFileWriter(side_path(self.output, int(seg), self.part), self.schema)
            writer.write(batch.filter(pa.array(segments == seg)))

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()


def read_side(path: str, shard_index: int) -> pa.Table:
    """A side file; rows of a reference file get keys in this run's reference shard."""
    with FileSystems.open(path) as f:
        table = pq.read_table(f)
    if shard_index >= REFERENCE_BASE:
        keys = (np.int64(shard_index) << ROW_BITS) | table.column("row").to_numpy()
        table = table.set_column(table.schema.get_field_index("key"), "key", pa.array(keys, pa.int64()))
    return table


class _SideCache:
    """The last few segments' side rows, sorted by key for searchsorted look-ups."""

    def __init__(self, output: str, references: dict[int, str] | None = None, size: int = 2):
        self.output = output
        self.references = references or {}
        self.size = size
        self._cache: OrderedDict[int, tuple[np.ndarray, pa.Table]] = OrderedDict()

    def get(self, segment: int) -> tuple[np.ndarray, pa.Table]:
        if segment in self._cache:
            self._cache.move_to_end(segment)
            return self._cache[segment]
        shard = segment >> _BLOCK_BITS
        ref = self.references.get(shard)
        if ref:
            table = read_side(ref, shard)
            table = table.filter(pa.array(segment_of(table.column("key").to_numpy()) == segment))
        else:
            paths = segment_side_paths(self.output, segment)
            if not paths:
                raise KeyError(f"no signature files for segment {segment} (shard {shard}) in {self.output}/signatures")
            table = pa.concat_tables([read_side(path, shard) for path in paths])
        keys = table.column("key").to_numpy()
        order = np.argsort(keys, kind="stable")
        table, keys = table.take(pa.array(order)), keys[order]
        self._cache[segment] = (keys, table)
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return keys, table

    def rows(self, segment: int, wanted: np.ndarray) -> tuple[pa.Table, np.ndarray]:
        keys, table = self.get(segment)
        idx = np.searchsorted(keys, wanted)
        if len(wanted) and (idx.max() >= len(keys) or not (keys[idx] == wanted).all()):
            raise KeyError(f"signatures of segment {segment} lack some rows; was an input rewritten during the run?")
        return table, idx


def _sigs(table: pa.Table, idx: np.ndarray, width: int) -> np.ndarray:
    col = table.column("signature").combine_chunks()
    raw = np.frombuffer(col.buffers()[1], dtype="<u4")[col.offset * width : (col.offset + len(col)) * width]
    return raw.reshape(-1, width)[idx]


def _split(keys_for_split: np.ndarray, arrays: list[np.ndarray]) -> Iterator[tuple[int, list[np.ndarray]]]:
    """Group rows of several aligned arrays by a key array."""
    order = np.argsort(keys_for_split, kind="stable")
    sorted_keys = keys_for_split[order]
    bounds = np.flatnonzero(np.diff(sorted_keys)) + 1
    for chunk in np.split(np.arange(len(order)), bounds):
        if len(chunk):
            sel = order[chunk]
            yield int(sorted_keys[chunk[0]]), [a[sel] for a in arrays]


def work_dir(output: str, name: str) -> str:
    """Intermediate files of the near-duplicate stages, removed after the run."""
    return FileSystems.join(output, "_work", name)


class CandidatesFn(beam.DoFn):
    """One band partition: read its entries, find candidate pairs, spill them by pair partition.

    The side input only orders this stage after every shard has written its entries.
    """

    def __init__(self, output: str, partitions: int):
        self._output, self._partitions = output, partitions

    def process(self, part: int, _written: Any) -> Iterator[Any]:
        entries = spill.read_partition(work_dir(self._output, "bands"), part, 4)
        pairs = lsh.candidate_pairs(entries)
        Metrics.counter(NAMESPACE, "dedup_candidate_pairs").inc(len(pairs))
        writer = spill.SpillWriter(work_dir(self._output, "pairs"), f"b{part:05d}")
        for q, (p,) in _split(lsh.pair_partition(pairs, self._partitions), [pairs]):
            writer.add(q, p)
        writer.flush()
        yield ("candidate_pairs", len(pairs))


class ReferenceBandsFn(beam.DoFn):
    """Band entries of an earlier run's exported signatures, spilled like a shard's own."""

    def __init__(self, output: str, params: DedupParams):
        self._output, self._params = output, params

    def process(self, element: tuple[int, str]) -> Iterator[Any]:
        index, path = element
        p = self._params
        table = read_side(path, index)
        writer = spill.SpillWriter(work_dir(self._output, "bands"), f"r{index:07d}")
        for batch in table.to_batches(max_chunksize=8192):
            sigs = _sigs(pa.Table.from_batches([batch]), np.arange(batch.num_rows), p.width)
            keys = batch.column("key").to_numpy()
            exact = lsh.content_keys(batch.column("content_hash"))
            if p.parts == 2:
                answer = sigs[:, p.num_perm :]
                entries = lsh.band_entries(keys, np.minimum(sigs[:, : p.num_perm], answer), exact, p.bands, p.rows, p.partitions, answer)
            else:
                entries = lsh.band_entries(keys, sigs, exact, p.bands, p.rows, p.partitions)
            for part, arr in entries.items():
                writer.add(part, arr)
        writer.flush()
        yield beam.pvalue.TaggedOutput("totals", ("reference_rows", table.num_rows))
        yield index


class AcceptPairsFn(beam.DoFn):
    """Every band's copy of a pair meets here: one pair to verify, with the union of its evidence."""

    def __init__(self, output: str):
        self._output = output

    def process(self, part: int, _written: Any) -> Iterator[Any]:
        pairs = spill.read_partition(work_dir(self._output, "pairs"), part, 3).astype(np.int64)
        pairs = lsh.merge_pairs(pairs)
        # Pairs inside the reference corpus were settled by the run that made it.
        pairs = pairs[pairs[:, 0] < (np.int64(REFERENCE_BASE) << ROW_BITS)]
        writer = spill.SpillWriter(work_dir(self._output, "accepted"), f"q{part:05d}")
        for seg, (p,) in _split(segment_of(pairs[:, 0]), [pairs]):
            writer.add(seg, p)
        writer.flush()
        yield ("accepted_pairs", len(pairs))


class AttachFirstFn(beam.DoFn):
    """Pairs whose first row is in this segment: spill them by the second row's segment,
    with the first rows' signatures (or token lists), once per first row and destination."""

    def __init__(self, output: str, params: DedupParams, references: dict[int, str] | None = None):
        self._output, self._params, self._references = output, params, references or {}

    def setup(self) -> None:
        self._side = _SideCache(self._output, self._references)

    def process(self, segment: int, _written: Any) -> Iterator[Any]:
        pairs = spill.read_partition(work_dir(self._output, "accepted"), segment, 3).astype(np.int64)
        if len(pairs) == 0:
            return
        out_pairs = spill.SpillWriter(work_dir(self._output, "first"), f"g{segment:012d}")
        out_sides = spill.SpillWriter(work_dir(self._output, "first_side"), f"g{segment:012d}")
        for dest, (p,) in _split(segment_of(pairs[:, 1]), [pairs]):
            out_pairs.add(dest, p)
            firsts = np.unique(p[:, 0])
            table, idx = self._side.rows(segment, firsts)
            key_words = firsts.astype(np.uint64).view(np.uint32).reshape(-1, 2)
            if self._params.verify in SEQUENCE_VERIFIERS:
                lists = table.column(SEQUENCE_VERIFIERS[self._params.verify]).take(pa.array(idx)).combine_chunks()
                for k in range(self._params.parts):
                    part_lists = pc.list_element(lists, k)
                    lengths = pc.list_value_length(part_lists).to_numpy(zero_copy_only=False)
                    values = pc.list_flatten(part_lists).to_numpy(zero_copy_only=False).astype(np.uint32)
                    owner = np.repeat(np.arange(len(firsts)), lengths)
                    out_sides.add(dest, np.column_stack([key_words[owner], np.full(len(owner), k, np.uint32), values]))
            else:
                out_sides.add(dest, np.column_stack([key_words, _sigs(table, idx, self._params.width)]))
        out_pairs.flush()
        out_sides.flush()
        yield segment


def similarity(a: np.ndarray, b: np.ndarray, params: DedupParams) -> tuple[np.ndarray, np.ndarray]:
    """(similarity of the content, similarity of its context), estimated Jaccard row by row.

    prompt_answer: the content is the answer and the context the prompt, so
    rows that share a template prompt but answer differently score low, and
    a stock answer ("Yes") to different prompts is caught by the context.
    Other modes: one text, returned twice.
    """
    if params.parts == 1:
        sim = minhash.estimated_jaccard(a, b)
        return sim, sim
    n = params.num_perm
    return minhash.estimated_jaccard(a[:, n:], b[:, n:]), minhash.estimated_jaccard(a[:, :n], b[:, :n])


def is_similar(content: np.ndarray, context: np.ndarray, params: DedupParams) -> np.ndarray:
    """The duplicate test: content reaches verify_threshold and context part_threshold."""
    return (content >= params.verify_threshold) & (context >= params.part_threshold)


def _jaccard(x: set, y: set) -> float:
    return len(x & y) / len(x | y) if (x or y) else 1.0


class VerifyFn(beam.DoFn):
    """Pairs whose second row is in this segment: keep those that pass the duplicate test
    (exact copies always) and emit them as graph arcs keyed by node partition."""

    def __init__(self, output: str, params: DedupParams, references: dict[int, str] | None = None):
        self._output, self._params, self._references = output, params, references or {}

    def setup(self) -> None:
        self._side = _SideCache(self._output, self._references)

    def process(self, segment: int, _written: Any) -> Iterator[Any]:
        p = self._params
        pairs = spill.read_partition(work_dir(self._output, "first"), segment, 3).astype(np.int64)
        if len(pairs) == 0:
            return
        table, idx = self._side.rows(segment, pairs[:, 1])
        width = 4 if p.verify in SEQUENCE_VERIFIERS else p.width + 2
        sides = spill.read_partition(work_dir(self._output, "first_side"), segment, width).astype(np.uint32)
        side_keys = np.ascontiguousarray(sides[:, :2]).view(np.uint64).ravel().astype(np.int64)
        if p.verify == "exact":
            content, context = _exact_from_rows(pairs[:, 0], side_keys, sides, table.column("shingles").take(pa.array(idx)), p.parts)
            ok = is_similar(content, context, p)
        elif p.verify == "rouge_l":
            content, context = _rouge_l_from_rows(pairs[:, 0], side_keys, sides, table.column("tokens").take(pa.array(idx)), p.parts)
            ok = is_similar(content, context, p)
        elif p.verify == "estimate":
            # A first row is spilled once per destination, possibly by several writers: any copy will do.
            order = np.argsort(side_keys, kind="stable")
            pos = order[np.searchsorted(side_keys, pairs[:, 0], sorter=order)]
            ok = is_similar(*similarity(sides[pos, 2:], _sigs(table, idx, p.width), p), p)
        else:
            ok = np.ones(len(pairs), dtype=bool)
        ok |= (pairs[:, 2] & lsh.EXACT) != 0
        Metrics.counter(NAMESPACE, "dedup_verified_pairs").inc(int(ok.sum()))
        yield beam.pvalue.TaggedOutput("totals", ("verified_pairs", int(ok.sum())))
        yield beam.pvalue.TaggedOutput("totals", ("rejected_pairs", int((~ok).sum())))
        for part, arcs in cc.split_by_partition(cc.symmetric(pairs[ok, :2]), p.partitions).items():
            yield part, arcs


def _exact_from_rows(pair_ids, side_ids, sides, second: pa.Array, parts: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact Jaccard (content, context) from the first rows' spilled shingles
    [key, part, hash] and the second rows' shingle lists."""
    first: dict[int, list[set]] = {}
    for pid, k, h in zip(side_ids.tolist(), sides[:, 2].tolist(), sides[:, 3].tolist()):
        first.setdefault(pid, [set() for _ in range(parts)])[k].add(h)
    content = np.zeros(len(pair_ids), dtype=np.float32)
    context = np.zeros(len(pair_ids), dtype=np.float32)
    for i, (pid, lists) in enumerate(zip(pair_ids.tolist(), second.to_pylist())):
        a_sets = first.get(pid, [set() for _ in range(parts)])
        b_sets = [set(x or ()) for x in lists]
        content[i] = _jaccard(a_sets[-1], b_sets[-1])
        context[i] = _jaccard(a_sets[0], b_sets[0])
    return content, context


def _rouge_l_from_rows(pair_ids, side_ids, sides, second: pa.Array, parts: int) -> tuple[np.ndarray, np.ndarray]:
    """ROUGE-L F (content, context) from the first rows' spilled token sequences
    [key, part, hash] (in text order) and the second rows' token lists."""
    from transforms.overlap import rouge_l_sequences

    order = np.lexsort((np.arange(len(sides)), sides[:, 2], side_ids))  # by pair, then part; text order kept
    ids, part, tok = side_ids[order], sides[order, 2].astype(np.int64), sides[order, 3].astype(np.int64)
    second = second.combine_chunks() if isinstance(second, pa.ChunkedArray) else second
    out = []
    for k in (parts - 1, 0):  # content is the last part (the answer), context the first
        sel = part == k
        a_ids, a_tok = ids[sel], tok[sel]
        lo = np.searchsorted(a_ids, pair_ids, side="left")
        hi = np.searchsorted(a_ids, pair_ids, side="right")
        a_off = np.concatenate(([0], np.cumsum(hi - lo)))
        a_seq = a_tok[np.repeat(lo - a_off[:-1], hi - lo) + np.arange(a_off[-1])]
        b_lists = pc.list_element(second, k)
        b_off = np.asarray(b_lists.offsets, dtype=np.int64)
        b_seq = np.asarray(b_lists.values, dtype=np.int64)[b_off[0]:b_off[-1]]
        out.append(rouge_l_sequences(a_seq, a_off, b_seq, b_off - b_off[0]).astype(np.float32))
    return out[0], out[1]


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


class AttachMembersFn(beam.DoFn):
    """Attach id, keep attributes, signature and content hash; key by component partition."""

    def __init__(self, output: str, partitions: int, shard_names: dict[int, str], references: dict[int, str] | None = None):
        self._output, self._partitions, self._names, self._references = output, partitions, shard_names, references or {}

    def setup(self) -> None:
        self._side = _SideCache(self._output, self._references)

    def process(self, element: tuple[int, list[np.ndarray]]) -> Iterator[tuple[int, pa.RecordBatch]]:
        segment, chunks = element
        shard = segment >> _BLOCK_BITS
        asg = np.concatenate(list(chunks))
        table, idx = self._side.rows(segment, asg[:, 0])
        rows = table.take(pa.array(idx))
        batch = pa.RecordBatch.from_pydict(
            {
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
            }
        )
        part = cc.partition_of(asg[:, 1], self._partitions)
        for p in np.unique(part):
            yield int(p), batch.filter(pa.array(part == p))


def keep_order(keep: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """Arrow sort keys: component first, rows of a reference corpus before new
    rows, then the keep rule, then key (a total order).

    Nulls (no quality model) sort last whatever the direction.
    """
    keys = [("component", "ascending", "at_end"), ("is_reference", "descending", "at_end")]
    for spec in keep:
        name = spec.lstrip("-+")
        keys.append((name, "descending" if spec.startswith("-") else "ascending", "at_end"))
    keys.append(("key", "ascending", "at_end"))
    return keys


def split_clusters(component: np.ndarray, sig: np.ndarray, params: DedupParams) -> tuple[np.ndarray, np.ndarray]:
    """Split connected components so every member is similar to its cluster's kept row.

    Rows arrive sorted by component, then by the keep rule. Within a
    component, the first unassigned row becomes a kept row and takes every
    unassigned row that passes the duplicate test (`is_similar`) against
    it; repeat. With verify: none every member joins the first row. Chains (A~B, B~C, A!~C) thus never merge dissimilar rows.
    The test here is on MinHash estimates; with verify: rouge_l (whose
    verify_threshold is on the ROUGE-L scale) the content must reach the
    Jaccard `threshold` of the LSH instead.
    Returns (index of each row's kept row, is-kept flag).
    """
    if params.verify == "rouge_l":
        params = dataclasses.replace(params, verify_threshold=params.threshold)
    n = len(component)
    kept_of = np.full(n, -1, dtype=np.int64)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(component)) + 1, [n]))
    for lo, hi in zip(starts[:-1], starts[1:]):
        free = np.arange(lo, hi)
        while len(free):
            centre = free[0]
            if params.verify == "none":
                take = np.ones(len(free), dtype=bool)
            else:
                take = is_similar(*similarity(sig[free], np.broadcast_to(sig[centre], sig[free].shape), params), params)
            take[0] = True
            kept_of[free[take]] = centre
            free = free[~take]
    return kept_of, kept_of == np.arange(n)


class ChooseKeepFn(beam.DoFn):
    """Per cluster: the row to keep by the keep rule; every member with its similarity to it."""

    def __init__(self, params: DedupParams):
        self._params = params

    def process(self, element: tuple[int, list[pa.RecordBatch]]) -> Iterator[Any]:
        _, batches = element
        table = pa.Table.from_batches(list(batches))
        table = table.sort_by(keep_order(self._params.keep))
        sig = _sigs(table, np.arange(table.num_rows), self._params.width)
        ch = table.column("content_hash").combine_chunks()
        kept_idx, is_kept = split_clusters(table.column("component").to_numpy(), sig, self._params)
        exact = pc.equal(ch, ch.take(pa.array(kept_idx))).to_numpy(zero_copy_only=False)
        sizes = np.bincount(kept_idx, minlength=table.num_rows)
        reference = table.column("is_reference").to_numpy(zero_copy_only=False)
        # Reference rows make clusters (and are kept first) but are not this run's rows.
        in_cluster = (sizes[kept_idx] >= 2) & ~reference
        keys = table.column("key").to_numpy()
        cluster_id = np.full(table.num_rows, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(cluster_id, kept_idx, keys)
        sel = np.flatnonzero(in_cluster)
        sim_to_kept = similarity(sig[sel], sig[kept_idx[sel]], self._params)[0].astype(np.float32)
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
        yield out
        yield beam.pvalue.TaggedOutput("totals", ("clusters", int(len(np.unique(kept_idx[in_cluster])))))
        yield beam.pvalue.TaggedOutput("totals", ("matched_reference", int((in_cluster & reference[kept_idx]).sum())))
        yield beam.pvalue.TaggedOutput("totals", ("split_off_rows", int((~in_cluster & ~reference).sum())))
        shards = out.column("shard").to_numpy(zero_copy_only=False)
        removed = ~out.column("keep").to_numpy(zero_copy_only=False)
        exact_out = exact[sel]
        for name in np.unique(shards):
            m = shards == name
            counts = np.array([m.sum(), (m & removed).sum(), (m & removed & exact_out).sum()], dtype=np.int64)
            yield beam.pvalue.TaggedOutput("per_shard", (str(name), counts))


def _sum_arrays(arrays) -> np.ndarray:
    out = None
    for a in arrays:
        out = a.copy() if out is None else out + a
    return out if out is not None else np.zeros(3, dtype=np.int64)


@beam.ptransform_fn
def NearDuplicates(  # noqa: N802 - Beam style
    written, params: DedupParams, output: str, shard_names: dict[int, str], references: dict[int, str] | None = None
):
    """Clusters from the band entries the scoring stage spilled to files.

    `written` holds one marker per shard whose entries are on disk; the
    first stage waits for all of them. Returns (duplicates, per_shard,
    totals): record batches of duplicates/*.parquet, (shard, [rows in
    clusters, removed, exact removed]) and (name, count) totals.
    """
    p = written.pipeline
    references = references or {}
    ref_totals = []
    if references:
        ref = (
            p
            | "ReferenceFiles" >> beam.Create(sorted(references.items()))
            | "SpreadReferences" >> beam.Reshuffle()
            | "ReferenceBands" >> beam.ParDo(ReferenceBandsFn(output, params)).with_outputs("totals", main="written")
        )
        written = (written, ref.written) | "AllWritten" >> beam.Flatten()
        ref_totals = [ref.totals]
    parts = p | "BandPartitions" >> beam.Create(range(params.partitions)) | "SpreadBands" >> beam.Reshuffle()
    cand_totals = parts | "Candidates" >> beam.ParDo(CandidatesFn(output, params.partitions), beam.pvalue.AsList(written))
    accept = (
        p
        | "PairPartitions" >> beam.Create(range(params.partitions))
        | "SpreadPairs" >> beam.Reshuffle()
        | "AcceptPairs" >> beam.ParDo(AcceptPairsFn(output), beam.pvalue.AsList(cand_totals))
    )
    names = {**shard_names, **{i: "reference:" + path for i, path in references.items()}}
    first = (
        p
        | "FirstSegments" >> beam.Create([work_dir(output, "accepted")])
        | "ListFirst" >> beam.FlatMap(spill.partitions_written, beam.pvalue.AsList(accept))
        | "SpreadFirst" >> beam.Reshuffle()
        | "AttachFirst" >> beam.ParDo(AttachFirstFn(output, params, references), beam.pvalue.AsList(accept))
    )
    verified = (
        p
        | "SecondSegments" >> beam.Create([work_dir(output, "first")])
        | "ListSecond" >> beam.FlatMap(spill.partitions_written, beam.pvalue.AsList(first))
        | "SpreadSecond" >> beam.Reshuffle()
        | "Verify" >> beam.ParDo(VerifyFn(output, params, references), beam.pvalue.AsList(first)).with_outputs("totals", main="arcs")
    )
    totals = [cand_totals, accept, verified.totals, *ref_totals]
    arcs = verified.arcs
    for r in range(params.max_rounds):
        step = "large" if r % 2 == 0 else "small"
        arcs = arcs | f"Group{r}" >> beam.GroupByKey() | f"Star{r}{step}" >> beam.ParDo(StarStepFn(step, params.partitions))
    assigned = arcs | "GroupFinal" >> beam.GroupByKey() | "Assign" >> beam.ParDo(AssignFn()).with_outputs("totals", main="asg")
    totals.append(assigned.totals)
    members = (
        assigned.asg
        | "GroupByNodeSegment" >> beam.GroupByKey()
        | "AttachMembers" >> beam.ParDo(AttachMembersFn(output, params.partitions, names, references))
    )
    chosen = (
        members
        | "GroupByCluster" >> beam.GroupByKey()
        | "ChooseKeep" >> beam.ParDo(ChooseKeepFn(params)).with_outputs("totals", "per_shard", main="duplicates")
    )
    totals.append(chosen.totals)
    per_shard = chosen.per_shard | "SumPerShard" >> beam.CombinePerKey(_sum_arrays)
    all_totals = tuple(totals) | "AllTotals" >> beam.Flatten() | "SumTotals" >> beam.CombinePerKey(sum)
    return chosen.duplicates, per_shard, all_totals
