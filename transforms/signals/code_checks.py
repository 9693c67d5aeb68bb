"""Structural checks of code, tool use and media references in canonical rows.

Fine-tuning on broken structure teaches broken structure: a fenced block the
response never closes, Python that does not parse, a tool call whose
arguments are not JSON or that names a tool the row never declared, an
`<image>` placeholder with no image behind it. Each check here counts such
defects per row over whole Arrow arrays.

Finding candidates is vectorized (RE2 via pyarrow.compute, numpy), so rows
without fences, tool calls or media cost a few regex passes and nothing
else. Only the candidates are looked at in Python: fence lines (a tiny state
machine, CommonMark rules), Python blocks (`ast.parse`, capped per block and
per row so a hostile row stays cheap), tool-call JSON (orjson, which bounds
nesting) and media paths (one stat per distinct file).
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.arrow_bytes import as_numpy, one_array
from winnow.transforms.signals.base import Signal

if TYPE_CHECKING:
    from winnow.transforms.config import Config
# ---------------------------------------------------------------- limits

MAX_BLOCK_BYTES = 100_000  # larger Python blocks are not parsed (~50 ms each at this size)
MAX_PY_BLOCKS_PER_ROW = 8  # Python blocks parsed per row; later ones are not checked
MAX_PY_BYTES_PER_ROW = 256_000  # total bytes parsed per row

PYTHON_TAGS = frozenset({"python", "py", "python3", "py3"})

# A fence line: backticks or tildes (3+) after optional indentation, then the
# info string. Indentation is not limited to 3 spaces as in CommonMark, since
# fences nested in list items are indented further.
_FENCE_ANYWHERE = r"(?m)^[ \t]*(?:```|~~~)"
_FENCE_LINE = r"^[ \t]*(?P<fence>`{3,}|~{3,})(?P<info>.*)$"

# Conservative test for untagged Python: a `def`/`class` header ending in a
# colon (Ruby, Scala, Swift and Kotlin headers do not), `from x import y`,
# or the `__main__` guard. RE2, so linear in the block size.
_LOOKS_PYTHON = (
    r"(?m)^[ \t]*(?:async[ \t]+)?def[ \t]+\w+[ \t]*\([^\n]*\)[ \t]*(?:->[^\n]*)?:[ \t]*$"
    r"|^class[ \t]+\w+[ \t]*(?:\([^\n]*\))?[ \t]*:[ \t]*$"
    r"|^from[ \t]+[\w.]+[ \t]+import[ \t]+[\w(*]"
    r"|^if[ \t]+__name__[ \t]*==[ \t]*['\"]__main__['\"][ \t]*:"
)
# Notebook magics and shell escapes at column 0 (`%matplotlib inline`,
# `!pip install x`) are not Python but are routine in tagged blocks.
_MAGIC_LINE = re.compile(r"(?m)^[%!][^\n]*$")

_PLACEHOLDER = r"<(?:image|video|audio)>"
# Not a local file: a URL with a scheme other than file://, a data: URI, or
# inline base64 (the OpenAI mapping keeps the first 64 characters of
# inline audio/image data).
_REMOTE_REF = r"^(?:[A-Za-z][A-Za-z0-9+.\-]*://|data:|[A-Za-z0-9+/]{64,}={0,2}$)"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")

COLUMNS = {
    "code_blocks": "fenced code blocks (``` or ~~~) in the assistant turns, unclosed ones included",
    "code_blocks_tagged": "of those, blocks whose opening fence names a language",
    "code_languages": "language tags of the tagged blocks, in order (list<string>, lower case)",
    "code_fence_unbalanced": "a block is left open at the end of a turn, or a tagged fence appears inside an open block",
    "python_blocks": "Python blocks parsed (tagged python/py/python3/py3, or untagged and plainly Python), within the caps",
    "python_syntax_errors": "of those, blocks that ast.parse rejects",
    "tool_calls": "tool calls in tool_call turns (an unparseable turn counts as one)",
    "tool_call_json_errors": "calls whose JSON, or whose arguments JSON, does not parse to an object",
    "tool_calls_unnamed": "calls without a non-empty string name",
    "tool_calls_undeclared": "named calls to a tool not listed in meta `tools`/`functions` (0 when the row declares none)",
    "tool_calls_unanswered": "tool_call turns whose next non-tool_call turn is not a tool or assistant turn (or is missing)",
    "media_placeholders": "<image>, <video> and <audio> placeholders in all turns",
    "media_placeholder_mismatch": "placeholders differ from the number of media entries (see media_placeholder_stats)",
    "media_missing": "local media references whose file does not exist",
    "media_unchecked": "media references that are not local files (URLs, data: URIs, inline data, relative paths without a local base)",
}


def _mask(arr: pa.Array) -> np.ndarray:
    return as_numpy(pc.fill_null(arr, False)).astype(bool)


def _per_row(rows: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(rows, weights=weights, minlength=n).astype(np.int32)


# ---------------------------------------------------------------- fenced code


def _tag(info: str) -> str:
    """The language of an info string: its first word, lower case, without {.} decoration."""
    word = info.split(None, 1)[0] if info else ""
    return word.strip("{}.").lower()


def _python_source(text: str) -> str | None:
    """The block as ast.parse should see it, or None when it is a console session."""
    if text.lstrip().startswith(">>>"):
        return None
    if text.startswith(("%", "!")) or "\n%" in text or "\n!" in text:
        text = _MAGIC_LINE.sub("", text)
    return text


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _scan(
    texts: pa.Array,
    groups: np.ndarray,
    n_groups: int,
    check_python: bool = True,
    untagged_python: bool = True,
) -> dict[str, Any]:
    """Fenced-block statistics of `texts`, summed into `n_groups` rows.

    `groups[i]` is the row of text i (non-decreasing), so the caps on
    Python parsing apply per row even when a row has many turns.
    """
    texts = one_array(texts)
    n = len(texts)
    out: dict[str, Any] = {
        "code_blocks": np.zeros(n_groups, np.int32),
        "code_blocks_tagged": np.zeros(n_groups, np.int32),
        "code_fence_unbalanced": np.zeros(n_groups, bool),
        "python_blocks": np.zeros(n_groups, np.int32),
        "python_syntax_errors": np.zeros(n_groups, np.int32),
    }
    empty_langs = pa.ListArray.from_arrays(pa.array(np.zeros(n_groups + 1, np.int32)), pa.array([], pa.string()))
    if n == 0:
        out["code_languages"] = empty_langs
        return out
    texts = pc.fill_null(texts, "")
    idx = np.flatnonzero(_mask(pc.match_substring_regex(texts, _FENCE_ANYWHERE)))
    if idx.size == 0:
        out["code_languages"] = empty_langs
        return out

    # Lines of the candidate texts only; fence lines picked out with RE2.
    sub = texts.take(pa.array(idx))
    lines = pc.split_pattern(sub, "\n")
    line_off = as_numpy(lines.offsets).astype(np.int64)
    line_off -= line_off[0]
    flat = lines.flatten()
    parent = as_numpy(pc.list_parent_indices(lines))
    fl = np.flatnonzero(_mask(pc.match_substring_regex(flat, _FENCE_LINE)))
    ex = pc.extract_regex(flat.take(pa.array(fl)), _FENCE_LINE)
    fences = ex.field("fence").to_pylist()
    infos = pc.utf8_trim_whitespace(ex.field("info")).to_pylist()

    # Per-line start positions (characters and bytes) for slicing blocks out.
    char_start = np.zeros(len(flat) + 1, np.int64)
    np.cumsum(as_numpy(pc.utf8_length(flat)).astype(np.int64) + 1, out=char_start[1:])
    byte_start = np.zeros(len(flat) + 1, np.int64)
    np.cumsum(as_numpy(pc.binary_length(flat)).astype(np.int64) + 1, out=byte_start[1:])

    # CommonMark fence matching over the fence lines only: a block opened by
    # c*L closes at the next fence of the same character, length >= L and no
    # info string; everything else inside is content.
    blocks: list[tuple[int, int, int, str]] = []  # (candidate text, first line, end line, tag)
    unbalanced = np.zeros(len(idx), bool)
    fl_parent = parent[fl].tolist()
    fl_lines = fl.tolist()
    k_prev = -1
    open_ch = ""
    open_len = open_line = 0
    tag = ""
    for j, k in enumerate(fl_parent):
        if k != k_prev:
            if open_ch:  # the previous text ended inside a block
                blocks.append((k_prev, open_line + 1, int(line_off[k_prev + 1]), tag))
                unbalanced[k_prev] = True
            open_ch, k_prev = "", k
        fence, info = fences[j], infos[j]
        if not open_ch:
            if fence[0] == "`" and "`" in info:
                continue  # inline code on its own line, not a fence
            open_ch, open_len, open_line, tag = fence[0], len(fence), fl_lines[j], _tag(info)
        elif fence[0] == open_ch and len(fence) >= open_len:
            if info:
                unbalanced[k] = True  # "```python" inside an open ``` block: a close is missing
            else:
                blocks.append((k, open_line + 1, fl_lines[j], tag))
                open_ch = ""
    if open_ch:
        blocks.append((k_prev, open_line + 1, int(line_off[k_prev + 1]), tag))
        unbalanced[k_prev] = True

    row_of = groups[idx]  # candidate text -> output row
    b_text = np.array([b[0] for b in blocks], np.int64)
    b_tags = [b[3] for b in blocks]
    b_tagged = np.array([bool(t) for t in b_tags], bool)
    b_rows = row_of[b_text] if blocks else np.zeros(0, np.int64)
    out["code_blocks"] = _per_row(b_rows, n_groups)
    out["code_blocks_tagged"] = _per_row(b_rows[b_tagged], n_groups)
    out["code_fence_unbalanced"] = np.bincount(row_of[unbalanced], minlength=n_groups) > 0
    # Blocks are in text order and texts in row order, so tags are grouped by row.
    tag_counts = np.bincount(b_rows[b_tagged], minlength=n_groups)
    offsets = np.zeros(n_groups + 1, np.int32)
    np.cumsum(tag_counts, out=offsets[1:])
    out["code_languages"] = pa.ListArray.from_arrays(pa.array(offsets), pa.array([t for t in b_tags if t], pa.string()))
    if check_python and blocks:
        _python_checks(out, sub, blocks, b_rows, char_start, byte_start, line_off, untagged_python)
    return out


def _python_checks(
    out: dict[str, Any],
    sub: pa.Array,
    blocks: list[tuple[int, int, int, str]],
    b_rows: np.ndarray,
    char_start: np.ndarray,
    byte_start: np.ndarray,
    line_off: np.ndarray,
    untagged_python: bool,
) -> None:
    """Parse the Python blocks (within the caps) and count the failures per row."""
    texts: dict[int, str] = {}

    def content(b: tuple[int, int, int, str]) -> str:
        k, first, end = b[0], b[1], b[2]
        if first >= end:
            return ""
        if k not in texts:
            texts[k] = sub[k].as_py()
        row0 = char_start[line_off[k]]
        return texts[k][char_start[first] - row0 : char_start[end] - row0 - 1]

    wanted = [
        i
        for i, b in enumerate(blocks)
        if (b[3] in PYTHON_TAGS or (untagged_python and not b[3])) and byte_start[b[2]] - byte_start[b[1]] - 1 <= MAX_BLOCK_BYTES
    ]
    sources = {i: content(blocks[i]) for i in wanted}
    untagged = [i for i in wanted if not blocks[i][3]]
    if untagged:
        looks = _mask(pc.match_substring_regex(pa.array([sources[i] for i in untagged], pa.string()), _LOOKS_PYTHON))
        for i, ok in zip(untagged, looks):
            if not ok:
                del sources[i]
    n_groups = len(out["python_blocks"])
    parsed = np.zeros(n_groups, np.int64)
    spent = np.zeros(n_groups, np.int64)
    for i in wanted:
        if i not in sources:
            continue
        row = b_rows[i]
        size = byte_start[blocks[i][2]] - byte_start[blocks[i][1]]
        if parsed[row] >= MAX_PY_BLOCKS_PER_ROW or spent[row] + size > MAX_PY_BYTES_PER_ROW:
            continue
        source = _python_source(sources[i])
        if source is None:
            continue
        parsed[row] += 1
        spent[row] += size
        out["python_blocks"][row] += 1
        if not _parses(source):
            out["python_syntax_errors"][row] += 1


def code_block_stats(texts: pa.Array, check_python: bool = True, untagged_python: bool = True) -> dict[str, Any]:
    """Fenced code blocks of each string: counts, balance, language tags and Python validity.

    Returns `code_blocks`, `code_blocks_tagged` (int32), `code_fence_unbalanced`
    (bool), `code_languages` (pa.ListArray of strings), `python_blocks` and
    `python_syntax_errors` (int32); see COLUMNS. Nulls count as empty text.
    """
    n = len(texts)
    return _scan(texts, np.arange(n), n, check_python, untagged_python)


def python_syntax_errors(texts: pa.Array, untagged_python: bool = True) -> np.ndarray:
    """Python blocks per string that `ast.parse` rejects (within the size and count caps)."""
    return code_block_stats(texts, True, untagged_python)["python_syntax_errors"]


# ---------------------------------------------------------------- tool use


def _turn_columns(turns: pa.Array) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """Roles, contents and row index of every turn."""
    turns = one_array(turns)
    flat = turns.flatten()
    parent = as_numpy(pc.list_parent_indices(turns)).astype(np.int64)
    return pc.struct_field(flat, "role"), pc.struct_field(flat, "content"), parent


def _decode(text: str) -> tuple[bool, Any]:
    try:
        return True, orjson.loads(text)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return False, None


def _hermes(text: str) -> list[str] | None:
    """The bodies of `<tool_call>...</tool_call>` tags (Hermes format), or None."""
    if "<tool_call>" not in text:
        return None
    bodies: list[str] = []
    pos = 0
    while True:
        start = text.find("<tool_call>", pos)
        if start < 0:
            return bodies
        end = text.find("</tool_call>", start)
        bodies.append(text[start + 11 : end if end >= 0 else len(text)])
        if end < 0:
            return bodies
        pos = end + 12


def _parse_calls(content: str | None) -> list[tuple[Any, bool]]:
    """(name, JSON ok) of each call in one tool_call turn.

    Accepts {"name", "arguments"}, OpenAI tool_calls ({"function": {...}}),
    lists of either, a message object holding `tool_calls`/`function_call`,
    Hermes `<tool_call>` tags and glaive's `<functioncall>` prefix. Arguments
    must be an object or a string that parses to one.
    """
    text = (content or "").strip()
    if text.startswith("<functioncall>"):
        text = text[len("<functioncall>") :].strip()
    ok, value = _decode(text)
    if not ok:
        bodies = _hermes(text)
        if not bodies:
            return [(None, False)]
        calls: list[tuple[Any, bool]] = []
        for body in bodies:
            ok, value = _decode(body.strip())
            calls.extend(_calls_of(value) if ok else [(None, False)])
        return calls
    if isinstance(value, str):  # double-encoded
        ok, value = _decode(value)
        if not ok:
            return [(None, False)]
    return _calls_of(value)


def _calls_of(value: Any) -> list[tuple[Any, bool]]:
    if isinstance(value, dict) and isinstance(value.get("tool_calls"), list):
        value = value["tool_calls"]
    items = value if isinstance(value, list) else [value]
    return [_one_call(item) for item in items] or [(None, True)]  # an empty list: one call, no name


def _one_call(value: Any) -> tuple[Any, bool]:
    """(name, JSON ok) of one call object; nested lists are not unwrapped (bounded work)."""
    if not isinstance(value, dict):
        return None, True
    for key in ("function", "function_call"):
        if isinstance(value.get(key), dict):
            value = value[key]
            break
    args = value.get("arguments", value.get("parameters"))
    if isinstance(args, str):
        ok, args = _decode(args)
        return value.get("name"), ok and isinstance(args, dict)
    return value.get("name"), args is None or isinstance(args, dict)


def _declared(meta: str | None, keys: Sequence[str]) -> set[str] | None:
    """Tool names a row declares in meta (`tools` or `functions`), or None if it declares none."""
    ok, obj = _decode(meta or "")
    if not ok or not isinstance(obj, dict):
        return None
    for key in keys:
        tools = obj.get(key)
        if isinstance(tools, str):
            if not tools.strip():
                continue
            ok, tools = _decode(tools)
            if not ok:
                continue
        if isinstance(tools, dict):
            tools = [tools]
        if not isinstance(tools, list):
            continue
        names = set()
        for tool in tools:
            if isinstance(tool, str):
                names.add(tool)
            elif isinstance(tool, dict):
                function = tool.get("function")
                spec = function if isinstance(function, dict) else tool
                if isinstance(spec.get("name"), str):
                    names.add(spec["name"])
        return names
    return None


def tool_call_stats(
    turns: pa.Array, meta: pa.Array | None = None, tools_keys: Sequence[str] = ("tools", "functions")
) -> dict[str, np.ndarray]:
    """Malformed, unnamed, undeclared and unanswered tool calls per row.

    Returns `tool_calls`, `tool_call_json_errors`, `tool_calls_unnamed`,
    `tool_calls_undeclared` and `tool_calls_unanswered` (int32); see
    COLUMNS. Only rows with tool_call turns are parsed. A conversation that
    ends on a tool call counts as unanswered.
    """
    n = len(turns)
    names = ("tool_calls", "tool_call_json_errors", "tool_calls_unnamed", "tool_calls_undeclared", "tool_calls_unanswered")
    out = {k: np.zeros(n, np.int32) for k in names}
    if n == 0:
        return out
    roles, contents, parent = _turn_columns(turns)
    is_call = _mask(pc.equal(roles, "tool_call"))
    calls_at = np.flatnonzero(is_call)
    if calls_at.size == 0:
        return out

    # Answered: the next turn of the row that is not itself a tool call
    # (parallel calls come as consecutive turns) is a tool or assistant turn.
    answers = _mask(pc.is_in(roles, pa.array(["tool", "assistant"])))
    others = np.flatnonzero(~is_call)
    nxt = np.searchsorted(others, calls_at, side="right")
    has_next = nxt < len(others)
    nxt_turn = others[np.minimum(nxt, max(len(others) - 1, 0))] if len(others) else calls_at
    answered = has_next & (parent[nxt_turn] == parent[calls_at]) & answers[nxt_turn]
    out["tool_calls_unanswered"] = _per_row(parent[calls_at[~answered]], n)

    call_rows = parent[calls_at]
    declared: dict[int, set[str] | None] = {}
    if meta is not None:
        meta = one_array(meta)
        rows = np.unique(call_rows)
        sub = pc.fill_null(meta.take(pa.array(rows)), "")
        has_tools = np.zeros(len(rows), bool)
        for key in tools_keys:
            has_tools |= _mask(pc.match_substring(sub, f'"{key}"'))
        for r, m in zip(rows[has_tools].tolist(), sub.filter(pa.array(has_tools)).to_pylist()):
            declared[r] = _declared(m, tools_keys)
    counts = {k: np.zeros(n, np.int64) for k in names[:4]}
    for row, content in zip(call_rows.tolist(), contents.take(pa.array(calls_at)).to_pylist()):
        tools = declared.get(row)
        for name, json_ok in _parse_calls(content):
            counts["tool_calls"][row] += 1
            if not json_ok:
                counts["tool_call_json_errors"][row] += 1
                continue
            if not isinstance(name, str) or not name.strip():
                counts["tool_calls_unnamed"][row] += 1
            elif tools is not None and name not in tools:
                counts["tool_calls_undeclared"][row] += 1
    for k, v in counts.items():
        out[k] = v.astype(np.int32)
    return out


# ---------------------------------------------------------------- media


def media_placeholder_stats(turns: pa.Array, media: pa.Array, formats: pa.Array | None = None) -> dict[str, np.ndarray]:
    """`<image>`/`<video>`/`<audio>` placeholders in all turns, and whether they match the media list.

    A mismatch needs a reason to expect placeholders: the row has media or
    an `<image>` placeholder (a text-only row that mentions the HTML
    `<video>` or `<audio>` element is not flagged). OpenAI rows with no
    placeholders are not flagged: their media come from content parts,
    which need none.
    """
    n = len(turns)
    _, contents, parent = _turn_columns(turns)
    contents = pc.fill_null(contents, "")
    counted = _mask(pc.match_substring_regex(contents, _PLACEHOLDER))
    placeholders = np.zeros(n, np.int32)
    images = np.zeros(n, np.int32)
    if counted.any():
        hit = contents.filter(pa.array(counted))
        rows = parent[counted]
        placeholders = _per_row(rows, n, as_numpy(pc.count_substring_regex(hit, _PLACEHOLDER)).astype(np.float64))
        images = _per_row(rows, n, as_numpy(pc.count_substring(hit, "<image>")).astype(np.float64))
    n_media = as_numpy(pc.fill_null(pc.list_value_length(one_array(media)), 0)).astype(np.int32)
    mismatch = (placeholders != n_media) & ((n_media > 0) | (images > 0))
    if formats is not None:
        mismatch &= ~((placeholders == 0) & _mask(pc.equal(formats, "openai")))
    return {"media_placeholders": placeholders, "media_placeholder_mismatch": mismatch}


def _is_url(path: str) -> bool:
    return bool(_URL.match(path)) and not path.startswith("file://")


def media_file_stats(media: pa.Array, base_dir: str | Sequence[str | None] | pa.Array | None) -> dict[str, np.ndarray]:
    """Missing local media files and references that cannot be checked, per row.

    `base_dir` is the directory of the input shard (one for all rows, or one
    per row); relative paths resolve against it. URLs (other than file://),
    data: URIs and inline base64 are not checked, nor are relative paths
    whose base is missing or remote (gs://). A null or empty reference, or
    one naming a directory, counts as missing.
    """
    media = one_array(media)
    n = len(media)
    missing = np.zeros(n, np.int32)
    unchecked = np.zeros(n, np.int32)
    if n == 0:
        return {"media_missing": missing, "media_unchecked": unchecked}
    flat = pc.fill_null(media.flatten(), "")
    rows = as_numpy(pc.list_parent_indices(media)).astype(np.int64)
    remote = _mask(pc.match_substring_regex(flat, _REMOTE_REF)) & _mask(pc.invert(pc.starts_with(flat, "file://")))
    unchecked += _per_row(rows[remote], n)
    if isinstance(base_dir, str) or base_dir is None:
        bases: list[str | None] = [base_dir] * n
    else:
        bases = base_dir.to_pylist() if isinstance(base_dir, (pa.Array, pa.ChunkedArray)) else list(base_dir)
    local = np.flatnonzero(~remote)
    seen: dict[str, bool] = {}
    for i, ref in zip(local.tolist(), flat.take(pa.array(local)).to_pylist()):
        row = rows[i]
        if ref.startswith("file://"):
            ref = ref[len("file://") :]
        if not ref:
            missing[row] += 1
            continue
        if not os.path.isabs(ref):
            base = bases[row]
            if not base or _is_url(base):
                unchecked[row] += 1
                continue
            ref = os.path.join(base[len("file://") :] if base.startswith("file://") else base, ref)
        if ref not in seen:
            seen[ref] = os.path.isfile(ref)
        if not seen[ref]:
            missing[row] += 1
    return {"media_missing": missing, "media_unchecked": unchecked}


def missing_media(media: pa.Array, base_dir: str | Sequence[str | None] | pa.Array) -> np.ndarray:
    """Local media references per row whose file does not exist (see media_file_stats)."""
    return media_file_stats(media, base_dir)["media_missing"]


# ---------------------------------------------------------------- all together


BaseDirs: TypeAlias = str | Sequence[str | None] | pa.Array | Callable[[str], str | None] | None


def _row_base_dirs(batch: pa.RecordBatch, base_dir_of_row: BaseDirs) -> str | list[str | None] | pa.Array | None:
    if not callable(base_dir_of_row):
        return base_dir_of_row
    shards = pc.dictionary_encode(pc.fill_null(batch.column("shard"), ""))
    dirs = [base_dir_of_row(s) for s in shards.dictionary.to_pylist()]
    return [dirs[i] for i in as_numpy(shards.indices).tolist()]


def code_and_tool_stats(batch: pa.RecordBatch, base_dir_of_row: BaseDirs = None) -> dict[str, pa.Array | np.ndarray]:
    """Every column of COLUMNS for a canonical batch, one value per row.

    Code is looked for in the assistant turns (and the single turn of
    `text` rows): those are what the model learns to write. Media paths
    resolve against `base_dir_of_row`: a directory for all rows, one per
    row, a function of the shard name (called once per shard), or None
    (relative paths are then not checked).
    """
    turns = batch.column("turns")
    roles, contents, parent = _turn_columns(turns)
    code_turns = np.flatnonzero(_mask(pc.is_in(roles, pa.array(["assistant", "text"]))))
    out: dict[str, pa.Array | np.ndarray] = {}
    out.update(_scan(contents.take(pa.array(code_turns)), parent[code_turns], len(batch)))
    out.update(tool_call_stats(turns, batch.column("meta")))
    out.update(media_placeholder_stats(turns, batch.column("media"), batch.column("format")))
    out.update(media_file_stats(batch.column("media"), _row_base_dirs(batch, base_dir_of_row)))
    return {k: out[k] for k in COLUMNS}


# ---- registration -----------------------------------------------------------------------


def _code_columns(config: Config) -> list[pa.Field]:
    fields = []
    for name in COLUMNS:
        if name == "code_languages":
            fields.append(pa.field(name, pa.list_(pa.string())))
        elif name in ("code_fence_unbalanced", "media_placeholder_mismatch"):
            fields.append(pa.field(name, pa.bool_()))
        else:
            fields.append(pa.field(name, pa.int32()))
    return fields


CODE_CHECKS = Signal(
    name="code_checks",
    label="code, tool call and media checks",
    cost="moderate",
    switch="signals.code_checks",
    enabled=lambda config: config.signals.code_checks,
    columns=_code_columns,
    compute=lambda ctx: code_and_tool_stats(ctx.batch, ctx.base_dir),
    summary="fenced code and Python syntax, tool-call JSON and names, media placeholders and files",
)
