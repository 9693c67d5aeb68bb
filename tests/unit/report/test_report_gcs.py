"""`winnow report` on a gs:// run, against the in-process Cloud Storage emulator (no pipeline run)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from conftest import storage_emulator_bucket
from google.cloud import storage
from report_fixtures import make_run

from winnow.pipelines.cli import main
from winnow.transforms.report.data import read_run
from winnow.transforms.report.render import render_report

BUCKET = "winnow-report-test"


@pytest.fixture(scope="module")
def bucket() -> Iterator[storage.Bucket]:
    with storage_emulator_bucket(BUCKET) as b:
        yield b


def test_a_gs_run_gets_the_same_report_as_its_local_copy(bucket, tmp_path):
    local = make_run(str(tmp_path / "run"), rows=1500, shards=3, payload=True)
    for root, _, names in os.walk(local):
        for name in names:
            path = os.path.join(root, name)
            bucket.blob("runs/a/" + os.path.relpath(path, local)).upload_from_filename(path)
    assert main(["report", f"gs://{BUCKET}/runs/a"]) == 0
    written = bucket.blob("runs/a/report.html").download_as_bytes()
    assert written == render_report(read_run(local))
    assert (
        main(["report", f"gs://{BUCKET}/runs/a", "--compare", f"gs://{BUCKET}/runs/a", "--output", f"gs://{BUCKET}/d.html"]) == 0
    )
    assert re.search(rb": 0 of \d+ statistics moved", bucket.blob("d.html").download_as_bytes())  # nothing, against itself
