"""Token and cost estimates, and the RoutingRequest the server builds once per request.

Estimates never call a tokenizer or the network: ~4 characters per token over message text is
within ~20% for English prose, which is enough to rank candidates by cost and to keep a prompt
away from a window it clearly does not fit. The true cost comes from `usage` afterwards.

How many output tokens to plan for is decided once per request (`est_output_tokens`: none for
embeddings, else max_tokens, else DEFAULT_OUTPUT_TOKENS) and capped per model
(`expected_output_tokens`, which the window filter reads); one function prices a request on
candidate models (`estimated_costs`, which the cost-ranking strategies and the plan's
`est_cost_usd` read).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import orjson

from ..config.model import ModelConfig
from .model_info import NO_CAP, ModelInfo
from .plan import RoutingRequest


CHARS_PER_TOKEN = 4
# Chat formats wrap every message in a few role/separator tokens, and prime the reply.
MESSAGE_OVERHEAD = 4
REPLY_PRIMING = 3
# What a high-detail 1024x1024 image costs on OpenAI; other providers are in the same range.
IMAGE_TOKENS = 765
# Expected answer length when the request sets no max_tokens.
DEFAULT_OUTPUT_TOKENS = 256

_IMAGE_PARTS = frozenset({"image_url", "image", "input_image"})
_PER_TOKEN = 1e-6  # prices are per 1M tokens


def _content_size(content: Any) -> tuple[int, int, str]:
    """(characters, images, text) of one message's content (a string or a list of parts)."""
    if isinstance(content, str):
        return len(content), 0, content
    if not isinstance(content, list):
        return (0, 0, "") if content is None else (len(str(content)), 0, "")
    chars = images = 0
    texts: list[str] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in _IMAGE_PARTS:
            images += 1
        elif isinstance(part.get("text"), str):
            chars += len(part["text"])
            texts.append(part["text"])
        else:
            # tool results, audio, documents: size of their JSON is a fair stand-in.
            chars += len(orjson.dumps(part))
    return chars, images, "\n".join(texts)


def _embedding_tokens(value: Any) -> int:
    if isinstance(value, str):
        return len(value) // CHARS_PER_TOKEN + 1
    if isinstance(value, list):
        if value and isinstance(value[0], int):
            return len(value)  # already token ids
        return sum(_embedding_tokens(v) for v in value)
    return 0


def est_prompt_tokens(body: Mapping[str, Any], endpoint: str = "chat") -> int:
    """Estimated prompt tokens of a canonical (OpenAI-shaped) body."""
    return _scan(body, endpoint)[0]


def _scan(body: Mapping[str, Any], endpoint: str) -> tuple[int, bool, str]:
    """(prompt tokens, has images, last user text) in one pass over the body."""
    if endpoint == "embeddings":
        return _embedding_tokens(body.get("input")), False, ""
    chars = images = 0
    messages = body.get("messages") or ()
    last_user = ""
    for msg in messages:
        if not isinstance(msg, dict):
            continue
        c, i, text = _content_size(msg.get("content"))
        chars += c
        images += i
        calls = msg.get("tool_calls")
        if calls:
            chars += len(orjson.dumps(calls))
        if msg.get("role") == "user":
            last_user = text
    system = body.get("system")  # Anthropic-shaped bodies keep the system prompt outside
    if system:
        chars += _content_size(system)[0]
    tools = body.get("tools") or body.get("functions")
    if tools:
        chars += len(orjson.dumps(tools))
    tokens = chars // CHARS_PER_TOKEN + MESSAGE_OVERHEAD * len(messages) + REPLY_PRIMING
    return tokens + images * IMAGE_TOKENS, images > 0, last_user


def requested_output_tokens(body: Mapping[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def expected_output_tokens(req: RoutingRequest, cap: int = NO_CAP) -> int:
    """Output tokens to plan for on a model whose max_output_tokens is `cap`: the request's
    own expectation (`est_output_tokens`), at most `cap`."""
    wanted = req.est_output_tokens
    return wanted if wanted <= cap else cap


def estimated_costs(models: Sequence[ModelInfo], req: RoutingRequest) -> list[float]:
    """USD of `req` on each of `models`, in order, at list price (no cache discount assumed):
    its estimated prompt tokens, and its expected_output_tokens() under each model's cap.

    Takes the whole candidate list because `cheapest` and `balanced` price every candidate on
    every decision: one call per list, and the cap written out in the loop, keep the loop free
    of per-model calls (a call per model would double its cost)."""
    prompt = req.est_prompt_tokens
    wanted = req.est_output_tokens
    return [(prompt * m.price_in + (wanted if wanted <= m.out_cap else m.out_cap) * m.price_out) * _PER_TOKEN
            for m in models]


def actual_cost(model: ModelConfig, usage: Mapping[str, Any] | None) -> float:
    """USD from an OpenAI-shaped `usage`: prompt tokens read from the provider's cache are
    billed at `cached_input`, those written to it (Anthropic's cache_creation_input_tokens,
    carried as prompt_tokens_details.cache_creation_tokens) at `cache_write`, the rest at
    `input`; `prompt_tokens` counts all three."""
    if not usage:
        return 0.0
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    details = usage.get("prompt_tokens_details") or {}
    cached = written = 0
    if isinstance(details, dict):
        cached = min(details.get("cached_tokens") or 0, prompt)
        written = min(details.get("cache_creation_tokens") or 0, prompt - cached)
    price = model.price
    cached_price = price.input if price.cached_input is None else price.cached_input
    write_price = price.input if price.cache_write is None else price.cache_write
    usd = ((prompt - cached - written) * price.input + cached * cached_price + written * write_price
           + completion * price.output)
    return usd * _PER_TOKEN


def build_routing_request(
    endpoint: str, body: Mapping[str, Any], tags: Mapping[str, str] | None = None
) -> RoutingRequest:
    """The router's input for one request (one pass over the body, no copies of it)."""
    prompt_tokens, has_images, last_user = _scan(body, endpoint)
    fmt = body.get("response_format")
    fmt_type = fmt.get("type") if isinstance(fmt, dict) else None
    wanted = requested_output_tokens(body)
    model = body.get("model")
    # Positional: a keyword call with thirteen fields costs a third of this function.
    return RoutingRequest(
        model if type(model) is str else str(model or ""),
        endpoint,
        body,  # type: ignore[arg-type]
        dict(tags) if tags else {},
        prompt_tokens,  # est_prompt_tokens
        # est_output_tokens: what every model's estimate starts from (expected_output_tokens)
        0 if endpoint == "embeddings" else (wanted or DEFAULT_OUTPUT_TOKENS),
        bool(body.get("tools") or body.get("functions")),  # has_tools
        has_images,
        fmt_type in ("json_object", "json_schema"),  # json_mode
        fmt_type == "json_schema",  # json_schema
        body.get("stream") is True,  # stream
        last_user,  # last_user_text
        {},  # classes
    )
