"""The real Lambda handler on moto answers the hot routes the same with and without Flask.

Two API instances over the same tables, one as deployed (HTTP API POSTs to /v1/classify,
/v1/embed, /v1/embeddings take the direct path) and one with the direct path taken out (every
request through Flask), each with its own token of the same quota and rate limits. The same
requests, one by one, must get the same answers (rate-limit headers, quota and rate 429s
included), leave the same usage rows (requests, texts, tokens, rate windows), write the same
access lines and the same EMF metrics.
"""
from __future__ import annotations

import copy
import io
import json
import logging

import pytest

from functions.auth.admin import create_token
from functions.auth.usage import USAGE_PK, utc_day
from tests.functional.api_events import TABLE, FakeLambdaContext, http_v2_event, lambda_env, moto_api

pytestmark = pytest.mark.timeout(120)
NOON = 1_795_000_000 - (1_795_000_000 % 86400) + 43200 + 5  # a UTC noon, 5 s into a minute
QUOTA, RPM = 40, 12


@pytest.fixture
def aws(tiny_registry):
    with moto_api(tiny_registry) as (s3, ddb):
        yield s3, ddb


def instance(aws, tmp_path, name: str, direct: bool):
    from functions.api.handler import build_runtime, make_handler

    s3, ddb = aws
    runtime = build_runtime(lambda_env(tmp_path / name, POWERTOOLS_METRICS_DISABLED="false"),
                            s3_client=s3, dynamodb_client=ddb)
    runtime.services.meter.wall = lambda: NOON  # one fixed minute for both
    flask_calls = []
    handler = make_handler(runtime, direct=direct)
    if direct:
        assert not runtime.app.built  # nothing has needed Flask yet
    flask = runtime.app.build()
    wsgi = flask.wsgi_app
    flask.wsgi_app = lambda environ, start: flask_calls.append(1) or wsgi(environ, start)
    return handler, runtime, flask_calls


def requests(token: str) -> list[dict]:
    auth = {"authorization": f"Bearer {token}", "content-type": "application/json",
            "x-request-id": "same-id"}
    out = []
    for i in range(8):
        out.append(http_v2_event("POST", "/v1/classify", body={"texts": ["good movie"] * (1 + i % 3)}, headers=auth))
        out.append(http_v2_event("POST", "/v1/embed", body={"texts": ["good"], "embedding_types": ["int8"]},
                                 headers=auth))
        out.append(http_v2_event("POST", "/v1/embeddings", body={"input": ["a", "b"], "encoding_format": "base64"},
                                 headers=auth))
    out.append(http_v2_event("POST", "/v1/classify", body="{broken", headers=auth))
    out.append(http_v2_event("POST", "/v1/classify", body={"texts": ["good"]}, headers={**auth, "authorization": "Bearer x"}))
    return out


def usage_row(ddb, token_id: str) -> dict:
    item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": USAGE_PK + token_id}, "sk": {"S": utc_day(NOON)}},
                        ConsistentRead=True).get("Item") or {}
    return {k: v for k, v in item.items() if k not in ("pk", "expires_at")}


def lines(text: str, token_id: str) -> list[dict]:
    """Log lines with what differs by design left out: timestamps, durations, the token id."""
    out = []
    for line in text.splitlines():
        record = json.loads(line)
        for key in ("timestamp", "ms", "location", "cold_start"):  # cold_start: Powertools', once per process
            record.pop(key, None)
        for key in ("InferenceMs", "ModelLoadMs"):  # timings: how many, not how long
            if key in record:
                record[key] = len(record[key]) if isinstance(record[key], list) else 1
        record.get("_aws", {}).pop("Timestamp", None)
        if record.get("token_id") == token_id:
            record["token_id"] = "<token>"
        out.append(record)
    return out


def test_the_deployed_handler_answers_as_flask_would(aws, tmp_path):
    _, ddb = aws
    (a_token, a), (b_token, b) = (create_token(ddb, TABLE, owner=o, models="*", quota_per_day=QUOTA,
                                               requests_per_minute=RPM) for o in ("a", "b"))
    direct, direct_rt, direct_flask = instance(aws, tmp_path, "direct", True)
    flask, flask_rt, flask_flask = instance(aws, tmp_path, "flask", False)
    logger = logging.getLogger("api")
    statuses = []
    for event_a, event_b in zip(requests(a_token), requests(b_token)):
        logs = {}
        for name, handler, event in (("direct", direct, event_a), ("flask", flask, event_b)):
            sink = io.StringIO()
            handlers = [h for h in logger.handlers if isinstance(h, logging.StreamHandler)]
            streams = [h.setStream(sink) for h in handlers]
            try:
                from contextlib import redirect_stdout
                with redirect_stdout(sink):
                    logs[name] = handler(copy.deepcopy(event), FakeLambdaContext())
            finally:
                for h, stream in zip(handlers, streams):
                    h.setStream(stream)
            logs[name + " lines"] = lines(sink.getvalue(), (a if name == "direct" else b).token_id)
        assert logs["direct"] == logs["flask"], event_a["rawPath"]
        assert logs["direct lines"] == logs["flask lines"], event_a["rawPath"]
        statuses.append(logs["direct"]["statusCode"])
    assert {200, 429, 400, 401} <= set(statuses)  # successes, a rate or quota 429, errors: all compared
    assert direct_flask == [] and len(flask_flask) == len(statuses)
    assert usage_row(ddb, a.token_id) == usage_row(ddb, b.token_id) != {}


def test_a_cold_start_serving_the_hot_routes_imports_no_flask(aws, tmp_path):
    """Flask, werkzeug, jinja2 and serverless-wsgi are loaded by the first request that needs them."""
    import sys

    from functions.api.handler import build_runtime, make_handler

    s3, ddb = aws
    token, _ = create_token(ddb, TABLE, owner="cold", models="*", quota_per_day=100)
    heavy = ("flask", "werkzeug", "jinja2", "serverless_wsgi", "functions.api.app")
    saved = {name: sys.modules.pop(name) for name in list(sys.modules)
             if name.split(".")[0] in heavy[:4] or name.startswith("functions.api.")}
    try:
        import functions.api.direct  # noqa: F401 - re-imported fresh, as a cold start does
        runtime = build_runtime(lambda_env(tmp_path / "cold"), s3_client=s3, dynamodb_client=ddb)
        handler = make_handler(runtime)
        event = http_v2_event("POST", "/v1/classify", body={"texts": ["good"]},
                              headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
        assert handler(event, FakeLambdaContext())["statusCode"] == 200
        assert [m for m in heavy if m in sys.modules] == [] and not runtime.app.built
        assert handler(http_v2_event("GET", "/health"), FakeLambdaContext())["statusCode"] == 200
        assert "flask" in sys.modules and runtime.app.built  # the first other request built it
    finally:
        for name in [n for n in sys.modules if n.split(".")[0] in heavy[:4] or n.startswith("functions.api.")]:
            sys.modules.pop(name)
        sys.modules.update(saved)


def test_the_job_services_wait_for_the_first_request_that_needs_them(aws, tmp_path, monkeypatch):
    """A stage with batch jobs and a train queue (as prod and lean deploy) builds neither job
    service at cold start: the hot routes need neither, and JobService imports boto3 (~280 ms of a
    deployed cold start, bench cold-start section). The first Flask request builds both, once."""
    from functions.api import handler as handler_module
    from functions.batch import jobs as batch_jobs

    s3, ddb = aws
    ddb.create_table(TableName="jobs", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    built: list[str] = []
    real_jobs, real_train = batch_jobs.JobService.from_settings, handler_module.train_jobs
    monkeypatch.setattr(batch_jobs.JobService, "from_settings",
                        classmethod(lambda cls, *a, **k: built.append("batch") or real_jobs(*a, **k)))
    monkeypatch.setattr(handler_module, "train_jobs", lambda *a, **k: built.append("train") or real_train(*a, **k))
    token, _ = create_token(ddb, TABLE, owner="jobs", models="*", quota_per_day=100)
    env = lambda_env(tmp_path / "jobs", SNLP_JOBS_TABLE="jobs", SNLP_DATA_BUCKET="data",
                     SNLP_TRAIN_QUEUE_URL="https://sqs.us-east-1.amazonaws.com/123456789012/train")
    runtime = handler_module.build_runtime(env, s3_client=s3, dynamodb_client=ddb)
    handler = handler_module.make_handler(runtime)
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    assert handler(http_v2_event("POST", "/v1/classify", body={"texts": ["good"]}, headers=headers),
                   FakeLambdaContext())["statusCode"] == 200
    assert built == [] and not runtime.app.built
    assert handler(http_v2_event("GET", "/v1/batch/no-such-job", headers=headers), FakeLambdaContext())["statusCode"] == 404
    assert built == ["batch", "train"] and runtime.app.built  # the batch routes are there: 404, not 405
    assert handler(http_v2_event("GET", "/v1/batch/no-such-job", headers=headers), FakeLambdaContext())["statusCode"] == 404
    assert built == ["batch", "train"]  # once per instance
