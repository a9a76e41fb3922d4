"""Secret scrubbing shared by every way text leaves the process: log lines, route-log rows,
error bodies.

API keys should never reach any of those at all; this is defence in depth. Anything shaped like
a key (`sk-…`, `sk-ant-…`, `AIza…`, bearer tokens) or equal to a secret registered with
`register_secret` (the config's API keys, registered at start and on every reload) is replaced.
The registry is process-wide on purpose: a key must be scrubbed wherever it surfaces, and the
places it may surface (a logging thread, the route-log writer thread) hold no reference to the
config.
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


class Redactor:
    """Replaces key-shaped strings and registered secrets, recursively through containers."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self._pattern = self._compile()

    def register(self, value: str) -> None:
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
        return self._pattern.sub(REDACTED, value)

    def scrub(self, value: Any, depth: int = 0) -> Any:
        """A JSON-safe copy of `value` with secrets replaced.

        Anything that is not a plain scalar or container is turned into `str()` first: orjson
        would serialize a dataclass field by field, `repr=False` keys included, while `str()`
        goes through the repr that hides them.
        """
        if isinstance(value, str):
            return self._pattern.sub(REDACTED, value)
        if isinstance(value, _SAFE_SCALARS):
            return value
        if depth < 8:  # bounded: a self-referencing structure must not recurse forever
            if isinstance(value, dict):
                return {self.text(str(k)): self.scrub(v, depth + 1) for k, v in value.items()}
            if isinstance(value, (list, tuple, set, frozenset)):
                return [self.scrub(v, depth + 1) for v in value]
        return self._pattern.sub(REDACTED, str(value))


REDACTOR = Redactor()


def register_secret(value: str) -> None:
    """Scrub this literal (an API key from config, say) from everything written from now on."""
    REDACTOR.register(value)


def redact(text: str) -> str:
    """`text` with key-shaped strings and registered secrets replaced (for error messages)."""
    return REDACTOR.text(text)
