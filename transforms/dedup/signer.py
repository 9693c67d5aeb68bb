"""Sign a batch: shingles, MinHash signatures, LSH band entries and side-file rows."""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import pyarrow as pa

from winnow.transforms.dedup import lsh, minhash
from winnow.transforms.dedup.params import DedupParams
from winnow.transforms.dedup.shingles import shingle_hashes, shingles_and_tokens
from winnow.transforms.dedup.sidefiles import side_schema
from winnow.transforms.dedup.templates import ShingleRowCounter
from winnow.transforms.signals.overlap import ROUGE_MAX_TOKENS, rouge_token_ids
from winnow.transforms.textviews import text_parts, texts_of


def band_entries_of(keys: np.ndarray, sigs: np.ndarray, exact: np.ndarray, p: DedupParams) -> dict[int, np.ndarray]:
    """Band entries per partition for rows' signatures (all parts side by side).

    In prompt_answer mode the bands come from the whole conversation: the
    MinHash of a union is the element-wise minimum of the parts' MinHashes.
    """
    if p.parts == 2:
        prompt, answer = sigs[:, : p.num_perm], sigs[:, p.num_perm :]
        return lsh.band_entries(keys, np.minimum(prompt, answer), exact, p.bands, p.rows, p.partitions, answer)
    return lsh.band_entries(keys, sigs, exact, p.bands, p.rows, p.partitions)


class Signer:
    """Per batch: shingles, signatures, band entries, and the side-file rows."""

    def __init__(self, params: DedupParams):
        self.params = params
        self.schema = side_schema(params)
        self.timings: dict[str, float] = defaultdict(float)

    def sign(
        self,
        batch: pa.RecordBatch,
        scored: pa.RecordBatch,
        text: str | None = None,
        shingle_rows: ShingleRowCounter | None = None,
    ) -> tuple[pa.RecordBatch, dict[int, np.ndarray], np.ndarray]:
        """(side-file batch, band entries per partition, shingle hashes).

        `batch` is the canonical batch (its text), `scored` the same rows with
        signals. `text`: the rows' text mode when their source sets its own
        dedup.text (config `sources`); it has as many parts as params.text, so
        that every row's signature compares with every other's. `shingle_rows`
        counts the rows each shingle is in (to find templates: dedup.templates).
        """
        p = self.params
        text = text or p.text
        if text_parts(text) != p.parts:
            raise ValueError(f"dedup text {text!r} has {text_parts(text)} part(s), the run's {p.text!r} {p.parts}")
        t = time.perf_counter()
        texts = texts_of(batch, text)
        if p.verify == "exact":
            both = [shingles_and_tokens(text, p.spec, ROUGE_MAX_TOKENS) for text in texts]
            shingled, ordered = [s for s, _ in both], [o for _, o in both]
        else:
            shingled = [shingle_hashes(text, p.spec) for text in texts]
        if shingle_rows is not None:
            shingle_rows.add(shingled)
        t1 = time.perf_counter()
        sigs = np.concatenate([minhash.signatures(h, o, p.num_perm, p.seed) for h, o in shingled], axis=1)
        t2 = time.perf_counter()
        keys = scored.column("key").to_numpy()
        exact = lsh.content_keys(scored.column("content_hash"))
        entries = band_entries_of(keys, sigs, exact, p)
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
            cols["tokens"] = _per_part_lists(ordered)
        elif p.verify == "rouge_l":
            cols["tokens"] = _per_part_lists([rouge_token_ids(text) for text in texts])
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
    values = np.concatenate([h[o[0] : o[-1]] for h, o in parts])[np.argsort(slots, kind="stable")]
    per_slot = np.stack(lengths, axis=1).ravel()
    inner = pa.ListArray.from_arrays(
        pa.array(np.concatenate(([0], np.cumsum(per_slot))).astype(np.int32)), pa.array(values.astype(np.uint32), pa.uint32())
    )
    return pa.ListArray.from_arrays(pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)), inner)
