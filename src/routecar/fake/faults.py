"""Fault injection: which misbehaviour the fake shows, and to which requests.

A fault set is an ordered list of faults; for each request the first fault whose scope matches
(paths, models, the `rate` dice roll) applies, and a fault with a `count` retires itself after
that many uses. Keeping scope and selection here leaves the dialect handlers to only *act* on
the fault they are handed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields
from typing import Any

DIALECTS = ("openai", "anthropic", "gemini")

# Fields a fault may carry, with the types accepted from JSON.
_NUMBER = (int, float)
_SPEC: dict[str, tuple[type, ...]] = {
    "status": (int,),
    "message": (str,),
    "retry_after": _NUMBER,
    "retry_after_ms": _NUMBER,
    "ratelimit_headers": (bool,),
    "remaining_requests": (int,),
    "remaining_tokens": (int,),
    "latency_ms": _NUMBER,
    "first_token_delay_ms": _NUMBER,
    "chunk_delay_ms": _NUMBER,
    "disconnect_after_chunks": (int,),
    "hang": (bool, int, float),
    "malformed": (bool,),
    "html_error": (bool, int),
    "context_length_error": (bool,),
    "stall_after_chunks": (int,),
    "empty_preamble_then_fail": (bool, str),
    "safety": (bool,),
    "gzip_bomb": (bool, int),
    "gzip_bomb_after_chunks": (int,),
    "endless_comments": (bool,),
    "comment_interval_ms": _NUMBER,
    "endless_comments_after_chunks": (int,),
    "unterminated_event": (bool,),
    "unterminated_after_chunks": (int,),
    "interim_flood": (bool, int),
    "trickle_ms": _NUMBER,
    "trickle_bytes": (int,),
    "garbage": (bool, int),
    "cap_s": _NUMBER,
    "count": (int,),
    "rate": _NUMBER,
    "paths": (list, str),
    "models": (list, str),
    "seed": (int,),
}

# A hang or stall never outlives this, so a forgotten client cannot pin a task forever.
MAX_HANG_S = 600.0

# `true` for the sized hostile faults: a 1 GiB bomb, a thousand interim heads, a page of junk.
DEFAULT_BOMB_MIB = 1024
DEFAULT_INTERIM_FLOOD = 1000
DEFAULT_GARBAGE_BYTES = 4096
# Upper bounds keep a typo from turning the fake itself into the victim (CPU, socket buffers).
MAX_BOMB_MIB = 16 * 1024
MAX_INTERIM_FLOOD = 1_000_000
MAX_GARBAGE_BYTES = 16 * 1024 * 1024
# Faults that replace the answer's body with something that never parses; one at a time.
_BODY_BOMBS = ("gzip_bomb", "endless_comments", "unterminated_event")
# "after_chunks" and tuning fields, and the fault they belong to.
_COMPANIONS = {
    "gzip_bomb_after_chunks": "gzip_bomb",
    "endless_comments_after_chunks": "endless_comments",
    "comment_interval_ms": "endless_comments",
    "unterminated_after_chunks": "unterminated_event",
    "trickle_bytes": "trickle_ms",
}


@dataclass(slots=True, eq=False)
class Fault:
    """One misbehaviour and its scope.

    Answer replacements: `status` (error body in the dialect's shape, `message` overrides its
    text), `html_error` (true for a load balancer's 502 page, or a status), `context_length_error`,
    `malformed` (200 with an HTML body; junk events on streams), `hang` (never answer until the
    client leaves; a number caps it in seconds). Headers: `retry_after` (s), `retry_after_ms`,
    `ratelimit_headers`, `remaining_requests`, `remaining_tokens`. Timing: `latency_ms`,
    `first_token_delay_ms`, `chunk_delay_ms`. Streams: `disconnect_after_chunks`,
    `stall_after_chunks`, `empty_preamble_then_fail` (true: error event; "close": drop the line).
    `safety`: a content-filtered answer.
    Hostile upstreams (unary and streamed, every dialect; bounded by `cap_s` or the client leaving):
    `gzip_bomb` (200 with Content-Encoding gzip inflating to N MiB of filler, true = 1024; streams
    send `gzip_bomb_after_chunks` content events first), `endless_comments` (": ping" every
    `comment_interval_ms`, never content, after `endless_comments_after_chunks` events; unary: a
    chunked body of trickled whitespace), `unterminated_event` ("data: " then endless bytes with no
    line break, after `unterminated_after_chunks` events; unary: the JSON's start then endless
    filler), `interim_flood` (N "100 Continue" heads before the answer, true = 1000), `trickle_ms`
    (the body `trickle_bytes` bytes at a time at that interval), `garbage` (random bytes, not HTTP,
    then close; true = 4096 bytes, a number = that many). `cap_s`: the longest any endless fault,
    hang or stall lasts (default and ceiling MAX_HANG_S).
    Scope: `count`, `rate` (+ `seed`), `paths` (dialect names, path prefixes, or ":method"
    suffixes; model lists are requests like any other), `models`.
    """

    status: int | None = None
    message: str | None = None
    retry_after: float | None = None
    retry_after_ms: float | None = None
    ratelimit_headers: bool = False
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    latency_ms: float = 0.0
    first_token_delay_ms: float = 0.0
    chunk_delay_ms: float | None = None
    disconnect_after_chunks: int | None = None
    hang: bool | float = False
    malformed: bool = False
    html_error: bool | int = False
    context_length_error: bool = False
    stall_after_chunks: int | None = None
    empty_preamble_then_fail: bool | str = False
    safety: bool = False
    gzip_bomb: bool | int = False
    gzip_bomb_after_chunks: int = 0
    endless_comments: bool = False
    comment_interval_ms: float = 10.0
    endless_comments_after_chunks: int = 0
    unterminated_event: bool = False
    unterminated_after_chunks: int = 0
    interim_flood: bool | int = False
    trickle_ms: float | None = None
    trickle_bytes: int = 1
    garbage: bool | int = False
    cap_s: float | None = None
    count: int | None = None
    rate: float | None = None
    paths: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    seed: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def cap_seconds(self) -> float:
        """How long any fault that would never end on its own (endless streams, floods, a
        trickle, a hang, a stall) may keep the connection: `cap_s`, at most MAX_HANG_S."""
        if self.cap_s is not None:
            return min(float(self.cap_s), MAX_HANG_S)
        return MAX_HANG_S

    @property
    def hang_seconds(self) -> float:
        """How long a hang or stall may last at most (`hang: 5` means five seconds)."""
        if isinstance(self.hang, (int, float)) and not isinstance(self.hang, bool) and self.hang > 0:
            return min(float(self.hang), self.cap_seconds)
        return self.cap_seconds

    @property
    def bomb_mib(self) -> int:
        """Decompressed size of the gzip bomb in MiB (0: no bomb)."""
        return _sized(self.gzip_bomb, DEFAULT_BOMB_MIB)

    @property
    def interim_count(self) -> int:
        """How many "100 Continue" heads precede the answer (0: none)."""
        return _sized(self.interim_flood, DEFAULT_INTERIM_FLOOD)

    @property
    def garbage_bytes(self) -> int:
        """How many random bytes replace the HTTP answer (0: a real answer)."""
        return _sized(self.garbage, DEFAULT_GARBAGE_BYTES)

    @property
    def breaks_body(self) -> bool:
        """True when the body never ends as it should: a bomb, endless comments, an endless line."""
        return bool(self.gzip_bomb or self.endless_comments or self.unterminated_event)

    @property
    def replaces_body(self) -> bool:
        """True when the answer's body is not sent plainly: broken (above) or trickled."""
        return self.breaks_body or self.trickle_ms is not None

    @property
    def is_error(self) -> bool:
        """True when this fault replaces the answer with an error status."""
        return self.status is not None and not 200 <= self.status < 300

    def matches(self, dialect: str, path: str, model: str | None) -> bool:
        if self.paths and not any(_path_matches(p, dialect, path) for p in self.paths):
            return False
        if self.models and (model is None or model not in self.models):
            return False
        return True

    def roll(self) -> bool:
        return self.rate is None or self._rng.random() < self.rate

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name.startswith("_"):
                continue
            value = getattr(self, f.name)
            if value == f.default or (f.name in ("paths", "models") and not value):
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


def _sized(value: bool | int, default: int) -> int:
    """`true` means the default size, a number that size, false none."""
    if value is True:
        return default
    return 0 if value is False else int(value)


def _path_matches(pattern: str, dialect: str, path: str) -> bool:
    """A scope entry names a dialect ("anthropic"), a path prefix ("/v1/embeddings") or a
    Gemini method suffix (":streamGenerateContent")."""
    if pattern == dialect:
        return True
    if pattern.startswith("/"):
        return path.startswith(pattern)
    if pattern.startswith(":"):
        return path.endswith(pattern)
    return False


def parse_fault(spec: dict[str, Any]) -> Fault:
    """Validate one fault from JSON; unknown keys and wrong types raise ValueError."""
    if not isinstance(spec, dict):
        raise ValueError("a fault must be a JSON object")
    kwargs: dict[str, Any] = {}
    for key, value in spec.items():
        accepted = _SPEC.get(key)
        if accepted is None:
            raise ValueError(f"unknown fault field '{key}' (known: {', '.join(sorted(_SPEC))})")
        if value is None:
            continue
        if isinstance(value, bool) and bool not in accepted:
            raise ValueError(f"fault field '{key}' must not be a boolean")
        if not isinstance(value, accepted):
            raise ValueError(f"fault field '{key}' has the wrong type: {type(value).__name__}")
        if key in ("paths", "models"):
            items = [value] if isinstance(value, str) else value
            if not all(isinstance(v, str) for v in items):
                raise ValueError(f"fault field '{key}' must be a list of strings")
            value = tuple(items)
        kwargs[key] = value
    rate = kwargs.get("rate")
    if rate is not None and not 0.0 <= rate <= 1.0:
        raise ValueError("fault field 'rate' must be between 0 and 1")
    count = kwargs.get("count")
    if count is not None and count < 1:
        raise ValueError("fault field 'count' must be >= 1")
    status = kwargs.get("status")
    if status is not None and not 100 <= status <= 599:
        raise ValueError("fault field 'status' must be an HTTP status (100..599)")
    html = kwargs.get("html_error")
    if html is not None and not isinstance(html, bool) and not 400 <= html <= 599:
        raise ValueError("fault field 'html_error' must be true or an error status")
    _validate_hostile(kwargs)
    return Fault(**kwargs)


def _validate_hostile(kwargs: dict[str, Any]) -> None:
    """Bounds and combinations of the hostile-upstream fields (see Fault)."""
    for key, low, high in (("gzip_bomb", 1, MAX_BOMB_MIB), ("interim_flood", 1, MAX_INTERIM_FLOOD),
                           ("garbage", 1, MAX_GARBAGE_BYTES)):
        value = kwargs.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and not low <= value <= high:
            raise ValueError(f"fault field '{key}' must be true or a number from {low} to {high}")
    for key in ("gzip_bomb_after_chunks", "endless_comments_after_chunks", "unterminated_after_chunks"):
        if kwargs.get(key, 0) < 0:
            raise ValueError(f"fault field '{key}' must be >= 0")
    # Below a millisecond the fake would spin its own loop instead of pacing a client.
    for key in ("comment_interval_ms", "trickle_ms"):
        if key in kwargs and kwargs[key] < 1:
            raise ValueError(f"fault field '{key}' must be >= 1 (milliseconds)")
    if kwargs.get("trickle_bytes", 1) < 1:
        raise ValueError("fault field 'trickle_bytes' must be >= 1")
    if "cap_s" in kwargs and kwargs["cap_s"] <= 0:
        raise ValueError("fault field 'cap_s' must be > 0 (seconds)")
    for key, owner in _COMPANIONS.items():
        if key in kwargs and not kwargs.get(owner):
            raise ValueError(f"fault field '{key}' needs '{owner}'")
    bombs = [k for k in _BODY_BOMBS if kwargs.get(k)]
    if len(bombs) > 1:
        raise ValueError(f"fault fields {', '.join(bombs)} each replace the body; pick one")


def parse_faults(spec: Any) -> list[Fault]:
    """Accept null, one fault object, a list of them, or {"faults": [...]}."""
    if spec is None:
        return []
    if isinstance(spec, dict) and set(spec) == {"faults"}:
        spec = spec["faults"]
    if isinstance(spec, dict):
        return [parse_fault(spec)] if spec else []
    if isinstance(spec, list):
        return [parse_fault(item) for item in spec]
    raise ValueError("faults must be an object, a list of objects, or null")


class FaultSet:
    """The live, replaceable list of faults of one fake provider."""

    __slots__ = ("_faults",)

    def __init__(self, spec: Any = None) -> None:
        self._faults: list[Fault] = parse_faults(spec)

    def __bool__(self) -> bool:
        return bool(self._faults)

    def replace(self, spec: Any) -> None:
        """Swap the whole set; an invalid spec raises and leaves the old set in place."""
        self._faults = parse_faults(spec)

    def clear(self) -> None:
        self._faults = []

    def describe(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self._faults]

    def pick(self, dialect: str, path: str, model: str | None) -> Fault | None:
        """The fault for this request, if any, consuming one use of a counted fault."""
        for fault in self._faults:
            if not fault.matches(dialect, path, model) or not fault.roll():
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self._faults = [f for f in self._faults if f is not fault]
            return fault
        return None
