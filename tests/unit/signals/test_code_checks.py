"""Code, tool-use and media checks on canonical batches.

Fixtures are ShareGPT / OpenAI / alpaca dicts normalized with normalize_rows,
so the checks see exactly what the pipeline gives them.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pyarrow as pa
import pytest
from conftest import canonical_batch

from winnow.transforms.schema import TURN
from winnow.transforms.signals.code_checks import (
    COLUMNS,
    MAX_BLOCK_BYTES,
    MAX_PY_BLOCKS_PER_ROW,
    code_and_tool_stats,
    code_block_stats,
    media_file_stats,
    media_placeholder_stats,
    missing_media,
    python_syntax_errors,
    tool_call_stats,
)

FENCE = "```"


def stats(rows: list, base_dir=None) -> dict:
    return code_and_tool_stats(canonical_batch(rows), base_dir)


def alpaca(output: str, instruction: str = "Write some code.") -> dict:
    return {"instruction": instruction, "input": "", "output": output}


def code(tag: str, body: str, fence: str = FENCE) -> str:
    return f"{fence}{tag}\n{body}\n{fence}"


def sharegpt(*turns: tuple[str, str], **extra) -> dict:
    return {"conversations": [{"from": f, "value": v} for f, v in turns], **extra}


def col(out: dict, name: str) -> list:
    v = out[name]
    return v.to_pylist() if isinstance(v, pa.Array) else v.tolist()


# ---------------------------------------------------------------- fences


def test_columns_are_stable_and_one_value_per_row():
    rows = [alpaca("plain"), alpaca(code("python", "x = 1"))]
    out = stats(rows)
    assert list(out) == list(COLUMNS)
    for name, values in out.items():
        assert len(values) == 2, name
    assert out["code_blocks"].dtype == np.int32
    assert out["code_fence_unbalanced"].dtype == bool
    assert out["media_placeholder_mismatch"].dtype == bool
    assert out["code_languages"].type == pa.list_(pa.string())


def test_rows_without_code_are_all_zero():
    out = stats([alpaca("Blue."), alpaca("Inline `code` and `` ` `` ticks."), alpaca("")])
    for name in ("code_blocks", "code_blocks_tagged", "python_blocks", "python_syntax_errors"):
        assert col(out, name) == [0, 0, 0]
    assert col(out, "code_fence_unbalanced") == [False] * 3
    assert col(out, "code_languages") == [[], [], []]


def test_counts_tagged_untagged_and_tilde_blocks():
    text = "Setup:\n" + code("bash", "pip install x") + "\nThen\n" + code("", "output", "~~~") + "\n" + code("Python", "print(1)")
    out = stats([alpaca(text)])
    assert col(out, "code_blocks") == [3]
    assert col(out, "code_blocks_tagged") == [2]
    assert col(out, "code_languages") == [["bash", "python"]]
    assert col(out, "code_fence_unbalanced") == [False]
    assert col(out, "python_blocks") == [1]
    assert col(out, "python_syntax_errors") == [0]


def test_language_tag_is_first_word_without_decoration():
    texts = pa.array([code("{python}", "x = 1"), code("python title='a.py'", "x = 1"), code(".py", "x = 1")])
    assert code_block_stats(texts)["code_languages"].to_pylist() == [["python"], ["python"], ["py"]]


def test_unclosed_block_is_unbalanced():
    out = stats([alpaca("Here:\n```python\ndef f():\n    return 1"), alpaca(code("js", "x") + "\n```\n")])
    assert col(out, "code_fence_unbalanced") == [True, True]
    assert col(out, "code_blocks") == [1, 2]
    # The unclosed Python block is still parsed (to the end of the turn).
    assert col(out, "python_blocks") == [1, 0]
    assert col(out, "python_syntax_errors") == [0, 0]


def test_tagged_fence_inside_open_block_is_unbalanced():
    # The first block is never closed: its "close" carries a language.
    text = "```python\nx = 1\n```python\ny = 2\n```"
    out = stats([alpaca(text)])
    assert col(out, "code_fence_unbalanced") == [True]
    assert col(out, "code_blocks") == [1]


def test_nested_longer_fence_and_other_fence_char_are_content():
    text = "````markdown\n```python\nx = 1\n```\n````\n~~~\n```\n~~~"
    out = code_block_stats(pa.array([text]))
    assert out["code_blocks"].tolist() == [2]
    assert out["code_languages"].to_pylist() == [["markdown"]]
    assert out["code_fence_unbalanced"].tolist() == [False]


def test_closing_fence_must_be_at_least_as_long():
    out = code_block_stats(pa.array(["````\nx\n```\n"]))
    assert out["code_fence_unbalanced"].tolist() == [True]


def test_backticks_in_info_string_is_not_a_fence():
    out = code_block_stats(pa.array(["Use ```x``` inline\n```rust ```\nno block here"]))
    assert out["code_blocks"].tolist() == [0]
    assert out["code_fence_unbalanced"].tolist() == [False]


def test_indented_and_crlf_fences():
    text = "1. Step one:\r\n    ```python\r\n    x = 1\r\n    ```\r\n2. Done\r\n"
    out = code_block_stats(pa.array([text]))
    assert out["code_blocks"].tolist() == [1]
    assert out["code_fence_unbalanced"].tolist() == [False]
    assert out["python_blocks"].tolist() == [1]
    # The content keeps its indentation, which Python rejects: a real finding.
    assert out["python_syntax_errors"].tolist() == [1]


def test_only_assistant_turns_and_each_turn_separately():
    row = {
        "messages": [
            {"role": "user", "content": "Fix this:\n```python\ndef f(:\n```"},
            {"role": "assistant", "content": "Start:\n```python\ndef f():"},  # unclosed in this turn
            {"role": "user", "content": "and?"},
            {"role": "assistant", "content": code("py", "def f():\n    return 1") + "\n" + code("sql", "SELECT 1")},
        ]
    }
    out = stats([row])
    assert col(out, "code_blocks") == [3]
    assert col(out, "code_blocks_tagged") == [3]
    assert col(out, "code_languages") == [["python", "py", "sql"]]
    assert col(out, "code_fence_unbalanced") == [True]
    assert col(out, "python_blocks") == [2]
    # The user's broken snippet does not count; the truncated assistant block does.
    assert col(out, "python_syntax_errors") == [1]


def test_text_rows_are_checked():
    out = stats(["Example:\n" + code("python", "print('hi'")])
    assert col(out, "code_blocks") == [1]
    assert col(out, "python_syntax_errors") == [1]


def test_nulls_and_empty_arrays():
    out = code_block_stats(pa.array([None, "", None], pa.string()))
    assert out["code_blocks"].tolist() == [0, 0, 0]
    assert out["code_languages"].to_pylist() == [[], [], []]
    empty = code_block_stats(pa.array([], pa.string()))
    assert all(len(v) == 0 for v in empty.values())
    assert len(code_and_tool_stats(canonical_batch([]).slice(0, 0))["code_blocks"]) == 0


def test_chunked_and_sliced_inputs():
    arr = pa.chunked_array([[code("python", "x = (")], ["none", code("py", "y = 1")]])
    assert python_syntax_errors(arr).tolist() == [1, 0, 0]
    batch = canonical_batch([alpaca(code("python", "x = (")), alpaca("none"), alpaca(code("python", "y = )"))])
    assert col(code_and_tool_stats(batch.slice(1, 2)), "python_syntax_errors") == [0, 1]


# ---------------------------------------------------------------- python


@pytest.mark.parametrize(
    "tag, body, errors",
    [
        ("python", "def f(x):\n    return x * 2", 0),
        ("python3", "async def f():\n    await g()", 0),
        ("py", "print 'python 2'", 1),
        ("python", "for i in range(3)\n    print(i)", 1),
        ("python", "def f():\nreturn 1", 1),  # IndentationError is a SyntaxError
        ("python", "", 0),
        ("python", ">>> 1 + 1\n2", 0),  # console session: not parsed
        ("python", "%matplotlib inline\n!pip install numpy\nimport numpy as np", 0),
        ("python", "x = 1\x00", 1),  # ValueError in 3.11, SyntaxError later
        ("javascript", "function f( {", 0),
    ],
)
def test_python_syntax(tag, body, errors):
    assert python_syntax_errors(pa.array([code(tag, body)])).tolist() == [errors]


def test_console_session_is_not_counted_as_parsed():
    assert code_block_stats(pa.array([code("python", ">>> x = 1")]))["python_blocks"].tolist() == [0]


@pytest.mark.parametrize(
    "body, parsed, errors",
    [
        ("def f(x):\n    return x +", 1, 1),
        ("from os import path\nprint(path.join('a', 'b')", 1, 1),
        ("class A:\n    x = 1", 1, 0),
        ('if __name__ == "__main__":\n    main(', 1, 1),
        ("def greet(name)\n  puts name\nend", 0, 0),  # Ruby: no colon
        ("def f(x: Int): Int = {\n  x + 1\n}", 0, 0),  # Scala
        ("import Data.List\nmain = print (sort [3,1,2])", 0, 0),  # Haskell
        ("$ ls -la\ntotal 0", 0, 0),
        ("just some prose (with: colons):", 0, 0),
    ],
)
def test_untagged_python_is_detected_conservatively(body, parsed, errors):
    out = code_block_stats(pa.array([code("", body)]))
    assert out["python_blocks"].tolist() == [parsed]
    assert out["python_syntax_errors"].tolist() == [errors]
    off = code_block_stats(pa.array([code("", body)]), untagged_python=False)
    assert off["python_blocks"].tolist() == [0]


@pytest.mark.parametrize(
    "body",
    [
        "(" * 50_000 + ")" * 50_000,  # too many nested parentheses
        "[" * 90_000,
        "-" * 90_000 + "1",  # MemoryError in the parser
        "not " * 20_000 + "x",
        "a" + ".b" * 45_000,  # RecursionError building the AST
        "+".join(["1"] * 45_000),
        "lambda: " * 11_000 + "1",
        "".join(" " * i + "if x:\n" for i in range(300)),  # too many indentation levels
    ],
)
def test_hostile_python_is_an_error_not_a_crash(body):
    assert len(body.encode()) <= MAX_BLOCK_BYTES
    start = time.perf_counter()
    assert python_syntax_errors(pa.array([code("python", body)])).tolist() == [1]
    assert time.perf_counter() - start < 2


def test_huge_block_is_not_parsed():
    body = "x = 1\n" * (MAX_BLOCK_BYTES // 6 + 10)
    out = code_block_stats(pa.array([code("python", body) + "\n" + code("python", "y = (")]))
    assert out["code_blocks"].tolist() == [1 + 1]
    assert out["python_blocks"].tolist() == [1]
    assert out["python_syntax_errors"].tolist() == [1]


def test_per_row_block_cap():
    many = "\n".join(code("python", "x = (") for _ in range(200))
    start = time.perf_counter()
    out = code_block_stats(pa.array([many, code("python", "y = (")]))
    assert out["code_blocks"].tolist() == [200, 1]
    assert out["python_blocks"].tolist() == [MAX_PY_BLOCKS_PER_ROW, 1]
    assert out["python_syntax_errors"].tolist() == [MAX_PY_BLOCKS_PER_ROW, 1]
    assert time.perf_counter() - start < 2


def test_per_row_cap_spans_turns():
    turns = []
    for _ in range(20):
        turns += [("human", "more"), ("gpt", code("python", "x = (") + "\n" + code("python", "y = )"))]
    out = stats([sharegpt(*turns)])
    assert col(out, "code_blocks") == [40]
    assert col(out, "python_blocks") == [MAX_PY_BLOCKS_PER_ROW]


def test_per_row_byte_cap():
    body = "x = 1\n" * 15_000  # 90 KB: fits one block, three exceed the row budget
    out = code_block_stats(pa.array(["\n".join(code("python", body) for _ in range(4))]))
    assert out["python_blocks"].tolist() == [2]


def test_many_fences_in_one_row_are_fast():
    text = "```\n" * 200_000
    start = time.perf_counter()
    out = code_block_stats(pa.array([text, "plain"]))
    assert out["code_blocks"].tolist() == [100_000, 0]
    assert out["code_fence_unbalanced"].tolist() == [False, False]
    assert time.perf_counter() - start < 3


# ---------------------------------------------------------------- tool use

WEATHER = {
    "name": "get_weather",
    "description": "Weather.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def glaive(call: str, *, tools=None, after: tuple[str, str] | None = ("observation", '{"temp": 20}')) -> dict:
    turns = [("human", "Weather in Paris?"), ("function_call", call)]
    if after:
        turns += [after, ("gpt", "It is 20 degrees.")]
    extra = {} if tools is None else {"tools": tools}
    return sharegpt(*turns, **extra)


def call(name="get_weather", arguments=None) -> str:
    return json.dumps({"name": name, "arguments": {"city": "Paris"} if arguments is None else arguments})


def test_well_formed_glaive_call():
    out = stats([glaive(call(), tools=json.dumps([WEATHER]))])
    assert col(out, "tool_calls") == [1]
    for name in ("tool_call_json_errors", "tool_calls_unnamed", "tool_calls_undeclared", "tool_calls_unanswered"):
        assert col(out, name) == [0], name


def test_rows_without_tool_calls_are_zero():
    out = stats([alpaca("x"), sharegpt(("human", "hi"), ("gpt", "hello"), tools="[]")])
    for name in ("tool_calls", "tool_call_json_errors", "tool_calls_unnamed", "tool_calls_undeclared", "tool_calls_unanswered"):
        assert col(out, name) == [0, 0], name


@pytest.mark.parametrize(
    "content, json_errors, unnamed",
    [
        ('{"name": "get_weather", "arguments": {"city": "Paris"', 1, 0),  # truncated JSON
        ("get_weather(city='Paris')", 1, 0),  # not JSON
        ("", 1, 0),
        ('{"name": "get_weather", "arguments": "{\'city\': \'Paris\'}"}', 1, 0),  # arguments not JSON
        ('{"name": "get_weather", "arguments": "[1, 2]"}', 1, 0),  # arguments not an object
        ('{"name": "get_weather", "arguments": 3}', 1, 0),
        ('{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}', 0, 0),  # arguments as a JSON string
        ('{"name": "get_weather"}', 0, 0),  # no arguments
        ('{"arguments": {"city": "Paris"}}', 0, 1),
        ('{"name": "", "arguments": {}}', 0, 1),
        ('{"name": 7, "arguments": {}}', 0, 1),
        ("42", 0, 1),
        ("[]", 0, 1),
        ('"{\\"name\\": \\"get_weather\\", \\"arguments\\": {}}"', 0, 0),  # double-encoded
        ('<functioncall> {"name": "get_weather", "arguments": {}}', 0, 0),  # glaive prefix
        ("[" * 5000 + "]" * 5000, 1, 0),  # beyond orjson's depth limit
        ("[" * 500 + "]" * 500, 0, 1),  # deep but legal: one level looked at
    ],
)
def test_tool_call_json(content, json_errors, unnamed):
    out = stats([glaive(content)])
    assert col(out, "tool_calls") == [1]
    assert col(out, "tool_call_json_errors") == [json_errors]
    assert col(out, "tool_calls_unnamed") == [unnamed]


def test_hermes_tool_call_tags():
    content = '<tool_call>\n{"name": "a", "arguments": {}}\n</tool_call>\n<tool_call>{"name": "b", "arguments": {</tool_call>'
    out = stats([glaive(content)])
    assert col(out, "tool_calls") == [2]
    assert col(out, "tool_call_json_errors") == [1]


def openai_tools_row(arguments: list[str], tools=None, answer: bool = True) -> dict:
    calls = [
        {"id": f"c{i}", "type": "function", "function": {"name": "get_weather", "arguments": a}} for i, a in enumerate(arguments)
    ]
    msgs = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": calls},
    ]
    if answer:
        msgs += [{"role": "tool", "tool_call_id": f"c{i}", "content": "20"} for i in range(len(calls))]
        msgs.append({"role": "assistant", "content": "20 in both."})
    row = {"messages": msgs}
    if tools is not None:
        row["tools"] = tools
    return row


def test_openai_parallel_tool_calls():
    tools = [{"type": "function", "function": WEATHER}]
    out = stats(
        [
            openai_tools_row(['{"city": "Paris"}', '{"city": "Rome"}'], tools),
            openai_tools_row(['{"city": "Paris"', "{}"], tools),
            openai_tools_row(["{}"], answer=False),
        ]
    )
    assert col(out, "tool_calls") == [2, 2, 1]
    assert col(out, "tool_call_json_errors") == [0, 1, 0]
    assert col(out, "tool_calls_undeclared") == [0, 0, 0]
    assert col(out, "tool_calls_unanswered") == [0, 0, 1]


@pytest.mark.parametrize(
    "tools, undeclared",
    [
        (json.dumps([WEATHER]), 1),  # glaive / LLaMA-Factory: a JSON string
        ([WEATHER], 1),  # a list
        ([{"type": "function", "function": WEATHER}], 1),  # OpenAI
        (["get_weather"], 1),  # bare names
        ("[]", 2),  # declares nothing: every call is undeclared
        (None, 0),  # no declaration: nothing to check against
        ("", 0),
        ("not json", 0),
    ],
)
def test_undeclared_tools(tools, undeclared):
    row = sharegpt(
        ("human", "Weather and time?"),
        ("function_call", json.dumps([{"name": "get_weather", "arguments": {}}, {"name": "get_time", "arguments": {}}])),
        ("observation", "ok"),
        ("gpt", "Done."),
        **({} if tools is None else {"tools": tools}),
    )
    out = stats([row])
    assert col(out, "tool_calls") == [2]
    assert col(out, "tool_calls_undeclared") == [undeclared]


def test_legacy_functions_field_is_a_declaration():
    row = {
        "messages": [
            {"role": "user", "content": "x"},
            {"role": "function_call", "content": json.dumps({"name": "other", "arguments": "{}"})},
            {"role": "function", "content": "1"},
        ],
        "functions": [WEATHER],
    }
    assert col(stats([row]), "tool_calls_undeclared") == [1]


def test_unanswered_tool_calls():
    rows = [
        glaive(call(), after=None),  # the conversation ends on the call
        glaive(call(), after=("human", "never mind")),
        glaive(call(), after=("gpt", "Let me check.")),  # answered by the assistant
        sharegpt(  # parallel calls as consecutive turns, then their observations
            ("human", "x"), ("function_call", call()), ("function_call", call()), ("observation", "1"), ("observation", "2")
        ),
        sharegpt(("human", "x"), ("function_call", call()), ("function_call", call())),
    ]
    out = stats(rows)
    assert col(out, "tool_calls_unanswered") == [1, 1, 0, 0, 2]
    assert col(out, "tool_calls") == [1, 1, 1, 2, 2]


def test_tool_stats_on_raw_arrays_with_nulls():
    turns = pa.array(
        [
            None,
            [],
            [{"role": "user", "content": "x"}, {"role": "tool_call", "content": None}, {"role": None, "content": "y"}],
            [{"role": "tool_call", "content": call()}, {"role": "tool", "content": "ok"}],
        ],
        pa.list_(TURN),
    )
    meta = pa.array([None, None, None, None], pa.string())
    out = tool_call_stats(turns, meta)
    assert out["tool_calls"].tolist() == [0, 0, 1, 1]
    assert out["tool_call_json_errors"].tolist() == [0, 0, 1, 0]
    assert out["tool_calls_unanswered"].tolist() == [0, 0, 1, 0]
    assert tool_call_stats(turns)["tool_calls"].tolist() == [0, 0, 1, 1]
    assert tool_call_stats(pa.array([], pa.list_(TURN)))["tool_calls"].tolist() == []


# ---------------------------------------------------------------- media


@pytest.fixture
def shard_dir(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "cat.png").write_bytes(b"png")
    (tmp_path / "clip.mp4").write_bytes(b"mp4")
    return tmp_path


def llava(text: str, images: list[str]) -> dict:
    return sharegpt(("human", text), ("gpt", "A cat."), images=images)


def test_placeholders_and_files(shard_dir):
    rows = [
        llava("<image>\nWhat is this?", ["img/cat.png"]),  # fine
        llava("<image>\nWhat is this?", ["img/dog.png"]),  # file missing
        llava("<image><image> compare", ["img/cat.png"]),  # two placeholders, one image
        llava("What is this?", ["img/cat.png"]),  # media but no placeholder
        sharegpt(("human", "<image> describe"), ("gpt", "?")),  # placeholder, no media
        alpaca("Use the <video> element with <audio> fallback."),  # HTML, text only
        llava("<video> and <image>", ["clip.mp4", str(shard_dir / "img" / "cat.png")]),  # absolute path
    ]
    out = stats(rows, str(shard_dir))
    assert col(out, "media_placeholders") == [1, 1, 2, 0, 1, 2, 2]
    assert col(out, "media_placeholder_mismatch") == [False, False, True, True, True, False, False]
    assert col(out, "media_missing") == [0, 1, 0, 0, 0, 0, 0]
    assert col(out, "media_unchecked") == [0] * 7


def test_openai_parts_need_no_placeholder():
    row = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                ],
            },
            {"role": "assistant", "content": "A cat."},
        ]
    }
    out = stats([row], "/nonexistent")
    assert col(out, "media_placeholders") == [0]
    assert col(out, "media_placeholder_mismatch") == [False]
    assert col(out, "media_unchecked") == [2]
    assert col(out, "media_missing") == [0]
    # A placeholder count that disagrees is still a mismatch in OpenAI rows.
    row["messages"][0]["content"][0]["text"] = "<image> What is this?"
    assert col(stats([row]), "media_placeholder_mismatch") == [True]


def test_media_file_stats_reference_kinds(shard_dir):
    media = pa.array(
        [
            ["img/cat.png", "./clip.mp4", "img/../clip.mp4"],
            ["http://x/a.png", "https://x/b.png", "gs://bucket/c.png", "s3://b/d.png", "data:image/png;base64,AAAA", "A" * 64],
            [f"file://{shard_dir}/clip.mp4", "file:///nonexistent/x.png"],
            ["", "img", "missing.png", "image_url", "bad\x00name.png"],  # empty, a directory, absent, no path, NUL
            None,
            [],
        ],
        pa.list_(pa.string()),
    )
    out = media_file_stats(media, str(shard_dir))
    assert out["media_missing"].tolist() == [0, 0, 1, 5, 0, 0]
    assert out["media_unchecked"].tolist() == [0, 6, 0, 0, 0, 0]
    assert missing_media(media, str(shard_dir)).tolist() == [0, 0, 1, 5, 0, 0]


def test_relative_paths_need_a_local_base(shard_dir):
    media = pa.array([["img/cat.png", str(shard_dir / "clip.mp4"), "/nonexistent.png"]] * 3, pa.list_(pa.string()))
    out = media_file_stats(media, [None, "gs://bucket/dir", f"file://{shard_dir}"])
    assert out["media_unchecked"].tolist() == [1, 1, 0]
    assert out["media_missing"].tolist() == [1, 1, 1]
    assert media_file_stats(media, None)["media_unchecked"].tolist() == [1, 1, 1]
    assert media_file_stats(pa.array([], pa.list_(pa.string())), "/")["media_missing"].tolist() == []


def test_base_dir_per_shard_callable(shard_dir):
    batch = canonical_batch([llava("<image>", ["img/cat.png"]), llava("<image>", ["img/none.png"])], name="part-0.jsonl")
    seen = []

    def base(shard: str) -> str:
        seen.append(shard)
        return str(shard_dir)

    out = code_and_tool_stats(batch, base)
    assert seen == ["part-0.jsonl"]  # once per shard
    assert col(out, "media_missing") == [0, 1]
    per_row = code_and_tool_stats(batch, [str(shard_dir), "/nonexistent"])
    assert col(per_row, "media_missing") == [0, 1]
    assert col(code_and_tool_stats(batch), "media_unchecked") == [1, 1]


def test_placeholder_stats_with_nulls():
    turns = pa.array(
        [None, [{"role": "user", "content": None}], [{"role": "user", "content": "<audio> <image>"}]], pa.list_(TURN)
    )
    media = pa.array([None, ["a.wav"], None], pa.list_(pa.string()))
    out = media_placeholder_stats(turns, media)
    assert out["media_placeholders"].tolist() == [0, 0, 2]
    assert out["media_placeholder_mismatch"].tolist() == [False, True, True]


# ---------------------------------------------------------------- all together


def test_mixed_batch_end_to_end(shard_dir):
    rows = [
        alpaca("Sure:\n" + code("python", "def f(:\n    pass")),
        glaive('{"name": "nope", "arguments": "{"}', tools=json.dumps([WEATHER])),
        llava("<image> <image>", ["img/cat.png", "img/missing.png", "https://x/y.png"]),
        "Plain text row.",
        {"prompt": "Q", "completion": "A"},
    ]
    out = stats(rows, str(shard_dir))
    assert col(out, "code_blocks") == [1, 0, 0, 0, 0]
    assert col(out, "python_syntax_errors") == [1, 0, 0, 0, 0]
    assert col(out, "tool_calls") == [0, 1, 0, 0, 0]
    assert col(out, "tool_call_json_errors") == [0, 1, 0, 0, 0]
    assert col(out, "tool_calls_undeclared") == [0, 0, 0, 0, 0]  # unparseable: no name to check
    assert col(out, "media_placeholder_mismatch") == [False, False, True, False, False]
    assert col(out, "media_missing") == [0, 0, 1, 0, 0]
    assert col(out, "media_unchecked") == [0, 0, 1, 0, 0]


def test_rows_without_candidates_are_cheap():
    rows = [alpaca(f"Plain answer number {i} with some words in it.") for i in range(5000)]
    batch = canonical_batch(rows)
    start = time.perf_counter()
    out = code_and_tool_stats(batch, "/nonexistent")
    assert time.perf_counter() - start < 1.0
    assert int(np.sum(out["code_blocks"])) == 0
