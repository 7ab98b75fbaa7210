"""A moto server in a child process on a free loopback port, its fake credentials and endpoint env.

The one launcher for packaging (osls offline), the cost sweep, bench and the tests. Stopping it
is how fault tests take "S3" or "DynamoDB" away: the endpoint refuses connections exactly as an
unreachable AWS endpoint would. Restarting on the same port brings it back (empty: moto keeps
its state in memory, so callers re-create what they need).
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any, Iterator

FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free right now (for tests and --random-ports)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def fake_client(service: str, endpoint_url: str) -> Any:
    """A plain boto3 client for the moto server at ``endpoint_url`` (fake credentials, us-east-1)."""
    import boto3

    return boto3.client(service, endpoint_url=endpoint_url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing", aws_session_token="testing")


def aws_env(endpoint: str) -> dict[str, str]:
    """Fake credentials, us-east-1 and every AWS client pointed at ``endpoint``."""
    return {**FAKE_AWS, "AWS_ENDPOINT_URL": endpoint}


class MotoServer:
    """``python -m moto.server`` on 127.0.0.1:<port>; ``stop()`` / ``start()`` at will."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "MotoServer":
        env = {**os.environ, **FAKE_AWS}
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):  # noqa: S310 - loopback
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto server did not start in time")

    def stop(self) -> None:
        """Kill it (SIGKILL: an endpoint that vanishes, not one that says goodbye)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        self.proc = None
        # wait until the port is really closed, so the next request is refused, not queued
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.05)

    def client(self, service: str, **config: Any) -> Any:
        """A boto3 client on this server with short timeouts (the API's own client settings)."""
        from functions.store.clients import default_client

        import boto3

        session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="testing",
                                        aws_secret_access_key="testing", aws_session_token="testing")
        return default_client(service, session=session, endpoint_url=self.url, **config)

    def __enter__(self) -> "MotoServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def moto_server(timeout_s: float = 30.0) -> Iterator[str]:
    """Start a moto server, yield its URL, stop it (only the process started here)."""
    server = MotoServer().start(timeout_s)
    try:
        yield server.url
    finally:
        server.stop()


__all__ = ["MotoServer", "moto_server", "free_port", "fake_client", "aws_env", "FAKE_AWS"]
