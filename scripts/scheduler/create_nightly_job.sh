#!/usr/bin/env bash
# Start the winnow Flex Template every night from Cloud Scheduler (README, "Nightly runs").
#
#   PROJECT=my-project scripts/scheduler/create_nightly_job.sh
#
# Creates two service accounts and the Cloud Scheduler job:
#   winnow-scheduler  calls projects.locations.flexTemplates.launch (roles/dataflow.developer) and
#                     acts as the worker account (roles/iam.serviceAccountUser on it);
#   winnow-worker     runs the job (roles/dataflow.worker) and reads the corpus, writes runs and
#                     the state in BUCKET (roles/storage.objectAdmin), pulls the image
#                     (roles/artifactregistry.reader).
# The HTTP target is the launch endpoint; the body is static (BODY, default
# scripts/scheduler/nightly_launch.json: set its template path, bucket and
# worker account first): the job finds the last night in the `state`
# parameter's directory and `{date}` in `output` becomes the night's UTC date.
# WINNOW_PRINT_ONLY=1 prints the commands instead of running them.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/run_or_print.sh
source "$here/../run_or_print.sh"

: "${PROJECT:?set PROJECT to the Google Cloud project id}"
REGION="${REGION:-us-central1}"
BUCKET="${BUCKET:-my-bucket}"
SCHEDULE="${SCHEDULE:-0 2 * * *}"
TIME_ZONE="${TIME_ZONE:-Etc/UTC}"
BODY="${BODY:-$here/nightly_launch.json}"
JOB="${JOB:-winnow-nightly}"
caller="winnow-scheduler@$PROJECT.iam.gserviceaccount.com"
worker="winnow-worker@$PROJECT.iam.gserviceaccount.com"

run_or_print gcloud iam service-accounts create winnow-scheduler --project "$PROJECT" \
  --display-name "starts the winnow Flex Template"
run_or_print gcloud iam service-accounts create winnow-worker --project "$PROJECT" \
  --display-name "runs winnow Dataflow jobs"
run_or_print gcloud projects add-iam-policy-binding "$PROJECT" \
  --member "serviceAccount:$caller" --role roles/dataflow.developer
run_or_print gcloud iam service-accounts add-iam-policy-binding "$worker" --project "$PROJECT" \
  --member "serviceAccount:$caller" --role roles/iam.serviceAccountUser
run_or_print gcloud projects add-iam-policy-binding "$PROJECT" \
  --member "serviceAccount:$worker" --role roles/dataflow.worker
run_or_print gcloud projects add-iam-policy-binding "$PROJECT" \
  --member "serviceAccount:$worker" --role roles/artifactregistry.reader
run_or_print gcloud storage buckets add-iam-policy-binding "gs://$BUCKET" \
  --member "serviceAccount:$worker" --role roles/storage.objectAdmin
run_or_print gcloud scheduler jobs create http "$JOB" --project "$PROJECT" --location "$REGION" \
  --schedule "$SCHEDULE" --time-zone "$TIME_ZONE" \
  --uri "https://dataflow.googleapis.com/v1b3/projects/$PROJECT/locations/$REGION/flexTemplates:launch" \
  --http-method POST \
  --headers "Content-Type=application/json" \
  --message-body-from-file "$BODY" \
  --oauth-service-account-email "$caller" \
  --oauth-token-scope "https://www.googleapis.com/auth/cloud-platform" \
  --attempt-deadline 180s
