"""Diversity sketches that merge across shards without rereading rows.

- `HyperLogLog`: distinct word n-grams (numpy registers, vectorized update;
  Flajolet et al. 2007 with the small-range correction of Heule et al. 2013).
- instruction types: the leading word of each instruction, counted, and the
  Shannon entropy of that distribution.
- `BottomK`: a fixed-size sample of responses chosen by the smallest hashes
  of their content, so two shards' samples merge into the sample the whole
  dataset would give; Self-BLEU is computed on it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sacrebleu.metrics import BLEU
from sacrebleu.metrics.helpers import extract_all_word_ngrams

from winnow.transforms.arrow_bytes import mix64

HLL_P = 14  # 16,384 registers: about 0.8 % standard error


class HyperLogLog:
    """A HyperLogLog sketch over 64-bit hashes, with numpy registers."""

    def __init__(self, p: int = HLL_P, registers: np.ndarray | None = None):
        self.p = p
        self.registers = np.zeros(1 << p, dtype=np.uint8) if registers is None else registers

    def update(self, hashes: np.ndarray) -> None:
        """Add items given as hashes (any unsigned ints; they are re-mixed to 64 bits)."""
        if len(hashes) == 0:
            return
        h = mix64(hashes.astype(np.uint64))
        idx = (h >> np.uint64(64 - self.p)).astype(np.int64)
        w = (h << np.uint64(self.p)) | np.uint64(1 << (self.p - 1))  # guard bit caps the rank
        smear = w
        for s in (1, 2, 4, 8, 16, 32):
            smear = smear | (smear >> np.uint64(s))
        rank = (65 - np.bitwise_count(smear)).astype(np.uint8)  # leading zeros + 1
        np.maximum.at(self.registers, idx, rank)

    def copy(self) -> HyperLogLog:
        return HyperLogLog(self.p, self.registers.copy())

    def merge(self, other: HyperLogLog) -> HyperLogLog:
        np.maximum(self.registers, other.registers, out=self.registers)
        return self

    def estimate(self) -> float:
        m = float(len(self.registers))
        alpha = 0.7213 / (1 + 1.079 / m)
        raw = alpha * m * m / np.sum(np.exp2(-self.registers.astype(np.float64)))
        zeros = int((self.registers == 0).sum())
        if raw <= 2.5 * m and zeros:
            return m * math.log(m / zeros)
        return float(raw)

    def to_bytes(self) -> bytes:
        return bytes([self.p]) + self.registers.tobytes()

    @classmethod
    def from_bytes(cls, blob: bytes) -> HyperLogLog:
        return cls(blob[0], np.frombuffer(blob[1:], dtype=np.uint8).copy())


def instruction_types(instructions: pa.Array) -> Counter:
    """Counts of the first word (lower-cased, letters only) of each instruction."""
    first = pc.utf8_lower(pc.extract_regex(pc.fill_null(instructions, ""), r"^\W*(?P<w>[\pL\pM]+)").field("w"))
    first = pc.fill_null(first, "")
    vc = pc.value_counts(first)
    return Counter({v.as_py() or "<none>": c.as_py() for v, c in zip(vc.field("values"), vc.field("counts"))})


def entropy(counts: Counter) -> float:
    """Shannon entropy in bits of a frequency table."""
    total = sum(counts.values())
    if total == 0:
        return 0.0
    p = np.array([c / total for c in counts.values() if c], dtype=np.float64)
    return float(-(p * np.log2(p)).sum())


def cap_counter(counts: Counter, limit: int) -> Counter:
    """Keep the `limit` most common entries; fold the rest into '<other>' (bounded size)."""
    if len(counts) <= limit:
        return counts
    kept = Counter(dict(counts.most_common(limit)))
    kept["<other>"] += sum(counts.values()) - sum(kept.values())
    return kept


class BottomK:
    """The k items with the smallest 64-bit keys: a mergeable uniform sample."""

    def __init__(self, k: int, items: list[tuple[int, str]] | None = None):
        self.k = k
        self.items = items or []

    def update(self, keys: Iterable[int], texts: Iterable[str]) -> None:
        self.items = sorted(set(self.items) | set(zip(keys, texts)))[: self.k]

    def copy(self) -> BottomK:
        return BottomK(self.k, list(self.items))

    def merge(self, other: BottomK) -> BottomK:
        self.update([k for k, _ in other.items], [t for _, t in other.items])
        return self

    def texts(self) -> list[str]:
        return [t for _, t in self.items]


def self_bleu(texts: list[str]) -> float | None:
    """Mean sentence BLEU (sacrebleu, 0..100) of each text against all the others.

    High Self-BLEU means the sampled responses resemble each other (low
    diversity). Equal to averaging sacrebleu's `sentence_score(t, others)`,
    but each text is tokenized once and each n-gram's best count among the
    others comes from its two largest counts: O(n-grams), not O(texts^2).
    None when fewer than two texts.
    """
    texts = [t for t in texts if t.strip()]
    if len(texts) < 2:
        return None
    bleu = BLEU(effective_order=True)
    order = bleu.max_ngram_order
    grams, lens = [], []
    for t in texts:
        g, n = extract_all_word_ngrams(bleu._preprocess_segment(t), 1, order)
        grams.append(g)
        lens.append(n)
    # The two largest counts of every n-gram, with the owner of the largest.
    top: dict[tuple, list] = {}
    for i, g in enumerate(grams):
        for gram, c in g.items():
            best = top.get(gram)
            if best is None:
                top[gram] = [c, i, 0]
            elif c > best[0]:
                top[gram] = [c, i, best[0]]
            elif c > best[2]:
                best[2] = c
    scores = []
    for i, g in enumerate(grams):
        correct, total = [0] * order, [0] * order
        for gram, c in g.items():
            best = top[gram]
            ref = best[2] if best[1] == i else best[0]
            total[len(gram) - 1] += c
            correct[len(gram) - 1] += min(c, ref)
        others = lens[:i] + lens[i + 1 :]
        ref_len = bleu._get_closest_ref_len(lens[i], others)
        scores.append(bleu._compute_score_from_stats([lens[i], ref_len] + correct + total).score)
    return float(np.mean(scores))
