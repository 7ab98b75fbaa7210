"""The OpenAPI document validates and covers every route; every route's errors have its shape."""
from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from functions.api.app import error_style
from functions.api.errors import TYPE_BASE
from tests.unit.api.conftest import auth

PROTECTED_SAMPLES = {  # path template -> a concrete path
    "/v1/models/<name>": "/v1/models/tiny-sentiment",
    "/v1/models/<name>:predict": "/v1/models/tiny-sentiment:predict",
    "/v1/models/<name>/versions/<version>:predict": "/v1/models/tiny-sentiment/versions/1-fp32:predict",
    "/v1/models/<name>/labels/<label>:predict": "/v1/models/tiny-sentiment/labels/prod:predict",
}


def _rules(client):
    for rule in client.application.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_openapi_document_validates_and_lists_every_route(client):
    spec = client.get("/openapi.json").get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.1")
    for rule, method in _rules(client):
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        assert path in spec["paths"], path
        assert method.lower() in spec["paths"][path], (method, path)


def test_openapi_lists_every_error_code_and_schemas(client):
    spec = client.get("/openapi.json").get_json()
    types = spec["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]
    assert TYPE_BASE + "quota-exceeded" in types and TYPE_BASE + "model-not-found" in types
    classify = spec["paths"]["/v1/classify"]["post"]
    assert {"400", "401", "403", "404", "413", "415", "422", "429", "503"} <= set(classify["responses"])
    assert "Retry-After" in classify["responses"]["429"]["headers"]
    tf = spec["paths"]["/v1/models/{name}:predict"]["post"]["responses"]["404"]["content"]
    assert "application/json" in tf


def test_docs_page_is_self_contained(client):
    html = client.get("/docs")
    assert html.status_code == 200 and "default-src 'none'" in html.headers["Content-Security-Policy"]
    page = html.get_data(as_text=True)
    assert "http://" not in page and "https://" not in page  # no CDN
    for asset in re.findall(r'(?:src|href)="(static/[^"]+)"', page):
        resp = client.get("/" + asset)
        assert resp.status_code == 200 and b"https://" not in resp.data
    assert len(re.findall(r'(?:src|href)="static/', page)) == 2


def _request(client, rule, method, headers):
    path = PROTECTED_SAMPLES.get(rule.rule, re.sub(r"<[^>]+>", "x", rule.rule))
    return path, client.open(path, method=method, json={"texts": ["x"]} if method == "POST" else None, headers=headers)


def _check_shape(resp, path, status):
    assert resp.status_code == status, (path, resp.status_code)
    body = resp.get_json(force=True)
    if error_style(path) == "tfserving":
        assert resp.content_type == "application/json" and set(body) == {"error"} and body["error"]
    else:
        assert resp.content_type == "application/problem+json"
        assert body["type"].startswith(TYPE_BASE) and body["status"] == status
        assert body["title"] and body["detail"] and body["instance"] == path


def test_every_protected_route_answers_401_in_its_error_shape(client):
    checked = 0
    for rule, method in _rules(client):
        if rule.endpoint in client.application.extensions["snlp_public_endpoints"]:
            continue
        path, resp = _request(client, rule, method, {})
        _check_shape(resp, path, 401)
        checked += 1
    assert checked >= 8


def test_every_route_answers_wrong_methods_and_bad_queries_in_its_error_shape(client):
    taken: dict[str, set[str]] = {}  # path -> every method some rule of it takes
    for rule, method in _rules(client):
        taken.setdefault(rule.rule, set()).add(method)
    for rule, method in _rules(client):
        path = PROTECTED_SAMPLES.get(rule.rule, re.sub(r"<[^>]+>", "x", rule.rule))
        other = next(m for m in ("DELETE", "POST") if m not in taken[rule.rule])  # one the path does not take
        _check_shape(client.open(path, method=other, headers=auth()), path, 405)
        _check_shape(client.open(path + "?token=snlp_good", method=method, headers=auth()), path, 400)


@pytest.mark.parametrize("path", ["/v1/classify", "/v1/embed", "/v1/similarity", "/v1/embeddings",
                                  "/v1/models/tiny-sentiment:predict"])
def test_every_inference_route_answers_malformed_json_in_its_error_shape(client, path):
    resp = client.post(path, data="{nope", headers={**auth(), "Content-Type": "application/json"})
    _check_shape(resp, path, 400)
    resp = client.post(path, json={"texts": [], "input": [], "instances": [], "source": "", "targets": []},
                       headers=auth())
    _check_shape(resp, path, 422)


def _validator(spec, name):
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": spec["components"]})


def test_real_responses_match_the_documented_schemas(client):
    spec = client.get("/openapi.json").get_json()
    calls = [
        ("GET", "/health", None, "Health"),
        ("GET", "/v1/models", None, "ModelList"),
        ("GET", "/v1/models/tiny-sentiment", None, "ModelInfo"),
        ("POST", "/v1/classify", {"texts": ["good", "bad"]}, "ClassifyResponse"),
        ("POST", "/v1/embed", {"texts": "good"}, "EmbedResponse"),
        ("POST", "/v1/similarity", {"source": "good", "targets": ["bad", "ok"]}, "SimilarityResponse"),
        ("POST", "/v1/models/tiny-sentiment:predict", {"instances": ["good"]}, "PredictResponse"),
        ("POST", "/v1/embeddings", {"input": "good", "encoding_format": "base64"}, "EmbeddingsResponse"),
        ("POST", "/v1/embeddings", {"input": ["good"]}, "EmbeddingsResponse"),
        ("POST", "/v1/classify", {"texts": []}, "Problem"),
        ("POST", "/v1/models/nope:predict", {"instances": ["x"]}, "TFServingError"),
    ]
    for method, path, body, schema in calls:
        resp = client.open(path, method=method, json=body, headers=auth())
        _validator(spec, schema).validate(resp.get_json(force=True))
    for name in ("ClassifyRequest", "EmbedRequest", "SimilarityRequest", "PredictRequest", "EmbeddingsRequest"):
        _validator(spec, name)  # the request schemas are themselves valid
    _validator(spec, "ClassifyRequest").validate({"texts": ["a"], "model": "tiny-sentiment:prod"})
