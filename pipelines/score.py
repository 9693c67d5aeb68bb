"""`winnow score`: plan the run, execute the Beam pipeline, check and record it.

The pipeline itself lives in winnow.transforms.beam.scoring.ScoreCorpus; this module
handles what happens around it: config and inputs are checked before any
data is read, the plan is shown, and after the run every input row is
accounted for before run.json (the mark of a complete run) is written.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from winnow.pipelines.report import write_report
from winnow.transforms import sources
from winnow.transforms.beam.scoring import ScoreCorpus
from winnow.transforms.config import Config, config_hash
from winnow.transforms.configfiles import ConfigError
from winnow.transforms.dedup.params import DedupParams, reference_files
from winnow.transforms.io import files
from winnow.transforms.io.formats import FieldMap, RowError, detect
from winnow.transforms.io.inputs import Shard, Skipped, describe_skipped, is_compressed, match_inputs
from winnow.transforms.io.readers import peek_rows
from winnow.transforms.keep_policy import check_keep_policy, describe_policy
from winnow.transforms.report.data import read_shards
from winnow.transforms.report.sources import source_lines
from winnow.transforms.run_layout import RUN_ERROR, RUN_RECORD, WORK_DIR, top_level_entries, written
from winnow.transforms.signals import endings, registry
from winnow.transforms.signals.classifiers import ClassifierSpec, model_card, specs_from_config, validation_weight
from winnow.transforms.signals.fasttext_models import load_fasttext
from winnow.transforms.signals.rules import Rule, load_rules
from winnow.transforms.signals.scorer import check_rules_against_signals, scored_schema
from winnow.transforms.state.hooks import NightHooks
from winnow.transforms.summary.ids import report_lines
from winnow.transforms.summary.run_record import RunError
from winnow.transforms.terminal import escape_control

# Below this many input bytes a local run stays in one process (README, Quick start, has the timing).
SMALL_INPUT_BYTES = 4 << 20


@dataclass
class Plan:
    inputs: list[str]
    output: str
    config: Config
    rules: list[Rule]
    shards: list[Shard]
    skipped: list[Skipped]
    formats: dict[str, str] = field(default_factory=dict)
    runner: str = "DirectRunner"
    # Shards (by index) the job takes stored scores for instead of scoring (a night's: state.replay).
    stored: frozenset[int] = frozenset()


def check_classifiers(config: Config) -> None:
    """Every configured model loads and has its positive label (before any data is read)."""
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
        except Exception as e:
            raise ConfigError(f"config key classifiers.{spec.name}.model: cannot load {spec.model!r}: {e}") from e
        prefix = len(model.f.getArgs().label)
        labels = [lab[prefix:] for lab in model.f.getLabels("replace")[0]]
        if spec.positive not in labels:
            raise ConfigError(
                f"config key classifiers.{spec.name}.positive: {spec.positive!r} is not a label of {spec.model} "
                f"(labels: {', '.join(labels[:20])})"
            )
    if (path := endings.options(config).model) is not None:
        endings.load_model(path)  # a ConfigError that names the file


def endings_validation(path: str) -> str:
    """The endings model's line of the plan: its cross-fitted validation."""
    cv = endings.load_model(path).card.get("cv", {})
    return (
        f"endings model ({path}): cross-fitted ROC-AUC answers vs cuts {cv.get('roc_auc', float('nan')):.3f}; "
        f"P(cut) > 0.8 for {cv.get('answers_over_0.8', float('nan')):.1%} of its training answers"
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


def make_plan(inputs: list[str], output: str, config: Config, runner: str, detect_formats: bool = True) -> Plan:
    """Everything decided before the pipeline runs; fails fast on bad config, inputs or output."""
    rule_list = load_rules(config.rules, config.disable_rules, config.rule_severity)
    check_rules_against_signals(rule_list, config)
    sources.check_rule_names(config, [r.name for r in rule_list])
    if config.dedup.enabled:
        reference_files(DedupParams.from_config(config))  # fails now if a reference is missing or incompatible
    check_classifiers(config)
    check_keep_policy(config)
    shards, skipped = match_inputs(inputs, output)  # never this run's own output, nor another run's
    files.check_writable(output)  # before format detection reads the first rows: UnwritableError
    plan = Plan(inputs, output, config, rule_list, shards, skipped, runner=runner)
    if detect_formats:
        fm = FieldMap.from_config(config)
        plan.formats = {s.path: detect_file_format(s.path, fm) for s in shards}
    return plan


def print_plan(plan: Plan, beam_args: Sequence[str] = (), out: TextIO | None = None) -> None:
    out = out or sys.stderr
    runner = plan.runner
    local = [a for a in local_parallelism(plan, list(beam_args)) if a.startswith("--direct_")]
    if local:
        runner += " (" + ", ".join(a[2:] for a in local) + ")"
    elif runs_in_process(plan, list(beam_args)):
        runner += f" (in this process: inputs under {SMALL_INPUT_BYTES >> 20} MiB)"
    # File names, formats, config paths and the output come from the user or the data: escaped (transforms.terminal).
    print(escape_control(f"winnow plan: {len(plan.shards)} input file(s), runner {runner}"), file=out)
    for s in plan.shards[:50]:
        fmt = plan.formats.get(s.path, "")
        print(escape_control(f"  [{s.index}] {s.name}  {s.size:,} bytes  {fmt}"), file=out)
    if len(plan.shards) > 50:
        print(f"  ... and {len(plan.shards) - 50} more", file=out)
    for line in describe_skipped(plan.skipped):
        print(escape_control(f"  {line}"), file=out)
    print(f"  signals: {', '.join(signals_on(plan.config))}", file=out)
    print(escape_control(f"  rules: {len(plan.rules)} from {', '.join(plan.config.rules)}"), file=out)
    for line in sources.describe(plan.config, plan.shards):
        print(escape_control(f"  {line}"), file=out)
    for spec in specs_from_config(plan.config):
        print(escape_control(f"  {classifier_validation(spec)}"), file=out)
    if (path := endings.options(plan.config).model) is not None:
        print(escape_control(f"  {endings_validation(path)}"), file=out)
    print(escape_control(f"  {describe_policy(plan.config)}"), file=out)
    print(escape_control(f"  output: {plan.output}"), file=out)


def classifier_validation(spec: ClassifierSpec) -> str:
    """A classifier's line of the plan: its model card's validation metric and the composite weight factor it gives."""
    card = model_card(spec.model)
    head = f"classifier {spec.name} ({spec.model}): "
    if card is None:
        return head + "no model card: unvalidated, half weight in the composite"
    v = card.get("validation")
    factor = validation_weight(card)
    if not isinstance(v, dict) or not isinstance(v.get("value"), (int, float)):
        return head + f"model card without a validation figure: unvalidated, composite weight x{factor:.2f}"
    ci = v.get("ci95")
    interval = f" (95% CI {ci[0]:.3f}-{ci[1]:.3f})" if isinstance(ci, list) and len(ci) == 2 else ""
    folds = f", {v['cv_folds']}-fold cross-validated" if v.get("cv_folds") else ""
    rows = f" on {v['rows']:,} {v.get('unit', 'rows')}" if isinstance(v.get("rows"), int) else ""
    return head + f"{v.get('metric')} {v['value']:.3f}{interval}{rows}{folds}; composite weight x{factor:.2f}"


def signals_on(config: Config) -> list[str]:
    """What the run computes, by the registry (and near-duplicates), for the plan."""
    on = [s.label for s in registry.enabled(config)]
    if config.dedup.enabled:
        on.append(f"near-duplicates ({config.dedup.text}, threshold {config.dedup.threshold:g})")
    return on


def prepare_output(output: str, overwrite: bool) -> None:
    """Refuse to mix a new run into an old one unless asked to replace it."""
    existing = [p for p in top_level_entries() if files.exists(files.join(output, p))]
    if not existing:
        return
    if not overwrite:
        raise RunError(
            f"output {output} already holds an earlier run ({', '.join(existing)}); "
            f"choose a new --output or pass --overwrite to replace it"
        )
    for part in existing:
        path = files.join(output, part)
        if part in (RUN_RECORD, RUN_ERROR):
            files.delete(path)
        else:
            files.delete_tree(path)


def remove_temp_files(output: str) -> None:
    """After a failed run: what its unfinished writes left goes (Beam's beam-temp-* folders, *.tmp
    files, the near-duplicate spill files in _work/); finished files and the user's own files stay."""
    try:
        for entry in top_level_entries():
            path = files.join(output, entry)
            if entry == WORK_DIR:
                if files.exists(path):
                    files.delete_tree(path)
            else:
                files.delete_temp_files(path)
    except Exception as e:  # the cause of the failure matters more than the clean-up's
        print(escape_control(f"winnow: warning: could not remove the temp files under {output}: {e}"), file=sys.stderr)


def has_flag(args: list[str], name: str) -> bool:
    return any(a == name or a.startswith(name + "=") for a in args)


def estimated_parts(plan: Plan) -> int:
    """How many parts the inputs are read in (uncompressed files are cut every input.split_bytes)."""
    step = plan.config.input.split_bytes
    return sum(1 if step <= 0 or is_compressed(s.path) else max(1, -(-s.size // step)) for s in plan.shards)


def is_small(plan: Plan) -> bool:
    """Inputs small enough that starting worker processes costs more than it saves. Shards taken from stored
    scores are not counted: they are not scored (a night re-deciding 12 such shards and scoring one ran
    25.2 and 25.9 s in one process, 28.6 and 26.4 s with two workers)."""
    return sum(s.size for s in plan.shards if s.index not in plan.stored) < SMALL_INPUT_BYTES


def runs_in_process(plan: Plan, beam_args: list[str]) -> bool:
    """A local run of small inputs with no worker flags: the whole job in this process."""
    return (
        plan.runner in ("DirectRunner", "direct")
        and is_small(plan)
        and not has_flag(beam_args, "--direct_num_workers")
        and not has_flag(beam_args, "--direct_running_mode")
    )


def local_parallelism(plan: Plan, beam_args: list[str]) -> list[str]:
    """On DirectRunner, use every core: one worker process per core (up to one per input part).

    Measured on the bench corpus (2 cores): multi_processing scored 1.57x
    faster than one worker, multi_threading 1.19x. Small inputs (under
    SMALL_INPUT_BYTES) run in this process: starting workers takes longer
    than scoring them. Flags given by the user win.
    """
    if plan.runner not in ("DirectRunner", "direct") or has_flag(beam_args, "--direct_num_workers") or is_small(plan):
        return beam_args
    workers = max(1, min(os.cpu_count() or 1, estimated_parts(plan)))
    if workers == 1:
        return beam_args
    extra = [f"--direct_num_workers={workers}"]
    if not has_flag(beam_args, "--direct_running_mode"):
        extra.append("--direct_running_mode=multi_processing")
    return beam_args + extra


def local_runner(options: PipelineOptions) -> Any:
    """DirectRunner's batch engine (FnApiRunner) itself for local runs, else None (Beam picks by name).

    Beam's DirectRunner first tries to start the Prism runner, which downloads
    a Go binary from GitHub (impossible offline, a network dependency
    otherwise) and translates the whole pipeline once more before it falls
    back to the FnApiRunner. It honours --direct_num_workers and
    --direct_running_mode the same way.
    """
    if options.view_as(StandardOptions).runner not in ("DirectRunner", "direct") or options.view_as(StandardOptions).streaming:
        return None
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return FnApiRunner()


def run(
    plan: Plan, beam_args: list[str], started: dt.datetime | None = None, nightly: NightHooks | None = None
) -> dict[str, Any] | None:
    """Execute the plan; returns the run record the job wrote to run.json.

    The job itself accounts for every row and writes run.json as its last
    step, so a run nobody waits for ends complete too. With
    --template_location (a Dataflow Flex Template launch) this process only
    writes the job graph; the job runs later and None is returned.
    """
    started = started or dt.datetime.now(dt.timezone.utc)
    options = PipelineOptions(local_parallelism(plan, beam_args))
    if options.view_as(StandardOptions).runner is None:
        options.view_as(StandardOptions).runner = plan.runner
    base = run_base(plan, options.view_as(StandardOptions).runner, started)
    schema = scored_schema(plan.config)
    try:
        with beam.Pipeline(runner=local_runner(options), options=options) as p:
            _ = p | "Score" >> ScoreCorpus(
                plan.shards,
                plan.config,
                plan.rules,
                plan.output,
                schema,
                base,
                one_worker=runs_in_process(plan, beam_args),
                nightly=nightly,
            )
    except Exception as e:
        remove_temp_files(plan.output)
        if files.exists(files.join(plan.output, RUN_ERROR)):  # the job's own accounting failed: say what it found
            problems = json.loads(files.read_bytes(files.join(plan.output, RUN_ERROR)))["problems"]
            raise RunError("rows are unaccounted for: " + "; ".join(problems)) from e
        raise
    if has_flag(beam_args, "--template_location"):
        print(
            "winnow: job graph written for a template launch; the job writes run.json when it has accounted for every row",
            file=sys.stderr,
        )
        return None
    record = json.loads(files.read_bytes(files.join(plan.output, RUN_RECORD)))
    record["dataset"] = json.loads(files.read_bytes(files.join(plan.output, "summary", "dataset.json")))
    record["shards"] = read_shards(plan.output)  # the per-source lines of the end-of-run table
    return record


def write_run_report(output: str, config: Config) -> str | None:
    """report.html at the end of a run (unless output.report is off); a failure warns, the run stays complete."""
    if not config.output.report:
        return None
    try:
        path, _ = write_report(output)
    except Exception as e:  # the run is complete and accounted for; the report can be made again
        print(
            escape_control(f"winnow: warning: report.html not written ({type(e).__name__}: {e}); run `winnow report {output}`"),
            file=sys.stderr,
        )
        return None
    return path


def run_base(plan: Plan, runner: str, started: dt.datetime) -> dict[str, Any]:
    """What run.json holds from the submitting side: when, how, with what config, on which inputs."""
    return {
        "started": started.isoformat(timespec="seconds"),
        "runner": runner,
        "config_hash": config_hash(plan.config),
        "config": plan.config.as_dict(),
        "inputs": [
            {"shard": s.name, "path": s.path, "index": s.index, "bytes": s.size, "format": plan.formats.get(s.path, "")}
            for s in plan.shards
        ],
        "skipped_inputs": [s.as_json() for s in plan.skipped],
    }


def _num(value: float | None, spec: str) -> str:
    """A number as the report shows it; "n/a" where the summary has none (no row scored, no sample)."""
    return "n/a" if value is None else format(value, spec)


def kept_line(ds: dict[str, Any], config: Config) -> str:
    """kept N of M scored rows; dropped D: reason n, ... (near_duplicate_of:<id> counted as near_duplicate)."""
    line = f"kept {ds['rows_kept']:,} of {ds['rows_scored']:,} scored rows"
    if ds["rows_dropped"]:
        reasons = list(ds["drop_reasons"].items())
        shown = ", ".join(f"{reason} {n:,}" for reason, n in reasons[:8])
        line += f"; dropped {ds['rows_dropped']:,}: {shown}" + (f", ... ({len(reasons) - 8} more)" if len(reasons) > 8 else "")
    if not config.output.kept:
        line += " (kept/ not written: output.kept is off)"
    return line


def print_report(record: dict[str, Any], output: str, config: Config, out: TextIO | None = None) -> None:
    """The short table a user sees after a run; it prints for a run whose rows were all rejected too."""
    out = out or sys.stdout
    ds = record["dataset"]
    scored = ds["rows_scored"] > 0  # rates and means of no scored row are n/a, not 0
    print(f"rows read {ds['rows_read']:,}   scored {ds['rows_scored']:,}   rejected {ds['rows_rejected']:,}", file=out)
    print(escape_control(kept_line(ds, config)), file=out)
    print(
        f"flagged (warn or drop) {ds['rows_flagged']:,} = {_num(ds.get('error_rate') if scored else None, '.1%')} of scored rows; "
        f"drop {_num(ds.get('drop_rate') if scored else None, '.1%')}",
        file=out,
    )
    fired = [r for r in ds["rules"] if r["rows"]]
    if fired:
        print("top rules:", file=out)
        for r in fired[:10]:
            print(escape_control(f"  {r['rows']:>9,}  {_num(r['rate'], '6.1%')}  {r['name']} [{r['severity']}]"), file=out)
    if ds["reject_reasons"]:
        print("rejected by reason:", file=out)
        for reason, n in list(ds["reject_reasons"].items())[:10]:
            print(escape_control(f"  {n:>9,}  {reason}"), file=out)
    for line in report_lines(ds.get("ids")):  # ids repeated across the run, ids replaced by <shard>:<row>
        print(escape_control(line), file=out)
    if "dedup" in ds:
        dv, dd = ds["diversity"], ds["dedup"]
        print(
            f"near-duplicates: {dd['clusters']:,} clusters holding {dv['duplicate_rows']:,} rows; "
            f"{dv['duplicates_removed']:,} to drop = {_num(dv.get('duplicate_rate'), '.1%')} ({dv['exact_duplicates_removed']:,} exact copies)",
            file=out,
        )
        ngrams = dv.get("distinct_ngrams")  # an estimate, so "~"
        print(
            f"diversity: {'n/a' if ngrams is None else f'~{ngrams:,}'} distinct word {dd['ngram']}-grams, instruction-type entropy "
            f"{_num(dv.get('instruction_type_entropy'), '.2f')} bits, Self-BLEU {_num(dv.get('self_bleu'), '.1f')} "
            f"(sample of {dv['self_bleu_sample']})",
            file=out,
        )
    if ds["means"].get("quality") is not None:
        print(f"mean quality {ds['means']['quality']:.3f} (rows not dropped by a rule)", file=out)
    if ds.get("d_quality", {}).get("d_quality") is not None:
        dq = ds["d_quality"]
        terms = ", ".join(f"{k} {_num(v, '.2f')}" for k, v in dq["terms"].items())
        print(f"D_quality {dq['d_quality']:.3f} ({terms})", file=out)
    if ds.get("coverage"):
        cv = ds["coverage"]
        missing = ", ".join(cv["missing"][:8]) or "none"
        print(
            escape_control(
                f"coverage of taxonomy {cv['taxonomy']}: {_num(cv.get('coverage'), '.0%')} of target topics; missing: {missing}"
            ),
            file=out,
        )
    if ds.get("languages"):
        langs = ", ".join(f"{k} {v:,}" for k, v in list(ds["languages"].items())[:8])
        print(escape_control(f"languages: {langs}"), file=out)
    for line in source_lines(record.get("shards") or []):  # rules, drops, duplicates, mean score per source
        print(escape_control(line), file=out)
    parts = ", ".join(dict.fromkeys(o.top for o in written(config) if o.top != RUN_RECORD))
    print(escape_control(f"outputs: {output}/{{{parts}}}; {RUN_RECORD}"), file=out)
