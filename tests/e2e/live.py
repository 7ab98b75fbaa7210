"""A live API for the reliability e2e tests (fuzz, load): the REAL app, never a fake.

``live_api(tmp)`` starts a moto server (S3, DynamoDB, SQS) in a child process, creates the
stage's resources with the local stack's own code (``infra.local.resources``), publishes models,
writes one token record with the real codec (only its sha256 is stored), then serves the Lambda
handler's Flask app with waitress (``python -m infra.local.serve_api``) on a free loopback port.

Models: the real default models when ``model_artifacts/dist`` has them and ``real=True``, else
tiny random models published under the default names ("sentiment", "minilm-embed"), so that
every route, default and example works without `make models`.

``SNLP_E2E_URL`` + ``SNLP_E2E_TOKEN`` (and optionally ``SNLP_E2E_API_PID``) point the tests at
a stack that is already running instead (e.g. ``make up``).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from infra.local.moto import FAKE_AWS, MotoServer, free_port
from tests.support.tiny_defaults import write_default_registry

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "model_artifacts" / "dist"
DEFAULT_MODELS = ("sentiment", "minilm-embed")
NAMES = {"artifacts_bucket": "snlp-e2e-artifacts", "data_bucket": "snlp-e2e-data",
         "tokens_table": "snlp-e2e-tokens", "jobs_table": "snlp-e2e-jobs",
         "batch_queue": "snlp-e2e-batch", "batch_dlq": "snlp-e2e-batch-dlq"}
TOKEN = "snlp_" + "e2e-reliability-token-0123456789abcdefghijk"


@dataclass
class LiveApi:
    url: str
    token: str
    pid: int | None = None
    log_path: Path | None = None
    moto: MotoServer | None = None
    proc: subprocess.Popen | None = None
    models: tuple[str, str] = ("sentiment", "minilm-embed")
    real_models: bool = False
    extra: dict = field(default_factory=dict)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self.moto is not None:
            self.moto.stop()


def real_models_built() -> bool:
    return all((DIST / name / "aliases.json").is_file() for name in DEFAULT_MODELS)


def _put_token(ddb, table: str, token: str) -> None:
    from functions.auth.tokens import TokenRecord, hash_token, to_item

    record = TokenRecord(token_id="tok_e2ereliability", owner="e2e", models="*", quota_per_day=10_000_000,
                         created_at="2026-01-01T00:00:00Z",
                         requests_per_minute=0, texts_per_minute=0)  # load runs measure the API, not the limits
    ddb.put_item(TableName=table, Item=to_item(hash_token(token), record))


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"API exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"API not healthy in {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


def start_live_api(tmp: Path, *, real: bool = False, threads: int = 4, env: dict | None = None) -> LiveApi:
    """Start moto + the real API on free loopback ports; the caller must ``stop()`` it."""
    if os.environ.get("SNLP_E2E_URL"):
        pid = os.environ.get("SNLP_E2E_API_PID")
        return LiveApi(url=os.environ["SNLP_E2E_URL"].rstrip("/"), token=os.environ["SNLP_E2E_TOKEN"],
                       pid=int(pid) if pid else None, real_models=True)
    from infra.local.resources import create_resources

    moto = MotoServer().start()
    live = LiveApi(url="", token=TOKEN, moto=moto)
    try:
        created = create_resources(moto.client, NAMES, visibility_timeout_s=30)
        registry = tmp / "registry"
        live.real_models = real and real_models_built()
        if live.real_models:
            registry = DIST
        else:
            write_default_registry(registry)
        from tests.support.s3 import upload_registry

        upload_registry(moto.client("s3"), NAMES["artifacts_bucket"], registry)
        _put_token(moto.client("dynamodb"), NAMES["tokens_table"], TOKEN)
        from functions.settings import ENV

        port = free_port()
        child_env = {**os.environ, **FAKE_AWS, "AWS_ENDPOINT_URL": moto.url, "PYTHONUNBUFFERED": "1",
                     ENV["stage"]: "e2e", ENV["artifacts_bucket"]: NAMES["artifacts_bucket"],
                     ENV["data_bucket"]: NAMES["data_bucket"], ENV["tokens_table"]: NAMES["tokens_table"],
                     ENV["jobs_table"]: NAMES["jobs_table"], ENV["batch_queue_url"]: created.queue_url,
                     ENV["model_cache_dir"]: str(tmp / "cache"), ENV["preload_models"]: ",".join(DEFAULT_MODELS),
                     "POWERTOOLS_SERVICE_NAME": "api", "POWERTOOLS_METRICS_NAMESPACE": "ServerlessNLP",
                     "POWERTOOLS_TRACE_DISABLED": "true", **(env or {})}
        child_env.pop("AWS_PROFILE", None)
        live.log_path = tmp / "api.log"
        with open(live.log_path, "wb") as log:
            live.proc = subprocess.Popen([sys.executable, "-m", "infra.local.serve_api", "--host", "127.0.0.1",
                                          "--port", str(port), "--threads", str(threads)],
                                         env=child_env, cwd=str(REPO), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        live.url, live.pid = f"http://127.0.0.1:{port}", live.proc.pid
        _wait_healthy(live.url, live.proc, live.log_path)
        return live
    except BaseException:
        live.stop()
        raise


def from_local_stack(stack) -> LiveApi:
    """The session's running local stack (tests/e2e/conftest.py ``stack``: real models, `make up` code)."""
    api = next((c for c in stack.children if c.name == "API"), None)
    pid = api.proc.pid if api is not None and api.proc is not None else None
    return LiveApi(url=stack.api_url, token=stack.token, pid=pid, real_models=True, log_path=stack.logs / "api.log")


def live_api(request, tmp_path_factory, *, prefer_stack: bool = True) -> Iterator[LiveApi]:
    """The local stack when the real models are built, else the real app on tiny models.

    The stack is session-scoped and owned by conftest.py: it is not stopped here.
    """
    if prefer_stack and not os.environ.get("SNLP_E2E_URL"):
        try:
            yield from_local_stack(request.getfixturevalue("stack"))
            return
        except pytest.skip.Exception:
            pass  # no real models: fall back to tiny ones below
    live = start_live_api(tmp_path_factory.mktemp("live"))
    try:
        yield live
    finally:
        live.stop()


__all__ = ["LiveApi", "start_live_api", "live_api", "from_local_stack", "real_models_built", "TOKEN", "NAMES"]
