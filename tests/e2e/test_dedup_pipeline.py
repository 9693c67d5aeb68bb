"""Near-duplicates on Beam: the star-step rounds in a TestPipeline, and `winnow score`
end to end on a corpus written here (exact, near and non-duplicates across files
and formats), checking duplicates/, the summary, exported signatures and that the
kept rows do not depend on the order of the input.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter

import apache_beam as beam
import datasketch
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import BeamAssertException, assert_that, equal_to
from conftest import alpaca as alpaca_row
from conftest import (
    openai,
    read_dataset_json,
    read_duplicates,
    read_records,
    read_shards,
    score,
    sharegpt,
    write_files,
)

from winnow.transforms.beam.near_duplicates import AssignFn, StarStepFn
from winnow.transforms.config import load_config
from winnow.transforms.dedup import components as cc
from winnow.transforms.dedup.shingles import ShingleSpec, reference_shingles, shingle_hash32

pytestmark = pytest.mark.slow

ANSWER_ROLES = ("assistant", "tool_call", "text")
DEFAULTS = load_config().dedup
NUM_PERM, SEED, VERIFY_THRESHOLD = DEFAULTS.num_perm, DEFAULTS.seed, DEFAULTS.verify_threshold


# ---- Beam: star steps and assignment --------------------------------------------


def _components_pipeline(edges: np.ndarray, rounds: int, partitions: int = 8):
    """The rounds of NearDuplicates on given edges; returns (assignments, totals) PCollections."""
    chunks = np.array_split(edges, 3)
    initial = [kv for c in chunks for kv in cc.split_by_partition(cc.symmetric(c), partitions).items()]
    p = TestPipeline()
    arcs = p | "Arcs" >> beam.Create(initial)
    for r in range(rounds):
        step = "large" if r % 2 == 0 else "small"
        arcs = arcs | f"Group{r}" >> beam.GroupByKey() | f"Star{r}{step}" >> beam.ParDo(StarStepFn(step, partitions))
    assigned = arcs | "GroupFinal" >> beam.GroupByKey() | "Assign" >> beam.ParDo(AssignFn()).with_outputs("totals", main="asg")
    pairs = assigned.asg | "Pairs" >> beam.FlatMap(lambda kv: [(int(a), int(b)) for a, b in kv[1].tolist()])
    totals = assigned.totals | "Sum" >> beam.CombinePerKey(sum)
    return p, pairs, totals


def test_beam_star_rounds_resolve_a_chain():
    n = 2000
    labels = np.random.default_rng(11).permutation(n).astype(np.int64)
    chain = np.stack([labels[:-1], labels[1:]], axis=1)
    p, pairs, totals = _components_pipeline(chain, 40)
    assert_that(pairs, equal_to([(i, 0) for i in range(n)]), label="assignments")
    assert_that(totals, equal_to([("unconverged_nodes", 0)]), label="totals")
    p.run().wait_until_finish()


def test_beam_star_rounds_two_components_keyed_by_shard():
    # Row keys of shard 2 and shard 5: assignments come out keyed by the node's shard.
    a = (2 << 40) + np.arange(300, dtype=np.int64)
    b = (5 << 40) + np.arange(100, dtype=np.int64)
    edges = np.concatenate([np.stack([a[:-1], a[1:]], 1), np.stack([b[1:], b[:-1]], 1), [[a[0], a[0]]]])
    p, pairs, totals = _components_pipeline(edges, 40, partitions=3)
    expected = [(int(x), int(a[0])) for x in a] + [(int(x), int(b[0])) for x in b]
    assert_that(pairs, equal_to(expected), label="assignments")
    assert_that(totals, equal_to([("unconverged_nodes", 0)]), label="totals")
    p.run().wait_until_finish()


def test_beam_too_few_rounds_leave_unconverged_nodes():
    n = 2000
    chain = np.stack([np.arange(n - 1), np.arange(1, n)], axis=1).astype(np.int64)

    def some_unconverged(totals):
        if len(totals) != 1 or totals[0][0] != "unconverged_nodes" or not totals[0][1] > 0:
            raise BeamAssertException(f"expected unconverged nodes, got {totals}")

    p, _, totals = _components_pipeline(chain, 2)
    assert_that(totals, some_unconverged, label="totals")
    p.run().wait_until_finish()


# ---- the corpus ---------------------------------------------------------------------

_VOCAB = (  # noqa: SIM905 - prose reads better than a list of words
    "apple bridge candle dolphin engine falcon garden harbor island jacket kettle lantern meadow needle orchard "
    "pepper quartz rocket saddle tunnel umbrella velvet walnut yogurt zipper anchor basket cactus desert ember "
    "feather glacier hammer igloo jungle kayak ladder magnet napkin oyster pillow quiver ribbon shovel tractor "
    "violin wagon yarn blossom canyon drizzle echo fossil gravel horizon ivory jigsaw kitten lemon marble nectar "
    "olive puzzle quilt raven spider thunder vortex willow xylophone yacht zebra copper silver golden crimson "
    "purple scarlet amber quickly slowly gently loudly softly bravely calmly eagerly fiercely happily"
).split()
_FIRST = ["Describe", "List", "Explain", "Write", "Compare", "Suggest", "Name", "Summarize", "Tell", "Give", "Find", "Create"]

HEALTH_Q = "Give three tips for staying healthy."
HEALTH_A = (
    "To stay healthy, eat a balanced diet with plenty of vegetables, fruit, whole grains and lean protein, and drink water "
    "instead of sugary drinks. Exercise for at least thirty minutes on most days, even if it is only a brisk walk around the "
    "block. Sleep seven to nine hours each night, keep a regular schedule, and make time to relax with friends."
)
WATER_Q = "Describe the water cycle in simple terms."
WATER_A = (
    "Water moves in a never ending loop. The sun warms oceans, lakes and rivers, and some of that water evaporates into the "
    "air as vapour. High in the sky the vapour cools and condenses into tiny droplets that form clouds. When the droplets "
    "grow heavy they fall as rain or snow, soak into the ground, and flow back through streams to the sea again."
)
WATER_A1 = WATER_A.replace("sun warms", "sun heats")  # one word, same length
WATER_A3 = WATER_A.replace("tiny", "minuscule").replace("grow heavy", "grow weighty").replace("the ground", "the soil")
PRESS_Q = "Write a short paragraph about the printing press."
_PRESS = (  # noqa: SIM905 - prose reads better than a list of words
    "Johannes Gutenberg's extraordinary mechanical invention transformed European communication dramatically, enabling "
    "inexpensive reproduction of manuscripts, pamphlets, scientific treatises, religious commentaries, newspapers, "
    "administrative documents, propaganda, literature and maps. Before the press every book was copied by hand, which was "
    "slow and costly, so only rich people and monasteries owned them. After about 1450 printers spread across the "
    "continent, literacy rose, ideas travelled faster than ever"
).split()[:60]
_N1 = "it was a big step for all of us and we can see its mark in how we read and".split()  # noqa: SIM905 - prose reads better than a list of words
_N2 = "so on to this day the new tools of our age owe a lot to that old and odd box".split()  # noqa: SIM905 - prose reads better than a list of words
PRESS_1 = " ".join(_PRESS)  # A: the longest
# B ~ A and C ~ B (50 of 60 words shared, in order), but C !~ A (40 shared: their whole-row word 5-gram
# Jaccard is 0.45, 0.64 for the others, and their word order (ROUGE-L) falls below dedup.order_threshold).
PRESS_2 = " ".join(_PRESS[10:] + _N1[:10])
PRESS_3 = " ".join(_PRESS[20:] + _N1[:10] + _N2[:10])
WALL_Q = "请简要介绍长城的历史。"
WALL_A = (
    "长城是中国古代修建的巨大防御工程，最早可以追溯到春秋战国时期。秦始皇统一六国后，把各国的城墙连接起来。"
    "明朝又进行了大规模的重修，今天我们看到的大部分城墙都是明代留下的。长城全长两万多公里，是世界上最伟大的建筑之一。"
)
WALL_A1 = WALL_A.replace("巨大", "庞大")
TEMPLATE_SYSTEM = (
    "You are a meticulous customer feedback analyst working for a large online retailer. Read every review carefully, "
    "consider the tone, the specific complaints and the specific praise, ignore shipping issues unless they dominate the "
    "review, and never invent facts that the customer did not state. Answer in plain English without bullet points."
)
TEMPLATE_Q = "Classify the sentiment of this customer review as positive, negative or mixed, and explain your reasoning. Review: "
REVIEWS = [
    "The blender is loud but strong.",
    "Arrived broken, refund was slow.",
    "Perfect fit and lovely colour.",
    "Battery dies within two hours.",
    "Good value, flimsy lid.",
]
VACCINE_Q = "Explain how vaccines train the immune system."
_VACCINE = (  # noqa: SIM905 - prose reads better than a list of words
    "A vaccine shows the immune system a harmless piece or copy of a germ, such as a protein from its surface or a weakened "
    "virus. White blood cells learn to recognise that shape and produce antibodies against it. Memory cells then remain in the "
    "body for years, so if the real germ ever arrives the defence starts quickly and the illness is mild or prevented entirely."
).split()[:60]
EMPTY_Q = "Reply with an empty message."
SPANISH_Q = "Translate 'good morning' into Spanish."
SPANISH_A = "Buenos días."


def _random_text(rng, lo: int, hi: int) -> str:
    return " ".join(rng.choice(_VOCAB, int(rng.integers(lo, hi))))


def alpaca(id_, instruction, output, system=""):
    # Always with a `system` field: d.parquet takes its columns from its first row.
    return alpaca_row(id_, instruction, output, system=system)


def corpus() -> dict[str, list[dict]]:
    """Rows per file (file name -> rows); the ids say which group a row belongs to."""
    rng = np.random.default_rng(2024)
    files: dict[str, list[dict]] = {"a.jsonl": [], "b.jsonl": [], "c.json": [], "d.parquet": []}
    a, b, c, d = (files[k] for k in files)
    # Exact copies: twice in one file, once as ShareGPT in another, once case/space-folded in Parquet.
    a += [alpaca("e1", HEALTH_Q, HEALTH_A), alpaca("e3", HEALTH_Q, HEALTH_A)]
    c.append(sharegpt("e2", HEALTH_Q, HEALTH_A))
    d.append(alpaca("e4", "  GIVE three tips for   staying HEALTHY. ", HEALTH_A))
    # Near copies: one and three words changed; n3 has the longest answer.
    a.append(alpaca("n1", WATER_Q, WATER_A))
    b.append(openai("n2", WATER_Q, WATER_A1))
    d.append(alpaca("n3", WATER_Q, WATER_A3))
    # A chain: p1 ~ p2 ~ p3 but p1 !~ p3; p1 (longest) is kept and p3 is split off.
    a.append(alpaca("p1", PRESS_Q, PRESS_1))
    b.append(openai("p2", PRESS_Q, PRESS_2))
    c.append(sharegpt("p3", PRESS_Q, PRESS_3))
    # Chinese near copies (character shingles).
    c.append(sharegpt("z1", WALL_Q, WALL_A))
    d.append(alpaca("z2", WALL_Q, WALL_A1))
    # One long shared template, different answers: never duplicates.
    makers = [(a, alpaca), (a, alpaca), (b, openai), (c, sharegpt), (d, alpaca)]
    for i, ((where, make), review) in enumerate(zip(makers, REVIEWS, strict=True)):
        where.append(make(f"t{i + 1}", TEMPLATE_Q + review, _random_text(rng, 30, 45), system=TEMPLATE_SYSTEM))
    # Same prompt, answers sharing their first 22 of 60 words (Jaccard about 0.21): candidates
    # (the whole texts are similar), rejected because the answers are below verify_threshold.
    a.append(alpaca("v1", VACCINE_Q, " ".join(_VACCINE)))
    b.append(openai("v2", VACCINE_Q, " ".join(_VACCINE[:22] + list(np.random.default_rng(0).choice(_VOCAB, 38)))))
    d.append(alpaca("v3", VACCINE_Q, " ".join(_VACCINE[:22] + list(np.random.default_rng(5).choice(_VOCAB, 38)))))
    # Empty answers: two exact copies, and the same prompt with an answer (not a duplicate).
    a.append(alpaca("x1", EMPTY_Q, ""))
    b.append(openai("x2", EMPTY_Q, ""))
    d.append(alpaca("x3", EMPTY_Q, "Okay."))
    # Twenty exact copies: a bucket larger than ALL_PAIRS_MAX.
    for i in range(20):
        where, make = [(a, alpaca), (b, openai), (c, sharegpt)][i % 3]
        where.append(make(f"b{i:02d}", SPANISH_Q, SPANISH_A))
    # Unrelated rows.
    for i in range(16):
        where, make = [(a, alpaca), (b, openai), (c, sharegpt), (d, alpaca)][i % 4]
        question = f"{_FIRST[i % len(_FIRST)]} {_random_text(rng, 3, 10)}"
        where.append(make(f"u{i:02d}", question, _random_text(rng, 0 if i == 5 else 2, 50)))
    # Interleave so that groups do not sit in consecutive rows.
    for rows in files.values():
        order = np.random.default_rng(len(rows)).permutation(len(rows))
        rows[:] = [rows[k] for k in order]
    return files


EXPECTED_CLUSTERS = {
    frozenset({"e1", "e2", "e3", "e4"}),
    frozenset({"n1", "n2", "n3"}),
    frozenset({"p1", "p2"}),
    frozenset({"z1", "z2"}),
    frozenset({"x1", "x2"}),
    frozenset(f"b{i:02d}" for i in range(20)),
}
KEPT_DEFAULT = {"e1", "n3", "p1", "z1", "x1", "b00"}  # keep: [-quality, -response_chars, id]
EXACT = {"e1", "e2", "e3", "e4", "x1", "x2", *(f"b{i:02d}" for i in range(20)), "n3", "p1", "z1"}
VERIFIED_PAIRS = 6 + 3 + 2 + 1 + 1 + (2 * 20 - 3)  # e, n, p1-p2 and p2-p3, z, x, chain + star over b


def clusters_of(dups: dict[str, dict]) -> set[frozenset]:
    groups: dict[int, set] = {}
    for r in dups.values():
        groups.setdefault(r["cluster_id"], set()).add(r["id"])
    return {frozenset(g) for g in groups.values()}


def parts_of(record: dict) -> tuple[str, str]:
    """The prompt (system, user and tool turns) and answer texts of a record."""
    turns = record["turns"]
    prompt = [t["content"] for t in turns if t["role"] not in ANSWER_ROLES]
    answer = [t["content"] for t in turns if t["role"] in ANSWER_ROLES]
    return "\n".join(([record["system"]] if record["system"] else []) + prompt), "\n".join(answer)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus") / "in"
    write_files(d, corpus())
    return str(d)


@pytest.fixture(scope="module")
def main_run(corpus_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run") / "out")
    assert score(corpus_dir, out, "--direct_num_workers=1") == 0
    return out


# ---- 5. end to end ---------------------------------------------------------------


def test_rows_land_in_the_right_clusters(main_run):
    recs = read_records(main_run, by_id=True)
    all_ids = {r["id"] for rows in corpus().values() for r in rows}
    assert set(recs) == all_ids
    dups = read_duplicates(main_run, by_id=True)
    assert set(dups) == set().union(*EXPECTED_CLUSTERS)
    assert clusters_of(dups) == EXPECTED_CLUSTERS
    for never in ["p3", "x3", "v1", "v2", "v3", *(f"t{i}" for i in range(1, 6)), *(f"u{i:02d}" for i in range(16))]:
        assert never not in dups, never
    assert {i for i, r in dups.items() if r["keep"]} == KEPT_DEFAULT


def test_duplicate_records_are_consistent(main_run):
    recs = read_records(main_run, by_id=True)
    dups = read_duplicates(main_run, by_id=True)
    by_cluster: dict[int, list[dict]] = {}
    for r in dups.values():
        by_cluster.setdefault(r["cluster_id"], []).append(r)
        rec = recs[r["id"]]
        assert (r["key"], r["shard"], r["row"]) == (rec["key"], rec["shard"], rec["row"])
    for cluster_id, rows in by_cluster.items():
        kept = [r for r in rows if r["keep"]]
        assert len(kept) == 1, cluster_id
        assert all(r["cluster_size"] == len(rows) for r in rows)
        assert all(r["kept_id"] == kept[0]["id"] for r in rows)
        assert cluster_id == min(r["key"] for r in rows)  # the smallest row key of the cluster
        for r in rows:
            same_content = recs[r["id"]]["content_hash"] == recs[kept[0]["id"]]["content_hash"]
            assert r["exact"] == same_content, r["id"]
            if r["exact"]:
                assert r["similarity"] == pytest.approx(1.0)
            else:
                assert VERIFY_THRESHOLD <= r["similarity"] < 1.0, r
    assert {i for i, r in dups.items() if r["exact"]} == EXACT
    assert dups["e4"]["exact"]  # case and spacing are folded before the content hash
    # The kept row's id and shard: e.g. the ShareGPT copy in c.json points at the alpaca row in a.jsonl.
    assert dups["e2"]["shard"] == "c.json" and dups["e2"]["kept_id"] == "e1" and recs["e1"]["shard"] == "a.jsonl"
    assert dups["n1"]["kept_id"] == dups["n2"]["kept_id"] == "n3"
    assert dups["p2"]["kept_id"] == "p1"


def test_summary_reports_dedup_and_diversity(main_run):
    recs = read_records(main_run, by_id=True)
    dups = read_duplicates(main_run, by_id=True)
    data = read_dataset_json(main_run)
    dd = data["dedup"]
    assert dd["unconverged_nodes"] == 0
    assert dd["clusters"] == len(EXPECTED_CLUSTERS)
    assert dd["verified_pairs"] == VERIFIED_PAIRS
    # Every distinct candidate pair is verified: rows sharing a prompt but not the answer (the template
    # rows, v1-v3, p1-p3, x1-x3) may be candidates, and are rejected.
    assert dd["accepted_pairs"] == dd["verified_pairs"] + dd["rejected_pairs"]
    assert dd["candidate_pairs"] >= dd["accepted_pairs"]
    assert dd["rejected_pairs"] >= 2
    assert dd["split_off_rows"] == 1  # p3
    assert (dd["num_perm"], dd["bands"], dd["rows"], dd["max_rounds"]) == (128, 37, 3, 40)
    dv = data["diversity"]
    removed = sum(not r["keep"] for r in dups.values())
    assert removed == sum(len(c) - 1 for c in EXPECTED_CLUSTERS)
    assert dv["duplicate_rows"] == len(dups)
    assert dv["duplicates_removed"] == removed
    assert dv["exact_duplicates_removed"] == sum(not r["keep"] and r["exact"] for r in dups.values())
    assert dv["duplicate_rate"] == pytest.approx(removed / len(recs))
    assert dv["unique_ratio"] == pytest.approx(1 - removed / len(recs))
    # Distinct shingles of every prompt and answer (the HyperLogLog is within a few percent).
    spec = ShingleSpec()
    distinct = {shingle_hash32(s) for rec in recs.values() for text in parts_of(rec) for s in reference_shingles(text, spec)}
    assert abs(dv["distinct_ngrams"] - len(distinct)) <= 0.03 * len(distinct)
    # Instruction types: the leading word of each instruction.
    leading = Counter()
    for rec in recs.values():
        m = re.match(r"^\W*([^\W\d_]+)", rec["instruction"])
        leading[m.group(1).lower() if m else "<none>"] += 1
    p = np.array(list(leading.values())) / len(recs)
    assert dv["instruction_type_entropy"] == pytest.approx(float(-(p * np.log2(p)).sum()))
    assert dv["instruction_types"] == len(leading)
    assert data["top_instruction_types"]["give"] == leading["give"]
    assert isinstance(dv["self_bleu"], float) and 0.0 <= dv["self_bleu"] <= 100.0
    # Per shard.
    shards = {s["shard"]: s for s in read_shards(main_run).to_pylist()}
    assert set(shards) == {"a.jsonl", "b.jsonl", "c.json", "d.parquet"}
    for name, s in shards.items():
        mine = [r for r in dups.values() if r["shard"] == name]
        assert s["duplicate_rows"] == len(mine), name
        assert s["duplicates_removed"] == sum(not r["keep"] for r in mine), name
        assert s["exact_duplicates_removed"] == sum(not r["keep"] and r["exact"] for r in mine), name
    assert sum(s["duplicates_removed"] for s in shards.values()) == removed
    # Signatures are working files: gone after the run unless exported.
    assert not os.path.exists(os.path.join(main_run, "signatures"))
    with open(os.path.join(main_run, "run.json")) as f:
        assert json.load(f)["complete"] is True


def test_multi_process_runner_gives_the_same_duplicates(corpus_dir, main_run, tmp_path):
    out = str(tmp_path / "out")
    assert score(corpus_dir, out) == 0  # the default local runner: one process per core
    assert read_duplicates(out, by_id=True) == read_duplicates(main_run, by_id=True)
    assert read_dataset_json(out)["dedup"] == read_dataset_json(main_run)["dedup"]
    assert not os.path.exists(os.path.join(out, "signatures"))


# ---- 6. keep-one does not depend on input order; the keep rule ---------------------


def _summary_by_id(dups: dict[str, dict]) -> dict[str, tuple]:
    return {i: (r["keep"], r["kept_id"], r["exact"], r["cluster_size"], round(r["similarity"], 6)) for i, r in dups.items()}


def test_reordered_input_keeps_the_same_rows_and_exports_signatures(main_run, tmp_path):
    rows = [r for rs in corpus().values() for r in rs]
    rows = [rows[k] for k in np.random.default_rng(77).permutation(len(rows))]
    # Other files, other sizes, other order; ids come from the `id` field.
    files = {"p.jsonl": rows[:7], "q.jsonl": rows[7:40], "r.json": rows[40:55], "s.jsonl": rows[55:]}
    write_files(str(tmp_path / "in"), files)
    out = str(tmp_path / "out")
    assert (
        score(
            str(tmp_path / "in"),
            out,
            "--direct_num_workers=1",
            config={"dedup": {"export_signatures": True, "keep": ["-response_chars", "id"]}},
        )
        == 0
    )
    dups, before = read_duplicates(out, by_id=True), read_duplicates(main_run, by_id=True)
    assert clusters_of(dups) == clusters_of(before) == EXPECTED_CLUSTERS
    assert {i for i, r in dups.items() if r["keep"]} == KEPT_DEFAULT
    assert _summary_by_id(dups) == _summary_by_id(before)
    assert {r["shard"] for r in dups.values()} <= set(files)

    # Exported signatures: key and signature columns, loadable into datasketch.
    listing = sorted(os.listdir(os.path.join(out, "signatures")))
    assert "params.json" in listing
    sig_files = [f for f in listing if f != "params.json"]
    assert sig_files and all(f.endswith(".parquet") for f in sig_files)
    table = pa.concat_tables([pq.read_table(os.path.join(out, "signatures", f)) for f in sig_files])
    assert {"key", "id", "signature"} <= set(table.column_names)
    recs = read_records(out, by_id=True)
    assert table.num_rows == len(recs)
    spec = ShingleSpec()
    for row in table.to_pylist():
        rec = recs[row["id"]]
        assert row["key"] == rec["key"]
        values = np.frombuffer(row["signature"], dtype="<u4")
        assert len(values) == 2 * NUM_PERM
        for k, text in enumerate(parts_of(rec)):
            exported = datasketch.LeanMinHash(seed=SEED, hashvalues=values[k * NUM_PERM : (k + 1) * NUM_PERM], scheme="affine32")
            m = datasketch.MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=shingle_hash32)
            m.update_batch(reference_shingles(text, spec))
            assert exported == datasketch.LeanMinHash(m), (row["id"], k)
            assert np.array_equal(exported.hashvalues, m.hashvalues)
            assert datasketch.MinHash(seed=SEED, hashvalues=exported.hashvalues, scheme="affine32").jaccard(m) == 1.0


def test_keep_rule_decides_which_row_is_kept(corpus_dir, main_run, tmp_path):
    out = str(tmp_path / "out")
    assert score(corpus_dir, out, "--direct_num_workers=1", config={"dedup": {"keep": ["id"]}}) == 0
    dups = read_duplicates(out, by_id=True)
    assert clusters_of(dups) == EXPECTED_CLUSTERS
    # By id alone the smallest id is kept: n1 instead of n3 (the longest answer).
    assert {i for i, r in dups.items() if r["keep"]} == (KEPT_DEFAULT - {"n3"}) | {"n1"}
    assert dups["n3"]["kept_id"] == dups["n2"]["kept_id"] == "n1"
    assert not dups["n3"]["exact"] and dups["n1"]["exact"]
    before = read_duplicates(main_run, by_id=True)
    assert dups["n3"]["similarity"] == pytest.approx(before["n1"]["similarity"])  # the same pair, seen from the other side


# ---- other verification modes -------------------------------------------------------


@pytest.mark.parametrize("verify", ["exact", "none"])
def test_verify_modes(corpus_dir, tmp_path, verify):
    out = str(tmp_path / "out")
    assert score(corpus_dir, out, "--direct_num_workers=1", config={"dedup": {"verify": verify}}) == 0
    dups = read_duplicates(out, by_id=True)
    dd = read_dataset_json(out)["dedup"]
    assert dd["unconverged_nodes"] == 0 and dd["verify"] == verify
    if verify == "exact":
        # Jaccard of the shingle sets: the v answers (0.21) are rejected, the chain still splits.
        assert clusters_of(dups) == EXPECTED_CLUSTERS
        assert {i for i, r in dups.items() if r["keep"]} == KEPT_DEFAULT
        assert dd["verified_pairs"] == VERIFIED_PAIRS and dd["rejected_pairs"] >= 2
    else:
        # Every candidate pair is an edge and clusters are not split: the expected clusters merge
        # with rows they were told apart from (p3, the shared-template rows), unrelated rows stay out.
        found = clusters_of(dups)
        for expected in EXPECTED_CLUSTERS | {frozenset({"p1", "p2", "p3"})}:
            assert any(expected <= c for c in found), expected
        assert not any(i.startswith("u") for i in dups)
        assert dd["rejected_pairs"] == 0 and dd["verified_pairs"] == dd["accepted_pairs"] and dd["split_off_rows"] == 0
        assert dups["p3"]["kept_id"] == "p1"
    assert not os.path.exists(os.path.join(out, "signatures"))


def test_new_rows_are_deduplicated_against_an_exported_reference(tmp_path):
    """A second run with dedup.reference marks rows that repeat the first corpus."""
    from winnow.pipelines.cli import main as cli_main

    first = tmp_path / "first"
    first.mkdir()
    old_rows = [
        {
            "id": "old-1",
            "instruction": "Explain why the sky looks blue on a clear day.",
            "output": "Sunlight scatters off air molecules, and short blue wavelengths scatter the most, "
            "so the whole sky glows blue when the sun is high on a clear day.",
        },
        {
            "id": "old-2",
            "instruction": "List three uses of baking soda at home.",
            "output": "It deodorizes refrigerators, softens stubborn stains when mixed into a paste, "
            "and helps baked goods rise in the oven.",
        },
    ]
    (first / "old.jsonl").write_text("\n".join(json.dumps(r) for r in old_rows) + "\n")
    cfg1 = tmp_path / "export.yaml"
    cfg1.write_text("dedup: {export_signatures: true}\n")
    run1 = tmp_path / "run1"
    assert cli_main(["score", str(first), "--output", str(run1), "--config", str(cfg1), "--direct_num_workers=1"]) == 0
    assert (run1 / "signatures" / "params.json").exists()

    second = tmp_path / "second"
    second.mkdir()
    new_rows = [
        dict(old_rows[0], id="new-copy"),  # exact repeat of the reference
        dict(old_rows[1], id="new-near", output=old_rows[1]["output"].replace("stubborn", "tough")),
        {
            "id": "new-fresh",
            "instruction": "Name a mammal that lays eggs.",
            "output": "The platypus is a mammal from Australia that lays eggs and hunts underwater.",
        },
    ]
    (second / "new.jsonl").write_text("\n".join(json.dumps(r) for r in new_rows) + "\n")
    cfg2 = tmp_path / "reference.yaml"
    cfg2.write_text(f"dedup: {{reference: ['{run1 / 'signatures'}']}}\n")
    run2 = tmp_path / "run2"
    assert cli_main(["score", str(second), "--output", str(run2), "--config", str(cfg2), "--direct_num_workers=1"]) == 0
    dups = {r["id"]: r for r in pq.read_table(str(run2 / "duplicates")).to_pylist()}
    assert set(dups) == {"new-copy", "new-near"}
    assert dups["new-copy"]["kept_id"] == "old-1" and dups["new-copy"]["exact"] and not dups["new-copy"]["keep"]
    assert dups["new-near"]["kept_id"] == "old-2" and not dups["new-near"]["keep"]
    dataset = json.loads((run2 / "summary" / "dataset.json").read_text())
    assert dataset["dedup"]["reference_rows"] == 2 and dataset["dedup"]["matched_reference"] == 2
    assert dataset["rows_read"] == 3


# ---- ROUGE-L as the verifier ----------------------------------------------------

_SENTENCES = [
    "Preheat the oven to a moderate heat before anything else happens.",
    "Whisk four eggs with a cup of sugar until the mixture turns pale.",
    "Fold in the sifted flour gently so the batter keeps its air.",
    "Pour everything into a buttered tin and smooth the surface flat.",
    "Bake for forty minutes, then test the centre with a thin skewer.",
    "Let the sponge cool on a rack before cutting it into slices.",
]


def test_rouge_l_verifier_rejects_reordered_answers_that_minhash_accepts(tmp_path):
    """Reordered halves keep most 3-grams (high Jaccard) but lose the common subsequence (ROUGE-L ~0.5)."""
    from rouge_score import rouge_scorer

    prompt = "How do I bake a simple sponge cake at home?"
    original = " ".join(_SENTENCES)
    reordered = " ".join(_SENTENCES[3:] + _SENTENCES[:3])
    edited = original.replace("moderate", "medium").replace("thin", "wooden")
    rows = [
        {"id": "orig", "instruction": prompt, "output": original},
        {"id": "reordered", "instruction": prompt, "output": reordered},
        {"id": "edited", "instruction": prompt, "output": edited},
        {"id": "other", "instruction": "Name three primary colours.", "output": "Red, yellow and blue are the primary colours."},
    ]
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "cake.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    assert scorer.score(original, reordered)["rougeL"].fmeasure < 0.6 < scorer.score(original, edited)["rougeL"].fmeasure

    by_mode = {}
    for verify in ("estimate", "rouge_l"):
        out = str(tmp_path / verify)
        assert score(str(inp), out, "--direct_num_workers=1", config={"dedup": {"verify": verify, "verify_threshold": 0.6}}) == 0
        by_mode[verify] = (clusters_of(read_duplicates(out, by_id=True)), read_dataset_json(out)["dedup"])
    assert by_mode["estimate"][0] == {frozenset({"orig", "reordered", "edited"})}
    clusters, dd = by_mode["rouge_l"]
    assert clusters == {frozenset({"orig", "edited"})} and dd["verify"] == "rouge_l"
    assert dd["rejected_pairs"] >= 1 and dd["unconverged_nodes"] == 0


def test_segments_of_a_few_rows_give_the_same_clusters(corpus_dir, tmp_path, monkeypatch):
    """The verification and member stages work per segment of 2**SEGMENT_BITS rows; with 4-row
    segments every cluster spans several of them and the result must not change."""
    from winnow.transforms.beam import near_duplicates as dedup
    from winnow.transforms.dedup import sidefiles
    from winnow.transforms.schema import ROW_BITS

    base = str(tmp_path / "base")
    assert score(corpus_dir, base, "--direct_num_workers=1") == 0
    # SEGMENT_BITS and _BLOCK_BITS live in dedup.sidefiles; the Beam module holds its own copy of _BLOCK_BITS.
    monkeypatch.setattr(sidefiles, "SEGMENT_BITS", 2)
    monkeypatch.setattr(sidefiles, "_BLOCK_BITS", ROW_BITS - 2)
    monkeypatch.setattr(dedup, "_BLOCK_BITS", ROW_BITS - 2)
    small = str(tmp_path / "small")
    assert score(corpus_dir, small, "--direct_num_workers=1", config={"dedup": {"export_signatures": True}}) == 0
    sides = [f for f in os.listdir(os.path.join(small, "signatures")) if f.endswith(".parquet")]
    assert len(sides) > 2 * len(os.listdir(corpus_dir)), "rows were not spread over many segments"
    want, got = read_duplicates(base, by_id=True), read_duplicates(small, by_id=True)
    assert {i: (r["keep"], r["kept_id"], r["cluster_size"]) for i, r in got.items()} == {
        i: (r["keep"], r["kept_id"], r["cluster_size"]) for i, r in want.items()
    }
    assert read_dataset_json(small)["dedup"]["verified_pairs"] == read_dataset_json(base)["dedup"]["verified_pairs"]


# ---- templates: filled-in parts decide ----------------------------------------------


_TOOL_TEXT = (
    "You may call the atlas tool. It takes the name of a place and returns its country, its population and its "
    "elevation in metres. Call it only when the question is about a place, and answer in one sentence."
)


def _templated_corpus() -> tuple[list[dict], dict[str, str]]:
    """60 rows under one tool text with different questions and answers, 30 stock-answer rows, short
    one-word-apart rows, rows whose answers are the same phrases reordered (r*a, r*b), and edited copies
    (id c*) of some of them; returns (rows, copy id -> source id)."""
    rng = np.random.default_rng(77)
    rows = [
        alpaca(f"t{i:02d}", f"{_TOOL_TEXT}\nQuestion: {_random_text(rng, 6, 10)}", _random_text(rng, 25, 40)) for i in range(60)
    ]
    rows += [
        alpaca(f"s{i:02d}", f"Is this remark kind or unkind? Remark: {_random_text(rng, 12, 20)}", "kind") for i in range(30)
    ]
    rows += [
        alpaca(f"i{i:02d}", f"Were you made by {name}?", "No, a small research group made me.")
        for i, name in enumerate(_FIRST[:8])
    ]
    for k in range(3):  # the same five-word phrases in another order: most 3-grams shared, not the same text
        prompt = f"List the tags of this note in any order. Note: {_random_text(rng, 30, 31)}"
        phrases = [_random_text(rng, 5, 6) for _ in range(16)]
        shuffled = [phrases[j] for j in rng.permutation(len(phrases))]
        rows += [alpaca(f"r{k}a", prompt, ", ".join(phrases)), alpaca(f"r{k}b", prompt, ", ".join(shuffled))]
    copies = {}
    for k, src in enumerate(["t03", "t17", "t41"]):
        source = next(r for r in rows if r["id"] == src)
        words = source["output"].split()
        for j in rng.choice(len(words), 2, replace=False):
            words[j] = "zz" + words[j]
        rows.append(alpaca(f"c{k}", source["instruction"], " ".join(words)))
        copies[f"c{k}"] = src
    return rows, copies


def test_template_aware_verification_keeps_fills_apart_and_finds_copies(tmp_path):
    rows, copies = _templated_corpus()
    d = tmp_path / "in"
    write_files(d, {"tool.jsonl": rows})
    out = str(tmp_path / "out")
    assert score(str(d), out, "--direct_num_workers=1") == 0
    clusters = clusters_of(read_duplicates(out, by_id=True))
    assert clusters == {frozenset({copy, src}) for copy, src in copies.items()}
    # Without the word-order check the reordered rows merge (through the spilled token sequences).
    sets_only = str(tmp_path / "sets_only")
    assert score(str(d), sets_only, "--direct_num_workers=1", config={"dedup": {"order_threshold": 0}}) == 0
    reordered = {frozenset({f"r{k}a", f"r{k}b"}) for k in range(3)}
    assert clusters_of(read_duplicates(sets_only, by_id=True)) - clusters == reordered
