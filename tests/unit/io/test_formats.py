"""Every input format maps to the canonical record; config overrides apply.

Rows are written as JSONL fixtures in tmp_path, read back with read_shard and
normalized with normalize_rows, so the whole read -> canonical path is used.
"""

from __future__ import annotations

import hashlib
import json
import os

import orjson
import pytest
from conftest import jsonl_bytes

from winnow.transforms.config import ConfigError, load_config
from winnow.transforms.io.canonical import content_hash, normalize_rows
from winnow.transforms.io.formats import DEFAULT_ROLES, FieldMap, RowError, detect, map_row
from winnow.transforms.io.inputs import Shard
from winnow.transforms.io.readers import RawRow, read_shard
from winnow.transforms.schema import CANONICAL, REJECTED, row_key

# ---------------------------------------------------------------- helpers


def fields(**overrides) -> FieldMap:
    return FieldMap.from_config(load_config(overrides={"input": overrides} if overrides else None))


def run(tmp_path, rows, fm: FieldMap | None = None, name: str = "data.jsonl", index: int = 0):
    """Write rows as JSONL, read and normalize them: (records, rejected)."""
    fm = fm or fields()
    path = tmp_path / name
    path.write_bytes(jsonl_bytes(rows))
    shard = Shard(index, str(path), name, os.path.getsize(path))
    records: list[dict] = []
    rejected: list[dict] = []
    n_read = 0
    for batch in read_shard(str(path), 1000, 2_000_000):
        n_read += len(batch)
        b, rej = normalize_rows(batch, shard, fm)
        assert b.schema == CANONICAL
        records.extend(b.to_pylist())
        rejected.extend(rej)
    assert len(records) + len(rejected) == n_read == len(rows)
    return records, rejected


def one(tmp_path, row, fm: FieldMap | None = None) -> dict:
    records, rejected = run(tmp_path, [row], fm)
    assert rejected == [], rejected
    return records[0]


def dead(tmp_path, row, fm: FieldMap | None = None) -> str:
    records, rejected = run(tmp_path, [row], fm)
    assert records == []
    assert len(rejected) == 1
    return rejected[0]["reason"]


def U(text):
    return {"role": "user", "content": text}


def A(text):
    return {"role": "assistant", "content": text}


def check(rec, *, fmt, turns, instruction, response, system="", input="", media=(), meta=None):
    assert rec["format"] == fmt
    assert rec["turns"] == turns
    assert rec["n_turns"] == len(turns)
    assert rec["instruction"] == instruction
    assert rec["response"] == response
    assert rec["system"] == system
    assert rec["input"] == input
    assert rec["media"] == list(media)
    assert json.loads(rec["meta"]) == (meta or {})
    assert rec["content_hash"] == content_hash(system, turns)


# ---------------------------------------------------------------- alpaca


def test_alpaca_without_input(tmp_path):
    rec = one(tmp_path, {"instruction": "Name a color.", "input": "", "output": "Blue."})
    check(rec, fmt="alpaca", turns=[U("Name a color."), A("Blue.")], instruction="Name a color.", response="Blue.")


def test_alpaca_input_key_absent(tmp_path):
    rec = one(tmp_path, {"instruction": "Name a color.", "output": "Blue."})
    check(rec, fmt="alpaca", turns=[U("Name a color."), A("Blue.")], instruction="Name a color.", response="Blue.")


def test_alpaca_with_input(tmp_path):
    rec = one(tmp_path, {"instruction": "Translate to English.", "input": "Bonjour", "output": "Hello"})
    check(
        rec,
        fmt="alpaca",
        turns=[U("Translate to English.\n\nBonjour"), A("Hello")],
        instruction="Translate to English.\n\nBonjour",
        response="Hello",
        input="Bonjour",
    )


def test_alpaca_whitespace_only_input_is_not_appended(tmp_path):
    rec = one(tmp_path, {"instruction": "Q", "input": "  \n", "output": "A"})
    assert rec["turns"] == [U("Q"), A("A")]
    assert rec["input"] == "  \n"


def test_alpaca_with_history_and_system(tmp_path):
    row = {
        "instruction": "And in French?",
        "input": "",
        "output": "Bonjour",
        "system": "You are a translator.",
        "history": [["Say hello in Spanish", "Hola"], ["In German?", "Hallo"]],
    }
    rec = one(tmp_path, row)
    turns = [U("Say hello in Spanish"), A("Hola"), U("In German?"), A("Hallo"), U("And in French?"), A("Bonjour")]
    # instruction is the first user turn; response the last assistant turn.
    check(
        rec,
        fmt="alpaca",
        turns=turns,
        instruction="Say hello in Spanish",
        response="Bonjour",
        system="You are a translator.",
    )


def test_alpaca_empty_history(tmp_path):
    rec = one(tmp_path, {"instruction": "Q", "output": "A", "history": []})
    assert rec["turns"] == [U("Q"), A("A")]
    assert rec["meta"] == "{}"


@pytest.mark.parametrize(
    "row, reason",
    [
        ({"instruction": "Q", "output": "A", "history": "nope"}, "wrong_type"),
        ({"instruction": "Q", "output": "A", "history": [["a", "b", "c"]]}, "wrong_type"),
        ({"instruction": "Q", "output": "A", "history": [["a", 1]]}, "wrong_type"),
        ({"instruction": "Q", "output": "A", "system": 7}, "wrong_type"),
        ({"instruction": "Q", "output": "A", "input": {"x": 1}}, "wrong_type"),
        ({"instruction": "Q", "output": None}, "missing_field"),
    ],
)
def test_alpaca_bad_fields(tmp_path, row, reason):
    assert dead(tmp_path, row).startswith(reason + ":")


# ---------------------------------------------------------------- dolly


def test_dolly(tmp_path):
    row = {
        "instruction": "When was the tower built?",
        "context": "The Eiffel Tower was built in 1889.",
        "response": "1889",
        "category": "closed_qa",
    }
    rec = one(tmp_path, row)
    check(
        rec,
        fmt="dolly",
        turns=[U("When was the tower built?\n\nThe Eiffel Tower was built in 1889."), A("1889")],
        instruction="When was the tower built?\n\nThe Eiffel Tower was built in 1889.",
        response="1889",
        input="The Eiffel Tower was built in 1889.",
        meta={"category": "closed_qa"},
    )


def test_dolly_empty_context(tmp_path):
    rec = one(tmp_path, {"instruction": "Tell a joke.", "context": "", "response": "No."})
    check(rec, fmt="dolly", turns=[U("Tell a joke."), A("No.")], instruction="Tell a joke.", response="No.")


# ---------------------------------------------------------------- ShareGPT


def test_sharegpt_from_value(tmp_path):
    row = {
        "id": "conv-1",
        "conversations": [
            {"from": "system", "value": "Be brief."},
            {"from": "human", "value": "Hi"},
            {"from": "gpt", "value": "Hello!"},
            {"from": "human", "value": "Weather?"},
            {"from": "gpt", "value": "Sunny."},
        ],
    }
    rec = one(tmp_path, row)
    check(
        rec,
        fmt="sharegpt",
        turns=[U("Hi"), A("Hello!"), U("Weather?"), A("Sunny.")],
        instruction="Hi",
        response="Sunny.",
        system="Be brief.",
    )
    assert rec["id"] == "conv-1"


def test_sharegpt_tool_roles(tmp_path):
    row = {
        "conversations": [
            {"from": "human", "value": "Weather in Paris?"},
            {"from": "function_call", "value": '{"name": "weather", "arguments": {"city": "Paris"}}'},
            {"from": "observation", "value": '{"temp": 21}'},
            {"from": "tool", "value": "extra tool output"},
            {"from": "gpt", "value": "It is 21 degrees."},
        ],
        "tools": '[{"name": "weather"}]',
    }
    rec = one(tmp_path, row)
    assert [t["role"] for t in rec["turns"]] == ["user", "tool_call", "tool", "tool", "assistant"]
    assert rec["turns"][1]["content"] == '{"name": "weather", "arguments": {"city": "Paris"}}'
    assert rec["instruction"] == "Weather in Paris?"
    assert rec["response"] == "It is 21 degrees."
    assert json.loads(rec["meta"]) == {"tools": '[{"name": "weather"}]'}


def test_sharegpt_system_key(tmp_path):
    row = {"system": "You are a pirate.", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Arr"}]}
    rec = one(tmp_path, row)
    check(rec, fmt="sharegpt", turns=[U("Hi"), A("Arr")], instruction="Hi", response="Arr", system="You are a pirate.")


def test_sharegpt_system_key_wins_over_system_turn(tmp_path):
    row = {
        "system": "From the key.",
        "conversations": [
            {"from": "system", "value": "From a turn."},
            {"from": "human", "value": "Hi"},
            {"from": "gpt", "value": "Yo"},
        ],
    }
    rec = one(tmp_path, row)
    assert rec["system"] == "From the key."
    assert rec["turns"] == [U("Hi"), A("Yo")]


def test_sharegpt_system_turn_mid_conversation_stays_a_turn(tmp_path):
    row = {
        "conversations": [
            {"from": "human", "value": "Hi"},
            {"from": "system", "value": "Now be formal."},
            {"from": "gpt", "value": "Good day."},
        ]
    }
    rec = one(tmp_path, row)
    assert rec["system"] == ""
    assert rec["turns"] == [U("Hi"), {"role": "system", "content": "Now be formal."}, A("Good day.")]


def test_sharegpt_role_content_messages(tmp_path):
    row = {"conversations": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}]}
    rec = one(tmp_path, row)
    check(rec, fmt="sharegpt", turns=[U("Hi"), A("Hey")], instruction="Hi", response="Hey")


def test_sharegpt_roles_are_case_insensitive(tmp_path):
    row = {"conversations": [{"from": "Human", "value": "Hi"}, {"from": "GPT", "value": "Hey"}]}
    assert one(tmp_path, row)["turns"] == [U("Hi"), A("Hey")]


def test_sharegpt_null_value_is_empty_content(tmp_path):
    row = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": None}]}
    assert one(tmp_path, row)["turns"] == [U("Hi"), A("")]


@pytest.mark.parametrize(
    "conversations, reason",
    [
        ([], "empty_conversation"),
        ({"from": "human"}, "wrong_type"),
        (["hi"], "wrong_type"),
        ([{"from": "human", "value": "Hi"}, {"value": "x"}], "missing_field"),
        ([{"from": "human", "value": "Hi"}, {"from": "wizard", "value": "x"}], "unknown_role"),
        ([{"from": "human", "value": 5}], "wrong_type"),
    ],
)
def test_sharegpt_bad_conversations(tmp_path, conversations, reason):
    assert dead(tmp_path, {"conversations": conversations}).startswith(reason + ":")


# ---------------------------------------------------------------- OpenAI messages


def test_openai_string_content(tmp_path):
    row = {
        "messages": [
            {"role": "system", "content": "Be helpful."},
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4"},
        ]
    }
    rec = one(tmp_path, row)
    check(rec, fmt="openai", turns=[U("2+2?"), A("4")], instruction="2+2?", response="4", system="Be helpful.")


def test_openai_developer_role_is_system(tmp_path):
    row = {
        "messages": [
            {"role": "developer", "content": "Rules."},
            {"role": "user", "content": "Q"},
            {"role": "assistant", "content": "A"},
        ]
    }
    rec = one(tmp_path, row)
    assert rec["system"] == "Rules."
    assert rec["turns"] == [U("Q"), A("A")]


def test_openai_content_parts_with_images(tmp_path):
    row = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                    {"type": "text", "text": "Be short."},
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]},
        ]
    }
    rec = one(tmp_path, row)
    check(
        rec,
        fmt="openai",
        turns=[U("What is in this picture?\nBe short."), A("A cat.")],
        instruction="What is in this picture?\nBe short.",
        response="A cat.",
        media=["https://example.com/cat.png"],
    )


def test_openai_media_parts_and_row_media_fields(tmp_path):
    row = {
        "images": ["img/a.png", {"path": "img/b.png"}],
        "audio": "clip.wav",
        "messages": [
            {
                "role": "user",
                "content": [
                    "plain string part",
                    {"type": "image", "image": "img/c.png"},
                    {"type": "input_audio", "input_audio": {"data": "QUJD" * 40}},
                    {"type": "video"},
                ],
            },
            {"role": "assistant", "content": "ok"},
        ],
    }
    rec = one(tmp_path, row)
    assert rec["turns"] == [U("plain string part"), A("ok")]
    # Row-level media first (in config order), then media parts in order.
    assert rec["media"] == ["img/a.png", "img/b.png", "clip.wav", "img/c.png", ("QUJD" * 40)[:64], "video"]
    assert json.loads(rec["meta"]) == {}


def test_openai_assistant_tool_calls(tmp_path):
    calls = [{"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}]
    row = {
        "messages": [
            {"role": "user", "content": "Add 1"},
            {"role": "assistant", "content": None, "tool_calls": calls},
            {"role": "tool", "content": "2", "tool_call_id": "c1"},
            {"role": "assistant", "content": "It is 2."},
        ]
    }
    rec = one(tmp_path, row)
    assert [t["role"] for t in rec["turns"]] == ["user", "tool_call", "tool", "assistant"]
    assert json.loads(rec["turns"][1]["content"]) == calls
    assert rec["response"] == "It is 2."


def test_openai_assistant_tool_calls_with_text_keeps_both(tmp_path):
    calls = [{"function": {"name": "f"}}]
    row = {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "Let me check.", "tool_calls": calls}]}
    rec = one(tmp_path, row)
    assert [t["role"] for t in rec["turns"]] == ["user", "tool_call", "assistant"]
    assert rec["turns"][2]["content"] == "Let me check."


@pytest.mark.parametrize(
    "content",
    [
        [{"type": "text", "text": 5}],
        [7],
        {"text": "not a list"},
        [{"type": ["image"]}],
    ],
)
def test_openai_bad_content(tmp_path, content):
    row = {"messages": [{"role": "user", "content": content}, {"role": "assistant", "content": "x"}]}
    assert dead(tmp_path, row).startswith("wrong_type:")


def test_openai_image_part_with_non_string_data(tmp_path):
    # Must not crash normalization; the media reference is just empty.
    row = {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"data": 5}}]},
            {"role": "assistant", "content": "x"},
        ]
    }
    rec = one(tmp_path, row)
    assert rec["media"] == [""]


def test_openai_wins_over_other_fields(tmp_path):
    row = {
        "messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}],
        "text": "ignored",
        "source": "s",
    }
    rec = one(tmp_path, row)
    assert rec["format"] == "openai"
    assert json.loads(rec["meta"]) == {"text": "ignored", "source": "s"}


# ---------------------------------------------------------------- completion, selfinstruct, text


def test_completion(tmp_path):
    rec = one(tmp_path, {"prompt": "Once upon a time", "completion": " there was a dog."})
    check(
        rec,
        fmt="completion",
        turns=[U("Once upon a time"), A(" there was a dog.")],
        instruction="Once upon a time",
        response=" there was a dog.",
    )


def test_completion_with_response_key(tmp_path):
    rec = one(tmp_path, {"prompt": "P", "response": "R", "chosen": 1})
    check(rec, fmt="completion", turns=[U("P"), A("R")], instruction="P", response="R", meta={"chosen": 1})


def test_selfinstruct(tmp_path):
    row = {
        "instruction": "Sort the numbers.",
        "instances": [{"input": "3, 1, 2", "output": "1, 2, 3"}, {"input": "9, 8", "output": "8, 9"}],
    }
    rec = one(tmp_path, row)
    assert rec["format"] == "selfinstruct"
    assert rec["turns"] == [U("Sort the numbers.\n\n3, 1, 2"), A("1, 2, 3")]
    assert rec["instruction"] == "Sort the numbers.\n\n3, 1, 2"
    assert rec["response"] == "1, 2, 3"
    assert rec["input"] == "3, 1, 2"
    assert rec["system"] == ""


def test_selfinstruct_instance_without_input(tmp_path):
    rec = one(tmp_path, {"instruction": "Say hi.", "instances": [{"input": "", "output": "hi"}]})
    assert rec["turns"] == [U("Say hi."), A("hi")]
    assert rec["input"] == ""


def test_text_field(tmp_path):
    rec = one(tmp_path, {"text": "Just some pretraining text.", "url": "http://x"})
    check(
        rec,
        fmt="text",
        turns=[{"role": "text", "content": "Just some pretraining text."}],
        instruction="",
        response="Just some pretraining text.",
        meta={"url": "http://x"},
    )


def test_bare_json_string_row(tmp_path):
    records, rejected = run(tmp_path, ["a bare string row", {"text": "object row"}])
    assert rejected == []
    rec = records[0]
    check(
        rec,
        fmt="text",
        turns=[{"role": "text", "content": "a bare string row"}],
        instruction="",
        response="a bare string row",
    )
    assert rec["id"] == "data.jsonl:0"
    assert records[1]["response"] == "object row"


# ---------------------------------------------------------------- detection order


@pytest.mark.parametrize(
    "row, fmt",
    [
        ({"messages": [], "conversations": []}, "openai"),
        ({"conversations": [], "instruction": "x", "output": "y"}, "sharegpt"),
        ({"instruction": "x", "output": "y", "response": "z"}, "alpaca"),
        ({"instruction": "x", "response": "z", "instances": []}, "dolly"),
        ({"instruction": "x", "instances": []}, "selfinstruct"),
        ({"prompt": "p", "completion": "c", "text": "t"}, "completion"),
        ({"prompt": "p", "text": "t"}, "text"),
        ("s", "text"),
    ],
)
def test_detect_precedence(row, fmt):
    assert detect(row, fields()) == fmt


def test_detect_unknown_names_keys_and_fix():
    with pytest.raises(RowError) as e:
        detect({"question": "q", "answer": "a"}, fields())
    msg = str(e.value)
    assert msg.startswith("unknown_format:")
    assert "answer, question" in msg and "input.format" in msg and "input.fields" in msg


# ---------------------------------------------------------------- config overrides


def test_field_name_overrides(tmp_path):
    fm = fields(fields={"instruction": "question", "output": "answer", "input": "ctx"})
    rec = one(tmp_path, {"question": "Capital of France?", "ctx": "Europe", "answer": "Paris", "instruction": "kept"}, fm)
    check(
        rec,
        fmt="alpaca",
        turns=[U("Capital of France?\n\nEurope"), A("Paris")],
        instruction="Capital of France?\n\nEurope",
        response="Paris",
        input="Europe",
        meta={"instruction": "kept"},
    )


def test_field_name_overrides_for_conversations(tmp_path):
    fm = fields(fields={"conversations": "dialog", "from": "speaker", "value": "utterance"})
    row = {"dialog": [{"speaker": "human", "utterance": "Hi"}, {"speaker": "gpt", "utterance": "Yo"}]}
    rec = one(tmp_path, row, fm)
    check(rec, fmt="sharegpt", turns=[U("Hi"), A("Yo")], instruction="Hi", response="Yo")
    # The default names no longer mean anything.
    assert dead(tmp_path, {"conversations": [{"from": "human", "value": "Hi"}]}, fm).startswith("unknown_format:")


def test_media_field_override(tmp_path):
    fm = fields(fields={"media": "pictures"})
    rec = one(tmp_path, {"text": "t", "pictures": ["a.jpg", "b.jpg"], "images": ["c.jpg"]}, fm)
    assert rec["media"] == ["a.jpg", "b.jpg"]
    assert json.loads(rec["meta"]) == {"images": ["c.jpg"]}


def test_role_overrides(tmp_path):
    fm = fields(roles={"Narrator": "assistant", "kid": "user", "rules": "system", "gpt": "user"})
    row = {
        "conversations": [
            {"from": "rules", "value": "Stay in character."},
            {"from": "KID", "value": "Tell me a story"},
            {"from": "narrator", "value": "Once upon a time..."},
            {"from": "gpt", "value": "overridden default"},
        ]
    }
    rec = one(tmp_path, row, fm)
    assert rec["system"] == "Stay in character."
    assert rec["turns"] == [U("Tell me a story"), A("Once upon a time..."), U("overridden default")]
    # Defaults that are not overridden still apply.
    assert fm.roles["human"] == "user" and fm.roles["observation"] == "tool"
    assert dead(tmp_path, row).startswith("unknown_role:")


def test_role_override_must_be_canonical():
    with pytest.raises(ConfigError, match=r"input.roles.narrator"):
        fields(roles={"narrator": "storyteller"})


def test_forced_format(tmp_path):
    row = {"prompt": "P", "completion": "C", "text": "T"}
    assert one(tmp_path, row)["format"] == "completion"
    rec = one(tmp_path, row, fields(format="text"))
    check(
        rec,
        fmt="text",
        turns=[{"role": "text", "content": "T"}],
        instruction="",
        response="T",
        meta={"prompt": "P", "completion": "C"},
    )


def test_forced_format_missing_field_is_dead_letter(tmp_path):
    fm = fields(format="alpaca")
    reason = dead(tmp_path, {"text": "no instruction here"}, fm)
    assert reason.startswith("missing_field:") and "'instruction'" in reason


def test_forced_format_non_object_row(tmp_path):
    assert dead(tmp_path, "a string", fields(format="alpaca")).startswith("wrong_type:")
    rec = one(tmp_path, "a string", fields(format="text"))
    assert rec["turns"] == [{"role": "text", "content": "a string"}]


def test_bad_forced_format_rejected_by_config():
    with pytest.raises(ConfigError, match=r"input.format"):
        fields(format="csv")


# ---------------------------------------------------------------- ids, keys, hashes, meta


def test_id_from_row_or_shard_and_row(tmp_path):
    rows = [
        {"text": "a", "id": "abc"},
        {"text": "b"},
        {"text": "c", "id": 42},
        {"text": "d", "id": ""},
        {"text": "e", "id": True},
        {"text": "f", "id": None},
        {"text": "g", "id": [1]},
    ]
    records, rejected = run(tmp_path, rows, name="part-1.jsonl", index=3)
    assert rejected == []
    assert [r["id"] for r in records] == [
        "abc",
        "part-1.jsonl:1",
        "42",
        "part-1.jsonl:3",
        "part-1.jsonl:4",
        "part-1.jsonl:5",
        "part-1.jsonl:6",
    ]
    assert [r["row"] for r in records] == list(range(7))
    assert [r["key"] for r in records] == [row_key(3, i) for i in range(7)]
    assert len(set(r["key"] for r in records)) == 7
    assert {r["shard"] for r in records} == {"part-1.jsonl"}
    # The id field is not repeated in meta.
    assert records[0]["meta"] == "{}"


def test_id_field_override(tmp_path):
    fm = fields(id_field="uid")
    records, _ = run(tmp_path, [{"text": "a", "uid": "u-1", "id": "other"}, {"text": "b", "id": "x"}], fm)
    assert [r["id"] for r in records] == ["u-1", "data.jsonl:1"]
    assert json.loads(records[0]["meta"]) == {"id": "other"}


def test_id_of_bare_string_row_and_blank_lines(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'"first"\n\n\n"second"\n')
    shard = Shard(0, str(path), "t.jsonl", 0)
    raw = [r for b in read_shard(str(path), 10, 2_000_000) for r in b]
    batch, rejected = normalize_rows(raw, shard, fields())
    assert rejected == []
    assert batch.column("id").to_pylist() == ["t.jsonl:0", "t.jsonl:3"]


def test_content_hash_insensitive_to_case_and_whitespace(tmp_path):
    rows = [
        {"instruction": "What is  the capital\nof France?", "output": "Paris."},
        {"instruction": "  WHAT is the Capital of france?  ", "output": "paris.\n"},
        {"prompt": "what is the capital of france?", "completion": "PARIS."},
        {"instruction": "What is the capital of France?", "output": "Lyon."},
        {"instruction": "What is the capital of France?", "output": "Paris.", "system": "Be terse."},
        {"conversations": [{"from": "gpt", "value": "What is the capital of France?"}, {"from": "human", "value": "Paris."}]},
    ]
    records, _ = run(tmp_path, rows)
    h = [r["content_hash"] for r in records]
    assert h[0] == h[1] == h[2]  # same text up to case/whitespace, alpaca or completion
    assert len(set(h[2:])) == 4  # other answer, extra system prompt, swapped roles all differ
    assert all(len(x) == 32 and int(x, 16) >= 0 for x in h)


def test_content_hash_is_stable():
    # Pinned value: hashes are compared across runs and machines.
    turns = [U("Hello  World"), A("Hi!")]
    expected = hashlib.blake2b(digest_size=16)
    expected.update(b"be nice")
    expected.update(b"\x1euser\x1fhello world")
    expected.update(b"\x1eassistant\x1fhi!")
    assert content_hash(" Be   NICE ", turns) == expected.hexdigest()
    assert content_hash("be nice", [U("hello world"), A("HI!")]) == expected.hexdigest()


def test_content_hash_separates_turn_boundaries():
    assert content_hash("", [U("a b"), A("c")]) != content_hash("", [U("a"), A("b c")])
    assert content_hash("x", [U("y")]) != content_hash("", [U("x y")])


def test_meta_keeps_unmapped_fields_as_json(tmp_path):
    row = {
        "instruction": "Q",
        "input": "",
        "output": "A",
        "id": "keep-out",
        "images": ["i.png"],
        "source": "unit-test",
        "score": 4.5,
        "tags": ["a", "b"],
        "nested": {"k": [1, None, True]},
        "unicode": "naïve 🙂",
    }
    rec = one(tmp_path, row)
    meta = json.loads(rec["meta"])
    assert meta == {
        "source": "unit-test",
        "score": 4.5,
        "tags": ["a", "b"],
        "nested": {"k": [1, None, True]},
        "unicode": "naïve 🙂",
    }
    assert rec["media"] == ["i.png"]


def test_meta_empty_is_empty_object(tmp_path):
    for row in [{"instruction": "Q", "output": "A"}, {"text": "t"}, "bare"]:
        assert one(tmp_path, row)["meta"] == "{}"


def test_dead_letters_have_rejected_schema(tmp_path):
    records, rejected = run(tmp_path, [{"text": "ok"}, {"text": 3}, {"foo": 1}])
    assert len(records) == 1
    assert set(rejected[0]) == set(REJECTED.names)
    assert [r["row"] for r in rejected] == [1, 2]
    assert rejected[0]["shard"] == "data.jsonl"
    assert json.loads(rejected[1]["raw"]) == {"foo": 1}


def test_dead_letter_raw_is_truncated(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(orjson.dumps({"instruction": 1, "output": "y" * 10_000}) + b"\n")
    raw = [r for b in read_shard(str(path), 10, 2_000_000) for r in b]
    _, rejected = normalize_rows(raw, Shard(0, str(path), "a.jsonl", 0), fields(), raw_max_chars=100)
    assert rejected[0]["raw"].startswith('{"instruction":1,"output":"yyy')
    assert rejected[0]["raw"].endswith("more chars]")
    assert len(rejected[0]["raw"]) < 200


def test_error_rows_pass_through_as_dead_letters():
    rows = [
        RawRow(0, {"text": "a"}, None, ""),
        RawRow(1, None, "invalid_json: boom", "{bad"),
        RawRow(-1, None, "unreadable_file: x", ""),
    ]
    batch, rejected = normalize_rows(rows, Shard(2, "/x/s.jsonl", "s.jsonl", 0), fields())
    assert batch.num_rows == 1
    assert rejected == [
        {"shard": "s.jsonl", "row": 1, "reason": "invalid_json: boom", "raw": "{bad"},
        {"shard": "s.jsonl", "row": -1, "reason": "unreadable_file: x", "raw": ""},
    ]


def test_empty_input_gives_empty_canonical_batch():
    batch, rejected = normalize_rows([], Shard(0, "p", "p", 0), fields())
    assert batch.num_rows == 0 and batch.schema == CANONICAL and rejected == []


def test_default_roles_cover_sharegpt_and_openai_names():
    fm = fields()
    assert {k: fm.roles[k] for k in ("human", "gpt", "system", "function_call", "observation", "tool", "user", "assistant")} == {
        "human": "user",
        "gpt": "assistant",
        "system": "system",
        "function_call": "tool_call",
        "observation": "tool",
        "tool": "tool",
        "user": "user",
        "assistant": "assistant",
    }
    assert DEFAULT_ROLES["function_call"] == "tool_call"


def test_map_row_direct():
    m = map_row({"instruction": "Q", "output": "A", "extra": 1}, fields())
    assert m.format == "alpaca" and m.turns == [U("Q"), A("A")] and m.meta == {"extra": 1}
