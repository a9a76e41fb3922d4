"""`sidecar.yaml`: loading, validation and the frozen objects the rest of routecar reads.

Every module of routecar may import a piece of this package (a CLI flag parses its duration
with `config.durations`), and importing any piece runs this file first: so it imports nothing
itself, and the package-level names below load their module (the YAML loader and all
section parsers, for `load_config`) on first use.

Every key of the file is declared once, in the section modules that definitions.py lists; the
loader, the JSON Schema (`routecar schema`) and docs/configuration.md all come from those
declarations. definitions.py says how to add a key.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import ConfigError
    from .loader import load_config, parse_config
    from .model import Config

# name -> the module of this package that defines it
_HOMES = {"Config": "model", "ConfigError": "errors", "load_config": "loader", "parse_config": "loader"}

__all__ = ["Config", "ConfigError", "load_config", "parse_config"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{home}", __name__), name)
