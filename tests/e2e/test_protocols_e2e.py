"""Every serving protocol through the running API, with the protocol's own Python client where one exists.

- Open Inference Protocol v2: ``tritonclient.http`` (Triton's client), JSON tensors.
- OpenAI embeddings: the official ``openai`` client.
- TensorFlow Serving REST: its only official client is gRPC (and needs TensorFlow), so plain
  HTTP, as its REST documentation does with curl.
The local stack with the real models when they are built, else the real app on tiny models.
"""
from __future__ import annotations

import numpy as np
import pytest
import requests

from functions.api.openapi import CODE_SAMPLES
from tests.e2e.live import LiveApi, live_api

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
TEXTS = ["I love this phone, it is wonderful", "The service was slow and the food was cold"]
DOCUMENT = " ".join(["The quarterly report describes revenue, costs and the outlook for next year."] * 60)


@pytest.fixture(scope="module")
def live(request, tmp_path_factory) -> LiveApi:
    yield from live_api(request, tmp_path_factory)


def _auth(live: LiveApi) -> dict[str, str]:
    return {"Authorization": f"Bearer {live.token}"}


def test_open_inference_protocol_with_tritonclient(live):
    http = pytest.importorskip("tritonclient.http", reason="tritonclient[http] is in the dev extra")
    from tritonclient.utils import InferenceServerException

    client = http.InferenceServerClient(url=live.url.removeprefix("http://"), connection_timeout=30,
                                        network_timeout=120)
    headers = _auth(live)
    assert client.is_server_live() and client.is_server_ready()
    classify, embed = live.models
    assert client.is_model_ready(classify, headers=headers)
    meta = client.get_model_metadata(classify, model_version="1", headers=headers)
    [output] = meta["outputs"]
    n_labels = output["shape"][1]

    text = http.InferInput("text", [len(TEXTS)], "BYTES")
    text.set_data_from_numpy(np.array(TEXTS, dtype=object), binary_data=False)
    wanted = [http.InferRequestedOutput(output["name"], binary_data=False)]
    result = client.infer(classify, [text], model_version="1", outputs=wanted, headers=headers)
    probs = result.as_numpy(output["name"])
    assert probs.shape == (2, n_labels) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)

    vectors = client.infer(embed, [text], headers=headers,
                           outputs=[http.InferRequestedOutput("embeddings", binary_data=False)]).as_numpy("embeddings")
    assert vectors.shape[0] == 2 and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)

    with pytest.raises(InferenceServerException, match="binary_data=False"):
        binary = http.InferInput("text", [1], "BYTES")
        binary.set_data_from_numpy(np.array(["x"], dtype=object))  # the client's default: binary tensors
        client.infer(embed, [binary], headers=headers)
    with pytest.raises(InferenceServerException):
        client.get_model_metadata(embed, headers={})  # no token: refused


def test_openai_embeddings_with_the_official_client(live):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"{live.url}/v1", api_key=live.token, max_retries=0)
    embed = live.models[1]
    got = client.embeddings.create(model=embed, input=TEXTS, user="e2e-user")  # base64 on the wire
    vectors = np.array([d.embedding for d in got.data])
    assert vectors.shape[0] == 2 and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
    assert got.usage.prompt_tokens > 0
    chunked = client.embeddings.create(model=embed, input=[DOCUMENT], extra_body={"on_overflow": "chunk"})
    assert np.isclose(np.linalg.norm(chunked.data[0].embedding), 1, atol=1e-3)
    with pytest.raises(openai.BadRequestError, match="Matryoshka"):
        client.embeddings.create(model=embed, input="x", dimensions=7)
    with pytest.raises(openai.UnprocessableEntityError, match="check_embedding_ctx_length"):
        client.embeddings.create(model=embed, input=[[101, 2023, 102]])


def test_tensorflow_serving_rest(live):
    classify, embed = live.models
    session = requests.Session()
    session.headers.update(_auth(live))
    status = session.get(f"{live.url}/v1/models/{classify}", timeout=30).json()["model_version_status"]
    assert status and all(s["state"] == "AVAILABLE" and s["version"].isdigit() for s in status)
    [prod] = session.get(f"{live.url}/v1/models/{classify}/labels/prod", timeout=30).json()["model_version_status"]
    version = prod["version"]  # the number of the version the default (prod) answers with
    meta = session.get(f"{live.url}/v1/models/{classify}/versions/{version}/metadata", timeout=30).json()
    assert "serving_default" in meta["metadata"]["signature_def"]["signature_def"]
    rows = session.post(f"{live.url}/v1/models/{classify}/versions/{version}:predict",
                        json={"instances": TEXTS}, timeout=60).json()["predictions"]
    cols = session.post(f"{live.url}/v1/models/{classify}:predict", json={"inputs": {"text": TEXTS}},
                        timeout=60).json()["outputs"]
    assert np.allclose(rows, cols, atol=1e-5)
    result = session.post(f"{live.url}/v1/models/{classify}:classify",
                          json={"examples": [{"text": t} for t in TEXTS]}, timeout=60).json()["result"]
    assert np.allclose([[score for _, score in row] for row in result], rows, atol=1e-5)
    regress = session.post(f"{live.url}/v1/models/{embed}:regress", json={"examples": [{"text": "x"}]}, timeout=30)
    assert regress.status_code == 422 and "regress" in regress.json()["error"]


def test_a_whole_document_is_chunked_and_metered_by_windows(live):
    resp = requests.post(f"{live.url}/v1/embed", json={"texts": [DOCUMENT], "on_overflow": "chunk"},
                         headers=_auth(live), timeout=120)
    body = resp.json()
    assert resp.status_code == 200 and body["chunks"][0] > 1 and body["truncated"] == [False]
    assert resp.headers["X-Windows"] == str(body["chunks"][0])
    cut = requests.post(f"{live.url}/v1/embed", json={"texts": [DOCUMENT[:1900]]}, headers=_auth(live), timeout=60)
    assert cut.json()["truncated"] == [True] and cut.headers["X-Truncated-Texts"] == "1"


@pytest.mark.parametrize("key", sorted(CODE_SAMPLES))
def test_the_documented_client_examples_run(live, key, monkeypatch, capsys):
    """The OpenAPI document's x-codeSamples (shown on /docs) run as printed against the live API."""
    pytest.importorskip("tritonclient.http")
    monkeypatch.setenv("SNLP_TOKEN", live.token)
    exec(compile(CODE_SAMPLES[key]["source"].replace("{base}", live.url), f"<sample {key[0]}>", "exec"), {})
