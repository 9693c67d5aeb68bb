"""How well a run's score columns agree with labels a user has: metrics, bootstrap, label files.

Pure functions over numpy arrays and Arrow tables (`winnow evaluate` in
pipelines/evaluate.py does the reading and writing):

- metrics that depend only on the order of the scores: `roc_auc` (binary
  labels), `spearman` (graded labels, or per-group mean score vs the group's
  grade), `pairwise_accuracy` (chosen/rejected pairs); ties get average ranks
  or count half;
- `bootstrap_ci`: a percentile bootstrap interval with a fixed seed;
- `parse_labels`: a label file (JSONL, JSON array, CSV or Parquet, by
  extension) to `Labels`, with an error naming the file and the row for
  anything malformed;
- `evaluate`: labels joined to the run's rows by id, every metric per column.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from winnow.transforms.io.canonical import own_id
from winnow.transforms.io.inputs import InputError

# Label file types, by extension (a .json file holds a JSON array, or JSON lines).
LABEL_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
KINDS = ("binary", "graded", "pairwise", "groups")
METRIC_OF_KIND = {"binary": "roc_auc", "graded": "spearman", "pairwise": "pairwise_accuracy", "groups": "spearman"}
METRIC_NAMES = {"roc_auc": "ROC-AUC", "spearman": "Spearman", "pairwise_accuracy": "pairwise acc."}
BOOTSTRAP_UNIT = {"binary": "rows", "graded": "rows", "pairwise": "pairs", "groups": "groups"}
POSITIVE_WORDS = frozenset({"good", "true", "yes", "positive", "1"})
NEGATIVE_WORDS = frozenset({"bad", "false", "no", "negative", "0"})
# Scored by default besides every floating-point column: the sizes of the row.
LENGTH_COLUMNS = ("instruction_chars", "instruction_words", "response_chars", "response_words", "n_turns")
EXAMPLES = 5  # ids listed in messages and in evaluation.json


class LabelError(InputError):
    """A label file that cannot be used, or labels that match nothing in the run: the file and row are named."""


# ---- metrics ------------------------------------------------------------------------------------


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank (the ranks scipy.stats.rankdata gives by default).

    Non-negative integer codes (see `dense_codes`) are ranked by counting, without
    a sort, which is what makes a bootstrap over coded scores cheap.
    """
    x = np.asarray(x)
    if x.dtype.kind in "iu" and len(x) and int(x.min()) >= 0 and int(x.max()) < 4 * len(x) + 1024:
        counts = np.bincount(x)
    else:
        _, x, counts = np.unique(x, return_inverse=True, return_counts=True)
    average = np.cumsum(counts) - (counts - 1) / 2.0  # a value's c copies hold ranks end-c+1..end: mean end-(c-1)/2
    return np.asarray(average[x.reshape(-1)], dtype=np.float64)


def dense_codes(x: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... in the order of the values (equal values share a code): every metric here
    depends only on that order, so it is the same on the codes, and ranks them faster."""
    return np.unique(np.asarray(x), return_inverse=True)[1].reshape(-1).astype(np.int64)


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a random positive outranks a random negative (ties count half).

    Mann-Whitney U over the average ranks; NaN without both classes.
    """
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = average_ranks(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation: Pearson's correlation of the average ranks (ties handled).

    NaN with fewer than two values, or when either side is constant.
    """
    if len(x) < 2:
        return float("nan")
    rx = average_ranks(x)
    ry = average_ranks(y)
    rx -= rx.mean()
    ry -= ry.mean()
    denominator = math.sqrt(_dot(rx, rx) * _dot(ry, ry))
    if denominator == 0:
        return float("nan")
    return float(np.clip(_dot(rx, ry) / denominator, -1.0, 1.0))


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Sum of a*b without BLAS: `a @ b` may start BLAS threads, 20x slower for one vector on a busy machine."""
    return float(np.einsum("i,i->", a, b))


def pairwise_accuracy(chosen: np.ndarray, rejected: np.ndarray) -> float:
    """Share of pairs whose chosen answer scores above the rejected one; a tie counts half. NaN without pairs."""
    chosen = np.asarray(chosen)
    rejected = np.asarray(rejected)
    if len(chosen) == 0:
        return float("nan")
    return float(((chosen > rejected) + 0.5 * (chosen == rejected)).mean())


def bootstrap_ci(
    metric: Callable[..., float], arrays: Sequence[np.ndarray], n: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of `metric(*arrays)`.

    Each of `n` resamples draws len(arrays[0]) indices with replacement (the
    same indices for every array: rows, pairs or groups stay whole) from a
    generator seeded with `seed`, so the interval is the same on every run.
    Resamples where the metric is undefined (one class only) are left out.
    Returns (NaN, NaN) with no data, n = 0 or no defined resample.
    """
    columns = [np.asarray(a) for a in arrays]
    size = len(columns[0]) if columns else 0
    if n <= 0 or size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    stats = np.empty(n, dtype=np.float64)
    for b in range(n):
        idx = rng.integers(0, size, size)
        stats[b] = metric(*(c[idx] for c in columns))
    stats = stats[~np.isnan(stats)]
    if len(stats) == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(stats, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


# ---- label files --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelTable:
    """The columns of a label file, one value per row (None where a row lacks the field)."""

    path: str
    format: str
    num_rows: int
    columns: list[str]  # every column (or key) found, in first-seen order
    values: dict[str, list[Any]]  # the wanted columns that exist
    lines: list[int] | None = None  # JSON lines: the line number of each row

    def where(self, i: int) -> str:
        """Where row i is, for a message: `FILE line 7` (JSON lines, CSV) or `FILE element 3 (counting from 0)`."""
        if self.lines is not None:
            return f"{self.path} line {self.lines[i]}"
        if self.format == "csv":
            return f"{self.path} line {i + 2}"  # line 1 is the header
        return f"{self.path} {'element' if self.format == 'json' else 'row'} {i} (counting from 0)"


def label_format(path: str) -> str:
    """jsonl, json, csv or parquet, from the file's extension."""
    name = path.rstrip("/").rsplit("/", 1)[-1].lower()
    for ext, fmt in LABEL_FORMATS.items():
        if name.endswith(ext):
            return fmt
    raise LabelError(f"{path}: unknown label file type; use one of {', '.join(LABEL_FORMATS)}")


def read_label_table(data: bytes, path: str, wanted: Iterable[str], text_columns: Iterable[str] = ()) -> LabelTable:
    """Parse a label file's bytes; `wanted` columns are kept, `text_columns` read as text from CSV."""
    fmt = label_format(path)
    wanted = list(dict.fromkeys(wanted))
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if fmt in ("csv", "parquet"):
        try:
            if fmt == "csv":
                types = {c: pa.string() for c in text_columns}
                table = pacsv.read_csv(io.BytesIO(data), convert_options=pacsv.ConvertOptions(column_types=types))
            else:
                table = pq.read_table(pa.BufferReader(data))
        except (pa.ArrowException, OSError, ValueError) as e:
            raise LabelError(f"{path}: not a readable {fmt.upper() if fmt == 'csv' else 'Parquet'} file: {e}") from e
        values = {c: table.column(c).to_pylist() for c in wanted if c in table.column_names}
        return LabelTable(path, fmt, table.num_rows, list(table.column_names), values)
    if fmt == "json" and data.lstrip()[:1] == b"[":
        try:
            items = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise LabelError(f"{path}: not valid JSON: {e}") from e
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise LabelError(f"{path} element {i} (counting from 0): not a JSON object")
        return _from_rows(path, fmt, items, wanted, None)
    rows, lines = [], []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            raise LabelError(f"{path} line {number}: not valid JSON: {e}") from e
        if not isinstance(row, dict):
            raise LabelError(f"{path} line {number}: not a JSON object")
        rows.append(row)
        lines.append(number)
    return _from_rows(path, fmt, rows, wanted, lines)


def _from_rows(path: str, fmt: str, rows: list[dict[str, Any]], wanted: list[str], lines: list[int] | None) -> LabelTable:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    values = {c: [row.get(c) for row in rows] for c in wanted if c in columns}
    return LabelTable(path, fmt, len(rows), columns, values, lines)


@dataclass(frozen=True)
class Labels:
    """A label file, parsed and checked.

    binary / graded: `ids` and `values` (1/0, or the grade) per row. groups:
    `ids`, `groups` (index into `group_names`) per row and `group_grades` per
    group. pairwise: `chosen` and `rejected` ids per pair.
    """

    path: str
    format: str
    kind: str
    ids: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    values: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.float64))
    chosen: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    rejected: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    group_column: str | None = None
    groups: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))
    group_names: list[str] = field(default_factory=list)
    group_grades: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.float64))
    grades_path: str | None = None

    @property
    def rows(self) -> int:
        return len(self.chosen) if self.kind == "pairwise" else len(self.ids)

    def counts(self) -> dict[str, Any]:
        """What the file holds, for evaluation.json."""
        out: dict[str, Any] = {"rows": self.rows}
        if self.kind == "binary":
            out.update(positive=int((self.values == 1).sum()), negative=int((self.values == 0).sum()))
        elif self.kind == "graded":
            out.update(grades=len(np.unique(self.values)), min_grade=float(self.values.min()), max_grade=float(self.values.max()))
        elif self.kind == "pairwise":
            out.update(ids=len(self.all_ids()))
        else:
            rows = np.bincount(self.groups, minlength=len(self.group_names))
            out.update(
                group_column=self.group_column,
                groups={g: {"grade": float(v), "rows": int(r)} for g, v, r in zip(self.group_names, self.group_grades, rows)},
            )
            if self.grades_path:
                out["grades_file"] = self.grades_path
        return out

    def describe(self) -> str:
        """One line: the kind and its counts."""
        c = self.counts()
        if self.kind == "binary":
            return f"binary labels, {c['rows']:,} rows ({c['positive']:,} positive, {c['negative']:,} negative)"
        if self.kind == "graded":
            return f"graded labels, {c['rows']:,} rows ({c['grades']} grades, {c['min_grade']:g} to {c['max_grade']:g})"
        if self.kind == "pairwise":
            return f"chosen/rejected pairs, {c['rows']:,} pairs of {c['ids']:,} ids"
        return f"{len(self.group_names)} groups by {self.group_column} with a grade each, {c['rows']:,} rows"

    def all_ids(self) -> np.ndarray:
        """Every id the file names, once, in file order."""
        ids = np.stack([self.chosen, self.rejected], axis=1).reshape(-1) if self.kind == "pairwise" else self.ids
        if not len(ids):
            return np.array([], dtype=object)
        _, first = np.unique(ids.astype(str), return_index=True)
        return np.asarray(ids[np.sort(first)], dtype=object)


def _ids(table: LabelTable, column: str) -> np.ndarray:
    """The column's values as ids (text; an integer keeps its decimal form), or an error naming the row."""
    out = np.empty(table.num_rows, dtype=object)
    for i, value in enumerate(table.values[column]):
        text, problem = own_id({column: value}, column)
        if text is None:
            problem = None if value == "" else problem  # an empty CSV cell is a missing id
            what = f"has no {column}" if problem is None else f"has an unusable {column} {value!r} (not text or an integer)"
            raise LabelError(f"{table.where(i)}: the row {what}")
        out[i] = text
    return out


def _number(value: Any) -> float | None:
    """A finite number from a JSON/CSV value (numbers, numeric text), else None; booleans are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _binary(value: Any) -> float | None:
    """1.0 / 0.0 for a binary label (true/false, 1/0, good/bad, yes/no, positive/negative), else None."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and value in (0, 1):
        return float(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in POSITIVE_WORDS:
            return 1.0
        if word in NEGATIVE_WORDS:
            return 0.0
    return None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, float) and math.isnan(value))


def _label_values(table: LabelTable, column: str) -> tuple[str, np.ndarray]:
    """(binary | graded, values): binary when every value reads as binary, graded when every one is a number."""
    raw = table.values[column]
    for i, value in enumerate(raw):
        if _missing(value):
            raise LabelError(f"{table.where(i)}: the row has no {column}")
    binary = [_binary(v) for v in raw]
    if all(b is not None for b in binary):
        return "binary", np.array(binary, dtype=np.float64)
    numbers = [_number(v) for v in raw]
    graded = any(n is not None and b is None for n, b in zip(numbers, binary))  # a number other than 0 and 1
    for i, (value, number, bit) in enumerate(zip(raw, numbers, binary)):
        if graded and number is None:
            raise LabelError(f"{table.where(i)}: {column} {value!r} is not a number, and other rows hold numeric grades")
        if not graded and bit is None:
            raise LabelError(f"{table.where(i)}: {column} {value!r} is neither binary (true/false, 1/0, good/bad) nor a number")
    return "graded", np.array(numbers, dtype=np.float64)


def _grades(table: LabelTable, column: str) -> np.ndarray:
    out = np.empty(table.num_rows, dtype=np.float64)
    for i, value in enumerate(table.values[column]):
        if _missing(value):
            raise LabelError(f"{table.where(i)}: the row has no {column}")
        number = _number(value)
        if number is None:
            raise LabelError(f"{table.where(i)}: {column} {value!r} is not a number")
        out[i] = number
    return out


def _no_repeats(table: LabelTable, ids: np.ndarray, what: str = "id") -> None:
    """Each id labelled once: a repeat names the id and both rows."""
    if not len(ids):
        return
    order = np.argsort(ids.astype(str), kind="stable")
    sorted_ids = ids[order]
    same = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if len(same):
        first, second = sorted(order[same[0] : same[0] + 2])
        raise LabelError(
            f"{table.where(int(second))}: {what} {ids[second]!r} is labelled again (first at {table.where(int(first))}); "
            "label each id once"
        )


def _expected_layouts(path: str, columns: list[str]) -> str:
    found = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "") if columns else "none"
    return (
        f"{path}: cannot tell what the labels are (columns: {found}); a label file holds `id` + `label` "
        "(binary: true/false, 1/0, good/bad) or `id` + `grade` (graded), `chosen` + `rejected` ids (pairs), "
        "or `id` + a group column named by --group-column with a `grade` per group (or --grades FILE)"
    )


def parse_labels(
    data: bytes,
    path: str,
    group_column: str | None = None,
    grades_data: bytes | None = None,
    grades_path: str | None = None,
) -> Labels:
    """The labels in a file, of the kind its columns say:

    - `chosen` and `rejected` (ids): pairwise;
    - `id` and the group column (with --group-column), the grade of each group
      from a `grade` column or from the grades file (`group` or the group
      column's name, and `grade`): groups;
    - `id` and `label` (or `grade`): binary if every value reads as binary
      (true/false, 1/0, good/bad, yes/no, positive/negative), graded if every
      value is a number.
    Raises LabelError naming the file, and the row when one row is at fault.
    """
    text = ["id", "chosen", "rejected", *([group_column] if group_column else [])]
    table = read_label_table(data, path, [*text, "label", "grade"], text)
    fmt = table.format
    cols = set(table.columns)
    if table.num_rows == 0:
        raise LabelError(f"{path}: holds no label rows")
    if grades_path is not None and not group_column:
        raise LabelError("--grades gives the grade of each group: it needs --group-column")
    if cols & {"chosen", "rejected"}:
        if not {"chosen", "rejected"} <= cols:
            have, lack = ("chosen", "rejected") if "chosen" in cols else ("rejected", "chosen")
            raise LabelError(f"{path}: has a `{have}` column but no `{lack}` column; a pair needs both ids")
        if group_column:
            raise LabelError(f"{path}: holds chosen/rejected pairs; --group-column is for `id` + group label files")
        chosen, rejected = _ids(table, "chosen"), _ids(table, "rejected")
        same = np.flatnonzero(chosen == rejected)
        if len(same):
            raise LabelError(f"{table.where(int(same[0]))}: chosen and rejected are the same id {chosen[same[0]]!r}")
        return Labels(path, fmt, "pairwise", chosen=chosen, rejected=rejected)
    if "id" not in cols:
        raise LabelError(_expected_layouts(path, table.columns))
    ids = _ids(table, "id")
    _no_repeats(table, ids)
    if group_column:
        return _group_labels(table, ids, group_column, grades_data, grades_path)
    if "label" in cols and "grade" in cols:
        raise LabelError(f"{path}: has both a `label` and a `grade` column; keep the one to evaluate against")
    if "label" in cols or "grade" in cols:
        column = "label" if "label" in cols else "grade"
        kind, values = _label_values(table, column)
        if len(np.unique(values)) < 2:
            what = ("positive" if values[0] == 1 else "negative") if kind == "binary" else f"{column} {values[0]:g}"
            raise LabelError(f"{path}: every row is {what}; {kind} labels need at least two different values")
        return Labels(path, fmt, kind, ids=ids, values=values)
    raise LabelError(_expected_layouts(path, table.columns))


def _group_labels(
    table: LabelTable, ids: np.ndarray, group_column: str, grades_data: bytes | None, grades_path: str | None
) -> Labels:
    path = table.path
    if group_column not in table.values:
        raise LabelError(f"{path}: has no `{group_column}` column (--group-column)")
    names = _ids(table, group_column)
    group_names = sorted(set(names.tolist()))
    code = {g: i for i, g in enumerate(group_names)}
    groups = np.array([code[g] for g in names], dtype=np.int64)
    grade_of: dict[str, float] = {}
    if grades_data is not None:
        if "grade" in table.values:
            raise LabelError(f"{path}: has a `grade` column and --grades names a grades file; give the grades one way")
        gpath = grades_path or "--grades"
        gtable = read_label_table(grades_data, gpath, ["group", group_column, "grade"], ["group", group_column])
        key = "group" if "group" in gtable.values else group_column if group_column in gtable.values else None
        if key is None or "grade" not in gtable.values:
            raise LabelError(f"{gpath}: a grades file holds `group` (or `{group_column}`) and `grade` per group")
        for i, (g, v) in enumerate(zip(_ids(gtable, key), _grades(gtable, "grade"))):
            if g in grade_of and grade_of[g] != v:
                raise LabelError(f"{gtable.where(i)}: group {g!r} has a second grade ({grade_of[g]:g}, then {v:g})")
            grade_of[g] = float(v)
        missing = [g for g in group_names if g not in grade_of]
        if missing:
            raise LabelError(f"{gpath}: no grade for group(s) {', '.join(map(repr, missing[:EXAMPLES]))} of {path}")
    elif "grade" in table.values:
        for i, (g, v) in enumerate(zip(names, _grades(table, "grade"))):
            if g in grade_of and grade_of[g] != v:
                raise LabelError(
                    f"{table.where(i)}: group {g!r} has grade {v:g} here and {grade_of[g]:g} on an earlier row; "
                    "a group has one grade"
                )
            grade_of[g] = float(v)
    else:
        raise LabelError(f"{path}: no grade for the groups: add a `grade` column, or give a grades file with --grades")
    grades = np.array([grade_of[g] for g in group_names], dtype=np.float64)
    if len(group_names) < 2 or len(np.unique(grades)) < 2:
        raise LabelError(
            f"{path}: {len(group_names)} group(s) by {group_column} with {len(np.unique(grades))} different grade(s); "
            "a rank correlation needs at least two groups with different grades"
        )
    return Labels(
        path,
        table.format,
        "groups",
        ids=ids,
        values=grades[groups],
        group_column=group_column,
        groups=groups,
        group_names=group_names,
        group_grades=grades,
        grades_path=grades_path,
    )


# ---- score columns and the join -------------------------------------------------------------------


def numeric_columns(schema: pa.Schema) -> list[str]:
    """Columns of records/ a metric can read: integers, floats, booleans (the row key and number aside)."""
    return [
        f.name
        for f in schema
        if (pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_boolean(f.type))
        and f.name not in ("key", "row")
    ]


def score_columns(schema: pa.Schema, requested: Sequence[str] | None = None) -> list[str]:
    """The columns to evaluate: `requested`, checked; by default every float column and the length columns."""
    numeric = numeric_columns(schema)
    if requested:
        bad = [c for c in requested if c not in numeric]
        if bad:
            names = set(schema.names)
            what = "; ".join(f"{c!r} is {'not numeric' if c in names else 'not a column of records/'}" for c in bad)
            raise LabelError(f"--columns: {what}; numeric columns of this run: {', '.join(numeric)}")
        return list(dict.fromkeys(requested))
    return [f.name for f in schema if f.name in numeric and (pa.types.is_floating(f.type) or f.name in LENGTH_COLUMNS)]


def rows_with_ids(batch: pa.RecordBatch | pa.Table, ids: pa.Array) -> pa.Table:
    """The rows of a records batch whose id is one of `ids`."""
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    return table.filter(pc.is_in(table.column("id"), value_set=ids))


def split_repeated(table: pa.Table) -> tuple[pa.Table, list[str]]:
    """(rows whose id occurs once, the ids that occur more than once): a label cannot tell which row it means."""
    if table.num_rows == 0:
        return table, []
    counts = pc.value_counts(table.column("id"))
    repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    if len(repeated) == 0:
        return table, []
    keep = pc.invert(pc.is_in(table.column("id"), value_set=repeated))
    return table.filter(keep), sorted(repeated.to_pylist())


def _positions(ids: np.ndarray, record_ids: pa.Array) -> np.ndarray:
    """Index of each id in record_ids, -1 where absent."""
    if not len(ids):
        return np.array([], dtype=np.int64)
    found = pc.index_in(pa.array(ids.astype(str), pa.string()), value_set=record_ids)
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _take(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    out = np.full(len(positions), np.nan)
    ok = positions >= 0
    out[ok] = values[positions[ok]]
    return out


def column_values(table: pa.Table, column: str) -> np.ndarray:
    """A numeric column as float64, null (and NaN) as NaN."""
    return np.asarray(pc.cast(table.column(column), pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _interval(
    metric: Callable[..., float], arrays: Sequence[np.ndarray], value: float, bootstrap: int, seed: int
) -> list[float] | None:
    if bootstrap <= 0 or math.isnan(value):
        return None
    low, high = bootstrap_ci(metric, arrays, bootstrap, seed)
    return None if math.isnan(low) else [low, high]


def _entry(value: float, ci: list[float] | None, n: int, **extra: Any) -> dict[str, Any]:
    return {"value": None if math.isnan(value) else value, "ci95": ci, "n": n, **extra}


def evaluate(
    labels: Labels,
    records: pa.Table,
    columns: Sequence[str],
    bootstrap: int = 1000,
    seed: int = 0,
    run: str = "the run",
    run_examples: Sequence[str] = (),
) -> dict[str, Any]:
    """Every column's metric against the labels, and how the labels matched the run.

    `records` holds `id` and the columns for (at least) the rows the labels
    name; an id found on several rows matches none of them (reported as
    repeated). A row whose score is null is left out of that column's metric.
    Raises LabelError when no label matches a row of the run (`run` and a few
    of its ids, `run_examples`, go into the message).
    """
    table, repeated = split_repeated(records)
    record_ids = table.column("id").combine_chunks() if table.num_rows else pa.array([], pa.string())
    all_ids = labels.all_ids()
    found = _positions(all_ids, record_ids) >= 0
    is_repeated = np.zeros(len(all_ids), dtype=bool)
    if repeated:
        is_repeated = np.asarray(
            pc.is_in(pa.array(all_ids.astype(str)), value_set=pa.array(repeated)).to_numpy(zero_copy_only=False)
        )
    unmatched = all_ids[~found & ~is_repeated]
    matching: dict[str, Any] = {
        "rows": 0,  # label rows (pairs) matched, and not: filled in below
        "unmatched_rows": 0,
        "ids": int(found.sum()),
        "unmatched_ids": len(unmatched),
        "unmatched_examples": [str(i) for i in unmatched[:EXAMPLES]],
        "repeated_ids": int(is_repeated.sum()),
        "repeated_examples": [str(i) for i in all_ids[is_repeated][:EXAMPLES]],
    }
    metric = METRIC_OF_KIND[labels.kind]
    results: dict[str, Any] = {}
    if labels.kind == "pairwise":
        chosen_at = _positions(labels.chosen, record_ids)
        rejected_at = _positions(labels.rejected, record_ids)
        both = (chosen_at >= 0) & (rejected_at >= 0)
        matching.update(rows=int(both.sum()), unmatched_rows=int((~both).sum()))
        _check_matched(labels, matching, run, run_examples)
        for col in columns:
            values = column_values(table, col)
            sc, sr = _take(values, chosen_at), _take(values, rejected_at)
            ok = ~np.isnan(sc) & ~np.isnan(sr)
            sc, sr = sc[ok], sr[ok]
            value = pairwise_accuracy(sc, sr)
            ci = _interval(pairwise_accuracy, (sc, sr), value, bootstrap, seed)
            results[col] = {metric: _entry(value, ci, int(ok.sum()))}
    else:
        at = _positions(labels.ids, record_ids)
        matched = at >= 0
        matching.update(rows=int(matched.sum()), unmatched_rows=int((~matched).sum()))
        _check_matched(labels, matching, run, run_examples)
        for col in columns:
            scores = _take(column_values(table, col), at)
            ok = ~np.isnan(scores)
            if labels.kind == "groups":
                results[col] = {metric: _group_entry(labels, scores, ok, bootstrap, seed)}
            elif labels.kind == "binary":
                codes, truth = dense_codes(scores[ok]), labels.values[ok] == 1
                value = roc_auc(codes, truth)
                ci = _interval(roc_auc, (codes, truth), value, bootstrap, seed)
                results[col] = {metric: _entry(value, ci, int(ok.sum()), positive=int(truth.sum()), negative=int((~truth).sum()))}
            else:
                codes, grades = dense_codes(scores[ok]), dense_codes(labels.values[ok])
                value = spearman(codes, grades)
                ci = _interval(spearman, (codes, grades), value, bootstrap, seed)
                results[col] = {metric: _entry(value, ci, int(ok.sum()))}
    return {
        "labels": {"path": labels.path, "format": labels.format, "kind": labels.kind, **labels.counts()},
        "matched": matching,
        "metric": metric,
        "bootstrap": {"resamples": bootstrap, "seed": seed, "level": 0.95, "over": BOOTSTRAP_UNIT[labels.kind]},
        "columns": results,
    }


def _group_entry(labels: Labels, scores: np.ndarray, ok: np.ndarray, bootstrap: int, seed: int) -> dict[str, Any]:
    """Spearman of the groups' mean scores vs their grades; the bootstrap resamples groups."""
    n_groups = len(labels.group_names)
    rows = np.bincount(labels.groups[ok], minlength=n_groups)
    sums = np.bincount(labels.groups[ok], weights=scores[ok], minlength=n_groups)
    present = rows > 0
    means = sums[present] / rows[present]
    grades = labels.group_grades[present]
    value = spearman(means, grades)
    ci = _interval(spearman, (means, grades), value, bootstrap, seed)
    names = [g for g, p in zip(labels.group_names, present) if p]
    return _entry(value, ci, int(present.sum()), rows=int(ok.sum()), group_means=dict(zip(names, means.tolist())))


def _check_matched(labels: Labels, matching: dict[str, Any], run: str, run_examples: Sequence[str]) -> None:
    """Raise when no label row (or no pair) matches the run."""
    if matching["rows"] > 0:
        return
    n_ids = len(labels.all_ids())
    if matching["ids"]:  # pairs only: ids were found, never both of one pair
        raise LabelError(
            f"{labels.path}: no pair has both its ids in {run} ({matching['ids']:,} of {n_ids:,} ids found; "
            f"not found e.g. {', '.join(map(repr, matching['unmatched_examples']))})"
        )
    message = f"{labels.path}: none of its {n_ids:,} ids is a row of {run}"
    if matching["unmatched_examples"]:
        message += f" (e.g. {', '.join(map(repr, matching['unmatched_examples']))})"
    if matching["repeated_ids"]:
        message += (
            f"; {matching['repeated_ids']:,} are on several rows of the run, so a label cannot tell which "
            f"(e.g. {', '.join(map(repr, matching['repeated_examples']))})"
        )
    if run_examples:
        message += f"; the run's ids look like {', '.join(map(repr, run_examples))}"
    raise LabelError(message)


# ---- the printed table ----------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def table_lines(report: dict[str, Any]) -> list[str]:
    """One line per score column and metric: value, 95 % interval, n."""
    width = max([len("column"), *(len(c) for c in report["columns"])])
    lines = [f"{'column':<{width}}  {'metric':<14} {'value':>6}  {'95% CI':<16} {'n':>8}"]
    for col, metrics in report["columns"].items():
        for name, m in metrics.items():
            ci = f"[{m['ci95'][0]:.3f}, {m['ci95'][1]:.3f}]" if m["ci95"] else "-"
            lines.append(f"{col:<{width}}  {METRIC_NAMES.get(name, name):<14} {_fmt(m['value']):>6}  {ci:<16} {m['n']:>8,}")
    return lines
