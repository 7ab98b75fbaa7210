"""Start, watch and stop the local stack: moto -> resources -> models -> token -> API -> worker."""
from __future__ import annotations

import importlib.util
import json
import os
import shlex
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import LocalStackError
from .moto import FAKE_AWS, fake_client
from .preflight import RUN_BYTES, check_disk, check_ports, models_built
from .procs import Child, http_ok, wait_until
from .publish import publish_models
from .resources import Created, create_resources
from .token import create_demo_token

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MODELS = ("sentiment", "minilm-embed")


@dataclass
class StackOptions:
    state_dir: Path = REPO / ".local"
    host: str = "127.0.0.1"
    api_port: int = 8000
    moto_port: int = 5000
    workers: int = 1
    stage: str = "local"
    dist: Path = REPO / "model_artifacts" / "dist"
    models: tuple[str, ...] = DEFAULT_MODELS
    start_worker: bool = True
    moto_argv: tuple[str, ...] | None = None  # test seam: the command that starts moto
    ready_timeout_s: float = 90.0
    echo: Callable[[str], None] = print


@dataclass
class LocalStack:
    opts: StackOptions
    children: list[Child] = field(default_factory=list)
    created: Created | None = None
    token: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)

    # ---- urls -----------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"http://{self.opts.host}:{self.opts.api_port}"

    @property
    def moto_url(self) -> str:
        return f"http://{self.opts.host}:{self.opts.moto_port}"

    @property
    def logs(self) -> Path:
        return self.opts.state_dir / "logs"

    # ---- start ----------------------------------------------------------------------------
    def up(self) -> "LocalStack":
        """Start everything; on any failure stop what was started and raise LocalStackError."""
        o, say = self.opts, self.opts.echo
        o.state_dir.mkdir(parents=True, exist_ok=True)
        check_disk(o.state_dir, RUN_BYTES, "the local stack (model caches under "
                   f"{o.state_dir})")
        check_ports({"API and web page": o.api_port, "moto server (S3, DynamoDB, SQS)": o.moto_port}, o.host)
        if not models_built(o.dist, o.models):
            raise LocalStackError(f"the default models are not built in {o.dist}: run `make up` "
                                  "(or `make models`) first")
        try:
            t0 = time.monotonic()
            self._start_moto()
            say(f"moto server (S3, DynamoDB, SQS) on {self.moto_url}")
            names, cfg = _names_and_config(o.stage)
            self.created = create_resources(self.client, names,
                                            max_receive_count=cfg.batch_max_receive_count,
                                            visibility_timeout_s=cfg.batch_visibility_timeout_s,
                                            cors_origins=self._origins())
            say(f"resources for stage {o.stage}: buckets {names['artifacts_bucket']}, {names['data_bucket']}; "
                f"queue {names['batch_queue']} (+DLQ); tables {names['tokens_table']}, {names['jobs_table']}")
            published = publish_models(o.dist, o.models, names["artifacts_bucket"], self.client)
            say(f"models published: {published}")
            say(self._edge_runtime(names["artifacts_bucket"]))
            env = self._function_env(cfg, names, "api")
            self.token = create_demo_token(env, o.state_dir / "token")
            self._start_api(env)
            if o.start_worker:
                self._start_worker(self._function_env(cfg, names, "batch"))
            if self.created.train_queue_url:  # the train function's stand-in (--no-worker is the batch worker's)
                self._start_train_worker(self._function_env(cfg, names, "train"))
            self._write_state()
            say(f"ready in {time.monotonic() - t0:.1f} s")
        except BaseException:
            self.down()
            raise
        return self

    def _origins(self) -> list[str]:
        port = self.opts.api_port
        return [f"http://{self.opts.host}:{port}", f"http://localhost:{port}", f"http://127.0.0.1:{port}"]

    def _aws_env(self) -> dict[str, str]:
        # the user's own AWS profile or per-service endpoints must not leak into the local stack
        env = {k: v for k, v in os.environ.items() if k != "AWS_PROFILE" and not k.startswith("AWS_ENDPOINT_URL")}
        env.update(FAKE_AWS)
        env["AWS_ENDPOINT_URL"] = self.moto_url
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def client(self, service: str):
        """A boto3 client for the moto server (fake credentials, us-east-1)."""
        return fake_client(service, self.moto_url)

    def _function_env(self, cfg, names: dict[str, str], function: str = "api") -> dict[str, str]:
        """The environment serverless.yml gives ``function`` (api|batch), pointed at moto."""
        from functions.settings import ENV

        from infra.config import function_environment

        env = self._aws_env()
        env.update(function_environment(cfg, function, {**names, "train_queue_url": self.created.train_queue_url},
                                        self.created.queue_url))
        env[ENV["model_cache_dir"]] = str(self.opts.state_dir / "cache" / function)
        env["POWERTOOLS_DEV"] = "false"
        return env

    def _start_moto(self) -> None:
        o = self.opts
        override = os.environ.get("SNLP_LOCAL_MOTO_CMD")
        argv = list(o.moto_argv or (shlex.split(override) if override else
                                    (sys.executable, "-m", "moto.server")))
        argv += ["-H", o.host, "-p", str(o.moto_port)]
        moto = Child("moto server", argv, self.logs / "moto.log")
        try:
            moto.start(self._aws_env(), REPO)
        except LocalStackError as exc:
            raise LocalStackError(f"{exc}. Is the dev environment installed (`make venv`)?") from exc
        self.children.append(moto)
        try:
            wait_until(moto, lambda: http_ok(f"{self.moto_url}/moto-api/"), 30, "moto server")
        except LocalStackError as exc:
            raise LocalStackError(f"the moto server (local S3, DynamoDB, SQS) failed to start: {exc}") from exc

    def _start_api(self, env: dict[str, str]) -> None:
        o = self.opts
        api = Child("API", [sys.executable, "-m", "infra.local.serve_api", "--host", o.host,
                            "--port", str(o.api_port)], self.logs / "api.log")
        api.start(env, REPO)
        self.children.append(api)
        wait_until(api, lambda: http_ok(f"{self.api_url}/health"), o.ready_timeout_s, "API server")

    def _start_worker(self, env: dict[str, str]) -> None:
        if importlib.util.find_spec("infra.local_worker") is None:
            self.opts.echo("warning: infra/local_worker.py is missing: batch files will wait in the queue")
            return
        worker = Child("batch worker", [sys.executable, "-m", "infra.local_worker", "--queue-url",
                                        self.created.queue_url, "--workers", str(self.opts.workers),
                                        "--dlq-url", self.created.dlq_url],
                       self.logs / "worker.log")
        worker.start(env, REPO)
        self.children.append(worker)
        time.sleep(0.5)
        if not worker.running:
            raise LocalStackError(f"the batch worker stopped at once. Last lines of {worker.log_path}:\n"
                                  f"{worker.log_tail()}")

    def _edge_runtime(self, bucket: str) -> str:
        """Edge mode: the page's ES modules next to it, the WebAssembly runtime in the bucket."""
        from infra.web_assets import AssetsMissingError, publish_runtime, vendor_page

        try:
            vendor_page()
            return f"edge runtime: {publish_runtime(self.client('s3'), bucket)}"
        except AssetsMissingError as exc:
            return f"warning: edge mode off ({exc})"

    def _start_train_worker(self, env: dict[str, str]) -> None:
        """The train function's stand-in: the same local worker, fed by the train queue."""
        from infra.local_worker import TRAIN_HANDLER

        worker = Child("train worker", [sys.executable, "-m", "infra.local_worker", "--queue-url",
                                        self.created.train_queue_url, "--handler", TRAIN_HANDLER],
                       self.logs / "train-worker.log")
        worker.start(env, REPO)
        self.children.append(worker)

    def _write_state(self) -> None:
        state = {"api_url": self.api_url, "moto_url": self.moto_url, "stage": self.opts.stage,
                 "queue_url": self.created.queue_url if self.created else "",
                 "names": dict(self.created.names) if self.created else {},
                 "pids": {c.name: c.proc.pid for c in self.children if c.proc}}
        (self.opts.state_dir / "stack.json").write_text(json.dumps(state, indent=2) + "\n")
        # `source .local/env` points admin commands (snlp tokens ..., aws cli) at this stack
        names = self.created.names if self.created else {}
        lines = [f"export {k}={shlex.quote(v)}" for k, v in {
            **FAKE_AWS, "AWS_ENDPOINT_URL": self.moto_url, "SNLP_API_URL": self.api_url,
            "SNLP_TOKENS_TABLE": names.get("tokens_table", ""), "SNLP_JOBS_TABLE": names.get("jobs_table", ""),
            "SNLP_ARTIFACTS_BUCKET": names.get("artifacts_bucket", ""),
            "SNLP_DATA_BUCKET": names.get("data_bucket", "")}.items()]
        env_file = self.opts.state_dir / "env"
        env_file.write_text("\n".join(lines) + "\n")
        env_file.chmod(0o600)

    # ---- run / stop -----------------------------------------------------------------------
    def banner(self) -> str:
        token_file = self.opts.state_dir / "token"
        return "\n".join([
            "",
            "Serverless NLP is running locally:",
            f"  web page       {self.api_url}/",
            f"  API docs       {self.api_url}/docs",
            f"  OpenAPI        {self.api_url}/openapi.json",
            f"  moto (AWS)     {self.moto_url}",
            f"  logs           {self.logs}/",
            "",
            f"Demo token (shown once; also saved to {token_file}):",
            f"  {self.token}",
            "",
            "Try:    .venv/bin/snlp classify 'I love this'",
            f"Admin:  source {self.opts.state_dir}/env && .venv/bin/snlp tokens list",
            "Stop:   Ctrl-C",
        ])

    def serve_forever(self) -> int:
        """Block until Ctrl-C/SIGTERM (exit 0) or until a child dies (exit 1); then stop everything."""
        def on_signal(signum, frame):  # noqa: ARG001
            self._stop.set()
        old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not self._stop.wait(0.5):
                dead = next((c for c in self.children if not c.running), None)
                if dead is not None:
                    self.opts.echo(f"error: the {dead.name} stopped unexpectedly (exit code "
                                   f"{dead.proc.returncode}). Last lines of {dead.log_path}:\n{dead.log_tail()}")
                    return 1
            self.opts.echo("\nstopping…")
            return 0
        finally:
            self.down()
            for s, handler in old.items():
                signal.signal(s, handler)

    def down(self) -> None:
        """Stop children in reverse start order (worker, API, moto)."""
        while self.children:
            self.children.pop().stop()
        state = self.opts.state_dir / "stack.json"
        if state.exists():
            state.unlink()


def _names_and_config(stage: str):
    """(resource names, stage config) from infra.config (config/stages.yml)."""
    from infra.config import load_config, resource_names

    try:
        cfg = load_config().stage(stage)
    except Exception as exc:  # noqa: BLE001 - ConfigError, bad YAML: say it plainly
        raise LocalStackError(f"config/stages.yml: {exc}") from exc
    return resource_names(stage), cfg


__all__ = ["LocalStack", "StackOptions"]
