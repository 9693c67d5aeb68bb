"""The nightly front ends say what winnow's CLI accepts: the Airflow DAGs, the Cloud Scheduler launch, the cron line.

Each is turned into the command it would run (the Beam provider's own
option formatting, the Flex Template launcher's translation) and parsed
with winnow's argparse parser and Apache Beam's option classes, so none of
them can drift from the code.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

from conftest import REPO_ROOT

from winnow.pipelines import cli, flex_main, nightly

AIRFLOW_DAG = REPO_ROOT / "scripts" / "airflow" / "winnow_nightly.py"
SCHEDULER = REPO_ROOT / "scripts" / "scheduler"
METADATA = json.loads((REPO_ROOT / "templates" / "dataflow" / "metadata.json").read_text())


def score_args(argv: list[str]) -> tuple[Any, list[str]]:
    """`winnow score` argv parsed as the CLI parses it; every flag it does not know must be a Beam option."""
    args, rest = cli.build_parser().parse_known_args(argv)
    assert args.command == "score", argv
    assert cli.unknown_beam_flags(rest) == [], rest
    return args, rest


def _load_dags() -> Any:
    spec = importlib.util.spec_from_file_location("winnow_nightly_dag", AIRFLOW_DAG)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _render(value: Any) -> Any:
    """Airflow's templates for one logical date."""
    if isinstance(value, str):
        return value.replace("{{ ds }}", "2026-12-02").replace("{{ ds_nodash }}", "20261202")
    return value


def _operator_command(task: Any) -> list[str]:
    """The argv BeamHook.start_python_pipeline runs for this operator (after the interpreter)."""
    from airflow.providers.apache.beam.hooks.beam import beam_options_to_args

    options = {k: _render(v) for k, v in task.pipeline_options.items()}
    if task.runner == "DataflowRunner":  # what BeamDataflowMixin adds (job name with a unique suffix, labels as k=v)
        cfg = task.dataflow_config
        options["job_name"] = f"{cfg.job_name}-0a1b2c3d"
        options["project"], options["region"] = cfg.project_id, cfg.location
        options["labels"] = ["airflow-version=v3-3-2"]
    return [*task.py_options, task.py_file, f"--runner={task.runner}", *beam_options_to_args(options)]


def test_the_airflow_dags_import_and_their_operators_run_winnow_score_with_the_state():
    from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator

    module = _load_dags()
    dags = {d.dag_id: d for d in (module.local_dag, module.dataflow_dag)}
    assert set(dags) == {"winnow_nightly_local", "winnow_nightly_dataflow"}
    runners = set()
    for dag in dags.values():
        assert dag.max_active_runs == 1  # one night at a time per state directory
        (task,) = dag.tasks
        assert isinstance(task, BeamRunPythonPipelineOperator)
        runners.add(task.runner)
        command = _operator_command(task)
        assert command[:2] == ["-m", "winnow.pipelines.flex_main"]
        argv = flex_main.score_argv(command[2:])
        args, beam_args = score_args(argv)
        assert args.inputs == ["gs://my-bucket/corpus/"]
        assert args.output == "gs://my-bucket/runs/2026-12-02"
        assert args.state == "gs://my-bucket/winnow-state" and args.fail_on_drift
        assert f"--runner={task.runner}" in beam_args
        if task.runner == "DataflowRunner":
            from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, WorkerOptions

            opts = PipelineOptions(beam_args)
            gcp = opts.view_as(GoogleCloudOptions)
            assert (gcp.project, gcp.region, gcp.temp_location) == ("my-project", "us-central1", "gs://my-bucket/tmp")
            assert gcp.job_name.startswith("winnow-nightly")
            assert opts.view_as(WorkerOptions).sdk_container_image
    assert runners == {"DirectRunner", "DataflowRunner"}


def test_the_cloud_scheduler_body_is_a_valid_launch_of_the_flex_template():
    body = json.loads((SCHEDULER / "nightly_launch.json").read_text())["launchParameter"]
    assert {"jobName", "containerSpecGcsPath", "parameters", "environment"} <= set(body)
    params: dict[str, str] = body["parameters"]
    declared = {p["name"]: p for p in METADATA["parameters"]}
    accepted = flex_main.template_parameters()
    assert {n for n, required in accepted.items() if required} <= set(params)
    for name, value in params.items():
        assert name in declared, f"{name} is not a parameter of templates/dataflow/metadata.json"
        assert name in accepted, f"{name} is not a parameter the launcher (flex_main) takes"
        for regex in declared[name].get("regexes", []):
            assert re.fullmatch(regex, value), f"{name}={value} fails {regex}"
    # Static: the night is found from the state, the run directory from the date.
    assert "state" in params and "{date}" in params["output"]
    args, _ = score_args(flex_main.score_argv([f"--{k}={v}" for k, v in params.items()]))
    assert nightly.expand_output(args.output).startswith("gs://my-bucket/runs/20")
    # FlexTemplateRuntimeEnvironment fields (Dataflow REST API v1b3) this body uses.
    known = {"maxWorkers", "numWorkers", "machineType", "tempLocation", "stagingLocation", "serviceAccountEmail", "network",
             "subnetwork", "zone", "workerRegion", "additionalExperiments", "sdkContainerImage", "ipConfiguration"}  # fmt: skip
    assert set(body["environment"]) <= known


def test_the_scheduler_script_posts_that_body_to_the_launch_endpoint_as_its_service_account():
    done = subprocess.run(
        [str(SCHEDULER / "create_nightly_job.sh")],
        env={**os.environ, "WINNOW_PRINT_ONLY": "1", "PROJECT": "my-project"},
        capture_output=True,
        text=True,
        check=True,
    )
    commands = [shlex.split(line) for line in done.stdout.splitlines() if line.strip()]
    (create,) = [c for c in commands if c[:4] == ["gcloud", "scheduler", "jobs", "create"]]
    flag = {a: create[i + 1] for i, a in enumerate(create[:-1]) if a.startswith("--")}
    assert re.fullmatch(
        r"https://dataflow\.googleapis\.com/v1b3/projects/my-project/locations/[a-z0-9-]+/flexTemplates:launch", flag["--uri"]
    )
    assert flag["--http-method"] == "POST" and Path(flag["--message-body-from-file"]) == SCHEDULER / "nightly_launch.json"
    assert flag["--oauth-service-account-email"].startswith("winnow-scheduler@")
    assert flag["--oauth-token-scope"] == "https://www.googleapis.com/auth/cloud-platform"
    assert len(flag["--schedule"].split()) == 5
    roles = {c[c.index("--role") + 1] for c in commands if "--role" in c}
    assert {"roles/dataflow.developer", "roles/iam.serviceAccountUser", "roles/dataflow.worker"} <= roles
    body = json.loads((SCHEDULER / "nightly_launch.json").read_text())["launchParameter"]
    assert body["environment"]["serviceAccountEmail"].startswith("winnow-worker@")


def test_the_cron_line_runs_a_night_winnow_accepts():
    lines = [ln for ln in (SCHEDULER / "winnow-nightly.cron").read_text().splitlines() if ln and not ln.startswith("#")]
    jobs = [ln for ln in lines if not re.match(r"^[A-Z_]+=", ln)]
    assert len(jobs) == 1
    fields = jobs[0].split(None, 5)
    assert len(fields) == 6 and all(re.fullmatch(r"[0-9*/,-]+", f) for f in fields[:5])
    argv = shlex.split(fields[5].split(">>")[0])
    start = next(i for i, a in enumerate(argv) if a.endswith("/winnow"))
    args, _ = score_args(argv[start + 1 :])
    assert args.state and args.fail_on_drift and "{date}" in args.output
