"""TensorFlow Serving REST contract: the shapes of tensorflow_serving/g3doc/api_rest.md, on tiny models."""
from __future__ import annotations

import numpy as np
import pytest

from infra.local.tiny_artifact import DIM, LABELS, reference_outputs
from tests.unit.api.conftest import auth

TOL = 1e-5
OK = {"error_code": "OK", "error_message": ""}


def tf_error(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) == {"error"} and body["error"], body
    return body["error"]


def test_model_status_lists_integer_versions_newest_first(client):
    body = client.get("/v1/models/tiny-sentiment", headers=auth()).get_json()
    assert body["model_version_status"] == [{"version": "2", "state": "AVAILABLE", "status": OK},
                                            {"version": "1", "state": "AVAILABLE", "status": OK}]
    assert body["numbers"] == {"1-fp32": 1, "2-fp32": 2}
    for path, version in (("/versions/1", "1"), ("/versions/2-fp32", "2"), ("/labels/prod", "1"),
                          ("/labels/candidate", "2")):
        resp = client.get(f"/v1/models/tiny-sentiment{path}", headers=auth())
        assert resp.get_json() == {"model_version_status": [{"version": version, "state": "AVAILABLE", "status": OK}]}
    tf_error(client.get("/v1/models/tiny-sentiment/versions/9", headers=auth()), 404)
    tf_error(client.get("/v1/models/tiny-sentiment/labels/nope", headers=auth()), 404)
    tf_error(client.get("/v1/models/tiny-sentiment/versions/1", headers=auth("snlp_embed_only")), 403)
    tf_error(client.get("/v1/models/tiny-sentiment/versions/1"), 401)


def test_model_list_shows_the_version_numbers(client):
    data = client.get("/v1/models", headers=auth()).get_json()["data"]
    assert {m["id"]: m["numbers"] for m in data} == {"tiny-embed": {"1-fp32": 1, "2-fp32": 2},
                                                      "tiny-sentiment": {"1-fp32": 1, "2-fp32": 2}}


def test_metadata_describes_the_signature(client):
    body = client.get("/v1/models/tiny-sentiment/metadata", headers=auth()).get_json()
    assert body["model_spec"] == {"name": "tiny-sentiment", "signature_name": "", "version": "1"}
    defs = body["metadata"]["signature_def"]["signature_def"]
    assert set(defs) == {"serving_default", "tensorflow/serving/classify"}
    predict = defs["serving_default"]
    assert predict["method_name"] == "tensorflow/serving/predict"
    assert predict["inputs"]["text"]["dtype"] == "DT_STRING"
    out = predict["outputs"]["probabilities"]
    assert out["dtype"] == "DT_FLOAT" and out["tensor_shape"]["dim"][1]["size"] == str(len(LABELS))
    body = client.get("/v1/models/tiny-embed/versions/2/metadata", headers=auth()).get_json()
    assert body["model_spec"]["version"] == "2"
    defs = body["metadata"]["signature_def"]["signature_def"]
    assert set(defs) == {"serving_default"} and defs["serving_default"]["outputs"]["embeddings"][
        "tensor_shape"]["dim"][1]["size"] == str(DIM)
    assert client.get("/v1/models/tiny-embed/labels/candidate/metadata", headers=auth()).get_json()[
        "model_spec"]["version"] == "2"
    tf_error(client.get("/v1/models/nope/metadata", headers=auth()), 404)


def test_predict_row_and_columnar_forms_with_integer_versions(client):
    texts = ["good movie", "bad"]
    expected = reference_outputs("embed", texts, seed=1)
    rows = client.post("/v1/models/tiny-embed/versions/2:predict", json={"instances": texts}, headers=auth())
    assert np.allclose(rows.get_json()["predictions"], expected, atol=TOL)
    assert rows.headers["X-Truncated-Texts"] == "0" and rows.headers["X-Windows"] == "2"
    for inputs in (texts, {"text": texts}):
        cols = client.post("/v1/models/tiny-embed/versions/2:predict", json={"inputs": inputs,
                                                                               "signature_name": "serving_default"},
                           headers=auth())
        assert set(cols.get_json()) == {"outputs"}
        assert np.allclose(cols.get_json()["outputs"], expected, atol=TOL)
    tf_error(client.post("/v1/models/tiny-embed:predict", json={"instances": texts, "signature_name": "nope"},
                         headers=auth()), 422)
    tf_error(client.post("/v1/models/tiny-embed/versions/7:predict", json={"instances": texts}, headers=auth()), 404)


def test_classify_answers_label_score_pairs(client):
    texts = ["good movie", "awful"]
    body = {"signature_name": "tensorflow/serving/classify", "examples": [{"text": texts[0]}, {}],
            "context": {"text": texts[1]}}
    resp = client.post("/v1/models/tiny-sentiment/versions/1:classify", json=body, headers=auth())
    result = resp.get_json()["result"]
    probs = reference_outputs("classify", texts)
    assert [[label for label, _ in row] for row in result] == [list(LABELS)] * 2
    assert np.allclose([[score for _, score in row] for row in result], probs, atol=TOL)
    tf_error(client.post("/v1/models/tiny-embed:classify", json={"examples": [{"text": "x"}]}, headers=auth()), 422)
    tf_error(client.post("/v1/models/tiny-sentiment:classify", json={"examples": [{"txt": "x"}]}, headers=auth()),
             422)


def test_regress_is_a_clear_error(client):
    message = tf_error(client.post("/v1/models/tiny-sentiment:regress", json={"examples": [{"text": "x"}]},
                                   headers=auth()), 422)
    assert "regress" in message and ":classify" in message
    tf_error(client.post("/v1/models/tiny-embed/labels/prod:regress", json={"examples": []}, headers=auth()), 422)
    tf_error(client.post("/v1/models/tiny-embed:regress", json={}, headers=auth("snlp_embed_only")), 422)
    tf_error(client.post("/v1/models/tiny-sentiment:regress", json={}, headers=auth("snlp_embed_only")), 403)


@pytest.mark.parametrize("path", ["/v1/models/tiny-embed:predict", "/v1/models/tiny-embed/metadata",
                                  "/v1/models/tiny-embed/versions/1"])
def test_errors_use_the_tfserving_body_everywhere(client, path):
    resp = client.post(path, data="{", content_type="application/json", headers=auth()) if ":" in path \
        else client.get(path)
    assert set(resp.get_json()) == {"error"} and resp.status_code in (400, 401)



def test_a_body_without_the_json_content_type_is_refused_with_415(client):
    """curl -d sends a form content type: the error says which one to send (hostile-input contract)."""
    resp = client.post("/v1/models/tiny-embed:predict", data='{"instances": ["good"]}', headers=auth(),
                       content_type="application/x-www-form-urlencoded")
    assert "application/json" in tf_error(resp, 415)
    resp = client.post("/v2/models/tiny-embed/infer", headers=auth(), content_type="text/plain",
                       data='{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["good"]}]}')
    assert resp.status_code == 415 and set(resp.get_json()) == {"error"}
