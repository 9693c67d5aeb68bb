"""What a signal is: columns, a config switch, a cost class and a compute function.

A signal family lives in one module that defines a `Signal`; the registry
(signals.registry) lists them. The scorer, the records schema, the summary
means, the plan, `score --help` and config validation all read the
registry, so adding a signal is one module plus one registration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from winnow.transforms.config import Config

# cheap: a few vectorized passes (100k+ rows/s); moderate: regex or token work (10-50k rows/s);
# expensive: a model or per-row Python (under 25k rows/s). README, Signals, has the measured rates.
Cost = Literal["cheap", "moderate", "expensive"]
# Signals run before the rules (which read their columns) or after them (they read flags/severity).
Phase = Literal["before_rules", "after_rules"]


@dataclass
class Context:
    """What a compute function sees for one batch."""

    batch: pa.RecordBatch  # the canonical batch
    cols: dict[str, Any]  # every column so far: canonical, `conversation`, earlier signals (and flags/severity after the rules)
    config: Config
    base_dir: str | None  # the input file's directory: relative media paths resolve against it
    resource: Any = None  # what the signal's `load` returned, once per worker
    dataset: dict[str, Any] = field(default_factory=dict)  # facts counted over the whole dataset before scoring


@dataclass(frozen=True)
class Signal:
    """One signal family."""

    name: str  # registry key; also the `signals.<name>` config section when `options` is set
    label: str  # how the plan and the help name it
    cost: Cost
    switch: str  # the config key that turns it on ("always on" for none)
    enabled: Callable[[Config], bool]
    columns: Callable[[Config], list[pa.Field]]
    compute: Callable[[Context], dict[str, Any]]  # column -> pa.Array or numpy values
    means: tuple[str, ...] = ()  # columns whose per-shard mean the summary reports
    phase: Phase = "before_rules"
    load: Callable[[Config], Any] | None = None  # models, indexes: loaded once per worker, passed as Context.resource
    options: Any = None  # type (bool or a pydantic model) of the `signals.<name>` section this signal brings
    summary: str = ""  # one line for the help text
    extra_reserved: tuple[str, ...] = field(default=())  # column names reserved even when off


def typed_columns(out: dict[str, Any], fields: list[pa.Field]) -> dict[str, pa.Array]:
    """A compute function's output as Arrow arrays of the declared column types."""
    types = {f.name: f.type for f in fields}
    typed = {}
    for name, values in out.items():
        if isinstance(values, (pa.Array, pa.ChunkedArray)):
            typed[name] = values
        else:
            typed[name] = pa.array(np.asarray(values) if not isinstance(values, list) else values, types[name])
    return typed
