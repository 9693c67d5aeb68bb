"""`winnow review export RUN_DIR --size N --output DIR`: a stratified sample of a run for people to label.

Reads run.json, the few records/ columns the sample design needs (key,
shard, flags, language, composite, classifier scores) and duplicates/,
draws the sample (winnow.transforms.review.sampling), then reads the sampled
rows whole and builds every file in memory (transforms.review.export and
.guidelines). Only then is DIR written, one file at a time, each atomically,
export.json last: an export is complete when export.json exists, and a
failure before that leaves no export.json behind.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winnow.pipelines.evaluate import read_run_record, record_files, records_schema
from winnow.transforms.config import ReviewConfig, default_config_data, from_data, merge
from winnow.transforms.configfiles import ConfigError, read_yaml
from winnow.transforms.evaluation import numeric_columns, score_columns
from winnow.transforms.io import files
from winnow.transforms.io.files import UnwritableError
from winnow.transforms.review import export as fmt
from winnow.transforms.review.guidelines import guidelines_markdown
from winnow.transforms.review.labels import ReviewError
from winnow.transforms.review.sampling import Population, Sample, SampleSizes, draw, strata_report
from winnow.transforms.signals.rules import Rule, load_rules
from winnow.transforms.summary.run_record import versions
from winnow.transforms.terminal import escape_control

EXPORT = "export.json"  # written last: the export is complete when it exists
BATCH_ROWS = 65_536  # rows per batch when reading the population's columns
LANGUAGE_COLUMN = "lang"
TEXT_COLUMNS = ("turns", "system")


@dataclass(frozen=True)
class Export:
    """What was written: the export record and the files (relative paths)."""

    output: str
    record: dict[str, Any]
    files: tuple[str, ...]


def review_settings(run_config: dict[str, Any], config_path: str | None) -> ReviewConfig:
    """The `review:` section: defaults, then the run's own (when its config had one), then --config FILE."""
    data = default_config_data()
    if isinstance(run_config.get("review"), dict):
        data = merge(data, {"review": run_config["review"]})
    if config_path:
        data = merge(data, read_yaml(config_path))
    return from_data(data).review


def run_rules(run_config: dict[str, Any], run_dir: str) -> list[Rule]:
    """The run's rules with their severity and explanation: its rule packs as configured, or else the
    catalog its summary/dataset.json recorded (a pack given as a path that is no longer there)."""
    try:
        return load_rules(
            list(run_config.get("rules") or []),
            list(run_config.get("disable_rules") or []),
            run_config.get("rule_severity") or {},
        )
    except ConfigError as e:
        try:
            dataset = json.loads(files.read_bytes(files.join(run_dir, "summary", "dataset.json")))
            return [Rule(r["name"], r["severity"], r["explain"], {}, "dataset.json") for r in dataset["rules"]]
        except Exception:
            raise ConfigError(f"{run_dir}: the run's rules cannot be loaded: {e}") from e


def _check_output(output: str, overwrite: bool) -> None:
    if files.exists(output) and not overwrite:
        raise ReviewError(f"{output} is not empty; pass --overwrite to write the export over what it holds")
    files.check_writable(output)


def read_columns(paths: Sequence[str], columns: Sequence[str]) -> pa.Table:
    """Only `columns` of records/, batch by batch, in file order."""
    parts: list[pa.Table] = []
    for path in paths:
        with files.open_read(path) as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=BATCH_ROWS, columns=list(columns)):
                parts.append(pa.Table.from_batches([batch]))
    return pa.concat_tables(parts).combine_chunks() if parts else pa.table({})


def representatives(run_dir: str, run_config: dict[str, Any], keys: pa.Array) -> np.ndarray | None:
    """Per row: is it the kept row of a near-duplicate cluster of 2+ rows (None: dedup did not run)."""
    if not (run_config.get("dedup") or {}).get("enabled"):
        return None
    paths = files.match(files.join(run_dir, "duplicates", "*.parquet"))
    kept: list[pa.Array] = []
    for path in paths:
        with files.open_read(path) as f:
            table = pq.ParquetFile(f).read(columns=["key", "cluster_size", "keep"])
        mask = pc.and_(pc.greater_equal(table.column("cluster_size"), 2), pc.fill_null(table.column("keep"), False))
        kept.append(table.column("key").filter(mask).combine_chunks())
    if not paths:
        return None
    value_set = pa.concat_arrays(kept) if kept else pa.array([], pa.int64())
    return np.asarray(pc.is_in(keys, value_set=value_set).to_numpy(zero_copy_only=False), dtype=bool)


def read_sampled_rows(paths: Sequence[str], keys: pa.Array) -> dict[int, dict[str, Any]]:
    """Whole records/ rows of the sampled keys, by key. Row groups whose key range (Parquet statistics)
    holds no sampled key are not read, so the text of the unsampled rows mostly stays on disk."""
    wanted = np.sort(np.asarray(keys.to_numpy(zero_copy_only=False), dtype=np.int64))
    out: dict[int, dict[str, Any]] = {}
    for path in paths:
        with files.open_read(path) as f:
            pf = pq.ParquetFile(f)
            key_index = pf.schema_arrow.get_field_index("key")
            for i in range(pf.metadata.num_row_groups):
                stats = pf.metadata.row_group(i).column(key_index).statistics
                if stats is not None and stats.has_min_max:
                    lo, hi = np.searchsorted(wanted, [stats.min, stats.max + 1])
                    if lo == hi:
                        continue
                table = pf.read_row_group(i)
                for row in table.filter(pc.is_in(table.column("key"), value_set=keys)).to_pylist():
                    out[int(row["key"])] = row
    return out


def export_sample(
    run_dir: str, size: int, output: str, seed: int = 0, overwrite: bool = False, config_path: str | None = None
) -> Export:
    """Everything `winnow review export` does but printing; nothing is written until every file is built."""
    run_dir, output = run_dir.rstrip("/") or "/", output.rstrip("/") or "/"
    if size < 1:
        raise ReviewError(f"--size must be 1 or more rows; got {size}")
    if seed < 0:
        raise ReviewError(f"--seed must be 0 or more; got {seed}")
    record = read_run_record(run_dir)
    config_data = record.get("config")
    run_config: dict[str, Any] = config_data if isinstance(config_data, dict) else {}
    config_hash, finished = str(record.get("config_hash") or ""), str(record.get("finished") or "")
    if not config_hash or not finished:
        raise ReviewError(f"{files.join(run_dir, 'run.json')}: no config_hash or finished time; not a finished winnow run")
    sizes = SampleSizes.from_config(review_settings(run_config, config_path))
    rules = run_rules(run_config, run_dir)
    paths = record_files(run_dir)
    schema = records_schema(paths[0])
    missing = [c for c in ("key", "id", "shard", *TEXT_COLUMNS) if c not in schema.names]
    if missing:
        raise ReviewError(
            f"{run_dir}/records/ has no {', '.join(missing)} column: people cannot review rows without their text; "
            "score the corpus again with output.include_text on (the default)"
        )
    _check_output(output, overwrite)

    classifiers = [c for c in sorted(run_config.get("classifiers") or {}) if c in schema.names]
    language = LANGUAGE_COLUMN if LANGUAGE_COLUMN in schema.names else None
    composite = "composite" if "composite" in schema.names else None
    wanted = [c for c in ("key", "shard", "flags", language, composite, *classifiers) if c and c in schema.names]
    table = read_columns(paths, wanted)
    if table.num_rows == 0:
        raise ReviewError(f"{run_dir}: the run has no scored rows (records/ is empty): there is nothing to sample")
    keys = table.column("key").combine_chunks()
    population = Population.from_table(
        table,
        language=language,
        composite=composite,
        scores=classifiers,
        representative=representatives(run_dir, run_config, keys),
    )
    sample = draw(population, size, sizes, seed)
    rows = sampled_rows(paths, keys, sample)

    version = versions().get("winnow", "unknown")
    design = dataclasses.asdict(sizes)
    eid = fmt.export_id(config_hash, finished, seed, size, design)
    score_column = composite or ("quality" if "quality" in schema.names else None)
    info = fmt.ExportInfo(eid, fmt.model_version(version, config_hash), score_column)
    numeric = [c for c in numeric_columns(schema) if c not in fmt.BASE_COLUMNS]
    scores = score_columns(schema)  # the float scores and lengths: what a task shows beside the text
    table_out = fmt.sample_table(rows, numeric, schema)
    catalog = {r.name: r for r in rules}
    guidelines = guidelines_markdown(
        rules,
        rows,
        {"export_id": eid, "run_dir": run_dir, "config_hash": config_hash, "size": sample.size, "rows": population.rows},
    )
    export: dict[str, Any] = {
        "export_id": eid,
        "winnow_version": version,
        "run_dir": run_dir,
        "config_hash": config_hash,
        "finished": finished,
        "seed": seed,
        "size": size,
        "sampled_rows": sample.size,
        "scored_rows": population.rows,
        "model_version": info.model_version,
        "score_column": score_column,
        "design": "stratified; in each stratum a systematic sample with a random start along (shard, language, "
        "classifier deciles, scores): inclusion probability = sample / population of the row's stratum",
        "review": design,
        "strata": strata_report(sample),
        "unsampled_strata": [s.name for s in sample.strata if s.sample == 0],
        "unknown_strata": sorted(set(sizes.strata) - {s.name for s in sample.strata}),
    }
    outputs: dict[str, bytes] = {
        "sample.parquet": fmt.parquet_bytes(table_out),
        "sample.csv": fmt.csv_bytes(table_out),
        "labelstudio/config.xml": fmt.labelstudio_config().encode("utf-8"),
        "labelstudio/tasks.json": fmt.json_bytes(fmt.labelstudio_tasks(rows, scores, catalog, info)),
        **{f"argilla/{name}": data for name, data in fmt.argilla_files(rows, catalog, info, guidelines).items()},
        "guidelines.md": guidelines.encode("utf-8"),
    }
    written = sorted([*outputs, EXPORT])
    export["files"] = written
    write_export(output, outputs, fmt.json_bytes(export))
    return Export(output, export, tuple(written))


def sampled_rows(paths: Sequence[str], keys: pa.Array, sample: Sample) -> list[dict[str, Any]]:
    """The sampled records/ rows in sample order, each with its stratum and inclusion probability."""
    wanted = keys.take(pa.array(sample.rows))
    by_key = read_sampled_rows(paths, wanted)
    names = sample.stratum_names()
    probabilities = sample.inclusion_probability()
    rows = []
    for key, stratum, p in zip(wanted.to_pylist(), names, probabilities.tolist()):
        row = dict(by_key[int(key)])
        row["stratum"], row["inclusion_probability"] = stratum, p
        rows.append(row)
    return rows


def write_export(output: str, outputs: dict[str, bytes], export: bytes) -> None:
    """Every file atomically, export.json last (an earlier one removed first: the folder is not a complete
    export until the new one is written)."""
    try:
        marker = files.join(output, EXPORT)
        if files.exists(marker):
            files.delete(marker)
        for name, data in outputs.items():
            files.write_atomically(files.join(output, *name.split("/")), data)
        files.write_atomically(marker, export)
    except Exception as e:
        raise UnwritableError(output, str(e) or type(e).__name__) from e


def print_summary(result: Export, out: TextIO) -> None:
    r = result.record
    lines = [
        f"export {r['export_id']} of {r['run_dir']} (config {r['config_hash']}, finished {r['finished']}): "
        f"{r['sampled_rows']:,} of {r['scored_rows']:,} scored rows, seed {r['seed']}",
    ]
    width = max([len("stratum"), *(len(name) for name in r["strata"])])
    lines.append(f"  {'stratum':<{width}}  {'population':>10}  {'sample':>6}  {'probability':>11}")
    for name, s in r["strata"].items():
        lines.append(f"  {name:<{width}}  {s['population']:>10,}  {s['sample']:>6,}  {s['inclusion_probability']:>11.4g}")
    for line in lines:
        print(escape_control(line), file=out)
    if r["unsampled_strata"]:
        print(
            escape_control(
                f"winnow: warning: --size {r['size']} is below the number of strata; no row of "
                f"{', '.join(r['unsampled_strata'])} was drawn, so estimates cannot cover their rows"
            ),
            file=sys.stderr,
        )
    if r["unknown_strata"]:
        print(
            escape_control(
                f"winnow: warning: review.strata names strata this run does not have: {', '.join(r['unknown_strata'])}"
            ),
            file=sys.stderr,
        )
    print(escape_control(f"wrote {result.output}: {', '.join(result.files)}"), file=out)


def run_export(args: argparse.Namespace, out: TextIO | None = None) -> dict[str, Any]:
    result = export_sample(args.run_dir, args.size, args.output, args.seed, args.overwrite, args.config)
    print_summary(result, out or sys.stdout)
    return result.record
