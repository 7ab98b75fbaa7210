"""The official ``openai`` client's batch flow, unchanged, against the app and the batch pipeline:
files.create -> batches.create -> batches.retrieve -> files.content, on moto, metered like any job."""
from __future__ import annotations

import base64
import io
import json
import threading
import time

import boto3
import numpy as np
import pytest
from moto import mock_aws
from werkzeug.serving import make_server

from functions.auth.admin import create_token
from functions.batch.openai_batch import parse_requests
from functions.nlp.errors import InputTypeError
from tests.functional.api_events import create_tokens_table, lambda_env
from tests.functional.batch_stack import ARTIFACTS, DATA, TABLE, make_stack
from infra.local.tiny_artifact import reference_outputs

openai = pytest.importorskip("openai")
pytestmark = pytest.mark.timeout(120)
TOKENS = "snlp-openai-batch-tokens"


@pytest.fixture
def world(tiny_registry, tmp_path):
    """(stack, client): the app on a loopback server and the batch stack, on the same moto."""
    from functions.api.handler import build_runtime

    with mock_aws():
        stack = make_stack(tiny_registry, tmp_path / "batch-cache", clock=time.time, tokens_table=TOKENS)
        create_tokens_table(stack.ddb, TOKENS)
        token, _ = create_token(stack.ddb, TOKENS, owner="batcher", models=["tiny-embed", "tiny-sentiment"],
                                quota_per_day=1000)
        env = lambda_env(tmp_path / "api-cache", SNLP_ARTIFACTS_BUCKET=ARTIFACTS, SNLP_TOKENS_TABLE=TOKENS,
                         SNLP_DATA_BUCKET=DATA, SNLP_JOBS_TABLE=TABLE, SNLP_PRELOAD_MODELS="")
        runtime = build_runtime(env, s3_client=stack.s3, dynamodb_client=stack.ddb)
        httpd = make_server("127.0.0.1", 0, runtime.app, threaded=True)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{httpd.server_port}/v1", api_key=token, max_retries=0,
                               timeout=30)
        try:
            yield stack, client
        finally:
            httpd.shutdown()
            thread.join(timeout=10)


def _request(custom_id: str, body: dict, url: str = "/v1/embeddings") -> str:
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": body})


def _run(stack, client, batch):
    """Work the queue as the batch Lambda would, until the batch has ended."""
    for _ in range(20):
        stack.drain()
        batch = client.batches.retrieve(batch.id)
        if batch.status not in ("validating", "in_progress", "finalizing"):
            return batch
    raise AssertionError(f"batch {batch.id} did not end: {batch.status}")


def test_the_openai_client_batch_flow_embeds_every_request(world):
    stack, client = world
    lines = [_request("one", {"model": "tiny-embed", "input": "good movie"}),
             _request("two", {"model": "tiny-embed", "input": ["the weather was bad", "happy day"]}),
             _request("b64", {"model": "tiny-embed", "input": "sad", "encoding_format": "base64"}),
             _request("bad", {"model": "tiny-embed", "input": ["fine", ""]})]  # an empty text: this request fails
    uploaded = client.files.create(file=("requests.jsonl", io.BytesIO("\n".join(lines).encode())), purpose="batch")
    assert uploaded.purpose == "batch" and uploaded.bytes > 0
    assert client.files.retrieve(uploaded.id).filename == "requests.jsonl"

    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h",
                                  metadata={"project": "demo"})
    assert batch.status in ("validating", "in_progress") and batch.request_counts.total == 4
    batch = _run(stack, client, batch)
    assert batch.status == "completed" and batch.metadata == {"project": "demo"}
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (4, 3, 1)

    output = client.files.content(batch.output_file_id).text
    out = {row["custom_id"]: row for row in map(json.loads, output.splitlines())}
    assert set(out) == {"one", "two", "b64"}
    two = out["two"]["response"]
    assert two["status_code"] == 200 and two["body"]["object"] == "list" and two["body"]["model"] == "tiny-embed"
    vectors = [d["embedding"] for d in two["body"]["data"]]
    assert np.allclose(vectors, reference_outputs("embed", ["the weather was bad", "happy day"]), atol=1e-5)
    assert two["body"]["usage"]["prompt_tokens"] == two["body"]["usage"]["total_tokens"] > 0
    b64 = np.frombuffer(base64.b64decode(out["b64"]["response"]["body"]["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(b64, reference_outputs("embed", ["sad"])[0], atol=1e-5)

    (error,) = map(json.loads, client.files.content(batch.error_file_id).text.splitlines())
    assert error["custom_id"] == "bad" and error["response"]["status_code"] == 422
    assert error["response"]["body"]["error"]["code"] == "empty-input"
    assert "input[1]" in error["response"]["body"]["error"]["message"]

    listed = client.batches.list(limit=5)
    assert [b.id for b in listed.data] == [batch.id]
    usage = client.get("/usage", cast_to=object)  # the batch was metered like any other path
    assert usage["today"]["texts"] >= 4


def test_classify_batches_and_cancel(world):
    stack, client = world
    lines = [_request(f"r{i}", {"model": "tiny-sentiment", "texts": ["good movie", "bad day"]}, "/v1/classify")
             for i in range(3)]
    uploaded = client.files.create(file=("c.jsonl", io.BytesIO("\n".join(lines).encode())), purpose="batch")
    batch = _run(stack, client, client.batches.create(input_file_id=uploaded.id, endpoint="/v1/classify",
                                                      completion_window="24h"))
    assert batch.status == "completed" and batch.request_counts.completed == 3 and batch.error_file_id is None
    rows = [json.loads(r) for r in client.files.content(batch.output_file_id).text.splitlines()]
    predictions = rows[0]["response"]["body"]["predictions"]
    ref = reference_outputs("classify", ["good movie", "bad day"])
    assert [p["scores"]["positive"] for p in predictions] == pytest.approx(ref[:, 2].tolist(), abs=1e-5)

    used = client.get("/usage", cast_to=object)["today"]["texts"]
    again = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/classify", completion_window="24h")
    assert client.get("/usage", cast_to=object)["today"]["texts"] == used + 6  # its texts are reserved
    cancelled = client.batches.cancel(again.id)  # before any worker took it
    assert client.get("/usage", cast_to=object)["today"]["texts"] == used  # and given back
    assert cancelled.status == "cancelled" and cancelled.cancelled_at
    stack.drain()
    after = client.batches.retrieve(again.id)
    assert after.status == "cancelled" and after.output_file_id is None  # its upload never started the job


def test_bad_requests_are_openai_errors(world):
    stack, client = world
    with pytest.raises(openai.NotFoundError):
        client.batches.create(input_file_id="file-nope", endpoint="/v1/embeddings", completion_window="24h")
    uploaded = client.files.create(file=("x.jsonl", io.BytesIO(b'{"custom_id": "a", "body": {"input": 5}}')),
                                   purpose="batch")
    with pytest.raises(openai.UnprocessableEntityError) as info:
        client.batches.create(input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h")
    assert "line 1" in info.value.message
    with pytest.raises(openai.UnprocessableEntityError):
        client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    sentiment = client.files.create(file=("s.jsonl", io.BytesIO(_request("a", {"model": "tiny-sentiment",
                                                                                "input": "x"}).encode())),
                                    purpose="batch")
    with pytest.raises(openai.UnprocessableEntityError, match="needs a model that does embed"):
        client.batches.create(input_file_id=sentiment.id, endpoint="/v1/embeddings", completion_window="24h")
    with pytest.raises(openai.UnprocessableEntityError):
        client.files.create(file=("x.jsonl", io.BytesIO(b"{}")), purpose="fine-tune")
    with pytest.raises(openai.NotFoundError):
        client.files.content("file-someone-elses")
    for odd in ("x" * 3000, "batch_../../x", "batch_" + "é" * 10):  # ids that name nothing: 404, never a 500
        with pytest.raises(openai.NotFoundError):
            client.batches.retrieve(odd)
    with pytest.raises(openai.NotFoundError):
        client.batches.list(after="nope")
    with pytest.raises(openai.UnprocessableEntityError):
        client.batches.list(limit=0)


@pytest.mark.parametrize("text, message", [
    ('{"custom_id": "a", "url": "/v1/embeddings", "body": {"input": "x"}}\n'
     '{"custom_id": "a", "url": "/v1/embeddings", "body": {"input": "y"}}', "used twice"),
    ('{"custom_id": "a", "url": "/v1/embeddings", "body": {"model": "m1", "input": "x"}}\n'
     '{"custom_id": "b", "url": "/v1/embeddings", "body": {"model": "m2", "input": "y"}}', "same model"),
    ('{"custom_id": "a", "url": "/v1/embeddings", "body": {"input": []}}', "non-empty list"),
    ("[" * 5000, "not valid JSON"),
    ("\n\n", "no requests"),
])
def test_input_files_are_checked_line_by_line(text, message):
    with pytest.raises(InputTypeError, match=message):
        parse_requests(text.encode(), "/v1/embeddings", "tiny-embed")


def test_the_openapi_document_lists_the_batch_routes(world):
    import urllib.request

    stack, client = world
    base = str(client.base_url).rstrip("/").removesuffix("/v1")
    spec = json.loads(urllib.request.urlopen(base + "/openapi.json", timeout=30).read())
    assert {"/v1/files", "/v1/files/{file_id}", "/v1/files/{file_id}/content", "/v1/batches",
            "/v1/batches/{batch_id}", "/v1/batches/{batch_id}/cancel"} <= set(spec["paths"])
    assert set(spec["paths"]["/v1/batches"]) == {"get", "post"}
