#!/usr/bin/env bash
# Score a corpus on Google Cloud Dataflow with `winnow score`.
#
#   PROJECT=my-project BUCKET=my-bucket INPUT=gs://my-bucket/corpus/ OUTPUT=gs://my-bucket/runs/r1 \
#       scripts/submit_dataflow.sh [more winnow or Beam flags, e.g. --config my.yaml --dry-run]
#
# The command waits for the job: after it, winnow checks that every row is
# accounted for and writes run.json. WINNOW_PRINT_ONLY=1 prints the command
# instead of running it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

: "${PROJECT:?set PROJECT to the Google Cloud project id}"
: "${BUCKET:?set BUCKET to a Cloud Storage bucket (no gs://) for temp and staging files}"
: "${INPUT:?set INPUT to the corpus: files, directories or globs, space-separated}"
: "${OUTPUT:?set OUTPUT to the run directory, e.g. gs://BUCKET/runs/NAME}"
REGION="${REGION:-us-central1}"
JOB_NAME="${JOB_NAME:-winnow-$(date -u +%Y%m%d-%H%M%S)}"
# 4 vCPUs, 16 GB: one Python SDK process per vCPU, ~0.9 GB each in the bench,
# leaves room for a near-duplicate partition (README, Running at scale).
MACHINE_TYPE="${MACHINE_TYPE:-n2-standard-4}"
MAX_WORKERS="${MAX_WORKERS:-20}"
# Worker image built from ./Dockerfile (winnow and the language-ID model
# preinstalled). Empty: the stock Beam image, and each worker installs winnow
# from --setup_file at start-up.
IMAGE="${IMAGE:-}"
# Bundles run at once per SDK process; each near-duplicate task holds one
# partition in memory, so lower this if workers run out of memory.
THREADS="${THREADS:-}"

# No --experiments by default: on Beam 2.77 the Python DataflowRunner adds
# use_runner_v2 itself (runners/dataflow/dataflow_runner.py), and batch jobs
# use the service-based Dataflow Shuffle by default, so neither
# use_runner_v2 nor shuffle_mode=service changes anything. EXPERIMENTS (a
# comma-separated list) passes others through.
EXPERIMENTS="${EXPERIMENTS:-}"

read -r -a inputs <<<"$INPUT"
cmd=(winnow score "${inputs[@]}" --output "$OUTPUT"
  --runner DataflowRunner
  --project "$PROJECT"
  --region "$REGION"
  --job_name "$JOB_NAME"
  --temp_location "gs://$BUCKET/tmp"
  --staging_location "gs://$BUCKET/staging"
  --machine_type "$MACHINE_TYPE"
  --max_num_workers "$MAX_WORKERS")
if [[ -n "$IMAGE" ]]; then
  cmd+=(--sdk_container_image "$IMAGE")
else
  cmd+=(--setup_file "$root/setup.py")
fi
if [[ -n "$THREADS" ]]; then
  cmd+=(--number_of_worker_harness_threads "$THREADS")
fi
if [[ -n "$EXPERIMENTS" ]]; then
  cmd+=(--experiments "$EXPERIMENTS")
fi
cmd+=("$@")

# shellcheck source=scripts/run_or_print.sh
source "$(dirname "${BASH_SOURCE[0]}")/run_or_print.sh"
run_or_print "${cmd[@]}"
