"""The fake upstream's aiohttp application: every dialect and the control API on one port."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import anthropic_api, control, gemini_api, models_list, openai_api, responses_api
from .faults import FaultSet
from .state import STATE, FakeState


def create_app(
    name: str = "fake",
    faults: dict[str, Any] | list[dict[str, Any]] | None = None,
    chunks: int = 8,
    chunk_delay_ms: float = 0,
    latency_ms: float = 0,
    embedding_dim: int = 64,
    require_key: bool = False,
) -> web.Application:
    """A fake OpenAI/Anthropic/Gemini upstream called `name`.

    `faults` is one fault object, a list of them, or None (see faults.py for the fields); it
    can be replaced at runtime through POST /_fake/faults.
    """
    if chunks < 1:
        raise ValueError("chunks must be >= 1")
    if embedding_dim < 1:
        raise ValueError("embedding_dim must be >= 1")
    # Benchmarks push large prompts; a generous body limit keeps the fake from being the 413.
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE] = FakeState(
        name=name, chunks=chunks, chunk_delay_ms=float(chunk_delay_ms), latency_ms=float(latency_ms),
        embedding_dim=embedding_dim, require_key=require_key, faults=FaultSet(faults),
    )
    openai_api.add_routes(app)
    responses_api.add_routes(app)
    anthropic_api.add_routes(app)
    gemini_api.add_routes(app)
    models_list.add_routes(app)
    control.add_routes(app)
    return app
