"""`winnow review import`: annotation exports in, labels.parquet and agreement.json out.

The labels must be of the sample `winnow review export` wrote to DIR: every
id in its sample.parquet, and no task from another export. LABELS_DIR also
gets a copy of the sample and export.json, so `winnow review calibrate`
reweights by the inclusion probabilities from LABELS_DIR alone.

Every file is read and checked, and the statistics computed, before anything
is written, so a bad file leaves LABELS_DIR as it was; each output is written
atomically (winnow.transforms.io.files.write_atomically).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.parquet as pq

from winnow.transforms.io import files
from winnow.transforms.io.files import UnwritableError
from winnow.transforms.review.agreement import agreement_report
from winnow.transforms.review.labels import ImportedFile, ReviewError, check_sample, labels_table, read_labels

LABELS = "labels.parquet"
AGREEMENT = "agreement.json"
SAMPLE = "sample.parquet"  # written by review export; copied into LABELS_DIR
EXPORT = "export.json"


def _read(path: str) -> bytes:
    try:
        return files.read_bytes(path)
    except Exception as e:
        reason = "no such file" if not files.exists(path) else str(e) or type(e).__name__
        raise ReviewError(f"{path}: cannot read it: {reason}") from e


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


def read_export(export_dir: str) -> tuple[dict[str, Any], bytes, set[str]]:
    """(export.json, sample.parquet's bytes, the sampled ids) of a `review export` DIR."""
    try:
        export = json.loads(files.read_bytes(files.join(export_dir, EXPORT)))
        sample = files.read_bytes(files.join(export_dir, SAMPLE))
        ids = pq.read_table(pa.BufferReader(sample), columns=["id"]).column("id").to_pylist()
    except Exception as e:
        raise ReviewError(
            f"{export_dir}: not a `winnow review export` folder (it needs {EXPORT} and {SAMPLE}): {e or type(e).__name__}"
        ) from e
    if not isinstance(export, dict) or not export.get("export_id"):
        raise ReviewError(f"{files.join(export_dir, EXPORT)}: no export_id")
    return export, sample, set(ids)


def import_labels(
    export_dir: str, inputs: list[str], output: str, overwrite: bool = False
) -> tuple[list[ImportedFile], dict[str, Any]]:
    """Read the export and every input, then write LABELS_DIR/labels.parquet, agreement.json and a copy of
    the export's sample.parquet and export.json; returns what was read and the report."""
    output = output.rstrip("/") or "/"
    names = (LABELS, AGREEMENT, SAMPLE, EXPORT)
    if not overwrite and any(files.exists(files.join(output, n)) for n in names):
        raise ReviewError(f"{output} already holds {', '.join(names)} or some of them; pass --overwrite to replace them")
    export, sample, sample_ids = read_export(export_dir)
    imported = [read_labels(_read(path), path) for path in inputs]
    check_sample(imported, sample_ids, str(export["export_id"]), export_dir)
    table = labels_table(imported)
    if table.num_rows == 0:
        raise ReviewError(f"no annotation in {', '.join(inputs)}: nothing to import")
    skipped: Counter[str] = Counter()
    for f in imported:
        skipped.update(f.skipped)
    report = agreement_report(table, skipped)
    report["export"] = {"dir": export_dir, "export_id": export["export_id"], "sampled_rows": len(sample_ids)}
    report["inputs"] = [
        {"path": f.path, "format": f.format, "annotations": len(f.rows), "skipped": dict(sorted(f.skipped.items()))}
        for f in imported
    ]
    data = (json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
    try:
        files.write_atomically(files.join(output, SAMPLE), sample)
        files.write_atomically(files.join(output, EXPORT), json.dumps(export, indent=2).encode())
        files.write_atomically(files.join(output, LABELS), _parquet_bytes(table))
        files.write_atomically(files.join(output, AGREEMENT), data)
    except Exception as e:
        raise UnwritableError(output, str(e) or type(e).__name__) from e
    return imported, report


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def print_summary(imported: list[ImportedFile], report: dict[str, Any], output: str, out: TextIO) -> None:
    for f in imported:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(f.skipped.items()))
        print(f"{f.path} ({f.format}): {len(f.rows)} annotations" + (f"; skipped {skipped}" if skipped else ""), file=out)
    c = report["counts"]
    print(
        f"{c['annotations']} annotations of {c['items']} rows by {c['annotators']} annotators; "
        f"{c['items_with_2_or_more_annotators']} rows with 2 or more",
        file=out,
    )
    for question in ("verdict", "rating"):
        q = report[question]
        alpha = q["krippendorff_alpha"]
        kappas = ", ".join(f"{'/'.join(k['annotators'])} {_fmt(k['kappa'])}" for k in q["cohen_kappa"])
        print(
            f"{question}: Krippendorff's alpha ({alpha['level']}) {_fmt(alpha['value'])}"
            + (f"; Cohen's kappa {kappas}" if kappas else ""),
            file=out,
        )
    print(f"{len(report['disagreements'])} rows where annotators disagree", file=out)
    print(f"wrote {files.join(output, LABELS)}, {AGREEMENT}, and the export's {SAMPLE} and {EXPORT}", file=out)


def run_import(args: argparse.Namespace, out: TextIO | None = None) -> dict[str, Any]:
    imported, report = import_labels(args.export_dir, args.files, args.output, args.overwrite)
    print_summary(imported, report, args.output.rstrip("/") or "/", out or sys.stdout)
    return report
