"""The star-step connected components (winnow.transforms.dedup.components) against union-find."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import union_find

from winnow.transforms.config import load_config
from winnow.transforms.dedup import components as cc

CONFIG = load_config()


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
    expected = union_find(edges)
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
    for _trial in range(10):
        n = 300
        parents = np.array([rng.integers(0, i) for i in range(1, n)])
        labels = rng.permutation(n).astype(np.int64) * 17 + 3
        edges = np.stack([labels[np.arange(1, n)], labels[parents]], axis=1)
        keep = rng.random(len(edges)) < 0.7  # cut some edges: several trees
        _check_components(edges[keep], partitions=int(rng.integers(1, 10)))


def test_components_long_chain_sorted_and_shuffled_converge_within_max_rounds():
    n = 10_000
    max_rounds = CONFIG.dedup.max_rounds
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
    expected = union_find(everything)
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
