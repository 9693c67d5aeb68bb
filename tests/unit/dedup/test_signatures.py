"""Signatures as pure functions: shingles and MinHash against datasketch, the
Signer's prompt and answer parts, band keys across processes and the LSH
parameters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import datasketch
import numpy as np
import pyarrow as pa
import pytest
from conftest import REPO_ROOT, canonical_batch
from datasketch.lsh import _optimal_param

from winnow.transforms.config import load_config
from winnow.transforms.dedup import components as cc
from winnow.transforms.dedup import lsh, minhash
from winnow.transforms.dedup.params import DedupParams
from winnow.transforms.dedup.shingles import (
    ShingleSpec,
    char_mode_rows,
    normalize,
    reference_shingles,
    shingle_hash32,
    shingle_hashes,
)
from winnow.transforms.dedup.signer import Signer
from winnow.transforms.signals.scorer import Scorer
from winnow.transforms.textviews import texts_of

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

_WORDS = (  # noqa: SIM905 - prose reads better than a list of words
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
    full = pa.array(["padding row one", "padding 二", *texts], pa.string())
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
    assert reference_shingles("今天天气很好，我们", spec) == [
        s.encode() for s in ["今 天 天 气 很", "天 天 气 很 好", "天 气 很 好 我", "气 很 好 我 们"]
    ]
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
    batch = canonical_batch(rows, "mix.jsonl", index=3, config=CONFIG)
    return batch, Scorer(CONFIG, []).score(batch)


SIGNER_ROWS = [
    {
        "instruction": "Summarize the paragraph below.",
        "input": "Rivers carry water to the sea.",
        "output": "Rivers flow to the sea.",
        "system": "You are a careful assistant.",
    },
    {
        "conversations": [
            {"from": "system", "value": "Answer briefly."},
            {"from": "human", "value": "What is two plus two?"},
            {"from": "gpt", "value": "Four."},
            {"from": "human", "value": "And three plus three?"},
            {"from": "gpt", "value": "Six, since three and three make six."},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "What's the weather in Paris today?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"function": {"name": "weather", "arguments": '{"city": "Paris"}'}}],
            },
            {"role": "tool", "content": "sunny, 21 degrees"},
            {"role": "assistant", "content": "It is sunny and 21 degrees in Paris."},
        ]
    },
    {"text": "A plain web text row has no prompt at all, only an answer part."},
    {
        "instruction": "请解释什么是水循环。",
        "input": "",
        "output": "水循环是指水在地球上不断运动和变化的过程，包括蒸发、凝结和降水。",
    },
    {"instruction": "Say nothing at all.", "input": "", "output": ""},
]


def _expected_parts(scored: pa.RecordBatch) -> list[tuple[str, str]]:
    out = []
    for system, turns in zip(scored.column("system").to_pylist(), scored.column("turns").to_pylist(), strict=True):
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
    assert parts[0] == (
        "You are a careful assistant.\nSummarize the paragraph below.\n\nRivers carry water to the sea.",
        "Rivers flow to the sea.",
    )
    assert parts[1] == (
        "Answer briefly.\nWhat is two plus two?\nAnd three plus three?",
        "Four.\nSix, since three and three make six.",
    )
    assert parts[3] == ("", SIGNER_ROWS[3]["text"])
    assert [t.to_pylist() for t in texts_of(batch, "prompt_answer")] == [list(p) for p in zip(*parts, strict=True)]

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
    expected_shingles = [
        shingle_hash32(s) for part in zip(*parts, strict=True) for text in part for s in reference_shingles(text, spec)
    ]
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
            expected |= {(int(u), key, lsh.MINHASH, int(a)) for u, a in zip(union_keys, answer_keys, strict=True)}
    assert {tuple(int(x) for x in e) for e in all_entries[~is_exact]} == expected
    assert len(all_entries) == len(SIGNER_ROWS) + params.bands * len(SIGNER_ROWS)  # every row has some text
    for part, arr in entries.items():
        assert (arr[:, 0] % np.uint64(params.partitions) == part).all()


def test_dedup_texts_other_choices():
    batch, _ = _canonical_and_scored(SIGNER_ROWS[:2])
    conv = texts_of(batch, "conversation")[0].to_pylist()
    assert (
        conv[0]
        == "You are a careful assistant.\nSummarize the paragraph below.\n\nRivers carry water to the sea.\nRivers flow to the sea."
    )
    assert texts_of(batch, "response")[0].to_pylist() == ["Rivers flow to the sea.", "Six, since three and three make six."]
    assert texts_of(batch, "instruction")[0].to_pylist()[1] == "What is two plus two?"


# ---- band keys across processes, LSH parameters ----------------------------

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
        [sys.executable, "-c", _STABILITY_SCRIPT, json.dumps(texts)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=120,
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
        "entries": {
            str(k): v.tolist()
            for k, v in sorted(
                lsh.band_entries(
                    np.arange(6, dtype=np.int64) + (7 << 40),
                    fixed[:, :32],
                    np.arange(6, dtype=np.uint64) * 1000003,
                    8,
                    4,
                    5,
                    fixed[:, 32:],
                ).items()
            )
        },
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


def test_estimated_jaccard_by_parts():
    a = np.arange(8, dtype=np.uint32)[None]
    b = a.copy()
    b[0, 6:] = 99  # second half: 2 of 4 differ
    assert minhash.estimated_jaccard(a, b)[0] == pytest.approx(0.75)
    assert minhash.estimated_jaccard(a, b, parts=2)[0] == pytest.approx(0.5)
    assert minhash.estimated_jaccard(a[:0], b[:0], parts=2).shape == (0,)
