"""Diversity sketches and measures (winnow.transforms.summary.diversity)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from winnow.transforms.summary import diversity

_WORDS = (  # noqa: SIM905 - prose reads better than a list of words
    "river mountain apple table window garden letter silver quiet rapid ocean forest planet engine "
    "yellow market pencil castle thunder button shadow bridge doctor winter summer coffee garden stone "
    "cloud paper music number simple answer question model data train test value result"
).split()


@pytest.mark.parametrize("n", [1_000, 10_000, 100_000, 1_000_000])
def test_hyperloglog_estimates_within_three_percent(n):
    rng = np.random.default_rng(n)
    distinct = np.unique(rng.integers(0, 2**63, size=n + n // 100, dtype=np.uint64))[:n]
    assert len(distinct) == n
    hll = diversity.HyperLogLog()
    hll.update(np.concatenate([distinct, distinct[: n // 2]]))  # repeats do not count
    assert abs(hll.estimate() - n) <= 0.03 * n
    small = np.arange(n, dtype=np.uint32)  # small consecutive values are re-mixed
    hll2 = diversity.HyperLogLog()
    hll2.update(small)
    assert abs(hll2.estimate() - n) <= 0.03 * n


def test_hyperloglog_merge_is_the_union():
    a = np.arange(0, 600_000, dtype=np.uint64)
    b = np.arange(400_000, 1_000_000, dtype=np.uint64)
    ha, hb, hu = diversity.HyperLogLog(), diversity.HyperLogLog(), diversity.HyperLogLog()
    ha.update(a)
    hb.update(b)
    hu.update(np.concatenate([a, b]))
    merged = diversity.HyperLogLog.from_bytes(ha.to_bytes()).merge(diversity.HyperLogLog.from_bytes(hb.to_bytes()))
    assert np.array_equal(merged.registers, hu.registers)
    assert abs(merged.estimate() - 1_000_000) <= 30_000
    assert abs(ha.estimate() - 600_000) <= 18_000
    empty = diversity.HyperLogLog()
    assert empty.estimate() == 0.0
    empty.update(np.zeros(0, np.uint64))
    assert empty.merge(ha).estimate() == ha.estimate()


def test_bottom_k_merge_equals_bottom_k_of_union():
    rng = np.random.default_rng(4)
    items = [(int(k), f"text {k}") for k in rng.choice(1 << 62, size=1000, replace=False)]
    shards = [items[:300], items[250:700], items[650:]]  # overlapping: shared items must not count twice
    k = 64
    sketches = []
    for shard in shards:
        s = diversity.BottomK(k)
        for chunk in (shard[: len(shard) // 2], shard[len(shard) // 2 :]):
            s.update([x for x, _ in chunk], [t for _, t in chunk])
        sketches.append(s)
    merged = sketches[0].merge(sketches[1]).merge(sketches[2])
    assert merged.items == sorted(items)[:k]
    assert merged.texts() == [t for _, t in sorted(items)[:k]]
    few = diversity.BottomK(10)
    few.update([3, 1], ["c", "a"])
    assert few.texts() == ["a", "c"]


def test_entropy_of_known_distributions():
    assert diversity.entropy(Counter()) == 0.0
    assert diversity.entropy(Counter({"a": 7})) == 0.0
    assert diversity.entropy(Counter({"a": 1, "b": 1})) == pytest.approx(1.0)
    assert diversity.entropy(Counter({c: 5 for c in "abcdefgh"})) == pytest.approx(3.0)
    assert diversity.entropy(Counter({"a": 2, "b": 1, "c": 1})) == pytest.approx(1.5)
    assert diversity.entropy(Counter({"a": 1, "b": 1, "zero": 0})) == pytest.approx(1.0)


def test_instruction_types_count_leading_words():
    got = diversity.instruction_types(
        pa.array(
            ["Write a poem.", "write code", "  Explain this", "What is x?", "", None, "123 numbers", "¿Qué es?", '"Summarize" it']
        )
    )
    assert got == Counter({"write": 2, "explain": 1, "what": 1, "qué": 1, "summarize": 1, "<none>": 3})
    capped = diversity.cap_counter(Counter({"a": 5, "b": 3, "c": 1, "d": 1}), 2)
    assert capped == Counter({"a": 5, "b": 3, "<other>": 2})


def test_self_bleu():
    assert diversity.self_bleu(["only one"]) is None
    assert diversity.self_bleu(["", "  ", "one"]) is None
    same = diversity.self_bleu(["the cat sat on the mat today"] * 3)
    different = diversity.self_bleu(
        ["the cat sat on the mat today", "quantum fields permeate all of space", "bake bread at two hundred degrees"]
    )
    assert same == pytest.approx(100.0)
    assert different < 20.0


@pytest.mark.parametrize("seed", [0, 1])
def test_self_bleu_equals_mean_sentence_bleu_against_the_others(seed):
    from sacrebleu.metrics import BLEU

    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(_WORDS[:25], int(rng.integers(1, 30)))) for _ in range(40)]
    texts += [texts[0], texts[1] + " extra words", "  "]  # copies, near copies, blanks (ignored)
    kept = [t for t in texts if t.strip()]
    bleu = BLEU(effective_order=True)
    naive = np.mean([bleu.sentence_score(t, kept[:i] + kept[i + 1 :]).score for i, t in enumerate(kept)])
    assert diversity.self_bleu(texts) == pytest.approx(float(naive), rel=1e-9, abs=1e-9)
