"""answer_reuse across nights, and the state's commit protocol."""

from __future__ import annotations

import json

import numpy as np

from winnow.transforms.state import store
from winnow.transforms.state.answers import ShardRows, affected, entries_path, read_entries, write_entries


def entries(answer: int, prompts: range) -> np.ndarray:
    return np.array([[0, answer, p] for p in prompts], dtype=np.uint64)


def test_a_count_that_moves_reaches_the_shards_holding_that_answer_only():
    before = {"a": entries(1, range(0, 15)), "b": entries(1, range(15, 20)), "c": entries(2, range(0, 30))}
    tonight = {**before, "new": entries(1, range(20, 23))}
    counts, hit = affected(before, tonight, ["a", "b", "c"], 20)
    assert counts == {1: 23, 2: 30} and hit == ["a", "b"]
    # Below min_prompts before and after: no count, nothing to re-score.
    counts, hit = affected(before, {**before, "new": entries(3, range(2))}, ["a", "b", "c"], 20)
    assert hit == [] and counts == {1: 20, 2: 30}


def test_entries_round_trip_per_part(tmp_path):
    write_entries(entries_path(str(tmp_path), 3, 0), entries(1, range(3)))
    write_entries(entries_path(str(tmp_path), 3, 1), entries(1, range(2, 5)))
    assert len(np.unique(read_entries(str(tmp_path), 3), axis=0)) == 5
    assert read_entries(str(tmp_path), 4).shape == (0, 3)


def test_the_pointer_flips_last_and_unreferenced_versions_are_collected(tmp_path):
    state = str(tmp_path)
    assert store.load(state) is None
    first = {"format": store.FORMAT, "version": "v1", "shards": {"/a": {"scored_in": "v1"}}}
    (tmp_path / "versions" / "v1").mkdir(parents=True)
    store.commit(state, first)
    assert store.load(state) == first
    second = {"format": store.FORMAT, "version": "v2", "shards": {"/a": {"scored_in": "v1"}, "/b": {"scored_in": "v2"}}}
    (tmp_path / "versions" / "v2").mkdir()
    (tmp_path / "versions" / "v2" / "state.json").write_text(json.dumps(second))  # written, not yet committed
    (tmp_path / "versions" / "crashed").mkdir()
    (tmp_path / "versions" / "crashed" / "x").write_text("half a night")
    assert store.load(state)["version"] == "v1"  # a night not committed is not the baseline
    store.commit(state, second)
    assert store.collect_garbage(state, store.referenced_versions(store.load(state))) == ["crashed"]
    assert sorted(p.name for p in (tmp_path / "versions").iterdir()) == ["v1", "v2"]
    # A shard whose statistics live in a third version keeps that one too.
    third = {"format": store.FORMAT, "version": "v3", "shards": {"/b": {"scored_in": "v3", "stats_in": "v2"}}}
    (tmp_path / "versions" / "v3").mkdir()
    store.commit(state, third)
    assert store.collect_garbage(state, store.referenced_versions(store.load(state))) == ["v1"]


def test_a_rescore_hint_accumulates_and_the_next_commit_clears_it(tmp_path):
    state = str(tmp_path)
    store.write_hint(state, ["b.jsonl"])
    store.write_hint(state, ["a.jsonl", "b.jsonl"])
    assert store.read_hint(state) == ["a.jsonl", "b.jsonl"]
    (tmp_path / "versions" / "v1").mkdir(parents=True)
    store.commit(state, {"format": store.FORMAT, "version": "v1", "shards": {}})
    assert store.read_hint(state) == []


def test_template_reports_are_read_for_the_named_shards_only_from_each_directory(tmp_path):
    """A night reads the reused shards' frequent-shingle reports inside the job (hooks.read_template_reports):
    every part of each named (directory, shard), nothing of other shards, whatever the directory."""
    from winnow.transforms.state.hooks import read_template_reports, write_template_report

    def report(shard: int, part: int) -> tuple[int, np.ndarray, np.ndarray]:
        return (10 * shard + part, np.array([shard, part], dtype=np.uint64), np.array([1, 2], dtype=np.int64))

    night1, night2 = str(tmp_path / "v1"), str(tmp_path / "v2")
    for directory, shards in ((night1, (0, 1, 2)), (night2, (1, 3))):
        (tmp_path / directory.rsplit("/", 1)[-1]).mkdir()
        for shard in shards:
            for part in range(2):
                write_template_report(directory, shard, part, report(shard, part))
    got = read_template_reports([(night1, 0), (night1, 2), (night2, 3)])
    assert [r[0] for r in got] == [0, 1, 20, 21, 30, 31]
    assert all(np.array_equal(g[1], report(g[0] // 10, g[0] % 10)[1]) for g in got)
    assert read_template_reports([]) == []


def test_a_changed_shards_rows_by_id_say_when_an_id_repeats():
    rows = ShardRows()
    rows.add(["a", "b"], ["h1", "h2"], [0, 1])
    assert (rows.get("b"), rows.rows["b"], rows.ids_repeat) == ("h2", 1, False)
    rows.add(["c"], ["h3"], [2])
    assert not rows.ids_repeat
    rows.add(["a"], ["h4"], [3])  # across batches
    assert rows.ids_repeat
    within = ShardRows()
    within.add(["x", "x"], ["h1", "h2"], [0, 1])  # within one batch
    assert within.ids_repeat
