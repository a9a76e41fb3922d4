"""The JSON Schema (draft 2020-12) of `sidecar.yaml`, generated from the definitions the loader
validates with (definitions.py), for editors and CI linters.

It checks the file as written: a `${VAR}` reference is accepted wherever a scalar is, since
only the loader knows what it resolves to; cross-key rules (references to other sections,
`max_open_for >= open_for`, cycles) are the loader's alone. `routecar check` is the full test.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from .definitions import SIDECAR
from .kinds import Defs

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# Where the repository keeps the generated files (see docs.py).
SCHEMA_FILE = "schema/sidecar.schema.json"


def json_schema() -> dict[str, Any]:
    defs = Defs()
    body = SIDECAR.schema(defs)
    for name, key in SIDECAR.fixed.items():
        example = getattr(key.kind, "example", None)
        if example:
            body["properties"][name]["examples"] = [yaml.safe_load(example)[name]]
    return {
        "$schema": DIALECT,
        "title": "routecar sidecar.yaml",
        "description": (
            "Configuration of the routecar LLM routing sidecar. Generated from src/routecar/config "
            "(`routecar schema`); the reference is docs/configuration.md. Unknown keys are errors; "
            "cross-key rules are checked by `routecar check`."
        ),
        **{k: v for k, v in body.items() if k != "description"},
        "$defs": dict(sorted(defs.schemas.items())),
    }


def render_json() -> str:
    """The schema as the committed file holds it."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
