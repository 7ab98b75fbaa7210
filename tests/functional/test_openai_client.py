"""The official ``openai`` Python client gets embeddings from the app, in float and base64 modes."""
from __future__ import annotations

import base64
import threading

import numpy as np
import pytest
from werkzeug.serving import make_server

from functions.auth.admin import create_token
from tests.functional.api_events import TABLE, lambda_env, moto_api
from infra.local.tiny_artifact import reference_outputs

openai = pytest.importorskip("openai")
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def server(tiny_registry, tmp_path):
    from functions.api.handler import build_runtime

    with moto_api(tiny_registry) as (s3, ddb):
        token, _ = create_token(ddb, TABLE, owner="openai", models="tiny-embed", quota_per_day=1000)
        runtime = build_runtime(lambda_env(tmp_path / "cache"), s3_client=s3, dynamodb_client=ddb)
        httpd = make_server("127.0.0.1", 0, runtime.app, threaded=True)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_port}/v1", token
        finally:
            httpd.shutdown()
            thread.join(timeout=10)


@pytest.mark.parametrize("fmt", ["float", "base64", None])
def test_openai_client_embeddings(server, fmt):
    base_url, token = server
    client = openai.OpenAI(base_url=base_url, api_key=token, max_retries=0, timeout=30)
    texts = ["good movie", "the weather was bad"]
    kwargs = {"encoding_format": fmt} if fmt else {}  # None: the client's own default (base64)
    result = client.embeddings.create(model="tiny-embed", input=texts, **kwargs)
    assert [d.index for d in result.data] == [0, 1]
    # asked for explicitly, base64 comes back as the string; by default the client decodes it itself
    vectors = [np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") if fmt == "base64" else d.embedding
               for d in result.data]
    assert np.allclose(vectors, reference_outputs("embed", texts), atol=1e-5)
    assert result.usage.prompt_tokens == result.usage.total_tokens == 4 + 6
    single = client.embeddings.create(model="tiny-embed", input="good movie", **kwargs)
    assert len(single.data) == 1
    if fmt != "base64":
        assert len(single.data[0].embedding) == 8


def test_openai_client_sees_errors_as_api_errors(server):
    base_url, token = server
    client = openai.OpenAI(base_url=base_url, api_key=token, max_retries=0, timeout=30)
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.embeddings.create(model="tiny-sentiment", input="x")
    assert "not use model" in str(info.value)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=base_url, api_key="snlp_wrong", max_retries=0).embeddings.create(
            model="tiny-embed", input="x")
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="tiny-embed@9-nope", input="x")
    models = client.models.list()
    assert [m.id for m in models.data] == ["tiny-embed"]
