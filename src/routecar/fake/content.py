"""What the fake says, independent of dialect.

Each dialect turns its request into an `Ask` and renders the resulting `Answer` in its own wire
shape. Answers are deterministic functions of the request (so tests can assert on them) and
cheap to compute (so benchmarks measure the proxy, not the fake).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

_WORD = re.compile(r"[A-Za-z0-9]+")
_FILLER = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit")
_TOOL_WORD = re.compile(r"\btools?\b", re.IGNORECASE)
_MAX_SCHEMA_DEPTH = 6

# Neutral finish reasons; each dialect maps them onto its own vocabulary.
STOP, LENGTH, TOOL, STOP_SEQUENCE, SAFETY = "stop", "length", "tool", "stop_sequence", "safety"


@dataclass(slots=True)
class Ask:
    last_user: str = ""
    prompt_chars: int = 0
    after_tool_result: bool = False  # the last message answers a tool call: reply in text
    tools: list[tuple[str, Any]] = field(default_factory=list)  # (name, parameters schema)
    tool_mode: str = "auto"  # auto | required | none | named
    tool_name: str | None = None
    json_mode: bool = False
    schema: Any = None
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Answer:
    text: str
    pieces: list[str]  # stream pieces of `text`, or of the tool arguments for a tool call
    finish: str
    prompt_tokens: int
    completion_tokens: int
    stop_sequence: str | None = None
    tool_name: str | None = None
    tool_args: str | None = None  # the arguments as JSON text
    tool_input: Any = None  # the same arguments as an object

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def estimate_tokens(chars: int) -> int:
    """The classic four-characters-per-token rule; never zero for a real prompt."""
    return max(1, (chars + 3) // 4)


@lru_cache(maxsize=2048)
def _derived_words(text: str, count: int) -> tuple[str, ...]:
    source = [w.lower() for w in _WORD.findall(text)] or list(_FILLER)
    return tuple(source[i % len(source)] for i in range(count))


def split_evenly(items: list[str], parts: int, sep: str) -> list[str]:
    """Join `items` into `parts` consecutive pieces (fewer when there are fewer items)."""
    if not items:
        return []
    parts = max(1, min(parts, len(items)))
    size, extra = divmod(len(items), parts)
    pieces: list[str] = []
    start = 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        piece = sep.join(items[start:end])
        pieces.append(piece if i == 0 else sep + piece)
        start = end
    return pieces


def split_text(text: str, parts: int) -> list[str]:
    """Cut a string into `parts` character slices (JSON text has no natural word breaks)."""
    if not text:
        return []
    parts = max(1, min(parts, len(text)))
    size, extra = divmod(len(text), parts)
    pieces, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def fill_schema(schema: Any, text: str, depth: int = 0) -> Any:
    """A small value that satisfies a JSON schema's types, properties, enums and arrays."""
    if not isinstance(schema, dict) or depth > _MAX_SCHEMA_DEPTH:
        return text
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return fill_schema(options[0], text, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {name: fill_schema(sub, text, depth + 1) for name, sub in props.items()}
    if kind == "array":
        return [fill_schema(schema.get("items") or {}, text, depth + 1)]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 0.5))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return text


def wants_tool(ask: Ask) -> tuple[str, Any] | None:
    """The tool to call, or None to answer in text."""
    if not ask.tools or ask.after_tool_result or ask.tool_mode == "none":
        return None
    if ask.tool_mode == "named" and ask.tool_name:
        for name, params in ask.tools:
            if name == ask.tool_name:
                return name, params
        return ask.tool_name, None
    if ask.tool_mode == "required" or _TOOL_WORD.search(ask.last_user):
        return ask.tools[0]
    return None


def _apply_stop(text: str, stop: list[str]) -> tuple[str, str | None]:
    cut, matched = len(text), None
    for seq in stop:
        if seq:
            at = text.find(seq)
            if 0 <= at < cut:
                cut, matched = at, seq
    return text[:cut], matched


def compose(ask: Ask, name: str, chunks: int, safety: bool = False) -> Answer:
    """The answer to `ask` from the fake provider called `name`, in about `chunks` pieces."""
    prompt_tokens = estimate_tokens(ask.prompt_chars)
    chunks = max(1, chunks)
    if safety:
        return Answer("", [], SAFETY, prompt_tokens, 0)
    words = _derived_words(ask.last_user, chunks)
    tool = wants_tool(ask)
    if tool is not None:
        tool_name, params = tool
        args = fill_schema(params, " ".join(words[:3]))
        if not isinstance(args, dict) or not args:
            args = {"query": " ".join(words[:3])}
        args_text = orjson.dumps(args).decode()
        return Answer(
            "", split_text(args_text, min(chunks, 4)), TOOL, prompt_tokens,
            estimate_tokens(len(args_text)) + len(tool_name),
            tool_name=tool_name, tool_args=args_text, tool_input=args,
        )
    sentence = ["Fake", "answer", "from", f"{name}:", *words]
    if ask.json_mode:
        return _compose_json(ask, " ".join(sentence), prompt_tokens, chunks)
    text, matched = _apply_stop(" ".join(sentence), ask.stop)
    finish = STOP_SEQUENCE if matched is not None else STOP
    out_words = text.split()
    if ask.max_tokens is not None and len(out_words) > ask.max_tokens:
        out_words, finish, matched = out_words[: max(ask.max_tokens, 0)], LENGTH, None
    text = " ".join(out_words)
    return Answer(text, split_evenly(out_words, chunks, " "), finish, prompt_tokens,
                  len(out_words), stop_sequence=matched)


def _compose_json(ask: Ask, sentence: str, prompt_tokens: int, chunks: int) -> Answer:
    obj = fill_schema(ask.schema, sentence) if isinstance(ask.schema, dict) else None
    if not isinstance(obj, dict) or not obj:
        obj = {"answer": sentence}
    text = orjson.dumps(obj).decode()
    tokens, finish = estimate_tokens(len(text)), STOP
    if ask.max_tokens is not None and tokens > ask.max_tokens:
        # A real model cut off mid-object leaves invalid JSON; cascades must notice.
        text, tokens, finish = text[: max(ask.max_tokens, 0) * 4], max(ask.max_tokens, 0), LENGTH
    return Answer(text, split_text(text, chunks), finish, prompt_tokens, tokens)


def text_of(content: Any) -> str:
    """Plain text of an OpenAI/Anthropic message content (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, dict):
                value = part.get("text")
                if isinstance(value, str):
                    out.append(value)
            elif isinstance(part, str):
                out.append(part)
        return " ".join(out)
    return ""
