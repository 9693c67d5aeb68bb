"""Airflow DAGs: nightly `winnow score --state`, on DirectRunner (this Airflow worker) or on Dataflow.

Drop this file in the DAGs folder of an Airflow 3 deployment that has
winnow and the Apache Beam provider installed (`pip install 'winnow[airflow]'`).
Both DAGs run the Beam provider's BeamRunPythonPipelineOperator with winnow's
Flex Template entry module, whose `--name=value` parameters are the
template's (templates/dataflow/metadata.json), so the operator passes them
as pipeline options:

    python -m winnow.pipelines.flex_main --runner=... --input=... --output=... --state=... [Beam options]

which runs `winnow score INPUT... --output RUN_DIR --state STATE_DIR`. A
night killed anywhere is safe to retry (README, "Nightly runs"): the state
is committed last, so Airflow's retries simply run the night again.

Settings come from Airflow Variables (or these defaults):
  winnow_input        comma-separated inputs           gs://my-bucket/corpus/
  winnow_runs         where each night's RUN_DIR goes  gs://my-bucket/runs
  winnow_state        the state directory              gs://my-bucket/winnow-state
  winnow_config       optional YAML config             (none)
  winnow_project, winnow_region, winnow_bucket, winnow_image   for the Dataflow DAG
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator
from airflow.providers.google.cloud.operators.dataflow import DataflowConfiguration
from airflow.sdk import DAG, Variable

ENTRY_MODULE = "winnow.pipelines.flex_main"  # run as `python -m ENTRY_MODULE`: py_options ["-m"], py_file the module


def setting(name: str, default: str) -> str:
    """An Airflow Variable, read when the DAG file is parsed (default when unset or outside a deployment)."""
    try:
        return str(Variable.get(name, default=default))
    except Exception:  # no metadata database: DAG parsing in tests, `python winnow_nightly.py`
        return default


def night_options(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The template parameters of one night; Airflow renders `{{ ds }}` to the run's logical date."""
    options: dict[str, Any] = {
        "input": setting("winnow_input", "gs://my-bucket/corpus/"),
        "output": setting("winnow_runs", "gs://my-bucket/runs") + "/{{ ds }}",
        "state": setting("winnow_state", "gs://my-bucket/winnow-state"),
        "fail_on_drift": "true",
    }
    config = setting("winnow_config", "")
    if config:
        options["config"] = config
    return {**options, **(extra or {})}


DEFAULTS = {"retries": 2, "retry_delay": dt.timedelta(minutes=10)}

with DAG(
    dag_id="winnow_nightly_local",
    description="winnow nightly re-scoring on DirectRunner, on the Airflow worker itself",
    schedule="0 2 * * *",
    start_date=dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,  # one night at a time per state directory
    default_args=DEFAULTS,
    tags=["winnow"],
) as local_dag:
    BeamRunPythonPipelineOperator(
        task_id="score_night",
        runner="DirectRunner",
        py_file=ENTRY_MODULE,
        py_options=["-m"],
        pipeline_options=night_options(),
    )

PROJECT = setting("winnow_project", "my-project")
REGION = setting("winnow_region", "us-central1")
BUCKET = setting("winnow_bucket", "my-bucket")
IMAGE = setting("winnow_image", "us-central1-docker.pkg.dev/my-project/winnow/winnow:2026-11-25")

with DAG(
    dag_id="winnow_nightly_dataflow",
    description="winnow nightly re-scoring on Dataflow; this task waits for the job",
    schedule="0 2 * * *",
    start_date=dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULTS,
    tags=["winnow"],
) as dataflow_dag:
    BeamRunPythonPipelineOperator(
        task_id="score_night",
        runner="DataflowRunner",
        py_file=ENTRY_MODULE,
        py_options=["-m"],
        # The operator adds --project, --region, --job_name (with a unique suffix) and --labels from this.
        dataflow_config=DataflowConfiguration(
            job_name="winnow-nightly", project_id=PROJECT, location=REGION, wait_until_finished=True
        ),
        pipeline_options=night_options(
            {
                "temp_location": f"gs://{BUCKET}/tmp",
                "staging_location": f"gs://{BUCKET}/staging",
                "sdk_container_image": IMAGE,
                "machine_type": "n2-standard-4",
                "max_num_workers": 20,
            }
        ),
    )
