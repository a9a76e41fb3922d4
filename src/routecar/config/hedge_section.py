"""The `hedge` shape (models.SLUG.hedge, routes.NAME.hedge, resilience.hedge): when an attempt
has produced no first content token after `after`, one more attempt races it.

`after` is a duration, or `p95`: the deployment's own observed TTFT p95 (so a hedge only fires
on the slow tail, whatever the deployment's usual speed)."""

from __future__ import annotations

from typing import Any

from .errors import found
from .fields import Issues
from .kinds import INVALID, Defs, Duration, Kind, Schema
from .model import HedgeConfig
from .shapes import Key, Object, Values

P95 = "p95"


class HedgeAfter(Kind):
    """A duration > 0, or the word `p95`."""

    _duration = Duration(positive=True)

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        if isinstance(value, str) and value.strip() == P95:
            return P95
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            return self._duration.parse(value, path, issues)
        return self.error(issues, path, f"must be a duration > 0 or 'p95', got {found(value)}")

    def schema(self, defs: Defs) -> Schema:
        return {"anyOf": [{"enum": [P95]}, self._duration.json(defs)]}

    def type_name(self) -> str:
        return "duration > 0 or `p95`"

    def show(self, value: Any) -> Any:
        return self._duration.show(value)


HEDGE = Object(
    Key("after", HedgeAfter(), "start one more attempt when none has a first content token after this "
                               "(a duration, or p95: the deployment's observed TTFT p95)"),
    defaults=HedgeConfig,
    name="hedge",
    doc="hedged first tokens: race a second attempt against a slow first one",
)


def build_hedge(v: Values | Any, given: bool) -> HedgeConfig | None:
    """None when the key is not written (hedging off at that level)."""
    if not given or v is INVALID:
        return None
    return HedgeConfig(after=v["after"])
