"""Build-your-own classifier on moto, through the API app and the train worker: rows in, a queued
job, progress, the evaluation, publish, then /v1/classify and TF Serving :predict serve the
composed model to its owner only; training is billed by the texts it embeds."""
from __future__ import annotations

import time

import numpy as np
import pytest

from functions.auth.usage import read_usage, utc_day
from tests.support.train_stack import TABLE, train_stack
from tests.unit.train.test_pipeline import NEG, POS

pytestmark = pytest.mark.timeout(120)


def _rows(copies=3):
    lines = ["text,label"]
    for i in range(copies):
        lines += [f"{t}{' very' * i},positive" for t in POS] + [f"{t}{' very' * i},negative" for t in NEG]
    return "\n".join(lines)


@pytest.fixture
def env(tiny_registry, tmp_path):
    with train_stack(tiny_registry, tmp_path) as st:
        alice, alice_id = st.token("alice")
        bob, _ = st.token("bob")
        yield {"client": st.runtime.app.test_client(), "drain": st.drain, "alice": alice, "alice_id": alice_id,
               "bob": bob, "ddb": st.ddb, "store": st.runtime.store, "stack": st}


def _call(env, method, path, token, body=None):
    r = env["client"].open(path, method=method, json=body, headers={"Authorization": f"Bearer {token}"})
    return r.status_code, r.get_json(silent=True) or {}


def test_csv_to_published_model_served_to_its_owner_only(env):
    rows = _rows()
    status, job = _call(env, "POST", "/v1/train", env["alice"], {"name": "alice-reviews", "rows": rows,
                                                                 "base_model": "tiny-embed"})
    assert status == 202, job
    assert job["status"] == "queued" and job["rows"] == 36 and job["base_model"] == "tiny-embed@1-fp32"
    assert job["progress"] == {"stage": "queued", "rows_embedded": 0, "rows": 36}
    assert env["drain"]() == 1

    status, done = _call(env, "GET", f"/v1/train/{job['job_id']}", env["alice"])
    assert status == 200 and done["status"] == "done", done
    ev = done["evaluation"]
    assert ev["labels"] == ["negative", "positive"] and np.sum(ev["confusion"]) == ev["held_out"] > 0
    assert set(done["metrics"]) >= {"accuracy", "macro_f1", "per_label", "l2"}
    assert done["progress"]["rows_embedded"] == 36
    # training is billed by the texts it embedded, on the same usage rows as every route
    assert read_usage(env["ddb"], TABLE, env["alice_id"], utc_day(time.time()))["texts"] == 36

    assert _call(env, "GET", f"/v1/train/{job['job_id']}", env["bob"])[0] == 404  # someone else's job
    assert _call(env, "POST", f"/v1/train/{job['job_id']}/publish", env["bob"])[0] == 404
    status, publishing = _call(env, "POST", f"/v1/train/{job['job_id']}/publish", env["alice"], {"alias": "prod"})
    assert status == 202 and publishing["status"] == "publishing"
    assert _call(env, "POST", f"/v1/train/{job['job_id']}/publish", env["alice"])[0] == 409  # not twice at once
    env["drain"]()
    status, published = _call(env, "GET", f"/v1/train/{job['job_id']}", env["alice"])
    assert published["status"] == "published", published
    ref = published["model"]
    assert ref.startswith("alice-reviews@") and published["version_number"] == 1

    texts = ["good movie", "awful food"]
    status, out = _call(env, "POST", "/v1/classify", env["alice"], {"model": "alice-reviews", "texts": texts})
    assert status == 200, out
    by_version = _call(env, "POST", "/v1/classify", env["alice"], {"model": ref, "texts": texts})[1]
    assert [p["label"] for p in out["predictions"]] == [p["label"] for p in by_version["predictions"]]
    status, tf = _call(env, "POST", "/v1/models/alice-reviews:predict", env["alice"], {"instances": texts})
    assert status == 200 and len(tf["predictions"]) == 2
    manifest = env["store"].manifest(ref)
    assert manifest.labels == ("negative", "positive") and manifest.task == "classify"
    assert manifest.source["owner"] == env["alice_id"] and len(manifest.source["training_data_sha256"]) == 64
    assert manifest.metrics["accuracy"] == ev["accuracy"]

    listed = [m["id"] for m in _call(env, "GET", "/v1/models", env["alice"])[1]["data"]]
    assert "alice-reviews" in listed and "tiny-sentiment" in listed
    assert _call(env, "GET", "/v1/models/alice-reviews", env["alice"])[1]["manifest"]["labels"] == ["negative", "positive"]

    # bob: the model does not exist for him, and he cannot take its name
    assert _call(env, "POST", "/v1/classify", env["bob"], {"model": "alice-reviews", "texts": texts})[0] == 404
    assert _call(env, "POST", "/v1/models/alice-reviews:predict", env["bob"], {"instances": texts})[0] == 404
    assert _call(env, "GET", "/v1/models/alice-reviews", env["bob"])[0] == 404
    batch = {"model": "alice-reviews", "format": "jsonl", "texts": 2}
    assert _call(env, "POST", "/v1/batch", env["bob"], batch)[0] == 404  # nor through the batch path
    assert _call(env, "POST", "/v1/batch", env["alice"], batch)[0] == 201
    bob_list = [m["id"] for m in _call(env, "GET", "/v1/models", env["bob"])[1]["data"]]
    assert "alice-reviews" not in bob_list and "tiny-sentiment" in bob_list
    status, problem = _call(env, "POST", "/v1/train", env["bob"], {"name": "alice-reviews", "rows": rows})
    assert status == 409 and problem["type"].endswith("/conflict")
    assert _call(env, "POST", "/v1/train", env["bob"], {"name": "tiny-sentiment", "rows": rows})[0] == 409


def test_zero_shot_job_from_label_descriptions(env):
    body = {"name": "alice-zs", "base_model": "tiny-embed",
            "descriptions": {"positive": "good great love happy", "negative": "bad awful hate sad"},
            "rows": [["good great love", "positive"], ["awful hate sad", "negative"]]}
    status, job = _call(env, "POST", "/v1/train", env["alice"], body)
    assert status == 202 and job["kind"] == "zero-shot"
    env["drain"]()
    done = _call(env, "GET", f"/v1/train/{job['job_id']}", env["alice"])[1]
    assert done["status"] == "done" and done["evaluation"]["accuracy"] == 1.0
    assert read_usage(env["ddb"], TABLE, env["alice_id"], utc_day(time.time()))["texts"] == 4


@pytest.mark.parametrize("body, status", [
    ({"name": "x", "rows": "a,b\n"}, 422),  # too few rows
    ({"name": "Bad Name!", "rows": _rows()}, 422),
    ({"name": "ok", "rows": _rows(), "base_model": "tiny-sentiment"}, 422),  # not an embedding model
    ({"name": "ok", "rows": _rows(), "base_model": "nope"}, 404),
    ({"name": "ok"}, 422),
])
def test_bad_training_requests_are_problems(env, body, status):
    code, problem = _call(env, "POST", "/v1/train", env["alice"], body)
    assert code == status and "type" in problem, problem
    assert env["drain"]() == 0


def test_training_beyond_the_quota_is_429_and_queues_nothing(env, tiny_registry):
    small, _ = env["stack"].token("carol", quota=30)
    code, problem = _call(env, "POST", "/v1/train", small, {"name": "carol-m", "rows": _rows()})  # 36 texts
    assert code == 429 and problem["type"].endswith("/quota-exceeded")
    assert env["drain"]() == 0


def test_openapi_lists_the_training_routes(env):
    from openapi_spec_validator import validate

    client = env["client"]
    spec = client.get("/openapi.json").get_json()
    validate(spec)
    for rule in client.application.url_map.iter_rules():
        if rule.rule.startswith("/v1/train"):
            path = rule.rule.replace("<", "{").replace(">", "}")
            assert set(rule.methods) - {"HEAD", "OPTIONS"} <= {m.upper() for m in spec["paths"][path]}, path


def test_a_job_whose_worker_is_gone_ends_failed_and_its_texts_come_back(env):
    from functions.train import jobs as J

    st = env["stack"]
    status, job = _call(env, "POST", "/v1/train", env["alice"], {"name": "alice-stale", "rows": _rows()})
    assert status == 202
    assert read_usage(env["ddb"], TABLE, env["alice_id"], utc_day(time.time()))["texts"] == 36  # reserved
    ledger = st.worker.ledger
    ledger.move(job["job_id"], (J.QUEUED,), J.EMBEDDING)  # a worker took it ...
    ledger._update(J.pk(job["job_id"]), J.SK, {"updated_at": time.time() - J.STALE_S - 1})  # ... and vanished
    status, now = _call(env, "GET", f"/v1/train/{job['job_id']}", env["alice"])
    assert status == 200 and now["status"] == "failed" and "ran out of time" in now["error"]
    assert read_usage(env["ddb"], TABLE, env["alice_id"], utc_day(time.time()))["texts"] == 0
    env["drain"]()  # the message, delivered late, finds the job ended and does nothing
    assert _call(env, "GET", f"/v1/train/{job['job_id']}", env["alice"])[1]["status"] == "failed"


def test_a_published_model_shared_with_another_token(env):
    status, job = _call(env, "POST", "/v1/train", env["alice"], {"name": "alice-shared", "rows": _rows()})
    env["drain"]()
    bob_id = env["stack"].runtime.app.extensions["snlp"].tokens.authenticate(env["bob"]).token_id
    for bad in ("tok_x", ["nope"], [1], ["tok_" + "0" * 16] * 51):
        assert _call(env, "POST", f"/v1/train/{job['job_id']}/publish", env["alice"], {"share_with": bad})[0] == 422
    status, out = _call(env, "POST", f"/v1/train/{job['job_id']}/publish", env["alice"], {"share_with": [bob_id]})
    assert status == 202 and out["shared"] == [bob_id]
    env["drain"]()
    texts = {"model": "alice-shared", "texts": ["good movie"]}
    assert _call(env, "POST", "/v1/classify", env["bob"], texts)[0] == 200  # shared with bob
    carol, _ = env["stack"].token("carol")
    assert _call(env, "POST", "/v1/classify", carol, texts)[0] == 404  # and nobody else
