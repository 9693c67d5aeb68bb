"""Template-aware exact verification (winnow.transforms.dedup.templates, verify.is_duplicate).

Rows filled into one template with different fills, and stock answers to
different prompts, must not be duplicates; edited copies must.
"""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
from conftest import dedup_params
from dedup_fixtures import SPEC, WORDS, edit, sentence

from winnow.transforms.dedup.shingles import shingle_hashes
from winnow.transforms.dedup.templates import (
    PartShingles,
    ShingleRowCounter,
    dataset_template,
    jaccard_by_pair,
    local_min_rows,
    merge_counts,
    pair_similarity,
    rows_per_shingle,
    template_rows,
)
from winnow.transforms.dedup.verify import is_duplicate

TOOL = (
    "You can call the ledger tool, which looks up an account balance by its number and returns the amount in cents. "
    "Call it only when the question needs a balance, and answer in one sentence."
)


def corpus() -> list[tuple[str, str]]:
    """Templated rows (the tool text, different questions and answers), stock-answer rows, short identity rows."""
    rng = random.Random(5)
    rows = [(f"{TOOL}\nQuestion: {sentence(rng, 8)}", sentence(rng, 14)) for _ in range(40)]
    rows += [(f"Is this note glad or sad? Note: {sentence(rng, 16)}", "glad") for _ in range(40)]
    rows += [(f"Were you built by {w}?", "No, I was built by the lantern lab team.") for w in WORDS[:20]]
    return rows


def shingles_of(rows: list[tuple[str, str]]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [shingle_hashes(pa.array(list(part)), SPEC) for part in zip(*rows, strict=True)]


def parts_for(rows: list[tuple[str, str]], picks: list[int]) -> list[PartShingles]:
    out = []
    for hashes, offsets in shingles_of(rows):
        lengths = np.diff(offsets)[picks]
        values = np.concatenate([hashes[offsets[i] : offsets[i + 1]] for i in picks])
        out.append(PartShingles(np.repeat(np.arange(len(picks)), lengths), values.astype(np.uint32)))
    return out


def duplicates(rows: list[tuple[str, str]], pairs: list[tuple[int, int]], template: np.ndarray, **dedup) -> list[bool]:
    params = dedup_params(32, **dedup)
    a = parts_for(rows, [i for i, _ in pairs])
    b = parts_for(rows, [j for _, j in pairs])
    return is_duplicate(pair_similarity(a, b, template, len(pairs)), params).tolist()


def template_of(rows: list[tuple[str, str]], share: float = 0.1, floor: int = 5) -> np.ndarray:
    counter = ShingleRowCounter(share)
    counter.add(shingles_of(rows))
    return dataset_template([counter.report()], share, floor)


def test_templated_rows_with_different_fills_are_not_duplicates():
    rows = corpus()
    template = template_of(rows)
    assert len(template) > 20  # the tool text's shingles
    pairs = [(i, i + 1) for i in range(0, 38, 2)]
    assert duplicates(rows, pairs, template) == [False] * len(pairs)
    # Without the template set they would be: the shared tool text dominates the prompt and the row.
    sims = pair_similarity(parts_for(rows, [0]), parts_for(rows, [1]), np.zeros(0, np.uint32), 1)
    assert sims.parts[0][0] > 0.5


def test_stock_answers_to_different_prompts_are_not_duplicates():
    rows = corpus()
    pairs = [(i, i + 1) for i in range(40, 78, 2)]
    assert duplicates(rows, pairs, template_of(rows)) == [False] * len(pairs)
    # Even with no template found at all: the prompts differ.
    assert duplicates(rows, pairs, np.zeros(0, np.uint32)) == [False] * len(pairs)


def test_short_rows_one_word_apart_are_not_duplicates():
    rows = corpus()
    pairs = [(i, i + 1) for i in range(80, 98, 2)]
    assert duplicates(rows, pairs, template_of(rows)) == [False] * len(pairs)
    # The same short row twice is.
    assert duplicates([*rows, rows[80]], [(80, len(rows))], template_of(rows)) == [True]


def test_edited_copies_are_duplicates():
    rng = random.Random(9)
    rows = corpus()
    sources = [0, 7, 41, 50]  # templated and stock-answer rows, given a longer answer
    rows = [(p, a if i not in sources else " ".join(sentence(rng, 10) for _ in range(4))) for i, (p, a) in enumerate(rows)]
    template = template_of(rows)
    copies = [(edit(rows[i][0], 0.08, rng), edit(rows[i][1], 0.08, rng)) for i in sources]
    extended = rows + copies
    pairs = [(src, len(rows) + k) for k, src in enumerate(sources)]
    assert duplicates(extended, pairs, template) == [True] * len(pairs)


def test_all_template_row_matches_its_copy_through_the_full_sets():
    rows = corpus()
    template = template_of(rows)
    whole = (TOOL, "Which balance do you need? Give me the account number first, please, and I will look it up.")
    rows = [*rows, whole, whole]
    assert duplicates(rows, [(len(rows) - 2, len(rows) - 1)], template) == [True]


def test_counts_rows_not_occurrences_and_merges_parts():
    parts = [
        (np.array([7, 7, 9], np.uint32), np.array([0, 2, 3])),  # row 0 has 7 twice, row 1 has 9
        (np.array([7, 9], np.uint32), np.array([0, 1, 2])),  # the answer of row 0 has 7 again, of row 1 has 9
    ]
    hashes, counts = rows_per_shingle(parts)
    assert dict(zip(hashes.tolist(), counts.tolist())) == {7: 1, 9: 1}
    merged = merge_counts([(hashes, counts), (np.array([9, 11], np.uint32), np.array([4, 1]))])
    assert dict(zip(merged[0].tolist(), merged[1].tolist())) == {7: 1, 9: 5, 11: 1}
    # Many reports, sorted or not, with repeats: the sums a plain count gives, in hash order.
    rng = np.random.default_rng(4)
    reports = [(rng.integers(0, 500, 300).astype(np.uint32), rng.integers(1, 9, 300)) for _ in range(7)]
    reports[0] = (np.sort(reports[0][0]), reports[0][1])
    plain: dict[int, int] = {}
    for h, c in reports:
        for a, b in zip(h.tolist(), c.tolist(), strict=True):
            plain[a] = plain.get(a, 0) + b
    merged = merge_counts([*reports, (np.zeros(0, np.uint32), np.zeros(0, np.int64))])
    assert merged[0].tolist() == sorted(plain) and merged[1].tolist() == [plain[h] for h in sorted(plain)]
    assert template_rows(200_000, 0.002, 20) == 400 and template_rows(1000, 0.002, 20) == 20
    assert local_min_rows(100, 0.002) == 2 and local_min_rows(80_000, 0.002) == 20


def test_jaccard_by_pair_is_exact():
    a = PartShingles(np.array([0, 0, 0, 1]), np.array([1, 2, 3, 5], np.uint32))
    b = PartShingles(np.array([0, 0, 2]), np.array([2, 4, 8], np.uint32))
    j, size_a, size_b = jaccard_by_pair(a, b, 3)
    assert j.tolist() == [0.25, 0.0, 0.0] and size_a.tolist() == [3, 1, 0] and size_b.tolist() == [2, 0, 1]
    assert jaccard_by_pair(PartShingles(np.zeros(0, np.int64), np.zeros(0, np.uint32)), b, 3)[0][1] == 1.0


def test_a_short_prompt_with_one_word_edited_still_matches_when_the_answers_do():
    rng = random.Random(21)
    answer = " ".join(sentence(rng, 10) for _ in range(4))
    rows = [("Describe the amber harbor.", answer), ("Describe the cobalt harbor.", edit(answer, 0.05, rng))]
    other = ("Describe the amber harbor.", " ".join(sentence(rng, 10) for _ in range(4)))
    rows.append(other)
    empty = np.zeros(0, np.uint32)
    # The prompts share no 3-gram; the answers are an edited copy: a duplicate.
    assert duplicates(rows, [(0, 1)], empty) == [True]
    assert duplicates(rows, [(0, 1)], empty, short_prompt_shingles=0) == [False]
    # The same short prompt with another answer is not.
    assert duplicates(rows, [(0, 2)], empty) == [False]
