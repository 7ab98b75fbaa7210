"""The demo token: created with the real token admin code, printed once, saved with mode 600."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from .errors import LocalStackError
from .moto import fake_client

DEMO_OWNER = "local-demo"
DEMO_QUOTA_PER_DAY = 100_000


def create_demo_token(env: Mapping[str, str], path: Path) -> str:
    """Create a token (every model) in the local tokens table; write it to ``path`` (0600); return it."""
    token = _create(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    os.chmod(path, 0o600)  # also when the file existed with wider permissions
    return token


def _create(env: Mapping[str, str]) -> str:
    """The same admin code as `snlp tokens create`, against the local tokens table."""
    from functions.auth.admin import create_token
    from functions.settings import ENV

    client = fake_client("dynamodb", env["AWS_ENDPOINT_URL"])
    try:
        # no per-minute limits on the demo token: `python -m bench.load` drives the local stack with
        # it (the daily quota still applies)
        token, _ = create_token(client, env[ENV["tokens_table"]], owner=DEMO_OWNER, models="*",
                                quota_per_day=DEMO_QUOTA_PER_DAY, requests_per_minute=0, texts_per_minute=0)
    except Exception as exc:  # noqa: BLE001 - any failure here is an environment problem
        raise LocalStackError(f"creating the demo token failed: {exc}") from exc
    return token


__all__ = ["create_demo_token", "DEMO_OWNER"]
