#!/usr/bin/env bash
# Build the winnow worker image, the Flex Template launcher image on top of it,
# push both, and write the template spec to Cloud Storage.
#
#   PROJECT=my-project BUCKET=my-bucket REPOSITORY=winnow scripts/build_flex_template.sh
#
# Needs docker (logged in: gcloud auth configure-docker REGION-docker.pkg.dev)
# and gcloud. Prints the template spec path; launch it as README.md,
# "Running at scale", shows. WINNOW_PRINT_ONLY=1 prints the commands instead.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

: "${PROJECT:?set PROJECT to the Google Cloud project id}"
: "${BUCKET:?set BUCKET to the Cloud Storage bucket (no gs://) for the template spec}"
: "${REPOSITORY:?set REPOSITORY to an Artifact Registry Docker repository in REGION}"
REGION="${REGION:-us-central1}"
TAG="${TAG:-$(date -u +%Y%m%d-%H%M%S)}"
registry="$REGION-docker.pkg.dev/$PROJECT/$REPOSITORY"
worker_image="$registry/winnow:$TAG"
template_image="$registry/winnow-template:$TAG"
spec="gs://$BUCKET/templates/winnow-$TAG.json"

# shellcheck source=scripts/run_or_print.sh
source "$(dirname "${BASH_SOURCE[0]}")/run_or_print.sh"

run_or_print docker build -t "$worker_image" -f "$root/Dockerfile" "$root"
run_or_print docker build -t "$template_image" -f "$root/templates/dataflow/Dockerfile" \
  --build-arg "WORKER_IMAGE=$worker_image" "$root"
run_or_print docker push "$worker_image"
run_or_print docker push "$template_image"
run_or_print gcloud dataflow flex-template build "$spec" \
  --project "$PROJECT" \
  --image "$template_image" \
  --sdk-language PYTHON \
  --metadata-file "$root/templates/dataflow/metadata.json"
echo "template spec: $spec (workers run $worker_image)"
