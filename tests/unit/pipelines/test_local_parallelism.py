"""Where a local run runs: in this process for small inputs, else one worker process per core."""

from __future__ import annotations

from winnow.pipelines.score import SMALL_INPUT_BYTES, Plan, is_small, local_parallelism, runs_in_process
from winnow.transforms.config import load_config
from winnow.transforms.io.inputs import Shard


def _plan(sizes: list[int], stored: frozenset[int] = frozenset()) -> Plan:
    shards = [Shard(i, f"/data/s{i}.jsonl", f"s{i}.jsonl", size) for i, size in enumerate(sizes)]
    return Plan(["/data"], "/out", load_config(), [], shards, [], stored=stored)


def test_small_inputs_run_in_this_process_and_large_ones_get_workers(monkeypatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    small, large = _plan([SMALL_INPUT_BYTES // 4] * 2), _plan([SMALL_INPUT_BYTES // 2] * 3)
    assert is_small(small) and runs_in_process(small, []) and local_parallelism(small, []) == []
    assert not is_small(large) and not runs_in_process(large, [])
    assert local_parallelism(large, []) == ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    assert not runs_in_process(small, ["--direct_num_workers=2"])  # the user's flags win


def test_shards_taken_from_stored_scores_do_not_count_towards_the_size() -> None:
    night = _plan([SMALL_INPUT_BYTES // 2] * 3, stored=frozenset({0, 1}))
    assert is_small(night) and runs_in_process(night, [])
    assert not is_small(_plan([SMALL_INPUT_BYTES // 2] * 3, stored=frozenset({0})))
