"""Lambda events as AWS sends them: API Gateway requests, S3 notifications and SQS batches.

Events start from the samples in tests/events/ (captured as AWS sends them) and only get the
method, path, headers and body (or the object, or the message bodies) replaced. The functional
tests, bench and the cold-start child all build their events here.
"""
from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

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


def s3_notification(bucket: str, key: str, etag: str, *, size: int = 0, version_id: str | None = None,
                    sequencer: str = "0055AED6DCD90281E5") -> str:
    """An S3 notification body from the real sample, with this object's bucket/key/eTag."""
    sample = load_event("s3_object_created.json")
    record = sample["Records"][0]
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    obj = record["s3"]["object"]
    obj.update(key=quote_plus(key, safe="/"), size=size, eTag=etag.strip('"'), sequencer=sequencer)
    if version_id:
        obj["versionId"] = version_id
    else:
        obj.pop("versionId", None)
    return json.dumps(sample)


def sqs_event(*bodies: str, receive_count: int = 1) -> dict[str, Any]:
    """An SQS event for Lambda from the real sample, one record per body (unique message ids)."""
    sample = load_event("sqs_s3_event.json")
    template = sample["Records"][0]
    records = []
    for i, body in enumerate(bodies):
        record = json.loads(json.dumps(template))
        record["messageId"] = f"{template['messageId'][:-4]}{i:04d}"
        record["body"] = body
        record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        records.append(record)
    return {"Records": records}


__all__ = ["EVENTS", "load_event", "http_v2_event", "rest_v1_event", "response_json", "response_headers",
           "s3_notification", "sqs_event"]
