"""Connected components by alternating large-star and small-star steps.

Kiveris et al., "Connected Components in MapReduce and Beyond" (SoCC 2014).
The graph is a set of arcs (u, v), each edge present in both directions, and
a step only needs the neighbourhood of each node: in Beam, arcs are grouped
by the partition of their source node, so no worker ever holds the whole
graph. When every node is either a centre (all neighbours larger) or a leaf
(one neighbour, smaller), each component is a star around its smallest
node, which names the component.

All functions take and return (m, 2) int64 arrays of arcs.
"""

from __future__ import annotations

import numpy as np

from winnow.transforms.arrow_bytes import partition_order


def _groups(arcs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Arcs sorted by source; start index of each source's group; its node; its min neighbour."""
    order = np.lexsort((arcs[:, 1], arcs[:, 0]))
    a = arcs[order]
    starts = np.concatenate(([0], np.flatnonzero(a[1:, 0] != a[:-1, 0]) + 1))
    return a, starts, a[starts, 0], np.minimum.reduceat(a[:, 1], starts)


def symmetric(edges: np.ndarray) -> np.ndarray:
    """Both directions of each edge, without self loops or repeats."""
    if len(edges) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    arcs = np.concatenate([edges[:, :2], edges[:, 1::-1]]).astype(np.int64)
    arcs = arcs[arcs[:, 0] != arcs[:, 1]]
    return np.unique(arcs, axis=0) if len(arcs) else arcs


def large_star(arcs: np.ndarray) -> np.ndarray:
    """Connect every neighbour larger than u to the smallest node of u's neighbourhood."""
    if len(arcs) == 0:
        return arcs
    a, starts, nodes, mins = _groups(arcs)
    sizes = np.diff(np.append(starts, len(a)))
    m = np.minimum(mins, nodes)
    m_of_arc = np.repeat(m, sizes)
    u_of_arc = a[:, 0]
    keep = a[:, 1] > u_of_arc
    return symmetric(np.stack([a[keep, 1], m_of_arc[keep]], axis=1))


def small_star(arcs: np.ndarray) -> np.ndarray:
    """Connect u and its neighbours not larger than u to the smallest of them."""
    if len(arcs) == 0:
        return arcs
    a, starts, nodes, _ = _groups(arcs)
    sizes = np.diff(np.append(starts, len(a)))
    u_of_arc = a[:, 0]
    small = a[:, 1] <= u_of_arc
    # Smallest small neighbour of each node (or the node itself).
    vals = np.where(small, a[:, 1], u_of_arc)
    m = np.minimum(np.minimum.reduceat(vals, starts), nodes)
    m_of_arc = np.repeat(m, sizes)
    edges = [np.stack([a[small, 1], m_of_arc[small]], axis=1), np.stack([nodes, m], axis=1)]
    return symmetric(np.concatenate(edges))


def violations(arcs: np.ndarray) -> int:
    """Nodes that are neither a centre nor a leaf of a star: 0 when converged."""
    if len(arcs) == 0:
        return 0
    a, starts, nodes, mins = _groups(arcs)
    sizes = np.diff(np.append(starts, len(a)))
    centre = mins > nodes
    leaf = (sizes == 1) & (mins < nodes)
    return int((~(centre | leaf)).sum())


def assignments(arcs: np.ndarray) -> np.ndarray:
    """(node, component) for every node with an arc: the component is its smallest node."""
    if len(arcs) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    _, _, nodes, mins = _groups(arcs)
    return np.stack([nodes, np.minimum(nodes, mins)], axis=1)


def partition_of(nodes: np.ndarray, partitions: int) -> np.ndarray:
    """Stable partition of node keys (mixed so consecutive rows spread out)."""
    h = nodes.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return ((h >> np.uint64(32)) % np.uint64(partitions)).astype(np.int64)


def split_by_partition(arcs: np.ndarray, partitions: int) -> dict[int, np.ndarray]:
    """Arcs grouped by the partition of their source node."""
    if len(arcs) == 0:
        return {}
    part = partition_of(arcs[:, 0], partitions)
    order = partition_order(part)
    arcs, part = arcs[order], part[order]
    bounds = np.flatnonzero(np.diff(part)) + 1
    return {int(p[0]): chunk for p, chunk in zip(np.split(part, bounds), np.split(arcs, bounds))}


def components_in_memory(arcs: np.ndarray, max_rounds: int) -> tuple[np.ndarray, int]:
    """(node, component) assignments and unconverged nodes, with every arc on one worker.

    The same large-star/small-star steps as the distributed rounds (a step on
    one partition's arcs is the step on the whole graph restricted to that
    partition's nodes), stopped as soon as the graph is a set of stars; for
    small inputs, where one shuffle per round costs more than the graph.
    """
    arcs = np.unique(arcs, axis=0) if len(arcs) else np.zeros((0, 2), dtype=np.int64)
    for r in range(max_rounds):
        if violations(arcs) == 0:
            break
        arcs = np.unique(large_star(arcs) if r % 2 == 0 else small_star(arcs), axis=0)
    return assignments(arcs), violations(arcs)
