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
    est_output_tokens: int = 0
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


@dataclass(slots=True)
class Plan:
    requested: str
    candidates: list[Candidate]
    route: str | None = None
    strategy: str | None = None
    reason: str = ""
    skipped: list[dict[str, Any]] = field(default_factory=list)  # {"slug", "deployment", "why"}
    rules_matched: list[str] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)  # {"slug", "score", "reason", "rank"}
    shadow_model: str | None = None
    cascade: CascadeConfig | None = None
    canary: bool = False
    est_cost_usd: float | None = None
    shadow_strategy: str | None = None
    downgraded_from: str | None = None  # the over-budget route this plan replaces
    # The router's ranking as (model info, score, reason) rows, turned into `scores` on first
    # read: nothing on the request path reads the scores, so most plans never build them.
    _ranking: Sequence[tuple[Any, float | None, str]] | None = field(
        default=None, init=False, repr=False, compare=False)

    def defer_scores(self, ranking: Sequence[tuple[Any, float | None, str]]) -> None:
        """Let `scores` describe `ranking` (rows with a `.slug`), built when first read."""
        self._ranking = ranking


# `scores` reads through a property so deferred rows become dicts on first read, wherever it
# is read from (attribute, repr, ==, dataclasses.replace); the dataclass keeps its slot.
_SCORES_SLOT = Plan.scores


def _get_scores(plan: Plan) -> list[dict[str, Any]]:
    ranking = plan._ranking
    if ranking is not None:
        plan._ranking = None
        _SCORES_SLOT.__set__(plan, [{"slug": info.slug, "score": score, "reason": why, "rank": i}
                                    for i, (info, score, why) in enumerate(ranking)])
    return _SCORES_SLOT.__get__(plan, Plan)


def _set_scores(plan: Plan, value: list[dict[str, Any]]) -> None:
    plan._ranking = None
    _SCORES_SLOT.__set__(plan, value)


Plan.scores = property(_get_scores, _set_scores, doc="Per ranked model, for `explain`.")  # type: ignore[assignment]


class RoutingError(Exception):
    """The request cannot be routed at all; `status` and `code` say how to answer."""

    def __init__(self, message: str, status: int, code: str, error_type: str = "invalid_request_error"):
        super().__init__(message)
        self.status = status
        self.code = code
        self.error_type = error_type
