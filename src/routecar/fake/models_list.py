"""GET /v1/models, which OpenAI and Anthropic both serve at the same path on the same port.

Every Anthropic client sends `anthropic-version` (and usually `x-api-key` rather than a bearer
token); OpenAI clients send neither. That picks the list's shape, the dialect the fault gate
scopes by, and the key check, so a health probe of either provider sees its own upstream.
"""

from __future__ import annotations

from aiohttp import web

from . import anthropic_api, openai_api
from .gate import tracked


def is_anthropic(request: web.Request) -> bool:
    headers = request.headers
    return "anthropic-version" in headers or ("x-api-key" in headers and "Authorization" not in headers)


@tracked
async def list_models(request: web.Request) -> web.StreamResponse:
    if is_anthropic(request):
        return await anthropic_api.list_models(request)
    return await openai_api.list_models(request)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/models", list_models)
