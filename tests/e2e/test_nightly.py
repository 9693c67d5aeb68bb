"""`winnow score --state`: nights that reuse what did not change and still describe the whole corpus.

Every fixture is generated here: shards of random-word rows (no two alike
unless a test copies one). Reads of input files are counted by wrapping
transforms.io.files.open_read, which every reader, checksum and format
detection goes through; small local runs run in this process.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import REPO_ROOT, write_jsonl

from winnow.pipelines.cli import main
from winnow.transforms.dedup import lsh
from winnow.transforms.io import files
from winnow.transforms.state import fingerprints, store

pytestmark = pytest.mark.slow

_WORDS = (
    "glacier velvet compass ember tundra saffron beacon walnut quarry lagoon prism cedar monsoon anvil tapestry "
    "nebula juniper basalt cobalt willow mosaic summit ferret bramble citadel drizzle onyx parchment harbor amber "
    "meadow falcon lantern orchard pebble quartz raven sierra thistle umber vortex wicker yonder zephyr"
)
WORDS = _WORDS.split()


@pytest.fixture(autouse=True)
def fixed_code_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """The code fingerprint hashes winnow's source; the tree may be edited while these tests run."""
    monkeypatch.setattr(fingerprints, "code_digest", lambda: "test")


def rows(n: int, seed: int, prefix: str = "") -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "id": f"{prefix}{seed}-{i}",
            "instruction": "Describe " + " ".join(rng.choice(WORDS) for _ in range(10)) + ".",
            "input": "",
            "output": " ".join(rng.choice(WORDS) for _ in range(40)).capitalize() + ".",
        }
        for i in range(n)
    ]


def corpus(directory: Path, shards: int = 4, n: int = 30) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        write_jsonl(directory / f"shard{s}.jsonl", rows(n, seed=s))
    return directory


class Reads:
    """Input files opened through files.open_read, by base name (only files under `root`)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, root: Path):
        self.counts: Counter = Counter()
        original = files.open_read
        prefix = str(root)

        def counting(path: str):  # type: ignore[no-untyped-def]
            if str(path).startswith(prefix):
                self.counts[os.path.basename(path)] += 1
            return original(path)

        monkeypatch.setattr(files, "open_read", counting)

    def reset(self) -> None:
        self.counts.clear()


def night(inputs: Path | list[str], out: Path, state: Path, *flags: str) -> int:
    args = [str(inputs)] if isinstance(inputs, Path) else inputs
    return main(["score", *args, "--output", str(out), "--state", str(state), *flags])


def _table(out: Path, folder: str, *keys: str) -> list[dict[str, Any]]:
    paths = sorted((out / folder).glob("*.parquet"))
    if not paths:
        return []
    t = pa.concat_tables([pq.read_table(p) for p in paths])
    return t.sort_by([(k, "ascending") for k in keys]).to_pylist() if t.num_rows else []


def _kept(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted((out / "kept").rglob("*")) if p.is_file()}


def outputs(out: Path) -> dict[str, Any]:
    """What a night describes: records, rejected, duplicates, kept/, summary (drift.json and run.json aside)."""
    dataset = json.loads((out / "summary" / "dataset.json").read_text())
    return {
        "records": _table(out, "records", "key"),
        "rejected": _table(out, "rejected", "shard", "row"),
        "duplicates": _table(out, "duplicates", "key"),
        "kept": _kept(out),
        "dataset": dataset,
        "shards": pq.read_table(out / "summary" / "shards.parquet").to_pylist(),
    }


WORK_COUNTERS = ("candidate_pairs", "accepted_pairs", "verified_pairs", "rejected_pairs", "split_off_rows", "reference_rows")


def as_full_run(out: Path) -> dict[str, Any]:
    """outputs() less what a night that re-scores part of the corpus reports differently by design: the
    clustering's work counters (tonight's pairs only) and the repeated-id tally (not kept across nights)."""
    o = outputs(out)
    o["dataset"].pop("ids", None)
    for k in WORK_COUNTERS:
        o["dataset"].get("dedup", {}).pop(k, None)
    return o


def _state(state_dir: Path) -> dict[str, Any]:
    version = json.loads((state_dir / "CURRENT").read_text())["version"]
    return json.loads((state_dir / "versions" / version / "state.json").read_text())


def nightly(out: Path) -> dict[str, Any]:
    return json.loads((out / "run.json").read_text())["nightly"]


def test_a_night_without_change_reads_no_input_and_equals_the_first(tmp_path, monkeypatch):
    data = corpus(tmp_path / "data")
    reads = Reads(monkeypatch, data)
    assert night(data, tmp_path / "n1", tmp_path / "state") == 0
    assert reads.counts  # the first night reads every shard
    reads.reset()
    assert night(data, tmp_path / "n2", tmp_path / "state") == 0
    assert reads.counts == Counter()  # nothing re-read: not even a format check or a checksum
    assert outputs(tmp_path / "n2") == outputs(tmp_path / "n1")
    n2 = nightly(tmp_path / "n2")
    assert [r["shard"] for r in n2["reused"]] == [f"shard{i}.jsonl" for i in range(4)]
    assert n2["rescored"] == [] and n2["removed"] == []
    assert all(r["reason"].startswith("unchanged") for r in n2["reused"])
    assert (tmp_path / "n2" / "report.html").exists()  # the report hook still runs
    # The dataset's Self-BLEU memo is in each night's state (the next night reads it for the same sample).
    self_bleu = json.loads((tmp_path / "n1" / "summary" / "dataset.json").read_text())["diversity"]["self_bleu"]
    memo = tmp_path / "state" / "versions" / _state(tmp_path / "state")["version"] / "dataset_self_bleu.json"
    assert self_bleu is not None and json.loads(memo.read_text())["self_bleu"] == self_bleu


def test_one_changed_shard_is_the_only_one_rescored(tmp_path, monkeypatch):
    data = corpus(tmp_path / "data")
    assert night(data, tmp_path / "n1", tmp_path / "state") == 0
    write_jsonl(data / "shard2.jsonl", rows(35, seed=99))
    reads = Reads(monkeypatch, data)
    assert night(data, tmp_path / "n2", tmp_path / "state") == 0
    assert set(reads.counts) == {"shard2.jsonl"}
    n2 = nightly(tmp_path / "n2")
    assert [r["shard"] for r in n2["rescored"]] == ["shard2.jsonl"]
    assert "changed" in n2["rescored"][0]["reason"]
    assert len(n2["reused"]) == 3
    records = _table(tmp_path / "n2", "records", "key")
    assert len(records) == 3 * 30 + 35
    assert {r["id"] for r in records if r["shard"] == "shard2.jsonl"} == {f"99-{i}" for i in range(35)}
    run = json.loads((tmp_path / "n2" / "run.json").read_text())
    assert run["rows_scored"] == 3 * 30 + 35
    # No row repeats another, so the night must say exactly what a full run of tonight's corpus says.
    assert main(["score", str(data), "--output", str(tmp_path / "full")]) == 0
    assert as_full_run(tmp_path / "n2") == as_full_run(tmp_path / "full")
    # Only the re-scored shard's statistics are written tonight; the reused shards' stay in night 1's version,
    # and a third night (shard1 changed) reads them from there and still equals a full run.
    state = _state(tmp_path / "state")
    assert sorted(p.name for p in (tmp_path / "state" / "versions" / state["version"] / "stats").iterdir()) == ["s000002.pkl"]
    reused = state["shards"][str(data / "shard0.jsonl")]
    assert reused["stats_in"] == reused["scored_in"] != state["version"]
    write_jsonl(data / "shard1.jsonl", rows(32, seed=98))
    assert night(data, tmp_path / "n3", tmp_path / "state") == 0
    assert _state(tmp_path / "state")["shards"][str(data / "shard2.jsonl")]["stats_in"] == state["version"]
    assert main(["score", str(data), "--output", str(tmp_path / "full3")]) == 0
    assert as_full_run(tmp_path / "n3") == as_full_run(tmp_path / "full3")


def test_a_touched_but_identical_shard_is_reused_after_a_checksum(tmp_path, monkeypatch):
    data = corpus(tmp_path / "data")
    assert night(data, tmp_path / "n1", tmp_path / "state") == 0
    os.utime(data / "shard1.jsonl", ns=(1, 1))
    reads = Reads(monkeypatch, data)
    assert night(data, tmp_path / "n2", tmp_path / "state") == 0
    assert reads.counts == Counter({"shard1.jsonl": 1})  # hashed once, not scored
    reasons = {r["shard"]: r["reason"] for r in nightly(tmp_path / "n2")["reused"]}
    assert "same checksum" in reasons["shard1.jsonl"]


def test_a_new_shard_copying_an_old_row_clusters_with_it_and_the_old_row_stays_kept(tmp_path):
    data = corpus(tmp_path / "data")
    assert night(data, tmp_path / "n1", tmp_path / "state") == 0
    old = rows(30, seed=3)[7]
    # Sorted first ("a_new" < "shard*"), so every old shard's index, and key, moves by one.
    write_jsonl(data / "a_new.jsonl", [{**old, "id": "copy-of-3-7"}, *rows(5, seed=50)])
    assert night(data, tmp_path / "n2", tmp_path / "state") == 0
    n2 = nightly(tmp_path / "n2")
    assert [r["shard"] for r in n2["rescored"]] == ["a_new.jsonl"]
    dups = {r["id"]: r for r in _table(tmp_path / "n2", "duplicates", "key")}
    assert dups["3-7"]["keep"] is True and dups["copy-of-3-7"]["keep"] is False
    assert dups["copy-of-3-7"]["kept_id"] == "3-7"
    assert dups["3-7"]["cluster_size"] == dups["copy-of-3-7"]["cluster_size"] == 2
    assert dups["3-7"]["cluster_id"] == dups["copy-of-3-7"]["cluster_id"]
    records = {r["id"]: r for r in _table(tmp_path / "n2", "records", "key")}
    assert records["3-7"]["keep"] and records["3-7"]["key"] == (4 << 40) | 7  # shard3 is index 4 tonight
    assert records["copy-of-3-7"]["drop_reasons"] == ["near_duplicate_of:3-7"]
    keys = [r["key"] for r in records.values()]
    assert len(set(keys)) == len(keys)
    drift = json.loads((tmp_path / "n2" / "summary" / "drift.json").read_text())
    assert drift["new_rows"] == 6 and drift["new_rows_duplicating_earlier_nights"] == 1
    # Night 3: one more copy joins the cluster; the reused copy's row gets the new size.
    write_jsonl(data / "b_new.jsonl", [{**old, "id": "second-copy"}])
    assert night(data, tmp_path / "n3", tmp_path / "state") == 0
    dups = {r["id"]: r for r in _table(tmp_path / "n3", "duplicates", "key")}
    assert {i: (d["keep"], d["cluster_size"]) for i, d in dups.items()} == {
        "3-7": (True, 3),
        "copy-of-3-7": (False, 3),
        "second-copy": (False, 3),
    }


def test_removing_the_shard_of_a_kept_row_rescores_the_shards_holding_its_copies(tmp_path):
    data = corpus(tmp_path / "data")
    write_jsonl(data / "shard4.jsonl", [{**rows(30, seed=0)[5], "id": "copy-of-0-5"}, *rows(3, seed=60)])
    assert night(data, tmp_path / "n1", tmp_path / "state") == 0
    dups = {r["id"]: r for r in _table(tmp_path / "n1", "duplicates", "key")}
    kept = next(i for i, d in dups.items() if d["keep"])
    dropped = next(i for i, d in dups.items() if not d["keep"])
    kept_shard = {"0-5": "shard0.jsonl", "copy-of-0-5": "shard4.jsonl"}
    (data / kept_shard[kept]).unlink()
    assert night(data, tmp_path / "n2", tmp_path / "state") == 0
    n2 = nightly(tmp_path / "n2")
    assert [r["shard"] for r in n2["removed"]] == [kept_shard[kept]]
    assert [r["shard"] for r in n2["rescored"]] == [kept_shard[dropped]]
    assert "near-duplicate copies" in n2["rescored"][0]["reason"]
    records = {r["id"]: r for r in _table(tmp_path / "n2", "records", "key")}
    assert records[dropped]["keep"] is True and kept not in records
    assert _table(tmp_path / "n2", "duplicates", "key") == []


def test_a_config_change_in_one_rule_rescores_everything_and_equals_a_full_run(tmp_path):
    data = corpus(tmp_path / "data")
    assert night(data, tmp_path / "n1", tmp_path / "state") == 0
    config = tmp_path / "severity.yaml"
    config.write_text("rule_severity: {excessive_repetition: drop}\n")
    assert night(data, tmp_path / "n2", tmp_path / "state", "--config", str(config)) == 0
    n2 = nightly(tmp_path / "n2")
    assert len(n2["rescored"]) == 4 and n2["reused"] == []
    assert all("config changed" in r["reason"] for r in n2["rescored"])
    assert main(["score", str(data), "--output", str(tmp_path / "full"), "--config", str(config)]) == 0
    assert outputs(tmp_path / "n2") == outputs(tmp_path / "full")


def test_fail_on_drift_exits_3_on_a_planted_shift_and_the_night_is_still_committed(tmp_path):
    data = corpus(tmp_path / "data")
    assert night(data, tmp_path / "n1", tmp_path / "state", "--fail-on-drift") == 0  # a first night has no drift
    # The planted shift: a shard of rows whose answers are empty (a drop rule fires on every one).
    write_jsonl(data / "shard9.jsonl", [{**r, "output": ""} for r in rows(60, seed=9)])
    assert night(data, tmp_path / "n2", tmp_path / "state", "--fail-on-drift") == 3
    drift = json.loads((tmp_path / "n2" / "summary" / "drift.json").read_text())
    assert drift["breached"]
    moved = {(m["source"], m["stat"]) for m in drift["moves"] if m["moved"]}
    assert ("all", "dropped") in moved
    # The four reused shards are listed once as unchanged, not statistic by statistic.
    assert drift["unchanged_sources"] == ["shard0.jsonl", "shard1.jsonl", "shard2.jsonl", "shard3.jsonl"]
    assert {m["source"] for m in drift["moves"]} == {"all"}
    assert (tmp_path / "n2" / "run.json").exists()
    # Committed: the next night compares with this one, and nothing moved since.
    assert night(data, tmp_path / "n3", tmp_path / "state", "--fail-on-drift") == 0


def test_answer_reuse_counts_that_move_rescore_the_shards_holding_the_answer(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    stock = "I am sorry but I cannot help with that request today, please ask again later."
    for s in range(2):
        write_jsonl(data / f"s{s}.jsonl", [{**r, "output": stock} for r in rows(12, seed=s)] + rows(5, seed=10 + s))
    write_jsonl(data / "s2.jsonl", rows(5, seed=20))
    config = tmp_path / "c.yaml"
    config.write_text("signals:\n  answer_reuse: {enabled: true, min_words: 6, min_prompts: 20}\n")
    assert night(data, tmp_path / "n1", tmp_path / "state", "--config", str(config)) == 0
    write_jsonl(data / "s3.jsonl", [{**r, "output": stock} for r in rows(3, seed=30)])
    assert night(data, tmp_path / "n2", tmp_path / "state", "--config", str(config)) == 0
    n2 = nightly(tmp_path / "n2")
    assert {r["shard"] for r in n2["rescored"]} == {"s0.jsonl", "s1.jsonl", "s3.jsonl"}
    assert [r["shard"] for r in n2["reused"]] == ["s2.jsonl"]
    assert main(["score", str(data), "--output", str(tmp_path / "full"), "--config", str(config)]) == 0
    full = {r["id"]: r["answer_reuse_prompts"] for r in _table(tmp_path / "full", "records", "key")}
    tonight = {r["id"]: r["answer_reuse_prompts"] for r in _table(tmp_path / "n2", "records", "key")}
    assert tonight == full and full["0-0"] == 27


CRASH_POINTS = ["night_end_start", "after_assemble", "after_run_record", "before_pointer", "after_commit"]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "winnow", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_kill_9_at_any_point_then_a_rerun_equals_an_uninterrupted_night(tmp_path):
    data = corpus(tmp_path / "data")
    # Every night in its own process, as a scheduler runs them (and as the killed ones run).
    first = _cli("score", str(data), "--output", str(tmp_path / "n1"), "--state", str(tmp_path / "state"))
    assert first.returncode == 0, first.stderr[-2000:]
    write_jsonl(data / "shard1.jsonl", rows(30, seed=41))
    write_jsonl(data / "a_new.jsonl", [{**rows(30, seed=2)[3], "id": "copy"}])
    (data / "shard3.jsonl").unlink()
    for point in CRASH_POINTS:
        shutil.copytree(tmp_path / "state", tmp_path / f"state-{point}")
    ok = _cli("score", str(data), "--output", str(tmp_path / "ok"), "--state", str(tmp_path / "state"))
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert len(nightly(tmp_path / "ok")["reused"]) == 2
    expected = outputs(tmp_path / "ok")
    for point in CRASH_POINTS:
        state, out = tmp_path / f"state-{point}", tmp_path / f"out-{point}"
        args = ("score", str(data), "--output", str(out), "--state", str(state))
        baseline = json.loads((state / "CURRENT").read_text())["version"]
        killed = _cli(*args, env={"WINNOW_CRASH_AT": point})
        assert killed.returncode == -9, (point, killed.stderr[-2000:])
        # Committed last: a night killed before the pointer flip leaves the last complete night as the baseline.
        flipped = json.loads((state / "CURRENT").read_text())["version"] != baseline
        assert flipped == (point == "after_commit"), point
        again = _cli(*args)
        assert again.returncode == 0, (point, again.stderr[-2000:])
        assert outputs(out) == expected, point
        # Only the committed night's versions are left: the killed night's files were collected.
        current = json.loads((state / "CURRENT").read_text())["version"]
        state_json = json.loads((state / "versions" / current / "state.json").read_text())
        kept_versions = {current, *(s["scored_in"] for s in state_json["shards"].values())}
        assert {p.name for p in (state / "versions").iterdir()} == kept_versions


def test_an_unrelated_run_in_the_output_is_not_replaced_without_overwrite(tmp_path):
    data = corpus(tmp_path / "data", shards=1, n=5)
    assert main(["score", str(data), "--output", str(tmp_path / "plain")]) == 0
    assert night(data, tmp_path / "plain", tmp_path / "state") == 1
    assert night(data, tmp_path / "plain", tmp_path / "state", "--overwrite") == 0


def test_kill_9_of_the_worker_ending_the_night_then_a_rerun_equals_an_uninterrupted_night(tmp_path):
    """The night's last step runs in a worker process; SIGKILL it there. Beam's local runner does not notice a
    dead worker and waits: as a scheduler's timeout would, the test then kills the driver, and reruns."""
    data = corpus(tmp_path / "data")
    workers = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")  # the night's last step in a worker
    first = _cli("score", str(data), "--output", str(tmp_path / "n1"), "--state", str(tmp_path / "state"), *workers)
    assert first.returncode == 0, first.stderr[-2000:]
    write_jsonl(data / "shard0.jsonl", rows(30, seed=77))
    shutil.copytree(tmp_path / "state", tmp_path / "state-killed")
    ok = _cli("score", str(data), "--output", str(tmp_path / "ok"), "--state", str(tmp_path / "state"), *workers)
    assert ok.returncode == 0, ok.stderr[-2000:]
    args = ["score", str(data), "--output", str(tmp_path / "again"), "--state", str(tmp_path / "state-killed"), *workers]
    baseline = json.loads((tmp_path / "state-killed" / "CURRENT").read_text())["version"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "winnow", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "WINNOW_CRASH_AT": "after_assemble"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)  # the driver and its remaining workers
        proc.wait()
    assert proc.returncode != 0
    assert json.loads((tmp_path / "state-killed" / "CURRENT").read_text())["version"] == baseline
    again = _cli(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert outputs(tmp_path / "again") == outputs(tmp_path / "ok")


def test_copies_follow_their_kept_row_when_its_shard_is_rescored(tmp_path):
    """Kept row K in shard0, its copy D in shard4. The shard holding K changes three ways over three nights."""
    data = corpus(tmp_path / "data")
    k = rows(30, seed=0)[5]
    write_jsonl(data / "shard4.jsonl", [{**k, "id": "zz-copy"}, *rows(3, seed=60)])  # "zz-copy" > "0-5": K is kept
    assert night(data, tmp_path / "n1", tmp_path / "state") == 0
    dups = {r["id"]: r["keep"] for r in _table(tmp_path / "n1", "duplicates", "key")}
    assert dups == {"0-5": True, "zz-copy": False}
    # 1. shard0 gains a row, K is untouched: shard4 stays reused and its copy still names K.
    write_jsonl(data / "shard0.jsonl", [*rows(30, seed=0), *rows(2, seed=70)])
    assert night(data, tmp_path / "n2", tmp_path / "state") == 0
    assert [r["shard"] for r in nightly(tmp_path / "n2")["rescored"]] == ["shard0.jsonl"]
    assert {r["id"]: (r["keep"], r["cluster_size"]) for r in _table(tmp_path / "n2", "duplicates", "key")} == {
        "0-5": (True, 2),
        "zz-copy": (False, 2),
    }
    # 2. A longer version of K arrives in shard0. K is unchanged, so it stays the kept row (a row kept yesterday
    #    is not dropped because a copy of it arrived, in its own shard too): the longer one is K's copy.
    longer = {**k, "id": "0-5-longer", "output": k["output"] + " Indeed, that is all."}
    write_jsonl(data / "shard0.jsonl", [*rows(30, seed=0), *rows(2, seed=70), longer])
    assert night(data, tmp_path / "n3", tmp_path / "state") == 0
    assert [r["shard"] for r in nightly(tmp_path / "n3")["rescored"]] == ["shard0.jsonl"]
    assert {r["id"]: (r["keep"], r["kept_id"]) for r in _table(tmp_path / "n3", "duplicates", "key")} == {
        "0-5": (True, "0-5"),
        "0-5-longer": (False, "0-5"),
        "zz-copy": (False, "0-5"),
    }
    # 2b. shard0's ids now repeat (one row's id is given to a new row), so none of its rows can be told unchanged
    #     and all are new tonight: the longer version wins K's cluster. The job finds K no longer kept, so the
    #     night runs again with shard4, whose copy then joins the new kept row.
    again = {**rows(1, seed=71)[0], "id": "0-1"}
    write_jsonl(data / "shard0.jsonl", [*rows(30, seed=0), *rows(2, seed=70), longer, again])
    assert night(data, tmp_path / "n3b", tmp_path / "state") == 0
    n3 = nightly(tmp_path / "n3b")
    assert {r["shard"] for r in n3["rescored"]} == {"shard0.jsonl", "shard4.jsonl"}
    records = {r["id"]: r for r in _table(tmp_path / "n3b", "records", "key")}
    kept_ids = {r["kept_id"] for r in _table(tmp_path / "n3b", "duplicates", "key") if r["id"] == "zz-copy"}
    assert kept_ids == {"0-5-longer"} and records["0-5-longer"]["keep"]  # the copy names a row kept tonight
    # 3. K's content changes: shard4's copy has nothing left to be a copy of and is kept again.
    edited = {**k, "output": "A different answer altogether, about " + " ".join(WORDS[:12]) + "."}
    write_jsonl(data / "shard0.jsonl", [edited if r["id"] == "0-5" else r for r in rows(30, seed=0)])
    assert night(data, tmp_path / "n4", tmp_path / "state") == 0
    n4 = nightly(tmp_path / "n4")
    assert "shard4.jsonl" in {r["shard"] for r in n4["rescored"]}
    records = {r["id"]: r for r in _table(tmp_path / "n4", "records", "key")}
    assert records["zz-copy"]["keep"] is True


class ClusteredKeys:
    """Row keys whose band entries reach the candidate search (dedup.lsh.candidate_pairs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.keys: set[int] = set()
        original = lsh.candidate_pairs

        def recording(entries, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.keys.update(int(k) for k in entries[:, 1].tolist())
            return original(entries, *args, **kwargs)

        monkeypatch.setattr(lsh, "candidate_pairs", recording)


def _drop_scored_stats(state: Path) -> None:
    for path in state.glob("versions/*/scored_stats"):
        shutil.rmtree(path)


def test_a_shard_rescored_for_its_clusters_is_redecided_from_its_stored_scores_as_a_rescore_would(tmp_path, monkeypatch):
    """Kept rows K and J in shard0, their copies in shard4. K's answer changes, so shard4 (unchanged) must be
    decided again: its scores come from the state, not from scoring it, and the night equals one that scores it
    again. Then J's answer changes, and shard4 is decided again from the scores the last night took over."""
    from winnow.transforms.signals.scorer import Scorer

    data = corpus(tmp_path / "data")
    k, j = rows(30, seed=0)[5], rows(30, seed=0)[9]
    write_jsonl(data / "shard4.jsonl", [{**k, "id": "zz-copy"}, {**j, "id": "zz-copy-j"}, *rows(3, seed=60)])
    with open(data / "shard4.jsonl", "a", encoding="utf-8") as f:
        f.write('{"id": "cut-short", "instruction": "Describe\n')  # a dead letter, kept in rejected/
    assert night(data, tmp_path / "n1", tmp_path / "state") == 0
    scored_shards: Counter = Counter()
    score = Scorer.score

    def counting(self, batch, *args, **kwargs):  # type: ignore[no-untyped-def]
        scored_shards.update(batch.column("shard").to_pylist())
        return score(self, batch, *args, **kwargs)

    monkeypatch.setattr(Scorer, "score", counting)
    clustered = ClusteredKeys(monkeypatch)

    # K's answer changes, and a new shard sorted first moves every other shard's index (and row keys) by one.
    def edited(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "output": "A different answer altogether, about " + " ".join(WORDS[:12]) + f" and {row['id']}."}

    write_jsonl(data / "shard0.jsonl", [edited(r) if r["id"] == "0-5" else r for r in rows(30, seed=0)])
    write_jsonl(data / "a_new.jsonl", rows(4, seed=80))
    shutil.copytree(tmp_path / "state", tmp_path / "state-rescore")
    assert night(data, tmp_path / "n2", tmp_path / "state") == 0
    rescored = {r["shard"]: r for r in nightly(tmp_path / "n2")["rescored"]}
    assert set(rescored) == {"a_new.jsonl", "shard0.jsonl", "shard4.jsonl"}
    assert "near-duplicate copies" in rescored["shard4.jsonl"]["reason"] and "scores" in rescored["shard4.jsonl"]
    assert "scores" not in rescored["shard0.jsonl"]
    assert "shard4.jsonl" not in scored_shards and scored_shards["shard0.jsonl"] == 30
    shard4 = {r["id"]: r for r in _table(tmp_path / "n2", "records", "key") if r["shard"] == "shard4.jsonl"}
    assert shard4["zz-copy"]["keep"] and not shard4["zz-copy-j"]["keep"]
    # Only K's copy is clustered again; J's copy (its cluster unchanged) stays J's copy, as in a reused shard.
    assert shard4["zz-copy"]["key"] in clustered.keys and shard4["zz-copy-j"]["key"] not in clustered.keys
    dups = {r["id"]: r for r in _table(tmp_path / "n2", "duplicates", "key")}
    assert (dups["zz-copy-j"]["keep"], dups["zz-copy-j"]["kept_id"], dups["zz-copy-j"]["cluster_size"]) == (False, "0-9", 2)
    assert "zz-copy" not in dups
    # The same night scoring shard4 again gives the same outputs. A state without the statistics a shard is
    # re-decided from (written before they were kept) scores it instead.
    _drop_scored_stats(tmp_path / "state-rescore")
    assert night(data, tmp_path / "n2-rescore", tmp_path / "state-rescore") == 0
    assert "scores" not in {r["shard"]: r for r in nightly(tmp_path / "n2-rescore")["rescored"]}["shard4.jsonl"]
    assert scored_shards["shard4.jsonl"] == 5
    assert outputs(tmp_path / "n2") == outputs(tmp_path / "n2-rescore")
    assert [r["shard"] for r in _table(tmp_path / "n2", "rejected", "shard", "row")] == ["shard4.jsonl"]
    # Night 3: J's answer changes too. shard4 is decided again from the scores night 2 took from the state.
    write_jsonl(data / "shard0.jsonl", [edited(r) if r["id"] in ("0-5", "0-9") else r for r in rows(30, seed=0)])
    assert night(data, tmp_path / "n3", tmp_path / "state") == 0
    assert "scores" in {r["shard"]: r for r in nightly(tmp_path / "n3")["rescored"]}["shard4.jsonl"]
    assert scored_shards["shard4.jsonl"] == 5  # not scored again
    _drop_scored_stats(tmp_path / "state-rescore")
    assert night(data, tmp_path / "n3-rescore", tmp_path / "state-rescore") == 0
    assert scored_shards["shard4.jsonl"] == 10
    assert outputs(tmp_path / "n3") == outputs(tmp_path / "n3-rescore")
    records = {r["id"]: r["keep"] for r in _table(tmp_path / "n3", "records", "key")}
    assert records["zz-copy"] and records["zz-copy-j"] and records["0-5"] and records["0-9"]


def test_a_changed_copy_of_an_unchanged_kept_row_leaves_the_copies_in_other_shards_reused(tmp_path, monkeypatch):
    """Kept rows K and J in shard0, a copy of each in shard0 and in shard4. Tonight shard0's copies change (K's
    leaves its cluster, J's stays a near copy): K and J are unchanged, so they stay kept (settled), and shard4
    is reused, not decided again. The night equals one that decides shard4 again with every copy clustered."""
    data = corpus(tmp_path / "data")
    base = rows(30, seed=0)
    k, j = base[5], base[9]
    write_jsonl(data / "shard0.jsonl", [*base, {**k, "id": "0-copy"}, {**j, "id": "0-copy-j"}])
    write_jsonl(data / "shard4.jsonl", [{**k, "id": "zz-copy"}, {**j, "id": "zz-copy-j"}, *rows(3, seed=60)])
    assert night(data, tmp_path / "n1", tmp_path / "state") == 0
    first = {r["id"]: r for r in _table(tmp_path / "n1", "duplicates", "key")}
    assert first["0-copy"]["kept_id"] == first["zz-copy"]["kept_id"] == "0-5"
    assert first["0-copy-j"]["kept_id"] == first["zz-copy-j"]["kept_id"] == "0-9"

    other = {**k, "id": "0-copy", "output": "A different answer altogether, about " + " ".join(WORDS[:12]) + "."}
    near = {**j, "id": "0-copy-j", "output": j["output"] + " Indeed."}
    write_jsonl(data / "shard0.jsonl", [*base, other, near])
    shutil.copytree(tmp_path / "state", tmp_path / "state-hinted")
    clustered = ClusteredKeys(monkeypatch)
    assert night(data, tmp_path / "n2", tmp_path / "state") == 0
    n2 = nightly(tmp_path / "n2")
    assert [r["shard"] for r in n2["rescored"]] == ["shard0.jsonl"]
    assert "shard4.jsonl" in {r["shard"] for r in n2["reused"]}
    dups = {r["id"]: r for r in _table(tmp_path / "n2", "duplicates", "key")}
    assert "0-copy" not in dups  # no copy of K any more
    assert (dups["zz-copy"]["kept_id"], dups["zz-copy"]["cluster_size"]) == ("0-5", 2)
    assert (dups["0-copy-j"]["kept_id"], dups["zz-copy-j"]["kept_id"], dups["0-9"]["cluster_size"]) == ("0-9", "0-9", 3)
    # Tonight's new rows are the two edited ones (not shard0's 30 others), and one of them repeats an earlier row.
    drift = json.loads((tmp_path / "n2" / "summary" / "drift.json").read_text())
    assert (drift["new_rows"], drift["new_rows_duplicating_earlier_nights"]) == (2, 1)
    # The same night with shard4 decided again, every copy of it clustered (named as a failed attempt would).
    store.write_hint(str(tmp_path / "state-hinted"), ["shard4.jsonl"])
    clustered.keys.clear()
    assert night(data, tmp_path / "n2-hinted", tmp_path / "state-hinted") == 0
    redecided = {r["shard"]: r for r in nightly(tmp_path / "n2-hinted")["rescored"]}
    assert "scores" in redecided["shard4.jsonl"]
    zz = {r["id"]: r["key"] for r in _table(tmp_path / "n2-hinted", "records", "key") if r["shard"] == "shard4.jsonl"}
    assert {zz["zz-copy"], zz["zz-copy-j"]} <= clustered.keys
    assert as_full_run(tmp_path / "n2") == as_full_run(tmp_path / "n2-hinted")


def test_a_changed_row_that_now_copies_a_settled_row_of_a_redecided_shard_clusters_with_it(tmp_path):
    """Kept row K in shard0, its copy in shard4 beside an unrelated row S. Tonight K becomes a copy of S: shard4
    is decided again (K's copy lost its kept row), and its settled rows' band entries come from its reference
    file, not from the replay; K must still meet S there, and S, an earlier row, stays kept."""
    data = corpus(tmp_path / "data")
    base = rows(30, seed=0)
    k, s = base[5], rows(3, seed=60)[0]
    write_jsonl(data / "shard4.jsonl", [{**k, "id": "zz-copy"}, *rows(3, seed=60)])
    assert night(data, tmp_path / "n1", tmp_path / "state") == 0
    assert {r["id"] for r in _table(tmp_path / "n1", "duplicates", "key")} == {"0-5", "zz-copy"}
    write_jsonl(data / "shard0.jsonl", [{**s, "id": r["id"]} if r["id"] == "0-5" else r for r in base])
    assert night(data, tmp_path / "n2", tmp_path / "state") == 0
    redecided = {r["shard"]: r for r in nightly(tmp_path / "n2")["rescored"]}
    assert set(redecided) == {"shard0.jsonl", "shard4.jsonl"} and "scores" in redecided["shard4.jsonl"]
    dups = {r["id"]: r for r in _table(tmp_path / "n2", "duplicates", "key")}
    assert set(dups) == {"0-5", s["id"]}
    assert (dups["0-5"]["keep"], dups["0-5"]["kept_id"], dups[s["id"]]["keep"]) == (False, s["id"], True)
    records = {r["id"]: r["keep"] for r in _table(tmp_path / "n2", "records", "key")}
    assert records["zz-copy"] and records[s["id"]] and not records["0-5"]
    dataset = json.loads((tmp_path / "n2" / "summary" / "dataset.json").read_text())
    assert dataset["dedup"]["reference_rows"] == 3 * 30  # shard1-3's rows; shard4's are this night's


def test_a_redecided_shard_whose_decisions_did_not_move_keeps_that_nights_records_and_kept_files(tmp_path, monkeypatch):
    """K in shard0, its copy in shard4. Tonight K's answer gains a word: its copy stays K's copy, so shard4,
    decided again, moves no decision. Its records/ and kept/ files are then those of the night that scored
    it (links), its input is not read for kept/, and the night equals one that scores shard4 again."""
    data = corpus(tmp_path / "data")
    base = rows(30, seed=0)
    write_jsonl(data / "shard4.jsonl", [{**base[5], "id": "zz-copy"}, *rows(3, seed=60)])
    assert night(data, tmp_path / "n1", tmp_path / "state") == 0
    write_jsonl(data / "shard0.jsonl", [{**r, "output": r["output"] + " Indeed."} if r["id"] == "0-5" else r for r in base])
    shutil.copytree(tmp_path / "state", tmp_path / "state-rescore")
    reads = Reads(monkeypatch, data)
    assert night(data, tmp_path / "n2", tmp_path / "state") == 0
    assert "scores" in {r["shard"]: r for r in nightly(tmp_path / "n2")["rescored"]}["shard4.jsonl"]
    assert reads.counts["shard4.jsonl"] == 0 and reads.counts["shard0.jsonl"] > 0
    dups = {r["id"]: r for r in _table(tmp_path / "n2", "duplicates", "key")}
    assert (dups["zz-copy"]["keep"], dups["zz-copy"]["kept_id"]) == (False, "0-5")
    shard4 = [
        p
        for p in (tmp_path / "n2" / "records").glob("*.parquet")
        if pq.read_table(p).column("shard")[0].as_py() == "shard4.jsonl"
    ]
    assert len(shard4) == 1 and os.path.samefile(shard4[0], tmp_path / "n1" / "records" / shard4[0].name)
    assert os.path.samefile(tmp_path / "n2" / "kept" / "shard4.jsonl", tmp_path / "n1" / "kept" / "shard4.jsonl")
    _drop_scored_stats(tmp_path / "state-rescore")
    assert night(data, tmp_path / "n2-rescore", tmp_path / "state-rescore") == 0
    assert "scores" not in {r["shard"]: r for r in nightly(tmp_path / "n2-rescore")["rescored"]}["shard4.jsonl"]
    assert outputs(tmp_path / "n2") == outputs(tmp_path / "n2-rescore")


def test_the_same_files_under_another_directory_are_new_shards_and_the_night_completes(tmp_path):
    """Tonight's paths are all new though their names are last night's: nothing is compared with last night's
    rows by name, and the night equals a first night of the new directory."""
    data = corpus(tmp_path / "data")
    write_jsonl(data / "shard4.jsonl", [{**rows(30, seed=0)[5], "id": "zz-copy"}])
    assert night(data, tmp_path / "n1", tmp_path / "state") == 0
    moved = tmp_path / "moved"
    shutil.copytree(data, moved)
    assert night(moved, tmp_path / "n2", tmp_path / "state") == 0
    n2 = nightly(tmp_path / "n2")
    assert len(n2["rescored"]) == 5 and all(r["reason"] == "new shard" for r in n2["rescored"])
    assert night(moved, tmp_path / "fresh", tmp_path / "fresh-state") == 0
    assert as_full_run(tmp_path / "n2") == as_full_run(tmp_path / "fresh")
