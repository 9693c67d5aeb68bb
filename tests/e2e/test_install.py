"""The distribution installs one top-level name, `winnow`, and runs from an installed wheel.

The wheel is built from the checkout (setuptools through PEP 517, as `pip
install .` does) and installed without dependencies into a fresh
virtualenv that borrows the test environment's packages, so nothing is
downloaded twice; then `winnow score samples/` runs from that venv, in a
directory that holds no checkout.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO_ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO_ROOT), "--no-deps", "-q", "-w", str(out)], check=True)
    (found,) = out.glob("winnow-*.whl")
    return found


def test_wheel_holds_winnow_alone(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    version = wheel.name.split("-")[1]
    assert tops == {"winnow", f"winnow-{version}.dist-info"}
    top_level = next(n for n in names if n.endswith("top_level.txt"))
    assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["winnow"]
    for needed in (
        "winnow/__main__.py",
        "winnow/pipelines/cli.py",
        "winnow/transforms/signals/registry.py",
        "winnow/configs/default.yaml",
        "winnow/configs/rules/instruction.yaml",
        "winnow/configs/taxonomy/general.yaml",
    ):
        assert needed in names


def test_installed_wheel_scores_the_samples(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The test environment's dependencies (apache-beam, pyarrow, ...), after the new venv's own packages.
    Path(purelib, "borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # --ignore-installed: the borrowed packages include the test environment's own (editable) winnow.
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--ignore-installed", "-q", str(wheel)], check=True, env=env
    )
    installed = sorted(
        p.name for p in Path(purelib).iterdir() if not p.name.endswith((".pth", ".dist-info")) and p.name != "__pycache__"
    )
    assert "winnow" in installed and not {"pipelines", "transforms", "configs"} & set(installed)
    where = subprocess.run(
        [str(python), "-c", "import winnow, winnow.configs; print(winnow.__file__)"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    assert where.startswith(purelib)
    run = subprocess.run(
        [str(venv / "bin" / "winnow"), "score", str(REPO_ROOT / "samples"), "--output", "out", "--overwrite"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert record["rows_read"] == record["rows_scored"] + record["rows_rejected"] > 0
    assert "WARNING apache_beam" not in run.stderr  # Beam's worker chatter stays silent by default
    module = subprocess.run([str(python), "-m", "winnow", "--help"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert module.returncode == 0 and "score" in module.stdout
