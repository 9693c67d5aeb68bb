"""Nightly runs with the corpus, the run directories and the state in gs:// (the Cloud Storage emulator).

The corpus is generated here. A second night with no change reads no
input object (the manifest compares GCS generations and CRC32Cs from the
metadata), an object rewritten with the same bytes is reused without a
read, and a changed object is the only one re-scored.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import jsonl_bytes, storage_emulator_bucket
from google.cloud import storage
from test_nightly import rows

from winnow.pipelines.cli import main
from winnow.transforms.io import files
from winnow.transforms.state import fingerprints

pytestmark = pytest.mark.slow

BUCKET = "winnow-nightly-test"
CONFIG = "dedup:\n  partitions: 4\n"  # few spill files: few emulator round trips


@pytest.fixture(scope="module")
def bucket() -> Iterator[storage.Bucket]:
    with storage_emulator_bucket(BUCKET) as b:
        yield b


@pytest.fixture(autouse=True)
def fixed_code_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fingerprints, "code_digest", lambda: "test")


def _table(b: storage.Bucket, prefix: str) -> list[dict]:
    blobs = sorted(x.name for x in b.list_blobs(prefix=prefix) if x.name.endswith(".parquet"))
    tables = [pq.read_table(pa.BufferReader(b.blob(n).download_as_bytes())) for n in blobs]
    t = pa.concat_tables(tables) if tables else None
    return t.sort_by("key").to_pylist() if t is not None and t.num_rows else []


def test_nights_in_gcs_reuse_unchanged_objects_without_reading_them(bucket, tmp_path, monkeypatch, no_credentials_file):
    for s in range(3):
        bucket.blob(f"corpus/shard{s}.jsonl").upload_from_string(jsonl_bytes(rows(20, seed=s)))
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    reads: Counter = Counter()
    original = files.open_read

    def counting(path: str):  # type: ignore[no-untyped-def]
        if str(path).startswith(f"gs://{BUCKET}/corpus/"):
            reads[str(path).rsplit("/", 1)[1]] += 1
        return original(path)

    monkeypatch.setattr(files, "open_read", counting)

    def night(name: str) -> dict:
        argv = ["score", f"gs://{BUCKET}/corpus/", "--output", f"gs://{BUCKET}/runs/{name}", "--state", f"gs://{BUCKET}/state"]
        assert main([*argv, "--config", str(config)]) == 0
        return json.loads(bucket.blob(f"runs/{name}/run.json").download_as_bytes())["nightly"]

    night("n1")
    assert bucket.blob("state/CURRENT").exists()
    reads.clear()
    n2 = night("n2")
    assert reads == Counter() and len(n2["reused"]) == 3 and n2["rescored"] == []
    assert all("generation" in r["reason"] for r in n2["reused"])
    assert _table(bucket, "runs/n2/records/") == _table(bucket, "runs/n1/records/")
    # Rewritten with the same bytes: a new generation, the same CRC32C from the metadata, no read.
    bucket.blob("corpus/shard1.jsonl").upload_from_string(jsonl_bytes(rows(20, seed=1)))
    bucket.blob("corpus/shard2.jsonl").upload_from_string(jsonl_bytes(rows(25, seed=7)))
    reads.clear()
    n3 = night("n3")
    assert set(reads) == {"shard2.jsonl"}
    assert [r["shard"] for r in n3["rescored"]] == ["shard2.jsonl"]
    assert {r["shard"]: r["reason"] for r in n3["reused"]}["shard1.jsonl"].startswith("unchanged bytes")
    assert len(_table(bucket, "runs/n3/records/")) == 20 + 20 + 25
