"""The `winnow` command line: score a corpus, or inspect how rows normalize."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import textwrap
from typing import Any

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability import flink_runner  # noqa: F401 - registers FlinkRunnerOptions

from winnow.pipelines import score
from winnow.pipelines.inspect import inspect_file
from winnow.pipelines.storage_emulator import use_emulator_credentials
from winnow.pipelines.train import train_quality
from winnow.transforms import run_layout
from winnow.transforms.config import Config, from_data, load_config
from winnow.transforms.configfiles import ConfigError
from winnow.transforms.io.inputs import InputError
from winnow.transforms.signals import registry
from winnow.transforms.summary.run_record import RunError

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
        "--quality-model", metavar="MODEL", help="fastText quality model (from train-quality) for the `quality` column"
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
    p.add_argument("file", metavar="FILE")
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
              winnow train-quality --labeled kto.json --label-field label --output quality.bin
            """
        ),
    )
    p.add_argument("--positive", nargs="+", metavar="PATH", help="inputs whose rows are good")
    p.add_argument("--negative", nargs="+", metavar="PATH", help="inputs whose rows are bad")
    p.add_argument("--labeled", nargs="+", metavar="PATH", help="inputs whose rows carry a label field")
    p.add_argument("--label-field", metavar="NAME", help="with --labeled: the field holding the label")
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
        help="add this many corrupted copies of good rows (per good row) as negatives",
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
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--bucket", type=int, default=200_000, help="hashed word n-gram buckets (model size ~ bucket x dim x 4 bytes)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--autotune",
        type=int,
        default=0,
        metavar="SECONDS",
        help="let fastText tune hyper-parameters on the held-out split for this long instead (with --cv the folds reuse them)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="winnow",
        description="Quality assessment of instruction-tuning corpora on Apache Beam.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _score_parser(sub)
    _inspect_parser(sub)
    _train_parser(sub)
    return parser


def _config(args: argparse.Namespace) -> Config:
    overrides: dict[str, Any] = {}
    if getattr(args, "format", None):
        overrides["input"] = {"format": args.format}
    config = load_config(args.config, overrides or None)
    if getattr(args, "quality_model", None):
        # Added to the config's classifiers, not replacing them.
        data = config.as_dict()
        data["classifiers"]["quality"] = {"model": args.quality_model}
        config = from_data(data)
    return config


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
    plan = score.make_plan(args.inputs, args.output.rstrip("/") or "/", config, runner)
    score.print_plan(plan, beam_args)
    if args.dry_run:
        return 0
    score.prepare_output(plan.output, args.overwrite)
    record = score.run(plan, beam_args, started)
    if record is not None:  # None: a template launch, the job runs later
        score.print_report(record, plan.output, plan.config)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    inspect_file(args.file, args.n, _config(args))
    return 0


def configure_logging(level: str | None) -> None:
    """winnow's warnings; Beam's worker chatter only when --log_level asks for it."""
    logging.basicConfig(level=getattr(logging, level or "WARNING"), format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("apache_beam").setLevel(getattr(logging, level) if level else logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    configure_logging(getattr(args, "log_level", None))
    use_emulator_credentials()
    if args.command != "score" and rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.command == "score":
            return cmd_score(args, rest)
        if args.command == "train-quality":
            train_quality(args)
            return 0
        return cmd_inspect(args)
    except (ConfigError, InputError) as e:
        print(f"winnow: error: {e}", file=sys.stderr)
        return 2
    except RunError as e:  # one clear line, no traceback wall
        print(f"winnow: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
