"""Helpers shared by the translating adapters (Anthropic, Gemini) and the Anthropic entry point.

Everything here is pure and cheap: it runs once per request or once per stream chunk.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Callable

import orjson

from ..config.model import ProviderConfig
from .base import Translation, UnsupportedParam

Clock = Callable[[], float]
IdFactory = Callable[[str], str]

# Anthropic and Gemini both reject a request without an output cap (Anthropic) or do better with
# one; used when neither the request nor the catalog gives one.
DEFAULT_MAX_TOKENS = 4096

# Upstream error text is echoed to apps; cap it so a provider's HTML error page stays readable.
MAX_ERROR_TEXT = 500


class TranslationError(UnsupportedParam):
    """A canonical request that cannot be expressed in the provider's protocol (answered as 400).

    Subclasses UnsupportedParam so the dispatcher's existing 400 path names `param`.
    """

    def __init__(self, param: str, message: str):
        Exception.__init__(self, message)
        self.param = param


def random_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def now_seconds(clock: Clock) -> int:
    return int(clock())


DEFAULT_CLOCK: Clock = time.time


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def parse_data_url(url: str) -> tuple[str, str] | None:
    """`data:image/png;base64,AAAA` -> ("image/png", "AAAA"); None for any other URL."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    media_type = header[: -len(";base64")] or "application/octet-stream"
    return media_type, data


def data_url(media_type: str, data: str) -> str:
    return f"data:{media_type};base64,{data}"


def text_of(content: Any) -> str:
    """The text of a canonical message content (a string, or a list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text") or part.get("refusal") or ""
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", "refusal")
        )
    raise TranslationError("messages.content", "message content must be a string or a list of parts")


def tool_arguments(raw: Any, param: str) -> dict[str, Any]:
    """Parse an OpenAI tool call's JSON `arguments` string into the object other protocols want."""
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        parsed = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        raise TranslationError(param, f"'{param}' must be a JSON object string") from None
    if not isinstance(parsed, dict):
        raise TranslationError(param, f"'{param}' must be a JSON object string")
    return parsed


def json_instruction(response_format: Any) -> str | None:
    """A system instruction standing in for `response_format` on protocols without JSON mode."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return "Respond only with a single valid JSON object. Do not wrap it in Markdown or add any other text."
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        text = "Respond only with a single valid JSON value, without Markdown or any other text"
        if schema is not None:
            text += ", that conforms to this JSON Schema:\n" + orjson.dumps(schema).decode()
        return text + "."
    return None


def check_unsupported(
    body: dict[str, Any],
    inert: dict[str, Callable[[Any], bool]],
    provider: ProviderConfig,
    provider_type: str,
    notes: Translation,
) -> None:
    """Raise UnsupportedParam for a parameter the protocol cannot take, or drop and note it.

    `inert` maps each such parameter to a test of values that change nothing (e.g. `n: 1`),
    which are silently accepted so the common SDK defaults never fail a request.
    """
    for name, is_inert in inert.items():
        if name not in body or is_inert(body[name]):
            continue
        if not provider.drop_unsupported_params:
            raise UnsupportedParam(name, provider_type)
        if name not in notes.dropped_params:
            notes.dropped_params.append(name)


def is_none(value: Any) -> bool:
    return value is None


def is_falsy(value: Any) -> bool:
    return not value


def is_zero(value: Any) -> bool:
    return value is None or value == 0


def is_one(value: Any) -> bool:
    return value is None or value == 1


def join_url(base_url: str, version: str, path: str) -> str:
    """`base_url` with or without a trailing `/{version}` (or slash) joined to `/{version}{path}`."""
    base = base_url.rstrip("/")
    if base.endswith("/" + version):
        base = base[: -len(version) - 1]
    return f"{base}/{version}{path}"


def headers_with(provider: ProviderConfig, auth: dict[str, str]) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    headers.update(provider.headers)
    if provider.api_key:
        headers.update(auth)
    return headers


def error_text(status: int, payload: bytes) -> str:
    text = payload.decode("utf-8", "replace").strip()
    if len(text) > MAX_ERROR_TEXT:
        text = text[:MAX_ERROR_TEXT] + "..."
    return f"HTTP {status}: {text}" if text else f"HTTP {status}"


def chunk_dict(
    chunk_id: str, created: int, model: str, delta: dict[str, Any], finish_reason: str | None = None, index: int = 0
) -> dict[str, Any]:
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def usage_chunk(chunk_id: str, created: int, model: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage,
    }


def canonical_usage(
    prompt: int, completion: int, cached: int = 0, cache_creation: int = 0, reasoning: int = 0
) -> dict[str, Any]:
    """OpenAI-shaped usage; `prompt` already includes cached and cache-creation tokens."""
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }
    if cache_creation:
        usage["prompt_tokens_details"]["cache_creation_tokens"] = cache_creation
    if reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


def int_of(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
