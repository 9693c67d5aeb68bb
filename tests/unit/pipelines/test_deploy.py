"""The deployment path: Dockerfiles (lint, pins), the submit scripts, the Flex
Template, and every Dataflow/Flink command the README and the CLI show.

Commands are parsed the way they would run: winnow's own arguments by the
CLI's parser, every other flag by Apache Beam's option classes and
validators, so a misspelled flag or a value Beam rejects fails here.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TestOptions
from apache_beam.options.pipeline_options_validator import PipelineOptionsValidator
from apache_beam.runners.portability.portable_runner import PortableRunner
from apache_beam.runners.runner import create_runner
from conftest import REPO_ROOT
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from winnow.pipelines import cli, flex_main

DOCKERFILES = [REPO_ROOT / "Dockerfile", REPO_ROOT / "templates" / "dataflow" / "Dockerfile"]
METADATA = json.loads((REPO_ROOT / "templates" / "dataflow" / "metadata.json").read_text())
README = (REPO_ROOT / "README.md").read_text()


def tool(name: str) -> str:
    """A linter installed by the test extras (next to this Python, or on PATH)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is missing: it is a test dependency, install it with pip install -e '.[test]'"
    return found


def setup_py_value(name: str):
    """A literal assigned or passed in setup.py (REQUIRED, EXTRAS, packages, python_requires)."""
    tree = ast.parse((REPO_ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
        if isinstance(node, ast.keyword) and node.arg == name:
            return ast.literal_eval(node.value)
    raise KeyError(name)


def setup_requirements() -> dict[str, Requirement]:
    reqs = [*setup_py_value("REQUIRED"), *(r for extra in setup_py_value("EXTRAS").values() for r in extra)]
    return {Requirement(r).name.lower(): Requirement(r) for r in reqs}


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


# --- checking a command ------------------------------------------------------


def score_command_problems(argv: list[str]) -> list[str]:
    """Why `winnow score ...` (as a token list) would not run as written; [] if it would."""
    assert argv[:2] == ["winnow", "score"], argv
    problems: list[str] = []
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            _, beam_args = cli.build_parser().parse_known_args(argv[1:])
            unknown = cli.unknown_beam_flags(beam_args)
            options = PipelineOptions(beam_args)
            options.view_as(StandardOptions)  # parses every option, so bad choices (--flink_version) fail here
    except SystemExit:
        return [stderr.getvalue().strip().splitlines()[-1]]
    problems += [f"unknown flag {f}" for f in unknown]
    if problems:
        return problems
    # Beam's own validators, as the runner would call them; TestOptions.dry_run
    # keeps them from contacting Cloud Storage.
    options.view_as(TestOptions).dry_run = True
    try:
        runner = create_runner(options.view_as(StandardOptions).runner or "DirectRunner")
    except ValueError as e:
        return [str(e)]
    problems += PipelineOptionsValidator(options, runner).validate()
    if isinstance(runner, PortableRunner):
        try:
            PortableRunner._create_environment(options)
        except Exception as e:
            problems.append(f"environment: {e}")
    return problems


def script_command(script: str, env: dict[str, str], *args: str) -> list[str]:
    """The command a submit script would run (its print-only mode)."""
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / script), *args],
        env={"PATH": os.environ["PATH"], **env, "WINNOW_PRINT_ONLY": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    return shlex.split(done.stdout)


DATAFLOW_ENV = {
    "PROJECT": "my-project",
    "BUCKET": "my-bucket",
    "INPUT": "gs://my-bucket/corpus/",
    "OUTPUT": "gs://my-bucket/runs/r1",
}
FLINK_ENV = {"FLINK_MASTER": "flink-jm:8081", "INPUT": "gs://my-bucket/corpus/", "OUTPUT": "gs://my-bucket/runs/r1"}


def test_a_misspelled_or_invalid_flag_is_caught():
    base = ["winnow", "score", "gs://my-bucket/c/", "--output", "gs://my-bucket/r"]
    dataflow = [
        *base,
        "--runner",
        "DataflowRunner",
        "--project",
        "my-project",
        "--region",
        "us-central1",
        "--temp_location",
        "gs://my-bucket/tmp",
    ]
    assert score_command_problems(dataflow) == []
    assert score_command_problems([*dataflow, "--max_num_worker", "5"]) == ["unknown flag --max_num_worker"]
    assert "Project ID" in score_command_problems([*dataflow[:-6], "--project", "P", *dataflow[-4:]])[0]
    assert score_command_problems([*base, "--runner", "DataflowRuner"])
    flink = [*base, "--runner", "FlinkRunner", "--flink_master", "jm:8081"]
    assert score_command_problems(flink) == []
    assert "--flink_version" in score_command_problems([*flink, "--flink_version", "1.7"])[0]
    assert "DOKER" in score_command_problems([*flink, "--environment_type", "DOKER"])[0]
    assert score_command_problems([*flink, "--environment_type", "PROCESS", "--environment_config", "boot"])
    assert "--output" in score_command_problems(["winnow", "score", "gs://my-bucket/c/"])[0]


# --- Dockerfiles -------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_dockerfile_passes_hadolint(dockerfile):
    done = subprocess.run([tool("hadolint"), str(dockerfile)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_reports_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n")
    done = subprocess.run([tool("hadolint"), str(bad)], capture_output=True, text=True)
    assert done.returncode != 0
    assert "DL3007" in done.stdout and "DL3013" in done.stdout


@pytest.mark.parametrize("script", ["submit_dataflow.sh", "submit_flink.sh", "build_flex_template.sh", "run_or_print.sh"])
def test_script_passes_shellcheck(script):
    # -x follows the sourced run_or_print.sh (its `source=` directive is relative to the repository root).
    done = subprocess.run(
        [tool("shellcheck"), "-x", str(Path("scripts") / script)], capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_worker_image_installs_this_package_with_setup_py_pins():
    steps = dockerfile_instructions(REPO_ROOT / "Dockerfile")
    copied = " ".join(args for word, args in steps if word == "COPY").split()
    # The build files, the package root, and every folder it links in (winnow/pipelines -> ../pipelines, ...).
    linked = sorted(p.readlink().name for p in (REPO_ROOT / "winnow").iterdir() if p.is_symlink())
    assert linked == ["configs", "pipelines", "transforms"]
    for needed in ["setup.py", "pyproject.toml", "winnow", *linked]:
        assert needed in copied, f"Dockerfile does not COPY {needed}, so the image would lack it"
    installs = [args for word, args in steps if word == "RUN" and "pip install" in args]
    assert installs and "." in shlex.split(installs[0].split("&&")[0]), "the image must pip install . (setup.py's pins)"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_pip_pins_in_dockerfiles_agree_with_setup_py(dockerfile):
    known = setup_requirements()
    for word, args in dockerfile_instructions(dockerfile):
        for command in args.split("&&") if word == "RUN" else []:
            tokens = shlex.split(command)
            if "pip" not in tokens or "install" not in tokens:
                continue
            for spec in tokens[tokens.index("install") + 1 :]:
                if spec.startswith("-") or spec == ".":
                    continue
                req = Requirement(spec)
                assert req.name.lower() in known, f"{dockerfile.name} installs {spec}, which setup.py does not list"
                assert req.specifier == known[req.name.lower()].specifier, (
                    f"{spec} differs from setup.py's {known[req.name.lower()]}"
                )


def test_base_images_match_setup_py():
    (image,) = [args for word, args in dockerfile_instructions(REPO_ROOT / "Dockerfile") if word == "FROM"]
    m = re.fullmatch(r"apache/beam_python(\d)\.(\d+)_sdk:(\d+\.\d+\.\d+)", image)
    assert m, f"the worker image must be a pinned official Beam Python SDK image, not {image}"
    python, beam = f"{m[1]}.{m[2]}", m[3]
    beam_spec = setup_requirements()["apache-beam"].specifier
    assert beam in beam_spec, f"Beam {beam} in the Dockerfile does not satisfy setup.py's apache-beam{beam_spec}"
    assert python in SpecifierSet(setup_py_value("python_requires"))
    assert python == "3.11", "the project is developed and tested on Python 3.11"
    launcher = [args for word, args in dockerfile_instructions(DOCKERFILES[1]) if word == "FROM" and "launcher" in args]
    assert launcher and f"python{m[1]}{m[2]}-template-launcher-base:" in launcher[0], "launcher and workers must share one Python"
    assert not launcher[0].split()[0].endswith(":latest")


def test_language_id_check_of_the_image_passes_here():
    """The worker image's build runs this to prove the model ships in the package; so do we."""
    run = " ".join(args for word, args in dockerfile_instructions(REPO_ROOT / "Dockerfile") if word == "RUN")
    (snippet,) = re.findall(r'python -c "([^"]+)"', run)
    assert "load_fasttext" in snippet
    subprocess.run([sys.executable, "-c", snippet], cwd=REPO_ROOT, check=True, timeout=120)


# --- submit scripts ----------------------------------------------------------


@pytest.mark.parametrize(
    "env, args",
    [
        ({}, []),
        (
            {
                "IMAGE": "us-central1-docker.pkg.dev/my-project/winnow/winnow:1",
                "THREADS": "2",
                "EXPERIMENTS": "enable_prime",
                "INPUT": "gs://my-bucket/a/ gs://my-bucket/b/*.jsonl",
            },
            ["--config", "my.yaml", "--dry-run"],
        ),
    ],
)
def test_dataflow_script_command_parses(env, args):
    argv = script_command("submit_dataflow.sh", {**DATAFLOW_ENV, **env}, *args)
    assert score_command_problems(argv) == []
    parsed, beam_args = cli.build_parser().parse_known_args(argv[1:])
    assert parsed.inputs == (env.get("INPUT") or DATAFLOW_ENV["INPUT"]).split()
    assert PipelineOptions(beam_args).view_as(StandardOptions).runner == "DataflowRunner"
    if "IMAGE" in env:
        assert env["IMAGE"] in beam_args and "--setup_file" not in beam_args
    else:
        assert Path(beam_args[beam_args.index("--setup_file") + 1]) == REPO_ROOT / "setup.py"


@pytest.mark.parametrize(
    "env",
    [
        {"IMAGE": "registry.example.com/winnow:1", "JOB_SERVER_JAR": "/opt/beam-runners-flink-1.20-job-server-2.77.0.jar"},
        {
            "ENVIRONMENT": "EXTERNAL",
            "FLINK_VERSION": "2.0",
            "PARALLELISM": "16",
            "UBER_JAR": "0",
            "ARTIFACTS_DIR": "gs://my-bucket/artifacts",
        },
        {"ENVIRONMENT": "PROCESS"},
    ],
)
def test_flink_script_command_parses(env):
    argv = script_command("submit_flink.sh", {**FLINK_ENV, **env})
    assert score_command_problems(argv) == []
    _, beam_args = cli.build_parser().parse_known_args(argv[1:])
    options = PipelineOptions(beam_args).get_all_options()
    assert options["runner"] == "FlinkRunner"
    assert options["environment_type"] == env.get("ENVIRONMENT", "DOCKER")
    assert options["flink_job_server_jar"] == env.get("JOB_SERVER_JAR")
    assert options["flink_submit_uber_jar"] == (env.get("UBER_JAR", "1") == "1")
    assert options["artifacts_dir"] == env.get("ARTIFACTS_DIR")


@pytest.mark.parametrize(
    "script, env, missing",
    [
        ("submit_dataflow.sh", {**DATAFLOW_ENV, "PROJECT": ""}, "PROJECT"),
        ("submit_flink.sh", FLINK_ENV, "IMAGE"),
        ("submit_flink.sh", {**FLINK_ENV, "ENVIRONMENT": "DOKER"}, "ENVIRONMENT"),
    ],
)
def test_scripts_refuse_incomplete_settings(script, env, missing):
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / script)],
        env={"PATH": os.environ["PATH"], **env, "WINNOW_PRINT_ONLY": "1"},
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and missing in done.stderr


def test_build_script_uses_the_repository_files():
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "build_flex_template.sh")],
        env={
            "PATH": os.environ["PATH"],
            "PROJECT": "my-project",
            "BUCKET": "my-bucket",
            "REPOSITORY": "winnow",
            "WINNOW_PRINT_ONLY": "1",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    paths = [t for t in shlex.split(done.stdout) if t.startswith(str(REPO_ROOT))]
    assert {REPO_ROOT / "Dockerfile", DOCKERFILES[1], REPO_ROOT / "templates" / "dataflow" / "metadata.json"} <= {
        Path(p) for p in paths
    }
    assert all(Path(p).exists() for p in paths)


# --- the Flex Template -------------------------------------------------------


def test_flex_parameters_translate_to_the_same_args_as_the_cli():
    template = [
        "--input=gs://my-bucket/a/,gs://my-bucket/b/*.jsonl",
        "--output=gs://my-bucket/runs/r1",
        "--config=gs://my-bucket/c.yaml",
        "--format=sharegpt",
        "--quality_model=gs://my-bucket/q.bin",
        "--overwrite=true",
        "--runner=DataflowRunner",
        "--project=my-project",
        "--region=us-central1",
    ]
    by_hand = [
        "score",
        "gs://my-bucket/a/",
        "gs://my-bucket/b/*.jsonl",
        "--output",
        "gs://my-bucket/runs/r1",
        "--config",
        "gs://my-bucket/c.yaml",
        "--format",
        "sharegpt",
        "--quality-model",
        "gs://my-bucket/q.bin",
        "--overwrite",
        "--runner=DataflowRunner",
        "--project=my-project",
        "--region=us-central1",
    ]
    parser = cli.build_parser()
    assert parser.parse_known_args(flex_main.score_argv(template)) == parser.parse_known_args(by_hand)
    minimal = flex_main.score_argv(["--input=gs://my-bucket/a/", "--output=gs://my-bucket/r", "--overwrite=false"])
    assert parser.parse_known_args(minimal) == parser.parse_known_args(
        ["score", "gs://my-bucket/a/", "--output", "gs://my-bucket/r"]
    )


def test_flex_workers_default_to_the_template_image(monkeypatch):
    params = ["--input=gs://my-bucket/a/", "--output=gs://my-bucket/r"]
    monkeypatch.delenv(flex_main.WORKER_IMAGE_ENV, raising=False)
    assert not any("sdk_container_image" in a for a in flex_main.score_argv(params))
    monkeypatch.setenv(flex_main.WORKER_IMAGE_ENV, "reg/winnow:1")
    assert "--sdk_container_image=reg/winnow:1" in flex_main.score_argv(params)
    assert flex_main.score_argv([*params, "--sdk_container_image=reg/other:2"]).count("--sdk_container_image=reg/other:2") == 1
    assert not any("reg/winnow:1" in a for a in flex_main.score_argv([*params, "--sdk_container_image=reg/other:2"]))
    template_env = dict(re.findall(r"(\w+)=(\S+)", " ".join(a for w, a in dockerfile_instructions(DOCKERFILES[1]) if w == "ENV")))
    assert template_env[flex_main.WORKER_IMAGE_ENV] == "${WORKER_IMAGE}"
    launched = template_env["FLEX_TEMPLATE_PYTHON_PY_FILE"]
    copied = [a.split() for w, a in dockerfile_instructions(DOCKERFILES[1]) if w == "COPY" and not a.startswith("--from")]
    assert [src for src, dest in copied if dest == launched] == ["templates/dataflow/main.py"]
    assert (REPO_ROOT / "templates" / "dataflow" / "main.py").exists()


def test_metadata_parameters_are_what_the_launcher_accepts():
    accepted = flex_main.template_parameters()
    for p in METADATA["parameters"]:
        name = p["name"]
        assert {"name", "label", "helpText"} <= set(p), name
        if name in accepted:
            assert accepted[name] == (not p.get("isOptional", False)), f"{name}: required must agree with flex_main"
        else:
            assert not cli.unknown_beam_flags([f"--{name}=x"]), f"{name} is neither a template parameter nor a Beam option"
            assert p.get("isOptional"), f"{name}: Beam options are optional"
        example = p["helpText"].rsplit("Example: ", 1)[1]
        for regex in p.get("regexes", []):
            assert re.fullmatch(regex, example), f"{name}: its own example {example!r} fails {regex}"
    assert {n for n, req in accepted.items() if req} <= {p["name"] for p in METADATA["parameters"]}
    formats = next(
        a.choices for a in cli.build_parser()._subparsers._group_actions[0].choices["score"]._actions if a.dest == "format"
    )
    (format_regex,) = next(p for p in METADATA["parameters"] if p["name"] == "format")["regexes"]
    assert set(re.fullmatch(r"\^\((.*)\)\$", format_regex)[1].split("|")) == set(formats)


# --- commands shown in the README and the CLI help ---------------------------


def code_blocks(text: str, langs: tuple[str, ...] = ("bash", "sh", "shell")) -> list[str]:
    """Fenced code blocks whose language is one of `langs`."""
    blocks, lang, lines = [], None, []
    for line in text.splitlines():
        if line.startswith("```"):
            if lang is None:
                lang, lines = line[3:].strip(), []
            else:
                if lang in langs:
                    blocks.append("\n".join(lines) + "\n")
                lang = None
        elif lang is not None:
            lines.append(line)
    return blocks


def shell_commands(block: str) -> list[tuple[dict[str, str], list[str]]]:
    """(leading VAR=value assignments, tokens) of each command in a shell snippet."""
    out = []
    for line in re.sub(r"\\\n\s*", " ", block).splitlines():
        lex = shlex.shlex(line, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        lex.commenters = "#"
        command: list[str] = []
        for token in [*lex, "&&"]:
            if token in ("&&", ";", "|", "||"):
                env = {}
                while command and re.fullmatch(r"[A-Z_]+=.*", command[0]):
                    key, _, value = command.pop(0).partition("=")
                    env[key] = value
                if command:
                    out.append((env, command))
                command = []
            else:
                command.append(token)
    return out


def readme_commands() -> list[tuple[dict[str, str], list[str]]]:
    return [c for block in code_blocks(README) for c in shell_commands(block)]


def test_readme_winnow_score_commands_parse():
    scored = [argv for _, argv in readme_commands() if argv[:2] == ["winnow", "score"]]
    runners = set()
    for argv in scored:
        assert score_command_problems(argv) == [], shlex.join(argv)
        runners.add(PipelineOptions(cli.build_parser().parse_known_args(argv[1:])[1]).view_as(StandardOptions).runner)
    assert {"DataflowRunner", "FlinkRunner"} <= runners, "the README shows a Dataflow and a Flink command"


def test_readme_script_commands_parse():
    shown = {"submit_dataflow.sh": 0, "submit_flink.sh": 0, "build_flex_template.sh": 0}
    for env, argv in readme_commands():
        script = Path(argv[0]).name
        if script not in shown:
            continue
        assert argv[0] == f"scripts/{script}", argv
        shown[script] += 1
        if script == "build_flex_template.sh":
            subprocess.run(
                ["bash", str(REPO_ROOT / argv[0]), *argv[1:]],
                env={"PATH": os.environ["PATH"], **env, "WINNOW_PRINT_ONLY": "1"},
                capture_output=True,
                check=True,
            )
        else:
            assert score_command_problems(script_command(script, env, *argv[1:])) == [], shlex.join(argv)
    assert all(shown.values()), shown


def test_readme_flex_template_launches_use_the_template_parameters():
    names = {p["name"]: p for p in METADATA["parameters"]}

    def check(params: dict[str, str]) -> None:
        for required in (n for n, p in names.items() if not p.get("isOptional")):
            assert required in params
        for name, value in params.items():
            assert name in names, f"{name} is not a template parameter"
            assert all(re.fullmatch(r, value) for r in names[name].get("regexes", [])), f"{name}={value}"

    runs = [argv for _, argv in readme_commands() if argv[:4] == ["gcloud", "dataflow", "flex-template", "run"]]
    assert runs
    for argv in runs:
        check(dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--parameters"))
    bodies = [json.loads(b) for b in code_blocks(README, ("json",)) if "launchParameter" in b]
    assert bodies, "the README shows the REST launch body"
    for body in bodies:
        assert {"jobName", "containerSpecGcsPath", "parameters"} <= set(body["launchParameter"])
        check(body["launchParameter"]["parameters"])
    posts = [argv for _, argv in readme_commands() if argv[0] == "curl"]
    assert any(re.search(r"/v1b3/projects/[^/]+/locations/[^/]+/flexTemplates:launch$", a) for argv in posts for a in argv)


def test_readme_worker_pool_command_uses_real_flags():
    pools = [argv for _, argv in readme_commands() if "apache_beam.runners.worker.worker_pool_main" in argv]
    assert pools
    usage = subprocess.run(
        [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for argv in pools:
        for flag in (a.split("=")[0] for a in argv if a.startswith("--")):
            assert flag in usage, flag


def test_cli_epilog_commands_parse():
    epilog = re.sub(r"\\\n\s*", " ", cli.SCORE_EPILOG)
    commands = [shlex.split(line.strip()) for line in epilog.splitlines() if line.strip().startswith("winnow score")]
    assert len(commands) >= 2
    for argv in commands:
        assert score_command_problems(argv) == [], shlex.join(argv)


def test_lsh_partition_memory_matches_the_readme_formula(tmp_path):
    """README, Sizing: (bands + 1) entries of 32 bytes per row on disk, ~145 bytes per entry at peak."""
    import tracemalloc

    import numpy as np

    from winnow.transforms.dedup import lsh, minhash, spill

    bands, rows = minhash.optimal_bands(0.3, 128)
    assert bands == 37 and "37 at the" in README
    rng = np.random.default_rng(0)
    n = 20_000
    sigs = rng.integers(0, 2**32 - 1, size=(n, 128), dtype=np.uint64).astype(np.uint32)
    sigs[: n // 10] = sigs[rng.integers(0, n, n // 10)]  # some copies, so buckets collide
    keys = np.arange(n, dtype=np.int64)
    writer = spill.SpillWriter(str(tmp_path), "s0")
    for part, entries in lsh.band_entries(keys, sigs, keys.astype(np.uint64), bands, rows, 1, sigs).items():
        writer.add(part, entries)
    writer.flush()
    tracemalloc.start()
    try:
        entries = spill.read_partition(str(tmp_path), 0, 4)
        lsh.candidate_pairs(entries)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(entries) == n * (bands + 1) and entries.nbytes == 32 * len(entries)
    assert 120 <= peak / len(entries) <= 170, f"{peak / len(entries):.0f} bytes per entry: update README, Sizing"
