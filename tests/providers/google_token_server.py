"""A local OAuth2 token endpoint (the JWT-bearer grant google-auth's service-account
credentials use) and a service-account key file made in the test that points at it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import AsyncIterator

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def service_account_file(tmp_path: Path, token_uri: str) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "proj-test", "private_key_id": "kid1", "private_key": pem,
        "client_email": "routecar@proj-test.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": token_uri,
    }))
    return path


class TokenServer:
    """A local OAuth2 token endpoint for the JWT-bearer grant; counts grants."""

    def __init__(self) -> None:
        self.url = ""
        self.grants: list[dict[str, str]] = []
        self.expires_in = 3600

    def app(self) -> web.Application:
        async def token(request: web.Request) -> web.Response:
            form = dict(await request.post())
            self.grants.append({k: str(v) for k, v in form.items()})
            return web.json_response({"access_token": f"tok-{len(self.grants)}", "expires_in": self.expires_in,
                                      "token_type": "Bearer"})

        app = web.Application()
        app.router.add_post("/token", token)
        return app


@pytest.fixture
async def token_server() -> AsyncIterator[TokenServer]:
    server = TokenServer()
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}/token"
    yield server
    await runner.cleanup()
