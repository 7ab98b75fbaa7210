"""AWS clients with timeouts that suit a request path: fail in seconds, not minutes.

The defaults of botocore (60 s connect and read timeouts, legacy retries) would hold an API
request for minutes when S3 or DynamoDB is unreachable. Handlers build their clients here
once, at cold start, and pass them to the stores. The endpoint and region come from the
standard AWS variables (AWS_REGION, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, ...), which is
how the local stack points the same code at a moto server.
"""
from __future__ import annotations

from typing import Any

CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 10.0
RETRIES = 2  # retries after the first attempt
STREAM_READ_TIMEOUT_S = 60.0  # the queue workers' S3 reads stream whole byte ranges (batch files, training rows)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError (``NoSuchKey``, ``ConditionalCheckFailedException``,
    ``404`` ...); "" for anything else."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "") or "")


def http_status(exc: BaseException) -> int:
    """The HTTP status AWS answered with (0 when the failure never reached AWS)."""
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def client_config(*, connect_timeout: float = CONNECT_TIMEOUT_S, read_timeout: float = READ_TIMEOUT_S,
                  retries: int = RETRIES, **extra: Any) -> Any:
    """A botocore Config: short timeouts, standard retry mode, ``retries`` retries."""
    from botocore.config import Config

    return Config(connect_timeout=connect_timeout, read_timeout=read_timeout,
                  retries={"total_max_attempts": retries + 1, "mode": "standard"}, **extra)


def default_client(service: str, *, session: Any = None, endpoint_url: str | None = None, **config: Any) -> Any:
    """A client for ``service`` with :func:`client_config`, from ``session``: a boto3 session or a
    botocore one (``create_client``; the default: the api's cold start imports no boto3)."""
    if session is None:
        import botocore.session

        session = botocore.session.get_session()
    kwargs: dict[str, Any] = {"config": client_config(**config)}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    create = session.create_client if hasattr(session, "create_client") else session.client
    return create(service, **kwargs)


def default_s3_client(*, session: Any = None, endpoint_url: str | None = None, **config: Any) -> Any:
    """The S3 client of the artifact store and the request path (connect 2 s, read 10 s, 2 retries)."""
    return default_client("s3", session=session, endpoint_url=endpoint_url, **config)


def worker_s3_client(*, session: Any = None, endpoint_url: str | None = None, **config: Any) -> Any:
    """The S3 client of the queue workers (batch, train): as :func:`default_s3_client`, with a read
    timeout for streamed byte ranges (STREAM_READ_TIMEOUT_S) rather than the request path's."""
    return default_s3_client(session=session, endpoint_url=endpoint_url,
                             **{"read_timeout": STREAM_READ_TIMEOUT_S, **config})


__all__ = ["default_s3_client", "default_dynamodb_client", "default_client", "client_config", "error_code",
           "http_status", "worker_s3_client",
           "CONNECT_TIMEOUT_S", "READ_TIMEOUT_S", "RETRIES", "STREAM_READ_TIMEOUT_S"]


def default_dynamodb_client(*, session: Any = None, endpoint_url: str | None = None, **config: Any) -> Any:
    """The DynamoDB client for tokens, usage and jobs: a token check must fail fast (connect 1 s,
    read 2 s, 1 retry) so that an unreachable table answers 503 quickly instead of hanging."""
    config = {"connect_timeout": 1.0, "read_timeout": 2.0, "retries": 1, **config}
    return default_client("dynamodb", session=session, endpoint_url=endpoint_url, **config)
