"""App request headers a provider gets (`providers.NAME.forward_headers`).

The config check refuses names that may never be forwarded; the same rule is applied again
here, on the request path, so no later change to how the list is built can leak the app's
credentials, cookies or routecar's own controls upstream.
"""

from __future__ import annotations

from typing import Mapping

from ..config.providers_section import never_forwarded


def forward_app_headers(wire: dict[str, str], names: tuple[str, ...], app: Mapping[str, str]) -> None:
    """Copy the app's headers named in `names` (lower case) into the wire request's headers.
    The provider's own headers (its key, its `headers`) win over an app header of the same name.
    Most requests carry none of the names: one lookup each, and nothing else, is all they pay."""
    for name in names:
        value = app.get(name)
        if value is None or never_forwarded(name) or any(k.lower() == name for k in wire):
            continue
        wire[name] = value
