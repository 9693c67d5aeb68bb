"""`winnow review calibrate`: a run's rules and score columns against the human verdicts on its sample.

Reads LABELS_DIR (labels.parquet from `winnow review import`, and the export's
sample.parquet and export.json), checks that the sample was drawn from RUN_DIR,
reads only the labelled rows' columns of RUN_DIR/records/ (as `winnow evaluate`
does), computes everything (winnow.transforms.review.calibration; with --retrain
also the retrained quality model, pipelines/review_retrain.py), and only then
writes DIR/calibration.json and DIR/calibrated.yaml (and MODEL_OUT with its
card), each atomically, so an error leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from typing import Any, TextIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from winnow.pipelines.evaluate import read_run_record, read_scores, record_files, records_schema
from winnow.pipelines.review import EXPORT, LABELS, SAMPLE
from winnow.pipelines.review_retrain import model_bytes, retrain
from winnow.transforms.config import from_data, load_config, merge
from winnow.transforms.configfiles import ConfigError
from winnow.transforms.evaluation import score_columns, split_repeated
from winnow.transforms.io import files
from winnow.transforms.io.files import UnwritableError
from winnow.transforms.review.calibration import (
    EXAMPLES,
    calibrate,
    calibrated_config,
    check_same_run,
    config_diff,
    default_apply,
    keep_thresholds,
    known_directions,
    majority_verdicts,
    sample_weights,
    table_lines,
)
from winnow.transforms.review.labels import ReviewError
from winnow.transforms.run_layout import RUN_RECORD
from winnow.transforms.signals.rules import load_rules
from winnow.transforms.terminal import escape_control

CALIBRATION, CALIBRATED = "calibration.json", "calibrated.yaml"
CARD_SUFFIX = ".card.json"


def _read(path: str, what: str) -> bytes:
    try:
        return files.read_bytes(path)
    except Exception as e:
        reason = "no such file" if not files.exists(path) else str(e) or type(e).__name__
        raise ReviewError(f"{path}: cannot read it: {reason} ({what})") from e


def _parquet(path: str, what: str) -> pa.Table:
    data = _read(path, what)
    try:
        return pq.read_table(io.BytesIO(data))
    except Exception as e:
        raise ReviewError(f"{path}: not a Parquet file ({e})") from e


def _json(path: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_read(path, what))
    except ValueError as e:
        raise ReviewError(f"{path}: not JSON ({e})") from e
    if not isinstance(value, dict):
        raise ReviewError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def outputs(output: str, retrain: str | None) -> list[str]:
    """Every file the command writes."""
    out = [files.join(output, CALIBRATION), files.join(output, CALIBRATED)]
    return out + ([retrain, retrain + CARD_SUFFIX] if retrain else [])


def rule_severities(config: dict[str, Any], run_dir: str) -> tuple[dict[str, str | None], list[str]]:
    """(rule -> severity in the run, keep.drop_severities) from run.json's config."""
    try:
        effective = from_data(config)
        rules = load_rules(effective.rules, effective.disable_rules, effective.rule_severity)
    except ConfigError as e:
        raise ConfigError(f"{run_dir}/{RUN_RECORD}: its config does not load here: {e}") from e
    return {r.name: r.severity for r in rules}, list(effective.keep.drop_severities)


def _column_values(table: pa.Table, column: str) -> np.ndarray:
    return np.asarray(table.column(column).cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise ReviewError("--columns names no column; give them comma-separated, e.g. --columns composite,quality")
    return names


def overlay_yaml(overlay: dict[str, Any], run_dir: str, record: dict[str, Any], labels_dir: str) -> bytes:
    header = (
        "# winnow review calibrate: a config overlay for `winnow score --config`.\n"
        f"# The settings of run {run_dir} (config_hash {record.get('config_hash')}) that differ from the defaults,\n"
        f"# with keep.min and rule_severity calibrated on the human labels in {labels_dir}\n"
        "# (see calibration.json next to this file for the figures behind each value).\n"
    )
    return (header + yaml.safe_dump(overlay, sort_keys=False, allow_unicode=True, default_flow_style=False)).encode()


def run_calibrate(args: argparse.Namespace, out: TextIO | None = None) -> dict[str, Any]:
    """Everything `winnow review calibrate` does; returns what it wrote to calibration.json."""
    out = out or sys.stdout
    labels_dir = args.labels_dir.rstrip("/") or "/"
    run_dir = args.run_dir.rstrip("/") or "/"
    output = args.output.rstrip("/") or "/"
    target, min_labels = args.target_precision, args.min_labels
    if not 0 < target < 1:
        raise ReviewError(f"--target-precision must be between 0 and 1; got {target}")
    if min_labels < 1:
        raise ReviewError(f"--min-labels must be at least 1; got {min_labels}")
    targets = outputs(output, args.retrain)
    there = [p for p in targets if files.exists(p)]
    if there and not args.overwrite:
        raise ReviewError(f"{', '.join(there)} already exist(s); pass --overwrite to replace")

    # What people said, and how each labelled row was sampled.
    labels_path, sample_path, export_path = (files.join(labels_dir, n) for n in (LABELS, SAMPLE, EXPORT))
    verdicts = majority_verdicts(_parquet(labels_path, "written by `winnow review import`"), labels_path)
    sample = _parquet(sample_path, "the export's sample; `winnow review import` copies it into LABELS_DIR")
    export = _json(export_path, "the export's record; `winnow review import` copies it into LABELS_DIR")
    record = read_run_record(run_dir)
    check_same_run(export, record, export_path, f"{run_dir}/{RUN_RECORD}")
    # Every labelled id, ties too, must be a row of the sample.
    all_weights, all_strata = sample_weights(sample, verdicts.all_ids, sample_path)
    position = {row_id: i for i, row_id in enumerate(verdicts.all_ids)}
    used = np.array([position[i] for i in verdicts.ids], dtype=np.int64)
    weights, strata = all_weights[used], [all_strata[i] for i in used]
    if not verdicts.ids:
        raise ReviewError(f"{labels_path}: every labelled row is a tie between good and bad; nothing to calibrate on")

    # The labelled rows of the run.
    config = dict(record.get("config") or {})
    rules, drop_severities = rule_severities(config, run_dir)
    paths = record_files(run_dir)
    schema = records_schema(paths[0])
    if "flags" not in schema.names:
        raise ReviewError(f"{run_dir}/records/ has no flags column")
    requested = _split(args.columns)
    columns = score_columns(schema, requested)
    apply = list(dict.fromkeys(args.apply)) if args.apply else []
    for name in apply:
        if name not in columns:
            raise ReviewError(f"--apply {name}: not a score column calibrated here; the columns are {', '.join(columns)}")
    text = [c for c in ("turns", "system", "instruction", "input", "response", "content_hash") if c in schema.names]
    wanted = ["flags", *columns, *(text if args.retrain else [])]
    table, _ = read_scores(paths, pa.array(verdicts.all_ids, pa.string()), list(dict.fromkeys(wanted)))
    table, repeated = split_repeated(table)
    if repeated:
        raise ReviewError(
            f"{run_dir}/records/: labelled id(s) {', '.join(map(repr, repeated[:EXAMPLES]))} are on several rows of the "
            "run, so a label cannot tell which row it judges"
        )
    found = set(table.column("id").to_pylist())
    unknown = [i for i in verdicts.all_ids if i not in found]
    if unknown:
        raise ReviewError(
            f"{run_dir}/records/: no row with id {unknown[0]!r} (labelled in {labels_path})"
            + (f"; {len(unknown) - 1} more id(s) are missing too" if len(unknown) > 1 else "")
        )
    at = {row_id: i for i, row_id in enumerate(table.column("id").to_pylist())}
    table = table.take(pa.array([at[i] for i in verdicts.ids], pa.int64()))

    report = calibrate(
        verdicts.bad,
        weights,
        table.column("flags").to_pylist(),
        {c: _column_values(table, c) for c in columns},
        rules,
        drop_severities,
        known_directions(config),
        target,
        min_labels,
    )
    apply = apply or default_apply(report["columns"])
    thresholds, not_applied = keep_thresholds(report["columns"], apply)
    if args.apply and not_applied:
        name, why = next(iter(not_applied.items()))
        raise ReviewError(f"--apply {name}: {why}")
    severities = {name: c["to"] for name, c in report["severity_changes"].items()}

    # The overlay: the run's own settings (what differs from the defaults), calibrated.
    calibrated = calibrated_config(config, thresholds, severities)
    defaults = load_config().as_dict()
    overlay = config_diff(calibrated, defaults) or {}
    try:
        expected = from_data(calibrated).as_dict()
        if from_data(merge(defaults, overlay)).as_dict() != expected:
            overlay = calibrated  # a difference the overlay cannot express: the whole config
    except ConfigError as e:
        raise ReviewError(f"the calibrated config does not validate ({e}); nothing was written") from e

    retrained = None
    if args.retrain:
        retrained = retrain(
            config,
            run_dir,
            table,
            verdicts.ids,
            verdicts.bad,
            weights,
            args.retrain,
            args.folds,
            args.seed,
            args.label_weight,
            {"labels_dir": labels_dir, "run_dir": run_dir, "export_id": export.get("export_id")},
        )

    bad = verdicts.bad
    result: dict[str, Any] = {
        "inputs": {
            "labels_dir": labels_dir,
            "run_dir": run_dir,
            "export_id": export.get("export_id"),
            "run": {k: record.get(k) for k in ("config_hash", "finished", "rows_scored")},
        },
        "positive_class": "bad (the human majority verdict): what a drop should catch",
        "weighting": "Horvitz-Thompson, w = 1 / inclusion_probability from sample.parquet; Wilson 95% intervals "
        "at Kish's effective sample size of each proportion's denominator",
        "target_precision": target,
        "min_labels": min_labels,
        "counts": {
            "labelled_rows": len(verdicts.all_ids),
            "rows_used": len(verdicts.ids),
            "ties_excluded": len(verdicts.ties),
            "tie_examples": verdicts.ties[:EXAMPLES],
            "bad": int(bad.sum()),
            "good": int((~bad).sum()),
            "bad_share_weighted": round(float(weights[bad].sum() / weights.sum()), 6),
            "strata": {s: strata.count(s) for s in sorted(set(strata))},
        },
        "rules": report["rules"],
        "columns": report["columns"],
        "thresholds": {
            "applied": {c: {"keep.min": t, "criterion": report["columns"][c]["criterion"]} for c, t in thresholds.items()},
            "not_applied": not_applied,
            "recommended": {
                c: None if r.get("recommended") is None else {**r["recommended"], "criterion": r["criterion"]}
                for c, r in report["columns"].items()
            },
        },
        "severity_changes": report["severity_changes"],
        "overlay": files.join(output, CALIBRATED),
    }
    if retrained is not None:
        result["retrain"] = retrained.report

    # Everything is computed: write.
    data: list[tuple[str, bytes]] = []
    if retrained is not None:
        model = model_bytes(retrained.model)
        retrained.card["size_bytes"] = len(model)
        data += [(args.retrain, model), (args.retrain + CARD_SUFFIX, (json.dumps(retrained.card, indent=2) + "\n").encode())]
    data += [
        (files.join(output, CALIBRATION), (json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()),
        (files.join(output, CALIBRATED), overlay_yaml(overlay, run_dir, record, labels_dir)),
    ]
    for path, content in data:
        try:
            files.write_atomically(path, content)
        except Exception as e:
            raise UnwritableError(path, str(e) or type(e).__name__) from e
    print_summary(result, output, args.retrain, out)
    return result


def print_summary(result: dict[str, Any], output: str, model_out: str | None, out: TextIO) -> None:
    c = result["counts"]
    lines = [
        f"labels: {c['rows_used']} rows with a majority verdict ({c['bad']} bad, {c['good']} good; {c['ties_excluded']} ties "
        f"left out); weighted bad share {c['bad_share_weighted']:.3f}",
        *table_lines(result),
    ]
    for column, t in result["thresholds"]["applied"].items():
        lines.append(f"keep.min.{column}: {t['keep.min']:g} ({t['criterion']})")
    for column, why in result["thresholds"]["not_applied"].items():
        lines.append(f"{column}: not applied: {why}")
    for rule, ch in result["severity_changes"].items():
        lines.append(f"rule_severity.{rule}: {ch['from']} -> {ch['to']} (precision {ch['precision']:.3f})")
    r = result.get("retrain")
    if r:
        b, a = r["before"], r["after"]

        def fmt(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.3f}"

        lines.append(
            f"retrained quality model on {r['training']['rows']:,} rows: held-out accuracy {fmt(b['accuracy'])} -> "
            f"{fmt(a['accuracy'])}, ROC-AUC {fmt(b['roc_auc'])} -> {fmt(a['roc_auc'])} ({b['rows']} human-labelled rows)"
        )
        note = r["training"]["original"].get("note")
        if note:
            lines.append(f"retrain: {note}")
        lines.append(f"wrote {model_out} and {model_out}{CARD_SUFFIX}")

    lines.append(f"wrote {files.join(output, CALIBRATION)} and {files.join(output, CALIBRATED)}")
    for line in lines:
        print(escape_control(line), file=out)
    for w in r["warnings"] if r else []:
        print(escape_control(f"winnow: warning: {w}"), file=sys.stderr)
