"""What `winnow review export` writes, built in memory from the sampled rows: pure functions, no files.

One sample, four views of it, so any annotation team can take it:

- `sample_table` (sample.parquet, sample.csv): id, stratum, inclusion
  probability, shard, keep, flags and every numeric score column, the table
  that reweights labels to the corpus;
- `labelstudio_config` and `labelstudio_tasks`: a Label Studio project
  (labeling config and tasks in its JSON import format, winnow's verdict as
  a prediction that annotators correct);
- `argilla_files`: the same in Argilla 2.x's on-disk dataset layout
  (`rg.Dataset.to_disk`: .argilla/dataset.json, .argilla/settings.json,
  records.json), which `rg.Dataset.from_disk` loads into a server;
- guidelines.md comes from winnow.transforms.review.guidelines.

The control names are the ones `winnow review import` reads back:
`verdict` (good/bad), `rating` (1-5), `note`; every task and record carries
the winnow `id` and the `export_id`, so labels of another export are refused.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from winnow.transforms.review.labels import RATINGS
from winnow.transforms.signals.rules import Rule

# The labeling interface: one name per control, shared by Label Studio, Argilla and the importer.
DIALOGUE, FLAGS_FIELD, VERDICT, RATING, NOTE = "dialogue", "flags", "verdict", "rating", "note"
VERDICT_CHOICES = ("good", "bad")  # the importer's VERDICTS, in the order annotators see them
# Columns every sample row has, before the score columns.
BASE_COLUMNS = ("id", "stratum", "inclusion_probability", "shard", "keep", "flags")
NO_FLAGS = "No rule fired on this row."


def export_id(config_hash: str, finished: str, seed: int, size: int, sizes: Mapping[str, Any] | None = None) -> str:
    """A short digest naming one export: the run (config hash, finish time), the seed and the size; and the
    strata sizes (the `review:` section) when given, since they change the sample too."""
    parts: list[Any] = [config_hash, finished, seed, size] + ([dict(sizes)] if sizes is not None else [])
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:12]


def model_version(version: str, config_hash: str) -> str:
    """The name winnow's predictions carry: winnow's version and the run's config."""
    return f"winnow-{version}-{config_hash[:12]}"


@dataclass(frozen=True)
class ExportInfo:
    """Who made the sample: what every task and record names."""

    export_id: str
    model_version: str
    score_column: str | None  # composite, else quality: the score of winnow's verdict


# ---- rows -------------------------------------------------------------------------------------


def _number(value: Any) -> Any:
    """A JSON-safe number: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dialogue(row: Mapping[str, Any]) -> list[dict[str, str]]:
    """The row's turns as {"author", "text"}, its system prompt first (Label Studio's Paragraphs)."""
    out = []
    if row.get("system"):
        out.append({"author": "system", "text": str(row["system"])})
    for turn in row.get("turns") or []:
        out.append({"author": str(turn.get("role") or ""), "text": str(turn.get("content") or "")})
    return out


def plain_text(turns: Sequence[Mapping[str, str]]) -> str:
    """The dialogue as plain text: `author: text` blocks."""
    return "\n\n".join(f"{t['author']}: {t['text']}" for t in turns)


def flags_text(flags: Sequence[str] | None, rules: Mapping[str, Rule]) -> str:
    """The rules that fired, one line each with severity and explanation (a rule the catalog lacks: its name)."""
    if not flags:
        return NO_FLAGS
    lines = []
    for name in flags:
        rule = rules.get(name)
        lines.append(f"{name} ({rule.severity}): {rule.explain}" if rule else name)
    return "\n".join(lines)


def verdict_of(row: Mapping[str, Any]) -> str:
    """winnow's verdict on a row: good when the keep policy keeps it."""
    return "good" if row.get("keep") else "bad"


# ---- sample.parquet / sample.csv ----------------------------------------------------------------


def sample_table(rows: Sequence[Mapping[str, Any]], score_columns: Sequence[str], schema: pa.Schema) -> pa.Table:
    """BASE_COLUMNS then the score columns (types as in records/), one row per sampled row."""
    fields = [
        pa.field("id", pa.string()),
        pa.field("stratum", pa.string()),
        pa.field("inclusion_probability", pa.float64()),
        pa.field("shard", pa.string()),
        pa.field("keep", pa.bool_()),
        pa.field("flags", pa.list_(pa.string())),
    ]
    fields += [schema.field(c).remove_metadata() for c in score_columns if c not in BASE_COLUMNS]
    out = pa.schema(fields)
    return pa.Table.from_pylist([{f.name: row.get(f.name) for f in out} for row in rows], schema=out)


def csv_bytes(table: pa.Table) -> bytes:
    """The sample as CSV: flags joined with "|", nulls empty, floats as Python writes them."""
    sink = io.StringIO(newline="")
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow(
            [
                "|".join(v or []) if name == "flags" else "" if v is None else str(v).lower() if isinstance(v, bool) else v
                for name, v in row.items()
            ]
        )
    return sink.getvalue().encode("utf-8")


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


# ---- Label Studio -------------------------------------------------------------------------------


def labelstudio_config() -> str:
    """The labeling config: the dialogue, the flags, and the verdict, rating and note controls."""
    choices = "\n".join(f'    <Choice value="{v}"/>' for v in VERDICT_CHOICES)
    return (
        "<View>\n"
        f'  <Paragraphs name="{DIALOGUE}" value="${DIALOGUE}" layout="dialogue" nameKey="author" textKey="text"/>\n'
        '  <Header value="Rules that fired"/>\n'
        f'  <Text name="{FLAGS_FIELD}" value="${FLAGS_FIELD}"/>\n'
        '  <Header value="Verdict: keep this row for training?"/>\n'
        f'  <Choices name="{VERDICT}" toName="{DIALOGUE}" choice="single" required="true">\n{choices}\n  </Choices>\n'
        '  <Header value="Rating (1 unusable - 5 excellent)"/>\n'
        f'  <Rating name="{RATING}" toName="{DIALOGUE}" maxRating="{max(RATINGS)}"/>\n'
        '  <Header value="Note"/>\n'
        f'  <TextArea name="{NOTE}" toName="{DIALOGUE}" rows="3" maxSubmissions="1"/>\n'
        "</View>\n"
    )


def labelstudio_tasks(
    rows: Sequence[Mapping[str, Any]], score_columns: Sequence[str], rules: Mapping[str, Rule], info: ExportInfo
) -> list[dict[str, Any]]:
    """Label Studio's JSON import format: {"data": ..., "predictions": [winnow's verdict]} per row."""
    reserved = {"id", "export_id", "stratum", "inclusion_probability", DIALOGUE, "text", FLAGS_FIELD}
    tasks = []
    for row in rows:
        turns = dialogue(row)
        data: dict[str, Any] = {
            "id": row["id"],
            "export_id": info.export_id,
            "stratum": row["stratum"],
            "inclusion_probability": row["inclusion_probability"],
            DIALOGUE: turns,
            "text": plain_text(turns),
            FLAGS_FIELD: flags_text(row.get("flags"), rules),
        }
        data.update({c: _number(row.get(c)) for c in score_columns if c not in reserved})
        prediction: dict[str, Any] = {
            "model_version": info.model_version,
            "result": [
                {
                    "id": "verdict",
                    "from_name": VERDICT,
                    "to_name": DIALOGUE,
                    "type": "choices",
                    "value": {"choices": [verdict_of(row)]},
                }
            ],
        }
        score = _number(row.get(info.score_column)) if info.score_column else None
        if score is not None:
            prediction["score"] = score
        tasks.append({"data": data, "predictions": [prediction]})
    return tasks


# ---- Argilla 2.x ---------------------------------------------------------------------------------


def argilla_settings(guidelines: str) -> dict[str, Any]:
    """rg.Settings as Settings.to_json writes it (argilla 2.8): a ChatField, a TextField, the three questions,
    the metadata properties. Ids and dataset ids are null until a server creates the dataset."""
    stamps = {"id": None, "inserted_at": None, "updated_at": None}

    def field(name: str, title: str, kind: str, use_markdown: bool, description: str) -> dict[str, Any]:
        settings = {"type": kind, "use_markdown": use_markdown}
        return {
            **stamps,
            "name": name,
            "settings": settings,
            "title": title,
            "required": True,
            "description": description,
            "dataset_id": None,
            "type": kind,
        }

    def question(name: str, title: str, required: bool, description: str | None, settings: dict[str, Any]) -> dict[str, Any]:
        return {
            **stamps,
            "name": name,
            "settings": settings,
            "title": title,
            "description": description,
            "required": required,
            "dataset_id": None,
            "type": settings["type"],
        }

    def metadata(name: str, title: str, settings: dict[str, Any]) -> dict[str, Any]:
        return {
            **stamps,
            "name": name,
            "settings": {"visible_for_annotators": True, **settings},
            "title": title,
            "visible_for_annotators": True,
            "dataset_id": None,
        }

    return {
        "guidelines": guidelines,
        "questions": [
            question(
                VERDICT,
                "Verdict: keep this row for training?",
                True,
                "good: worth training on; bad: drop it (see the guidelines)",
                {
                    "type": "label_selection",
                    "options": [{"text": v, "value": v} for v in VERDICT_CHOICES],
                    "visible_options": None,
                },
            ),
            question(
                RATING,
                "Rating (1 unusable - 5 excellent)",
                False,
                None,
                {"type": "rating", "options": [{"value": v} for v in RATINGS]},
            ),
            question(NOTE, "Note", False, "why, when it is not obvious", {"type": "text", "use_markdown": False}),
        ],
        "fields": [
            field(DIALOGUE, "Dialogue", "chat", True, "the row, its system prompt first"),
            field(FLAGS_FIELD, "Rules that fired", "text", False, "winnow's rules that fired on the row, with their explanation"),
        ],
        "vectors": [],
        "metadata": [
            metadata("id", "winnow id", {"type": "terms", "values": None}),
            metadata("export_id", "export", {"type": "terms", "values": None}),
            metadata("stratum", "stratum", {"type": "terms", "values": None}),
            metadata("inclusion_probability", "inclusion probability", {"min": None, "max": None, "type": "float"}),
        ],
        "allow_extra_metadata": False,
        "distribution": {"strategy": "overlap", "min_submitted": 1},
        "mapping": None,
    }


def argilla_dataset(name: str, guidelines: str) -> dict[str, Any]:
    """The dataset model (.argilla/dataset.json); the server sets its id and workspace when it imports it."""
    return {
        "id": None,
        "inserted_at": None,
        "updated_at": None,
        "name": name,
        "status": "draft",
        "guidelines": guidelines,
        "allow_extra_metadata": False,
        "distribution": {"strategy": "overlap", "min_submitted": 1},
        "workspace_id": None,
        "last_activity_at": None,
    }


def argilla_records(rows: Sequence[Mapping[str, Any]], rules: Mapping[str, Rule], info: ExportInfo) -> list[dict[str, Any]]:
    """records.json as Record.to_dict writes it: fields, metadata, winnow's verdict as a suggestion, no responses."""
    out = []
    for row in rows:
        score = _number(row.get(info.score_column)) if info.score_column else None
        suggestion = {"value": verdict_of(row), "score": score, "agent": info.model_version}
        out.append(
            {
                "id": _record_id(info.export_id, str(row["id"])),
                "fields": {
                    DIALOGUE: [{"role": t["author"], "content": t["text"]} for t in dialogue(row)],
                    FLAGS_FIELD: flags_text(row.get("flags"), rules),
                },
                "metadata": {
                    "id": row["id"],
                    "export_id": info.export_id,
                    "stratum": row["stratum"],
                    "inclusion_probability": row["inclusion_probability"],
                },
                "suggestions": {VERDICT: suggestion},
                "responses": {},
                "vectors": {},
                "status": "pending",
                "_server_id": None,
            }
        )
    return out


def _record_id(export: str, row_id: str) -> str:
    """A stable record id (a UUID from the export and the winnow id): any winnow id, even a long one, fits."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"winnow:{export}:{row_id}"))


def argilla_files(
    rows: Sequence[Mapping[str, Any]], rules: Mapping[str, Rule], info: ExportInfo, guidelines: str
) -> dict[str, bytes]:
    """Relative path -> bytes of the Argilla dataset folder."""
    return {
        ".argilla/dataset.json": json_bytes(argilla_dataset(f"winnow-review-{info.export_id}", guidelines)),
        ".argilla/settings.json": json_bytes(argilla_settings(guidelines)),
        "records.json": json_bytes(argilla_records(rows, rules, info)),
    }


def json_bytes(value: Any) -> bytes:
    """Indented UTF-8 JSON with a final newline; NaN is an error (numbers went through _number)."""
    return (json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
