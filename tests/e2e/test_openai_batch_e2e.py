"""The official ``openai`` client's batch flow against the running local stack (`make up`): the API
behind waitress, the batch worker processes on the moto queue, the default models."""
from __future__ import annotations

import io
import json
import time

import pytest

openai = pytest.importorskip("openai")
pytestmark = [pytest.mark.e2e, pytest.mark.models]


def test_openai_client_batch_flow_on_the_local_stack(stack):
    client = openai.OpenAI(base_url=stack.api_url + "/v1", api_key=stack.token, max_retries=0, timeout=60)
    lines = [{"custom_id": "cat", "method": "POST", "url": "/v1/embeddings",
              "body": {"model": "minilm-embed", "input": "A cat sits on the mat."}},
             {"custom_id": "pair", "method": "POST", "url": "/v1/embeddings",
              "body": {"model": "minilm-embed", "input": ["The cat is sitting on a mat.", "Interest rates rose."]}}]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    uploaded = client.files.create(file=("requests.jsonl", io.BytesIO(data)), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h")
    deadline = time.monotonic() + 180
    while batch.status in ("validating", "in_progress", "finalizing") and time.monotonic() < deadline:
        time.sleep(0.5)
        batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed", batch
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (2, 2, 0)
    rows = {r["custom_id"]: r["response"] for r in map(json.loads, client.files.content(batch.output_file_id).text
                                                      .splitlines())}
    cat = rows["cat"]["body"]["data"][0]["embedding"]
    same, other = (d["embedding"] for d in rows["pair"]["body"]["data"])
    assert len(cat) == 384 and rows["pair"]["status_code"] == 200

    def cos(a, b):
        return sum(x * y for x, y in zip(a, b))  # the vectors are L2-normalised in the graph

    assert cos(cat, same) > cos(cat, other)
