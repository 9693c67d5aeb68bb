"""Readers of annotation exports: Label Studio (JSON, JSON_MIN), CSV and Argilla 2.x.

Every format becomes the same rows, one per (row id, annotator): `id`,
`annotator`, `verdict` (good/bad), `rating` (1-5 or null) and `note`. A value
that cannot be read raises a ReviewError naming the file and the task, record
or line, so a malformed export never turns into silently missing labels; what
is skipped on purpose (cancelled annotations, Argilla drafts) is counted.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from winnow.transforms.io.inputs import InputError

COLUMNS = ("id", "annotator", "verdict", "rating", "note")
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("annotator", pa.string()),
        ("verdict", pa.string()),
        ("rating", pa.int8()),
        ("note", pa.string()),
    ]
)
VERDICTS = ("bad", "good")
RATINGS = (1, 2, 3, 4, 5)
FORMATS = ("labelstudio", "labelstudio-min", "csv", "argilla")


class ReviewError(InputError):
    """An annotation file winnow cannot read; the message names the file and the row."""


@dataclass
class ImportedFile:
    """What one file gave: its rows, its format, and what it skipped (reason -> count)."""

    path: str
    format: str
    rows: list[dict[str, Any]]
    skipped: Counter[str] = field(default_factory=Counter)


def _verdict(value: Any, where: str) -> str:
    if isinstance(value, list):  # Choices export a list, even for a single choice
        if len(value) != 1:
            raise ReviewError(f"{where}: verdict must be one choice of {' or '.join(VERDICTS)}; got {value!r}")
        value = value[0]
    if value is None or value == "":
        raise ReviewError(f"{where}: no verdict (one of {' or '.join(VERDICTS)} is required)")
    text = str(value).strip().lower()
    if text not in VERDICTS:
        raise ReviewError(f"{where}: verdict must be good or bad; got {value!r}")
    return text


def _rating(value: Any, where: str) -> int | None:
    if value is None or value == "":
        return None
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not number.is_integer() or int(number) not in RATINGS:
        raise ReviewError(f"{where}: rating must be a whole number from 1 to 5; got {value!r}")
    return int(number)


def _note(value: Any) -> str | None:
    if isinstance(value, list):  # TextArea exports a list of lines
        value = "\n".join(str(v) for v in value)
    if value is None or str(value).strip() == "":
        return None
    return str(value)


def _row_id(value: Any, where: str) -> str:
    if value is None or isinstance(value, (dict, list, bool)) or str(value).strip() == "":
        raise ReviewError(f"{where}: no winnow row id")
    return str(value)


def _annotator(value: Any, where: str) -> str:
    if isinstance(value, dict):  # Label Studio: {"id": 1, "email": ...}
        value = value.get("email") or value.get("id")
    if value is None or str(value).strip() == "":
        raise ReviewError(f"{where}: no annotator")
    return str(value)


def _row(row_id: str, annotator: str, verdict: Any, rating: Any, note: Any, where: str, export_id: Any = None) -> dict[str, Any]:
    """One label; `where` (file and row) and the export the task came from stay beside it for the sample check."""
    return {
        "id": row_id,
        "annotator": annotator,
        "verdict": _verdict(verdict, where),
        "rating": _rating(rating, where),
        "note": _note(note),
        "where": where,
        "export_id": None if export_id is None else str(export_id),
    }


def _objects(items: list[Any], path: str, what: str) -> Iterable[tuple[int, dict[str, Any]]]:
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise ReviewError(f"{path}: {what} {i} is not a JSON object")
        yield i, item


def read_labelstudio(items: list[Any], path: str) -> ImportedFile:
    """Label Studio's JSON export: tasks whose `data.id` is the row, one row per kept annotation."""
    out = ImportedFile(path, "labelstudio", [])
    for i, task in _objects(items, path, "task"):
        data = task.get("data")
        where = f"{path}: task {i}"
        if not isinstance(data, dict):
            raise ReviewError(f"{where}: no `data` object")
        row_id = _row_id(data.get("id"), f"{where} (data.id)")
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list):
            raise ReviewError(f"{where}: `annotations` is not a list")
        for j, ann in enumerate(annotations, 1):
            at = f"{where} (id {row_id}), annotation {j}"
            if not isinstance(ann, dict):
                raise ReviewError(f"{at}: not a JSON object")
            if ann.get("was_cancelled"):
                out.skipped["cancelled annotation"] += 1
                continue
            values: dict[str, Any] = {}
            for item in ann.get("result") or []:
                value = item.get("value") if isinstance(item, dict) else None
                if not isinstance(value, dict):
                    raise ReviewError(f"{at}: a result without a `value` object")
                name = item.get("from_name")
                if name == "verdict":
                    values["verdict"] = value.get("choices")
                elif name == "rating":
                    values["rating"] = value.get("rating")
                elif name == "note":
                    values["note"] = value.get("text")
            annotator = _annotator(ann.get("completed_by"), at)
            out.rows.append(
                _row(
                    row_id, annotator, values.get("verdict"), values.get("rating"), values.get("note"), at, data.get("export_id")
                )
            )
    return out


def read_labelstudio_min(items: list[Any], path: str) -> ImportedFile:
    """Label Studio's JSON_MIN export: one flat object per annotation.

    JSON_MIN puts Label Studio's own task id in `id` when the task data has
    none; the winnow id is taken from `winnow_id` when present, else `id`.
    """
    out = ImportedFile(path, "labelstudio-min", [])
    for i, obj in _objects(items, path, "object"):
        where = f"{path}: object {i}"
        row_id = _row_id(obj.get("winnow_id", obj.get("id")), f"{where} (id)")
        at = f"{where} (id {row_id})"
        annotator = _annotator(obj.get("annotator"), at)
        out.rows.append(_row(row_id, annotator, obj.get("verdict"), obj.get("rating"), obj.get("note"), at, obj.get("export_id")))
    return out


def read_argilla(items: list[Any], path: str) -> ImportedFile:
    """Argilla 2.x `records.json` (Dataset.to_disk): responses grouped by question, each with a user_id.

    Only submitted responses count (a missing status counts as submitted);
    drafts and discarded ones are skipped and counted.
    """
    out = ImportedFile(path, "argilla", [])
    for i, rec in _objects(items, path, "record"):
        where = f"{path}: record {i}"
        metadata = rec.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        fields = rec.get("fields")
        fields = fields if isinstance(fields, dict) else {}
        row_id = _row_id(metadata.get("id", fields.get("id", rec.get("id"))), f"{where} (metadata.id or id)")
        responses = rec.get("responses") or {}
        if isinstance(responses, list):  # the flat form: [{"question_name", "value", "user_id"}]
            grouped: dict[str, list[Any]] = {}
            for r in responses:
                if isinstance(r, dict):
                    grouped.setdefault(str(r.get("question_name")), []).append(r)
            responses = grouped
        if not isinstance(responses, dict):
            raise ReviewError(f"{where}: `responses` is neither an object nor a list")
        by_user: dict[str, dict[str, Any]] = {}
        for question, answers in responses.items():
            for r in answers if isinstance(answers, list) else []:
                if not isinstance(r, dict):
                    raise ReviewError(f"{where} (id {row_id}): a `{question}` response is not a JSON object")
                status = r.get("status", "submitted")
                if status != "submitted":
                    out.skipped[f"{status} response"] += 1
                    continue
                user = _annotator(r.get("user_id"), f"{where} (id {row_id}), a `{question}` response")
                by_user.setdefault(user, {})[question] = r.get("value")
        for user, values in by_user.items():
            at = f"{where} (id {row_id}), user {user}"
            export_id = metadata.get("export_id")
            out.rows.append(_row(row_id, user, values.get("verdict"), values.get("rating"), values.get("note"), at, export_id))
    return out


def read_csv(data: bytes, path: str) -> ImportedFile:
    """A CSV with the header `id, annotator, verdict, rating, note` (rating and note may be empty or absent)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ReviewError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in ("id", "annotator", "verdict") if c not in header]
    if missing:
        raise ReviewError(
            f"{path}: the CSV header needs id, annotator, verdict (rating, note optional); missing {', '.join(missing)}"
        )
    reader.fieldnames = header
    out = ImportedFile(path, "csv", [])
    for row in reader:
        where = f"{path}: line {reader.line_num}"
        row_id = _row_id(row.get("id"), f"{where} (id)")
        at = f"{where} (id {row_id})"
        out.rows.append(
            _row(row_id, _annotator(row.get("annotator"), at), row.get("verdict"), row.get("rating"), row.get("note"), at)
        )
    return out


def detect_format(items: list[Any]) -> str | None:
    """Which JSON export a list is, from its first object's keys."""
    first = next((x for x in items if isinstance(x, dict)), None)
    if first is None:
        return None
    if "annotations" in first and "data" in first:
        return "labelstudio"
    if "responses" in first or "fields" in first:
        return "argilla"
    if "verdict" in first or "annotator" in first:
        return "labelstudio-min"
    return None


JSON_READERS: dict[str, Callable[[list[Any], str], ImportedFile]] = {
    "labelstudio": read_labelstudio,
    "labelstudio-min": read_labelstudio_min,
    "argilla": read_argilla,
}


def read_labels(data: bytes, path: str) -> ImportedFile:
    """One annotation file, its format found from the name (.csv) or the JSON's shape."""
    if path.lower().endswith(".csv"):
        return read_csv(data, path)
    try:
        items = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ReviewError(f"{path}: not JSON nor a .csv file ({e})") from e
    if not isinstance(items, list):
        raise ReviewError(
            f"{path}: unknown format: expected a JSON list (Label Studio JSON or JSON_MIN, Argilla records.json), "
            f"got a JSON {type(items).__name__}"
        )
    if not items:
        raise ReviewError(f"{path}: holds no tasks or records (an empty list)")
    fmt = detect_format(items)
    if fmt is None:
        raise ReviewError(
            f"{path}: unknown format: the first object has none of `annotations`+`data` (Label Studio JSON), "
            "`responses`/`fields` (Argilla records.json) or `verdict`/`annotator` (Label Studio JSON_MIN)"
        )
    return JSON_READERS[fmt](items, path)


def check_sample(imported: list[ImportedFile], sample_ids: set[str], export_id: str, export_dir: str) -> None:
    """Every label is of a row of this export's sample, and no task says it came from another export."""
    for f in imported:
        for row in f.rows:
            if row["export_id"] is not None and row["export_id"] != export_id:
                raise ReviewError(
                    f"{row['where']}: the task is from export {row['export_id']}, not from {export_dir} "
                    f"(export {export_id}): labels of another run or sample"
                )
            if row["id"] not in sample_ids:
                raise ReviewError(
                    f"{row['where']}: id {row['id']} is not in the sample of {export_dir} (sample.parquet): "
                    "labels of another run or sample, or an edited id"
                )


def labels_table(imported: list[ImportedFile]) -> pa.Table:
    """Every file's rows as one table sorted by (id, annotator); a row labelled twice by one annotator is an error."""
    seen: dict[tuple[str, str], str] = {}
    rows: list[dict[str, Any]] = []
    for f in imported:
        for row in f.rows:
            key = (row["id"], row["annotator"])
            if key in seen:
                raise ReviewError(f"{f.path}: row {key[0]} is labelled twice by annotator {key[1]} (also in {seen[key]})")
            seen[key] = f.path
            rows.append(row)
    rows.sort(key=lambda r: (r["id"], r["annotator"]))
    return pa.Table.from_pylist(rows, schema=SCHEMA)
