"""Dataflow Flex Template entry point: template parameters in, `winnow score` out.

The template launcher runs templates/dataflow/main.py, which calls main() here, as

    python main.py --input=A,B --output=DIR [--config=F] ... <Beam options>

with `--template_location` among the Beam options: the pipeline's graph is
written there and the job starts after this process exits. The job's last
step accounts for every row and writes run.json (transforms/run_record.py),
so one launch call is the whole run. Without `--template_location` this is
a plain `winnow score` run.
"""

from __future__ import annotations

import argparse
import os
import sys

from winnow.pipelines import cli
from winnow.pipelines.score import has_flag

# Set in the template image (templates/dataflow/Dockerfile): the worker image
# the job runs on unless the launch names another --sdk_container_image.
WORKER_IMAGE_ENV = "WINNOW_SDK_CONTAINER_IMAGE"


def template_parser() -> argparse.ArgumentParser:
    """The template's own parameters (templates/dataflow/metadata.json); the rest goes to Beam."""
    p = argparse.ArgumentParser(prog="flex_main", allow_abbrev=False)
    p.add_argument("--input", required=True, help="comma-separated files, directories or globs")
    p.add_argument("--output", required=True)
    p.add_argument("--config")
    p.add_argument("--format")
    p.add_argument("--quality_model")
    p.add_argument("--overwrite", choices=["true", "false"], default="false")
    # Nightly runs (README, "Nightly runs"): a static launch body finds the last night in the state directory.
    p.add_argument("--state")
    p.add_argument("--fail_on_drift", choices=["true", "false"], default="false")
    return p


def template_parameters() -> dict[str, bool]:
    """Parameter name -> required, as template_parser defines them."""
    return {a.dest: a.required for a in template_parser()._actions if a.option_strings and a.dest != "help"}


def score_argv(argv: list[str]) -> list[str]:
    """`--name=value` template parameters -> the `winnow score` command line."""
    args, beam_args = template_parser().parse_known_args(argv)
    out = ["score", *[p for p in args.input.split(",") if p], "--output", args.output]
    if args.config:
        out += ["--config", args.config]
    if args.format:
        out += ["--format", args.format]
    if args.quality_model:
        out += ["--quality-model", args.quality_model]
    if args.overwrite == "true":
        out.append("--overwrite")
    if args.state:
        out += ["--state", args.state]
    if args.fail_on_drift == "true":
        out.append("--fail-on-drift")
    image = os.environ.get(WORKER_IMAGE_ENV)
    if image and not has_flag(beam_args, "--sdk_container_image"):
        beam_args = [*beam_args, f"--sdk_container_image={image}"]
    return out + beam_args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return cli.main(score_argv(argv))


if __name__ == "__main__":
    sys.exit(main())
