"""The key under which the endpoints find the running sidecar in `request.app`."""

from typing import Final

RUNTIME: Final = "routecar_runtime"
