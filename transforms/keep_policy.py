"""The keep policy: whether a scored row is kept, and every reason it is not.

`decide` is one pure function over a scored batch (records/ columns) and the
near-duplicate verdicts of its rows. A row is dropped when a rule of a
severity in `keep.drop_severities` fired (`rule:<name>`), when it is a
near-duplicate that is not its cluster's kept row (`near_duplicate_of:<id of
the kept row>`), or when a `keep.min` column is below its threshold
(`below_min:<column><<threshold>`) or null (`missing:<column>`, unless
`keep.on_missing: keep`: a threshold that cannot judge a row neither passes
nor fails it silently). Reasons are listed in that order, rules in the order
of `flags`. The summary counts rows per reason group (`reason_group`).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.arrow_bytes import one_array
from winnow.transforms.configfiles import ConfigError
from winnow.transforms.signals import registry
from winnow.transforms.signals.rules import Rule, configured
from winnow.transforms.signals.scorer import scored_schema

if TYPE_CHECKING:
    from winnow.transforms.config import Config

KEEP_FIELDS = (pa.field("keep", pa.bool_()), pa.field("drop_reasons", pa.list_(pa.string())))
RULE, NEAR_DUPLICATE_OF, BELOW_MIN, MISSING = "rule:", "near_duplicate_of:", "below_min:", "missing:"
NEAR_DUPLICATE = "near_duplicate"  # the group of every near_duplicate_of:<id> reason
NOT_THRESHOLDS = ("key", "row")  # numeric columns that identify a row rather than score it


def records_schema(config: Config) -> pa.Schema:
    """records/: the scored columns, then `keep` and `drop_reasons`."""
    return pa.schema([*scored_schema(config), *KEEP_FIELDS])


@dataclass(frozen=True)
class KeepPolicy:
    """The keep policy of one shard's rows, from its effective config (sources may differ)."""

    drop_rules: frozenset[str] = frozenset()  # rules whose firing drops a row
    near_duplicates: bool = True
    min: tuple[tuple[str, float], ...] = ()
    drop_missing: bool = True

    @classmethod
    def from_config(cls, config: Config, rule_list: Sequence[Rule]) -> KeepPolicy:
        """The policy of `config` (a shard's effective config); `rule_list` as loaded for the run.

        Rule severities are the config's (rule_severity, disable_rules applied),
        so a source that makes a rule `warn` keeps the rows it flags.
        """
        keep = config.keep
        rules = configured(list(rule_list), config.disable_rules, config.rule_severity)
        return cls(
            frozenset(r.name for r in rules if r.severity in keep.drop_severities),
            keep.near_duplicates,
            tuple(keep.min.items()),
            keep.on_missing == "drop",
        )


def decide(
    scored: pa.RecordBatch | pa.Table, policy: KeepPolicy, duplicates: pa.Table | None = None
) -> tuple[pa.Array, pa.Array]:
    """(keep, drop_reasons) for each row of a scored batch.

    `duplicates`: duplicates/ rows (`key`, `keep`, `kept_id`) that may hold
    the batch's rows; those with keep false are dropped as near-duplicates of
    their kept row when the policy says so. Other rows of it are ignored.
    """
    n = scored.num_rows
    rows: list[np.ndarray] = []
    texts: list[pa.Array] = []

    def add(where: np.ndarray, reasons: pa.Array) -> None:
        rows.append(where.astype(np.int64))
        texts.append(reasons.cast(pa.string()))

    if policy.drop_rules:
        flags = one_array(scored.column("flags"))
        flat = pc.list_flatten(flags)
        hit = pc.is_in(flat, value_set=pa.array(sorted(policy.drop_rules), pa.string()))
        parent = pc.list_parent_indices(flags).to_numpy(zero_copy_only=False)
        mask = hit.to_numpy(zero_copy_only=False)
        add(parent[mask], pc.binary_join_element_wise(RULE, flat.filter(hit), ""))
    if policy.near_duplicates and duplicates is not None and duplicates.num_rows:
        dropped = duplicates.filter(pc.invert(pc.fill_null(duplicates.column("keep"), True)))
        at = pc.index_in(one_array(scored.column("key")), value_set=one_array(dropped.column("key")))
        found = pc.is_valid(at).to_numpy(zero_copy_only=False)
        kept_ids = pc.fill_null(one_array(dropped.column("kept_id")).take(pc.drop_null(at)), "")
        add(np.flatnonzero(found), pc.binary_join_element_wise(NEAR_DUPLICATE_OF, kept_ids, ""))
    for column, threshold in policy.min:
        values = pc.cast(one_array(scored.column(column)), pa.float64())
        missing = pc.fill_null(pc.is_nan(values), True).to_numpy(zero_copy_only=False)  # null or NaN
        below = pc.fill_null(pc.less(values, threshold), False).to_numpy(zero_copy_only=False) & ~missing
        where = np.flatnonzero(below)
        add(where, pa.array([f"{BELOW_MIN}{column}<{threshold:g}"] * len(where), pa.string()))
        if policy.drop_missing:
            where = np.flatnonzero(missing)
            add(where, pa.array([f"{MISSING}{column}"] * len(where), pa.string()))
    if rows:
        row = np.concatenate(rows)
        order = np.argsort(row, kind="stable")  # by row; within a row, in the order added
        reasons = pa.concat_arrays(texts).take(pa.array(order))
        counts = np.bincount(row, minlength=n)
    else:
        reasons, counts = pa.array([], pa.string()), np.zeros(n, dtype=np.int64)
    offsets = pa.array(np.concatenate(([0], np.cumsum(counts))).astype(np.int32))
    return pa.array(counts == 0), pa.ListArray.from_arrays(offsets, reasons)


def with_decisions(scored: pa.RecordBatch, policy: KeepPolicy, duplicates: pa.Table | None = None) -> pa.RecordBatch:
    """The scored batch with `keep` and `drop_reasons` appended (a records/ batch)."""
    keep, reasons = decide(scored, policy, duplicates)
    schema = pa.schema([*scored.schema, *KEEP_FIELDS])
    return pa.RecordBatch.from_arrays([*scored.columns, keep, reasons], schema=schema)


def reason_group(reason: str) -> str:
    """What the summary counts a reason under: near_duplicate_of:<id> as near_duplicate,
    below_min:<column><<threshold> as below_min:<column>; rule:<name> and missing:<column> as they are."""
    if reason.startswith(NEAR_DUPLICATE_OF):
        return NEAR_DUPLICATE
    if reason.startswith(BELOW_MIN):
        return reason.split("<", 1)[0]
    return reason


def describe_policy(config: Config) -> str:
    """The plan's line: what drops a row, and whether kept/ is written."""
    keep = config.keep
    what = [f"rules of severity {', '.join(keep.drop_severities)}"] if keep.drop_severities else []
    if keep.near_duplicates and config.dedup.enabled:
        what.append("near-duplicates not kept in their cluster")
    null = " or null" if keep.on_missing == "drop" else " (null passes)"
    what += [f"{column} < {threshold:g}{null}" for column, threshold in keep.min.items()]
    policy = f"keep: drop rows with {'; '.join(what)}" if what else "keep: every scored row"
    return policy + ("; kept/ written" if config.output.kept else "; kept/ not written (records/ keep, drop_reasons only)")


def check_keep_policy(config: Config) -> None:
    """Fail before reading data when `keep.min` (or a source's) names no numeric column of records/."""
    schema = scored_schema(config)
    numeric = [
        f.name for f in schema if (pa.types.is_integer(f.type) or pa.types.is_floating(f.type)) and f.name not in NOT_THRESHOLDS
    ]
    places = [("keep.min", list(config.keep.min))]
    places += [(f"sources[{i}].keep.min", list((s.keep or {}).get("min") or {})) for i, s in enumerate(config.sources)]
    for where, columns in places:
        for column in columns:
            if column in numeric:
                continue
            if column in schema.names:
                why = f"{column} is a {schema.field(column).type} column; a threshold needs a numeric score column"
            else:
                makers = [s.switch for s in registry.SIGNALS if column in {f.name for f in s.columns(config)} | set(s.means)]
                why = f"records/ has no column {column} with this config" + (f" (enable {', '.join(makers)})" if makers else "")
            close = difflib.get_close_matches(column, numeric, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(f"config key {where}.{column}: {why}{hint} (numeric columns: {', '.join(numeric)})")
