"""The same corpus gives the same outputs on every runner.

One corpus, written here, is scored four times: DirectRunner with one
worker, the default for small inputs (one process, clusters found in
memory), DirectRunner multi_processing with 2 workers, and the portable
path that Flink and Dataflow Runner v2 use
(PortableRunner with the embedded job server and LOOPBACK workers). The
corpus holds what could come out differently when work is spread: four
files in four layouts, several formats, dead letters, rows in Chinese, rule
hits, and exact and near duplicates whose clusters span files; the two
larger files are read in several parts (input.split_bytes), so one shard's
statistics are merged from parts scored by different workers.

Outputs are compared after sorting: records, rejected and duplicates,
per-shard and dataset statistics, quantile sketches included, exactly
(tests/e2e/test_determinism.py checks that files have the same bytes too).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import alpaca, openai, read_json, read_shards, read_table, score, sharegpt, text_row, write_files

from winnow.transforms.summary.diversity import HyperLogLog
from winnow.transforms.summary.shard_stats import ShardStats, merge_all

pytestmark = pytest.mark.slow

PORTABLE_FLAGS = ["--runner", "PortableRunner", "--job_endpoint", "embed", "--environment_type", "LOOPBACK"]
RUNNERS = {
    "direct_1": ["--direct_num_workers=1"],
    # The default for a corpus this small: the whole job in one process, no spreading, clusters found in memory.
    "default_in_process": [],
    "multi_processing": ["--direct_num_workers=2", "--direct_running_mode=multi_processing"],
    "portable": PORTABLE_FLAGS,
}
BASELINE = "direct_1"
SPLIT_BYTES = 6000  # chat.jsonl (~28 KB) and web.parquet (~17 KB) are read in several parts
OTHERS = [r for r in RUNNERS if r != BASELINE]

# ---- the corpus -------------------------------------------------------------------

_WORDS = (  # noqa: SIM905 - prose reads better than a list of words
    "river mountain lantern copper meadow pencil harbor orchard thunder velvet window basket compass galaxy "
    "marble pepper saddle tunnel violin walnut anchor blanket candle desert feather glacier hammer island jungle "
    "kettle ladder magnet needle oyster pillow quilt ribbon shovel tractor umbrella wagon yarn zebra beacon "
    "cobalt drizzle ember fossil gravel horizon ivory jigsaw lemon nectar olive puzzle quarry raven spider "
    "timber vortex willow yacht amber crimson scarlet silver golden purple gently quickly slowly bravely "
    "calmly eagerly softly loudly happily carefully builds carries finds opens paints counts follows measures"
).split()
_VERBS = ["Describe", "Explain", "List", "Summarize", "Compare", "Suggest", "Write", "Name", "Outline", "Give"]

# Base answers of near-duplicate groups are drawn from _WORDS; copies edit a few words.
_CHINESE = [
    (
        "请解释为什么秋天的树叶会变成黄色和红色。",
        "秋天白天变短，气温下降，树木逐渐停止制造叶绿素。叶绿素分解以后，原本被遮住的黄色和橙色色素就显露出来。"
        "有些树还会在叶子里合成花青素，所以叶子会变成红色或紫色。等到叶柄和树枝之间形成离层，叶子就会随风飘落。",
    ),
    (
        "用几句话介绍一下大熊猫的生活习性。",
        "大熊猫主要生活在中国西南部海拔较高的山区竹林里。它们每天要花十几个小时吃竹子，其余时间大多在休息和睡觉。"
        "大熊猫性格比较孤独，除了繁殖季节和育幼期以外，通常独自活动，并用气味标记自己的领地。",
    ),
    (
        "简单说明一下如何泡一壶好喝的绿茶。",
        "先用八十度左右的热水温一下茶壶，再放入适量的茶叶。水温不要太高，否则会把嫩叶烫熟，茶汤发苦。"
        "第一泡大约一分钟就可以倒出，之后每一泡适当延长时间，一壶好茶通常可以冲泡三到四次。",
    ),
]


def _sentence(rng: np.random.Generator, lo: int, hi: int) -> str:
    return " ".join(rng.choice(_WORDS, int(rng.integers(lo, hi))))


def _edit(text: str, rng: np.random.Generator, n: int) -> str:
    """A copy of `text` with `n` words replaced (a near duplicate)."""
    words = text.split()
    for i in rng.choice(len(words), n, replace=False):
        words[i] = "zigzag" + str(int(rng.integers(0, 1000)))
    return " ".join(words)


class Bad:
    """A planted bad row: what is written (a raw JSONL line or a JSON value) and the expected reason."""

    def __init__(self, written: Any, reason: str):
        self.written = written
        self.reason = reason


FILES = ("chat.jsonl", "mixed.jsonl.gz", "conversations.json", "web.parquet")


def corpus() -> dict[str, list]:
    """Items per file, in file order: row dicts, Bad rows, and None for a blank JSONL line."""
    rng = np.random.default_rng(20240611)
    chat, gz, arr, web = ([] for _ in FILES)
    files = dict(zip(FILES, (chat, gz, arr, web), strict=True))

    # Exact copies in three formats and three files (case and spacing fold into one content hash).
    q, a = "Give three reasons to learn a second language.", _sentence(rng, 40, 50)
    chat.append(alpaca("ex-1", q, a))
    gz.append(openai("ex-2", q, a))
    arr.append(sharegpt("ex-3", q, a))
    chat.append(alpaca(None, "  GIVE three reasons to learn a   second language. ", a))
    # Near copies of one answer across three files, and another group across two.
    for g in range(6):
        q, a = f"{_VERBS[g]} the {_WORDS[g]} and the {_WORDS[g + 7]} in a short paragraph.", _sentence(rng, 45, 60)
        chat.append(alpaca(f"nd{g}-a", q, a))
        gz.append(openai(f"nd{g}-b", q, _edit(a, rng, 2)))
        if g % 2 == 0:
            arr.append(sharegpt(f"nd{g}-c", q, _edit(a, rng, 3)))
        else:
            web.append(text_row(f"nd{g}-c", q + "\n\n" + _edit(a, rng, 3)))
    # Plain-text near duplicates (Parquet and JSONL).
    for g in range(3):
        t = _sentence(rng, 50, 70)
        web.append(text_row(f"tx{g}-a", t))
        web.append(text_row(None, _edit(t, rng, 2)))
        chat.append(text_row(f"tx{g}-c", _edit(t, rng, 1)))
    # Chinese rows, near copies across the gzip and JSON-array files.
    for k, (q, a) in enumerate(_CHINESE):
        gz.append(alpaca(f"zh{k}-a", q, a))
        arr.append(sharegpt(f"zh{k}-b", q, a.replace("以后", "之后").replace("通常", "往往").replace("大约", "差不多")))
    gz.append(
        openai(
            "zh-en",
            "请用英文回答：地球为什么有四季？",
            "The tilt of the axis changes how directly sunlight hits each hemisphere.",
        )
    )
    # Rule hits.
    chat.append(alpaca("r-empty", "Write a haiku about the first snow of winter.", ""))
    gz.append(openai("r-placeholder", "Summarize the attached meeting notes.", "<noinput>"))
    arr.append(
        sharegpt(
            "r-refusal", "Tell me a secret about the moon.", "I'm sorry, but I cannot help with that request about the moon."
        )
    )
    chat.append(alpaca("r-token", "Say goodbye nicely.", "Goodbye, and take care!<|im_end|>"))
    chat.append(
        alpaca(
            "r-placeholder-name",
            "Draft a short thank-you note to a colleague.",
            "Dear Sam, thank you for covering my shift last week. Best regards, [Your Name]",
        )
    )
    gz.append(
        alpaca(
            "r-truncated",
            "Describe how a bicycle gear works.",
            "A bicycle gear changes how far the wheel turns for each pedal stroke, and",
        )
    )
    arr.append(
        sharegpt(
            "r-repeat",
            "Write a motivational chant for a football team.",
            "\n".join(["We never stop, we never drop, we fight until the final whistle!"] * 8),
        )
    )
    chat.append(
        alpaca(
            "r-email",
            "How can readers reach the newsletter editor?",
            "Write to the editor at lena.moreau@example.org or call +44 20 7946 0958 on weekdays.",
        )
    )
    gz.append(
        openai(
            "r-python",
            "Show a Python function that doubles a number.",
            "Here it is:\n\n```python\ndef double(x:\n    return 2 * x\n```\n",
        )
    )
    arr.append(
        sharegpt(
            "r-german",
            "Explain in a few sentences why bread dough needs time to rise before baking.",
            "Die Hefe im Teig frisst den Zucker und bildet dabei Kohlendioxid, das den Teig langsam aufgehen "
            "lässt und ihm eine lockere Struktur gibt.",
        )
    )
    chat.append(
        alpaca("r-media", "<image> What animal is shown in this picture?", "It is a red fox.", images=["pics/missing-fox.png"])
    )
    web.append(text_row("r-escape", "Fish &amp; chips is a classic dish served with salt &amp; vinegar."))
    # Dead letters of several kinds.
    chat.append(Bad('{"instruction": "Name a planet", "output": ', "invalid_json"))
    chat.append(Bad(json.dumps({"instruction": 42, "input": "", "output": "forty-two"}), "wrong_type"))
    chat.append(Bad(json.dumps({"instruction": "Only a question, no answer."}), "missing_field"))
    gz.append(Bad("{not json at all}", "invalid_json"))
    gz.append(Bad(json.dumps({"messages": "hello"}), "wrong_type"))
    arr.append(Bad(17, "wrong_type"))
    arr.append(Bad(sharegpt(None, "Who is speaking?", "The narrator.", roles=("narrator", "gpt")), "unknown_role"))
    arr.append(Bad({"colour": "blue", "size": 3}, "unknown_format"))
    web.append(Bad(text_row(None, None), "missing_field"))
    # Filler: unrelated rows in every format, some without an id.
    for i in range(260):
        where = [chat, gz, arr, web][i % 4]
        q = f"{_VERBS[i % len(_VERBS)]} {_sentence(rng, 3, 12)}"
        a = _sentence(rng, 0 if i % 37 == 0 else 3, 60)
        id_ = f"f{i:03d}" if i % 5 else None
        if where is web:
            where.append(text_row(id_, q + ". " + a))
        elif where is arr:
            where.append(sharegpt(id_, q, a, system="You are a concise assistant." if i % 3 == 0 else ""))
        elif where is gz:
            where.append(openai(id_, q, a) if i % 2 else alpaca(id_, q, a, input=_sentence(rng, 0, 8)))
        else:
            where.append(alpaca(id_, q, a) if i % 3 else openai(id_, q, a))
    # Interleave, so that groups do not sit in consecutive rows; blank lines in the JSONL files.
    for name, items in files.items():
        order = np.random.default_rng(len(items)).permutation(len(items))
        items[:] = [items[k] for k in order]
        if name.endswith((".jsonl", ".jsonl.gz")):
            for at in (5, 40):
                items.insert(at, None)
    return files


def write_corpus(directory: str, files: dict[str, list]) -> None:
    values = {name: [i.written if isinstance(i, Bad) else i for i in items] for name, items in files.items()}
    # Small row groups: a reader that cuts Parquet between row groups gets several parts.
    write_files(directory, values, row_group_size=16)


def expected_outcome(files: dict[str, list]) -> tuple[dict[tuple[str, int], str], dict[tuple[str, int], str]]:
    """(shard, row) -> id for rows that should be scored, and -> reason for planted bad rows."""
    scored, rejected = {}, {}
    for name, items in files.items():
        for row, item in enumerate(items):
            if item is None:
                continue  # a blank line: numbered, not a row
            if isinstance(item, Bad):
                rejected[(name, row)] = item.reason
            else:
                scored[(name, row)] = item.get("id") or f"{name}:{row}"
    return scored, rejected


# ---- running ----------------------------------------------------------------------


class DeadCounters:
    """Stands in for Beam's Metrics: counters that drop every increment.

    The portable run uses it, so that run shows winnow's accounting and
    run.json come from its outputs, not from metric counters (which some
    runners report late, approximately or not at all).
    """

    def __init__(self):
        self.created: Counter = Counter()

    def counter(self, namespace: str, name: str):
        self.created[name] += 1
        return self

    def inc(self, n: int = 1) -> None:
        pass


@pytest.fixture(scope="module")
def corpus_files() -> dict[str, list]:
    return corpus()


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory, corpus_files) -> str:
    d = str(tmp_path_factory.mktemp("corpus") / "in")
    write_corpus(d, corpus_files)
    return d


@pytest.fixture(scope="module")
def dead_counters() -> DeadCounters:
    return DeadCounters()


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> str:
    """Files over SPLIT_BYTES are read in parts (JSONL by byte ranges, Parquet by row groups)."""
    path = str(tmp_path_factory.mktemp("config") / "runners.yaml")
    with open(path, "w") as f:
        json.dump({"input": {"split_bytes": SPLIT_BYTES}}, f)  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def runs(corpus_dir, config_file, tmp_path_factory, dead_counters) -> dict[str, str]:
    """Output directory per runner; each runner scores the corpus once."""
    import winnow.transforms.beam.near_duplicates
    import winnow.transforms.beam.scoring

    outputs, seconds = {}, {}
    for name, flags in RUNNERS.items():
        out = str(tmp_path_factory.mktemp(name) / "out")
        with pytest.MonkeyPatch.context() as mp:
            if name == "portable":
                # LOOPBACK workers run in this process, so they see the patch.
                mp.setattr(winnow.transforms.beam.scoring, "Metrics", dead_counters)
                mp.setattr(winnow.transforms.beam.near_duplicates, "Metrics", dead_counters)
            start = time.monotonic()
            assert score(corpus_dir, out, "--config", config_file, *flags) == 0, name
            seconds[name] = time.monotonic() - start
        outputs[name] = out
    print("\nwall time per runner: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    return outputs


def read_parts(out: str, part: str, sort_by: list[str]) -> pa.Table:
    return read_table(out, part).sort_by([(c, "ascending") for c in sort_by])


def shards_table(out: str) -> pa.Table:
    return read_shards(out).sort_by("shard_index")


def assert_tables_equal(got: pa.Table, want: pa.Table, what: str) -> None:
    """Same schema and same values, naming the first column and row that differ."""
    assert got.schema == want.schema, f"{what}: schemas differ"
    assert got.num_rows == want.num_rows, f"{what}: {got.num_rows} rows, expected {want.num_rows}"
    for name in want.column_names:
        g, w = got.column(name).to_pylist(), want.column(name).to_pylist()
        for i, (a, b) in enumerate(zip(g, w, strict=True)):
            same = a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
            assert same, f"{what}: column {name!r} differs at sorted row {i}: {a!r} != {b!r}"


# ---- the portable run is complete --------------------------------------------------


def test_portable_run_is_complete_and_accounts_for_every_row(runs, corpus_files):
    out = runs["portable"]
    run = read_json(out, "run.json")
    assert run["complete"] is True and run["runner"] == "PortableRunner"
    scored, rejected = expected_outcome(corpus_files)
    assert (run["rows_read"], run["rows_scored"], run["rows_rejected"]) == (
        len(scored) + len(rejected),
        len(scored),
        len(rejected),
    )
    records = read_parts(out, "records", ["key"])
    assert {(s, r): i for s, r, i in zip(*(records.column(c).to_pylist() for c in ("shard", "row", "id")), strict=True)} == scored
    dead = read_parts(out, "rejected", ["shard", "row"]).to_pylist()
    assert {(d["shard"], d["row"]): d["reason"].split(":", 1)[0] for d in dead} == rejected
    per_file = Counter(s for s, _ in [*scored, *rejected])
    for s in shards_table(out).to_pylist():
        assert s["rows_read"] == per_file[s["shard"]] == s["rows_scored"] + s["rows_rejected"], s["shard"]
    assert not os.path.exists(os.path.join(out, "_work")) and not os.path.exists(os.path.join(out, "run.error.json"))


def test_portable_run_needs_no_metric_counters(runs, dead_counters):
    # The portable run's counters dropped every increment (see `runs`), yet its
    # outputs equal the other runners' (tests below) and its accounting passed.
    assert dead_counters.created["rows_read"] >= 1, "the patched counters never reached the workers"
    assert read_json(runs["portable"], "run.json")["complete"] is True


def test_corpus_exercises_what_could_differ(runs, corpus_dir):
    """The baseline run shows the corpus holds what this module means to compare."""
    out = runs[BASELINE]
    records = read_parts(out, "records", ["key"])
    assert set(records.column("format").to_pylist()) >= {"alpaca", "sharegpt", "openai", "text"}
    assert {"zh", "en", "de"} <= set(records.column("lang").to_pylist())
    fired = Counter(f for flags in records.column("flags").to_pylist() for f in flags)
    for rule in (
        "empty_response",
        "placeholder_response",
        "refusal_boilerplate",
        "special_token_debris",
        "unfilled_placeholder",
        "truncated_response",
        "excessive_repetition",
        "personal_data",
        "python_syntax_error",
        "language_mismatch",
        "media_mismatch",
        "escape_debris",
    ):
        assert fired[rule] >= 1, rule
    reasons = Counter(r.split(":", 1)[0] for r in read_parts(out, "rejected", ["shard", "row"]).column("reason").to_pylist())
    assert set(reasons) == {"invalid_json", "wrong_type", "missing_field", "unknown_role", "unknown_format"}
    dups = read_parts(out, "duplicates", ["key"]).to_pylist()
    shards_per_cluster: dict[int, set] = {}
    for d in dups:
        shards_per_cluster.setdefault(d["cluster_id"], set()).add(d["shard"])
    assert sum(len(s) >= 2 for s in shards_per_cluster.values()) >= 10  # clusters that span files
    assert max(len(s) for s in shards_per_cluster.values()) == 3
    by_id = {d["id"]: d for d in dups}
    for k in range(len(_CHINESE)):
        assert by_id[f"zh{k}-a"]["cluster_id"] == by_id[f"zh{k}-b"]["cluster_id"]
    assert any(d["exact"] and not d["keep"] for d in dups) and any(not d["exact"] for d in dups)
    # Quantiles come from the sketches' log buckets too, not only from their exact range (< 128).
    assert max(records.column("response_chars").to_pylist()) >= 128
    # Large files are read in several parts, whole files in one.
    from winnow.transforms.io.inputs import match_inputs
    from winnow.transforms.io.splits import plan_splits

    shards, _ = match_inputs([corpus_dir])
    parts = {s.name: len(plan_splits(s, SPLIT_BYTES)) for s in shards}
    assert parts["chat.jsonl"] >= 3 and parts["web.parquet"] >= 2, parts
    assert parts["mixed.jsonl.gz"] == parts["conversations.json"] == 1, parts


# ---- statistics do not depend on the order shards arrive in --------------------------


def _stats_of(records: pa.Table, parts: int) -> list[ShardStats]:
    """Per-shard statistics built from scored rows, each shard in `parts` batches."""
    out = []
    for index, name in enumerate(sorted(set(records.column("shard").to_pylist()))):
        rows = records.filter(pc.equal(records.column("shard"), name))
        stats = ShardStats(name, index)
        for chunk in np.array_split(np.arange(rows.num_rows), parts):
            batch = rows.take(pa.array(chunk)).combine_chunks().to_batches()[0]
            stats.add_batch(batch, [], batch.num_rows)
            stats.add_diversity(batch, np.zeros(0, dtype=np.uint64), 0)
        out.append(stats)
    return out


def test_dataset_statistics_do_not_depend_on_shard_order(runs):
    # A runner hands the shard statistics to the summary in any order (Beam's ToList).
    records = read_parts(runs[BASELINE], "records", ["key"])
    rules = {f: "warn" for flags in records.column("flags").to_pylist() for f in flags}
    views = []
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]):
        stats = _stats_of(records, 3)
        view = merge_all([stats[i] for i in order]).as_json(rules, {})
        views.append(json.dumps(view, ensure_ascii=False))  # key order included
    assert views[1] == views[0] and views[2] == views[0]


# ---- equal outputs -----------------------------------------------------------------


@pytest.mark.parametrize("runner", OTHERS)
def test_records_are_equal(runs, runner):
    want = read_parts(runs[BASELINE], "records", ["key"])
    got = read_parts(runs[runner], "records", ["key"])
    assert_tables_equal(got, want, f"records/ of {runner}")


@pytest.mark.parametrize("runner", OTHERS)
def test_dead_letters_are_equal(runs, runner):
    want = read_parts(runs[BASELINE], "rejected", ["shard", "row"])
    got = read_parts(runs[runner], "rejected", ["shard", "row"])
    assert_tables_equal(got, want, f"rejected/ of {runner}")


@pytest.mark.parametrize("runner", OTHERS)
def test_duplicate_clusters_and_kept_rows_are_equal(runs, runner):
    want = read_parts(runs[BASELINE], "duplicates", ["key"])
    got = read_parts(runs[runner], "duplicates", ["key"])
    assert_tables_equal(got, want, f"duplicates/ of {runner}")
    assert want.num_rows > 0


@pytest.mark.parametrize("runner", OTHERS)
def test_shard_summaries_are_equal(runs, runner):
    want, got = shards_table(runs[BASELINE]), shards_table(runs[runner])
    # Every column byte for byte, the quantile sketches and HyperLogLog registers included.
    assert_tables_equal(got, want, f"summary/shards.parquet of {runner}")
    hll = [round(HyperLogLog.from_bytes(b).estimate()) for b in got.column("sketch_ngrams_hll").to_pylist()]
    assert hll == got.column("distinct_ngrams").to_pylist()


@pytest.mark.parametrize("runner", OTHERS)
def test_dataset_summary_is_equal(runs, runner):
    want, got = read_json(runs[BASELINE], "summary", "dataset.json"), read_json(runs[runner], "summary", "dataset.json")
    assert set(got) == set(want)
    for key in want:
        assert got[key] == want[key], f"dataset.json {key!r} of {runner} differs"


@pytest.mark.parametrize("runner", OTHERS)
def test_run_records_agree(runs, runner):
    want, got = read_json(runs[BASELINE], "run.json"), read_json(runs[runner], "run.json")
    for key in ("complete", "rows_read", "rows_scored", "rows_rejected", "config_hash", "config", "inputs", "skipped_inputs"):
        assert got[key] == want[key], key
    assert got["complete"] is True
