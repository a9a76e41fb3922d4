"""The router's input and output: plain values handed between rooms of the house.

`RoutingRequest` is what the server learned from the request (no HTTP objects), `Plan` is the
router's decision: the ordered candidates the dispatcher tries, with the reason and scores
for each, and everything passed over with why. The dispatcher consults live health again at
try time; the plan order is the preference, not a promise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from ..config.model import CascadeConfig, Deployment, ModelConfig


@dataclass(slots=True)
class RoutingRequest:
    model: str  # what the app put in `model`: a slug or a route name
    endpoint: str  # "chat" | "embeddings" | "messages"
    body: dict[str, Any]  # canonical (OpenAI-shaped) body
    tags: dict[str, str] = field(default_factory=dict)
    est_prompt_tokens: int = 0
    est_output_tokens: int = 0  # to plan for before any model's cap (see build_routing_request)
    has_tools: bool = False
    has_images: bool = False
    json_mode: bool = False
    json_schema: bool = False  # response_format.type == "json_schema" (a capability filter)
    stream: bool = False
    last_user_text: str = ""
    classes: dict[str, str] = field(default_factory=dict)  # classifier labels, filled before routing


@dataclass(slots=True)
class Candidate:
    slug: str
    model: ModelConfig
    deployment: Deployment
    reason: str = ""  # why it is here: "primary", "weight 3/4", "fallback of gpt-4o-mini", ...
    score: float | None = None
    step: int = 0  # cascade step (0 for non-cascade routes)
    dep_id: str = ""  # deployment.id, precomputed by the router (health keys)

    def describe(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "deployment": self.deployment.id,
            "reason": self.reason,
            "score": None if self.score is None else round(self.score, 6),
            "step": self.step,
        }


# One ranked model: (its ModelInfo, the strategy's score, what the score means), best first.
RankingRow = tuple[Any, "float | None", str]


@dataclass(slots=True)
class Plan:
    """Built whole by the router and never changed after: a later step that decides otherwise
    (a budget downgrade) builds a new Plan (`dataclasses.replace`). Not `frozen=True`, whose
    __init__ sets each of the fourteen fields through object.__setattr__: that measured ~2 us
    a decision (about a tenth of it, benchmarks/router_bench.py). Its sequences are tuples."""

    requested: str
    candidates: tuple[Candidate, ...]
    route: str | None = None
    strategy: str | None = None
    reason: str = ""
    skipped: tuple[dict[str, Any], ...] = ()  # {"slug", "deployment", "why"}
    rules_matched: tuple[str, ...] = ()
    # The strategy's ranking, kept as the router's rows: nothing on the request path reads the
    # scores, so they become dicts only when `scores()` is asked for (`explain`).
    ranking: Sequence[RankingRow] = field(default=(), repr=False)
    shadow_model: str | None = None
    cascade: CascadeConfig | None = None
    canary: bool = False
    est_cost_usd: float | None = None
    shadow_strategy: str | None = None
    downgraded_from: str | None = None  # the over-budget route this plan replaces

    def scores(self) -> list[dict[str, Any]]:
        """Per ranked model, best first: {"slug", "score", "reason", "rank"}."""
        return [{"slug": info.slug, "score": score, "reason": why, "rank": i}
                for i, (info, score, why) in enumerate(self.ranking)]


class RoutingError(Exception):
    """The request cannot be routed at all; `status` and `code` say how to answer."""

    def __init__(self, message: str, status: int, code: str, error_type: str = "invalid_request_error"):
        super().__init__(message)
        self.status = status
        self.code = code
        self.error_type = error_type
