"""Share later / unshare on moto: a trained model's owner shares it after publishing (with tokens,
or publicly) and unshares it; after unsharing, every path answers 404 to the others: the direct
fast path and Flask, TF Serving, the Open Inference Protocol, OpenAI, the edge bundle, the model
catalog and batch jobs created afterwards. Only the owner changes sharing (403 for a token that
sees the model, 404 for one that does not); writes are conditional (412 on a stale If-Match).
Another API instance sees an unshare within the alias cache TTL."""
from __future__ import annotations

import dataclasses
import json

import pytest

from functions.nlp.manifest import MANIFEST_FILE, Manifest
from functions.store.layout import sharing_key
from infra.local.tiny_artifact import write_artifact
from model_artifacts.publish import number_version, promote, publish
from tests.functional.api_events import BUCKET, FakeLambdaContext, http_v2_event, lambda_env, response_json
from tests.support.train_stack import train_stack

pytestmark = pytest.mark.timeout(120)
MODEL = "alice-owned"
TEXTS = ["good movie", "awful food"]


def publish_owned(s3, tmp_path, owner: str, shared=()) -> Manifest:
    """A classifier published as the train function publishes one: owned, shared at publish time."""
    directory = tmp_path / "owned" / "1-fp32"
    made = write_artifact(directory, "classify", name=MODEL)
    manifest = dataclasses.replace(made, source={"owner": owner, "shared": list(shared), "kind": "test"})
    (directory / MANIFEST_FILE).write_text(manifest.to_json())
    publish(s3, BUCKET, directory)
    promote(s3, BUCKET, MODEL, manifest.version, "prod")
    number_version(s3, BUCKET, MODEL, manifest.version)
    return manifest


@pytest.fixture
def env(tiny_registry, tmp_path):
    from functions.api.handler import make_handler

    with train_stack(tiny_registry, tmp_path) as st:
        alice, alice_id = st.token("alice")
        bob, bob_id = st.token("bob")
        carol, _ = st.token("carol")
        publish_owned(st.s3, tmp_path, alice_id)
        yield {"st": st, "client": st.runtime.app.test_client(), "handler": make_handler(st.runtime),
               "alice": alice, "alice_id": alice_id, "bob": bob, "bob_id": bob_id, "carol": carol}


def call(env, method, path, token, body=None, headers=None):
    r = env["client"].open(path, method=method, json=body,
                           headers={"Authorization": f"Bearer {token}", **(headers or {})})
    return r.status_code, r.get_json(silent=True) or {}, r.headers


def direct(env, token, path="/v1/classify", body=None):
    """Through the real Lambda handler with an HTTP API event: /v1/classify takes the direct path."""
    event = http_v2_event("POST", path, body=body or {"model": MODEL, "texts": TEXTS},
                          headers={"authorization": f"Bearer {token}"})
    out = env["handler"](event, FakeLambdaContext())
    return out["statusCode"], response_json(out)


def every_path(env, token) -> dict[str, int]:
    """The status each route answers ``token`` about MODEL."""
    c = lambda *a: call(env, *a)[0]  # noqa: E731
    listed = [m["id"] for m in call(env, "GET", "/v1/models", token)[1]["data"]]
    return {
        "direct classify": direct(env, token)[0],
        "flask classify": c("POST", "/v1/classify", token, {"model": MODEL, "texts": TEXTS}),
        "openai embeddings": c("POST", "/v1/embeddings", token, {"model": MODEL, "input": TEXTS}),
        "tf predict": c("POST", f"/v1/models/{MODEL}:predict", token, {"instances": TEXTS}),
        "tf version predict": c("POST", f"/v1/models/{MODEL}/versions/1:predict", token, {"instances": TEXTS}),
        "tf metadata": c("GET", f"/v1/models/{MODEL}/metadata", token),
        "tf status": c("GET", f"/v1/models/{MODEL}/versions/1", token),
        "v2 infer": c("POST", f"/v2/models/{MODEL}/infer", token,
                      {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": TEXTS}]}),
        "v2 metadata": c("GET", f"/v2/models/{MODEL}", token),
        "edge bundle": c("GET", f"/v1/edge/{MODEL}?runtime=1.30.0", token),
        "describe": c("GET", f"/v1/models/{MODEL}", token),
        "listed": 200 if MODEL in listed else 404,
        "batch job": c("POST", "/v1/batch", token, {"model": MODEL, "format": "jsonl", "texts": 2}),
    }


# what each path answers a token that may see the model: embeddings of a classifier is the wrong task
SEEN = {"openai embeddings": 422, "batch job": 201}


def seen(env, token) -> dict[str, int]:
    return {path: SEEN.get(path, 200) for path in every_path(env, token)}


def test_share_later_then_unshare_hides_it_on_every_path(env):
    assert set(every_path(env, env["bob"]).values()) == {404}  # published for alice only

    status, body, headers = call(env, "GET", f"/v1/models/{MODEL}/sharing", env["alice"])
    assert status == 200 and body["tokens"] == [] and body["public"] is False and body["set_by"] == "publish"
    assert body["propagation_s"] == 60.0

    status, body, headers = call(env, "PATCH", f"/v1/models/{MODEL}/sharing", env["alice"], {"add": [env["bob_id"]]})
    assert status == 200 and body["tokens"] == [env["bob_id"]] and body["set_by"] == "owner" and headers["ETag"]
    assert every_path(env, env["bob"]) == seen(env, env["bob"])
    assert set(every_path(env, env["carol"]).values()) == {404}  # nobody else

    status, body, _ = call(env, "DELETE", f"/v1/models/{MODEL}/sharing", env["alice"])
    assert status == 200 and body["tokens"] == [] and body["public"] is False
    assert set(every_path(env, env["bob"]).values()) == {404}
    assert every_path(env, env["alice"]) == seen(env, env["alice"])  # the owner keeps it
    assert json.loads(env["st"].s3.get_object(Bucket=BUCKET, Key=sharing_key(MODEL))["Body"].read()) == {
        "tokens": [], "public": False}


def test_public_share_and_back(env):
    status, body, _ = call(env, "PUT", f"/v1/models/{MODEL}/sharing", env["alice"], {"public": True})
    assert status == 200 and body["public"] is True
    assert direct(env, env["carol"])[0] == 200 and direct(env, env["bob"])[0] == 200
    call(env, "PUT", f"/v1/models/{MODEL}/sharing", env["alice"], {"tokens": [env["bob_id"]], "public": False})
    assert direct(env, env["carol"])[0] == 404 and direct(env, env["bob"])[0] == 200


def test_only_the_owner_changes_sharing(env):
    call(env, "PATCH", f"/v1/models/{MODEL}/sharing", env["alice"], {"add": [env["bob_id"]]})
    changes = (("GET", None), ("PUT", {"public": True}), ("PATCH", {"add": ["tok_0123456789abcdef"]}), ("DELETE", None))
    for method, body in changes:
        status, problem, headers = call(env, method, f"/v1/models/{MODEL}/sharing", env["bob"], body)
        assert status == 403 and problem["type"].endswith("/not-model-owner"), (method, problem)
        assert headers["Content-Type"] == "application/problem+json"
        status, problem, _ = call(env, method, f"/v1/models/{MODEL}/sharing", env["carol"], body)
        assert status == 404 and problem["type"].endswith("/model-not-found")  # carol cannot see it
    status, problem, _ = call(env, "PUT", "/v1/models/tiny-sentiment/sharing", env["alice"], {"public": True})
    assert status == 403 and "no owner" in problem["detail"]  # an operator's model is nobody's to share
    assert call(env, "GET", "/v1/models/no-such-model/sharing", env["alice"])[0] == 404
    assert direct(env, env["bob"])[0] == 200  # nothing bob tried changed anything


@pytest.mark.parametrize("method,body", [
    ("PUT", {"tokens": "tok_x"}), ("PUT", {"tokens": [1]}), ("PUT", {"public": "yes"}), ("PUT", {"owner": "me"}),
    ("PUT", {"tokens": [f"tok_{i:016x}" for i in range(51)]}), ("PATCH", {"add": ["bad id!"]}),
    ("PATCH", {"public": 1}), ("PATCH", {"share": []}), ("PUT", [])])
def test_bad_sharing_bodies_are_422_problems(env, method, body):
    status, problem, headers = call(env, method, f"/v1/models/{MODEL}/sharing", env["alice"], body)
    assert status == 422 and headers["Content-Type"] == "application/problem+json", problem


def test_a_stale_if_match_is_412_and_changes_nothing(env):
    _, _, headers = call(env, "PATCH", f"/v1/models/{MODEL}/sharing", env["alice"], {"add": [env["bob_id"]]})
    first = headers["ETag"]
    _, _, headers = call(env, "PATCH", f"/v1/models/{MODEL}/sharing", env["alice"], {"public": True},
                         {"If-Match": first})
    assert headers["ETag"] != first
    status, problem, _ = call(env, "DELETE", f"/v1/models/{MODEL}/sharing", env["alice"], headers={"If-Match": first})
    assert status == 412 and problem["type"].endswith("/precondition-failed")
    body = call(env, "GET", f"/v1/models/{MODEL}/sharing", env["alice"])[1]
    assert body["tokens"] == [env["bob_id"]] and body["public"] is True


def test_publish_time_sharing_holds_until_the_owner_changes_it(tiny_registry, tmp_path):
    from functions.api.handler import make_handler

    with train_stack(tiny_registry, tmp_path) as st:
        alice, alice_id = st.token("alice")
        bob, bob_id = st.token("bob")
        carol, carol_id = st.token("carol")
        publish_owned(st.s3, tmp_path, alice_id, shared=[bob_id])
        env = {"client": st.runtime.app.test_client(), "handler": make_handler(st.runtime)}
        assert direct(env, bob)[0] == 200 and direct(env, carol)[0] == 404
        # adding carol starts from the manifest's sharing: bob keeps it
        status, body, _ = call(env, "PATCH", f"/v1/models/{MODEL}/sharing", alice, {"add": [carol_id]})
        assert body["tokens"] == [bob_id, carol_id]
        status, body, _ = call(env, "PATCH", f"/v1/models/{MODEL}/sharing", alice, {"remove": [bob_id]})
        assert direct(env, bob)[0] == 404 and direct(env, carol)[0] == 200  # the record overrides the manifest


def test_another_instance_sees_an_unshare_within_the_alias_ttl(env, tmp_path):
    from functions.api.handler import build_runtime, make_handler

    st = env["st"]
    call(env, "PATCH", f"/v1/models/{MODEL}/sharing", env["alice"], {"add": [env["bob_id"]]})
    other = build_runtime(lambda_env(tmp_path / "other-cache", SNLP_PRELOAD_MODELS=""), s3_client=st.s3,
                          dynamodb_client=st.ddb)
    now = [1000.0]
    other.store.clock = lambda: now[0]
    far = {"handler": make_handler(other)}
    assert direct(far, env["bob"])[0] == 200
    call(env, "DELETE", f"/v1/models/{MODEL}/sharing", env["alice"])
    assert direct(env, env["bob"])[0] == 404  # the instance that wrote it: at once
    now[0] += other.settings.alias_ttl_s - 1
    assert direct(far, env["bob"])[0] == 200  # the other: its cached record, for at most the TTL
    now[0] += 2
    assert direct(far, env["bob"])[0] == 404


def test_concurrent_changes_both_land_and_a_damaged_record_shares_with_nobody(env):
    from functions.store import sharing as record
    from functions.store.visibility import Sharing

    store, bob, carol = env["st"].runtime.store, env["bob_id"], "tok_" + "c" * 16
    raced = []

    def add_bob(current):
        if not raced:  # another owner's page writes between our read and our write
            etag = record.read(store.s3, MODEL)[1]
            raced.append(record.write(store.s3, MODEL, current.with_tokens(add=[carol]), etag))
        return current.with_tokens(add=[bob])

    assert store.change_sharing(MODEL, add_bob)[0] == Sharing((carol, bob))  # retried on the new record
    env["st"].s3.put_object(Bucket=BUCKET, Key=sharing_key(MODEL), Body=b"{not json")
    store.forget(MODEL)
    assert direct(env, env["bob"])[0] == 404 and direct(env, env["alice"])[0] == 200
