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


def test_a_shard_rescored_for_its_clusters_is_redecided_from_stored_scores_in_gcs(bucket, tmp_path, no_credentials_file):
    """The state in gs://: an unchanged shard holding the copy of a kept row whose answer changed is re-decided
    from the stored scores (server-side copies, globbed side files), and its copy becomes the kept row. Its copy
    of another kept row, whose cluster did not change, stays that row's copy (carried from last night)."""
    base = rows(20, seed=0)
    bucket.blob("corpus2/shard0.jsonl").upload_from_string(jsonl_bytes(base))
    shard1 = [{**base[3], "id": "zz-copy"}, {**base[7], "id": "zz-copy-7"}, *rows(5, seed=9)]
    bucket.blob("corpus2/shard1.jsonl").upload_from_string(jsonl_bytes(shard1))
    bucket.blob("corpus2/shard2.jsonl").upload_from_string(jsonl_bytes(rows(10, seed=8)))  # stays reused
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)

    def night(name: str) -> dict:
        argv = ["score", f"gs://{BUCKET}/corpus2/", "--output", f"gs://{BUCKET}/runs2/{name}", "--state", f"gs://{BUCKET}/state2"]
        assert main([*argv, "--config", str(config)]) == 0
        return json.loads(bucket.blob(f"runs2/{name}/run.json").download_as_bytes())["nightly"]

    night("n1")
    assert {r["id"]: r["keep"] for r in _table(bucket, "runs2/n1/duplicates/")} == {
        "0-3": True,
        "zz-copy": False,
        "0-7": True,
        "zz-copy-7": False,
    }
    edited = {**base[3], "output": "Another answer entirely, with words of its own about " + base[5]["instruction"]}
    bucket.blob("corpus2/shard0.jsonl").upload_from_string(jsonl_bytes([edited if r["id"] == "0-3" else r for r in base]))
    n2 = night("n2")
    rescored = {r["shard"]: r for r in n2["rescored"]}
    assert set(rescored) == {"shard0.jsonl", "shard1.jsonl"} and "scores" in rescored["shard1.jsonl"]
    records = {r["id"]: r for r in _table(bucket, "runs2/n2/records/")}
    assert [r["shard"] for r in n2["reused"]] == ["shard2.jsonl"]
    assert len(records) == 37 and records["zz-copy"]["keep"] is True and records["zz-copy"]["drop_reasons"] == []
    assert records["zz-copy-7"]["keep"] is False and records["zz-copy-7"]["drop_reasons"] == ["near_duplicate_of:0-7"]
    assert {r["id"]: (r["keep"], r["kept_id"]) for r in _table(bucket, "runs2/n2/duplicates/")} == {
        "0-7": (True, "0-7"),
        "zz-copy-7": (False, "0-7"),
    }
