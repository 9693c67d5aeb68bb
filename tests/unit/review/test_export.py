"""`winnow review export`: the files a sample becomes (Label Studio, Argilla, CSV/Parquet, guidelines) are
valid in their formats, agree with each other and with the run, and read back through `review import`;
bad inputs stop with one clear line and leave nothing half-written."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import random
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from conftest import TASKS, alpaca, bad_answer, good_answer, read_records, score, storage_emulator_bucket, write_jsonl

from winnow.pipelines.cli import main
from winnow.transforms.review import export as fmt
from winnow.transforms.review.guidelines import fenced, guidelines_markdown
from winnow.transforms.review.labels import read_labels
from winnow.transforms.signals.rules import Rule

CONTROLS = {"verdict": "Choices", "rating": "Rating", "note": "TextArea"}
FILES = [
    "argilla/.argilla/dataset.json",
    "argilla/.argilla/settings.json",
    "argilla/records.json",
    "export.json",
    "guidelines.md",
    "labelstudio/config.xml",
    "labelstudio/tasks.json",
    "sample.csv",
    "sample.parquet",
]


# ---- without a run ------------------------------------------------------------------------------


def test_labelstudio_config_parses_and_names_the_controls():
    root = ET.fromstring(fmt.labelstudio_config())
    assert root.tag == "View"
    objects = {el.get("name"): el for el in root if el.tag in ("Paragraphs", "Text")}
    assert objects["dialogue"].tag == "Paragraphs" and objects["dialogue"].get("value") == "$dialogue"
    assert (objects["dialogue"].get("nameKey"), objects["dialogue"].get("textKey")) == ("author", "text")
    assert objects["flags"].get("value") == "$flags"
    controls = {el.get("name"): el for el in root if el.get("toName")}
    assert {name: el.tag for name, el in controls.items()} == CONTROLS
    assert all(el.get("toName") in objects for el in controls.values())
    assert [c.get("value") for c in controls["verdict"].findall("Choice")] == ["good", "bad"]
    assert controls["verdict"].get("choice") == "single" and controls["verdict"].get("required") == "true"
    assert controls["rating"].get("maxRating") == "5"


def test_export_id_names_the_run_the_seed_and_the_size():
    a = fmt.export_id("abc", "2026-12-01T00:00:00+00:00", 0, 100)
    assert fmt.export_id("abc", "t", 0, 100, {"rule_rows": 20}) != fmt.export_id("abc", "t", 0, 100, {"rule_rows": 5})
    assert a == fmt.export_id("abc", "2026-12-01T00:00:00+00:00", 0, 100) and len(a) == 12
    assert len({a, fmt.export_id("abd", "2026-12-01T00:00:00+00:00", 0, 100), fmt.export_id("abc", "x", 0, 100)}) == 3
    assert (
        len(
            {
                a,
                fmt.export_id("abc", "2026-12-01T00:00:00+00:00", 1, 100),
                fmt.export_id("abc", "2026-12-01T00:00:00+00:00", 0, 99),
            }
        )
        == 3
    )


def test_guidelines_keep_row_text_inside_its_fence():
    text = "user: close it ```` now\x1b[31m\n\nassistant: " + "x" * 1000
    block = fenced(text, 100)
    fence = block.split("text\n", 1)[0]
    assert len(fence) == 5 and block.endswith("\n" + fence) and block.count(fence) == 2
    assert "\x1b" not in block and "[...]" in block
    rules = [Rule("odd_rule", "warn", "Flags <noinput> markers.", {}, "test"), Rule("never", "info", "Never fires.", {}, "test")]
    row = {"id": "r`1", "stratum": "rule:odd_rule", "flags": ["odd_rule"], "turns": [{"role": "user", "content": "```"}]}
    md = guidelines_markdown(rules, [row], {"export_id": "e", "run_dir": "out", "config_hash": "h", "size": 1, "rows": 9})
    assert "&lt;noinput&gt;" in md and "<noinput>" not in md
    assert "``r`1``" in md
    assert "No sampled row fired this rule." in md.split("`never`", 1)[1]


# ---- a real run -----------------------------------------------------------------------------------

GERMAN = (
    "Wie pflege ich meinen Garten im Herbst? Frage {i}.",
    "Im Herbst schneidet man die Stauden zurück und deckt empfindliche Pflanzen ab. Das Laub bleibt "
    "unter den Hecken liegen, denn dort schützt es kleine Tiere. Punkt {i} ist dabei besonders wichtig.",
)


def corpus_rows() -> list[dict[str, Any]]:
    """306 alpaca rows: good answers, empty and placeholder answers, bad answers, German rows, exact copies."""
    rng = random.Random(3)
    rows = []
    for i in range(300):
        task = rng.choice(TASKS)
        kind = i % 20
        if kind == 0:
            rows.append(alpaca(f"r{i:03d}", f"How do I {task}?", ""))
        elif kind == 1:
            rows.append(alpaca(f"r{i:03d}", f"How do I {task}?", "N/A"))
        elif kind == 2:
            rows.append(alpaca(f"r{i:03d}", GERMAN[0].format(i=i), GERMAN[1].format(i=i)))
        elif kind == 3:
            rows.append(alpaca(f"r{i:03d}", f"How do I {task}?", bad_answer(rng, i)))
        else:
            rows.append(alpaca(f"r{i:03d}", f"How do I {task}? Question {i}.", good_answer(rng, task)))
    rows += [{**rows[10 + i], "id": f"copy{i}"} for i in range(6)]
    return rows


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("review_export")
    rows = corpus_rows()
    (d / "in").mkdir()
    write_jsonl(d / "in" / "a.jsonl", rows[:153])
    write_jsonl(d / "in" / "b.jsonl", rows[153:])
    out = str(d / "run")
    assert score(str(d / "in"), out) == 0
    return out


def export(run_dir: str, out: str, *flags: str, size: int = 60, seed: int = 3) -> int:
    return main(["review", "export", run_dir, "--size", str(size), "--output", out, "--seed", str(seed), *flags])


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("exported") / "review")
    assert export(run, out) == 0
    return out


def load(out: str, name: str) -> Any:
    with open(os.path.join(out, name), encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.slow
def test_export_json_describes_the_sample(run, exported):
    record = load(exported, "export.json")
    with open(os.path.join(run, "run.json"), encoding="utf-8") as f:
        run_json = json.load(f)
    assert record["config_hash"] == run_json["config_hash"] and record["finished"] == run_json["finished"]
    assert record["export_id"] == fmt.export_id(run_json["config_hash"], run_json["finished"], 3, 60, record["review"])
    assert record["review"] == {
        "near_duplicate_rows": 20,
        "rule_rows": 20,
        "language_rows": 10,
        "min_stratum_rows": 5,
        "strata": {},
    }
    assert (record["seed"], record["size"], record["sampled_rows"], record["scored_rows"]) == (3, 60, 60, 306)
    assert (
        record["files"] == FILES
        and sorted(str(p.relative_to(exported)) for p in Path(exported).rglob("*") if p.is_file()) == FILES
    )
    strata = record["strata"]
    assert sum(s["population"] for s in strata.values()) == 306
    assert sum(s["sample"] for s in strata.values()) == 60
    assert math.isclose(sum(s["population"] * s["inclusion_probability"] for s in strata.values()), 60)
    # The planted defects and languages have strata of their own.
    assert {"near_duplicate:kept", "rule:empty_response", "rule:placeholder_response", "language:de"} <= set(strata)
    assert any(name.startswith("composite:d") for name in strata)


@pytest.mark.slow
def test_sample_table_agrees_with_the_csv_and_the_run(run, exported):
    table = pq.read_table(os.path.join(exported, "sample.parquet"))
    assert table.column_names[:6] == list(fmt.BASE_COLUMNS)
    assert "composite" in table.column_names and "key" not in table.column_names and "row" not in table.column_names
    rows = table.to_pylist()
    with open(os.path.join(exported, "sample.csv"), encoding="utf-8", newline="") as f:
        lines = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == [line["id"] for line in lines]
    for r, line in zip(rows, lines):
        assert line["stratum"] == r["stratum"] and float(line["inclusion_probability"]) == r["inclusion_probability"]
        assert line["flags"] == "|".join(r["flags"]) and line["keep"] == str(r["keep"]).lower()
        assert (line["composite"] == "") == (r["composite"] is None)
    records = read_records(run, by_id=True)
    strata = load(exported, "export.json")["strata"]
    for r in rows:
        rec = records[r["id"]]
        assert (r["shard"], r["keep"], r["flags"]) == (rec["shard"], rec["keep"], rec["flags"])
        assert r["inclusion_probability"] == strata[r["stratum"]]["inclusion_probability"]
        if r["stratum"].startswith("rule:"):
            assert r["stratum"][5:] in r["flags"]
        if r["stratum"].startswith("language:"):
            assert rec["lang"] == r["stratum"][9:]
    # Horvitz-Thompson: the weights of the sample add up to the scored rows.
    assert math.isclose(sum(1 / r["inclusion_probability"] for r in rows), 306)
    assert Counter(r["stratum"] for r in rows) == {name: s["sample"] for name, s in strata.items() if s["sample"]}


@pytest.mark.slow
def test_labelstudio_tasks_match_the_import_format_and_read_back(run, exported, tmp_path):
    tasks = load(exported, "labelstudio/tasks.json")
    record = load(exported, "export.json")
    records = read_records(run, by_id=True)
    config = ET.parse(os.path.join(exported, "labelstudio", "config.xml")).getroot()
    names = {el.get("name") for el in config.iter() if el.get("name")}
    assert isinstance(tasks, list) and len(tasks) == 60
    for task in tasks:
        assert set(task) == {"data", "predictions"} and isinstance(task["data"], dict)
        data = task["data"]
        assert data["export_id"] == record["export_id"] and data["id"] in records
        assert isinstance(data["text"], str) and isinstance(data["flags"], str)
        assert all(set(turn) == {"author", "text"} for turn in data["dialogue"])
        assert [t["author"] for t in data["dialogue"]] == ["user", "assistant"]
        rec = records[data["id"]]
        assert data["dialogue"][0]["text"] == rec["turns"][0]["content"]
        for rule in rec["flags"]:
            assert rule in data["flags"]  # with its explanation
        [prediction] = task["predictions"]
        assert prediction["model_version"] == record["model_version"]
        assert prediction["model_version"] == f"winnow-{record['winnow_version']}-{record['config_hash'][:12]}"
        assert prediction["score"] == pytest.approx(rec["composite"])
        [result] = prediction["result"]
        assert {result["from_name"], result["to_name"]} <= names
        assert (result["from_name"], result["to_name"], result["type"]) == ("verdict", "dialogue", "choices")
        assert result["value"] == {"choices": ["good" if rec["keep"] else "bad"]}
    flagged = next(t for t in tasks if t["data"]["stratum"] == "rule:empty_response")
    assert "empty_response (drop): The response is empty or whitespace only." in flagged["data"]["flags"]
    # What Label Studio exports after annotation reads back through `review import`.
    for i, task in enumerate(tasks):
        task["annotations"] = [
            {"completed_by": {"id": 1, "email": "a@example.com"}, "was_cancelled": False, "result": [
                {"from_name": "verdict", "to_name": "dialogue", "type": "choices", "value": {"choices": ["bad" if i % 3 else "good"]}},
                {"from_name": "rating", "to_name": "dialogue", "type": "rating", "value": {"rating": 1 + i % 5}},
            ]}
        ]  # fmt: skip
    path = tmp_path / "project.json"
    path.write_text(json.dumps(tasks), encoding="utf-8")
    imported = read_labels(path.read_bytes(), str(path))
    assert [r["id"] for r in imported.rows] == [t["data"]["id"] for t in tasks]
    assert {r.get("export_id", record["export_id"]) for r in imported.rows} == {record["export_id"]}


def _argilla_layout_checks(settings: dict[str, Any], records: list[dict[str, Any]], dataset: dict[str, Any]) -> None:
    """The layout rg.Dataset.to_disk writes (argilla 2.x), checked by hand."""
    assert {"guidelines", "questions", "fields", "metadata", "vectors", "allow_extra_metadata", "distribution"} <= set(settings)
    assert [(f["name"], f["settings"]["type"]) for f in settings["fields"]] == [("dialogue", "chat"), ("flags", "text")]
    questions = {q["name"]: q["settings"] for q in settings["questions"]}
    assert questions["verdict"]["type"] == "label_selection"
    assert [o["value"] for o in questions["verdict"]["options"]] == ["good", "bad"]
    assert questions["rating"] == {"type": "rating", "options": [{"value": v} for v in range(1, 6)]}
    assert questions["note"]["type"] == "text"
    assert [m["name"] for m in settings["metadata"]] == ["id", "export_id", "stratum", "inclusion_probability"]
    assert {"id", "fields", "metadata", "suggestions", "responses", "vectors"} <= set(records[0])
    assert dataset["name"].startswith("winnow-review-") and dataset["guidelines"] == settings["guidelines"]


@pytest.mark.slow
def test_argilla_dataset_loads_and_reads_back(exported, monkeypatch, tmp_path):
    base = os.path.join(exported, "argilla")
    settings, records = load(base, ".argilla/settings.json"), load(base, "records.json")
    dataset = load(base, ".argilla/dataset.json")
    record = load(exported, "export.json")
    _argilla_layout_checks(settings, records, dataset)
    with open(os.path.join(exported, "guidelines.md"), encoding="utf-8") as f:
        assert settings["guidelines"] == f.read()
    tasks = {t["data"]["id"]: t for t in load(exported, "labelstudio/tasks.json")}
    for rec in records:
        meta = rec["metadata"]
        assert meta["export_id"] == record["export_id"] and meta["id"] in tasks
        assert rec["suggestions"]["verdict"]["value"] == tasks[meta["id"]]["predictions"][0]["result"][0]["value"]["choices"][0]
        assert [{"author": t["role"], "text": t["content"]} for t in rec["fields"]["dialogue"]] == tasks[meta["id"]]["data"][
            "dialogue"
        ]
    # Annotated records (responses per user, as Record.to_dict writes them) read back through `review import`.
    for i, rec in enumerate(records):
        rec["responses"] = {
            "verdict": [{"value": "good" if i % 2 else "bad", "user_id": "u1"}, {"value": "bad", "user_id": "u2"}],
            "rating": [{"value": 1 + i % 5, "user_id": "u1"}],
        }
    path = tmp_path / "records.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    imported = read_labels(path.read_bytes(), str(path))
    assert len(imported.rows) == 2 * len(records) and {r["id"] for r in imported.rows} == set(tasks)


@pytest.mark.slow
def test_argilla_files_load_with_argillas_own_classes(exported, monkeypatch):
    rg = pytest.importorskip("argilla")
    base = os.path.join(exported, "argilla")
    settings, dataset = load(base, ".argilla/settings.json"), load(base, ".argilla/dataset.json")
    from argilla._api._client import APIClient
    from argilla._models import DatasetModel

    monkeypatch.setattr(APIClient, "_validate_connection", lambda self: None)  # settings need a client, not a server
    rg.Argilla(api_url="http://127.0.0.1:9", api_key="offline")
    loaded = rg.Settings.from_json(os.path.join(base, ".argilla", "settings.json"))
    assert isinstance(loaded.fields["dialogue"], rg.ChatField) and isinstance(loaded.fields["flags"], rg.TextField)
    assert isinstance(loaded.questions["verdict"], rg.LabelQuestion) and loaded.questions["verdict"].labels == ["good", "bad"]
    assert isinstance(loaded.questions["rating"], rg.RatingQuestion) and loaded.questions["rating"].values == [1, 2, 3, 4, 5]
    assert isinstance(loaded.questions["note"], rg.TextQuestion)
    assert [m.name for m in loaded.metadata] == ["id", "export_id", "stratum", "inclusion_probability"]
    assert isinstance(loaded.metadata["inclusion_probability"], rg.FloatMetadataProperty)
    assert loaded.serialize() == settings  # exactly what Settings.to_json would write
    assert DatasetModel(**dataset).name == dataset["name"]
    for rec in load(base, "records.json"):
        assert rg.Record.from_dict(rec).to_dict() == rec  # what to_disk would write for the same record


@pytest.mark.slow
def test_guidelines_cover_every_rule_of_the_run(exported):
    with open(os.path.join(exported, "guidelines.md"), encoding="utf-8") as f:
        md = f.read()
    from winnow.transforms.signals.rules import load_rules

    for rule in load_rules(["instruction"]):
        assert f"### `{rule.name}` ({rule.severity})" in md
    section = md.split("### `empty_response` (drop)", 1)[1].split("\n### ", 1)[0]
    assert "Example: row " in section and "stratum `rule:empty_response`" in section
    assert "verdict (required): good or bad" in md and "- **5** excellent" in md


@pytest.mark.slow
def test_same_seed_same_files_other_seed_other_rows(run, exported, tmp_path):
    again, other = str(tmp_path / "again"), str(tmp_path / "other")
    assert export(run, again) == 0 and export(run, other, seed=4) == 0
    for name in FILES:
        with open(os.path.join(exported, name), "rb") as a, open(os.path.join(again, name), "rb") as b:
            assert a.read() == b.read(), name
    ids = [r["id"] for r in pq.read_table(os.path.join(exported, "sample.parquet")).to_pylist()]
    other_ids = [r["id"] for r in pq.read_table(os.path.join(other, "sample.parquet")).to_pylist()]
    assert ids != other_ids
    assert load(other, "export.json")["export_id"] != load(exported, "export.json")["export_id"]


@pytest.mark.slow
def test_all_rows_when_the_size_exceeds_the_run(run, tmp_path, capsys):
    out = str(tmp_path / "all")
    assert export(run, out, size=1000) == 0
    rows = pq.read_table(os.path.join(out, "sample.parquet")).to_pylist()
    assert len(rows) == 306 and {r["inclusion_probability"] for r in rows} == {1.0}
    assert "306 of 306 scored rows" in capsys.readouterr().out


@pytest.mark.slow
def test_strata_sizes_from_the_config(run, exported, tmp_path):
    cfg = tmp_path / "review.yaml"
    cfg.write_text('review:\n  rule_rows: 3\n  strata: {"language:de": 2}\n', encoding="utf-8")
    out = str(tmp_path / "sized")
    assert export(run, out, "--config", str(cfg)) == 0
    strata = load(out, "export.json")["strata"]
    assert load(out, "export.json")["export_id"] != load(exported, "export.json")["export_id"]  # another sample
    assert strata["rule:empty_response"]["sample"] == 3 and strata["language:de"]["sample"] == 2
    assert sum(s["sample"] for s in strata.values()) == 60


@pytest.mark.slow
def test_refuses_a_non_empty_output_unless_overwrite(run, exported, tmp_path, capsys):
    out = str(tmp_path / "busy")
    os.makedirs(out)
    Path(out, "notes.txt").write_text("mine", encoding="utf-8")
    assert export(run, out) == 2
    assert "is not empty; pass --overwrite" in capsys.readouterr().err
    assert os.listdir(out) == ["notes.txt"]
    assert export(run, out, "--overwrite") == 0
    assert Path(out, "notes.txt").read_text(encoding="utf-8") == "mine" and Path(out, "export.json").exists()


@pytest.mark.slow
def test_bad_inputs_are_one_clear_line_and_write_nothing(run, tmp_path, capsys):
    out = str(tmp_path / "never")
    cases = [
        (str(tmp_path / "nowhere"), 10, "is not a winnow run directory"),
        (run, 0, "--size must be 1 or more"),
    ]
    unfinished = tmp_path / "unfinished"
    shutil.copytree(run, unfinished)
    os.remove(unfinished / "run.json")
    cases.append((str(unfinished), 10, "did not finish"))
    no_text = tmp_path / "no_text"
    shutil.copytree(run, no_text)
    for part in (no_text / "records").glob("*.parquet"):
        pq.write_table(pq.read_table(part).drop_columns(["turns", "system"]), part)
    cases.append((str(no_text), 10, "output.include_text"))
    empty = tmp_path / "empty"
    shutil.copytree(run, empty)
    for part in (empty / "records").glob("*.parquet"):
        pq.write_table(pq.read_table(part).slice(0, 0), part)
    cases.append((str(empty), 10, "no scored rows"))
    for run_dir, size, message in cases:
        assert export(run_dir, out, size=size) == 2, message
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
        assert not os.path.exists(out)


@pytest.mark.slow
def test_a_failed_write_leaves_no_export_json(run, exported, tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "half")
    shutil.copytree(exported, out)  # an earlier export, then an --overwrite that fails half way
    from winnow.transforms.io import files

    real, calls = files.write_atomically, []

    def failing(path: str, data: bytes) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(files, "write_atomically", failing)
    assert export(run, out, "--overwrite", seed=9) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert not os.path.exists(os.path.join(out, "export.json"))  # not a complete export
    assert not any(name.endswith(".tmp") for _, _, names in os.walk(out) for name in names)


def test_csv_bytes_write_flags_and_nulls():
    import pyarrow as pa

    table = pa.table({"id": ["a", "b"], "flags": [["x", "y"], []], "composite": [0.5, None], "keep": [True, False]})
    lines = list(csv.reader(io.StringIO(fmt.csv_bytes(table).decode())))
    assert lines == [["id", "flags", "composite", "keep"], ["a", "x|y", "0.5", "true"], ["b", "", "", "false"]]


@pytest.mark.slow
def test_a_run_and_an_export_on_gcs(run, exported, capsys):
    with storage_emulator_bucket("winnow-review") as bucket:
        for path in Path(run).rglob("*"):
            if path.is_file() and path.parts[len(Path(run).parts)] in ("run.json", "records", "duplicates", "summary"):
                bucket.blob(f"run/{path.relative_to(run)}").upload_from_filename(str(path))
        assert export("gs://winnow-review/run", "gs://winnow-review/review") == 0
        assert "wrote gs://winnow-review/review" in capsys.readouterr().out
        names = sorted(b.name.removeprefix("review/") for b in bucket.list_blobs(prefix="review/"))
        assert names == FILES
        for name in ("sample.parquet", "labelstudio/tasks.json", "argilla/records.json"):
            with open(os.path.join(exported, name), "rb") as f:
                assert bucket.blob(f"review/{name}").download_as_bytes() == f.read(), name  # the same sample
        assert export("gs://winnow-review/run", "gs://winnow-review/review") == 2  # not empty
        assert "is not empty" in capsys.readouterr().err


@pytest.mark.slow
def test_rules_from_the_runs_summary_when_a_pack_is_gone(run, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(run, moved)
    record = json.loads((moved / "run.json").read_text(encoding="utf-8"))
    record["config"]["rules"] = [str(tmp_path / "gone" / "pack.yaml")]
    (moved / "run.json").write_text(json.dumps(record), encoding="utf-8")
    out = str(tmp_path / "review")
    assert export(str(moved), out) == 0
    md = Path(out, "guidelines.md").read_text(encoding="utf-8")
    assert "### `empty_response` (drop)" in md and "The response is empty or whitespace only." in md


# ---- the whole loop: export, three annotators in Label Studio, import, calibrate ----------------------


def _annotate(tasks: list[dict[str, Any]]) -> dict[str, dict[str, tuple[str, int]]]:
    """Three annotators' (verdict, rating) per row id: alice follows winnow's verdict, bob flips every
    fourth task, carol every sixth from the second; carol's rating is 3 on odd tasks."""
    labels: dict[str, dict[str, tuple[str, int]]] = {}
    flip = {"good": "bad", "bad": "good"}
    for i, task in enumerate(tasks):
        winnow = task["predictions"][0]["result"][0]["value"]["choices"][0]
        bob = flip[winnow] if i % 4 == 0 else winnow
        carol = flip[winnow] if i % 6 == 1 else winnow
        labels[task["data"]["id"]] = {
            "alice@example.com": (winnow, 5 if winnow == "good" else 1),
            "bob@example.com": (bob, 4 if bob == "good" else 2),
            "carol@example.com": (carol, 3 if i % 2 else (5 if carol == "good" else 1)),
        }
    return labels


def _labelstudio_project(tasks: list[dict[str, Any]], labels: dict[str, dict[str, tuple[str, int]]]) -> list[dict[str, Any]]:
    """Label Studio's JSON export (Export > JSON) of the tasks, as its docs describe it; one cancelled annotation."""
    users = {who: n for n, who in enumerate(sorted({w for by in labels.values() for w in by}), 1)}
    project = []
    for n, task in enumerate(tasks, 1):
        annotations = [
            {
                "id": 1000 * n + users[who],
                "completed_by": {"id": users[who], "email": who},
                "was_cancelled": False,
                "result": [
                    {"from_name": "verdict", "to_name": "dialogue", "type": "choices", "value": {"choices": [verdict]}},
                    {"from_name": "rating", "to_name": "dialogue", "type": "rating", "value": {"rating": rating}},
                ],
                "task": n,
            }
            for who, (verdict, rating) in labels[task["data"]["id"]].items()
        ]
        if n == 1:
            annotations.append(
                {"id": 1, "completed_by": {"id": 9, "email": "dave@example.com"}, "was_cancelled": True, "result": []}
            )
        project.append({"id": n, "data": task["data"], "annotations": annotations, "predictions": task["predictions"]})
    return project


@pytest.mark.slow
def test_export_annotate_import_calibrate_round_trip(run, exported, tmp_path):
    from agreement_by_hand import alpha_by_hand, kappa_by_hand, nominal, ordinal

    from winnow.transforms.config import load_config

    tasks = load(exported, "labelstudio/tasks.json")
    labels = _annotate(tasks)
    project = tmp_path / "project-1.json"
    project.write_text(json.dumps(_labelstudio_project(tasks, labels)), encoding="utf-8")
    out = tmp_path / "labels"
    assert main(["review", "import", exported, str(project), "--output", str(out)]) == 0
    report = json.loads((out / "agreement.json").read_text())
    assert report["counts"]["annotations"] == 3 * len(tasks) and report["counts"]["skipped"] == {"cancelled annotation": 1}
    # The agreement, computed here from the labels we wrote.
    verdicts = [[v for v, _ in by.values()] for by in labels.values()]
    ratings = [[r for _, r in by.values()] for by in labels.values()]
    alpha = report["verdict"]["krippendorff_alpha"]["value"]
    assert alpha == pytest.approx(alpha_by_hand(verdicts, nominal), abs=1e-6)
    assert report["rating"]["krippendorff_alpha"]["value"] == pytest.approx(alpha_by_hand(ratings, ordinal), abs=1e-6)
    for entry in report["verdict"]["cohen_kappa"]:
        a, b = entry["annotators"]
        expected = kappa_by_hand([labels[i][a][0] for i in labels], [labels[i][b][0] for i in labels])
        assert entry["kappa"] == pytest.approx(expected, abs=1e-6)
    assert {d["id"] for d in report["disagreements"] if "verdict" in d["on"]} == {
        t["data"]["id"] for i, t in enumerate(tasks) if i % 4 == 0 or i % 6 == 1
    }
    # Calibration against the run: the majority is alice's verdict (bob and carol never flip the same task),
    # which is winnow's own, so every drop rule that fired on a labelled row is precise.
    calib = tmp_path / "calib"
    assert main(["review", "calibrate", str(out), run, "--output", str(calib)]) == 0
    result = json.loads((calib / "calibration.json").read_text())
    assert result["counts"]["rows_used"] == len(tasks) and result["counts"]["ties_excluded"] == 0
    empty = result["rules"]["empty_response"]
    assert empty["precision"] == 1.0 and empty["counts"]["fp"] == 0
    assert "empty_response" not in result["severity_changes"]
    config = load_config(str(calib / "calibrated.yaml"))
    assert config.keep.min == {c: v["keep.min"] for c, v in result["thresholds"]["applied"].items()}
