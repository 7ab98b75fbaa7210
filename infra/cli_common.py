"""What every ``snlp`` command shares: configuration lookup, a small HTTP client, plain errors."""
from __future__ import annotations

import argparse
import json
import os
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

REPO = Path(__file__).resolve().parent.parent
LOCAL_STATE = REPO / ".local"
ENV_URL, ENV_TOKEN, ENV_CONFIG = "SNLP_API_URL", "SNLP_TOKEN", "SNLP_CONFIG"
DEFAULT_LOCAL_URL = "http://127.0.0.1:8000"
TIMEOUT_S = 60.0


class CliError(Exception):
    """A problem the user can fix; printed as ``error: <message>``, never a traceback."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def config_path(environ: Mapping[str, str] = os.environ) -> Path:
    if environ.get(ENV_CONFIG):
        return Path(environ[ENV_CONFIG])
    base = Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "snlp" / "config.toml"


def read_config_file(path: Path) -> dict[str, Any]:
    """``api_url`` and ``token`` from a TOML file (absent file: empty)."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"cannot read the config file {path}: {exc}") from exc
    return {k: str(v) for k, v in data.items() if k in ("api_url", "token") and v}


def read_local_stack(state_dir: Path = LOCAL_STATE) -> dict[str, Any]:
    """The running local stack's URL and demo token (.local/stack.json, .local/token)."""
    found: dict[str, Any] = {}
    try:
        found["api_url"] = json.loads((state_dir / "stack.json").read_text())["api_url"]
    except (OSError, ValueError, KeyError):
        pass
    try:
        token = (state_dir / "token").read_text().strip()
        if token:
            found["token"] = token
    except OSError:
        pass
    return found


@dataclass(frozen=True)
class ClientConfig:
    api_url: str
    token: str
    source: str  # where the token came from, for error messages


def resolve(args: argparse.Namespace, environ: Mapping[str, str] = os.environ,
            state_dir: Path = LOCAL_STATE) -> ClientConfig:
    """flags > environment > config file > the local stack (.local/) > defaults."""
    layers = [("--api-url/--token", {"api_url": getattr(args, "api_url", None), "token": getattr(args, "token", None)}),
              (f"{ENV_URL}/{ENV_TOKEN}", {"api_url": environ.get(ENV_URL), "token": environ.get(ENV_TOKEN)}),
              (str(config_path(environ)), read_config_file(config_path(environ))),
              (str(state_dir), read_local_stack(state_dir))]
    url = next((v["api_url"] for _, v in layers if v.get("api_url")), DEFAULT_LOCAL_URL)
    token, source = next(((v["token"], name) for name, v in layers if v.get("token")), ("", "none"))
    return ClientConfig(api_url=url.rstrip("/"), token=token, source=source)


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-url", help=f"API base URL (env {ENV_URL}; default: the local stack)")
    parser.add_argument("--token", help=f"access token (env {ENV_TOKEN}; or the config file)")


class Api:
    """JSON over HTTP with plain-language errors."""

    def __init__(self, cfg: ClientConfig, timeout: float = TIMEOUT_S) -> None:
        self.cfg, self.timeout = cfg, timeout

    def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Accept": "application/json"}
        if self.cfg.token:
            headers["Authorization"] = f"Bearer {self.cfg.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.cfg.api_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - user-given URL
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CliError(f"cannot reach the API at {self.cfg.api_url} ({reason}). Is it running "
                           "(`make up`)? Set the URL with --api-url or SNLP_API_URL.", 3) from None
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            raise CliError(f"the API at {self.cfg.api_url} answered something that is not JSON") from None

    def _http_error(self, exc: urllib.error.HTTPError) -> CliError:
        try:
            problem = json.loads(exc.read() or b"{}")
        except ValueError:
            problem = {}
        detail = problem.get("detail") or problem.get("error") or problem.get("title") or exc.reason
        if exc.code in (401, 403) and "model" not in str(detail).lower():
            hint = ("no token given: use --token, SNLP_TOKEN or the config file" if not self.cfg.token
                    else f"the token (from {self.cfg.source}) was not accepted")
            return CliError(f"{hint} (HTTP {exc.code}: {detail})", 4)
        if exc.code == 429:
            retry = exc.headers.get("Retry-After")
            return CliError(f"quota or rate limit reached (HTTP 429: {detail})"
                            + (f"; retry after {retry} s" if retry else ""), 5)
        if exc.code >= 500:
            return CliError(f"the service is unavailable (HTTP {exc.code}: {detail}); try again later", 3)
        return CliError(f"HTTP {exc.code}: {detail}")


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


__all__ = ["CliError", "ClientConfig", "Api", "resolve", "add_connection_args", "config_path",
           "read_config_file", "read_local_stack", "print_json"]
