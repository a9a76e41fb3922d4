"""Checks a SigV4 signature for real: recomputes it with botocore's signer from the request as
received (method, raw URL, the headers the Authorization header says were signed, body)."""

from __future__ import annotations

import re
from typing import Mapping

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
                   r"/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<sig>[0-9a-f]{64})")


def check_sigv4(method: str, url: str, headers: Mapping[str, str], body: bytes, access_key: str, secret_key: str,
                region: str, service: str = "bedrock", token: str | None = None) -> list[str]:
    """Asserts the signature is right; returns the signed header names."""
    lowered = {k.lower(): v for k, v in headers.items()}
    match = _AUTH.fullmatch(lowered["authorization"])
    assert match, lowered["authorization"]
    assert (match["key"], match["region"], match["service"]) == (access_key, region, service)
    assert lowered["x-amz-date"].startswith(match["date"])
    signed = match["signed"].split(";")
    request = AWSRequest(method=method, url=url, data=body, headers={name: lowered[name] for name in signed})
    request.context["timestamp"] = lowered["x-amz-date"]
    signer = SigV4Auth(Credentials(access_key, secret_key, token), service, region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    assert match["sig"] == expected, "signature does not verify"
    return signed
