"""The `winnow` command line: score a corpus, or inspect how rows normalize."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import textwrap
import traceback
from typing import Any

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability import flink_runner  # noqa: F401 - registers FlinkRunnerOptions

from winnow.pipelines import nightly, score
from winnow.pipelines.evaluate import run_evaluation
from winnow.pipelines.inspect import inspect_file
from winnow.pipelines.report import run_report
from winnow.pipelines.review import run_import
from winnow.pipelines.review_calibrate import run_calibrate
from winnow.pipelines.review_export import run_export
from winnow.pipelines.storage_emulator import use_emulator_credentials
from winnow.pipelines.train import DEFAULT_SYNTHETIC, SYNTHETIC_KINDS, train_quality
from winnow.pipelines.train_endings import run_train_endings
from winnow.transforms import run_layout
from winnow.transforms.config import Config, from_data, load_config
from winnow.transforms.configfiles import ConfigError
from winnow.transforms.io.files import UnwritableError
from winnow.transforms.io.inputs import InputError
from winnow.transforms.report.data import ReportInputError
from winnow.transforms.signals import registry
from winnow.transforms.summary.run_record import RunError
from winnow.transforms.terminal import escape_control

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SCORE_EPILOG = textwrap.dedent(
    """\
    examples:
      winnow score samples/ --output out/
      winnow score 'data/**/*.jsonl.gz' --output out/ --config my.yaml
      winnow score gs://bucket/corpus/ --output gs://bucket/runs/2026-11-25 \\
          --runner DataflowRunner --project my-project --region us-central1 \\
          --temp_location gs://bucket/tmp --setup_file ./setup.py

    inputs: files, directories and globs (local or gs://). JSONL (.jsonl, .json,
    optionally .gz/.zst/.bz2), JSON arrays and Parquet; each file is one shard.
    Formats are detected per row: alpaca, sharegpt, openai, dolly, completion,
    selfinstruct, text. configs/default.yaml lists every config key.

    Any other --flag is passed to Apache Beam (--runner, --project, ...).

    exit status: 0 when the run is complete (run.json written), also when every
    row was rejected (a warning says so); 1 when the run failed (its cause on one
    line, the traceback with --log_level DEBUG) or did not account for every row,
    or --output holds an earlier run; 2 for a bad config, inputs that match
    nothing, or an --output that cannot be written (all found before any data is read).
    """
)


def score_epilog() -> str:
    """The examples, then the signals (from the registry) and the outputs (from the run layout)."""
    signals = "\n".join(textwrap.fill(line, 88, initial_indent="  ", subsequent_indent="      ") for line in registry.describe())
    outputs = "\n".join(
        textwrap.fill(line, 88, initial_indent="  ", subsequent_indent="      ") for line in run_layout.describe()
    )
    return (
        f"{SCORE_EPILOG}\nsignals [cost; config switch]:\n{signals}\n  rules: the rule packs in `rules:`, each flag explained\n"
        f"  near-duplicates [moderate; dedup.enabled]: MinHash LSH clusters, verified, one row kept per cluster\n"
        f"\noutputs in --output:\n{outputs}\n"
    )


def _beam_option_parser() -> argparse.ArgumentParser:
    """A parser that knows every Beam option, runner-specific ones included."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    seen: dict[str, Any] = {}
    stack = list(PipelineOptions.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        seen.setdefault(f"{cls.__module__}.{cls.__qualname__}", cls)
    for cls in seen.values():
        try:
            cls._add_argparse_args(parser)
        except argparse.ArgumentError:
            pass  # an option defined by two classes
    return parser


def unknown_beam_flags(beam_args: list[str]) -> list[str]:
    _, unknown = _beam_option_parser().parse_known_args(beam_args)
    return [a for a in unknown if a.startswith("-")]


def _score_parser(sub: Any) -> None:
    p = sub.add_parser(
        "score",
        help="score a corpus: per-row signals and flags, dead letters, per-shard statistics",
        description="Score instruction-tuning data with rules, text statistics and language ID.",
        epilog=score_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, directories or globs, local or gs://")
    p.add_argument("--output", "-o", required=True, metavar="DIR", help="run directory, local or gs://")
    p.add_argument("--config", "-c", metavar="FILE", help="YAML config merged over configs/default.yaml")
    p.add_argument(
        "--format",
        choices=["alpaca", "sharegpt", "openai", "dolly", "completion", "selfinstruct", "text"],
        help="force one input format instead of detecting it per row",
    )
    p.add_argument("--dry-run", action="store_true", help="show the plan (inputs, formats, signals) and stop")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run in --output")
    p.add_argument(
        "--kept",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write kept/, the rows the keep policy keeps in their input format (default: config output.kept, on); "
        "records/ get keep and drop_reasons either way",
    )
    p.add_argument(
        "--quality-model", metavar="MODEL", help="fastText quality model (from train-quality) for the `quality` column"
    )
    p.add_argument(
        "--endings-model",
        metavar="MODEL",
        help="a model of the corpus's answer endings (from train-endings): `response_cut_score`, and the composite's "
        "completeness gate reads it (config signals.endings)",
    )
    p.add_argument(
        "--state",
        metavar="STATE_DIR",
        help="nightly mode (local or gs://): reuse the shards unchanged since the last complete night kept in "
        "STATE_DIR, re-score the rest, find near-duplicates across nights, write summary/drift.json, then commit "
        "the night to STATE_DIR; `{date}` in --output becomes today's UTC date",
    )
    p.add_argument(
        "--fail-on-drift",
        action="store_true",
        help="with --state: exit 3 (after a complete, committed night) when summary/drift.json reports a statistic "
        "moved past the config's drift: thresholds",
    )
    p.add_argument(
        "--log_level",
        choices=LOG_LEVELS,
        help="show log messages from this level on, Apache Beam's worker messages included (default: winnow's warnings only)",
    )


def _inspect_parser(sub: Any) -> None:
    p = sub.add_parser(
        "inspect",
        help="show how the first rows of a file normalize and which rules fire",
        description="Debug a new dataset's mapping: canonical fields, signals and flags of the first rows.",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="a file; or the inputs of a `winnow score` run, with --shard to pick a file (same names and ids as score)",
    )
    p.add_argument("--shard", metavar="NAME", help="the file to show, by its shard name (default: the first file)")
    p.add_argument("-n", type=int, default=5, help="rows to show (default 5)")
    p.add_argument("--config", "-c", metavar="FILE", help="YAML config merged over configs/default.yaml")
    p.add_argument("--format", help="force one input format")


def _train_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train-quality",
        help="train a fastText quality classifier from labelled rows",
        description="Train a fastText quality model; prints held-out precision, recall and ROC-AUC and writes "
        "MODEL plus MODEL.card.json. Use it with `winnow score --quality-model MODEL`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent(
            """\
            examples:
              winnow train-quality --positive lima.json --negative c4.jsonl --output quality.bin
              winnow train-quality --labeled kto.json --label-field label --text response --output pref.bin
              winnow train-quality --pairs dpo.jsonl --output pref.bin
            """
        ),
    )
    p.add_argument("--positive", nargs="+", metavar="PATH", help="inputs whose rows are good")
    p.add_argument("--negative", nargs="+", metavar="PATH", help="inputs whose rows are bad")
    p.add_argument("--labeled", nargs="+", metavar="PATH", help="inputs whose rows carry a label field")
    p.add_argument(
        "--pairs",
        nargs="+",
        metavar="PATH",
        help="chosen/rejected pairs: DPO-style rows (prompt + `chosen` + `rejected`), or KTO-style rows whose good "
        "and bad answers share a prompt; validated by cross-validated pairwise accuracy (folds by prompt)",
    )
    p.add_argument(
        "--label-field", metavar="NAME", help="with --labeled: the field holding the label (--pairs: default label or kto_tag)"
    )
    p.add_argument("--positive-value", default="true", help="with --labeled: the label value meaning good (default true)")
    p.add_argument(
        "--labeled-weight",
        type=int,
        default=1,
        metavar="N",
        help="with --labeled: repeat its rows N times in training, so a small labelled set is not drowned "
        "by --positive/--negative corpora (default 1; evaluation counts each row once)",
    )
    p.add_argument("--output", "-o", required=True, metavar="MODEL", help="where the model (.bin) goes")
    p.add_argument(
        "--text",
        default="conversation",
        choices=["conversation", "instruction", "response", "prompt_answer"],
        help="which text the model reads (default conversation)",
    )
    p.add_argument("--max-chars", type=int, default=4000)
    p.add_argument(
        "--corrupted-negatives",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="add this many corrupted copies of good rows (per good row) as negatives (= --synthetic-negatives corrupt=F)",
    )
    p.add_argument(
        "--synthetic-negatives",
        default=None,
        metavar="KINDS",
        help="negatives generated from the good rows, comma-separated, each optionally =FRACTION (copies per good "
        f"row): soup (token soup answers, {SYNTHETIC_KINDS['soup']:g}), inject (grader instructions injected into the "
        f"answer, {SYNTHETIC_KINDS['inject']:g}), swap (another prompt's answer, {SYNTHETIC_KINDS['swap']:g}; needs a "
        f"text with prompt and answer), corrupt (shuffled/truncated/looped copies, {SYNTHETIC_KINDS['corrupt']:g}); "
        f"none for none (default {DEFAULT_SYNTHETIC}; named here, they may stand in for missing real negatives)",
    )
    p.add_argument(
        "--cv",
        default="auto",
        metavar="K",
        help="K-fold cross-validation by content hash, then one model on all rows; 0 = one held-out split; "
        "auto (default) = 5 folds below 10,000 examples, else one split",
    )
    p.add_argument("--holdout", type=float, default=0.2, help="held-out fraction without cross-validation (default 0.2)")
    p.add_argument("--epoch", type=int, default=25)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--word-ngrams", type=int, default=2)
    p.add_argument("--dim", type=int, default=16, help="embedding size (default 16; a two-label model gains nothing from more)")
    p.add_argument(
        "--bucket",
        default="auto",
        help="hashed word n-gram buckets (model size ~ (words + bucket) x dim x 4 bytes); auto (default): the power "
        "of two at or above a quarter of the word n-grams seen twice or more in the training text",
    )
    p.add_argument(
        "--quantize",
        action="store_true",
        help="product-quantize the model (and the cross-validation models, so the metrics are the shipped model's): "
        "~4x smaller, 2-7x slower to train",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--autotune",
        type=int,
        default=0,
        metavar="SECONDS",
        help="let fastText tune hyper-parameters on the held-out split for this long instead (with --cv the folds reuse them)",
    )


def _train_endings_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train-endings",
        help="fit a model of how the corpus's own answers end, to find answers that were cut (no labels needed)",
        description="Fit a model of the corpus's answer endings: its answers' own endings against cuts of them "
        "after a random word, cross-fitted on two halves so no answer is judged by a model that saw it. Prints the "
        "cross-fitted ROC-AUC and writes MODEL. Use it with `winnow score --endings-model MODEL`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent(
            """\
            example:
              winnow train-endings 'data/*.jsonl' --output endings.npz
              winnow score 'data/*.jsonl' --output out/ --endings-model endings.npz
            """
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="input files, directories or globs (as for score)")
    p.add_argument("--output", "-o", required=True, metavar="MODEL", help="model file to write (local or gs://)")
    p.add_argument("--config", "-c", metavar="FILE", help="YAML config whose `input:` section says how to read the rows")
    p.add_argument(
        "--max-answers",
        type=int,
        default=200_000,
        metavar="N",
        help="train on at most N answers, chosen by a hash of the answer (default 200,000)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the cuts (default 0)")


def _evaluate_parser(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate",
        help="measure how each score column of a run agrees with your labels (ROC-AUC, Spearman, pairwise accuracy)",
        description="Join a label file to a run's records/ by id and report, per score column, ROC-AUC (binary\n"
        "labels), Spearman (grades, or per-group mean vs the group's grade) or pairwise accuracy\n"
        "(chosen/rejected pairs), each with a bootstrap 95% interval; writes evaluation.json.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent(
            """\
            examples:
              winnow evaluate out/ --labels labels.jsonl
              winnow evaluate out/ --labels prefs.csv --columns quality,composite
              winnow evaluate out/ --labels systems.jsonl --group-column system --grades grades.csv

            label files (.jsonl, .json, .csv or .parquet):
              id + label   true/false, 1/0, good/bad      -> ROC-AUC
              id + grade   numbers (or label numbers)     -> Spearman per row
              chosen + rejected (ids)                     -> pairwise accuracy (ties count half)
              id + GROUP (--group-column GROUP), with a grade per group from a
                `grade` column or --grades FILE of {group, grade}
                                                          -> Spearman of the groups' mean scores
            """
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished `winnow score` run (local or gs://)")
    p.add_argument("--labels", required=True, metavar="FILE", help="the label file")
    p.add_argument("--output", "-o", metavar="FILE", help="where the report goes (default RUN_DIR/evaluation.json)")
    p.add_argument(
        "--columns",
        metavar="A,B",
        help="score columns to evaluate (default: every float column of records/ and the length columns)",
    )
    p.add_argument("--group-column", metavar="NAME", help="the label file's column naming each row's group (e.g. system)")
    p.add_argument("--grades", metavar="FILE", help="with --group-column: a file of {group, grade} rows")
    p.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        metavar="N",
        help="bootstrap resamples for the 95%% interval (default 1000; 0: none)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0): the same seed, the same interval")


def _review_export_parser(review: Any) -> None:
    p = review.add_parser(
        "export",
        help="draw a stratified sample of a run for people to label (Label Studio, Argilla, CSV)",
        description="Draw a stratified sample of N scored rows of RUN_DIR and write it to DIR for annotators:\n"
        "a Label Studio project, an Argilla 2.x dataset, sample.parquet/csv and guidelines.md. Every row\n"
        "falls in one stratum (near-duplicate cluster representatives, then the rarest rule that fired,\n"
        "then languages other than the most common, then composite deciles) and carries its inclusion\n"
        "probability, so labels can be reweighted to the whole corpus.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent(
            """\
            examples:
              winnow review export out/ --size 300 --output review/
              winnow review export gs://bucket/runs/2026-12-01 --size 500 --seed 7 --output review/
              winnow review export out/ --size 200 --output review/ --config review.yaml --overwrite

            written to DIR (export.json last: the export is complete when it exists):
              export.json             export_id, the run (config hash, finish time), seed, size,
                                      and per stratum its population, sample and inclusion probability
              sample.parquet, .csv    id, stratum, inclusion_probability, shard, keep, flags, scores
              labelstudio/config.xml  labeling config: Choices verdict (good/bad), Rating rating (1-5),
                                      TextArea note, over the dialogue (Paragraphs) and the flags
              labelstudio/tasks.json  tasks to import, winnow's verdict as a prediction
              argilla/                the same as an Argilla 2.x dataset (rg.Dataset.from_disk)
              guidelines.md           what good and bad mean, the rating scale, and every rule
                                      with an example from the sample

            strata sizes: the `review:` section of the config (configs/default.yaml), from
            the run's config, then --config FILE.
            """
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished `winnow score` run (local or gs://)")
    p.add_argument("--size", "-n", type=int, required=True, metavar="N", help="rows to sample (all rows when the run has fewer)")
    p.add_argument("--output", "-o", required=True, metavar="DIR", help="where the export goes (local or gs://)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0): the same seed, the same sample")
    p.add_argument("--config", "-c", metavar="FILE", help="YAML config whose `review:` section sets the strata sizes")
    p.add_argument("--overwrite", action="store_true", help="write into a DIR that is not empty")


def _review_parser(sub: Any) -> None:
    p = sub.add_parser(
        "review",
        help="human review: export a stratified sample, import annotators' labels, calibrate thresholds and rules",
        description="Human review, with files only: `review export` draws a stratified sample of a run for Label "
        "Studio or Argilla, `review import` reads the annotators' labels and measures their agreement, and "
        "`review calibrate` weighs the labels back to the whole corpus to set thresholds and rule severities.",
    )
    review = p.add_subparsers(dest="review_command", required=True, metavar="SUBCOMMAND")
    _review_export_parser(review)
    imp = review.add_parser(
        "import",
        help="read Label Studio, CSV or Argilla exports; write labels.parquet and agreement.json",
        description="Read annotation exports (several annotators per row) of the sample `review export` wrote to\n"
        "DIR, and write LABELS_DIR/labels.parquet (id, annotator, verdict, rating, note),\n"
        "LABELS_DIR/agreement.json (Krippendorff's alpha, Cohen's kappa per annotator pair, counts, and the\n"
        "rows where annotators disagree) and a copy of DIR's sample.parquet and export.json. A label of a row\n"
        "that is not in DIR's sample, or a task from another export, stops the import.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent(
            """\
            examples:
              winnow review import review/ project-1.json --output labels/
              winnow review import review/ alice.csv bob.csv --output labels/
              winnow review import review/ argilla/records.json --output labels/ --overwrite

            files (format found from the content; .csv by name):
              Label Studio JSON     tasks with data.id and annotations[] whose results are
                                    from_name verdict (Choices good/bad), rating (Rating 1-5),
                                    note (TextArea); cancelled annotations are skipped
              Label Studio JSON_MIN flat objects: id (or winnow_id), annotator, verdict, rating, note
              CSV                   header id, annotator, verdict, rating, note
              Argilla 2.x           records.json of Dataset.to_disk: metadata.id (or id) and
                                    responses verdict/rating/note per user_id (submitted only)
            """
        ),
    )
    imp.add_argument("export_dir", metavar="DIR", help="the folder `winnow review export` wrote (export.json, sample.parquet)")
    imp.add_argument("files", nargs="+", metavar="FILE", help="annotation exports, local or gs://")
    imp.add_argument("--output", "-o", required=True, metavar="LABELS_DIR", help="where labels.parquet and agreement.json go")
    imp.add_argument("--overwrite", action="store_true", help="replace labels.parquet and agreement.json already in LABELS_DIR")
    _review_calibrate_parser(review)


def _review_calibrate_parser(review: Any) -> None:
    cal = review.add_parser(
        "calibrate",
        help="measure rules and scores against the human verdicts; write calibration.json and calibrated.yaml",
        description="The majority human verdict per labelled row (positive class: bad) against every rule and\n"
        "score column of RUN_DIR: precision, recall and F1 weighted by 1 / inclusion probability\n"
        "(Horvitz-Thompson, estimates for the whole corpus) with Wilson 95% intervals; a recommended\n"
        "threshold per score column; drop rules whose precision is too low for their severity. Writes\n"
        "DIR/calibration.json and DIR/calibrated.yaml, a config overlay for `winnow score --config`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent(
            """\
            examples:
              winnow review calibrate labels/ out/ --output calib/
              winnow review calibrate labels/ out/ --output calib/ --target-precision 0.9 --apply quality
              winnow review calibrate labels/ out/ --output calib/ --retrain quality-v2.bin
              winnow score data/ --output out2/ --config calib/calibrated.yaml

            LABELS_DIR holds labels.parquet, sample.parquet and export.json (`winnow review import`);
            RUN_DIR is the finished run the sample was exported from.

            thresholds: the highest recall whose precision's Wilson lower bound reaches
            --target-precision; if none does, the best F1. keep.min gets the thresholds of the
            --apply columns (default: composite, else quality). A rule of a severity that drops
            rows, fired on at least --min-labels labelled rows, whose precision's upper bound is
            below the target becomes warn (rule_severity).
            """
        ),
    )
    cal.add_argument("labels_dir", metavar="LABELS_DIR", help="labels.parquet, sample.parquet, export.json (local or gs://)")
    cal.add_argument("run_dir", metavar="RUN_DIR", help="the finished `winnow score` run the sample was drawn from")
    cal.add_argument("--output", "-o", required=True, metavar="DIR", help="where calibration.json and calibrated.yaml go")
    cal.add_argument(
        "--target-precision",
        type=float,
        default=0.8,
        metavar="P",
        help="precision a drop must reach with 95%% confidence (Wilson lower bound; default 0.8)",
    )
    cal.add_argument(
        "--apply",
        action="append",
        metavar="COLUMN",
        help="score column whose recommended threshold goes into keep.min (repeatable; default composite, else quality)",
    )
    cal.add_argument(
        "--columns",
        metavar="A,B",
        help="score columns to calibrate (default: every float column of records/ and the length columns)",
    )
    cal.add_argument(
        "--min-labels",
        type=int,
        default=5,
        metavar="N",
        help="labelled firings a rule needs before its severity is judged (default 5)",
    )
    cal.add_argument(
        "--retrain",
        metavar="MODEL_OUT",
        help="also retrain the run's quality model with the human labels added; writes MODEL_OUT and its card, "
        "and held-out accuracy and ROC-AUC before and after",
    )
    cal.add_argument(
        "--label-weight",
        default="auto",
        metavar="N",
        help="with --retrain: repeat each human-labelled row N times in training (auto, the default: "
        "enough for them to be a quarter of the training rows)",
    )
    cal.add_argument(
        "--folds", type=int, default=5, metavar="K", help="with --retrain: K-fold by row id for the held-out figures (default 5)"
    )
    cal.add_argument("--seed", type=int, default=1, help="with --retrain: training seed (default 1)")
    cal.add_argument("--overwrite", action="store_true", help="replace outputs already there")


def _report_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="write the offline HTML report of a run (report.html): sources, signals, rules, duplicates, drift",
        description="Write one self-contained HTML file (no network access when opened, at most 5 MB whatever\n"
        "the corpus) from a finished run's summaries and a bounded sample of its rows: overview, per-source\n"
        "table, a histogram of every numeric signal with the keep thresholds, a threshold what-if, rule\n"
        "rates per source and co-occurrence, languages, near-duplicate clusters, diversity and taxonomy\n"
        "coverage, example rows per rule and per rejection reason, and with --compare the drift against an\n"
        "earlier run. `winnow score` writes it at the end of every run unless output.report is off.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent(
            """\
            examples:
              winnow report out/
              winnow report out/ --compare yesterday/ --output drift.html
              winnow report gs://bucket/runs/2026-12-02 --compare gs://bucket/runs/2026-12-01
            """
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished `winnow score` run (local or gs://)")
    p.add_argument("--compare", metavar="PREVIOUS_RUN_DIR", help="an earlier run: the report adds what drifted since")
    p.add_argument("--output", "-o", metavar="FILE", help="where the report goes (default RUN_DIR/report.html)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="winnow",
        description="Quality assessment of instruction-tuning corpora on Apache Beam.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _score_parser(sub)
    _inspect_parser(sub)
    _train_parser(sub)
    _train_endings_parser(sub)
    _evaluate_parser(sub)
    _review_parser(sub)
    _report_parser(sub)
    return parser


def _config(args: argparse.Namespace) -> Config:
    overrides: dict[str, Any] = {}
    if getattr(args, "format", None):
        overrides["input"] = {"format": args.format}
    if getattr(args, "kept", None) is not None:
        overrides["output"] = {"kept": args.kept}
    config = load_config(args.config, overrides or None)
    if getattr(args, "quality_model", None):
        # Added to the config's classifiers, not replacing them.
        data = config.as_dict()
        data["classifiers"]["quality"] = {"model": args.quality_model}
        config = from_data(data)
    if getattr(args, "endings_model", None):
        data = config.as_dict()
        data["signals"]["endings"] = {**(data["signals"].get("endings") or {}), "model": args.endings_model}
        config = from_data(data)
    return config


class RunFailedError(Exception):
    """The Beam pipeline raised: main shows its cause on one line, the traceback only at --log_level DEBUG."""


def failure_cause(e: BaseException) -> str:
    """`Type: message` of the exception a failed run started with, on one line.

    Beam re-raises a step's exception wrapped in its own: in this process as a
    new exception raised while handling the first (its message quotes the
    first one's), from worker processes as a RuntimeError whose message is the
    worker's traceback text. So the chain is followed while the outer message
    quotes the inner one, and in a traceback text the first exception line wins.
    """
    while True:
        context = None if e.__suppress_context__ else e.__context__
        if e.__cause__ is not None:
            e = e.__cause__
        elif context is not None and str(context) and str(context) in str(e):
            e = context
        else:
            break
    lines = str(e).splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last):"):
            cause = next((x for x in lines[i + 1 :] if x.strip() and not x.startswith(" ")), "")
            if cause:
                return cause
    return f"{type(e).__name__}: {' '.join(x.strip() for x in lines if x.strip())}"


def cmd_score(args: argparse.Namespace, beam_args: list[str]) -> int:
    started = dt.datetime.now(dt.timezone.utc)
    unknown = unknown_beam_flags(beam_args)
    if unknown:
        raise ConfigError(f"unknown option(s) {' '.join(unknown)}: not a winnow option nor an Apache Beam pipeline option")
    # The driver's own reads and writes (plan, output checks, accounting) get the run's GCS options too.
    FileSystems.set_options(PipelineOptions(beam_args))
    config = _config(args)
    runner = "DirectRunner"
    for i, a in enumerate(beam_args):
        if a.startswith("--runner="):
            runner = a.split("=", 1)[1]
        elif a == "--runner" and i + 1 < len(beam_args):
            runner = beam_args[i + 1]
    state = args.state.rstrip("/") if args.state else None
    output = nightly.expand_output(args.output) if state else args.output
    if args.fail_on_drift and not state:
        raise ConfigError("--fail-on-drift compares a night with the last one: it needs --state STATE_DIR")
    # Nightly: formats are detected for the re-scored shards only (nightly.prepare); a reused shard is not read.
    plan = score.make_plan(args.inputs, output.rstrip("/") or "/", config, runner, detect_formats=not state)
    night = nightly.prepare(plan, state) if state else None
    score.print_plan(plan, beam_args)
    if night is not None:
        nightly.print_decision(night)
    if args.dry_run:
        return 0
    if night is not None:
        nightly.check_output(plan.output, night.state_dir, args.overwrite)
    else:
        score.prepare_output(plan.output, args.overwrite)
    try:
        record = nightly.run(plan, night, beam_args, started) if night is not None else score.run(plan, beam_args, started)
    except RunError:
        raise
    except Exception as e:
        raise RunFailedError(f"the run failed: {failure_cause(e)}") from e
    if record is not None:  # None: a template launch, the job runs later
        score.write_run_report(plan.output, plan.config)
        score.print_report(record, plan.output, plan.config)
        if night is not None:
            nightly.print_night(record)
        if record["rows_scored"] == 0:
            # The run is complete (run.json says so), so it exits 0; this line says what it found.
            print(
                escape_control(
                    f"winnow: warning: no row was scored; every row read ({record['rows_read']:,}) was rejected: "
                    f"see the reasons above and {plan.output}/rejected/"
                ),
                file=sys.stderr,
            )
        if night is not None and args.fail_on_drift and record["drift"]["breached"]:
            print_error(f"drift past the thresholds against the last night: see {plan.output}/summary/drift.json")
            return nightly.DRIFT_EXIT
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    inspect_file(args.inputs, args.n, _config(args), args.shard)
    return 0


def configure_logging(level: str | None) -> None:
    """winnow's warnings; Beam's messages only when --log_level asks for them.

    Beam's own error logs are tracebacks of what winnow reports on one line
    when the run fails (RunFailedError), so without --log_level they stay hidden.
    """
    logging.basicConfig(level=getattr(logging, level or "WARNING"), format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("apache_beam").setLevel(getattr(logging, level) if level else logging.CRITICAL)


def print_error(message: str) -> None:
    """One `winnow: error:` message; it quotes file names and data, so control characters are escaped."""
    print(f"winnow: error: {escape_control(message, keep_newlines=True)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    configure_logging(getattr(args, "log_level", None))
    use_emulator_credentials()
    if args.command != "score" and rest:
        parser.error(escape_control(f"unrecognized arguments: {' '.join(rest)}"))
    try:
        if args.command == "score":
            return cmd_score(args, rest)
        if args.command == "train-quality":
            train_quality(args)
            return 0
        if args.command == "train-endings":
            run_train_endings(args)
            return 0
        if args.command == "evaluate":
            run_evaluation(args)
            return 0
        if args.command == "review" and args.review_command == "export":
            run_export(args)
            return 0
        if args.command == "review" and args.review_command == "calibrate":
            run_calibrate(args)
            return 0
        if args.command == "review":
            run_import(args)
            return 0
        if args.command == "report":
            run_report(args)
            return 0
        return cmd_inspect(args)
    except (ConfigError, InputError, ReportInputError) as e:
        print_error(str(e))
        return 2
    except UnwritableError as e:  # found before any data is read, like a bad config
        print_error(f"cannot write to --output {e.path}: {e.reason}")
        return 2
    except RunFailedError as e:  # the cause first, on one line; the traceback wall only when asked for
        print_error(str(e))
        if args.log_level == "DEBUG":
            traceback.print_exception(e.__cause__ or e, file=sys.stderr)
        return 1
    except RunError as e:  # one clear line, no traceback wall
        print_error(str(e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
