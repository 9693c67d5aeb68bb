"""Builders shared by the calibration and retraining tests: a finished run directory (run.json and
records/ written by hand from canonical batches, no Beam) and a labels directory (labels.parquet,
and the export's sample.parquet and export.json) as `winnow review import` leaves it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import alpaca, canonical_batch

FINISHED = "2026-12-01T10:00:00+00:00"


def make_run(run_dir: Path, rows: list[dict[str, Any]], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A run of `rows` ({id, instruction?, output?, flags?, composite?, quality?}); returns its run.json."""
    from winnow.transforms.config import config_hash, load_config

    config = load_config(None, overrides)
    batch = canonical_batch(
        [alpaca(r["id"], r.get("instruction", f"Question {r['id']}?"), r.get("output", f"Answer {r['id']}.")) for r in rows]
    )
    table = pa.Table.from_batches([batch])
    extra = {
        "flags": pa.array([r.get("flags", []) for r in rows], pa.list_(pa.string())),
        "severity": pa.array(["" for _ in rows], pa.string()),
        "composite": pa.array([r.get("composite") for r in rows], pa.float32()),
        "quality": pa.array([r.get("quality") for r in rows], pa.float32()),
        "keep": pa.array([True for _ in rows], pa.bool_()),
    }
    for name, values in extra.items():
        table = table.append_column(name, values)
    os.makedirs(run_dir / "records", exist_ok=True)
    pq.write_table(table, run_dir / "records" / "part-00000.parquet")
    record = {"config_hash": config_hash(config), "finished": FINISHED, "config": config.as_dict(), "rows_scored": len(rows)}
    (run_dir / "run.json").write_text(json.dumps(record, indent=2))
    return record


def make_labels(
    labels_dir: Path,
    votes: dict[str, list[str]],
    probability: dict[str, float],
    record: dict[str, Any],
    strata: dict[str, str] | None = None,
) -> None:
    """labels.parquet ({id: [verdict per annotator]}), sample.parquet (every id of `probability`) and
    export.json naming the run `record` describes."""
    from winnow.transforms.review.labels import SCHEMA

    os.makedirs(labels_dir, exist_ok=True)
    rows = [
        {"id": row_id, "annotator": f"annotator{k}", "verdict": v, "rating": None, "note": None}
        for row_id, verdicts in votes.items()
        for k, v in enumerate(verdicts)
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), labels_dir / "labels.parquet")
    sample = pa.table(
        {
            "id": pa.array(list(probability), pa.string()),
            "stratum": pa.array([(strata or {}).get(i, "composite:decile") for i in probability], pa.string()),
            "inclusion_probability": pa.array(list(probability.values()), pa.float64()),
        }
    )
    pq.write_table(sample, labels_dir / "sample.parquet")
    export = {"export_id": "export-1", "config_hash": record["config_hash"], "finished": record["finished"]}
    (labels_dir / "export.json").write_text(json.dumps(export))
