"""Long inputs through the API: options, the document limit, metering by windows, and the cut always said."""
from __future__ import annotations

import numpy as np
import pytest

from functions.nlp.embedding_types import to_binary, to_int8, to_uint8
from tests.unit.api.conftest import SETTINGS, auth, make_client

LONG = " ".join(["good", "movie", "bad", "food"] * 8)  # 32 words (159 characters): over the tiny model's 16 tokens


def test_the_default_cuts_and_says_so(client):
    resp = client.post("/v1/embed", json={"texts": [LONG, "good"]}, headers=auth())
    body = resp.get_json()
    assert body["truncated"] == [True, False] and body["chunks"] == [1, 1]
    assert resp.headers["X-Truncated-Texts"] == "1" and resp.headers["X-Windows"] == "2"
    resp = client.post("/v1/embeddings", json={"input": [LONG]}, headers=auth())
    assert resp.headers["X-Truncated-Texts"] == "1"


def test_chunk_is_metered_by_windows(client, parts):
    meter = parts[2]
    resp = client.post("/v1/classify", json={"texts": [LONG, "ok"], "on_overflow": "chunk", "chunk_overlap": 2},
                       headers=auth())
    body = resp.get_json()
    windows = body["chunks"][0]
    assert windows > 1 and body["chunks"][1] == 1 and body["truncated"] == [False, False]
    assert resp.headers["X-Windows"] == str(windows + 1)
    assert meter.used["tok_all"]["texts"] == windows + 1  # the quota counts the windows run
    assert abs(sum(body["predictions"][0]["scores"].values()) - 1) < 1e-5


def test_directions_differ_and_error_mode_refuses(client):
    def embed(**options):
        return client.post("/v1/embed", json={"texts": [LONG + " awful awful"], **options}, headers=auth())
    right, left = embed().get_json(), embed(truncation_direction="left").get_json()
    assert not np.allclose(right["embeddings"], left["embeddings"])
    for options in ({"truncate": False}, {"on_overflow": "error"}):
        assert embed(**options).status_code == 422
    for options in ({"truncate": False, "on_overflow": "truncate"}, {"truncate": True, "on_overflow": "error"},
                    {"on_overflow": 1}, {"truncation_direction": "up"}, {"chunk_overlap": -2}):
        resp = embed(**options)
        assert resp.status_code == 422 and resp.get_json()["type"].endswith("invalid-input"), options
    assert embed(truncate=False, on_overflow="chunk").status_code == 200  # chunking never cuts


def test_documents_up_to_the_document_limit_and_the_window_cap(parts):
    settings = SETTINGS.with_(max_document_chars=1000, max_windows=6, max_body_bytes=8192)
    client = make_client(parts, settings)
    doc = ("good movie " * 90)[:900]
    assert client.post("/v1/embed", json={"texts": [doc]}, headers=auth()).status_code == 422  # over 200 chars
    resp = client.post("/v1/embed", json={"texts": ["good " * 20], "on_overflow": "chunk"}, headers=auth())
    assert resp.status_code == 200 and resp.get_json()["chunks"] == [2]
    resp = client.post("/v1/embed", json={"texts": [doc], "on_overflow": "chunk"}, headers=auth())
    assert resp.status_code == 422 and "the limit is 6" in resp.get_json()["detail"]
    assert parts[2].used["tok_all"]["texts"] == 2  # the refused request was never admitted
    resp = client.post("/v1/embed", json={"texts": ["x" * 1001], "on_overflow": "chunk"}, headers=auth())
    assert resp.status_code == 422 and "1000" in resp.get_json()["detail"]


def test_embedding_types(client):
    resp = client.post("/v1/embed", json={"texts": ["good movie", "bad"], "embedding_types": ["float", "int8",
                                                                                             "uint8", "binary",
                                                                                             "base64"]},
                       headers=auth())
    body = resp.get_json()
    floats = np.array(body["embeddings"]["float"], dtype=np.float32)
    assert body["embeddings"]["int8"] == to_int8(floats).tolist()
    assert body["embeddings"]["uint8"] == to_uint8(floats).tolist()
    assert body["embeddings"]["binary"] == to_binary(floats).tolist() and len(body["embeddings"]["binary"][0]) == 1
    assert np.abs(np.array(body["embeddings"]["int8"])).max() == 127
    assert client.post("/v1/embed", json={"texts": ["x"], "embedding_types": ["int4"]},
                       headers=auth()).status_code == 422


@pytest.mark.parametrize("seed", range(3))
def test_int8_keeps_cosine_close(seed):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(20, 384)).astype(np.float32)
    q = to_int8(v).astype(np.float32)
    cos = (v * q).sum(1) / np.linalg.norm(v, axis=1) / np.linalg.norm(q, axis=1)
    assert cos.min() > 0.999


def test_openai_options(client):
    ok = client.post("/v1/embeddings", json={"input": "good", "user": "user-42", "dimensions": 8}, headers=auth())
    assert ok.status_code == 200 and len(ok.get_json()["data"][0]["embedding"]) == 8
    assert client.post("/v1/embeddings", json={"input": "good", "user": 5}, headers=auth()).status_code == 422
    resp = client.post("/v1/embeddings", json={"input": [LONG], "on_overflow": "chunk"}, headers=auth())
    assert resp.status_code == 200 and int(resp.headers["X-Windows"]) > 1


def test_openai_dimensions_are_honoured_where_the_manifest_declares_matryoshka(client, parts):
    from dataclasses import replace

    store = parts[0]
    model = store.get("tiny-embed")
    full = client.post("/v1/embeddings", json={"input": "good movie"}, headers=auth()).get_json()["data"][0]
    model.manifest = replace(model.manifest, source={**model.manifest.source, "matryoshka_dims": [4, 6]})
    try:
        cut = client.post("/v1/embeddings", json={"input": "good movie", "dimensions": 4}, headers=auth())
        vector = np.array(cut.get_json()["data"][0]["embedding"])
        head = np.array(full["embedding"][:4])
        assert len(vector) == 4 and np.allclose(vector, head / np.linalg.norm(head), atol=1e-6)
        resp = client.post("/v1/embeddings", json={"input": "x", "dimensions": 5}, headers=auth())
        assert resp.status_code == 400 and "4, 6" in resp.get_json()["detail"]
    finally:
        model.manifest = replace(model.manifest, source={k: v for k, v in model.manifest.source.items()
                                                         if k != "matryoshka_dims"})
