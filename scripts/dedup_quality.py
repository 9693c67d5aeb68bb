"""Precision of near-duplicate merges, by exact word 5-gram Jaccard (the bench's dedup section).

Every (member, kept row) pair of `duplicates/` is judged, not only the
injected copies. A pair is a TRUE merge when the two rows are injected
copies of the same source (the bench's `truth`: copy id -> (source id, edit
rate); a copy and its source, or two copies of one source) or when the two
whole rows (prompt + answer, lower-cased, words = runs of non-whitespace)
have a word 5-gram Jaccard of at least 0.5, computed exactly with Python
sets, independently of winnow's shingles and estimates. Anything else is a
FALSE merge. Precision = true pairs / all pairs.

False pairs are sorted into kinds (`classify`) from the exact answer-only
and prompt-only 5-gram Jaccards. A side shorter than 5 words has no 5-gram:
then the two sides' word sets are compared instead (Jaccard of word sets).

Run on its own over a `winnow score` output that kept its text columns
(ids map to `records/` instruction/response; no injected copies, so only the
5-gram rule counts as true):

    python scripts/dedup_quality.py OUTPUT_DIR
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

NGRAM = 5
TRUE_JACCARD = 0.5  # whole row: at least this is a true merge
HIGH = 0.5  # a side "alike"
LOW = 0.3  # a side "different"
STOCK_WORDS = 5  # "a stock short answer": at most this many words

KINDS = (
    "same prompt template, different answer",
    "a stock short answer to different prompts",
    "similar answer, different prompt",
    "both sides only partly alike",
    "both sides below 0.3",
    "other",
)


def words(text: str) -> list[str]:
    return text.lower().split()


def grams(ws: list[str], n: int = NGRAM) -> set[tuple[str, ...]]:
    return {tuple(ws[i : i + n]) for i in range(len(ws) - n + 1)}


def jaccard(a: str, b: str, n: int = NGRAM) -> float:
    """Exact word n-gram Jaccard of two texts (lower-cased, split on whitespace).

    If either text has fewer than n words, the Jaccard of the two word sets.
    Two texts without any word are identical (1.0).
    """
    wa, wb = words(a), words(b)
    if len(wa) < n or len(wb) < n:
        sa: set[Any] = set(wa)
        sb: set[Any] = set(wb)
    else:
        sa, sb = grams(wa, n), grams(wb, n)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def whole(prompt: str, answer: str) -> str:
    return prompt + "\n" + answer


def same_source(a: str, b: str, truth: Mapping[str, tuple[str, float]]) -> bool:
    """Both rows are the same injected source: a copy and its source, or two copies of one source."""
    ra = truth[a][0] if a in truth else a
    rb = truth[b][0] if b in truth else b
    return ra == rb


def kept_pairs(members: Iterable[tuple[str, Any, bool]]) -> list[tuple[str, str, Any]]:
    """(member id, kept id, cluster id) for every member with keep=false, from (id, cluster_id, keep) rows.

    Raises ValueError if a cluster does not have exactly one kept row.
    """
    kept: dict[Any, list[str]] = defaultdict(list)
    dropped: dict[Any, list[str]] = defaultdict(list)
    for rid, cluster, keep in members:
        (kept if keep else dropped)[cluster].append(rid)
    pairs = []
    for cluster in sorted(set(kept) | set(dropped), key=str):
        if len(kept[cluster]) != 1:
            raise ValueError(f"cluster {cluster!r} has {len(kept[cluster])} kept rows, expected 1")
        pairs += [(m, kept[cluster][0], cluster) for m in sorted(dropped[cluster])]
    return pairs


def classify(prompt_j: float, answer_j: float, answer_a: str, answer_b: str) -> str:
    """The kind of a false pair; every pair gets exactly one, checked in the order of KINDS."""
    if answer_j < LOW and prompt_j >= HIGH:
        return KINDS[0]
    stock_a, stock_b = answer_a.lower().strip(), answer_b.lower().strip()
    if len(answer_a.split()) <= STOCK_WORDS and len(answer_b.split()) <= STOCK_WORDS and stock_a == stock_b and prompt_j < HIGH:
        return KINDS[1]
    if answer_j >= HIGH and prompt_j < HIGH:
        return KINDS[2]
    if LOW <= answer_j < HIGH and LOW <= prompt_j < HIGH:
        return KINDS[3]
    if answer_j < LOW and prompt_j < LOW:
        return KINDS[4]
    return KINDS[5]


@dataclass
class Pair:
    member: str
    kept: str
    cluster: Any
    true: bool
    injected: bool  # true because both are copies of one injected source
    row_j: float
    prompt_j: float
    answer_j: float
    kind: str  # "" for a true pair


@dataclass
class Quality:
    pairs: list[Pair]

    @property
    def n_true(self) -> int:
        return sum(p.true for p in self.pairs)

    @property
    def precision(self) -> float:
        return self.n_true / len(self.pairs) if self.pairs else 1.0

    @property
    def false(self) -> list[Pair]:
        return [p for p in self.pairs if not p.true]


def judge(
    pairs: Iterable[tuple[str, str, Any]],
    texts: Mapping[str, tuple[str, str]],
    truth: Mapping[str, tuple[str, float]] | None = None,
) -> Quality:
    """Judge every (member, kept, cluster) pair; texts: id -> (prompt, answer)."""
    truth = truth or {}
    out = []
    for member, kept, cluster in pairs:
        (pa, aa), (pb, ab) = texts[member], texts[kept]
        injected = same_source(member, kept, truth)
        row_j = jaccard(whole(pa, aa), whole(pb, ab))
        true = injected or row_j >= TRUE_JACCARD
        prompt_j, answer_j = jaccard(pa, pb), jaccard(aa, ab)
        kind = "" if true else classify(prompt_j, answer_j, aa, ab)
        out.append(Pair(member, kept, cluster, true, injected, row_j, prompt_j, answer_j, kind))
    return Quality(out)


def _clip(text: str, width: int = 60) -> str:
    from winnow.transforms.terminal import escape_control

    return escape_control(text[:width])


def print_quality(q: Quality, texts: Mapping[str, tuple[str, str]], examples: int = 3, file: Any = None) -> None:
    """Precision, the false-merge kinds (share of the false pairs) and example false pairs per kind."""
    file = file or sys.stdout
    n, t = len(q.pairs), q.n_true
    injected = sum(p.injected for p in q.pairs)
    print(
        f"merge precision (every (member, kept row) pair; true = same injected source or whole-row word 5-gram "
        f"Jaccard >= {TRUE_JACCARD}): {q.precision:.3f} = {t:,} / {n:,} "
        f"({injected:,} injected-copy pairs, {t - injected:,} true by 5-grams only, {n - t:,} false)",
        file=file,
    )
    false = q.false
    if not false:
        return
    counts = Counter(p.kind for p in false)
    print(f"\nfalse merges by kind ({len(false):,} pairs)", file=file)
    print(f"{'kind':<44}{'pairs':>8}{'share':>8}", file=file)
    for kind in sorted(KINDS, key=lambda k: (-counts[k], KINDS.index(k))):
        print(f"{kind:<44}{counts[kind]:>8,}{counts[kind] / len(false):>8.1%}", file=file)
    print(f"\nexample false pairs (up to {examples} per kind; first 60 characters, J = exact word 5-gram Jaccard)", file=file)
    for kind in KINDS:
        shown = [p for p in false if p.kind == kind][:examples]
        if not shown:
            continue
        print(f"- {kind}", file=file)
        for p in shown:
            print(
                f"  {p.member} -> kept {p.kept}: row J {p.row_j:.2f}, prompt J {p.prompt_j:.2f}, answer J {p.answer_j:.2f}",
                file=file,
            )
            for rid in (p.member, p.kept):
                prompt, answer = texts[rid]
                print(f"    {rid}", file=file)
                print(f"      prompt: {_clip(prompt)}", file=file)
                print(f"      answer: {_clip(answer)}", file=file)


def print_false_clusters(q: Quality, texts: Mapping[str, tuple[str, str]], top: int = 10, file: Any = None) -> None:
    """The clusters with the most false pairs, with their kept row."""
    file = file or sys.stdout
    by_cluster: dict[Any, list[Pair]] = defaultdict(list)
    for p in q.pairs:
        by_cluster[p.cluster].append(p)
    worst = sorted(by_cluster.values(), key=lambda ps: (-sum(not p.true for p in ps), str(ps[0].cluster)))
    worst = [ps for ps in worst if any(not p.true for p in ps)][:top]
    if not worst:
        return
    print(f"\nlargest false clusters (most false pairs, top {top})", file=file)
    print(f"{'cluster':>16}{'size':>7}{'false':>7}  main kind / kept row", file=file)
    for ps in worst:
        nf = sum(not p.true for p in ps)
        kind = Counter(p.kind for p in ps if not p.true).most_common(1)[0][0]
        prompt, answer = texts[ps[0].kept]
        print(f"{ps[0].cluster!s:>16}{len(ps) + 1:>7}{nf:>7}  {kind}", file=file)
        print(f"{'':>18}kept {ps[0].kept}", file=file)
        print(f"{'':>18}  prompt: {_clip(prompt)}", file=file)
        print(f"{'':>18}  answer: {_clip(answer)}", file=file)


# ---- reading a winnow output -------------------------------------------------


def read_members(out: str) -> list[tuple[str, Any, bool]]:
    """(id, cluster_id, keep) of every row of `duplicates/`."""
    import pyarrow.dataset as ds

    t = ds.dataset(os.path.join(out, "duplicates"), format="parquet").to_table(columns=["id", "cluster_id", "keep"])
    return list(zip(t.column("id").to_pylist(), t.column("cluster_id").to_pylist(), t.column("keep").to_pylist()))


def read_record_texts(out: str, ids: set[str]) -> dict[str, tuple[str, str]]:
    """id -> (instruction, response) from `records/` (the run must keep its text columns)."""
    import pyarrow.dataset as ds

    d = ds.dataset(os.path.join(out, "records"), format="parquet")
    texts = {}
    for batch in d.to_batches(columns=["id", "instruction", "response"]):
        for rid, prompt, answer in zip(*(batch.column(c).to_pylist() for c in ("id", "instruction", "response"))):
            if rid in ids:
                texts[rid] = (prompt or "", answer or "")
    return texts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("output", help="a winnow score output directory (with duplicates/ and records/ with text)")
    ap.add_argument("--top", type=int, default=10, help="false clusters to list")
    args = ap.parse_args(argv)
    members = read_members(args.output)
    texts = read_record_texts(args.output, {m[0] for m in members})
    q = judge(kept_pairs(members), texts)
    print(f"{len(members):,} rows in {len({m[1] for m in members}):,} clusters of {args.output}")
    print_quality(q, texts)
    print_false_clusters(q, texts, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
