"""PII redaction of rows in their input form, for kept/ (safety.redact).

records/ redacts the canonical text columns; kept/ holds rows as the input
had them, so redaction there reaches every string the row carries: each
string leaf of a JSON value (object keys stay), each string of a Parquet
record, nested in lists, structs and maps too. The detectors and
placeholders are safety.redact's, run once per batch over all strings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from winnow.transforms.signals import safety
from winnow.transforms.textviews import collect_strings


def redact_values(values: list[Any]) -> list[Any | None]:
    """Each JSON value with PII replaced in its string leaves; None where nothing changed
    (so an unchanged row can keep its original bytes)."""
    strings: list[str] = []
    owner: list[int] = []
    for i, value in enumerate(values):
        before = len(strings)
        collect_strings(value, strings)
        owner.extend([i] * (len(strings) - before))
    if not strings:
        return [None] * len(values)
    redacted = safety.redact(pa.array(strings, pa.string())).to_pylist()
    changed = {owner[j] for j, (a, b) in enumerate(zip(strings, redacted)) if a != b}
    out: list[Any | None] = [None] * len(values)
    replacements = iter(redacted)
    for i, value in enumerate(values):
        rebuilt = _rebuild(value, replacements)
        if i in changed:
            out[i] = rebuilt
    return out


def _rebuild(value: Any, replacements: Iterator[str]) -> Any:
    """`value` with its string leaves taken, in `collect_strings`'s order, from `replacements`."""
    if isinstance(value, str):
        return next(replacements)
    if isinstance(value, dict):
        return {k: _rebuild(v, replacements) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebuild(v, replacements) for v in value]
    return value


def redact_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Every string of a record batch redacted, nested ones included; the schema is unchanged."""
    columns = [redact_array(batch.column(i)) for i in range(batch.num_columns)]
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def redact_array(arr: pa.Array) -> pa.Array:
    """An Arrow array with PII replaced in its strings (and in strings nested in lists, structs,
    maps and dictionaries); other types unchanged."""
    t = arr.type
    if len(arr) == 0:
        return arr
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return safety.redact(arr)
    if arr.offset:  # a slice: rebuilt from its own buffers (from_arrays refuses sliced offsets with nulls)
        arr = pa.concat_arrays([arr])
    mask = arr.is_null() if arr.null_count else None
    if pa.types.is_dictionary(t):
        return pa.DictionaryArray.from_arrays(arr.indices, redact_array(arr.dictionary), ordered=t.ordered)
    if pa.types.is_map(t):
        return pa.MapArray.from_arrays(arr.offsets, redact_array(arr.keys), redact_array(arr.items), type=t, mask=mask)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return type(arr).from_arrays(arr.offsets, redact_array(arr.values), type=t, mask=mask)
    if pa.types.is_fixed_size_list(t):
        values = arr.values.slice(0, len(arr) * t.list_size)
        return pa.FixedSizeListArray.from_arrays(redact_array(values), type=t, mask=mask)
    if pa.types.is_struct(t):
        children = [redact_array(child) for child in arr.flatten()]
        return pa.StructArray.from_arrays(children, fields=list(t), mask=mask)
    return arr
