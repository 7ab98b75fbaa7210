"""Open Inference Protocol v2 contract: the REST shapes of the KServe/Triton specification, on tiny models."""
from __future__ import annotations

import numpy as np
import pytest

from infra.local.tiny_artifact import DIM, LABELS, reference_outputs
from tests.unit.api.conftest import auth

TOL = 1e-5


def v2_error(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.content_type == "application/json"
    body = resp.get_json()
    assert set(body) == {"error"} and body["error"]
    return body["error"]


def infer_body(texts, **extra):
    return {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": texts}], **extra}


def test_health_and_server_metadata(client):
    assert client.get("/v2/health/live").get_json() == {"live": True}  # public, like /health
    assert client.get("/v2/health/ready").get_json() == {"ready": True}
    v2_error(client.get("/v2"), 401)
    server = client.get("/v2", headers=auth()).get_json()
    assert server["name"] and server["version"] and server["extensions"] == []
    assert client.get("/v2/", headers=auth()).get_json() == server  # the REST spec's spelling


def test_model_metadata_and_readiness(client):
    meta = client.get("/v2/models/tiny-sentiment", headers=auth()).get_json()
    assert meta["name"] == "tiny-sentiment" and meta["versions"] == ["1", "2"] and meta["platform"]
    assert meta["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    assert meta["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": [-1, len(LABELS)]}]
    assert meta["parameters"]["labels"] == ",".join(LABELS)
    meta = client.get("/v2/models/tiny-embed/versions/2", headers=auth()).get_json()
    assert meta["outputs"][0]["shape"] == [-1, DIM] and meta["parameters"]["version"] == "2-fp32"
    assert client.get("/v2/models/tiny-embed/ready", headers=auth()).get_json() == {"name": "tiny-embed",
                                                                                  "ready": True}
    assert client.get("/v2/models/tiny-embed/versions/1/ready", headers=auth()).status_code == 200
    v2_error(client.get("/v2/models/tiny-embed/versions/3/ready", headers=auth()), 404)
    v2_error(client.get("/v2/models/nope", headers=auth()), 404)
    v2_error(client.get("/v2/models/tiny-sentiment", headers=auth("snlp_embed_only")), 403)


def test_infer_classify_and_embed_as_fp32_tensors(client, parts):
    texts = ["good movie", "the food was awful"]
    resp = client.post("/v2/models/tiny-sentiment/infer", json=infer_body(texts, id="req-1"), headers=auth())
    body = resp.get_json()
    assert body["model_name"] == "tiny-sentiment" and body["model_version"] == "1" and body["id"] == "req-1"
    [out] = body["outputs"]
    assert out["name"] == "probabilities" and out["datatype"] == "FP32" and out["shape"] == [2, len(LABELS)]
    assert np.allclose(np.reshape(out["data"], out["shape"]), reference_outputs("classify", texts), atol=TOL)
    assert body["parameters"] == {"truncated_texts": 0, "windows": 2}
    resp = client.post("/v2/models/tiny-embed/versions/2/infer",
                       json={"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1, 1], "data": [["good"]]}],
                             "outputs": [{"name": "embeddings"}]}, headers=auth())
    [out] = resp.get_json()["outputs"]
    assert out["shape"] == [1, DIM] and np.allclose(out["data"], reference_outputs("embed", ["good"], seed=1)[0],
                                                     atol=TOL)
    assert parts[2].used["tok_all"]["texts"] == 3  # metered like every route


@pytest.mark.parametrize("body,status", [
    ({"inputs": []}, 422),
    ({"inputs": [{"name": "txt", "datatype": "BYTES", "shape": [1], "data": ["x"]}]}, 422),
    ({"inputs": [{"name": "text", "datatype": "FP32", "shape": [1], "data": [1.0]}]}, 422),
    ({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["x"]}]}, 422),
    ({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1, 2], "data": ["x", "y"]}]}, 422),
    ({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [3]}]}, 422),
    ({**infer_body(["x"]), "outputs": [{"name": "logits"}]}, 422),
    ({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["x"],
                  "parameters": {"binary_data_size": 5}}]}, 415),
    ({**infer_body(["x"]), "parameters": {"on_overflow": "explode"}}, 422),
    ({**infer_body(["x"]), "parameters": 6.0}, 422),
    ({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["x"], "parameters": 6.0}]}, 422),
    ({**infer_body(["x"]), "outputs": [{"name": "embeddings", "parameters": [1]}]}, 422),
])
def test_infer_errors_follow_the_protocol(client, body, status):
    message = v2_error(client.post("/v2/models/tiny-embed/infer", json=body, headers=auth()), status)
    if status == 415:
        assert "binary_data=False" in message


def test_binary_tensor_requests_name_the_client_setting(client):
    resp = client.post("/v2/models/tiny-embed/infer", data=b'{"inputs":[]}\x00\x01',
                       headers={**auth(), "Inference-Header-Content-Length": "13",
                                "Content-Type": "application/octet-stream"})
    assert "binary_data=False" in v2_error(resp, 415)


def test_long_input_options_ride_in_parameters(client):
    long_text = " ".join(["good"] * 40)
    body = client.post("/v2/models/tiny-embed/infer", json=infer_body([long_text]), headers=auth()).get_json()
    assert body["parameters"] == {"truncated_texts": 1, "windows": 1}
    body = client.post("/v2/models/tiny-embed/infer", json=infer_body([long_text], parameters={
        "on_overflow": "chunk"}), headers=auth()).get_json()
    assert body["parameters"]["truncated_texts"] == 0 and body["parameters"]["windows"] > 1
