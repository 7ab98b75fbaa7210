"""API Gateway events as AWS sends them, for driving the API handler without a gateway.

Events start from the samples in tests/events/ (captured as AWS sends them) and only get the
method, path, headers and body replaced. The functional tests, bench and the cold-start child
all build their events here.
"""
from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "tests" / "events"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def http_v2_event(method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None,
                  query: str = "") -> dict[str, Any]:
    event = copy.deepcopy(load_event("apigw_http_v2.json"))
    event["rawPath"] = path
    event["rawQueryString"] = query
    event["queryStringParameters"] = None
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["headers"] = {k.lower(): v for k, v in (headers or {}).items()}  # HTTP APIs lowercase header names
    _set_body(event, body)
    return event


def rest_v1_event(method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    event = copy.deepcopy(load_event("apigw_rest_v1.json"))
    event["path"] = event["resource"] = path
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["requestContext"]["path"] = event["requestContext"]["resourcePath"] = path
    event["headers"] = dict(headers or {})
    event["multiValueHeaders"] = {k: [v] for k, v in (headers or {}).items()}
    event["queryStringParameters"] = event["multiValueQueryStringParameters"] = None
    _set_body(event, body)
    return event


def _set_body(event: dict[str, Any], body: Any) -> None:
    if body is None:
        event["body"] = None
        event["isBase64Encoded"] = False
        return
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    if isinstance(raw, bytes):
        event["body"] = base64.b64encode(raw).decode()
        event["isBase64Encoded"] = True
    else:
        event["body"] = raw
        event["isBase64Encoded"] = False
    key = "content-type" if event.get("version") == "2.0" else "Content-Type"
    event["headers"].setdefault(key, "application/json")
    if "multiValueHeaders" in event:
        event["multiValueHeaders"].setdefault(key, [event["headers"][key]])


def response_json(response: dict[str, Any]) -> Any:
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body)


def response_headers(response: dict[str, Any]) -> dict[str, str]:
    if "multiValueHeaders" in response:
        return {k.lower(): v[0] for k, v in response["multiValueHeaders"].items()}
    return {k.lower(): v for k, v in response.get("headers", {}).items()}


__all__ = ["EVENTS", "load_event", "http_v2_event", "rest_v1_event", "response_json", "response_headers"]
