"""Quotas and rate limits across API instances sharing one usage table (the real Lambda handler
on moto): four instances never serve more than quota + one request's texts each, every text
served is in the table before its answer leaves, a fresh instance starts from the table's total,
an exhausted token loads no model, and the x-ratelimit-* headers / 429s agree across instances."""
from __future__ import annotations

import threading

import pytest

from functions.auth.admin import create_token
from functions.auth.usage import read_usage, utc_day
from tests.functional.api_events import (TABLE, FakeLambdaContext, http_v2_event, lambda_env, moto_api,
                                         response_headers, response_json)

pytestmark = pytest.mark.timeout(120)
NOON = 1_795_000_000 - (1_795_000_000 % 86400) + 43200 + 5  # a UTC noon, 5 s into a minute
INSTANCES, QUOTA, MAX_TEXTS = 4, 60, 5


@pytest.fixture
def aws(tiny_registry):
    """moto's in-process DynamoDB is not atomic per call when threads share it (a conditional
    update can read a row another thread is writing: lost updates, or an error the service
    answers 503 for); real DynamoDB is. Each call is made atomic, as on AWS; calls of different
    instances still interleave freely between each other."""
    with moto_api(tiny_registry) as (s3, ddb):
        lock, real = threading.Lock(), ddb._make_api_call

        def atomic(operation, params):
            with lock:
                return real(operation, params)

        ddb._make_api_call = atomic
        yield s3, ddb


def instance(aws, tmp_path, name, *, wall=lambda: NOON, **env):
    """One API instance as Lambda runs it: its own runtime (cold start) and handler."""
    from functions.api.handler import build_runtime, make_handler

    s3, ddb = aws
    runtime = build_runtime(lambda_env(tmp_path / name, **env), s3_client=s3, dynamodb_client=ddb)
    runtime.app.extensions["snlp"].meter.wall = wall  # one fixed minute: windows do not roll mid-test
    return runtime, make_handler(runtime)


def call(handler, token, texts, path="/v1/classify"):
    event = http_v2_event("POST", path, body={"texts": texts}, headers={"Authorization": f"Bearer {token}"})
    out = handler(event, FakeLambdaContext())
    return out["statusCode"], response_headers(out), response_json(out)


def test_four_instances_never_exceed_quota_plus_one_request_each_and_every_served_text_is_billed(aws, tmp_path):
    _, ddb = aws
    token, record = create_token(ddb, TABLE, owner="racer", models="*", quota_per_day=QUOTA,
                                 requests_per_minute=0, texts_per_minute=0)
    handlers = [instance(aws, tmp_path, f"i{i}")[1] for i in range(INSTANCES)]
    served = {"requests": 0, "texts": 0}
    codes: list[int] = []
    lock = threading.Lock()

    def run(index: int, handler) -> None:  # one thread per instance: Lambda serves one request at a time
        for n in range(40):
            size = 1 + (n + index) % MAX_TEXTS
            code, headers, body = call(handler, token, ["good"] * size)
            with lock:
                codes.append(code)
                if code == 200:
                    served["requests"] += 1
                    served["texts"] += size
                else:
                    assert body["type"].endswith("/quota-exceeded") and int(headers["retry-after"]) > 0

    threads = [threading.Thread(target=run, args=(i, h)) for i, h in enumerate(handlers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(100)
    assert set(codes) == {200, 429}, sorted(set(codes))
    assert QUOTA - MAX_TEXTS < served["texts"] <= QUOTA + INSTANCES * MAX_TEXTS, served
    # no flush was called: what was served is already in the table (an instance may be discarded now)
    billed = read_usage(ddb, TABLE, record.token_id, utc_day(NOON))
    assert billed["texts"] == served["texts"] and billed["requests"] == served["requests"], (billed, served)


def test_a_fresh_instance_reads_the_table_and_an_exhausted_token_loads_no_model(aws, tmp_path):
    _, ddb = aws
    token, record = create_token(ddb, TABLE, owner="fresh", models="*", quota_per_day=10)
    _, first = instance(aws, tmp_path, "first")
    assert call(first, token, ["good"] * 9)[0] == 200
    runtime, second = instance(aws, tmp_path, "second", SNLP_PRELOAD_MODELS="")
    loads = []
    store = runtime.app.extensions["snlp"].store
    real_get = store.get
    store.get = lambda ref: loads.append(ref) or real_get(ref)
    code, headers, body = call(second, token, ["good", "bad"])  # 9 + 2 > 10: refused from the row it read
    assert code == 429 and body["type"].endswith("/quota-exceeded"), body
    assert loads == [] and store.loaded() == []  # refused before any download or session
    assert call(second, token, ["good"])[0] == 200 and len(loads) == 1
    assert read_usage(ddb, TABLE, record.token_id, utc_day(NOON))["texts"] == 10


def test_rate_limit_headers_on_every_answer_and_429_with_retry_after(aws, tmp_path):
    _, ddb = aws
    token, _ = create_token(ddb, TABLE, owner="rl", models="*", quota_per_day=1000,
                            requests_per_minute=3, texts_per_minute=100)
    _, handler = instance(aws, tmp_path, "rl")
    remaining = []
    for _ in range(3):
        code, headers, _ = call(handler, token, ["good", "bad"])
        assert code == 200
        assert headers["x-ratelimit-limit-requests"] == "3" and headers["x-ratelimit-limit-texts"] == "100"
        # NOON is 5 s into its minute: this minute's requests weigh on the sliding minute until the
        # end of the next one (55 s + 60 s)
        assert headers["x-ratelimit-reset-requests"] == "115s"
        remaining.append((headers["x-ratelimit-remaining-requests"], headers["x-ratelimit-remaining-texts"]))
    assert remaining == [("2", "98"), ("1", "96"), ("0", "94")]
    code, headers, body = call(handler, token, ["good"])
    assert code == 429 and body["type"].endswith("/rate-limited")
    # a request fits once 3 x (share of the previous minute left) + 1 <= 3: 20 s into the next minute
    assert headers["retry-after"] == "75" and headers["x-ratelimit-remaining-requests"] == "0"
    out = handler(http_v2_event("GET", "/v1/models", headers={"Authorization": f"Bearer {token}"}),
                  FakeLambdaContext())
    assert out["statusCode"] == 200 and "x-ratelimit-remaining-requests" in response_headers(out)
    # sliding, not refilled at the minute boundary: still full 5 s into the next minute ...
    _, early = instance(aws, tmp_path, "early", wall=lambda: NOON + 60)
    assert call(early, token, ["good"])[0] == 429
    # ... and room for one again once a third of the previous minute has slid out
    _, later = instance(aws, tmp_path, "later", wall=lambda: NOON + 75)
    code, headers, _ = call(later, token, ["good"])
    assert code == 200 and headers["x-ratelimit-remaining-requests"] == "0"


def test_texts_per_minute_and_instances_agree_within_one_request_each(aws, tmp_path):
    _, ddb = aws
    token, record = create_token(ddb, TABLE, owner="tpm", models="*", quota_per_day=10_000,
                                 requests_per_minute=0, texts_per_minute=20)
    handlers = [instance(aws, tmp_path, f"t{i}")[1] for i in range(INSTANCES)]
    served = 0
    for _ in range(10):  # round robin: each instance's view is stale by what the others served
        for handler in handlers:
            code, headers, body = call(handler, token, ["good"] * 3)
            if code == 200:
                served += 3
            else:
                assert body["type"].endswith("/rate-limited"), body
    assert 20 - 3 < served <= 20 + INSTANCES * 3, served
    assert read_usage(ddb, TABLE, record.token_id, utc_day(NOON))["texts"] == served


def test_usage_route_shows_the_token_its_own_day_and_month(aws, tmp_path):
    _, ddb = aws
    token, record = create_token(ddb, TABLE, owner="me", models="*", quota_per_day=100)
    other, _ = create_token(ddb, TABLE, owner="someone else", models="*", quota_per_day=100)
    _, handler = instance(aws, tmp_path, "usage", wall=__import__("time").time)
    assert call(handler, token, ["good", "bad", "ok"])[0] == 200
    assert call(handler, other, ["good"])[0] == 200
    out = handler(http_v2_event("GET", "/v1/usage", headers={"Authorization": f"Bearer {token}"}),
                  FakeLambdaContext())
    assert out["statusCode"] == 200, out
    body = response_json(out)
    today = utc_day(__import__("time").time())
    assert body["token_id"] == record.token_id and body["quota_per_day"] == 100
    assert body["today"]["date"] == today and body["today"]["texts"] == 3 and body["today"]["remaining"] == 97
    assert body["today"]["requests"] == 1 and body["today"]["tokens"] > 0
    assert body["month"]["month"] == today[:7] and body["month"]["texts"] == 3
    assert [d["date"] for d in body["month"]["days"]] == [today]
    assert set(body["rate_limits"]) == {"requests", "texts"}
    bad = handler(http_v2_event("GET", "/v1/usage", headers={"Authorization": f"Bearer {token}"},
                                query="month=2026-13"), FakeLambdaContext())
    assert bad["statusCode"] == 422
    assert handler(http_v2_event("GET", "/v1/usage"), FakeLambdaContext())["statusCode"] == 401


def test_an_answer_whose_usage_cannot_be_written_is_not_served_nor_billed(aws, tmp_path):
    from functions.store.clients import default_dynamodb_client
    from tests.functional.reliability import Clock

    _, ddb = aws
    token, record = create_token(ddb, TABLE, owner="strict", models="*", quota_per_day=1000)
    runtime, handler = instance(aws, tmp_path, "strict")
    assert call(handler, token, ["good", "bad"])[0] == 200  # token cached, usage row read
    meter = runtime.app.extensions["snlp"].meter
    meter.clock = clock = Clock()
    meter.client = default_dynamodb_client(endpoint_url="http://127.0.0.1:9", connect_timeout=0.2,
                                           read_timeout=0.2, retries=0)
    code, headers, body = call(handler, token, ["good", "bad", "ok"])
    assert code == 503 and body["type"].endswith("/auth-unavailable") and "predictions" not in body
    assert int(headers["retry-after"]) > 0
    assert meter.pending(record.token_id, utc_day(NOON)) == {"requests": 0, "texts": 0, "tokens": 0}
    meter.client = ddb
    clock.advance(6)  # after a failed write the meter waits 5 s before asking DynamoDB again
    assert call(handler, token, ["good"])[0] == 200
    billed = read_usage(ddb, TABLE, record.token_id, utc_day(NOON))
    assert billed["requests"] == 2 and billed["texts"] == 3  # the 503 was neither served nor billed
