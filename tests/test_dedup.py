"""Near-duplicate building blocks as pure functions: shingles and MinHash against
datasketch, band keys across processes, the star-step connected components
against union-find, candidate pairs, cluster splitting and the diversity sketches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import datasketch
import numpy as np
import pyarrow as pa
import pytest
from datasketch.lsh import _optimal_param

from winnow.transforms.dedup import components as cc
from winnow.transforms.summary import diversity
from winnow.transforms.dedup import lsh
from winnow.transforms.dedup import minhash
from winnow.transforms.config import load_config
from winnow.transforms.beam.near_duplicates import ChooseKeepFn
from winnow.transforms.dedup.keep import keep_order, split_clusters
from winnow.transforms.dedup.params import DUPLICATES, DedupParams
from winnow.transforms.dedup.signer import Signer
from winnow.transforms.dedup.verify import is_similar, similarity
from winnow.transforms.textviews import dedup_texts
from winnow.transforms.io.formats import FieldMap
from winnow.transforms.io.canonical import normalize_rows
from winnow.transforms.signals.scorer import Scorer
from winnow.transforms.dedup.shingles import ShingleSpec, char_mode_rows, normalize, reference_shingles, shingle_hash32, shingle_hashes
from winnow.transforms.io.inputs import Shard
from winnow.transforms.io.readers import RawRow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = load_config()
ANSWER_ROLES = ("assistant", "tool_call", "text")

# ---- texts ------------------------------------------------------------------

ENGLISH = [
    "Give three tips for staying healthy: eat well, sleep enough and move every day.",
    "The quick brown fox jumps over the lazy dog, again and again, until the dog wakes up.",
    "What's the capital of France?  It's Paris -- obviously!!",
    "Hello",
    "two words",
    "THREE Words Here",
    "Numbers 12 345 and 6.78 count as tokens too; so do under_scores.",
    "Ünïcödé café naïve résumé Straße ÀÉÎÕÜ",
    "e\u0301tude with a combining accent and ﬁ ligature",
    "tab\tseparated\nnew lines\r\nand    many   spaces",
    "emoji 🙂 are not letters 🚀🚀 so they split words",
    "supercalifragilisticexpialidocious" * 5 + " then a normal word after a very long token",
    "x " * 120,
]
CHINESE = [
    "今天天气很好，我们去公园散步吧。",
    "水循环是指水在地球上不断运动和变化的过程，包括蒸发、凝结和降水。",
    "你好",
    "机器学习是人工智能的一个分支。" * 6,
]
OTHER_SPACELESS = [
    "日本語のテキストです。カタカナもひらがなも混ざっています。",
    "한국어 텍스트입니다 띄어쓰기가 있어도 문자 단위로 나눕니다",
    "ภาษาไทยไม่มีช่องว่างระหว่างคำ",
]
MIXED = [
    "Mixed 中文 and English text here 你好世界",
    "Python 是一种编程语言，它很流行。",
    "Mostly English words with a single 字 inside the sentence that is long enough",
    "答案: yes, the answer is 42 因为 because it is",
]
EMPTYISH = ["", " ", "  ,,, !!! ... ", "🙂🙂", "\n\t"]
ALL_TEXTS = ENGLISH + CHINESE + OTHER_SPACELESS + MIXED + EMPTYISH

_WORDS = (
    "river mountain apple table window garden letter silver quiet rapid ocean forest planet engine "
    "yellow market pencil castle thunder button shadow bridge doctor winter summer coffee garden stone "
    "cloud paper music number simple answer question model data train test value result"
).split()
_HAN = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可也你"


def _random_texts(seed: int, n: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        kind = rng.integers(4)
        length = int(rng.integers(0, 40))
        if kind == 0:
            out.append(" ".join(rng.choice(_WORDS, length)))
        elif kind == 1:
            out.append("".join(rng.choice(list(_HAN), length)))
        elif kind == 2:
            parts = [rng.choice(_WORDS) if rng.random() < 0.5 else "".join(rng.choice(list(_HAN), 3)) for _ in range(length)]
            out.append(" ".join(parts))
        else:
            out.append(", ".join(w.upper() if rng.random() < 0.3 else w for w in rng.choice(_WORDS, length)) + "?!")
    return out


def _datasketch(text: str, spec: ShingleSpec, num_perm: int, seed: int) -> datasketch.MinHash:
    m = datasketch.MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash32)
    m.update_batch(reference_shingles(text, spec))
    return m


def _assert_rows_equal_datasketch(texts, spec, num_perm, seed, arr=None):
    hashes, offsets = shingle_hashes(pa.array(texts, pa.string()) if arr is None else arr, spec)
    sigs = minhash.signatures(hashes, offsets, num_perm, seed)
    assert sigs.shape == (len(texts), num_perm) and sigs.dtype == np.uint32
    for i, text in enumerate(texts):
        expected = _datasketch(text, spec, num_perm, seed).hashvalues
        assert np.array_equal(sigs[i], expected), (i, text, spec, num_perm, seed)
        assert offsets[i + 1] - offsets[i] == len(reference_shingles(text, spec)), text


# ---- 1. signatures equal datasketch -------------------------------------------

@pytest.mark.parametrize("mode", ["word", "char", "auto"])
@pytest.mark.parametrize("num_perm,seed", [(128, 1), (64, 7), (256, 42), (16, 0)])
def test_signatures_equal_datasketch(mode, num_perm, seed):
    _assert_rows_equal_datasketch(ALL_TEXTS, ShingleSpec(mode=mode), num_perm, seed)


@pytest.mark.parametrize(
    "spec",
    [ShingleSpec("word", 1, 5), ShingleSpec("word", 5, 5), ShingleSpec("char", 3, 2), ShingleSpec("auto", 2, 4, 0.6)],
)
def test_signatures_equal_datasketch_for_other_shingle_sizes(spec):
    _assert_rows_equal_datasketch(ALL_TEXTS, spec, 32, 3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_signatures_equal_datasketch_on_random_batches(seed):
    texts = _random_texts(seed, 150)
    _assert_rows_equal_datasketch(texts, ShingleSpec(), 128, 1)


def test_signatures_of_sliced_large_and_null_arrays():
    texts = ALL_TEXTS
    spec = ShingleSpec()
    full = pa.array(["padding row one", "padding 二"] + texts, pa.string())
    # A slice has a non-zero offset into the buffers; a large_string array has 64-bit offsets.
    _assert_rows_equal_datasketch(texts, spec, 64, 1, arr=full.slice(2))
    _assert_rows_equal_datasketch(texts, spec, 64, 1, arr=pa.array(texts, pa.large_string()))
    _assert_rows_equal_datasketch(texts[:5], spec, 64, 1, arr=full.slice(2, 5))
    # Nulls are empty texts: no shingles, datasketch's empty value.
    hashes, offsets = shingle_hashes(pa.array([None, "some words here", None], pa.string()), spec)
    sigs = minhash.signatures(hashes, offsets, 32, 1)
    assert list(np.diff(offsets)) == [0, 1, 0]
    assert (sigs[[0, 2]] == minhash.EMPTY).all()
    assert np.array_equal(sigs[1], _datasketch("some words here", spec, 32, 1).hashvalues)
    # Empty batch.
    hashes, offsets = shingle_hashes(pa.array([], pa.string()), spec)
    assert len(hashes) == 0 and list(offsets) == [0]
    assert minhash.signatures(hashes, offsets, 8, 1).shape == (0, 8)


def test_auto_mode_cuts_spaceless_scripts_into_characters():
    spec = ShingleSpec()
    rows = char_mode_rows(normalize(pa.array(ENGLISH + CHINESE + OTHER_SPACELESS)), spec).tolist()
    assert rows == [False] * len(ENGLISH) + [True] * (len(CHINESE) + len(OTHER_SPACELESS))
    assert reference_shingles("今天天气很好，我们", spec) == [s.encode() for s in ["今 天 天 气 很", "天 天 气 很 好", "天 气 很 好 我", "气 很 好 我 们"]]
    assert reference_shingles("Hello, big World!", spec) == [b"hello big world"]
    assert reference_shingles("one two three four", spec) == [b"one two three", b"two three four"]
    assert reference_shingles("你好", spec) == ["你 好".encode()]
    assert reference_shingles(" ... ", spec) == []
    # Case and punctuation do not change the signature.
    a = _datasketch("The Water Cycle, explained!", spec, 64, 1)
    b = _datasketch("the water cycle explained", spec, 64, 1)
    assert a == b


def test_shingle_hash32_is_32_bit_and_order_sensitive():
    values = {shingle_hash32(s.encode()) for s in ["a b c", "c b a", "a b", "ab c", "a bc", "abc"]}
    assert len(values) == 6
    assert all(0 <= v < 2**32 for v in values)


def _canonical_and_scored(rows: list[dict]) -> tuple[pa.RecordBatch, pa.RecordBatch]:
    shard = Shard(3, "mix.jsonl", "mix.jsonl", 0)
    batch, rejected = normalize_rows([RawRow(i, r, None, "") for i, r in enumerate(rows)], shard, FieldMap.from_config(CONFIG))
    assert not rejected
    return batch, Scorer(CONFIG, []).score(batch)


SIGNER_ROWS = [
    {"instruction": "Summarize the paragraph below.", "input": "Rivers carry water to the sea.", "output": "Rivers flow to the sea.",
     "system": "You are a careful assistant."},
    {"conversations": [
        {"from": "system", "value": "Answer briefly."},
        {"from": "human", "value": "What is two plus two?"},
        {"from": "gpt", "value": "Four."},
        {"from": "human", "value": "And three plus three?"},
        {"from": "gpt", "value": "Six, since three and three make six."},
    ]},
    {"messages": [
        {"role": "user", "content": "What's the weather in Paris today?"},
        {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "content": "sunny, 21 degrees"},
        {"role": "assistant", "content": "It is sunny and 21 degrees in Paris."},
    ]},
    {"text": "A plain web text row has no prompt at all, only an answer part."},
    {"instruction": "请解释什么是水循环。", "input": "", "output": "水循环是指水在地球上不断运动和变化的过程，包括蒸发、凝结和降水。"},
    {"instruction": "Say nothing at all.", "input": "", "output": ""},
]


def _expected_parts(scored: pa.RecordBatch) -> list[tuple[str, str]]:
    out = []
    for system, turns in zip(scored.column("system").to_pylist(), scored.column("turns").to_pylist()):
        prompt = [t["content"] for t in turns if t["role"] not in ANSWER_ROLES]
        answer = [t["content"] for t in turns if t["role"] in ANSWER_ROLES]
        out.append(("\n".join(([system] if system else []) + prompt), "\n".join(answer)))
    return out


@pytest.mark.parametrize("num_perm,seed", [(128, 1), (32, 9)])
def test_signer_parts_equal_datasketch_over_prompt_and_answer(num_perm, seed):
    config = load_config(overrides={"dedup": {"num_perm": num_perm, "seed": seed}})
    params = DedupParams.from_config(config)
    assert params.parts == 2 and params.width == 2 * num_perm
    batch, scored = _canonical_and_scored(SIGNER_ROWS)
    parts = _expected_parts(batch)
    # The alpaca row, spelled out: system + instruction + input is the prompt, output the answer.
    assert parts[0] == ("You are a careful assistant.\nSummarize the paragraph below.\n\nRivers carry water to the sea.", "Rivers flow to the sea.")
    assert parts[1] == ("Answer briefly.\nWhat is two plus two?\nAnd three plus three?", "Four.\nSix, since three and three make six.")
    assert parts[3] == ("", SIGNER_ROWS[3]["text"])
    assert [t.to_pylist() for t in dedup_texts(batch, "prompt_answer")] == [list(p) for p in zip(*parts)]

    side, entries, shingles = Signer(params).sign(batch, scored)
    raw = side.column("signature")
    assert raw.type == pa.binary(4 * params.width)
    sigs = np.frombuffer(b"".join(raw.to_pylist()), dtype="<u4").reshape(len(SIGNER_ROWS), params.width)
    spec = params.spec
    for i, (prompt, answer) in enumerate(parts):
        assert np.array_equal(sigs[i, :num_perm], _datasketch(prompt, spec, num_perm, seed).hashvalues), i
        assert np.array_equal(sigs[i, num_perm:], _datasketch(answer, spec, num_perm, seed).hashvalues), i
        lean = datasketch.LeanMinHash(seed=seed, hashvalues=sigs[i, num_perm:], scheme="affine32")
        assert lean == datasketch.LeanMinHash(_datasketch(answer, spec, num_perm, seed))
    assert side.column("key").to_pylist() == scored.column("key").to_pylist()
    assert side.column("id").to_pylist() == scored.column("id").to_pylist()
    # The shingles given to the diversity sketch: every part's, in order.
    expected_shingles = [shingle_hash32(s) for part in zip(*parts) for text in part for s in reference_shingles(text, spec)]
    assert sorted(shingles.tolist()) == sorted(expected_shingles)
    # Entries: one exact entry per row, `bands` per non-empty part, each in its partition.
    # Band entries: one exact entry per row, and `bands` entries of the whole conversation's
    # MinHash (the union of prompt and answer: datasketch's merge) carrying the answer's band key.
    all_entries = np.concatenate(list(entries.values()))
    is_exact = (all_entries[:, 2] & np.uint64(lsh.EXACT)) != 0
    assert sorted(all_entries[is_exact, 1].tolist()) == sorted(scored.column("key").to_pylist())
    expected = set()
    for i, (prompt, answer) in enumerate(parts):
        whole = _datasketch(prompt, spec, num_perm, seed)
        whole.merge(_datasketch(answer, spec, num_perm, seed))
        if not (whole.hashvalues == minhash.EMPTY).all():
            key = scored.column("key")[i].as_py()
            union_keys = minhash.band_keys(whole.hashvalues[None].astype(np.uint32), params.bands, params.rows)[0]
            answer_hv = _datasketch(answer, spec, num_perm, seed).hashvalues[None].astype(np.uint32)
            answer_keys = minhash.band_keys(answer_hv, params.bands, params.rows, first_band=params.bands)[0]
            expected |= {(int(u), key, lsh.MINHASH, int(a)) for u, a in zip(union_keys, answer_keys)}
    assert {tuple(int(x) for x in e) for e in all_entries[~is_exact]} == expected
    assert len(all_entries) == len(SIGNER_ROWS) + params.bands * len(SIGNER_ROWS)  # every row has some text
    for part, arr in entries.items():
        assert (arr[:, 0] % np.uint64(params.partitions) == part).all()


def test_dedup_texts_other_choices():
    batch, _ = _canonical_and_scored(SIGNER_ROWS[:2])
    conv = dedup_texts(batch, "conversation")[0].to_pylist()
    assert conv[0] == "You are a careful assistant.\nSummarize the paragraph below.\n\nRivers carry water to the sea.\nRivers flow to the sea."
    assert dedup_texts(batch, "response")[0].to_pylist() == ["Rivers flow to the sea.", "Six, since three and three make six."]
    assert dedup_texts(batch, "instruction")[0].to_pylist()[1] == "What is two plus two?"


# ---- 2. band keys across processes, LSH parameters ----------------------------

_STABILITY_SCRIPT = r"""
import json, sys
import numpy as np, pyarrow as pa
from winnow.transforms.dedup import lsh
from winnow.transforms.dedup import minhash
from winnow.transforms.dedup import components
from winnow.transforms.dedup.shingles import ShingleSpec, shingle_hashes
texts = json.loads(sys.argv[1])
rng = np.random.RandomState(5)
fixed = rng.randint(0, 2**32, size=(6, 64), dtype=np.uint64).astype(np.uint32)
fixed[2] = minhash.EMPTY
h, o = shingle_hashes(pa.array(texts), ShingleSpec())
sigs = minhash.signatures(h, o, 64, 1)
out = {
    "fixed_keys": minhash.band_keys(fixed, 16, 4).tolist(),
    "fixed_keys_second_part": minhash.band_keys(fixed, 16, 4, first_band=16).tolist(),
    "text_sigs": sigs.tolist(),
    "text_keys": minhash.band_keys(sigs, 21, 3).tolist(),
    "entries": {str(k): v.tolist() for k, v in sorted(lsh.band_entries(
        np.arange(6, dtype=np.int64) + (7 << 40), fixed[:, :32], np.arange(6, dtype=np.uint64) * 1000003, 8, 4, 5,
        fixed[:, 32:]).items())},
    "partition_of": components.partition_of(np.arange(50, dtype=np.int64) * 977 + (3 << 40), 13).tolist(),
    "pair_partition": lsh.pair_partition(np.arange(300, dtype=np.int64).reshape(100, 3) + (1 << 40), 11).tolist(),
}
print(json.dumps(out))
"""


def _stability_run(texts: list[str], hashseed: str) -> dict:
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    proc = subprocess.run(
        [sys.executable, "-c", _STABILITY_SCRIPT, json.dumps(texts)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_band_keys_are_stable_across_processes():
    texts = ENGLISH[:6] + CHINESE[:2] + MIXED[:2]
    # This process, computed directly.
    rng = np.random.RandomState(5)
    fixed = rng.randint(0, 2**32, size=(6, 64), dtype=np.uint64).astype(np.uint32)
    fixed[2] = minhash.EMPTY
    h, o = shingle_hashes(pa.array(texts), ShingleSpec())
    sigs = minhash.signatures(h, o, 64, 1)
    here = {
        "fixed_keys": minhash.band_keys(fixed, 16, 4).tolist(),
        "fixed_keys_second_part": minhash.band_keys(fixed, 16, 4, first_band=16).tolist(),
        "text_sigs": sigs.tolist(),
        "text_keys": minhash.band_keys(sigs, 21, 3).tolist(),
        "entries": {str(k): v.tolist() for k, v in sorted(lsh.band_entries(
            np.arange(6, dtype=np.int64) + (7 << 40), fixed[:, :32], np.arange(6, dtype=np.uint64) * 1000003, 8, 4, 5,
            fixed[:, 32:]).items())},
        "partition_of": cc.partition_of(np.arange(50, dtype=np.int64) * 977 + (3 << 40), 13).tolist(),
        "pair_partition": lsh.pair_partition(np.arange(300, dtype=np.int64).reshape(100, 3) + (1 << 40), 11).tolist(),
    }
    runs = [_stability_run(texts, seed) for seed in ("0", "1", "98765")]
    for other in runs:
        assert other == here
    assert here["fixed_keys"] != here["fixed_keys_second_part"]


def test_band_keys_depend_on_band_values_and_index():
    rng = np.random.RandomState(1)
    sigs = rng.randint(0, 2**32, size=(3, 12), dtype=np.uint64).astype(np.uint32)
    sigs[1] = sigs[0]
    sigs[2] = sigs[0]
    sigs[2, 5] ^= 1  # one value of band 1 (rows 4..7) differs
    keys = minhash.band_keys(sigs, 3, 4)
    assert keys.dtype == np.uint64 and keys.shape == (3, 3)
    assert np.array_equal(keys[0], keys[1])
    assert keys[2, 0] == keys[0, 0] and keys[2, 2] == keys[0, 2] and keys[2, 1] != keys[0, 1]
    # The same band values in another band position give another key.
    same = np.tile(np.arange(4, dtype=np.uint32), 3)[None, :]
    k = minhash.band_keys(same, 3, 4)[0]
    assert len(set(k.tolist())) == 3


@pytest.mark.parametrize("num_perm", [16, 32, 64, 128, 256])
def test_optimal_bands_equal_datasketch(num_perm):
    for threshold in (0.1, 0.2, 0.3, 0.35, 0.5, 0.7, 0.8, 0.9):
        assert minhash.optimal_bands(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5), (threshold, num_perm)


def test_dedup_params_use_optimal_bands_unless_set():
    p = DedupParams.from_config(CONFIG)
    d = CONFIG["dedup"]
    assert (p.bands, p.rows) == _optimal_param(d["threshold"], d["num_perm"], 0.5, 0.5)
    assert p.verify_threshold == CONFIG["dedup"]["verify_threshold"] and p.keep == ("-quality", "-response_chars", "id")
    assert p.part_threshold == CONFIG["dedup"]["part_threshold"]
    q = DedupParams.from_config(load_config(overrides={"dedup": {"bands": 16, "rows": 8, "verify_threshold": None, "text": "response"}}))
    assert (q.bands, q.rows, q.verify_threshold, q.parts, q.width) == (16, 8, d["threshold"], 1, d["num_perm"])


def test_band_entries_skip_empty_rows_and_carry_exact_keys():
    rng = np.random.RandomState(2)
    sigs = rng.randint(0, 2**32, size=(5, 8), dtype=np.uint64).astype(np.uint32)
    answers = rng.randint(0, 2**32, size=(5, 8), dtype=np.uint64).astype(np.uint32)
    sigs[2, :] = minhash.EMPTY  # row 2: no shingles at all
    sigs[3], answers[3] = sigs[0], answers[0]  # row 3: a copy of row 0
    sigs[4] = sigs[0]  # row 4: the same whole text MinHash, another answer
    keys = np.array([10, 11, 12, 13, 14], dtype=np.int64) + (1 << 40)
    exact = np.array([5, 6, 7, 5, 8], dtype=np.uint64)
    entries = lsh.band_entries(keys, sigs, exact, 4, 2, 3, answers)
    allv = np.concatenate(list(entries.values()))
    assert allv.dtype == np.uint64 and allv.shape[1] == 4
    is_exact = allv[:, 2] == np.uint64(lsh.EXACT)
    assert ((allv[:, 2] == np.uint64(lsh.MINHASH)) | is_exact).all()
    assert Counter(allv[~is_exact, 1].tolist()) == {int(k): 4 for k in keys[[0, 1, 3, 4]]}
    assert sorted(allv[is_exact, 1].tolist()) == sorted(keys.tolist())
    assert (allv[is_exact, 3] == 0).all()
    for row in (0, 1, 3, 4):
        mine = allv[~is_exact & (allv[:, 1] == keys[row])]
        assert sorted(mine[:, 0].tolist()) == sorted(minhash.band_keys(sigs[row : row + 1], 4, 2)[0].tolist())
        assert sorted(mine[:, 3].tolist()) == sorted(minhash.band_keys(answers[row : row + 1], 4, 2, first_band=4)[0].tolist())
    for part, arr in entries.items():
        assert (arr[:, 0] % np.uint64(3) == part).all()
    pairs = lsh.merge_pairs(np.concatenate([lsh.candidate_pairs(arr) for arr in entries.values()]))
    bits = {(int(a), int(b)): int(f) for a, b, f in pairs.tolist()}
    # Rows 0 and 3: same content (exact) and same bands; rows 0/3 and 4: same bands only.
    k0, k3, k4 = int(keys[0]), int(keys[3]), int(keys[4])
    assert bits == {(k0, k3): lsh.MINHASH | lsh.EXACT, (k0, k4): lsh.MINHASH, (k3, k4): lsh.MINHASH}
    # Without other signatures the fourth column is 0.
    single = np.concatenate(list(lsh.band_entries(keys, sigs, exact, 4, 2, 3).values()))
    assert (single[:, 3] == 0).all() and len(single) == len(allv)


# ---- 3. connected components -------------------------------------------------

def _union_find(edges: np.ndarray) -> dict[int, int]:
    parent: dict[int, int] = {}

    def find(x):
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in edges.tolist():
        if a == b:
            continue
        for x in (a, b):
            parent.setdefault(x, x)
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)  # the root is always the smallest node
    return {x: find(x) for x in parent}


def _regroup(outputs):
    grouped: dict[int, list[np.ndarray]] = {}
    for arrays in outputs:
        for p, chunk in arrays.items():
            grouped.setdefault(p, []).append(chunk)
    return grouped


def simulate_components(edges: np.ndarray, partitions: int = 8, max_rounds: int = 40, sources: int = 3):
    """The Beam pipeline's connected components, step by step.

    Edges arrive from several Verify outputs, each symmetrized and split by
    partition; each round groups the arcs of a partition, applies np.unique
    and one star step (large on even rounds, small on odd ones) and splits the
    result again. Returns (rounds until no violations or None, assignments after
    those rounds, assignments after all max_rounds rounds).
    """
    chunks = np.array_split(edges, sources) if len(edges) else [edges]
    grouped = _regroup([cc.split_by_partition(cc.symmetric(c), partitions) for c in chunks])

    def violations(g):
        return sum(cc.violations(np.unique(np.concatenate(c), axis=0)) for c in g.values())

    def assign(g):
        asg = [cc.assignments(np.unique(np.concatenate(c), axis=0)) for c in g.values()]
        return {int(a): int(b) for arr in asg for a, b in arr.tolist()}

    converged, at_convergence = (0, assign(grouped)) if violations(grouped) == 0 else (None, None)
    for r in range(max_rounds):
        step = cc.large_star if r % 2 == 0 else cc.small_star
        outputs = []
        for c in grouped.values():
            arcs = np.unique(np.concatenate(c), axis=0)
            outputs.append(cc.split_by_partition(step(arcs), partitions))
        grouped = _regroup(outputs)
        if converged is None and violations(grouped) == 0:
            converged, at_convergence = r + 1, assign(grouped)
    if converged is not None:
        assert violations(grouped) == 0  # converged stars stay stars
    return converged, at_convergence, assign(grouped)


def _check_components(edges: np.ndarray, partitions: int = 8, max_rounds: int = 40) -> int:
    rounds, at_convergence, final = simulate_components(edges, partitions, max_rounds)
    assert rounds is not None and rounds <= max_rounds
    expected = _union_find(edges)
    assert at_convergence == expected
    assert final == expected
    return rounds


@pytest.mark.parametrize("seed", range(20))
def test_components_equal_union_find_on_random_graphs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    nodes = rng.choice(1 << 45, size=n, replace=False).astype(np.int64) + (int(rng.integers(0, 5)) << 40)
    m = int(rng.integers(1, 2 * n))
    edges = nodes[rng.integers(0, n, size=(m, 2))]
    edges = np.concatenate([edges, edges[: m // 5]])  # repeated edges (and some self loops)
    for partitions in (1, 3, 16):
        _check_components(edges, partitions)


def test_components_on_random_sparse_forests():
    rng = np.random.default_rng(99)
    for trial in range(10):
        n = 300
        parents = np.array([rng.integers(0, i) for i in range(1, n)])
        labels = rng.permutation(n).astype(np.int64) * 17 + 3
        edges = np.stack([labels[np.arange(1, n)], labels[parents]], axis=1)
        keep = rng.random(len(edges)) < 0.7  # cut some edges: several trees
        _check_components(edges[keep], partitions=int(rng.integers(1, 10)))


def test_components_long_chain_sorted_and_shuffled_converge_within_max_rounds():
    n = 10_000
    max_rounds = CONFIG["dedup"]["max_rounds"]
    assert max_rounds == 40
    chain = np.stack([np.arange(n - 1), np.arange(1, n)], axis=1).astype(np.int64)
    rounds_sorted = _check_components(chain, partitions=16, max_rounds=max_rounds)
    labels = np.random.default_rng(7).permutation(n).astype(np.int64)
    rounds_shuffled = _check_components(labels[chain], partitions=16, max_rounds=max_rounds)
    assert rounds_sorted <= max_rounds and rounds_shuffled <= max_rounds
    # Too few rounds leave a long chain unconverged (the pipeline then reports unconverged nodes).
    rounds, _, _ = simulate_components(chain, 16, max_rounds=4)
    assert rounds is None


def test_components_on_stars_cliques_and_disconnected_pieces():
    star_small_centre = np.array([[0, i] for i in range(1, 50)])
    star_large_centre = np.array([[100, i] for i in range(50, 100)])
    star_middle_centre = np.array([[250, i] for i in list(range(200, 250)) + list(range(251, 300))])
    clique = np.array([[a, b] for a in range(400, 430) for b in range(400, 430) if a < b])
    pair = np.array([[1000, 2000]])
    tri = np.array([[5000, 5001], [5001, 5002], [5002, 5000]])
    for edges in (star_small_centre, star_large_centre, star_middle_centre, clique, pair, tri):
        _check_components(edges.astype(np.int64))
    everything = np.concatenate([star_small_centre, star_large_centre, star_middle_centre, clique, pair, tri]).astype(np.int64)
    rng = np.random.default_rng(3)
    everything = everything[rng.permutation(len(everything))]
    _check_components(everything, partitions=5)
    expected = _union_find(everything)
    assert len(set(expected.values())) == 6
    assert expected[49] == 0 and expected[50] == 50 and expected[299] == 200 and expected[429] == 400 and expected[2000] == 1000


def test_component_primitives():
    assert cc.symmetric(np.array([[1, 2], [2, 1], [3, 3], [1, 2]])).tolist() == [[1, 2], [2, 1]]
    assert cc.symmetric(np.zeros((0, 3), np.int64)).shape == (0, 2)
    star = cc.symmetric(np.array([[0, 1], [0, 2], [0, 3]]))
    assert cc.violations(star) == 0
    path = cc.symmetric(np.array([[0, 1], [1, 2]]))
    assert cc.violations(path) == 1
    assert cc.assignments(star).tolist() == [[0, 0], [1, 0], [2, 0], [3, 0]]
    assert cc.large_star(path).tolist() == cc.symmetric(np.array([[1, 0], [2, 0]])).tolist()
    # Empty inputs.
    empty = np.zeros((0, 2), np.int64)
    assert cc.large_star(empty).shape == cc.small_star(empty).shape == (0, 2)
    assert cc.violations(empty) == 0 and cc.assignments(empty).shape == (0, 2)
    assert cc.split_by_partition(empty, 4) == {}
    # Partitions: every arc in the partition of its source node.
    arcs = cc.symmetric(np.random.default_rng(0).integers(0, 10**9, size=(200, 2)))
    split = cc.split_by_partition(arcs, 7)
    assert sum(len(a) for a in split.values()) == len(arcs)
    for p, a in split.items():
        assert (cc.partition_of(a[:, 0], 7) == p).all()


# ---- 4. candidate pairs, cluster splitting, keep order -----------------------

M, X = lsh.MINHASH, lsh.EXACT


def _entries(buckets: list[tuple[int, list[int], int]], others: dict[int, int] | None = None) -> np.ndarray:
    """Band entries [band key, row, kind, answer's key of the band] for hand-made buckets."""
    others = others or {}
    rows = [[key, row, kind, others.get(row, 0)] for key, members, kind in buckets for row in members]
    return np.array(rows, dtype=np.uint64).reshape(-1, 4)


def _pairs_set(pairs: np.ndarray) -> set[tuple[int, int, int]]:
    return {tuple(int(x) for x in p) for p in pairs}


def test_candidate_pairs_small_buckets_give_all_pairs():
    base = 3 << 40
    assert _pairs_set(lsh.candidate_pairs(_entries([(0xDEADBEEF, [base + 9, base + 4], M)]))) == {(base + 4, base + 9, M)}
    for size in range(3, lsh.ALL_PAIRS_MAX + 1):
        members = [base + 1000 - 7 * i for i in range(size)]
        # Distinct answer keys do not matter in a small bucket.
        pairs = lsh.candidate_pairs(_entries([(2**63 + size, members, M)], {m: 1000 + m for m in members}))
        s = sorted(members)
        assert _pairs_set(pairs) == {(s[i], s[j], M) for i in range(size) for j in range(i + 1, size)}
        assert len(pairs) == size * (size - 1) // 2
        assert pairs.dtype == np.int64 and (pairs[:, 0] < pairs[:, 1]).all()
    # Singletons and empty input give nothing.
    assert lsh.candidate_pairs(_entries([(1, [5], M), (2, [6], X)])).shape == (0, 3)
    assert lsh.candidate_pairs(np.zeros((0, 4), np.uint64)).shape == (0, 3)


@pytest.mark.parametrize("size", [17, 18, 40, 500])
@pytest.mark.parametrize("kind", [M, X])
def test_candidate_pairs_large_buckets_give_chain_and_star(size, kind):
    rng = np.random.default_rng(size)
    members = sorted(rng.choice(1 << 50, size=size, replace=False).tolist())
    shuffled = [int(m) for m in rng.permutation(members)]
    # No answer keys (one-part signatures), or the same answer key everywhere: one bucket.
    for others in (None, {m: 77 for m in members}):
        pairs = lsh.candidate_pairs(_entries([(2**64 - 5, shuffled, kind)], others))
        chain = {(members[i], members[i + 1], kind) for i in range(size - 1)}
        star = {(members[0], members[i], kind) for i in range(2, size)}
        assert _pairs_set(pairs) == chain | star
        assert len(pairs) == 2 * size - 3  # linear in the bucket size
        assert _union_find(pairs[:, :2]) == {m: members[0] for m in members}


def test_large_template_bucket_is_split_by_the_answer():
    # 30 rows share a band (a template); their answers: 10 agree (key 1), 10 agree (key 2), 10 all differ.
    members = list(range(100, 130))
    others = {m: 1 if m < 110 else 2 if m < 120 else 5000 + m for m in members}
    pairs = lsh.candidate_pairs(_entries([(999, members, M)], others))
    first, second = range(100, 110), range(110, 120)
    expected = {(a, b, M) for g in (first, second) for a in g for b in g if a < b}
    assert _pairs_set(pairs) == expected
    # Exact entries are never split, whatever their size.
    exact = lsh.candidate_pairs(_entries([(999, members, X)], others))
    assert len(exact) == 2 * 30 - 3 and set(exact[:, 2].tolist()) == {X}
    # A split sub-bucket that is itself large gives a chain and a star.
    big = list(range(1000, 1040))
    pairs = lsh.candidate_pairs(_entries([(7, big + [5000, 5001], M)], {**{m: 3 for m in big}, 5000: 8, 5001: 9}))
    assert len(pairs) == 2 * 40 - 3 and _union_find(pairs[:, :2]) == {m: 1000 for m in big}
    # A bucket of exactly ALL_PAIRS_MAX members is not split.
    small = list(range(200, 200 + lsh.ALL_PAIRS_MAX))
    pairs = lsh.candidate_pairs(_entries([(8, small, M)], {m: m for m in small}))
    assert len(pairs) == lsh.ALL_PAIRS_MAX * (lsh.ALL_PAIRS_MAX - 1) // 2


def test_candidate_pairs_mixed_buckets_kind_bits_and_order_invariance():
    buckets = [
        (11, [1, 2], X),  # exact bucket
        (12, [1, 2, 3], M),  # the same pair in a MinHash band
        (14, [7, 8, 9, 10], M),
        (15, [3], M),
        (16, list(range(100, 120)), M),
        (17, [100, 101], X),
    ]
    e = _entries(buckets)
    pairs = lsh.candidate_pairs(e)
    got = {(a, b): f for a, b, f in _pairs_set(pairs)}
    assert len(got) == len(pairs)  # no pair twice
    assert got[(1, 2)] == X | M  # the exact bit is kept when pairs merge
    assert got[(1, 3)] == got[(2, 3)] == M
    assert all(got[(a, b)] == M for a in range(7, 11) for b in range(a + 1, 11))
    assert got[(100, 101)] == X | M and got[(100, 102)] == M and got[(101, 102)] == M
    assert len(got) == 1 + 2 + 6 + (2 * 20 - 3)
    # Sorted by (a, b); the same whatever the order of the entries.
    assert pairs[:, :2].tolist() == sorted(pairs[:, :2].tolist())
    rng = np.random.default_rng(0)
    for _ in range(5):
        assert np.array_equal(lsh.candidate_pairs(e[rng.permutation(len(e))]), pairs)


def test_merge_pairs_unions_kind_bits_and_pair_partitions():
    pairs = np.array([[5, 9, M], [1, 2, M], [5, 9, M], [1, 2, X], [3, 4, X], [5, 9, M]], dtype=np.int64)
    assert lsh.merge_pairs(pairs).tolist() == [[1, 2, M | X], [3, 4, X], [5, 9, M]]
    assert lsh.merge_pairs(np.zeros((0, 3), np.int64)).shape == (0, 3)
    # Pair partitions: in range, the same for copies of a pair, spread over partitions.
    many = np.stack([np.arange(1000), np.arange(1000) + 5, np.zeros(1000, np.int64)], axis=1)
    part = lsh.pair_partition(many, 7)
    assert part.min() >= 0 and part.max() < 7 and len(set(part.tolist())) == 7
    assert np.array_equal(lsh.pair_partition(many[::-1], 7), part[::-1])
    many[:, 2] = M
    assert np.array_equal(lsh.pair_partition(many, 7), part)  # the kind bits do not move a pair


def _params(num_perm: int, **dedup) -> DedupParams:
    return DedupParams.from_config(load_config(overrides={"dedup": {"num_perm": num_perm, **dedup}}))


def test_similarity_is_answer_and_prompt_agreement():
    one = _params(8, text="response")
    two = _params(8)
    a = np.arange(16, dtype=np.uint32)[None]
    b = a.copy()
    b[0, :6] += 100  # prompt: 2 of 8 equal
    b[0, 14:] += 100  # answer: 6 of 8 equal
    content, context = similarity(b, a, two)
    assert content[0] == pytest.approx(0.75) and context[0] == pytest.approx(0.25)
    content, context = similarity(a[:, :8], b[:, :8], one)
    assert content[0] == context[0] == pytest.approx(0.25)
    strict = _params(8, verify_threshold=0.35, part_threshold=0.1)
    got = is_similar(np.array([0.35, 0.34, 0.9, 0.9]), np.array([0.1, 0.9, 0.09, 1.0]), strict)
    assert got.tolist() == [True, False, False, True]


def test_split_clusters_breaks_chains():
    params = _params(10, text="response", verify_threshold=0.5)
    a = np.arange(10, dtype=np.uint32)
    b = a.copy()
    b[6:] = [106, 107, 108, 109]  # b ~ a: 6 of 10 equal
    c = b.copy()
    c[:4] = [200, 201, 202, 203]  # c ~ b: 6 of 10; c ~ a: only positions 4, 5
    assert minhash.estimated_jaccard(a[None], c[None])[0] == pytest.approx(0.2)
    sig = np.stack([a, b, c])
    comp = np.zeros(3, np.int64)
    kept_of, is_kept = split_clusters(comp, sig, params)
    assert kept_of.tolist() == [0, 0, 2] and is_kept.tolist() == [True, False, True]
    # With b first (e.g. b has the longest answer), b is kept and takes both.
    kept_of, is_kept = split_clusters(comp, sig[[1, 0, 2]], params)
    assert kept_of.tolist() == [0, 0, 0] and is_kept.tolist() == [True, False, False]
    # With verify: none nothing is split.
    kept_of, _ = split_clusters(comp, sig, _params(10, text="response", verify="none"))
    assert kept_of.tolist() == [0, 0, 0]
    # prompt_answer: the answer must reach verify_threshold, the prompt part_threshold.
    two = _params(10, verify_threshold=0.5, part_threshold=0.3)
    same_prompt = np.concatenate([np.stack([a, a, a]), sig], axis=1)
    assert split_clusters(comp, same_prompt, two)[0].tolist() == [0, 0, 2]
    other_prompts = np.concatenate([np.stack([a, c, a + 50]), np.stack([a, a, a])], axis=1)  # prompts: 0.2 and 0
    assert split_clusters(comp, other_prompts, two)[0].tolist() == [0, 1, 2]
    assert split_clusters(comp, other_prompts, _params(10, verify_threshold=0.5, part_threshold=0.2))[0].tolist() == [0, 0, 2]


@pytest.mark.parametrize("seed", range(5))
def test_split_clusters_invariants_on_random_components(seed):
    rng = np.random.default_rng(seed)
    n, width = 300, 20
    params = _params(width // 2)  # prompt | answer
    comp = np.sort(rng.integers(0, 40, size=n))
    base = rng.integers(0, 2**32, size=(40, width), dtype=np.uint64).astype(np.uint32)
    sig = base[comp].copy()
    noise = rng.random((n, width)) < rng.random((n, 1)) * 0.8
    sig[noise] = rng.integers(0, 2**32, size=int(noise.sum()), dtype=np.uint64).astype(np.uint32)
    kept_of, is_kept = split_clusters(comp, sig, params)
    again = split_clusters(comp, sig.copy(), params)
    assert np.array_equal(kept_of, again[0]) and np.array_equal(is_kept, again[1])
    assert np.array_equal(is_kept, kept_of == np.arange(n))
    assert (comp[kept_of] == comp).all()  # never across components
    assert (kept_of <= np.arange(n)).all()  # the kept row comes first in the keep order
    content = minhash.estimated_jaccard(sig[:, 10:], sig[kept_of, 10:])
    context = minhash.estimated_jaccard(sig[:, :10], sig[kept_of, :10])
    # No member below the thresholds with its kept row.
    assert (content >= params.verify_threshold).all() and (context >= params.part_threshold).all()
    assert 0 < is_kept.sum() < n - 40  # the test data does split some components and keep others whole
    # The first row of every component is kept.
    firsts = np.concatenate(([0], np.flatnonzero(np.diff(comp)) + 1))
    assert is_kept[firsts].all()
    # A row not taken by an earlier kept row is itself kept.
    for i in np.flatnonzero(~is_kept):
        assert is_kept[kept_of[i]]


def test_keep_order_and_its_sort():
    assert keep_order(("-quality", "-response_chars", "id")) == [
        ("component", "ascending", "at_end"),
        ("is_reference", "descending", "at_end"),  # an earlier corpus's row is always kept
        ("quality", "descending", "at_end"),
        ("response_chars", "descending", "at_end"),
        ("id", "ascending", "at_end"),
        ("key", "ascending", "at_end"),
    ]
    assert keep_order(("+n_turns",))[2] == ("n_turns", "ascending", "at_end")
    table = pa.table(
        {
            "component": [1, 1, 1, 1, 0],
            "is_reference": [False] * 5,
            "quality": pa.array([None, 0.5, 0.9, None], pa.float64()).to_pylist() + [None],
            "response_chars": [10, 30, 30, 30, 1],
            "id": ["d", "c", "b", "a", "z"],
            "key": [4, 3, 2, 1, 0],
        }
    )
    ids = table.sort_by(keep_order(("-quality", "-response_chars", "id"))).column("id").to_pylist()
    assert ids == ["z", "b", "c", "a", "d"]  # nulls last even when descending
    ids = table.sort_by(keep_order(("-response_chars", "id"))).column("id").to_pylist()
    assert ids == ["z", "a", "b", "c", "d"]
    ids = table.sort_by(keep_order(("id",))).column("id").to_pylist()
    assert ids == ["z", "a", "b", "c", "d"]
    ids = table.sort_by(keep_order(("response_chars",))).column("id").to_pylist()
    assert ids == ["z", "d", "a", "b", "c"]  # ties end on the smallest key


def _members(rows: list[dict], width: int) -> pa.RecordBatch:
    """What AttachMembersFn sends to ChooseKeepFn."""
    cols = {
        "component": pa.array([r["component"] for r in rows], pa.int64()),
        "key": pa.array([r["key"] for r in rows], pa.int64()),
        "id": pa.array([r["id"] for r in rows], pa.string()),
        "shard": pa.array([r["shard"] for r in rows], pa.string()),
        "row": pa.array([r["key"] & 0xFFFF for r in rows], pa.int64()),
        "content_hash": pa.array([r["content_hash"] for r in rows], pa.string()),
        "quality": pa.nulls(len(rows), pa.float64()),
        "response_chars": pa.array([r["response_chars"] for r in rows], pa.int64()),
        "instruction_chars": pa.array([10] * len(rows), pa.int64()),
        "n_turns": pa.array([2] * len(rows), pa.int64()),
        "signature": pa.array([np.asarray(r["sig"], dtype="<u4").tobytes() for r in rows], pa.binary(4 * width)),
        "is_reference": pa.array([False] * len(rows)),
    }
    return pa.RecordBatch.from_pydict(cols)


def _choose(batches, params):
    main, tagged = [], Counter()
    per_shard = {}
    for out in ChooseKeepFn(params).process((0, batches)):
        if isinstance(out, pa.RecordBatch):
            main.append(out)
        elif out.tag == "totals":
            tagged[out.value[0]] += out.value[1]
        else:
            per_shard[out.value[0]] = out.value[1].tolist()
    assert len(main) == 1 and main[0].schema.equals(DUPLICATES)
    return {r["id"]: r for r in main[0].to_pylist()}, tagged, per_shard


def test_choose_keep_fn_splits_chains_and_keeps_by_rule():
    params = _params(8, keep=["-response_chars", "id"], verify_threshold=0.35, part_threshold=0.1)
    prompt = list(range(100, 108))
    a, b, c = list(range(8)), [0, 1, 2, 3, 14, 15, 16, 17], [20, 21, 22, 23, 14, 15, 16, 17]
    rows = [
        # A chain a ~ b ~ c, a !~ c; a has the longest answer.
        dict(component=10, key=30, id="a", shard="s1", content_hash="h-a", response_chars=300, sig=prompt + a),
        dict(component=10, key=10, id="b", shard="s1", content_hash="h-b", response_chars=200, sig=prompt + b),
        dict(component=10, key=11, id="c", shard="s2", content_hash="h-c", response_chars=100, sig=prompt + c),
        # Exact copies.
        dict(component=40, key=40, id="e", shard="s2", content_hash="h-d", response_chars=50, sig=prompt + a),
        dict(component=40, key=41, id="d", shard="s2", content_hash="h-d", response_chars=50, sig=prompt + a),
        # Linked (say by an exact-Jaccard check) but below the threshold by estimate: both split off.
        dict(component=50, key=50, id="f", shard="s1", content_hash="h-f", response_chars=5, sig=prompt + a),
        dict(component=50, key=51, id="g", shard="s1", content_hash="h-g", response_chars=5, sig=prompt + [0, 1] + list(range(60, 66))),
    ]
    batches = [_members(rows[::2], params.width), _members(rows[1::2], params.width)]
    dups, totals, per_shard = _choose(batches, params)
    assert set(dups) == {"a", "b", "d", "e"}
    assert dups["a"]["keep"] and not dups["b"]["keep"] and dups["b"]["kept_id"] == "a"
    assert dups["a"]["cluster_id"] == dups["b"]["cluster_id"] == 10  # the smallest key, not the kept row's
    assert dups["b"]["similarity"] == pytest.approx(0.5) and not dups["b"]["exact"]
    assert dups["d"]["keep"] and dups["e"]["kept_id"] == "d"  # equal lengths: the smaller id
    assert dups["e"]["exact"] and dups["e"]["similarity"] == 1.0 and dups["d"]["exact"]
    assert {r["cluster_size"] for r in dups.values()} == {2}
    assert totals == {"clusters": 2, "split_off_rows": 3, "matched_reference": 0}
    assert per_shard == {"s1": [2, 1, 0], "s2": [2, 1, 1]}
    # A partition whose components all fall apart yields an empty batch (no crash on zero rows).
    dups, totals, per_shard = _choose([_members(rows[5:], params.width)], params)
    assert dups == {} and totals == {"clusters": 0, "split_off_rows": 2, "matched_reference": 0} and per_shard == {}
    # By id alone, b (not the longest) would win the chain and take a and c.
    by_id = _params(8, keep=["id"], verify_threshold=0.35, part_threshold=0.1)
    rows[1]["id"] = "0b"
    dups, totals, _ = _choose([_members(rows[:3], by_id.width)], by_id)
    assert set(dups) == {"a", "0b", "c"} and dups["0b"]["keep"] and dups["c"]["kept_id"] == "0b"


def test_estimated_jaccard_by_parts():
    a = np.arange(8, dtype=np.uint32)[None]
    b = a.copy()
    b[0, 6:] = 99  # second half: 2 of 4 differ
    assert minhash.estimated_jaccard(a, b)[0] == pytest.approx(0.75)
    assert minhash.estimated_jaccard(a, b, parts=2)[0] == pytest.approx(0.5)
    assert minhash.estimated_jaccard(a[:0], b[:0], parts=2).shape == (0,)


# ---- 7. diversity sketches -----------------------------------------------------

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
        pa.array(["Write a poem.", "write code", "  Explain this", "What is x?", "", None, "123 numbers", "¿Qué es?", "\"Summarize\" it"])
    )
    assert got == Counter({"write": 2, "explain": 1, "what": 1, "qué": 1, "summarize": 1, "<none>": 3})
    capped = diversity.cap_counter(Counter({"a": 5, "b": 3, "c": 1, "d": 1}), 2)
    assert capped == Counter({"a": 5, "b": 3, "<other>": 2})


def test_self_bleu():
    assert diversity.self_bleu(["only one"]) is None
    assert diversity.self_bleu(["", "  ", "one"]) is None
    same = diversity.self_bleu(["the cat sat on the mat today"] * 3)
    different = diversity.self_bleu(["the cat sat on the mat today", "quantum fields permeate all of space", "bake bread at two hundred degrees"])
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
