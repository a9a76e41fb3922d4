"""Process environments for the cloud provider tests: the machine's own cloud settings and
egress proxies removed, so only what a test sets decides where credentials come from."""

from __future__ import annotations

import os
from pathlib import Path

_CLOUD_PREFIXES = ("AWS_", "GOOGLE_", "GCE_", "CLOUDSDK_")


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(_CLOUD_PREFIXES) and "proxy" not in k.lower()}
    env.update({
        # No shared files, no instance metadata: the chain stops at what the test gives.
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_GCE_CHECK": "true",
    })
    env.update(extra)
    return env
