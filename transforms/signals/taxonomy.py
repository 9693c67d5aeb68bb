"""Topic coverage against a target task taxonomy.

A taxonomy file (configs/taxonomy/*.yaml) lists topics, each with RE2
patterns searched case-insensitively in one text field, and the target
topics T_t. Per row: the matched topics and a relevance score, the share
of the row's topics that are targets. Per shard and dataset: the coverage
C = |T_d ∩ T_t| / |T_t|, where T_d are the topics present in the data, and
the target topics that are missing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from winnow.transforms.configfiles import ConfigError, packaged_text, read_yaml
from winnow.transforms.signals.base import Context, Signal
from winnow.transforms.summary.diversity import entropy

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class Topic:
    name: str
    patterns: tuple[str, ...]


@dataclass(frozen=True)
class Taxonomy:
    name: str
    topics: tuple[Topic, ...]
    targets: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.topics]


def load_taxonomy(ref: str) -> Taxonomy:
    """A shipped taxonomy by name (configs/taxonomy/NAME.yaml) or a YAML path."""
    if "/" in ref or ref.endswith((".yaml", ".yml")):
        data = read_yaml(ref)
    else:
        try:
            data = yaml.safe_load(packaged_text(f"taxonomy/{ref}.yaml"))
        except FileNotFoundError as e:
            raise ConfigError(f"config key taxonomy.path: no shipped taxonomy named {ref!r}; give a YAML path") from e
    where = f"taxonomy {ref}"
    topics = data.get("topics") if isinstance(data, dict) else None
    if not isinstance(topics, list) or not topics:
        raise ConfigError(f"{where}: needs a non-empty list under 'topics'")
    out = []
    for i, t in enumerate(topics):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise ConfigError(f"{where}: topics[{i}] needs a name")
        pats = t.get("patterns")
        if not isinstance(pats, list) or not pats or not all(isinstance(p, str) for p in pats):
            raise ConfigError(f"{where}: topic {t['name']} needs a list of RE2 patterns")
        for p in pats:
            try:
                pc.match_substring_regex(pa.array([""]), p)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise ConfigError(f"{where}: topic {t['name']}: {p!r} is not a valid RE2 pattern: {e}") from e
        out.append(Topic(t["name"], tuple(pats)))
    names = [t.name for t in out]
    targets = data.get("targets", names)
    unknown = [t for t in targets if t not in names]
    if unknown:
        raise ConfigError(f"{where}: targets {unknown} are not topics")
    return Taxonomy(str(data.get("name", ref)), tuple(out), tuple(targets))


def match_topics(texts: pa.Array, taxonomy: Taxonomy) -> tuple[pa.Array, pa.Array]:
    """(topics: list<string> per row, relevance: share of the row's topics that are targets; null if none)."""
    texts = pc.fill_null(texts, "")
    n = len(texts)
    hits = np.zeros((n, len(taxonomy.topics)), dtype=bool)
    for j, topic in enumerate(taxonomy.topics):
        for pattern in topic.patterns:
            hits[:, j] |= pc.match_substring_regex(texts, pattern, ignore_case=True).to_numpy(zero_copy_only=False)
    rows, cols = np.nonzero(hits)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])
    names = pa.array(taxonomy.names, pa.string())
    topics = pa.ListArray.from_arrays(
        pa.array(offsets), names.take(pa.array(cols, pa.int32())) if len(cols) else pa.array([], pa.string())
    )
    target = np.array([t.name in taxonomy.targets for t in taxonomy.topics])
    matched = hits.sum(axis=1)
    on_target = (hits & target).sum(axis=1)
    relevance = np.divide(on_target, matched, out=np.zeros(n), where=matched > 0)
    return topics, pa.array(relevance, pa.float32(), mask=matched == 0)


def coverage(topic_counts: Counter, taxonomy: Taxonomy, min_rows: int = 1) -> dict[str, Any]:
    """C = |T_d ∩ T_t| / |T_t| and the missing target topics."""
    present = {t for t, c in topic_counts.items() if c >= min_rows}
    targets = list(taxonomy.targets)
    covered = [t for t in targets if t in present]
    return {
        "taxonomy": taxonomy.name,
        "coverage": len(covered) / len(targets) if targets else 0.0,
        "topic_entropy": entropy(Counter({t: c for t, c in topic_counts.items() if c})),
        "covered": covered,
        "missing": [t for t in targets if t not in present],
        "topic_rows": dict(Counter({t: topic_counts.get(t, 0) for t in taxonomy.names}).most_common()),
    }


# ---- registration -----------------------------------------------------------------------


def _topics(ctx: Context) -> dict[str, Any]:
    topics, relevance = match_topics(ctx.cols[ctx.config.taxonomy.field], ctx.resource)
    return {"topics": topics, "relevance": relevance}


TOPICS = Signal(
    name="topics",
    label="taxonomy topics",
    cost="moderate",
    switch="taxonomy.enabled",
    enabled=lambda config: config.taxonomy.enabled,
    columns=lambda config: [pa.field("topics", pa.list_(pa.string())), pa.field("relevance", pa.float32())],
    compute=_topics,
    load=lambda config: load_taxonomy(config.taxonomy.path),
    means=("relevance",),
    summary="topics of a taxonomy matched in each row, and the share that are target topics",
    extra_reserved=("topics", "relevance"),
)
