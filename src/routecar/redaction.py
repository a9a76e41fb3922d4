"""Secret scrubbing for every way text leaves the process: log lines, route-log rows, error
bodies, `routecar check` output.

API keys should never reach any of those at all; this is defence in depth. Anything shaped like
a key (`sk-…`, `sk-ant-…`, `AIza…`, bearer tokens) or equal to a secret registered with
`Redactor.register` (the config's API keys, at start and on every reload) is replaced.

The process builds one `Redactor` at start-up and hands it to everything that writes text out
(the JSON log handler, the route-log writer, the dispatcher's error messages): a key must be
scrubbed wherever it surfaces, so they all share the same registered secrets. There is no
module-level instance: a test builds its own, and nothing registered in one leaks into another.

Imports nothing of routecar's: observability and routelog both sit above it.
"""

from __future__ import annotations

import re
import threading
from typing import Any

REDACTED = "[REDACTED]"
# Registered secrets shorter than this are ignored: scrubbing "ab" from every line would wreck
# the logs, and no real credential is that short.
MIN_SECRET_LEN = 4

_KEY_PATTERNS = (
    r"sk-[A-Za-z0-9_\-]{8,}",  # OpenAI (sk-, sk-proj-) and Anthropic (sk-ant-)
    r"AIza[0-9A-Za-z_\-]{20,}",  # Google / Gemini
    r"(?i:bearer)\s+[A-Za-z0-9._~+/\-]{8,}=*",
)
_SAFE_SCALARS = (str, int, float, bool, type(None))
# Containers deeper than this are turned into text whole: a self-referencing structure must
# not recurse forever.
_MAX_DEPTH = 8


class Redactor:
    """Replaces key-shaped strings and registered secrets, recursively through containers.

    Safe to share between threads: `register` swaps in a new compiled pattern under a lock,
    and readers (a logging thread, the route-log writer's thread) use whichever pattern was
    current when they started.
    """

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self._pattern = self._compile()
        for secret in secrets:
            self.register(secret)

    def register(self, value: str) -> None:
        """Scrub this literal (an API key from config, say) from everything written from now on."""
        if not value or len(value) < MIN_SECRET_LEN:
            return
        with self._lock:
            if value not in self._secrets:
                self._secrets.add(value)
                self._pattern = self._compile()

    def _compile(self) -> re.Pattern[str]:
        # Longest first so a secret that contains another is replaced whole.
        literals = [re.escape(s) for s in sorted(self._secrets, key=len, reverse=True)]
        return re.compile("|".join([*literals, *_KEY_PATTERNS]))

    def text(self, value: str) -> str:
        """`value` with key-shaped strings and registered secrets replaced."""
        return self._pattern.sub(REDACTED, value)

    def scrub(self, value: Any, depth: int = 0) -> Any:
        """A JSON-safe copy of `value` with secrets replaced.

        Anything that is not a plain scalar or container is turned into `str()` first: orjson
        would serialize a dataclass field by field, `repr=False` keys included, while `str()`
        goes through the repr that hides them.
        """
        pattern = self._pattern
        if isinstance(value, str):
            return pattern.sub(REDACTED, value)
        if isinstance(value, _SAFE_SCALARS):
            return value
        if depth < _MAX_DEPTH:
            if isinstance(value, dict):
                return {pattern.sub(REDACTED, str(k)): self.scrub(v, depth + 1) for k, v in value.items()}
            if isinstance(value, (list, tuple, set, frozenset)):
                return [self.scrub(v, depth + 1) for v in value]
        return pattern.sub(REDACTED, str(value))
