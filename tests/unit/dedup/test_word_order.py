"""Word order in the exact test (dedup.order_threshold): shingle sets first, then ROUGE-L of the rows' words.

Cases built to fool a set test: answers made of the same short phrases
(five words: a tag list, an ingredient list) in another order share most
of their 3-grams, yet an independent judge (word 5-gram Jaccard of the
whole row) says they are different rows. Edited copies must still pass.
"""

from __future__ import annotations

import random
import re

import numpy as np
import pyarrow as pa
from conftest import dedup_params
from dedup_fixtures import SPEC, WORDS, edit

from winnow.transforms.dedup.keep import ExactTest, split_clusters
from winnow.transforms.dedup.shingles import (
    _token_hash_int,
    shingle_hashes,
    shingles_and_tokens,
)
from winnow.transforms.dedup.sidefiles import side_schema
from winnow.transforms.dedup.signer import _per_part_lists
from winnow.transforms.dedup.verify import in_order, row_sequences


def sentences(rng: random.Random, k: int, n: int = 9) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "." for _ in range(k)]


def five_gram_jaccard(a: str, b: str) -> float:
    """The independent judge: exact word 5-gram Jaccard of two texts."""

    def grams(t: str) -> set[tuple[str, ...]]:
        w = re.findall(r"\w+", t.lower())
        return {tuple(w[i : i + 5]) for i in range(max(1, len(w) - 4))}

    x, y = grams(a), grams(b)
    return len(x & y) / len(x | y)


def rows_table(rows: list[tuple[str, str]]) -> tuple[pa.Array, pa.Array]:
    """(shingles, tokens) columns as the side files hold them."""
    both = [shingles_and_tokens(pa.array(list(part)), SPEC, 512) for part in zip(*rows, strict=True)]
    return _per_part_lists([s for s, _ in both]), _per_part_lists([t for _, t in both])


def corpus() -> tuple[list[tuple[str, str]], list[tuple[int, int]], list[tuple[int, int]]]:
    """Rows, pairs that are the same phrases reordered (not duplicates), and edited copies (duplicates)."""
    rng = random.Random(11)
    rows: list[tuple[str, str]] = []
    reordered, copies = [], []
    for _ in range(6):
        prompt = "List the tags of the notes. " + " ".join(sentences(rng, 2))
        phrases = sentences(rng, 16, 5)
        rows.append((prompt, " ".join(phrases)))
        rows.append((prompt, " ".join(rng.sample(phrases, len(phrases)))))
        reordered.append((len(rows) - 2, len(rows) - 1))
        source = " ".join(sentences(rng, 8))
        rows.append((prompt + " Again.", source))
        rows.append((edit(prompt, 0.1, rng) + " Again.", edit(source, 0.1, rng)))
        copies.append((len(rows) - 2, len(rows) - 1))
    return rows, reordered, copies


def test_tokens_are_the_shingle_tokenizers_words_in_order_and_capped():
    texts = pa.array(["Hello, World! hello again", "", "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich"])
    (hashes, offsets), (tokens, token_offsets) = shingles_and_tokens(texts, SPEC, 4)
    ref_hashes, ref_offsets = shingle_hashes(texts, SPEC)
    assert np.array_equal(hashes, ref_hashes) and np.array_equal(offsets, ref_offsets)
    assert token_offsets.tolist() == [0, 4, 4, 8]
    words = ["hello", "world", "hello", "again", "zwölf", "boxkämpfer", "jagen", "viktor"]
    assert tokens.tolist() == [_token_hash_int(w.encode()) >> 32 for w in words]


def test_reordered_rows_pass_the_set_test_but_not_the_order_test():
    rows, reordered, copies = corpus()
    shingles, tokens = rows_table(rows)
    with_order = ExactTest(shingles, tokens, None, dedup_params(32))
    sets_only = ExactTest(shingles, tokens, None, dedup_params(32, order_threshold=0))
    # The reordered rows are not duplicates by the judge; the copies are copies by construction.
    assert all(five_gram_jaccard(" ".join(rows[i]), " ".join(rows[j])) < 0.5 for i, j in reordered)
    for pairs, expected in ((reordered, False), (copies, True)):
        a, b = np.array([i for i, _ in pairs]), np.array([j for _, j in pairs])
        assert with_order(a, b).tolist() == [expected] * len(pairs)
        assert sets_only(a, b).all()  # sets alone merge the reordered rows


def test_clusters_split_reordered_rows_and_keep_copies_together():
    rows, reordered, copies = corpus()
    shingles, tokens = rows_table(rows)
    params = dedup_params(32)
    # One component holding everything: keep-one must split it by the exact test.
    component = np.zeros(len(rows), dtype=np.int64)
    kept_of, _ = split_clusters(
        component, np.zeros((len(rows), 64), np.uint32), params, ExactTest(shingles, tokens, None, params)
    )
    for i, j in reordered:
        assert kept_of[i] != kept_of[j]
    for i, j in copies:
        assert kept_of[i] == kept_of[j]


def test_row_sequences_join_parts_in_order_and_empty_rows_are_in_order():
    lists = pa.array([[[1, 2], [3]], [[], []], [[4], [5, 6]]], pa.list_(pa.list_(pa.uint32())))
    values, offsets = row_sequences(lists.slice(1))
    assert values.tolist() == [4, 5, 6] and offsets.tolist() == [0, 0, 3]
    empty = (np.zeros(0, np.uint32), np.array([0, 0]))
    assert in_order(empty, empty, 0.8).tolist() == [True]
    one = (np.array([7], np.uint32), np.array([0, 1]))
    assert in_order(one, empty, 0.8).tolist() == [False]


def test_exact_side_files_hold_shingles_and_tokens():
    names = side_schema(dedup_params(32)).names
    assert "shingles" in names and "tokens" in names
    assert "tokens" not in side_schema(dedup_params(32, verify="estimate")).names
