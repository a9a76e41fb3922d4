"""Lua scripts by their SHA, and batches of commands for one pipelined round trip.

redis-py's own `Script` object costs a round trip it does not need: before every pipeline that
holds a script it asks `SCRIPT EXISTS`, and when that round trip fails it keeps the pooled
connection checked out (its pipeline resets only after its `try`), so a Redis outage can leak
the pool dry. routecar sends `EVALSHA` straight away instead, and loads a script only when
Redis answers `NOSCRIPT` (after a restart or a `SCRIPT FLUSH`): the common case is one round
trip, the rare one three.

A `Batch` records commands (plain values, nothing of redis-py) so that the store can send them
as one pipeline and re-send just the ones that met `NOSCRIPT`.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple, Sequence


class LuaScript:
    __slots__ = ("lua", "sha")

    def __init__(self, lua: str) -> None:
        self.lua = lua
        self.sha = hashlib.sha1(lua.encode(), usedforsecurity=False).hexdigest()

    def evalsha_args(self, keys: Sequence[Any], args: Sequence[Any]) -> tuple[Any, ...]:
        return ("EVALSHA", self.sha, len(keys), *keys, *args)


class Command(NamedTuple):
    args: tuple[Any, ...]  # the command's name first, as Redis reads it
    script: LuaScript | None  # the script an EVALSHA runs, to load it on NOSCRIPT


class Batch:
    """Commands queued by a writer, sent by `SharedStore.pipeline` in one round trip."""

    __slots__ = ("commands",)

    def __init__(self) -> None:
        self.commands: list[Command] = []

    def __len__(self) -> int:
        return len(self.commands)

    def command(self, *args: Any) -> None:
        self.commands.append(Command(args, None))

    def script(self, script: LuaScript, keys: Sequence[Any], args: Sequence[Any]) -> None:
        self.commands.append(Command(script.evalsha_args(keys, args), script))
