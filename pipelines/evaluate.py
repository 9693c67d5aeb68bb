"""`winnow evaluate`: how well each score column of a run agrees with labels a user has.

Reads the label file (and a grades file for group labels), then only `id` and
the score columns of the run's records/ (local or gs://), keeping the rows the
labels name; computes every metric with its bootstrap interval
(winnow.transforms.evaluation), prints one line per column and writes
evaluation.json in one piece, after everything is computed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.parquet as pq

from winnow.transforms.evaluation import (
    EXAMPLES,
    LabelError,
    Labels,
    evaluate,
    parse_labels,
    rows_with_ids,
    score_columns,
    table_lines,
)
from winnow.transforms.io import files
from winnow.transforms.io.files import UnwritableError
from winnow.transforms.io.inputs import InputError
from winnow.transforms.run_layout import EVALUATION, RUN_RECORD
from winnow.transforms.terminal import escape_control

BATCH_ROWS = 65_536


def _read_file(path: str, option: str) -> bytes:
    try:
        return files.read_bytes(path)
    except Exception as e:
        reason = "no such file" if not files.exists(path) else str(e) or type(e).__name__
        raise LabelError(f"{option} {path}: cannot read it: {reason}") from e


def read_run_record(run_dir: str) -> dict[str, Any]:
    """run.json of a finished run; an InputError for a folder that is not one."""
    path = files.join(run_dir, RUN_RECORD)
    try:
        return dict(json.loads(files.read_bytes(path)))
    except Exception as e:
        if files.exists(files.join(run_dir, "records")):
            raise InputError(
                f"{run_dir} has no readable {RUN_RECORD}: the run did not finish (a run is complete only when "
                f"{RUN_RECORD} exists), so its records/ may miss rows"
            ) from e
        raise InputError(f"{run_dir} is not a winnow run directory (no {RUN_RECORD}, no records/)") from e


def record_files(run_dir: str) -> list[str]:
    paths = files.match(files.join(run_dir, "records", "*.parquet"))
    if not paths:
        raise InputError(f"{run_dir}/records/ holds no Parquet file")
    return paths


def records_schema(path: str) -> pa.Schema:
    with files.open_read(path) as f:
        return pq.ParquetFile(f).schema_arrow


def read_scores(paths: Sequence[str], ids: pa.Array, columns: Sequence[str]) -> tuple[pa.Table, list[str]]:
    """`id` and `columns` of the records whose id is in `ids`, and the run's first few ids (for messages).

    Only those columns are read, batch by batch, so memory follows the labels, not the run.
    """
    wanted = ["id", *columns]
    parts: list[pa.Table] = []
    examples: list[str] = []
    schema: pa.Schema | None = None
    for path in paths:
        with files.open_read(path) as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=BATCH_ROWS, columns=wanted):
                if len(examples) < 3:
                    examples += [i for i in batch.column("id")[: 3 - len(examples)].to_pylist() if i is not None]
                schema = schema or pa.schema([batch.schema.field(c).remove_metadata() for c in wanted])
                part = rows_with_ids(batch, ids)
                if part.num_rows:
                    parts.append(part.cast(schema))
    if not parts:
        if schema is None:
            schema = pa.schema([pa.field("id", pa.string()), *(pa.field(c, pa.float64()) for c in columns)])
        return schema.empty_table(), examples
    return pa.concat_tables(parts), examples


def _split_columns(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise InputError("--columns names no column; give them comma-separated, e.g. --columns quality,composite")
    return names


def run_evaluation(args: argparse.Namespace, out: TextIO | None = None) -> dict[str, Any]:
    """Everything `winnow evaluate` does; returns what it wrote to evaluation.json."""
    out = out or sys.stdout
    if args.bootstrap < 0:
        raise InputError(f"--bootstrap must be 0 (no interval) or a number of resamples; got {args.bootstrap}")
    run_dir = args.run_dir.rstrip("/") or "/"
    record = read_run_record(run_dir)
    paths = record_files(run_dir)
    grades = _read_file(args.grades, "--grades") if args.grades else None
    labels = parse_labels(_read_file(args.labels, "--labels"), args.labels, args.group_column, grades, args.grades)
    columns = score_columns(records_schema(paths[0]), _split_columns(args.columns))
    ids = pa.array(labels.all_ids().astype(str), pa.string())
    scores, run_examples = read_scores(paths, ids, columns)
    report = evaluate(labels, scores, columns, args.bootstrap, args.seed, f"{run_dir}/records/", run_examples)
    run = {k: record.get(k) for k in ("finished", "config_hash", "rows_scored")}  # which run: --overwrite replaces it
    report = {"labels": report.pop("labels"), "run": {"dir": run_dir, **run}, **report}
    output = args.output or files.join(run_dir, EVALUATION)
    data = (json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
    try:
        files.write_atomically(output, data)
    except Exception as e:
        raise UnwritableError(output, str(e) or type(e).__name__) from e
    print_report(report, labels, output, out)
    return report


def print_report(report: dict[str, Any], labels: Labels, output: str, out: TextIO) -> None:
    m = report["matched"]
    unit = "pairs" if labels.kind == "pairwise" else "rows"
    lines = [f"labels: {labels.path} ({labels.format}): {labels.describe()}"]
    matched = f"matched: {m['rows']:,} of {m['rows'] + m['unmatched_rows']:,} {unit}"
    if m["unmatched_ids"]:
        examples = ", ".join(m["unmatched_examples"]) + (", ..." if m["unmatched_ids"] > EXAMPLES else "")
        are = "id is" if m["unmatched_ids"] == 1 else "ids are"
        matched += f"; {m['unmatched_ids']:,} {are} not in the run ({examples})"
    lines.append(matched)
    lines += table_lines(report)
    b = report["bootstrap"]
    lines.append(
        f"95% CI: percentile bootstrap, {b['resamples']:,} resamples of the {b['over']}, seed {b['seed']}"
        if b["resamples"]
        else "95% CI: none (--bootstrap 0)"
    )
    lines.append(f"wrote {output}")
    for line in lines:
        print(escape_control(line), file=out)
    if m["repeated_ids"]:
        print(
            escape_control(
                f"winnow: warning: {m['repeated_ids']:,} labelled ids are on several rows of the run and were left out "
                f"(e.g. {', '.join(m['repeated_examples'])})"
            ),
            file=sys.stderr,
        )
