"""What the report reads from a run directory: summaries and a bounded sample, never records/.

run.json, summary/dataset.json, summary/shards.parquet (without the
HyperLogLog and quantile sketch columns) and summary/examples.parquet. Their
size depends on the number of input files, rules and columns, not on the
number of rows. A run made before the report existed has no histograms or
examples: the sections that need them say so instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq

from winnow.transforms.io import files
from winnow.transforms.run_layout import RUN_RECORD
from winnow.transforms.summary.column_histograms import HIST_PREFIX, WHATIF_PREFIX
from winnow.transforms.summary.histograms import Histogram


class ReportInputError(Exception):
    """The directory is not a complete run (no run.json or summary)."""


@dataclass
class RunData:
    path: str
    run: dict[str, Any]  # run.json
    dataset: dict[str, Any]  # summary/dataset.json
    shards: list[dict[str, Any]]  # summary/shards.parquet rows, maps as dicts, histograms decoded
    examples: list[dict[str, Any]]  # summary/examples.parquet rows
    drift: dict[str, Any] | None = None  # summary/drift.json of a nightly run (transforms.state.drift)

    @property
    def config(self) -> dict[str, Any]:
        return self.run.get("config") or {}

    def has_histograms(self) -> bool:
        return any(s.get("hist") for s in self.shards)


def _read_json(path: str) -> dict[str, Any]:
    data = json.loads(files.read_bytes(path))
    if not isinstance(data, dict):
        raise ReportInputError(f"{path} does not hold a JSON object")
    return data


def _shard_row(row: dict[str, Any]) -> dict[str, Any]:
    """One shards.parquet row: map columns as dicts, histograms decoded, means gathered."""
    out: dict[str, Any] = {"hist": {}, "whatif": {}, "means": {}}
    for name, value in row.items():
        if name.startswith(HIST_PREFIX):
            if value is not None:
                out["hist"][name[len(HIST_PREFIX) :]] = Histogram.from_bytes(value)
        elif name.startswith(WHATIF_PREFIX):
            if value is not None:
                out["whatif"][name[len(WHATIF_PREFIX) :]] = Histogram.from_bytes(value)
        elif name == "cluster_sizes":
            out[name] = Histogram.from_bytes(value) if value is not None else None
        elif name.startswith("mean_"):
            out["means"][name[len("mean_") :]] = value
        elif isinstance(value, list) and (not value or isinstance(value[0], dict)):
            out[name] = {item["key"]: item["count"] for item in value}
        else:
            out[name] = value
    return out


def read_shards(run_dir: str) -> list[dict[str, Any]]:
    """summary/shards.parquet of a run as report rows (sketch columns left out); [] when it has none."""
    path = files.join(run_dir, "summary", "shards.parquet")
    if not files.exists(path):
        return []
    with files.open_read(path) as f:
        pf = pq.ParquetFile(f)
        columns = [n for n in pf.schema_arrow.names if not n.startswith("sketch_")]
        table = pf.read(columns=columns)
    return [_shard_row(r) for r in table.to_pylist()]


def read_run(run_dir: str) -> RunData:
    """The summaries of a finished run (local or gs://)."""
    run_dir = run_dir.rstrip("/") or "/"
    record = files.join(run_dir, RUN_RECORD)
    if not files.exists(record):
        raise ReportInputError(
            f"{run_dir} holds no finished run: {RUN_RECORD} is missing (a run is complete only when it exists)"
        )
    run = _read_json(record)
    summary = files.join(run_dir, "summary", "dataset.json")
    if not files.exists(summary):
        raise ReportInputError(f"{run_dir} has no summary/dataset.json")
    dataset = _read_json(summary)
    shards = read_shards(run_dir)
    coverage = (dataset.get("coverage") or {}).get("per_shard") or {}
    for s in shards:
        s["coverage"] = coverage.get(s["shard"])
    examples: list[dict[str, Any]] = []
    path = files.join(run_dir, "summary", "examples.parquet")
    if files.exists(path):
        with files.open_read(path) as f:
            examples = pq.read_table(f).to_pylist()
    drift_path = files.join(run_dir, "summary", "drift.json")
    drift = _read_json(drift_path) if files.exists(drift_path) else None
    return RunData(run_dir, run, dataset, shards, examples, drift)
