"""Map one parsed row of any supported format to the canonical fields.

Detection is per row from the keys it has (cheap set look-ups), unless the
config forces a format. A row that fits no format, or whose fields have the
wrong types, raises `RowError` with a reason that names the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from winnow.transforms.terminal import escape_control

if TYPE_CHECKING:
    from winnow.transforms.config import Config

DEFAULT_ROLES = {
    "user": "user",
    "human": "user",
    "prompter": "user",
    "question": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "answer": "assistant",
    "system": "system",
    "developer": "system",
    "function_call": "tool_call",
    "tool_call": "tool_call",
    "function": "tool",
    "observation": "tool",
    "tool": "tool",
    "ipython": "tool",
}


class RowError(ValueError):
    """A row that cannot be normalized; str(e) is the dead-letter reason."""


@dataclass
class Mapped:
    format: str
    turns: list[dict[str, str]]
    system: str = ""
    input: str = ""
    media: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FieldMap:
    """Field and role names from config `input.fields` / `input.roles`."""

    names: dict[str, Any]
    roles: dict[str, str]
    id_field: str
    forced: str

    @classmethod
    def from_config(cls, config: Config) -> FieldMap:
        inp = config.input
        roles = dict(DEFAULT_ROLES)
        roles.update({str(k).lower(): v for k, v in inp.roles.items()})
        return cls(names=dict(inp.fields), roles=roles, id_field=inp.id_field, forced=inp.format)

    def __getitem__(self, key: str) -> str:
        return self.names[key]


def _text(row: dict, key: str, what: str, required: bool = False) -> str:
    """A string field; None/missing is empty, numbers are not silently coerced."""
    if key not in row or row[key] is None:
        if required:
            raise RowError(f"missing_field: {what} field {key!r} is missing")
        return ""
    value = row[key]
    if isinstance(value, str):
        return value
    raise RowError(f"wrong_type: field {key!r} is {type(value).__name__}, expected a string")


def _content(value: Any, where: str, media: list[str]) -> str:
    """Message content: a string, or OpenAI-style parts (text parts joined, media parts listed)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for part in value:
            if isinstance(part, str):
                texts.append(part)
                continue
            if not isinstance(part, dict):
                raise RowError(f"wrong_type: {where} has a content part of type {type(part).__name__}")
            kind = part.get("type", "text")
            if not isinstance(kind, str):
                raise RowError(f"wrong_type: {where} has a content part whose type is {type(kind).__name__}")
            if kind == "text" or "text" in part:
                t = part.get("text", "")
                if not isinstance(t, str):
                    raise RowError(f"wrong_type: {where} has a text part that is {type(t).__name__}")
                texts.append(t)
            else:
                ref = part.get(kind)
                if isinstance(ref, dict):
                    data = ref.get("data")
                    ref = ref.get("url") or ref.get("path") or (data[:64] if isinstance(data, str) else "")
                media.append(str(ref) if ref is not None else kind)
        return "\n".join(texts)
    raise RowError(f"wrong_type: {where} content is {type(value).__name__}, expected a string or a list of parts")


def _media(row: dict, keys: Any) -> list[str]:
    out: list[str] = []
    for key in [keys] if isinstance(keys, str) else keys:
        value = row.get(key)
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict):
                out.append(str(item.get("path") or item.get("url") or item.get("file") or item))
            else:
                raise RowError(f"wrong_type: media field {key!r} holds {type(item).__name__}, expected file names")
    return out


def _role(raw: Any, fm: FieldMap, where: str) -> str:
    if not isinstance(raw, str):
        raise RowError(f"wrong_type: {where} role is {type(raw).__name__}, expected a string")
    role = fm.roles.get(raw.lower())
    if role is None:
        raise RowError(
            f"unknown_role: {where} has role {raw!r}; "
            f"map it with config input.roles: {{{_yaml_key(raw)}: user|assistant|system|tool}}"
        )
    return role


def _yaml_key(name: str) -> str:
    """`name` as a YAML key to paste into input.roles: plain when it is a word, else double-quoted
    with its control characters escaped (YAML reads \\x1b back as ESC), so the hint holds no raw ESC."""
    if re.fullmatch(r"[^\W\d][\w-]*", name):
        return name
    return '"' + escape_control(name.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def _messages(items: Any, key: str, role_key: str, content_key: str, fm: FieldMap, media: list[str]) -> tuple[list[dict], str]:
    if not isinstance(items, list):
        raise RowError(f"wrong_type: field {key!r} is {type(items).__name__}, expected a list of messages")
    if not items:
        raise RowError(f"empty_conversation: field {key!r} is an empty list")
    turns: list[dict[str, str]] = []
    system_parts: list[str] = []
    for i, msg in enumerate(items):
        where = f"{key}[{i}]"
        if not isinstance(msg, dict):
            raise RowError(f"wrong_type: {where} is {type(msg).__name__}, expected an object")
        if role_key not in msg:
            raise RowError(f"missing_field: {where} has no {role_key!r}")
        role = _role(msg[role_key], fm, where)
        text = _content(msg.get(content_key), where, media)
        if role == "tool_call" and msg.get("tool_calls") is not None:
            text = text or _json(msg["tool_calls"])
        elif role == "assistant" and msg.get("tool_calls"):
            turns.append({"role": "tool_call", "content": _json(msg["tool_calls"])})
            if not text:
                continue
        if role == "system" and not turns:
            system_parts.append(text)
            continue
        turns.append({"role": role, "content": text})
    return turns, "\n".join(system_parts)


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def detect(row: Any, fm: FieldMap) -> str:
    """The format of one parsed row, from the keys it has."""
    if isinstance(row, str):
        return "text"
    if not isinstance(row, dict):
        raise RowError(f"wrong_type: the row is a JSON {type(row).__name__}, expected an object")
    n = fm.names
    if n["messages"] in row:
        return "openai"
    if n["conversations"] in row:
        return "sharegpt"
    if n["instruction"] in row:
        if n["output"] in row:
            return "alpaca"
        if n["response"] in row:
            return "dolly"
        if n["instances"] in row:
            return "selfinstruct"
    if n["prompt"] in row and (n["completion"] in row or n["response"] in row):
        return "completion"
    if n["text"] in row:
        return "text"
    if n["instruction"] in row:
        raise RowError(
            f"missing_field: the row has {n['instruction']!r} but no {n['output']!r} (alpaca), "
            f"{n['response']!r} (dolly) or {n['instances']!r} (selfinstruct)"
        )
    if n["prompt"] in row:
        raise RowError(f"missing_field: the row has {n['prompt']!r} but no {n['completion']!r} or {n['response']!r}")
    keys = ", ".join(sorted(map(str, row))[:12])
    raise RowError(f"unknown_format: no known fields (keys: {keys}); set config input.format and input.fields to map them")


def _user_text(instruction: str, extra: str) -> str:
    return f"{instruction}\n\n{extra}" if extra.strip() else instruction


def map_row(row: Any, fm: FieldMap) -> Mapped:
    fmt = detect(row, fm) if fm.forced == "auto" else fm.forced
    if fmt == "text" and isinstance(row, str):
        return Mapped("text", [{"role": "text", "content": row}])
    if not isinstance(row, dict):
        raise RowError(f"wrong_type: the row is a JSON {type(row).__name__}, expected an object")
    n = fm.names
    media = _media(row, n["media"])
    used = {fm.id_field, *([n["media"]] if isinstance(n["media"], str) else n["media"])}
    if fmt == "openai":
        turns, system = _messages(row.get(n["messages"]), n["messages"], n["role"], n["content"], fm, media)
        used |= {n["messages"]}
        mapped = Mapped("openai", turns, system=system)
    elif fmt == "sharegpt":
        items = row.get(n["conversations"])
        role_key, content_key = n["from"], n["value"]
        if (
            isinstance(items, list)
            and items
            and isinstance(items[0], dict)
            and role_key not in items[0]
            and n["role"] in items[0]
        ):
            role_key, content_key = n["role"], n["content"]
        turns, system = _messages(items, n["conversations"], role_key, content_key, fm, media)
        system = _text(row, n["system"], "system") or system
        used |= {n["conversations"], n["system"]}
        mapped = Mapped("sharegpt", turns, system=system)
    elif fmt == "alpaca":
        instruction = _text(row, n["instruction"], "instruction", required=True)
        extra = _text(row, n["input"], "input")
        output = _text(row, n["output"], "output", required=True)
        turns = _history(row.get(n["history"]), n["history"])
        turns += [{"role": "user", "content": _user_text(instruction, extra)}, {"role": "assistant", "content": output}]
        used |= {n["instruction"], n["input"], n["output"], n["history"], n["system"]}
        mapped = Mapped("alpaca", turns, system=_text(row, n["system"], "system"), input=extra)
    elif fmt == "dolly":
        instruction = _text(row, n["instruction"], "instruction", required=True)
        context = _text(row, n["context"], "context")
        response = _text(row, n["response"], "response", required=True)
        turns = [{"role": "user", "content": _user_text(instruction, context)}, {"role": "assistant", "content": response}]
        used |= {n["instruction"], n["context"], n["response"]}
        mapped = Mapped("dolly", turns, input=context)
    elif fmt == "selfinstruct":
        instruction = _text(row, n["instruction"], "instruction", required=True)
        instances = row.get(n["instances"])
        if not isinstance(instances, list) or not instances or not isinstance(instances[0], dict):
            raise RowError(f"wrong_type: field {n['instances']!r} must be a non-empty list of {{input, output}} objects")
        first = instances[0]
        extra = _text(first, n["input"], "input")
        output = _text(first, n["output"], "output", required=True)
        turns = [{"role": "user", "content": _user_text(instruction, extra)}, {"role": "assistant", "content": output}]
        used |= {n["instruction"]}
        mapped = Mapped("selfinstruct", turns, input=extra)
    elif fmt == "completion":
        prompt = _text(row, n["prompt"], "prompt", required=True)
        key = n["completion"] if n["completion"] in row else n["response"]
        completion = _text(row, key, "completion", required=True)
        turns = [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]
        used |= {n["prompt"], key}
        mapped = Mapped("completion", turns)
    elif fmt == "text":
        text = _text(row, n["text"], "text", required=True)
        used |= {n["text"]}
        mapped = Mapped("text", [{"role": "text", "content": text}])
    else:  # pragma: no cover - config validation rejects other names
        raise RowError(f"unknown_format: {fmt}")
    mapped.media = media
    mapped.meta = {k: v for k, v in row.items() if k not in used}
    return mapped


def _history(value: Any, key: str) -> list[dict[str, str]]:
    """Alpaca `history`: earlier [prompt, response] pairs (LLaMA-Factory)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise RowError(f"wrong_type: field {key!r} is {type(value).__name__}, expected a list of [prompt, response] pairs")
    turns: list[dict[str, str]] = []
    for i, pair in enumerate(value):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise RowError(f"wrong_type: {key}[{i}] must be a [prompt, response] pair of strings")
        turns += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    return turns
