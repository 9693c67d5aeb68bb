"""Verification of candidate pairs (winnow.transforms.dedup.verify)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from conftest import dedup_params

from winnow.transforms.dedup.verify import is_similar, similarity


def test_similarity_is_answer_and_prompt_agreement():
    one = dedup_params(8, text="response")
    two = dedup_params(8)
    a = np.arange(16, dtype=np.uint32)[None]
    b = a.copy()
    b[0, :6] += 100  # prompt: 2 of 8 equal
    b[0, 14:] += 100  # answer: 6 of 8 equal
    content, context = similarity(b, a, two)
    assert content[0] == pytest.approx(0.75) and context[0] == pytest.approx(0.25)
    content, context = similarity(a[:, :8], b[:, :8], one)
    assert content[0] == context[0] == pytest.approx(0.25)
    strict = dedup_params(8, verify_threshold=0.35, part_threshold=0.1)
    got = is_similar(np.array([0.35, 0.34, 0.9, 0.9]), np.array([0.1, 0.9, 0.09, 1.0]), strict)
    assert got.tolist() == [True, False, False, True]


def test_rouge_l_from_spilled_sequences_matches_rouge_l_on_texts():
    from winnow.transforms.dedup.signer import _per_part_lists
    from winnow.transforms.dedup.verify import _rouge_l_from_rows
    from winnow.transforms.signals.overlap import rouge_l, rouge_token_ids

    firsts = [("what is a cat", "a cat is a small furry animal"), ("list two rivers", "the nile and the amazon")]
    seconds = [("what is a cat?", "a cat is a small and furry pet animal"), ("name two rivers", "the amazon and the nile")]
    lists_a = _per_part_lists([rouge_token_ids(pa.array([f[k] for f in firsts])) for k in range(2)]).to_pylist()
    # Spilled rows [pair id low word, high word, part, hash], parts interleaved as AttachFirst writes them.
    sides = np.array(
        [[pid, 0, k, h] for pid, parts in zip((7, 9), lists_a, strict=True) for k, seq in enumerate(parts) for h in seq],
        dtype=np.uint32,
    )
    second = _per_part_lists([rouge_token_ids(pa.array([s[k] for s in seconds])) for k in range(2)])
    content, context = _rouge_l_from_rows(np.array([7, 9]), sides[:, 0].astype(np.int64), sides, second, 2)
    expect_content = rouge_l(pa.array([f[1] for f in firsts]), pa.array([s[1] for s in seconds]))
    expect_context = rouge_l(pa.array([f[0] for f in firsts]), pa.array([s[0] for s in seconds]))
    np.testing.assert_allclose(content, expect_content, rtol=1e-6)
    np.testing.assert_allclose(context, expect_context, rtol=1e-6)


@pytest.mark.parametrize("rows", [[0, 1, 2, 3, 4], [3, 0, 4, 1, 2]])
def test_side_cache_finds_each_wanted_row_whether_or_not_the_file_is_in_key_order(tmp_path, rows):
    import pyarrow.parquet as pq

    from winnow.transforms.dedup.params import REFERENCE_BASE
    from winnow.transforms.dedup.sidefiles import SEGMENT_BITS, SideCache
    from winnow.transforms.schema import ROW_BITS

    path = str(tmp_path / "ref.parquet")
    pq.write_table(
        pa.table({"key": pa.array(rows, pa.int64()), "row": pa.array(rows, pa.int64()), "text": [f"r{r}" for r in rows]}), path
    )
    shard = REFERENCE_BASE + 3
    cache = SideCache(str(tmp_path), {shard: path})
    wanted = (np.int64(shard) << ROW_BITS) | np.array([4, 0, 2], np.int64)
    table, idx = cache.rows(shard << (ROW_BITS - SEGMENT_BITS), wanted)
    assert table.column("text").take(pa.array(idx)).to_pylist() == ["r4", "r0", "r2"]
    with pytest.raises(KeyError, match="lack some rows"):
        cache.rows(shard << (ROW_BITS - SEGMENT_BITS), wanted + 10)
