"""Agreement statistics computed by hand (confusion and coincidence matrices), independent of winnow's
libraries, for the review tests to compare against."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from typing import Any


def kappa_by_hand(x: list[Any], y: list[Any]) -> float:
    """Cohen's kappa from the confusion matrix: (p_o - p_e) / (1 - p_e)."""
    n = len(x)
    confusion = Counter(zip(x, y))
    p_o = sum(confusion[(v, v)] for v in set(x) | set(y)) / n
    p_e = sum((x.count(v) / n) * (y.count(v) / n) for v in set(x) | set(y))
    return (p_o - p_e) / (1 - p_e)


def alpha_by_hand(units: list[list[Any]], delta: Callable[[Any, Any, dict[Any, float]], float]) -> float:
    """Krippendorff's alpha from the coincidence matrix: 1 - (n - 1) sum o_ck d_ck / sum n_c n_k d_ck."""
    o: Counter[tuple[Any, Any]] = Counter()
    for values in units:
        m = len(values)
        if m < 2:
            continue
        for i, j in itertools.permutations(range(m), 2):
            o[(values[i], values[j])] += 1 / (m - 1)
    n_c: Counter[Any] = Counter()
    for (c, _), w in o.items():
        n_c[c] += w
    n = sum(n_c.values())
    observed = sum(w * delta(c, k, n_c) for (c, k), w in o.items())
    expected = sum(n_c[c] * n_c[k] * delta(c, k, n_c) for c in n_c for k in n_c)
    return 1 - (n - 1) * observed / expected


def nominal(c: Any, k: Any, _: dict[Any, float]) -> float:
    return 0.0 if c == k else 1.0


def ordinal(c: int, k: int, n_c: dict[Any, float]) -> float:
    """(sum of n_g for g from c to k, minus half of n_c and n_k) squared."""
    lo, hi = min(c, k), max(c, k)
    return (sum(n_c.get(g, 0) for g in range(lo, hi + 1)) - (n_c.get(c, 0) + n_c.get(k, 0)) / 2) ** 2
