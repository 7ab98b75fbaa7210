"""Routes on a fake store: results match the numpy reference, limits and bad input map right."""
from __future__ import annotations

import base64

import numpy as np
import pytest

from functions.api.errors import TYPE_BASE
from functions.api.telemetry import ERRORS, INFERENCE_MS, TEXTS, TOKENS
from functions.nlp.errors import ModelUnavailableError
from infra.local.tiny_artifact import reference_outputs
from tests.unit.api.conftest import auth, make_client

TOL = 1e-5  # float32 graph vs float64 numpy reference
TEXTS_IN = ["good movie", "the food was awful and the service was bad", "ok", "not very good really"]


def problem(resp, status, code):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.content_type == "application/problem+json"
    body = resp.get_json(force=True)
    assert body["type"] == TYPE_BASE + code and body["status"] == status
    assert body["title"] and body["detail"] and body["instance"] == resp.request.path
    return body


def test_health_needs_no_token_and_reveals_nothing(client):
    resp = client.get("/health")
    assert resp.status_code == 200 and resp.get_json() == {"status": "ok"}


def test_classify_matches_the_reference_in_request_order(client):
    resp = client.post("/v1/classify", json={"texts": TEXTS_IN}, headers=auth())
    assert resp.status_code == 200
    body = resp.get_json()
    ref = reference_outputs("classify", TEXTS_IN)
    labels = ("negative", "neutral", "positive")
    assert body["model"] == "tiny-sentiment@1-fp32"
    for pred, row in zip(body["predictions"], ref):
        assert np.allclose([pred["scores"][label] for label in labels], row, atol=TOL)
        assert pred["label"] == labels[int(np.argmax(row))]
    assert body["usage"]["texts"] == 4 and body["usage"]["tokens"] == sum(len(t.split()) + 2 for t in TEXTS_IN)


def test_classify_accepts_a_single_string_and_explicit_versions(client):
    resp = client.post("/v1/classify", json={"texts": "good movie", "model": "tiny-sentiment@2-fp32"}, headers=auth())
    assert resp.status_code == 200 and resp.get_json()["model"] == "tiny-sentiment@2-fp32"
    resp = client.post("/v1/classify", json={"texts": ["good"], "model": "tiny-sentiment:candidate"}, headers=auth())
    assert resp.get_json()["model"] == "tiny-sentiment@2-fp32"


def test_embed_and_similarity_match_the_reference(client):
    body = client.post("/v1/embed", json={"texts": TEXTS_IN}, headers=auth()).get_json()
    ref = reference_outputs("embed", TEXTS_IN)
    assert body["dim"] == 8 and np.allclose(body["embeddings"], ref, atol=TOL)
    body = client.post("/v1/similarity", json={"source": TEXTS_IN[0], "targets": TEXTS_IN[1:]},
                       headers=auth()).get_json()
    assert np.allclose(body["scores"], ref[1:] @ ref[0], atol=TOL)
    assert body["usage"]["texts"] == 4


def test_tf_serving_predict_rows_and_errors(client):
    resp = client.post("/v1/models/tiny-sentiment:predict", json={"instances": ["good movie", {"text": "bad"}]},
                       headers=auth())
    assert np.allclose(resp.get_json()["predictions"], reference_outputs("classify", ["good movie", "bad"]), atol=TOL)
    resp = client.post("/v1/models/tiny-embed/versions/2-fp32:predict", json={"instances": ["good"]}, headers=auth())
    assert np.allclose(resp.get_json()["predictions"], reference_outputs("embed", ["good"], seed=1), atol=TOL)
    resp = client.post("/v1/models/tiny-embed/labels/candidate:predict", json={"instances": ["good"]}, headers=auth())
    assert resp.status_code == 200
    for body, status in (({"instances": []}, 422), ({"inputs": ["x"], "instances": ["x"]}, 422),
                         ({"instances": [{"txt": "x"}]}, 422)):
        resp = client.post("/v1/models/tiny-embed:predict", json=body, headers=auth())
        assert resp.status_code == status and set(resp.get_json()) == {"error"}
    resp = client.post("/v1/models/nope:predict", json={"instances": ["x"]}, headers=auth())
    assert resp.status_code == 404 and resp.get_json() == {"error": "model nope not found"}


@pytest.mark.parametrize("fmt", ["float", "base64"])
def test_openai_embeddings_in_both_encodings(client, fmt):
    resp = client.post("/v1/embeddings", json={"input": ["good movie", "bad"], "model": "tiny-embed",
                                               "encoding_format": fmt}, headers=auth())
    body = resp.get_json()
    assert body["object"] == "list" and body["model"] == "tiny-embed"
    vectors = [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") if fmt == "base64" else d["embedding"]
               for d in body["data"]]
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert np.allclose(vectors, reference_outputs("embed", ["good movie", "bad"]), atol=TOL)
    assert body["usage"] == {"prompt_tokens": 7, "total_tokens": 7}


def test_openai_refuses_token_arrays_and_wrong_dimensions(client):
    resp = client.post("/v1/embeddings", json={"input": [[1, 2, 3]], "model": "tiny-embed"}, headers=auth())
    body = problem(resp, 422, "invalid-input")
    assert body["error"]["code"] == "invalid-input"
    assert "check_embedding_ctx_length=False" in body["detail"]  # names the client setting to change
    body = problem(client.post("/v1/embeddings", json={"input": "x", "dimensions": 3}, headers=auth()),
                   400, "bad-request")
    assert "not Matryoshka-trained" in body["detail"]
    problem(client.post("/v1/embeddings", json={"input": "x", "encoding_format": "hex"}, headers=auth()),
            422, "invalid-input")


def test_models_list_is_filtered_by_the_token_and_describe_hides_the_source(client):
    names = [m["id"] for m in client.get("/v1/models", headers=auth()).get_json()["data"]]
    assert names == ["tiny-embed", "tiny-sentiment"]
    names = [m["id"] for m in client.get("/v1/models", headers=auth("snlp_embed_only")).get_json()["data"]]
    assert names == ["tiny-embed"]
    body = client.get("/v1/models/tiny-sentiment", headers=auth()).get_json()
    assert body["aliases"]["prod"] == "1-fp32" and body["manifest"]["labels"] == ["negative", "neutral", "positive"]
    assert "source" not in body["manifest"]
    problem(client.get("/v1/models/tiny-sentiment", headers=auth("snlp_embed_only")), 403, "model-not-allowed")
    problem(client.get("/v1/models/nope", headers=auth()), 404, "model-not-found")


def test_auth_failures(client, parts):
    body = {"texts": ["good"]}
    resp = client.post("/v1/classify", json=body)
    problem(resp, 401, "missing-token")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    problem(client.post("/v1/classify", json=body, headers=auth("snlp_wrong")), 401, "invalid-token")
    problem(client.post("/v1/classify", json=body, headers={"Authorization": "Basic abc"}), 401, "missing-token")
    problem(client.post("/v1/classify", json=body, headers=auth("snlp_revoked")), 403, "token-revoked")
    problem(client.post("/v1/classify", json=body, headers=auth("snlp_embed_only")), 403, "model-not-allowed")
    assert client.post("/v1/classify", json=body, headers={"x-api-key": "snlp_good"}).status_code == 200
    parts[1].down = True
    resp = client.post("/v1/classify", json=body, headers=auth())
    problem(resp, 503, "auth-unavailable")
    assert int(resp.headers["Retry-After"]) > 0


def test_quota_429_with_retry_after_and_refund_of_failed_work(client, parts):
    meter = parts[2]
    headers = auth("snlp_small")  # 3 texts per day
    long_text = " ".join(["good"] * 40)  # over the tiny model's 16 tokens
    resp = client.post("/v1/classify", json={"texts": [long_text], "truncate": False}, headers=headers)
    problem(resp, 422, "text-too-long")
    # refused while its windows are laid out, before admission: never counted
    assert meter.used.get("tok_small", {}).get("texts", 0) == 0
    assert client.post("/v1/classify", json={"texts": ["a", "b"]}, headers=headers).status_code == 200
    assert client.post("/v1/classify", json={"texts": ["a"]}, headers=headers).status_code == 200
    resp = client.post("/v1/classify", json={"texts": ["a"]}, headers=headers)
    problem(resp, 429, "quota-exceeded")
    assert resp.headers["Retry-After"] == "3600"
    assert meter.used["tok_small"] == {"requests": 2, "texts": 3, "tokens": 9}


@pytest.mark.parametrize("param", ["token", "api_key", "API_KEY", "access_token"])
def test_tokens_in_the_query_string_are_refused(client, param):
    problem(client.post(f"/v1/classify?{param}=snlp_good", json={"texts": ["x"]}), 400, "token-in-query")


@pytest.mark.parametrize("body,code", [
    ({"texts": []}, "empty-input"),
    ({"texts": ["ok", "  "]}, "empty-input"),
    ({"texts": ["x"] * 9}, "too-many-texts"),
    ({"texts": "x" * 201}, "text-too-long"),
    ({"texts": [1, 2]}, "invalid-input"),
    ({"texts": {"a": 1}}, "invalid-input"),
    ({}, "invalid-input"),
    ({"texts": ["good"], "model": 3}, "invalid-input"),
    ({"texts": ["good"], "truncate": "no"}, "invalid-input"),
    ({"texts": ["good"], "model": "tiny-embed"}, "wrong-task"),
    ({"texts": ["\ud800"]}, "invalid-input"),
    ({"texts": [" ".join(["good"] * 40)], "truncate": False}, "text-too-long"),
])
def test_validation_errors_are_422(client, body, code):
    problem(client.post("/v1/classify", json=body, headers=auth()), 422, code)


def test_truncation_on_accepts_long_texts(client):
    resp = client.post("/v1/classify", json={"texts": [" ".join(["good"] * 40)]}, headers=auth())
    assert resp.status_code == 200 and resp.get_json()["usage"]["tokens"] == 16


@pytest.mark.parametrize("model", ["nope", "tiny-sentiment@9-x", "tiny-sentiment:nope", "../etc", "a/b", "x" * 300])
def test_unknown_or_invalid_models_are_404(client, model):
    problem(client.post("/v1/classify", json={"texts": ["x"], "model": model}, headers=auth()), 404, "model-not-found")


def test_malformed_bodies(client):
    headers = {**auth(), "Content-Type": "application/json"}
    problem(client.post("/v1/classify", data="{bad", headers=headers), 400, "malformed-json")
    problem(client.post("/v1/classify", data=b"\xff\xfe{", headers=headers), 400, "malformed-json")
    problem(client.post("/v1/classify", data="[1]", headers=headers), 422, "invalid-input")
    problem(client.post("/v1/classify", data="[" * 100000 + "]" * 100000, headers=headers), 413, "payload-too-large")
    problem(client.post("/v1/classify", data="texts=x", headers={**auth(), "Content-Type": "text/plain"}),
            415, "unsupported-media-type")
    problem(client.post("/v1/classify", data="{" * 2000, headers=headers), 400, "malformed-json")


def test_body_size_is_checked_before_parsing(client):
    resp = client.post("/v1/classify", data="x" * 5000, headers={**auth(), "Content-Type": "application/json"})
    problem(resp, 413, "payload-too-large")


def test_routes_and_methods(client):
    problem(client.get("/nope"), 404, "not-found")
    resp = client.get("/v1/classify", headers=auth())
    problem(resp, 405, "method-not-allowed")
    assert "POST" in resp.headers["Allow"]


def test_store_failures(client, parts):
    parts[0].fail["tiny-sentiment"] = ModelUnavailableError("model store unavailable while reading model x")
    resp = client.post("/v1/classify", json={"texts": ["x"]}, headers=auth())
    problem(resp, 503, "model-unavailable")
    assert resp.headers["Retry-After"] == "5"


def test_unexpected_errors_are_logged_with_trace_and_answered_generically(client, parts, caplog):
    parts[0].fail["tiny-sentiment"] = RuntimeError("disk /tmp/snlp-models/x exploded")
    with caplog.at_level("ERROR"):
        resp = client.post("/v1/classify", json={"texts": ["x"]}, headers=auth())
    body = problem(resp, 500, "internal")
    assert "tmp" not in resp.get_data(as_text=True) and "exploded" not in body["detail"]
    assert any(r.exc_info for r in caplog.records)


def test_logs_carry_neither_tokens_nor_texts(client, caplog):
    with caplog.at_level("INFO"):
        client.post("/v1/classify", json={"texts": ["secret words here"]}, headers=auth())
        client.post("/v1/classify", json={"texts": ["secret words here"]}, headers=auth("snlp_wrong"))
    text = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "request" in text and "tok_all" in text
    assert "snlp_good" not in text and "snlp_wrong" not in text and "secret words" not in text


def test_metrics_and_request_id(client, parts):
    telemetry = parts[3]
    resp = client.post("/v1/classify", json={"texts": ["good", "bad"]}, headers={**auth(), "x-request-id": "abc"})
    assert resp.headers["x-request-id"] == "abc"
    client.post("/v1/classify", json={"texts": []}, headers=auth())
    points = {(p.name, p.dims): p.value for p in telemetry.drain()}
    assert points[(TEXTS, ())] == 2 and points[(TEXTS, (("model", "tiny-sentiment"),))] == 2
    assert points[(TOKENS, ())] == 6 and (INFERENCE_MS, (("model", "tiny-sentiment"),)) in points
    assert points[(ERRORS, (("error_type", "empty-input"),))] == 1 and points[(ERRORS, ())] == 1


def test_auth_disabled_serves_anonymously(parts):
    from tests.unit.api.conftest import SETTINGS

    client = make_client(parts, SETTINGS.with_(auth_enabled=False))
    assert client.post("/v1/classify", json={"texts": ["good"]}).status_code == 200


def test_texts_reach_the_logs_only_when_log_texts_is_on(parts, caplog):
    from tests.unit.api.conftest import SETTINGS

    client = make_client(parts, SETTINGS.with_(log_texts=True))
    with caplog.at_level("INFO"):
        client.post("/v1/classify", json={"texts": ["visible words"]}, headers=auth())
    assert any(getattr(r, "input", None) == ["visible words"] for r in caplog.records)
