"""`winnow review import`: every export format gives the same labels, and the agreement
statistics equal values computed here by hand (confusion and coincidence matrices)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from agreement_by_hand import alpha_by_hand, kappa_by_hand, nominal, ordinal

from winnow.pipelines.cli import main
from winnow.pipelines.review import import_labels
from winnow.transforms.review.labels import ReviewError, read_labels

A, B, C = "alice@example.com", "bob@example.com", "carol@example.com"
# row id -> annotator -> (verdict, rating, note)
LABELS: dict[str, dict[str, tuple[str, int | None, str | None]]] = {
    "r1": {A: ("good", 5, None), B: ("good", 4, None), C: ("good", 5, None)},
    "r2": {A: ("bad", 1, "refuses the task"), B: ("bad", 2, None), C: ("good", 3, None)},
    "r3": {A: ("good", 4, None), B: ("bad", 2, "wrong answer")},
    "r4": {A: ("bad", 2, None), B: ("bad", 1, None), C: ("bad", 1, None)},
    "r5": {A: ("good", 3, None), B: ("good", 3, None), C: ("bad", 2, None)},
    "r6": {A: ("good", None, None)},
}
USER_IDS = {A: 1, B: 2, C: 3}


def _ls_result(verdict: str, rating: int | None, note: str | None) -> list[dict[str, Any]]:
    """Results as Label Studio writes them for Choices `verdict`, Rating `rating` and TextArea `note`."""
    out: list[dict[str, Any]] = [
        {"id": "v1", "from_name": "verdict", "to_name": "dialogue", "type": "choices", "value": {"choices": [verdict]}}
    ]
    if rating is not None:
        out.append({"id": "r1", "from_name": "rating", "to_name": "dialogue", "type": "rating", "value": {"rating": rating}})
    if note is not None:
        out.append({"id": "n1", "from_name": "note", "to_name": "dialogue", "type": "textarea", "value": {"text": [note]}})
    return out


def labelstudio_export() -> list[dict[str, Any]]:
    """A Label Studio JSON export (Export > JSON) of the tasks above, one annotation per annotator.

    r3 also has a cancelled (skipped) annotation by carol, which must not count.
    """
    tasks = []
    for n, (row_id, by) in enumerate(LABELS.items(), 1):
        annotations = [
            {
                "id": 100 * n + USER_IDS[who],
                "completed_by": {"id": USER_IDS[who], "email": who, "first_name": "", "last_name": ""},
                "result": _ls_result(*label),
                "was_cancelled": False,
                "ground_truth": False,
                "created_at": "2026-11-30T10:00:00.000000Z",
                "lead_time": 12.5,
                "task": n,
            }
            for who, label in by.items()
        ]
        if row_id == "r3":
            annotations.append({"id": 999, "completed_by": {"id": 3, "email": C}, "result": [], "was_cancelled": True, "task": n})
        tasks.append(
            {
                "id": n,
                "data": {"id": row_id, "dialogue": [{"author": "user", "text": "hi"}, {"author": "assistant", "text": "hello"}]},
                "annotations": annotations,
                "predictions": [],
                "project": 7,
            }
        )
    return tasks


def json_min_export() -> list[dict[str, Any]]:
    out = []
    for row_id, by in LABELS.items():
        for who, (verdict, rating, note) in by.items():
            obj: dict[str, Any] = {"id": row_id, "dialogue": [], "verdict": verdict, "annotator": who, "annotation_id": 1}
            if rating is not None:
                obj["rating"] = rating
            if note is not None:
                obj["note"] = note
            out.append(obj)
    return out


def argilla_records() -> list[dict[str, Any]]:
    """Argilla 2.x records.json (Dataset.to_disk): responses by question, each with its user_id."""
    out = []
    for n, (row_id, by) in enumerate(LABELS.items()):
        responses: dict[str, list[dict[str, Any]]] = {"verdict": [], "rating": [], "note": []}
        for who, (verdict, rating, note) in by.items():
            responses["verdict"].append({"value": verdict, "user_id": who, "status": "submitted"})
            if rating is not None:
                responses["rating"].append({"value": rating, "user_id": who, "status": "submitted"})
            if note is not None:
                responses["note"].append({"value": note, "user_id": who, "status": "submitted"})
        out.append(
            {
                "id": f"rec-{n}",
                "status": "completed",
                "_server_id": f"00000000-0000-0000-0000-00000000000{n}",
                "fields": {"dialogue": [{"role": "user", "content": "hi"}]},
                "metadata": {"id": row_id},
                "suggestions": {"verdict": {"value": "good", "score": 0.9, "agent": "winnow"}},
                "responses": responses,
                "vectors": {},
            }
        )
    return out


def csv_text() -> str:
    lines = ["id,annotator,verdict,rating,note"]
    for row_id, by in LABELS.items():
        for who, (verdict, rating, note) in by.items():
            lines.append(f'{row_id},{who},{verdict},{"" if rating is None else rating},"{note or ""}"')
    return "\n".join(lines) + "\n"


EXPORT_ID = "e0a1b2c3d4e5"


def _export(tmp_path: Path, ids: tuple[str, ...] = ("r1", "r2", "r3", "r4", "r5", "r6", "r7", "r9")) -> str:
    """A `review export` folder as import reads it: export.json and sample.parquet (id, stratum, inclusion_probability)."""
    d = tmp_path / "review"
    d.mkdir(exist_ok=True)
    (d / "export.json").write_text(json.dumps({"export_id": EXPORT_ID, "config_hash": "abc", "finished": "2026-12-01T00:00:00"}))
    sample = {"id": list(ids), "stratum": ["composite:d0"] * len(ids), "inclusion_probability": [0.5] * len(ids)}
    pq.write_table(pa.table(sample), d / "sample.parquet")
    return str(d)


def _write(tmp_path: Path, name: str, content: Any) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return str(path)


def _values(index: int) -> dict[str, dict[str, Any]]:
    return {row: {who: label[index] for who, label in by.items() if label[index] is not None} for row, by in LABELS.items()}


# --- tests ---------------------------------------------------------------------------------


@pytest.fixture
def imported(tmp_path: Path) -> tuple[Any, dict[str, Any], Path]:
    out = tmp_path / "labels"
    _, report = import_labels(_export(tmp_path), [_write(tmp_path, "project.json", labelstudio_export())], str(out))
    return pq.read_table(out / "labels.parquet"), report, out


def test_labelstudio_rows_and_cancelled_annotation_skipped(imported: Any) -> None:
    table, report, out = imported
    assert table.column_names == ["id", "annotator", "verdict", "rating", "note"]
    expected = [
        {"id": row, "annotator": who, "verdict": v, "rating": r, "note": note}
        for row, by in sorted(LABELS.items())
        for who, (v, r, note) in sorted(by.items())
    ]
    assert table.to_pylist() == expected
    assert report["counts"] == {
        "annotations": 15,
        "items": 6,
        "items_with_2_or_more_annotators": 5,
        "annotators": 3,
        "skipped": {"cancelled annotation": 1},
    }
    assert json.loads((out / "agreement.json").read_text()) == report
    assert report["inputs"][0]["format"] == "labelstudio"


def test_cohen_kappa_equals_confusion_matrix_by_hand(imported: Any) -> None:
    _, report, _ = imported
    for question, index in (("verdict", 0), ("rating", 1)):
        values = _values(index)
        pairs = {tuple(k["annotators"]): k for k in report[question]["cohen_kappa"]}
        assert set(pairs) == {(A, B), (A, C), (B, C)}
        for (a, b), entry in pairs.items():
            shared = sorted(r for r, v in values.items() if a in v and b in v)
            assert entry["items"] == len(shared)
            expected = kappa_by_hand([values[r][a] for r in shared], [values[r][b] for r in shared])
            assert entry["kappa"] == pytest.approx(expected, abs=1e-6)
    # alice and bob's verdicts on r1..r5: p_o = 4/5, p_e = 3/5*2/5 + 2/5*3/5 = 12/25
    alice_bob = report["verdict"]["cohen_kappa"][0]
    assert alice_bob["kappa"] == pytest.approx((4 / 5 - 12 / 25) / (1 - 12 / 25), abs=1e-6)
    assert alice_bob["observed_agreement"] == pytest.approx(0.8)


def test_krippendorff_alpha_equals_coincidence_matrix_by_hand(imported: Any) -> None:
    _, report, _ = imported
    verdicts = [list(v.values()) for v in _values(0).values()]
    ratings = [list(v.values()) for v in _values(1).values()]
    assert report["verdict"]["krippendorff_alpha"]["level"] == "nominal"
    assert report["verdict"]["krippendorff_alpha"]["value"] == pytest.approx(alpha_by_hand(verdicts, nominal), abs=1e-6)
    assert report["rating"]["krippendorff_alpha"]["level"] == "ordinal"
    assert report["rating"]["krippendorff_alpha"]["value"] == pytest.approx(alpha_by_hand(ratings, ordinal), abs=1e-6)
    # r6 has a single label, so 14 of the 15 verdicts are pairable.
    assert report["verdict"]["krippendorff_alpha"]["pairable_values"] == 14


def test_nominal_alpha_small_case_by_hand() -> None:
    """Two coders, four units: g/g, g/b, b/b, b/b. o_gg = 2, o_bb = 4, o_gb = o_bg = 1; n_g = 3, n_b = 5, n = 8.
    alpha = 1 - (n - 1) * (o_gb + o_bg) / (2 n_g n_b) = 1 - 7 * 2 / 30."""
    from winnow.transforms.review.agreement import krippendorff_alpha

    by_item = {
        "1": {"x": "good", "y": "good"},
        "2": {"x": "good", "y": "bad"},
        "3": {"x": "bad", "y": "bad"},
        "4": {"x": "bad", "y": "bad"},
    }
    assert krippendorff_alpha(by_item, "nominal", ["bad", "good"])["value"] == pytest.approx(1 - 14 / 30, abs=1e-6)


def test_disagreements_list_each_annotator(imported: Any) -> None:
    _, report, _ = imported
    rows = {d["id"]: d for d in report["disagreements"]}
    assert set(rows) == {"r1", "r2", "r3", "r4", "r5"}  # r1 and r4 differ on the rating only
    assert rows["r1"]["on"] == ["rating"]
    assert rows["r2"]["on"] == ["verdict", "rating"]
    assert rows["r3"]["verdict"] == {A: "good", B: "bad"}
    assert rows["r2"]["rating"] == {A: 1, B: 2, C: 3}


def test_every_format_gives_the_same_labels(tmp_path: Path) -> None:
    inputs = {
        "labelstudio": _write(tmp_path, "ls.json", labelstudio_export()),
        "labelstudio-min": _write(tmp_path, "min.json", json_min_export()),
        "csv": _write(tmp_path, "labels.csv", csv_text()),
        "argilla": _write(tmp_path, "records.json", argilla_records()),
    }
    tables = {}
    for fmt, path in inputs.items():
        out = tmp_path / fmt
        imported, report = import_labels(_export(tmp_path), [path], str(out))
        assert imported[0].format == fmt
        tables[fmt] = pq.read_table(out / "labels.parquet")
        assert report["verdict"]["krippendorff_alpha"]["value"] is not None
    first = tables["labelstudio"]
    for fmt, table in tables.items():
        assert table.equals(first), fmt


def test_annotators_split_over_files_are_joined(tmp_path: Path) -> None:
    rows = list(csv.reader(csv_text().splitlines()))
    header, body = rows[0], rows[1:]
    paths = []
    for who in (A, B, C):
        path = tmp_path / f"{who.split('@')[0]}.csv"
        with path.open("w", newline="") as f:
            csv.writer(f).writerows([header] + [r for r in body if r[1] == who])
        paths.append(str(path))
    _, report = import_labels(_export(tmp_path), paths, str(tmp_path / "out"))
    assert report["counts"]["annotations"] == 15
    assert report["counts"]["items_with_2_or_more_annotators"] == 5


def test_argilla_drafts_are_skipped_and_counted(tmp_path: Path) -> None:
    records = argilla_records()
    records[0]["responses"]["verdict"].append({"value": "bad", "user_id": "dave", "status": "draft"})
    f = read_labels(json.dumps(records).encode(), "records.json")
    assert f.skipped == Counter({"draft response": 1})
    assert len(f.rows) == 15


def _task(data: dict[str, Any], result: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ok = labelstudio_export()[0]
    return [ok, {"id": 2, "data": data, "annotations": [{"completed_by": 1, "result": result, "was_cancelled": False}]}]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"tasks": []}, "unknown format: expected a JSON list"),
        ([{"text": "hi", "label": 1}], "unknown format"),
        ("not json at all", "not JSON nor a .csv file"),
        ([], "holds no tasks"),
        (_task({"text": "no id"}, _ls_result("good", 3, None)), "task 2 (data.id): no winnow row id"),
        (
            _task({"id": "r9"}, _ls_result("maybe", 3, None)),
            "task 2 (id r9), annotation 1: verdict must be good or bad; got 'maybe'",
        ),
        (
            _task({"id": "r9"}, _ls_result("good", 7, None)),
            "task 2 (id r9), annotation 1: rating must be a whole number from 1 to 5; got 7",
        ),
        (_task({"id": "r9"}, []), "task 2 (id r9), annotation 1: no verdict"),
    ],
)
def test_bad_json_names_the_file_and_the_row(tmp_path: Path, content: Any, message: str) -> None:
    path = _write(tmp_path, "export.json", content)
    with pytest.raises(ReviewError) as e:
        import_labels(_export(tmp_path), [path], str(tmp_path / "out"))
    assert str(e.value).startswith(path)
    assert message in str(e.value)
    assert not (tmp_path / "out").exists()  # nothing half-written


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,who,verdict\nr1,a,good\n", "missing annotator"),
        ("id,annotator,verdict,rating\nr1,a,good,2.5\n", "line 2 (id r1): rating must be a whole number"),
        ("id,annotator,verdict\nr1,a,good\n,a,bad\n", "line 3 (id): no winnow row id"),
        ("id,annotator,verdict\nr1,a,good\nr1,a,bad\n", "row r1 is labelled twice by annotator a"),
    ],
)
def test_bad_csv_names_the_file_and_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, "labels.csv", text)
    with pytest.raises(ReviewError) as e:
        import_labels(_export(tmp_path), [path], str(tmp_path / "out"))
    assert str(e.value).startswith(path)
    assert message in str(e.value)


def test_cli_review_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ls = _write(tmp_path, "project.json", labelstudio_export())
    out = tmp_path / "labels"
    assert main(["review", "import", _export(tmp_path), ls, "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "15 annotations of 6 rows by 3 annotators" in printed
    assert "skipped 1 cancelled annotation" in printed
    assert "verdict: Krippendorff's alpha (nominal)" in printed
    assert pq.read_table(out / "labels.parquet").num_rows == 15
    report = json.loads((out / "agreement.json").read_text())
    assert set(report) >= {"counts", "verdict", "rating", "disagreements", "inputs"}
    # An earlier import is kept unless --overwrite; a bad file leaves it as it was.
    assert main(["review", "import", _export(tmp_path), ls, "--output", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    bad = _write(tmp_path, "bad.csv", "id,annotator,verdict\nr1,a,great\n")
    assert main(["review", "import", _export(tmp_path), bad, "--output", str(out), "--overwrite"]) == 2
    assert "bad.csv: line 2 (id r1): verdict must be good or bad; got 'great'" in capsys.readouterr().err
    assert json.loads((out / "agreement.json").read_text()) == report
    assert (
        main(
            [
                "review",
                "import",
                _export(tmp_path),
                ls,
                _write(tmp_path, "more.csv", "id,annotator,verdict\nr7,dave,bad\n"),
                "--output",
                str(out),
                "--overwrite",
            ]
        )
        == 0
    )
    assert pq.read_table(out / "labels.parquet").num_rows == 16


def test_labels_are_checked_against_the_export(tmp_path: Path) -> None:
    """Ids outside the sample, tasks of another export, and a folder that is not an export stop the import."""
    out = tmp_path / "labels"
    ls = labelstudio_export()
    for task in ls:
        task["data"]["export_id"] = EXPORT_ID
    path = _write(tmp_path, "ls.json", ls)
    _, report = import_labels(_export(tmp_path), [path], str(out))
    assert report["export"]["export_id"] == EXPORT_ID
    assert pq.read_table(out / "sample.parquet").column("inclusion_probability").to_pylist()[0] == 0.5
    assert json.loads((out / "export.json").read_text())["export_id"] == EXPORT_ID

    smaller = tmp_path / "small"
    smaller.mkdir()
    with pytest.raises(ReviewError, match=r"ls\.json: task 4 \(id r4\), annotation 1: id r4 is not in the sample of"):
        import_labels(_export(smaller, ("r1", "r2", "r3")), [path], str(tmp_path / "o1"))
    ls[1]["data"]["export_id"] = "ffffffffffff"
    other = _write(tmp_path, "other.json", ls)
    with pytest.raises(ReviewError, match=r"other\.json: task 2 \(id r2\), annotation 1: the task is from export ffffffffffff"):
        import_labels(_export(tmp_path), [other], str(tmp_path / "o2"))
    argilla = argilla_records()
    argilla[2]["metadata"]["export_id"] = "ffffffffffff"
    with pytest.raises(ReviewError, match=r"records\.json: record 3 .*from export ffffffffffff"):
        import_labels(_export(tmp_path), [_write(tmp_path, "records.json", argilla)], str(tmp_path / "o3"))
    with pytest.raises(ReviewError, match="not a `winnow review export` folder"):
        import_labels(str(tmp_path / "nowhere"), [path], str(tmp_path / "o4"))
    for name in ("o1", "o2", "o3", "o4"):
        assert not (tmp_path / name).exists()  # nothing half-written
