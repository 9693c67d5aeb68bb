"""Helpers shared by the test tree: paths, row builders, file writers, canonical
batches, `winnow score` and readers of its outputs, and the labelled corpus with
the fastText models trained on it.

Test modules import the plain helpers with `from conftest import ...` (tests/
holds this file and no __init__.py, so pytest puts tests/ on sys.path);
fixtures defined here need no import. winnow modules are imported inside the
helpers, so a module that fails to import fails only the tests that use it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import random
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = str(REPO_ROOT / "samples")
SHARED_DATA = str(REPO_ROOT.parent / "shared" / "data")  # real corpora next to the checkout, when present


# ---- row builders: one exchange in each input format ---------------------------------
#
# `id_` first; a falsy id leaves the `id` field out (the row's id is then shard:row).


def alpaca(id_: str | None, instruction: str, output: str, **extra: Any) -> dict:
    row = {"instruction": instruction, "input": extra.pop("input", ""), "output": output, **extra}
    return {"id": id_, **row} if id_ else row


def sharegpt(id_: str | None, instruction: str, output: str, system: str = "", roles=("human", "gpt")) -> dict:
    conv = ([{"from": "system", "value": system}] if system else []) + [
        {"from": roles[0], "value": instruction},
        {"from": roles[1], "value": output},
    ]
    return {"id": id_, "conversations": conv} if id_ else {"conversations": conv}


def openai(id_: str | None, instruction: str, output: str, system: str = "") -> dict:
    msgs = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": instruction},
        {"role": "assistant", "content": output},
    ]
    return {"id": id_, "messages": msgs} if id_ else {"messages": msgs}


def text_row(id_: str | None, text: str | None) -> dict:
    return {"id": id_, "text": text}


# ---- writing input files ----------------------------------------------------------------


def write_file(path, data: bytes | str) -> str:
    """Write bytes (or UTF-8 text) to `path`, creating its directory; returns the path as a string."""
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(path, "wb") as f:
        f.write(data)
    return path


def jsonl_bytes(rows: list[Any]) -> bytes:
    """Rows as compact JSON lines (orjson)."""
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


def write_jsonl(path, rows: list[Any]) -> str:
    """One line per row: a str is written as the line itself (e.g. broken JSON), anything else as json.dumps."""
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return str(path)


def write_files(directory, files: dict[str, list], row_group_size: int | None = None) -> str:
    """Rows per file name, in the layout the name says.

    .parquet: a table (its columns are the first row's keys); .json: one JSON
    array; anything else JSON lines, gzipped for .gz, where a str is the raw
    line and None a blank line.
    """
    import gzip

    directory = str(directory)
    os.makedirs(directory, exist_ok=True)
    for name, rows in files.items():
        path = os.path.join(directory, name)
        if name.endswith(".parquet"):
            pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=row_group_size)
        elif name.endswith(".json"):
            with open(path, "w", encoding="utf-8") as f:
                json.dump(rows, f, ensure_ascii=False, indent=1)
        else:
            lines = "".join(
                ("" if v is None else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)) + "\n" for v in rows
            ).encode()
            with gzip.open(path, "wb") if name.endswith(".gz") else open(path, "wb") as f:
                f.write(lines)
    return directory


# ---- canonical batches --------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _default_fields():
    from winnow.transforms.config import load_config
    from winnow.transforms.io.formats import FieldMap

    return FieldMap.from_config(load_config())


def normalize(rows: list[Any], name: str = "data.jsonl", index: int = 0, config: Any = None) -> tuple[pa.RecordBatch, list[dict]]:
    """Row values normalized as shard `name` (number `index`): (canonical batch, dead letters)."""
    from winnow.transforms.io.canonical import normalize_rows
    from winnow.transforms.io.formats import FieldMap
    from winnow.transforms.io.inputs import Shard
    from winnow.transforms.io.readers import RawRow

    fields = _default_fields() if config is None else FieldMap.from_config(config)
    raw = [RawRow(i, r, None, "") for i, r in enumerate(rows)]
    return normalize_rows(raw, Shard(index, f"/data/{name}", name, 0), fields)


def canonical_batch(rows: list[Any], name: str = "data.jsonl", index: int = 0, config: Any = None) -> pa.RecordBatch:
    """The canonical batch of rows that must all map (no dead letters)."""
    from winnow.transforms.schema import CANONICAL

    batch, rejected = normalize(rows, name, index, config)
    assert rejected == [], rejected
    assert batch.num_rows == len(rows)
    assert batch.schema == CANONICAL
    return batch


# ---- near-duplicates ------------------------------------------------------------------------


def dedup_params(num_perm: int, **dedup: Any):
    """DedupParams of the default config with num_perm and other `dedup` settings overridden."""
    from winnow.transforms.config import load_config
    from winnow.transforms.dedup.params import DedupParams

    return DedupParams.from_config(load_config(overrides={"dedup": {"num_perm": num_perm, **dedup}}))


def union_find(edges) -> dict[int, int]:
    """Reference connected components of an (n, 2) edge array: node -> smallest node of its component."""
    parent: dict[int, int] = {}

    def find(x):
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in edges.tolist():
        if a == b:
            continue
        for x in (a, b):
            parent.setdefault(x, x)
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)  # the root is always the smallest node
    return {x: find(x) for x in parent}


# ---- running `winnow score` and reading what it wrote ------------------------------------


def score(inputs: str | list[str], out, *flags: str, config: dict | str | None = None) -> int:
    """`winnow score INPUTS --output OUT FLAGS`; returns the exit code.

    A `config` (a dict, or YAML text) is written next to OUT, as OUT.yaml, and passed with --config.
    """
    from winnow.pipelines.cli import main

    out = str(out)
    args = ["score", *([inputs] if isinstance(inputs, str | Path) else inputs), "--output", out, *flags]
    args = [str(a) for a in args]
    if config is not None:
        cfg = os.path.join(os.path.dirname(out), os.path.basename(out) + ".yaml")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(config if isinstance(config, str) else json.dumps(config))  # JSON is YAML
        args += ["--config", cfg]
    return main(args)


def read_table(out, part: str) -> pa.Table:
    """All Parquet files of one output directory (records, rejected, duplicates) as one table."""
    return ds.dataset(os.path.join(str(out), part), format="parquet").to_table()


def _by_id(table: pa.Table) -> dict[str, dict]:
    rows = table.to_pylist()
    out = {r["id"]: r for r in rows}
    assert len(out) == len(rows), "an id appears twice"
    return out


def read_records(out, by_id: bool = False) -> pa.Table | dict[str, dict]:
    """records/ as a table, or as {id: row} (ids must be unique)."""
    table = read_table(out, "records")
    return _by_id(table) if by_id else table


def read_rejected(out) -> pa.Table:
    return read_table(out, "rejected")


def read_duplicates(out, by_id: bool = False) -> pa.Table | dict[str, dict]:
    """duplicates/ as a table, or as {id: row} (a row appears there at most once)."""
    table = read_table(out, "duplicates")
    return _by_id(table) if by_id else table


def read_shards(out) -> pa.Table:
    """summary/shards.parquet."""
    return pq.read_table(os.path.join(str(out), "summary", "shards.parquet"))


def read_json(out, *path: str) -> dict:
    with open(os.path.join(str(out), *path), encoding="utf-8") as f:
        return json.load(f)


def read_run_json(out) -> dict:
    return read_json(out, "run.json")


def read_dataset_json(out) -> dict:
    return read_json(out, "summary", "dataset.json")


# ---- Cloud Storage ---------------------------------------------------------------------------


@pytest.fixture
def no_credentials_file() -> Iterator[None]:
    """GOOGLE_APPLICATION_CREDENTIALS unset during the test and restored after it."""
    from winnow.pipelines.storage_emulator import CREDENTIALS_ENV

    saved = os.environ.pop(CREDENTIALS_ENV, None)
    try:
        yield
    finally:
        os.environ.pop(CREDENTIALS_ENV, None)
        if saved is not None:
            os.environ[CREDENTIALS_ENV] = saved


# ---- a labelled corpus and the fastText models trained on it -------------------------------
#
# Used by the classifier tests: train-quality, the batch helpers of
# winnow.transforms.signals.classifiers, config checks and `winnow score` with classifiers.

TASKS = [
    "bake sourdough bread",
    "repot a houseplant",
    "learn a new language",
    "prepare for a job interview",
    "start running regularly",
    "organize a small kitchen",
    "write a cover letter",
    "save money on groceries",
    "care for a cast iron pan",
    "plan a weekend hiking trip",
    "improve my sleep",
    "study for a chemistry exam",
    "paint a bedroom wall",
    "train a puppy to sit",
    "back up my laptop",
    "brew better coffee at home",
    "grow tomatoes on a balcony",
    "reduce screen time",
    "clean a bicycle chain",
    "make a monthly budget",
]
OPENERS = [
    "To {t}, begin by",
    "If you want to {t}, start by",
    "The easiest way to {t} is to start by",
    "When you {t}, begin by",
    "A reliable way to {t} is to start by",
]
STEPS = [
    "gathering the tools you will need and reading the instructions carefully",
    "setting a clear goal and writing down each step in a short plan",
    "choosing a quiet time of day when you can focus without interruptions",
    "checking what you already have so that you do not buy anything twice",
    "breaking the work into small parts that you can finish in one session",
    "asking someone with experience for advice before you commit to a method",
    "measuring carefully and keeping notes about what worked and what did not",
    "preparing the space so that everything is within easy reach",
]
THENS = ["Next,", "After that,", "Then,", "Once that is done,", "In the second step,"]
MIDDLES = [
    "practice a little every day, because steady habits matter more than long sessions",
    "review your progress each week and adjust the plan where it feels too hard",
    "keep the process simple, since extra complexity rarely improves the result",
    "follow the recommended order, which prevents the most common mistakes",
    "take short breaks so that you stay patient and attentive",
    "compare your result with a trusted guide and correct small problems early",
]
CLOSERS = [
    "Finally, remember that mistakes are normal and each attempt teaches you something useful.",
    "With this approach you will see steady improvement within a few weeks.",
    "In summary, a calm and consistent routine usually gives the best outcome.",
    "This method works well for beginners and is easy to adapt as you gain confidence.",
    "If anything is unclear, a local class or a good book can help you go further.",
]
SPAM = [
    "best",
    "cheap",
    "buy",
    "now",
    "free",
    "deal",
    "click",
    "here",
    "price",
    "discount",
    "offer",
    "win",
    "sale",
    "promo",
    "casino",
    "bonus",
]
SYLLABLES = ["zx", "qv", "kr", "pt", "uu", "wq", "jj", "xo", "vv", "gh", "qz", "yy"]
SHORT = ["ok", "idk", "sure", "maybe", "yes", "no", "fine", "whatever", "dunno", "k"]


@contextlib.contextmanager
def storage_emulator_bucket(name: str):
    """An in-process Cloud Storage emulator with one bucket; STORAGE_EMULATOR_HOST set (and no
    credentials file) while it runs. Soft delete is off: the emulator keeps a copy of every deleted
    object under GCS's default 7-day soft delete and rewrites its index on each request."""
    from gcp_storage_emulator.server import create_server
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from winnow.pipelines.storage_emulator import CREDENTIALS_ENV, EMULATOR_ENV

    emulator_log = logging.getLogger("gcp_storage_emulator")
    old_level = emulator_log.level
    emulator_log.setLevel(logging.ERROR)  # it warns on every response it sends
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    saved = {k: os.environ.get(k) for k in (EMULATOR_ENV, CREDENTIALS_ENV)}
    os.environ[EMULATOR_ENV] = f"http://127.0.0.1:{port}"
    os.environ.pop(CREDENTIALS_ENV, None)
    try:
        bucket = storage.Client(project="test", credentials=AnonymousCredentials()).create_bucket(name)
        bucket.soft_delete_policy.retention_duration_seconds = 0
        bucket.patch()
        yield bucket
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()
        emulator_log.setLevel(old_level)


def good_answer(rng: random.Random, task: str) -> str:
    a, b = rng.sample(STEPS, 2)
    return (
        f"{rng.choice(OPENERS).format(t=task)} {a}. {rng.choice(THENS)} {rng.choice(MIDDLES)}. "
        f"It also helps to keep {b.split(' ', 1)[1]}. {rng.choice(CLOSERS)}"
    )


def garbled(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(SYLLABLES) + rng.choice(SYLLABLES) for _ in range(n))


def bad_answer(rng: random.Random, i: int) -> str:
    kind = i % 3
    if kind == 0:
        return " ".join(rng.choice(SPAM) for _ in range(rng.randint(12, 30))) + "!!!"
    if kind == 1:
        return garbled(rng, rng.randint(8, 25))
    return rng.choice(SHORT)


def labelled_rows(n: int = 200, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """n good and n bad alpaca rows; both sides ask the same kinds of question."""
    rng = random.Random(seed)
    good, bad = [], []
    for i in range(n):
        task = rng.choice(TASKS)
        good.append({"id": f"g{i}", "instruction": f"How do I {task}?", "input": "", "output": good_answer(rng, task)})
        task = rng.choice(TASKS)
        bad.append({"id": f"b{i}", "instruction": f"How do I {task}?", "input": "", "output": bad_answer(rng, i)})
    return good, bad


def train_quality_model(args: list[str]) -> int:
    """`winnow train-quality` with small, fast settings."""
    from winnow.pipelines.cli import main

    # Word n-grams 1: no 2M-bucket n-gram table, so a model is kilobytes, not hundreds of megabytes.
    return main(["train-quality", "--epoch", "15", "--dim", "16", "--word-ngrams", "1", *args])


def card_of(model: str) -> dict:
    """The model card written next to a trained model."""
    with open(model + ".card.json") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def labelled_corpus(tmp_path_factory) -> tuple[str, str]:
    """(good.jsonl, bad.jsonl): 200 rows each."""
    d = tmp_path_factory.mktemp("labelled")
    good, bad = labelled_rows()
    return write_jsonl(d / "good.jsonl", good), write_jsonl(d / "bad.jsonl", bad)


@pytest.fixture(scope="session")
def quality_model(labelled_corpus, tmp_path_factory) -> str:
    """A model reading the whole conversation (what --quality-model uses)."""
    pos, neg = labelled_corpus
    path = str(tmp_path_factory.mktemp("model") / "quality.bin")
    assert train_quality_model(["--positive", pos, "--negative", neg, "--output", path]) == 0
    return path


@pytest.fixture(scope="session")
def response_model(labelled_corpus, tmp_path_factory) -> str:
    """A model reading responses only."""
    pos, neg = labelled_corpus
    path = str(tmp_path_factory.mktemp("model") / "response.bin")
    assert train_quality_model(["--positive", pos, "--negative", neg, "--text", "response", "--output", path]) == 0
    return path


# The sections issue 14 asks of report.html, by element id (the report tests check each is there).
REPORT_SECTIONS = (
    "overview",
    "sources",
    "signals",
    "whatif",
    "rules",
    "languages",
    "duplicates",
    "diversity",
    "examples",
    "rejected",
    "drift",
)
