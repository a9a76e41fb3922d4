"""A logged row as the router's input, or the reason it cannot be judged.

Only what the request parsing recorded is used (schema v3's columns, tags, classifier labels).
What the log does not hold is never guessed: a row is unjudged when its route's rules would
need the prompt text (`matches`) or a classifier label the row lacks, or when it predates the
routing-input columns.
"""

from __future__ import annotations

from typing import Any

from ..config.model import Config
from ..router.plan import RoutingRequest
from .rows import INDEX, json_cell

NO_INPUTS = "no routing inputs recorded (row older than route-log v3, or rejected before parsing)"

_I_MODEL, _I_ENDPOINT, _I_TAGS, _I_CLASSES, _I_STREAM = (
    INDEX["requested_model"], INDEX["endpoint"], INDEX["tags"], INDEX["classes"], INDEX["stream"])
_I_EST_IN, _I_EST_OUT, _I_TOOLS, _I_IMAGES, _I_JSON, _I_SCHEMA = (
    INDEX["est_prompt_tokens"], INDEX["est_output_tokens"], INDEX["has_tools"], INDEX["has_images"],
    INDEX["json_mode"], INDEX["json_schema"])



class Needs:
    """Per route name of the NEW config: what its rules read that a row may not hold."""

    def __init__(self, config: Config) -> None:
        self._prompt: set[str] = set()
        self._classes: dict[str, tuple[str, ...]] = {}
        for name, route in config.routes.items():
            keys = {key for rule in route.rules for key in rule.when}
            if "matches" in keys:
                self._prompt.add(name)
            classes = tuple(sorted(k[len("class."):] for k in keys if k.startswith("class.")))
            if classes:
                self._classes[name] = classes

    def missing(self, route: str, classes: dict[str, Any]) -> str | None:
        """Why a request to `route` cannot be judged from the log, or None."""
        if route in self._prompt:
            return f"route '{route}' has a `matches` rule and the log holds no prompt"
        for name in self._classes.get(route, ()):
            if name not in classes:
                return f"route '{route}' has a `class.{name}` rule and the row has no '{name}' label"
        return None


def routing_request(row: tuple[Any, ...], needs: Needs) -> RoutingRequest | str:
    """The RoutingRequest the server built for `row`, or why it cannot be rebuilt."""
    model = row[_I_MODEL]
    if row[_I_EST_IN] is None or not model:
        return NO_INPUTS
    # The row keeps each classifier's record ({label, source, ...}); a result without a label
    # was left out of the router's input, as labels_of does.
    classes = {name: rec.get("label") for name, rec in (json_cell(row[_I_CLASSES]) or {}).items()
               if isinstance(rec, dict) and rec.get("label")}
    why = needs.missing(model, classes)
    if why is not None:
        return why
    endpoint = "embeddings" if row[_I_ENDPOINT] == "embeddings" else "chat"
    return RoutingRequest(
        model, endpoint, {"model": model}, json_cell(row[_I_TAGS]) or {},
        row[_I_EST_IN], row[_I_EST_OUT] or 0, bool(row[_I_TOOLS]), bool(row[_I_IMAGES]),
        bool(row[_I_JSON]), bool(row[_I_SCHEMA]), bool(row[_I_STREAM]), "",
        {k: str(v) for k, v in classes.items()},
    )
