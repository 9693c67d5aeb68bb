#!/usr/bin/env bash
# Score a corpus on an Apache Flink cluster with `winnow score`.
#
#   FLINK_MASTER=flink-jm:8081 IMAGE=registry/winnow:TAG INPUT=gs://my-bucket/corpus/ OUTPUT=gs://my-bucket/runs/r1 \
#       scripts/submit_flink.sh [more winnow or Beam flags]
#
# What the cluster needs is in README.md, "Running at scale". The command
# waits for the job, then checks every row and writes run.json.
# WINNOW_PRINT_ONLY=1 prints the command instead of running it.
set -euo pipefail

: "${FLINK_MASTER:?set FLINK_MASTER to the JobManager REST address, host:port (port 8081 by default)}"
: "${INPUT:?set INPUT to the corpus: files, directories or globs, space-separated}"
: "${OUTPUT:?set OUTPUT to the run directory}"
# Must match the cluster's Flink version; Beam 2.77 publishes job servers for
# 1.19, 1.20, 2.0, 2.1 and 2.2 (FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS).
FLINK_VERSION="${FLINK_VERSION:-1.20}"
# Where the Python SDK workers run:
#   DOCKER   (default) a container of IMAGE (built from ./Dockerfile) per task manager; needs Docker there
#   EXTERNAL a worker pool already running on every task manager at WORKER_POOL
#            (docker run -p 50000:50000 IMAGE --worker_pool, or
#            python -m apache_beam.runners.worker.worker_pool_main --service_port=50000 with winnow installed)
#   PROCESS  the Beam boot binary BOOT, started by the task manager; winnow installed in its Python
ENVIRONMENT="${ENVIRONMENT:-DOCKER}"
IMAGE="${IMAGE:-}"
WORKER_POOL="${WORKER_POOL:-localhost:50000}"
BOOT="${BOOT:-/opt/apache/beam/boot}"
# Local job server jar, for sites without Maven Central access; empty lets
# Beam download beam-runners-flink-$FLINK_VERSION-job-server-<beam version>.jar.
JOB_SERVER_JAR="${JOB_SERVER_JAR:-}"
# 1 (default): pack the pipeline and its artifacts into one jar and upload it
# through the JobManager's REST API, so only FLINK_MASTER must be reachable.
# 0: run the job server locally (needs Java 11+); the task managers then read
# staged artifacts from ARTIFACTS_DIR, which they must be able to reach
# (e.g. gs:// or hdfs://; the default is a local temp dir).
UBER_JAR="${UBER_JAR:-1}"
ARTIFACTS_DIR="${ARTIFACTS_DIR:-}"
# Parallel tasks; -1 takes the cluster's default (parallelism.default).
PARALLELISM="${PARALLELISM:--1}"
# SDK worker processes per task manager; 0 lets the runner choose from the
# machine's cores (Beam's default, 1, would leave Python on one core).
SDK_WORKERS="${SDK_WORKERS:-0}"

case "$ENVIRONMENT" in
  DOCKER)
    : "${IMAGE:?set IMAGE to the winnow worker image for ENVIRONMENT=DOCKER}"
    environment_config="$IMAGE" ;;
  EXTERNAL) environment_config="$WORKER_POOL" ;;
  PROCESS) environment_config="{\"command\": \"$BOOT\"}" ;;
  *) echo "ENVIRONMENT must be DOCKER, EXTERNAL or PROCESS, not $ENVIRONMENT" >&2; exit 2 ;;
esac

read -r -a inputs <<<"$INPUT"
cmd=(winnow score "${inputs[@]}" --output "$OUTPUT"
  --runner FlinkRunner
  --flink_master "$FLINK_MASTER"
  --flink_version "$FLINK_VERSION"
  --environment_type "$ENVIRONMENT"
  --environment_config "$environment_config"
  --parallelism "$PARALLELISM"
  --sdk_worker_parallelism "$SDK_WORKERS")
if [[ -n "$JOB_SERVER_JAR" ]]; then
  cmd+=(--flink_job_server_jar "$JOB_SERVER_JAR")
fi
if [[ "$UBER_JAR" == 1 ]]; then
  cmd+=(--flink_submit_uber_jar)
elif [[ -n "$ARTIFACTS_DIR" ]]; then
  cmd+=(--artifacts_dir "$ARTIFACTS_DIR")
fi
cmd+=("$@")

# shellcheck source=scripts/run_or_print.sh
source "$(dirname "${BASH_SOURCE[0]}")/run_or_print.sh"
run_or_print "${cmd[@]}"
