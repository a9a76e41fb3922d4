"""redis (~150 ms of start-up) loads only when a SharedStore is built, never on import."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
from routecar.config import parse_config
config = parse_config('''
providers: {p: {type: openai, base_url: 'http://127.0.0.1:1/v1'}}
models: {m: {deployments: [{provider: p}]}}
shared_state: {redis: {url: 'redis://127.0.0.1:1/0'}}
''')
import routecar.shared, routecar.shared.state, routecar.shared.results, routecar.shared.keys
before = 'redis' in sys.modules
from routecar.shared.state import SharedState
SharedState(config.shared_state)
print(json.dumps([before, 'redis' in sys.modules]))
"""


def test_redis_is_imported_only_when_a_store_is_built() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == [False, True]
